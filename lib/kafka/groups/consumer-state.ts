/**
 * KIP-848 consumer groups (ConsumerGroupHeartbeat) as Kafka's group coordinator runs them: pure
 * functions from the group as read to the group to write, and what the member is told.
 *
 * Epochs:
 *  - the group epoch moves on at every change of members, subscriptions or the partition counts of
 *    subscribed topics;
 *  - the target assignment (what the assignor wants) is recomputed, at the next heartbeat, whenever the
 *    group epoch is ahead of it, and then carries the group epoch (the assignment epoch);
 *  - each member converges to the target one step per heartbeat (`reconcile`, Kafka's
 *    CurrentAssignmentBuilder), and its member epoch reaches the assignment epoch once it holds nothing
 *    that it must give up:
 *
 *        STABLE ──target moved──▶ UNREVOKED_PARTITIONS ──owned no longer lists the revoked──▶ (next)
 *          ▲                      (epoch unchanged;       the member acknowledged: reconcile again
 *          │                       revocation pending)
 *          └──── all target partitions free ◀── UNRELEASED_PARTITIONS (epoch = target; some target
 *                                                partitions still held by another member)
 *
 * Invariants (test/kafka/consumer-state.test.ts):
 *  1. A partition is in at most one member's assigned-or-pending-revocation set: a member is given a
 *     partition only once its previous holder has revoked it (or left).
 *  2. A member's epoch never exceeds the assignment epoch, which never exceeds the group epoch.
 *  3. A static member (instance id) that leaves with epoch -2 keeps its partitions and epoch for its next
 *     incarnation (a new member id with the same instance id) until its session times out.
 */
import { KafkaErrors } from '../errors.js';
import {
  assignConsumers,
  compileTopicRegex,
  defaultConsumerAssignor,
  isConsumerAssignor,
  resolveSubscription,
  type ConsumerAssignorName,
  type TopicPartitions,
} from './consumer-assignors.js';

export type MemberReconciliation = 'STABLE' | 'UNREVOKED_PARTITIONS' | 'UNRELEASED_PARTITIONS';

/** Kafka's ConsumerGroupState names, as ConsumerGroupDescribe and ListGroups show them. */
export type ConsumerGroupPhase = 'Empty' | 'Assigning' | 'Reconciling' | 'Stable';

/** Member epoch -1: the member leaves. -2: a static member leaves for now and will rejoin. */
export const LEAVE_GROUP_MEMBER_EPOCH = -1;
export const LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2;

export interface ConsumerMember {
  readonly memberId: string;
  readonly instanceId: string | null;
  readonly rackId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly memberEpoch: number;
  readonly previousMemberEpoch: number;
  readonly state: MemberReconciliation;
  readonly rebalanceTimeoutMs: number;
  readonly subscribedTopicNames: readonly string[];
  readonly subscribedTopicRegex: string | null;
  readonly serverAssignor: string | null;
  /** What the member may consume now. */
  readonly assigned: TopicPartitions;
  /** What it still holds and was asked to give up. */
  readonly pendingRevocation: TopicPartitions;
  /** Set for a member speaking the classic protocol (JoinGroup/SyncGroup/Heartbeat; groups/consumer-classic.ts). */
  readonly classic?: ClassicMemberMetadata;
}

/** What a classic-protocol member of a consumer group joined with (Kafka's ClassicMemberMetadata). */
export interface ClassicMemberMetadata {
  /** Its JoinGroup's session timeout: its session, instead of group.consumer.session.timeout.ms. */
  readonly sessionTimeoutMs: number;
  /** Its JoinGroup's protocols in its order of preference; metadata base64 (the group is stored as JSON). */
  readonly protocols: readonly { readonly name: string; readonly metadata: string }[];
}

export interface ConsumerGroup {
  readonly groupId: string;
  readonly groupEpoch: number;
  readonly assignmentEpoch: number;
  readonly assignor: ConsumerAssignorName;
  readonly members: Readonly<Record<string, ConsumerMember>>;
  /** The target assignment of `assignmentEpoch`, per member. */
  readonly target: Readonly<Record<string, TopicPartitions>>;
  /** The partition counts of subscribed topics the group epoch was computed with. */
  readonly partitionCounts: Readonly<Record<string, number>>;
}

export function emptyConsumerGroup(groupId: string): ConsumerGroup {
  return { groupId, groupEpoch: 0, assignmentEpoch: 0, assignor: defaultConsumerAssignor, members: {}, target: {}, partitionCounts: {} };
}

