/**
 * Classic-protocol members (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) of a KIP-848 consumer group, as
 * Kafka 4.x serves them inside the consumer group (GroupMetadataManager.classicGroupJoinToConsumerGroup and
 * its SyncGroup/Heartbeat/LeaveGroup siblings): pure functions from the group as read to the group to
 * write, and what the member is told. A classic member is an ordinary consumer-state member with `classic`
 * set; its JoinGroup is a heartbeat (consumer-state.ts `heartbeat`, so reconciliation is one piece of code)
 * whose owned partitions come from its ConsumerProtocolSubscription.
 *
 * Translation:
 *  - generation id ⇔ member epoch (after the join's reconciliation step);
 *  - every classic member is a follower: the JoinGroup answer names no leader and no members, and the
 *    SyncGroup answer carries the member's assigned partitions as a ConsumerProtocolAssignment (version 0,
 *    no user data, as Kafka 4.4 answers); partitions pending revocation are not in it;
 *  - the group telling a classic member to rejoin is Heartbeat's REBALANCE_IN_PROGRESS (`mustRejoin`): the
 *    target moved past its epoch, it has partitions to revoke, or the partitions it waited for are free
 *    now. A Heartbeat first brings the target up to date (a group of classic members only has no other
 *    request that would), so a member is told to rejoin only once there is something new to join for:
 *    an eager (range) client gives up all its partitions at each rejoin. As Kafka 4.4 on the wire: while
 *    the target is unchanged and what it waits for is still held, NONE.
 *
 * Invariants (test/kafka/consumer-classic.test.ts):
 *  1. Those of consumer-state.ts: a partition is held by at most one member, whichever protocol it speaks.
 *  2. A classic member's generation (JoinGroup answer, SyncGroup/Heartbeat check) is its member epoch.
 *  3. A refused request changes nothing (ConsumerGroupError thrown, the group as it was).
 *
 * Online migration (Kafka 4.x's group.consumer.migration.policy), also pure: `fromClassicGroup` (upgrade:
 * a classic group as held becomes a consumer group of classic members, each Stable at the generation with
 * its last assignment, so invariant 1 holds from the start) and `toClassicState` (downgrade: the classic
 * members, once alone, as a Stable classic group with their targets as assignments, to be rebalanced).
 *
 * The shell (timers: the classic session timeout, SyncGroup within the rebalance timeout after a join, a
 * rejoin within it after REBALANCE_IN_PROGRESS; writes; conversions) is lib/kafka/consumer-groups.ts.
 */
import { tpKey } from '../../groups/assignors.js';
import type { ClassicMember, ClassicState } from '../../groups/state.js';
import { KafkaErrors } from '../errors.js';
import { voteProtocol } from './group.js';
import { ConsumerProtocolAssignmentData } from '../protocol/messages/consumer-protocol.js';
import { defaultConsumerAssignor, type TopicPartitions } from './consumer-assignors.js';
import { decodeAssignment, decodeSubscription, encodeAssignment } from './consumer-protocol.js';
import {
  advanceTarget,
  ConsumerGroupError,
  heartbeat,
  normalise,
  subscribedPartitionCounts,
  LEAVE_GROUP_STATIC_MEMBER_EPOCH,
  partitionHolders,
  removeMember,
  type ConsumerGroup,
  type ConsumerMember,
  type HeartbeatEnvironment,
} from './consumer-state.js';

/** The consumer protocol's protocol type: the only one a consumer group serves classic members in. */
export const CONSUMER_PROTOCOL_TYPE = 'consumer';

/** ConsumerProtocolAssignment version Kafka 4.4 writes in SyncGroup answers of a consumer group (seen on the wire). */
const ASSIGNMENT_VERSION = 0;

export interface ClassicJoinInput {
  readonly apiVersion: number;
  /** '' for a member joining without one. */
  readonly memberId: string;
  readonly instanceId: string | null;
  readonly sessionTimeoutMs: number;
  /** JoinGroup v1+; v0 has none (its session timeout is used). */
  readonly rebalanceTimeoutMs: number;
  readonly protocolType: string;
  readonly protocols: readonly { readonly name: string; readonly metadata: Buffer }[];
  readonly clientId: string;
  readonly clientHost: string;
}