/** A refusal with Kafka's error code; the group is unchanged. */
export class ConsumerGroupError extends Error {
  constructor(
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ConsumerGroupError';
  }
}

/** The request's fields, as ConsumerGroupHeartbeat carries them (null or -1: unchanged since the last heartbeat). */
export interface HeartbeatInput {
  readonly apiVersion: number;
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly instanceId: string | null;
  readonly rackId: string | null;
  readonly rebalanceTimeoutMs: number;
  readonly subscribedTopicNames: readonly string[] | null;
  readonly subscribedTopicRegex: string | null;
  readonly serverAssignor: string | null;
  /** What the member holds now; null when unchanged since the last heartbeat. */
  readonly ownedTopicPartitions: TopicPartitions | null;
  readonly clientId: string;
  readonly clientHost: string;
}

export interface HeartbeatEnvironment {
  /** Every existing topic's partition count. */
  readonly topics: Readonly<Record<string, number>>;
  /** A member id for a version-0 member joining without one. */
  readonly newMemberId: () => string;
  /** group.consumer.max.size */
  readonly maxSize: number;
}

export interface HeartbeatReply {
  readonly memberId: string;
  readonly memberEpoch: number;
  /** Sent when the member joins, sends its full state, or its assignment changed; null otherwise. */
  readonly assignment: TopicPartitions | null;
}

export interface HeartbeatResult {
  readonly group: ConsumerGroup;
  readonly reply: HeartbeatReply;
  /** Members this heartbeat removed (a static member replaced by its next incarnation): their timers stop. */
  readonly removed: readonly string[];
}

/**
 * Checks a heartbeat as Kafka 4.x does before touching the group (its messages too); throws
 * INVALID_REQUEST and friends. Names and a regex may come together (librdkafka sends an empty regex
 * beside its names): the member subscribes to both, and an empty regex is none.
 */
export function validateHeartbeat(groupId: string, input: HeartbeatInput): void {
  const invalid = (message: string): ConsumerGroupError => new ConsumerGroupError(KafkaErrors.INVALID_REQUEST, message);
  if (input.memberId === '' && (input.apiVersion >= 1 || input.memberEpoch > 0 || input.memberEpoch === LEAVE_GROUP_MEMBER_EPOCH))
    throw invalid("MemberId can't be empty.");
  if (groupId === '') throw invalid("GroupId can't be empty.");
  if (input.instanceId !== null && input.instanceId === '') throw invalid("InstanceId can't be empty.");
  if (input.rackId !== null && input.rackId === '') throw invalid("RackId can't be empty.");
  if (input.memberEpoch === 0) {
    if (input.rebalanceTimeoutMs === -1) throw invalid('RebalanceTimeoutMs must be provided in first request.');
    if (input.ownedTopicPartitions === null || Object.keys(input.ownedTopicPartitions).length > 0) {
      throw invalid('TopicPartitions must be empty when (re-)joining.');
    }
    if (input.subscribedTopicNames === null && input.subscribedTopicRegex === null) {
      throw invalid('Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.');
    }
  } else if (input.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
    if (input.instanceId === null) throw invalid("InstanceId can't be null.");
  } else if (input.memberEpoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
    throw invalid('MemberEpoch is invalid.');
  }
  if (input.subscribedTopicRegex !== null && input.subscribedTopicRegex !== '') {
    const compiled = compileTopicRegex(input.subscribedTopicRegex);
    if (typeof compiled === 'string') throw new ConsumerGroupError(KafkaErrors.INVALID_REGULAR_EXPRESSION, compiled);
  }
  if (input.serverAssignor !== null && !isConsumerAssignor(input.serverAssignor)) {
    throw new ConsumerGroupError(
      KafkaErrors.UNSUPPORTED_ASSIGNOR,
      `ServerAssignor ${input.serverAssignor} is not supported. Supported assignors: uniform, range.`,
    );
  }
}

/**
 * One ConsumerGroupHeartbeat: the member joins, leaves, or heartbeats; the target is recomputed if the
 * group epoch moved; the member reconciles one step. Throws ConsumerGroupError (the group unchanged).
 */
export function heartbeat(group: ConsumerGroup, input: HeartbeatInput, env: HeartbeatEnvironment): HeartbeatResult {
  validateHeartbeat(group.groupId, input);
  if (input.memberEpoch === LEAVE_GROUP_MEMBER_EPOCH || input.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
    return leave(group, input);
  }
  const removed: string[] = [];
  let g = group;
  let member: ConsumerMember;
  const memberId = input.memberId === '' ? env.newMemberId() : input.memberId;
  if (input.memberEpoch === 0) {
    const joined = join(g, { ...input, memberId }, env);
    g = joined.group;
    member = joined.member;
    removed.push(...joined.removed);
  } else {
    const existing = g.members[memberId];
    if (existing === undefined)
      throw new ConsumerGroupError(KafkaErrors.UNKNOWN_MEMBER_ID, `Member ${memberId} is not a member of group ${g.groupId}.`);
    checkEpoch(existing, input.memberEpoch, input.ownedTopicPartitions);
    member = existing;
  }
  const before = member;
  // Subscription changes, then the partition counts of what the group subscribes to: either moves the group epoch.
  const updated: ConsumerMember = {
    ...member,
    instanceId: input.instanceId ?? member.instanceId,
    rackId: input.rackId ?? member.rackId,
    clientId: input.clientId,
    clientHost: input.clientHost,
    rebalanceTimeoutMs: input.rebalanceTimeoutMs === -1 ? member.rebalanceTimeoutMs : input.rebalanceTimeoutMs,
    // Each field null: unchanged since the last heartbeat; an empty regex: none.
    subscribedTopicNames: input.subscribedTopicNames ?? member.subscribedTopicNames,
    subscribedTopicRegex: input.subscribedTopicRegex === null ? member.subscribedTopicRegex : input.subscribedTopicRegex || null,
    serverAssignor: input.serverAssignor ?? member.serverAssignor,
  };
  const subscriptionChanged =
    g.members[memberId] === undefined ||
    !sameList(updated.subscribedTopicNames, g.members[memberId].subscribedTopicNames) ||
    updated.subscribedTopicRegex !== g.members[memberId].subscribedTopicRegex ||
    updated.serverAssignor !== g.members[memberId].serverAssignor ||
    updated.rackId !== g.members[memberId].rackId;
  g = advanceTarget({ ...g, members: { ...g.members, [memberId]: updated } }, env.topics, subscriptionChanged);
  const reconciled = reconcile(g.members[memberId]!, g, input.ownedTopicPartitions);
  g = { ...g, members: { ...g.members, [memberId]: reconciled } };
  const changed =
    !samePartitions(reconciled.assigned, before.assigned) ||
    !samePartitions(reconciled.pendingRevocation, before.pendingRevocation) ||
    reconciled.memberEpoch !== before.memberEpoch;
  const full = input.memberEpoch === 0 || input.ownedTopicPartitions !== null;
  return {
    group: g,
    reply: { memberId, memberEpoch: reconciled.memberEpoch, assignment: full || changed ? reconciled.assigned : null },
    removed,
  };
}

/**
 * The group epoch moves on if `moved` (a member's subscription changed) or the subscribed topics' partition
 * counts did; the target is then recomputed whenever the group epoch is ahead of it.
 */
export function advanceTarget(group: ConsumerGroup, topics: Readonly<Record<string, number>>, moved = false): ConsumerGroup {
  const counts = subscribedPartitionCounts(group, topics);
  const g =
    moved || !sameCounts(counts, group.partitionCounts) ? { ...group, groupEpoch: group.groupEpoch + 1, partitionCounts: counts } : group;
  return g.groupEpoch > g.assignmentEpoch ? computeTarget(g, topics) : g;
}

/** A member gone (session expired, revocation timed out, fenced): its partitions are free, the group epoch moves on. */
export function removeMember(group: ConsumerGroup, memberId: string): ConsumerGroup {
  if (group.members[memberId] === undefined) return group;
  const members = { ...group.members };
  delete members[memberId];
  const target = { ...group.target };
  delete target[memberId];
  return { ...group, members, target, groupEpoch: group.groupEpoch + 1 };
}

export function groupPhase(group: ConsumerGroup): ConsumerGroupPhase {
  const members = Object.values(group.members);
  if (members.length === 0) return 'Empty';
  if (group.groupEpoch > group.assignmentEpoch) return 'Assigning';
  const reconciling = members.some((m) => m.memberEpoch !== group.assignmentEpoch || m.state !== 'STABLE');
  return reconciling ? 'Reconciling' : 'Stable';
}