export type ClassicJoinResult =
  /** JoinGroup v4+ of a dynamic member without an id (KIP-394): nothing changes; it joins again with this id. */
  | { readonly kind: 'member-id-required'; readonly memberId: string }
  | {
      readonly kind: 'joined';
      readonly group: ConsumerGroup;
      readonly memberId: string;
      readonly generationId: number;
      readonly protocolName: string;
      /** Members this join removed (a static member replaced by its next incarnation): their timers stop. */
      readonly removed: readonly string[];
    };

/**
 * A JoinGroup of a classic-protocol member: it joins (or rejoins) the consumer group, the target moves on if
 * its subscription did, and it reconciles one step with the partitions its subscription says it owns.
 */
export function classicJoin(group: ConsumerGroup, input: ClassicJoinInput, env: HeartbeatEnvironment): ClassicJoinResult {
  if (input.instanceId === '') throw refusal(KafkaErrors.INVALID_REQUEST, "InstanceId can't be empty.");
  if (!supportsClassicProtocols(group, input.memberId, input.protocolType, input.protocols)) {
    throw refusal(
      KafkaErrors.INCONSISTENT_GROUP_PROTOCOL,
      `The group member's supported protocols (type ${input.protocolType}: ${input.protocols.map((p) => p.name).join(', ') || 'none'}) are incompatible with those of the group's classic members.`,
    );
  }
  const known = input.memberId === '' ? undefined : group.members[input.memberId];
  if (known !== undefined && known.classic === undefined) {
    throw refusal(KafkaErrors.UNKNOWN_MEMBER_ID, `Member ${input.memberId} uses the consumer protocol, not JoinGroup.`);
  }
  const memberId = input.memberId === '' ? env.newMemberId() : input.memberId;
  if (known === undefined && Object.keys(group.members).length >= env.maxSize && !replacesStatic(group, input)) {
    throw refusal(KafkaErrors.GROUP_MAX_SIZE_REACHED, `The consumer group has reached its maximum capacity of ${env.maxSize} members.`);
  }
  if (input.memberId === '' && input.instanceId === null && input.apiVersion >= 4) return { kind: 'member-id-required', memberId };

  const subscription = readSubscription(input.protocols[0]!.metadata);
  let g = group;
  const removedBefore: string[] = [];
  if (input.instanceId !== null) {
    const holder = Object.values(g.members).find((m) => m.instanceId === input.instanceId);
    if (holder !== undefined && holder.memberId !== memberId) {
      if (input.memberId !== '') {
        throw refusal(
          KafkaErrors.FENCED_INSTANCE_ID,
          `Static member ${input.memberId} with instance id ${input.instanceId} was replaced by member ${holder.memberId}.`,
        );
      }
      // A static member restarted: its next incarnation takes its place (epoch and partitions), the old id is fenced.
      if (holder.memberEpoch !== LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
        const left: ConsumerMember = { ...holder, previousMemberEpoch: holder.memberEpoch, memberEpoch: LEAVE_GROUP_STATIC_MEMBER_EPOCH };
        g = { ...g, members: { ...g.members, [holder.memberId]: left } };
      }
      removedBefore.push(holder.memberId);
    }
  }
  const current = g.members[memberId];
  // A known member rejoins at its own epoch with what it owns; a new one joins at epoch 0 owning nothing here.
  const rejoining = current !== undefined && current.memberEpoch > 0;
  const rackId = subscription.rackId === '' ? null : subscription.rackId;
  const result = heartbeat(
    g,
    {
      apiVersion: 1,
      memberId,
      memberEpoch: rejoining ? current.memberEpoch : 0,
      instanceId: input.instanceId,
      rackId,
      rebalanceTimeoutMs: input.apiVersion >= 1 && input.rebalanceTimeoutMs > 0 ? input.rebalanceTimeoutMs : input.sessionTimeoutMs,
      subscribedTopicNames: [...subscription.topics],
      subscribedTopicRegex: null,
      serverAssignor: null,
      ownedTopicPartitions: rejoining ? owned(subscription.ownedPartitions) : {},
      clientId: input.clientId,
      clientHost: input.clientHost,
    },
    env,
  );
  const member = result.group.members[memberId]!;
  const withClassic: ConsumerMember = {
    ...member,
    classic: {
      sessionTimeoutMs: input.sessionTimeoutMs,
      protocols: input.protocols.map((p) => ({ name: p.name, metadata: p.metadata.toString('base64') })),
    },
  };
  return {
    kind: 'joined',
    group: { ...result.group, members: { ...result.group.members, [memberId]: withClassic } },
    memberId,
    generationId: withClassic.memberEpoch,
    protocolName: input.protocols[0]!.name,
    removed: [...new Set([...removedBefore, ...result.removed])],
  };
}

export interface ClassicSyncInput {
  readonly memberId: string;
  readonly instanceId: string | null;
  readonly generationId: number;
  /** SyncGroup v5+; null before. */
  readonly protocolType: string | null;
  readonly protocolName: string | null;
}

/** A SyncGroup of a classic-protocol member: its assigned partitions, as its assignor would have encoded them. */
export function classicSync(
  group: ConsumerGroup,
  input: ClassicSyncInput,
): { readonly protocolType: string; readonly protocolName: string; readonly assignment: Buffer } {
  const member = classicMember(group, input.memberId, input.instanceId);
  checkGeneration(member, input.generationId);
  const protocolName = member.classic!.protocols[0]?.name ?? '';
  if (
    (input.protocolType !== null && input.protocolType !== CONSUMER_PROTOCOL_TYPE) ||
    (input.protocolName !== null && input.protocolName !== protocolName)
  ) {
    throw refusal(
      KafkaErrors.INCONSISTENT_GROUP_PROTOCOL,
      `SyncGroup protocol ${input.protocolType ?? '-'}/${input.protocolName ?? '-'} does not match the member's ${CONSUMER_PROTOCOL_TYPE}/${protocolName}.`,
    );
  }
  return { protocolType: CONSUMER_PROTOCOL_TYPE, protocolName, assignment: assignmentBytes(member.assigned) };
}

/**
 * A Heartbeat of a classic-protocol member: the target brought up to date (`topics`: every topic's
 * partition count), and NONE, or REBALANCE_IN_PROGRESS when the member must rejoin (then the shell gives
 * it its rebalance timeout to do so). Throws for an unknown, fenced or out-of-date member.
 */
export function classicHeartbeat(
  group: ConsumerGroup,
  input: { readonly memberId: string; readonly instanceId: string | null; readonly generationId: number },
  topics: Readonly<Record<string, number>>,
): { readonly group: ConsumerGroup; readonly errorCode: number } {
  const member = classicMember(group, input.memberId, input.instanceId);
  checkGeneration(member, input.generationId);
  const g = advanceTarget(group, topics);
  return { group: g, errorCode: mustRejoin(g, member) ? KafkaErrors.REBALANCE_IN_PROGRESS : KafkaErrors.NONE };
}

/**
 * Whether a classic member must JoinGroup again to move on: the target moved past its epoch, it has
 * partitions to revoke, or it waits for partitions none of which is held by another member now.
 */
export function mustRejoin(group: ConsumerGroup, member: ConsumerMember): boolean {
  if (member.memberEpoch < group.assignmentEpoch || member.state === 'UNREVOKED_PARTITIONS') return true;
  return member.state === 'UNRELEASED_PARTITIONS' && !waitingOnUnreleased(group, member);
}

/** One LeaveGroup entry's answer: NONE, UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID. */
export interface ClassicLeaveOutcome {
  readonly memberId: string;
  readonly instanceId: string | null;
  readonly errorCode: number;
}

/**
 * A LeaveGroup naming classic-protocol members (v3+ may name several; a static member by its instance id,
 * its member id then optional). Each leaves for good; the others' answers do not depend on one refused.
 */