/**
 * Whether a member of a consumer-protocol group may commit (OffsetCommit v9+) or fetch (OffsetFetch v9+)
 * offsets with the epoch it sent, as Kafka's ConsumerGroup.validateOffsetCommit/validateOffsetFetch:
 * a commit from outside the group (memberEpoch < 0, no member id) only while it has no members (fetches
 * always); otherwise the member must exist (UNKNOWN_MEMBER_ID) at exactly that epoch (STALE_MEMBER_EPOCH; for a
 * classic-protocol member, whose generation is its epoch, ILLEGAL_GENERATION).
 * Answers the Kafka error code, NONE when it may.
 */
export function consumerOffsetFence(
  group: ConsumerGroup,
  request: { readonly memberId: string; readonly memberEpoch: number; readonly kind: 'commit' | 'fetch' },
): number {
  if (request.memberEpoch < 0 && request.memberId === '') {
    return request.kind === 'fetch' || Object.keys(group.members).length === 0 ? KafkaErrors.NONE : KafkaErrors.UNKNOWN_MEMBER_ID;
  }
  const member = group.members[request.memberId];
  if (member === undefined) return KafkaErrors.UNKNOWN_MEMBER_ID;
  if (request.memberEpoch === member.memberEpoch) return KafkaErrors.NONE;
  // A classic-protocol member sends its generation, which is its member epoch: Kafka's classic answer.
  return member.classic !== undefined ? KafkaErrors.ILLEGAL_GENERATION : KafkaErrors.STALE_MEMBER_EPOCH;
}

/** The member that holds (assigned or pending revocation) each partition, by `topic`, then partition. */
export function partitionHolders(group: ConsumerGroup): Map<string, Map<number, string>> {
  const holders = new Map<string, Map<number, string>>();
  for (const m of Object.values(group.members)) {
    for (const set of [m.assigned, m.pendingRevocation]) {
      for (const [topic, partitions] of Object.entries(set)) {
        const byPartition = holders.get(topic) ?? new Map<number, string>();
        for (const p of partitions) byPartition.set(p, m.memberId);
        holders.set(topic, byPartition);
      }
    }
  }
  return holders;
}

/**
 * One reconciliation step of a member towards the group's target (Kafka's CurrentAssignmentBuilder).
 * `owned` is what the member reports holding (null: not reported, so revocations cannot complete).
 */
export function reconcile(member: ConsumerMember, group: ConsumerGroup, owned: TopicPartitions | null): ConsumerMember {
  if (member.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH) return member;
  switch (member.state) {
    case 'STABLE':
      return member.memberEpoch === group.assignmentEpoch ? member : nextAssignment(member, group, owned);
    case 'UNREVOKED_PARTITIONS':
      if (owned === null || overlaps(owned, member.pendingRevocation)) return member;
      return nextAssignment(member, group, owned);
    case 'UNRELEASED_PARTITIONS':
      return nextAssignment(member, group, owned);
  }
}

function nextAssignment(member: ConsumerMember, group: ConsumerGroup, owned: TopicPartitions | null): ConsumerMember {
  const target = group.target[member.memberId] ?? {};
  const holders = partitionHolders(group);
  const assigned: Record<string, number[]> = {};
  const revoking: Record<string, number[]> = {};
  const adding: Record<string, number[]> = {};
  let unreleased = false;
  for (const topic of new Set([...Object.keys(target), ...Object.keys(member.assigned)])) {
    const wanted = new Set(target[topic] ?? []);
    const had = member.assigned[topic] ?? [];
    const kept = had.filter((p) => wanted.has(p));
    const gone = had.filter((p) => !wanted.has(p));
    const keptSet = new Set(kept);
    const toAdd = [...wanted].filter((p) => !keptSet.has(p));
    const free = toAdd.filter((p) => {
      const holder = holders.get(topic)?.get(p);
      return holder === undefined || holder === member.memberId;
    });
    if (free.length < toAdd.length) unreleased = true;
    if (kept.length > 0) assigned[topic] = kept;
    if (gone.length > 0) revoking[topic] = gone;
    if (free.length > 0) adding[topic] = free;
  }
  // The previous epoch is the one before the last change of epoch: a member whose answer was lost may still send it.
  const withEpoch = (epoch: number): ConsumerMember =>
    epoch === member.memberEpoch ? member : { ...member, memberEpoch: epoch, previousMemberEpoch: member.memberEpoch };
  // Partitions to give up keep the member at its epoch until it reports them gone (at once, if it already has).
  if (Object.keys(revoking).length > 0 && (owned === null || overlaps(owned, revoking))) {
    return {
      ...member,
      state: 'UNREVOKED_PARTITIONS',
      assigned: normalise(assigned),
      pendingRevocation: normalise(revoking),
    };
  }
  for (const [topic, partitions] of Object.entries(adding)) assigned[topic] = [...(assigned[topic] ?? []), ...partitions];
  return {
    ...withEpoch(group.assignmentEpoch),
    state: unreleased ? 'UNRELEASED_PARTITIONS' : 'STABLE',
    assigned: normalise(assigned),
    pendingRevocation: {},
  };
}