export function classicLeave(
  group: ConsumerGroup,
  leaving: readonly { readonly memberId: string; readonly instanceId: string | null }[],
): { readonly group: ConsumerGroup; readonly outcomes: readonly ClassicLeaveOutcome[]; readonly removed: readonly string[] } {
  let g = group;
  const removed: string[] = [];
  const outcomes = leaving.map(({ memberId, instanceId }): ClassicLeaveOutcome => {
    let member: ConsumerMember | undefined;
    if (instanceId !== null) {
      member = Object.values(g.members).find((m) => m.instanceId === instanceId);
      if (member !== undefined && memberId !== '' && member.memberId !== memberId) {
        return { memberId, instanceId, errorCode: KafkaErrors.FENCED_INSTANCE_ID };
      }
    } else member = g.members[memberId];
    if (member === undefined || member.classic === undefined) return { memberId, instanceId, errorCode: KafkaErrors.UNKNOWN_MEMBER_ID };
    g = removeMember(g, member.memberId);
    removed.push(member.memberId);
    return { memberId: member.memberId, instanceId, errorCode: KafkaErrors.NONE };
  });
  return { group: g, outcomes, removed };
}

/**
 * Whether a member with these protocols may join (Kafka's ConsumerGroup.supportsClassicProtocols): the
 * consumer protocol type, and at least one protocol name every other classic member supports too (any
 * name while there is none).
 */
export function supportsClassicProtocols(
  group: ConsumerGroup,
  memberId: string,
  protocolType: string,
  protocols: readonly { readonly name: string }[],
): boolean {
  if (protocolType !== CONSUMER_PROTOCOL_TYPE || protocols.length === 0) return false;
  const others = Object.values(group.members).filter((m) => m.classic !== undefined && m.memberId !== memberId);
  return protocols.some((p) => others.every((m) => m.classic!.protocols.some((q) => q.name === p.name)));
}

/** The ConsumerProtocolAssignment a classic member is given for `assigned`. */
export function assignmentBytes(assigned: TopicPartitions): Buffer {
  return encodeAssignment({
    version: ASSIGNMENT_VERSION,
    partitions: Object.entries(assigned).map(([topic, partitions]) => ({ topic, partitions: [...partitions] })),
  });
}

// ---- online upgrade and downgrade ------------------------------------------------------------------

/**
 * Kafka's group.consumer.migration.policy: which online conversions between a classic group and a consumer
 * group are allowed (Kafka 4.x's default: both).
 */
export type MigrationPolicy = 'bidirectional' | 'upgrade' | 'downgrade' | 'disabled';

/** A classic group as its coordinator holds it, handed over for an online upgrade. */
export interface ClassicGroupSnapshot {
  readonly groupId: string;
  readonly generation: number;
  readonly protocolType: string | null;
  /** The protocol of its last generation; null before its first. */
  readonly protocol: string | null;
  readonly members: readonly {
    readonly memberId: string;
    readonly instanceId: string | null;
    readonly clientId: string;
    readonly clientHost: string;
    readonly sessionTimeoutMs: number;
    readonly rebalanceTimeoutMs: number;
    /** In its order of preference (a member read from the store has only the chosen one). */
    readonly protocols: readonly { readonly name: string; readonly metadata: Buffer }[];
    /** Its assignment of the last generation; empty while it has none. */
    readonly assignment: Buffer;
  }[];
}

/**
 * Kafka's validateOnlineUpgrade: a ConsumerGroupHeartbeat joining a classic group with members converts it
 * only if the policy allows upgrades, its members speak the consumer protocol, and they fit in a consumer
 * group. Else GROUP_ID_NOT_FOUND, as Kafka answers a group that is not a consumer group.
 */
export function checkUpgrade(snapshot: ClassicGroupSnapshot, policy: MigrationPolicy, maxSize: number): void {
  const why =
    policy !== 'bidirectional' && policy !== 'upgrade'
      ? 'the online upgrade is disabled'
      : snapshot.protocolType !== CONSUMER_PROTOCOL_TYPE
        ? 'the group does not use the consumer embedded protocol'
        : snapshot.members.length > maxSize
          ? 'the group size exceeds the consumer group maximum size'
          : undefined;
  if (why !== undefined)
    throw refusal(KafkaErrors.GROUP_ID_NOT_FOUND, `Group ${snapshot.groupId} is not a consumer group (cannot upgrade it: ${why}).`);
}