function join(
  group: ConsumerGroup,
  input: HeartbeatInput,
  env: HeartbeatEnvironment,
): { group: ConsumerGroup; member: ConsumerMember; removed: string[] } {
  const existing = group.members[input.memberId];
  if (input.instanceId !== null) {
    const previous = Object.values(group.members).find((m) => m.instanceId === input.instanceId);
    if (previous !== undefined && previous.memberId !== input.memberId) {
      if (previous.memberEpoch !== LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
        throw new ConsumerGroupError(
          KafkaErrors.UNRELEASED_INSTANCE_ID,
          `Static member ${previous.memberId} with instance id ${input.instanceId} is not released yet.`,
        );
      }
      // The static member's next incarnation takes its place: its epoch and partitions, under the new id.
      const members = { ...group.members };
      delete members[previous.memberId];
      const target = { ...group.target };
      const previousTarget = target[previous.memberId];
      delete target[previous.memberId];
      if (previousTarget !== undefined) target[input.memberId] = previousTarget;
      const member: ConsumerMember = {
        ...previous,
        memberId: input.memberId,
        memberEpoch: previous.previousMemberEpoch,
        previousMemberEpoch: previous.previousMemberEpoch,
      };
      return { group: { ...group, members: { ...members, [input.memberId]: member }, target }, member, removed: [previous.memberId] };
    }
  }
  if (existing === undefined && Object.keys(group.members).length >= env.maxSize) {
    throw new ConsumerGroupError(
      KafkaErrors.GROUP_MAX_SIZE_REACHED,
      `The consumer group has reached its maximum capacity of ${env.maxSize} members.`,
    );
  }
  if (existing !== undefined) {
    // A known member rejoining with epoch 0 (its answer lost, or after FENCED_MEMBER_EPOCH) gets its current
    // state back, as Kafka since KAFKA-19233; a static member back from a leave with epoch -2, its epoch too.
    const member =
      existing.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH ? { ...existing, memberEpoch: existing.previousMemberEpoch } : existing;
    return { group, member, removed: [] };
  }
  const member: ConsumerMember = {
    memberId: input.memberId,
    instanceId: input.instanceId,
    rackId: input.rackId,
    clientId: input.clientId,
    clientHost: input.clientHost,
    memberEpoch: 0,
    previousMemberEpoch: 0,
    state: 'STABLE',
    rebalanceTimeoutMs: input.rebalanceTimeoutMs,
    subscribedTopicNames: input.subscribedTopicNames ?? [],
    subscribedTopicRegex: input.subscribedTopicRegex || null,
    serverAssignor: input.serverAssignor,
    assigned: {},
    pendingRevocation: {},
  };
  return { group, member, removed: [] };
}

/**
 * A member leaves: for good (epoch -1), or a static member for now (-2). A static member (instance id
 * given) is found by its instance id, and must be the member id that holds it (FENCED_INSTANCE_ID).
 */
function leave(group: ConsumerGroup, input: HeartbeatInput): HeartbeatResult {
  let member = group.members[input.memberId];
  if (input.instanceId !== null) {
    const byInstance = Object.values(group.members).find((m) => m.instanceId === input.instanceId);
    if (byInstance === undefined)
      throw new ConsumerGroupError(KafkaErrors.UNKNOWN_MEMBER_ID, `Instance id ${input.instanceId} is unknown.`);
    if (byInstance.memberId !== input.memberId) {
      throw new ConsumerGroupError(
        KafkaErrors.FENCED_INSTANCE_ID,
        `Static member ${input.memberId} with instance id ${input.instanceId} was replaced by member ${byInstance.memberId}.`,
      );
    }
    member = byInstance;
  }
  if (input.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH && member !== undefined) {
    // It keeps its partitions (held, not consumed) for its next incarnation; the group epoch does not move.
    const kept: ConsumerMember = { ...member, previousMemberEpoch: member.memberEpoch, memberEpoch: LEAVE_GROUP_STATIC_MEMBER_EPOCH };
    return {
      group: { ...group, members: { ...group.members, [member.memberId]: kept } },
      reply: { memberId: member.memberId, memberEpoch: LEAVE_GROUP_STATIC_MEMBER_EPOCH, assignment: null },
      removed: [],
    };
  }
  if (member === undefined)
    throw new ConsumerGroupError(KafkaErrors.UNKNOWN_MEMBER_ID, `Member ${input.memberId} is not a member of group ${group.groupId}.`);
  return {
    group: removeMember(group, member.memberId),
    reply: { memberId: member.memberId, memberEpoch: LEAVE_GROUP_MEMBER_EPOCH, assignment: null },
    removed: [member.memberId],
  };
}