/**
 * Kafka's ConsumerGroup.fromClassicGroup: the classic group as a consumer group of classic members, each
 * Stable at the generation as its member epoch, holding (and targeted with) its last assignment, so nothing
 * moves until the joining member bumps the group epoch. Partitions of topics that no longer exist are
 * dropped; a partition two members were given (a custom assignor's doing) stays with the first (invariant 1).
 * A subscription or assignment that does not parse refuses the upgrade (GROUP_ID_NOT_FOUND, as Kafka).
 */
export function fromClassicGroup(snapshot: ClassicGroupSnapshot, topics: Readonly<Record<string, number>>): ConsumerGroup {
  const taken = new Set<string>();
  const members: Record<string, ConsumerMember> = {};
  const target: Record<string, TopicPartitions> = {};
  for (const m of snapshot.members) {
    const metadata = (m.protocols.find((p) => p.name === snapshot.protocol) ?? m.protocols[0])?.metadata ?? Buffer.alloc(0);
    let subscription: ReturnType<typeof decodeSubscription>;
    let assignment: ReturnType<typeof decodeAssignment>;
    try {
      subscription = decodeSubscription(metadata);
      assignment = decodeAssignment(m.assignment);
    } catch {
      throw refusal(
        KafkaErrors.GROUP_ID_NOT_FOUND,
        `Cannot upgrade the classic group ${snapshot.groupId} to consumer group because the embedded consumer protocol is malformed.`,
      );
    }
    const assigned: Record<string, number[]> = {};
    for (const { topic, partitions } of assignment.partitions)
      for (const p of partitions)
        if (p >= 0 && p < (topics[topic] ?? 0) && !taken.has(tpKey(topic, p))) {
          taken.add(tpKey(topic, p));
          (assigned[topic] ??= []).push(p);
        }
    members[m.memberId] = {
      memberId: m.memberId,
      instanceId: m.instanceId,
      rackId: subscription.rackId === null || subscription.rackId === '' ? null : subscription.rackId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      memberEpoch: snapshot.generation,
      previousMemberEpoch: snapshot.generation,
      state: 'STABLE',
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      subscribedTopicNames: [...subscription.topics],
      subscribedTopicRegex: null,
      serverAssignor: null,
      assigned: normalise(assigned),
      pendingRevocation: {},
      classic: {
        sessionTimeoutMs: m.sessionTimeoutMs,
        protocols: m.protocols.map((p) => ({ name: p.name, metadata: p.metadata.toString('base64') })),
      },
    };
    target[m.memberId] = normalise(assigned);
  }
  const group: ConsumerGroup = {
    groupId: snapshot.groupId,
    groupEpoch: snapshot.generation,
    assignmentEpoch: snapshot.generation,
    assignor: defaultConsumerAssignor,
    members,
    target,
    partitionCounts: {},
  };
  return { ...group, partitionCounts: subscribedPartitionCounts(group, topics) };
}

/**
 * Kafka's validateOnlineDowngradeWithFencedMembers, for a group that just lost members (left, or fenced by a
 * timeout): it goes back to being a classic group when members are left, all of them classic, and the policy
 * allows downgrades.
 */
export function downgradeDue(group: ConsumerGroup, policy: MigrationPolicy): boolean {
  const members = Object.values(group.members);
  return (policy === 'bidirectional' || policy === 'downgrade') && members.length > 0 && members.every((m) => m.classic !== undefined);
}

/**
 * Kafka's ClassicGroup.fromConsumerGroup: the group of classic members as a classic group to write — Stable at
 * the group epoch as generation, the protocol the members vote for, the first member leading, each member's
 * assignment its target, encoded at its subscription's version. Undefined when the members share no protocol.
 */