/**
 * The epoch a member sent must be its own — or, if the response that moved it on was lost, its previous
 * one while it owns no more than it is assigned now. Anything else: FENCED_MEMBER_EPOCH (it rejoins).
 */
function checkEpoch(member: ConsumerMember, received: number, owned: TopicPartitions | null): void {
  const fenced = (): ConsumerGroupError =>
    new ConsumerGroupError(
      KafkaErrors.FENCED_MEMBER_EPOCH,
      `The consumer group member has a greater or smaller member epoch (${received}) than expected (${member.memberEpoch}).`,
    );
  if (member.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH || received > member.memberEpoch) throw fenced();
  if (received < member.memberEpoch && (received !== member.previousMemberEpoch || owned === null || !subset(owned, member.assigned)))
    throw fenced();
}

function computeTarget(group: ConsumerGroup, topics: Readonly<Record<string, number>>): ConsumerGroup {
  const members = Object.values(group.members);
  const assignor = chooseAssignor(members);
  const target = assignConsumers(
    assignor,
    members.map((m) => ({ memberId: m.memberId, topics: memberTopics(m, topics), current: group.target[m.memberId] ?? {} })),
    topics,
  );
  return { ...group, assignor, target, assignmentEpoch: group.groupEpoch };
}

/** The assignor most members ask for (ties: Kafka's order), else the default. */
function chooseAssignor(members: readonly ConsumerMember[]): ConsumerAssignorName {
  const votes = new Map<ConsumerAssignorName, number>();
  for (const m of members)
    if (m.serverAssignor !== null && isConsumerAssignor(m.serverAssignor))
      votes.set(m.serverAssignor, (votes.get(m.serverAssignor) ?? 0) + 1);
  let best: ConsumerAssignorName = defaultConsumerAssignor;
  let bestVotes = 0;
  for (const name of ['uniform', 'range'] as const) {
    if ((votes.get(name) ?? 0) > bestVotes) {
      best = name;
      bestVotes = votes.get(name)!;
    }
  }
  return best;
}

function memberTopics(member: ConsumerMember, topics: Readonly<Record<string, number>>): string[] {
  const regex = member.subscribedTopicRegex === null ? null : compileTopicRegex(member.subscribedTopicRegex);
  return resolveSubscription(member.subscribedTopicNames, typeof regex === 'string' ? null : regex, topics);
}

/** The partition counts of the topics the group's members subscribe to (those that exist). */
export function subscribedPartitionCounts(group: ConsumerGroup, topics: Readonly<Record<string, number>>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of Object.values(group.members)) for (const t of memberTopics(m, topics)) if (topics[t] !== undefined) counts[t] = topics[t];
  return counts;
}

function overlaps(a: TopicPartitions, b: TopicPartitions): boolean {
  return Object.entries(a).some(([topic, partitions]) => partitions.some((p) => (b[topic] ?? []).includes(p)));
}

function subset(a: TopicPartitions, b: TopicPartitions): boolean {
  return Object.entries(a).every(([topic, partitions]) => partitions.every((p) => (b[topic] ?? []).includes(p)));
}

/** Topics in order, each with its partitions sorted and distinct; topics with none left out. */
export function normalise(tp: Record<string, number[]>): TopicPartitions {
  return Object.fromEntries(
    Object.entries(tp)
      .filter(([, ps]) => ps.length > 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([t, ps]) => [t, [...new Set(ps)].sort((x, y) => x - y)]),
  );
}

export function samePartitions(a: TopicPartitions, b: TopicPartitions): boolean {
  const na = normalise(Object.fromEntries(Object.entries(a).map(([t, ps]) => [t, [...ps]])));
  const nb = normalise(Object.fromEntries(Object.entries(b).map(([t, ps]) => [t, [...ps]])));
  return JSON.stringify(na) === JSON.stringify(nb);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.length === sb.length && sa.every((x, i) => x === sb[i]);
}

function sameCounts(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