export function toClassicState(group: ConsumerGroup, nowMs: number): ClassicState | undefined {
  const members = Object.values(group.members);
  const protocol = voteProtocol(members.map((m) => (m.classic?.protocols ?? []).map((p) => p.name)));
  if (protocol === undefined) return undefined;
  const classicMembers: Record<string, ClassicMember> = {};
  for (const m of members) {
    const metadata = Buffer.from(m.classic!.protocols.find((p) => p.name === protocol)!.metadata, 'base64');
    const version = Math.min(metadata.length >= 2 ? metadata.readInt16BE(0) : 0, ConsumerProtocolAssignmentData.maxVersion);
    const assigned = group.target[m.memberId] ?? {};
    classicMembers[m.memberId] = {
      clientId: m.clientId,
      clientHost: m.clientHost,
      groupInstanceId: m.instanceId,
      sessionTimeoutMs: m.classic!.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      joinedMs: nowMs,
      metadata,
      assignment: encodeAssignment({
        version: Math.max(0, version),
        partitions: Object.entries(assigned).map(([topic, partitions]) => ({ topic, partitions: [...partitions] })),
      }),
      topics: [...m.subscribedTopicNames].sort(),
      assigned: Object.entries(assigned).flatMap(([topic, partitions]) => partitions.map((p) => tpKey(topic, p))),
    };
  }
  return { protocolType: CONSUMER_PROTOCOL_TYPE, protocol, leader: members[0]!.memberId, phase: 'Stable', members: classicMembers };
}

function classicMember(group: ConsumerGroup, memberId: string, instanceId: string | null): ConsumerMember {
  if (instanceId !== null) {
    const holder = Object.values(group.members).find((m) => m.instanceId === instanceId);
    if (holder !== undefined && holder.memberId !== memberId) {
      throw refusal(
        KafkaErrors.FENCED_INSTANCE_ID,
        `Static member ${memberId} with instance id ${instanceId} was replaced by member ${holder.memberId}.`,
      );
    }
  }
  const member = group.members[memberId];
  if (member === undefined || member.classic === undefined) {
    throw refusal(KafkaErrors.UNKNOWN_MEMBER_ID, `Member ${memberId} is not a classic-protocol member of group ${group.groupId}.`);
  }
  return member;
}

function checkGeneration(member: ConsumerMember, generationId: number): void {
  if (generationId !== member.memberEpoch) {
    throw refusal(KafkaErrors.ILLEGAL_GENERATION, `The member's generation ${generationId} is not its member epoch ${member.memberEpoch}.`);
  }
}

/** Whether some partition of the member's target that it does not have yet is still held by another member. */
function waitingOnUnreleased(group: ConsumerGroup, member: ConsumerMember): boolean {
  const holders = partitionHolders(group);
  return Object.entries(group.target[member.memberId] ?? {}).some(([topic, partitions]) =>
    partitions.some((p) => {
      const holder = holders.get(topic)?.get(p);
      return holder !== undefined && holder !== member.memberId;
    }),
  );
}

/** A static member joining without a member id while its instance id is held: it replaces the holder, no new seat. */
function replacesStatic(group: ConsumerGroup, input: ClassicJoinInput): boolean {
  return input.instanceId !== null && input.memberId === '' && Object.values(group.members).some((m) => m.instanceId === input.instanceId);
}

function readSubscription(metadata: Buffer): ReturnType<typeof decodeSubscription> {
  try {
    return decodeSubscription(metadata);
  } catch (error) {
    throw refusal(
      KafkaErrors.INCONSISTENT_GROUP_PROTOCOL,
      `The member's consumer protocol subscription is malformed: ${error instanceof Error ? error.message : String(error)}.`,
    );
  }
}

function owned(partitions: readonly { readonly topic: string; readonly partitions: readonly number[] }[]): TopicPartitions {
  const out: Record<string, number[]> = {};
  for (const { topic, partitions: ps } of partitions) out[topic] = [...(out[topic] ?? []), ...ps];
  return out;
}

function refusal(errorCode: number, message: string): ConsumerGroupError {
  return new ConsumerGroupError(errorCode, message);
}
