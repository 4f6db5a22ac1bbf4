/**
 * Kafka's classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup; commits and fetches of
 * offsets) on the agent that coordinates the group — the holder of its lease in the ClusterView.
 *
 * Why here and not in lib/groups: the protocol is a rendezvous of blocked requests (every JoinGroup
 * waits for the others, every SyncGroup for the leader's), which only one process can hold, and it
 * carries Kafka's opaque protocol bytes. lib/groups stays transport-neutral and owns the store
 * layout; this module keeps the live state in memory and writes the durable part through
 * lib/groups/classic.ts, into the same items as HTTP groups (so both kinds are listed, described and
 * have their offsets reset alike).
 *
 * The states, as Kafka's GroupCoordinator:
 *
 *   Empty ──join──▶ PreparingRebalance ──all joined / rebalance timeout──▶ CompletingRebalance
 *     ▲                    ▲   │                                                 │ leader's SyncGroup, written
 *     └── last member gone ┘   └── join, leave, session expiry ◀── Stable ◀──────┘
 *
 * What is durable, and when it is written (nothing per heartbeat):
 * - when the leader's assignment is in: generation, protocol, leader, members (their metadata and
 *   assignment, and the consumer protocol decoded for GET /v1/groups/{group}); compare-and-set, so
 *   a coordinator that lost the group cannot overwrite who took it;
 * - when the last member goes: the group, Empty;
 * - about twice per the members' longest timeout, while members are live: the coordinator's vouch
 *   (until when HTTP readers count them as live; lib/groups/items.ts);
 * - committed offsets, fenced by the stored incarnation and generation; unchanged offsets (a
 *   consumer's periodic auto-commit of an idle partition) are not written again.
 *
 * A rebalance lives only here. An agent taking the group over reads the last Stable generation: its
 * members carry on heartbeating (each gets a fresh session), and the next rebalance continues from
 * that generation. A generation handed out but never written (the coordinator died before the
 * leader's SyncGroup was answered) never let anyone commit, so handing its number out again is safe.
 *
 * Invariants (test/kafka/classic-groups.test.ts):
 * - A member learns a generation only once it is complete (JoinGroup answers are sent together), and
 *   learns its assignment only once that is written.
 * - Offsets are committed only by a member of the current generation (or, from outside the group,
 *   only while the group has no members), checked here and again by the store.
 * - A group is Kafka's or HTTP's: Kafka members join only while HTTP ones are gone, and vice versa.
 *
 * Not supported: static membership (group.instance.id is kept and shown, but a member that restarts
 * with the same instance id joins as a new member), and KIP-848's consumer protocol.
 */
import { randomUUID } from 'node:crypto';
import { SpoolError } from '../errors.js';
import { parseTpKey, tpKey } from '../groups/assignors.js';
import { commitClassicOffsets, saveClassicState, vouchForMembers } from '../groups/classic.js';
import type { GroupCoordinator } from '../groups/coordinator.js';
import { checkGroupName, liveCount, loadGroup, loadOffsets } from '../groups/items.js';
import type { ClassicMember, GroupState } from '../groups/state.js';
import type { Log } from '../log/index.js';
import type { Logger } from '../logger.js';
import type { MetadataStore } from '../storage/ports.js';
import { ConditionFailedError } from '../storage/ports.js';
import type { ClusterView } from './cluster.js';
import { decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription } from './apis/consumer-protocol.js';
import type { DescribedGroup } from './apis/describe-groups.js';
import type { GroupProtocol, JoinGroupRequest, JoinGroupResponse } from './apis/join-group.js';
import type { LeaveGroupRequest, LeaveGroupResponse } from './apis/leave-group.js';
import type { OffsetCommitRequest, OffsetCommitResponse } from './apis/offset-commit.js';
import type { OffsetFetchRequest, OffsetFetchResponse } from './apis/offset-fetch.js';
import type { SyncGroupRequest, SyncGroupResponse } from './apis/sync-group.js';
import { KafkaErrors } from './errors.js';

/** A whole request refused with one Kafka error code (the handler builds the answer). */
export class GroupRefusal extends Error {
  constructor(
    readonly errorCode: number,
    message: string,
    /** JoinGroup's MEMBER_ID_REQUIRED: the id to join with. */
    readonly memberId?: string,
  ) {
    super(message);
    this.name = 'GroupRefusal';
  }
}

/** Time and timers, injectable so tests step through sessions and rebalances deterministically. */
export interface Scheduler {
  now(): number;
  /** Runs `task` after `delayMs`; the returned function cancels it. */
  schedule(delayMs: number, task: () => void): () => void;
}

export const realScheduler: Scheduler = {
  now: Date.now,
  schedule(delayMs, task) {
    const timer = setTimeout(task, delayMs);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface ClassicGroupsOptions {
  readonly log: Log;
  readonly metadata: MetadataStore;
  /** The HTTP groups over the same store: for describing them to Kafka tools and for commits from outside a group. */
  readonly groups: GroupCoordinator;
  readonly cluster: ClusterView;
  readonly logger?: Logger;
  /** @default real time */
  readonly scheduler?: Scheduler;
  /** How long a new group waits for more members before its first generation (Kafka's group.initial.rebalance.delay.ms). @default 3000 */
  readonly initialRebalanceDelayMs?: number;
  /** Kafka's group.min.session.timeout.ms. @default 6000 */
  readonly minSessionTimeoutMs?: number;
  /** Kafka's group.max.session.timeout.ms. @default 1 800 000 */
  readonly maxSessionTimeoutMs?: number;
}

/** Who sent a request, as DescribeGroups shows members. */
export interface ClientInfo {
  readonly clientId: string;
  readonly clientHost: string;
}

type Phase = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable';

interface Member {
  readonly id: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  /** In the member's order of preference. A member read from the store has only the chosen one. */
  protocols: readonly GroupProtocol[];
  /** Its metadata for the chosen protocol (once a generation is complete). */
  metadata: Buffer;
  assignment: Buffer;
  readonly joinedMs: number;
  /** The session ends at this time unless renewed. */
  deadlineMs: number;
  cancelSessionTimer?: () => void;
  /** Set while its JoinGroup waits for the rebalance. */
  joining?: (response: JoinGroupResponse) => void;
  /** Set while its SyncGroup waits for the leader's assignment. */
  syncing?: (response: SyncGroupResponse) => void;
}

interface Group {
  readonly id: string;
  phase: Phase;
  generation: number;
  protocolType: string | null;
  protocol: string | null;
  leader: string | null;
  readonly members: Map<string, Member>;
  /** Member ids handed out with MEMBER_ID_REQUIRED, not yet joined with: each expires after its session timeout. */
  readonly pending: Map<string, () => void>;
  /** The state item as last read or written: the base of the next compare-and-set. */
  stored: GroupState;
  storedExists: boolean;
  cancelRebalanceTimer?: () => void;
  /** The first generation of a group waits `initialRebalanceDelayMs` for more members, up to this time. */
  initialJoinUntilMs?: number;
  /** The leader's assignment, while it is being written. */
  assigning?: ReadonlyMap<string, Buffer>;
  /** Offsets this coordinator committed in the current generation (skipped when committed again unchanged). */
  /** What this coordinator last committed per partition (and of which topic incarnation): an unchanged commit is not written again. */
  readonly committed: Map<string, { offset: number; metadata: string | null; topicId: string }>;
  vouchedUntilMs: number;
  vouching: boolean;
  /** Writes, one at a time. */
  queue: Promise<void>;
  /** Set when this agent stops coordinating the group: work in flight must not touch it again. */
  dropped: boolean;
}

const maxMetadataChars = 4096; // Kafka's offset.metadata.max.bytes

export class ClassicGroups {
  private readonly groups = new Map<string, Group>();
  private readonly loading = new Map<string, Promise<Group>>();
  private readonly scheduler: Scheduler;
  private readonly initialRebalanceDelayMs: number;
  private readonly minSessionTimeoutMs: number;
  private readonly maxSessionTimeoutMs: number;
  private closed = false;

  constructor(private readonly options: ClassicGroupsOptions) {
    this.scheduler = options.scheduler ?? realScheduler;
    this.initialRebalanceDelayMs = options.initialRebalanceDelayMs ?? 3000;
    this.minSessionTimeoutMs = options.minSessionTimeoutMs ?? 6000;
    this.maxSessionTimeoutMs = options.maxSessionTimeoutMs ?? 1_800_000;
  }

  // ---- JoinGroup --------------------------------------------------------------------------------

  /** Answers once the rebalance this join belongs to completes (or at once, with an error or the current generation). */
  async join(request: JoinGroupRequest, client: ClientInfo, version: number): Promise<JoinGroupResponse> {
    checkGroupId(request.groupId);
    if (request.sessionTimeoutMs < this.minSessionTimeoutMs || request.sessionTimeoutMs > this.maxSessionTimeoutMs) {
      throw new GroupRefusal(KafkaErrors.INVALID_SESSION_TIMEOUT, `session timeout ${request.sessionTimeoutMs} ms is outside [${this.minSessionTimeoutMs}, ${this.maxSessionTimeoutMs}]`);
    }
    if (request.protocolType === '' || request.protocols.length === 0) {
      throw new GroupRefusal(KafkaErrors.INCONSISTENT_GROUP_PROTOCOL, 'a member must name a protocol type and at least one protocol');
    }
    const group = await this.group(request.groupId);
    if (group.phase === 'Empty') await this.refuseIfHttpManaged(group);
    if (group.dropped) throw notCoordinator(group.id); // lost while the store was read
    const existing = request.memberId === '' ? undefined : group.members.get(request.memberId);
    if (request.memberId !== '' && existing === undefined && !group.pending.has(request.memberId)) {
      throw new GroupRefusal(KafkaErrors.UNKNOWN_MEMBER_ID, `member ${request.memberId} is not in group ${group.id}`);
    }
    if (!this.supports(group, request.protocolType, request.protocols, request.memberId)) {
      throw new GroupRefusal(KafkaErrors.INCONSISTENT_GROUP_PROTOCOL, `group ${group.id} shares no protocol with this member (${request.protocols.map((p) => p.name).join(', ')})`);
    }
    if (request.memberId === '') {
      const memberId = `${client.clientId || 'member'}-${randomUUID()}`;
      // v4+: the member must come back with its id, so a lost answer never leaves a ghost member behind.
      if (version >= 4) {
        this.addPending(group, memberId, request.sessionTimeoutMs);
        throw new GroupRefusal(KafkaErrors.MEMBER_ID_REQUIRED, `join group ${group.id} again with member id ${memberId}`, memberId);
      }
      return this.addMember(group, memberId, request, client);
    }
    if (existing === undefined) {
      group.pending.get(request.memberId)!();
      group.pending.delete(request.memberId);
      return this.addMember(group, request.memberId, request, client);
    }
    return this.rejoin(group, existing, request, client);
  }

  private addMember(group: Group, memberId: string, request: JoinGroupRequest, client: ClientInfo): Promise<JoinGroupResponse> {
    const now = this.scheduler.now();
    const member: Member = {
      id: memberId,
      groupInstanceId: request.groupInstanceId,
      clientId: client.clientId,
      clientHost: client.clientHost,
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs,
      protocols: request.protocols,
      metadata: Buffer.alloc(0),
      assignment: Buffer.alloc(0),
      joinedMs: now,
      deadlineMs: now + request.sessionTimeoutMs,
    };
    group.members.set(memberId, member);
    if (group.leader === null) group.leader = memberId;
    if (group.protocolType === null || group.phase === 'Empty') group.protocolType = request.protocolType;
    this.watchSession(group, member);
    const answer = this.awaitJoin(member);
    if (group.phase === 'PreparingRebalance') {
      if (group.initialJoinUntilMs !== undefined) this.extendInitialJoin(group);
      else this.tryCompleteJoin(group);
    } else {
      this.prepareRebalance(group, `member ${memberId} joined`);
    }
    return answer;
  }

  private rejoin(group: Group, member: Member, request: JoinGroupRequest, client: ClientInfo): Promise<JoinGroupResponse> | JoinGroupResponse {
    const unchanged = sameProtocols(member.protocols, request.protocols);
    const update = () => {
      member.protocols = request.protocols;
      member.sessionTimeoutMs = request.sessionTimeoutMs;
      member.rebalanceTimeoutMs = request.rebalanceTimeoutMs;
      member.groupInstanceId = request.groupInstanceId;
      member.clientId = client.clientId;
      member.clientHost = client.clientHost;
    };
    switch (group.phase) {
      case 'PreparingRebalance': {
        update();
        const answer = this.awaitJoin(member);
        this.tryCompleteJoin(group);
        return answer;
      }
      case 'CompletingRebalance':
      case 'Stable':
        // A follower that lost its answer and joins again unchanged gets the generation it is in;
        // a leader joining again, or a changed subscription, starts a new one.
        if (unchanged && (group.phase === 'CompletingRebalance' || member.id !== group.leader)) {
          this.renewSession(member);
          return this.joinAnswer(group, member);
        }
        update();
        {
          const answer = this.awaitJoin(member);
          this.prepareRebalance(group, `member ${member.id} joined again${unchanged ? '' : ' with new metadata'}`);
          return answer;
        }
      case 'Empty':
        throw new GroupRefusal(KafkaErrors.UNKNOWN_MEMBER_ID, `member ${member.id} is not in group ${group.id}`);
    }
  }

  private awaitJoin(member: Member): Promise<JoinGroupResponse> {
    // A second JoinGroup while one waits (its connection was lost, say) takes its place.
    member.joining?.(errorJoin(member.id, KafkaErrors.REBALANCE_IN_PROGRESS));
    return new Promise((resolve) => (member.joining = resolve));
  }

  /** Whether a member with these protocols may be in the group (with the others, excluding itself). */
  private supports(group: Group, protocolType: string, protocols: readonly GroupProtocol[], memberId: string): boolean {
    const others = [...group.members.values()].filter((m) => m.id !== memberId);
    if (others.length === 0) return true;
    if (group.protocolType !== protocolType) return false;
    return protocols.some((p) => others.every((m) => m.protocols.some((q) => q.name === p.name)));
  }

  /** The first join of an Empty group: if HTTP members hold it, it is not Kafka's to take. */
  private async refuseIfHttpManaged(group: Group): Promise<void> {
    const loaded = await loadGroup(this.options.metadata, group.id, this.options.groups.topicIdentities);
    if (group.dropped || group.phase !== 'Empty') return;
    group.stored = loaded.state;
    group.storedExists = loaded.exists;
    group.generation = Math.max(group.generation, loaded.state.generation);
    if (!loaded.state.classic && liveCount(loaded, this.scheduler.now()) > 0) {
      throw new GroupRefusal(KafkaErrors.INCONSISTENT_GROUP_PROTOCOL, `group ${group.id} has live HTTP members; Kafka consumers may join once they have left`);
    }
  }

  private addPending(group: Group, memberId: string, sessionTimeoutMs: number): void {
    const cancel = this.scheduler.schedule(sessionTimeoutMs, () => {
      if (group.dropped || !group.pending.delete(memberId)) return;
      if (group.phase === 'PreparingRebalance') this.tryCompleteJoin(group);
    });
    group.pending.set(memberId, cancel);
  }

  // ---- rebalancing ------------------------------------------------------------------------------

  private prepareRebalance(group: Group, reason: string): void {
    this.options.logger?.log('debug', 'kafka group rebalancing', { group: group.id, generation: group.generation, reason });
    if (group.phase === 'CompletingRebalance') this.failSyncs(group, KafkaErrors.REBALANCE_IN_PROGRESS);
    const wasEmpty = group.phase === 'Empty';
    group.phase = 'PreparingRebalance';
    group.assigning = undefined;
    group.cancelRebalanceTimer?.();
    const now = this.scheduler.now();
    if (wasEmpty && this.initialRebalanceDelayMs > 0) {
      group.initialJoinUntilMs = now + this.maxRebalanceTimeoutMs(group);
      group.cancelRebalanceTimer = this.scheduler.schedule(this.initialRebalanceDelayMs, () => this.initialJoinElapsed(group));
      return;
    }
    group.cancelRebalanceTimer = this.scheduler.schedule(this.maxRebalanceTimeoutMs(group), () => {
      if (!group.dropped && group.phase === 'PreparingRebalance') this.completeJoin(group);
    });
    this.tryCompleteJoin(group);
  }

  /** Kafka's InitialDelayedJoin: each new member of a new group restarts the delay, up to the rebalance timeout. */
  private extendInitialJoin(group: Group): void {
    const remainingMs = group.initialJoinUntilMs! - this.scheduler.now();
    group.cancelRebalanceTimer?.();
    group.cancelRebalanceTimer = this.scheduler.schedule(Math.max(0, Math.min(this.initialRebalanceDelayMs, remainingMs)), () => this.initialJoinElapsed(group));
  }

  private initialJoinElapsed(group: Group): void {
    if (group.dropped || group.phase !== 'PreparingRebalance') return;
    group.initialJoinUntilMs = undefined;
    group.cancelRebalanceTimer = this.scheduler.schedule(this.maxRebalanceTimeoutMs(group), () => {
      if (!group.dropped && group.phase === 'PreparingRebalance') this.completeJoin(group);
    });
    this.tryCompleteJoin(group);
  }

  private tryCompleteJoin(group: Group): void {
    if (group.phase !== 'PreparingRebalance' || group.initialJoinUntilMs !== undefined) return;
    const allJoined = [...group.members.values()].every((m) => m.joining !== undefined) && group.pending.size === 0;
    if (allJoined) this.completeJoin(group);
  }

  /** Members that did not join again are out; the others get the new generation, the leader with everyone's metadata. */
  private completeJoin(group: Group): void {
    group.cancelRebalanceTimer?.();
    group.cancelRebalanceTimer = undefined;
    group.initialJoinUntilMs = undefined;
    for (const member of [...group.members.values()]) if (member.joining === undefined) this.removeMember(group, member);
    const protocol = group.members.size === 0 ? undefined : this.chooseProtocol(group);
    if (protocol === undefined) {
      // Members changed their protocols while rebalancing until none is common: none of them can be in it.
      for (const member of [...group.members.values()]) {
        const answer = member.joining!;
        member.joining = undefined;
        this.removeMember(group, member);
        answer(errorJoin(member.id, KafkaErrors.INCONSISTENT_GROUP_PROTOCOL));
      }
    }
    group.generation = Math.max(group.generation, group.stored.generation) + 1;
    group.committed.clear();
    if (protocol === undefined) {
      group.phase = 'Empty';
      group.protocol = null;
      group.leader = null;
      this.enqueue(group, () => this.writeEmpty(group));
      return;
    }
    group.protocol = protocol;
    if (group.leader === null || !group.members.has(group.leader)) group.leader = group.members.keys().next().value!;
    group.phase = 'CompletingRebalance';
    for (const member of group.members.values()) {
      member.metadata = member.protocols.find((p) => p.name === group.protocol)!.metadata;
      member.assignment = Buffer.alloc(0);
    }
    for (const member of group.members.values()) {
      const answer = member.joining!;
      member.joining = undefined;
      this.renewSession(member);
      answer(this.joinAnswer(group, member));
    }
    this.options.logger?.log('debug', 'kafka group joined', { group: group.id, generation: group.generation, members: group.members.size, protocol: group.protocol });
  }

  private joinAnswer(group: Group, member: Member): JoinGroupResponse {
    const isLeader = member.id === group.leader;
    return {
      throttleTimeMs: 0,
      errorCode: KafkaErrors.NONE,
      generationId: group.generation,
      protocolName: group.protocol ?? '',
      leader: group.leader ?? '',
      memberId: member.id,
      members: isLeader ? [...group.members.values()].map((m) => ({ memberId: m.id, groupInstanceId: m.groupInstanceId, metadata: m.metadata })) : [],
    };
  }

  /** Each member votes for its most preferred protocol that every member supports; the most votes wins (first named on a tie). */
  private chooseProtocol(group: Group): string | undefined {
    const members = [...group.members.values()];
    const candidates = members[0]!.protocols.map((p) => p.name).filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)));
    if (candidates.length === 0) return undefined;
    const votes = new Map<string, number>(candidates.map((name) => [name, 0]));
    for (const member of members) {
      const vote = member.protocols.find((p) => votes.has(p.name))!.name;
      votes.set(vote, votes.get(vote)! + 1);
    }
    return [...votes.entries()].reduce((best, entry) => (entry[1] > best[1] ? entry : best))[0];
  }

  private maxRebalanceTimeoutMs(group: Group): number {
    return Math.max(0, ...[...group.members.values()].map((m) => m.rebalanceTimeoutMs));
  }

  // ---- SyncGroup --------------------------------------------------------------------------------

  async sync(request: SyncGroupRequest): Promise<SyncGroupResponse> {
    checkGroupId(request.groupId);
    const group = await this.group(request.groupId);
    const member = this.memberOf(group, request.memberId, request.generationId);
    switch (group.phase) {
      case 'PreparingRebalance':
        throw new GroupRefusal(KafkaErrors.REBALANCE_IN_PROGRESS, `group ${group.id} is rebalancing: join again`);
      case 'Stable':
        this.renewSession(member);
        return { throttleTimeMs: 0, errorCode: KafkaErrors.NONE, assignment: member.assignment };
      case 'CompletingRebalance':
      case 'Empty': // (memberOf has refused: an Empty group has no members)
        break;
    }
    member.syncing?.({ throttleTimeMs: 0, errorCode: KafkaErrors.REBALANCE_IN_PROGRESS, assignment: Buffer.alloc(0) });
    const answer = new Promise<SyncGroupResponse>((resolve) => (member.syncing = resolve));
    if (member.id === group.leader && group.assigning === undefined) {
      const assigning = new Map<string, Buffer>();
      for (const { memberId, assignment } of request.assignments) if (group.members.has(memberId)) assigning.set(memberId, assignment);
      group.assigning = assigning;
      const generation = group.generation;
      this.enqueue(group, () => this.writeStable(group, generation));
    }
    return answer;
  }

  /** Writes the generation with its assignment; only then does any member learn its assignment. */
  private async writeStable(group: Group, generation: number): Promise<void> {
    if (group.phase !== 'CompletingRebalance' || group.generation !== generation || group.assigning === undefined) return;
    const assigning = group.assigning;
    const consumer = group.protocolType === 'consumer';
    const members: Record<string, ClassicMember> = {};
    for (const m of group.members.values()) {
      const assignment = assigning.get(m.id) ?? Buffer.alloc(0);
      members[m.id] = {
        clientId: m.clientId,
        clientHost: m.clientHost,
        groupInstanceId: m.groupInstanceId,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        joinedMs: m.joinedMs,
        metadata: m.metadata,
        assignment,
        topics: consumer ? subscribedTopics(m.metadata) : [],
        assigned: consumer ? assignedKeys(assignment) : [],
      };
    }
    const next: GroupState = {
      ...group.stored,
      generation,
      assignor: null,
      members: {},
      memberCount: group.members.size,
      target: {},
      owners: {},
      classic: { protocolType: group.protocolType ?? '', protocol: group.protocol, leader: group.leader, phase: 'Stable', members },
    };
    const current = () => !group.dropped && group.phase === 'CompletingRebalance' && group.generation === generation;
    // The vouch first: the store must never show live members without one (HTTP would take the group).
    await this.vouch(group);
    if (!current()) return; // a rebalance began meanwhile: its members were told
    try {
      if (!(await this.write(group, next))) return;
    } catch (error) {
      // As Kafka does when the group cannot be stored: the members hear it and join again.
      this.options.logger?.log('warn', 'kafka group assignment could not be written', { group: group.id, generation, message: errorMessage(error) });
      if (current()) this.prepareRebalance(group, 'its assignment could not be written');
      return;
    }
    if (!current()) return;
    group.phase = 'Stable';
    group.assigning = undefined;
    for (const member of group.members.values()) {
      member.assignment = assigning.get(member.id) ?? Buffer.alloc(0);
      const answer = member.syncing;
      member.syncing = undefined;
      if (answer) {
        this.renewSession(member);
        answer({ throttleTimeMs: 0, errorCode: KafkaErrors.NONE, assignment: member.assignment });
      }
    }
    this.options.logger?.log('debug', 'kafka group stable', { group: group.id, generation, members: group.members.size });
  }

  private async writeEmpty(group: Group): Promise<void> {
    // Only a group the store knows with Kafka members needs writing.
    if (group.stored.classic === undefined || group.stored.memberCount === 0) return;
    try {
      await this.write(group, {
        ...group.stored,
        generation: group.generation,
        memberCount: 0,
        classic: { protocolType: group.protocolType ?? '', protocol: null, leader: null, phase: 'Empty', members: {} },
      });
    } catch (error) {
      // The store still shows the last members; once the vouch for them runs out, readers count none.
      this.options.logger?.log('warn', 'kafka group could not be written empty', { group: group.id, message: errorMessage(error) });
    }
  }

  /**
   * Compare-and-set of the state item, by the group's coordinator only. If someone else wrote it
   * meanwhile and it neither has live members nor a newer generation, write over it; otherwise the
   * group is no longer this agent's to coordinate: it is dropped (false), and its members, told
   * NOT_COORDINATOR, find the group again. A failure of the store is thrown.
   */
  private async write(group: Group, next: GroupState): Promise<boolean> {
    // Timers run on after the lease is lost (no request came to say so): such an agent must not write.
    if (group.dropped || !(await this.options.cluster.coordinates(group.id))) {
      this.drop(group.id, KafkaErrors.NOT_COORDINATOR);
      return false;
    }
    for (let attempt = 0; attempt < 3 && !group.dropped; attempt++) {
      try {
        group.stored = await saveClassicState(this.options.metadata, group.id, { state: group.stored, exists: group.storedExists }, next, this.scheduler.now());
        group.storedExists = true;
        return true;
      } catch (error) {
        if (!(error instanceof ConditionFailedError)) throw error;
        const loaded = await loadGroup(this.options.metadata, group.id, this.options.groups.topicIdentities);
        if (liveCount(loaded, this.scheduler.now()) > 0 || loaded.state.generation >= next.generation) break;
        group.stored = loaded.state;
        group.storedExists = loaded.exists;
        next = { ...next, incarnation: loaded.state.incarnation };
      }
    }
    this.options.logger?.log('info', 'kafka group changed under its coordinator; letting it go', { group: group.id });
    this.drop(group.id, KafkaErrors.NOT_COORDINATOR);
    return false;
  }

  // ---- Heartbeat, LeaveGroup, sessions ----------------------------------------------------------

  async heartbeat(groupId: string, memberId: string, generationId: number): Promise<number> {
    checkGroupId(groupId);
    const group = await this.group(groupId);
    const member = this.memberOf(group, memberId, generationId);
    this.renewSession(member);
    void this.vouch(group);
    return group.phase === 'PreparingRebalance' ? KafkaErrors.REBALANCE_IN_PROGRESS : KafkaErrors.NONE;
  }

  async leave(request: LeaveGroupRequest): Promise<LeaveGroupResponse> {
    checkGroupId(request.groupId);
    const group = await this.group(request.groupId);
    const members = request.members.map((leaving) => {
      const id = leaving.memberId !== '' ? leaving.memberId : [...group.members.values()].find((m) => m.groupInstanceId !== null && m.groupInstanceId === leaving.groupInstanceId)?.id;
      const member = id === undefined ? undefined : group.members.get(id);
      if (member) {
        this.removeMember(group, member);
        this.membershipChanged(group, `member ${member.id} left`);
        return { ...leaving, errorCode: KafkaErrors.NONE };
      }
      const cancelPending = id === undefined ? undefined : group.pending.get(id);
      if (cancelPending) {
        cancelPending();
        group.pending.delete(id!);
        if (group.phase === 'PreparingRebalance') this.tryCompleteJoin(group);
        return { ...leaving, errorCode: KafkaErrors.NONE };
      }
      return { ...leaving, errorCode: KafkaErrors.UNKNOWN_MEMBER_ID };
    });
    // v0–2 name one member: its error is the answer's.
    const errorCode = request.members.length === 1 ? members[0]!.errorCode : KafkaErrors.NONE;
    return { throttleTimeMs: 0, errorCode, members };
  }

  private membershipChanged(group: Group, reason: string): void {
    if (group.phase === 'Stable' || group.phase === 'CompletingRebalance') this.prepareRebalance(group, reason);
    else if (group.phase === 'PreparingRebalance') this.tryCompleteJoin(group);
  }

  private removeMember(group: Group, member: Member): void {
    group.members.delete(member.id);
    member.cancelSessionTimer?.();
    member.joining?.(errorJoin(member.id, KafkaErrors.UNKNOWN_MEMBER_ID));
    member.syncing?.({ throttleTimeMs: 0, errorCode: KafkaErrors.UNKNOWN_MEMBER_ID, assignment: Buffer.alloc(0) });
    member.joining = member.syncing = undefined;
    if (group.leader === member.id) group.leader = group.members.keys().next().value ?? null;
  }

  private renewSession(member: Member): void {
    member.deadlineMs = this.scheduler.now() + member.sessionTimeoutMs;
  }

  /** One timer per member, re-armed when it fires before the (moved) deadline. */
  private watchSession(group: Group, member: Member): void {
    member.cancelSessionTimer = this.scheduler.schedule(Math.max(0, member.deadlineMs - this.scheduler.now()), () => {
      if (group.dropped || group.members.get(member.id) !== member) return;
      // A member waiting in JoinGroup or SyncGroup cannot heartbeat: it stays (Kafka's rule).
      if (member.joining || member.syncing) member.deadlineMs = Math.max(member.deadlineMs, this.scheduler.now() + member.sessionTimeoutMs);
      if (this.scheduler.now() < member.deadlineMs) return this.watchSession(group, member);
      this.options.logger?.log('info', 'kafka group member session expired', { group: group.id, member: member.id, session_timeout_ms: member.sessionTimeoutMs });
      this.removeMember(group, member);
      this.membershipChanged(group, `member ${member.id}'s session expired`);
    });
  }

  /**
   * Renews the coordinator's vouch for the members once half of it has run: a member may be silent
   * for its session timeout (or, while rebalancing, its rebalance timeout), so that is the window.
   */
  private async vouch(group: Group): Promise<void> {
    const now = this.scheduler.now();
    const windowMs = Math.max(0, ...[...group.members.values()].map((m) => Math.max(m.sessionTimeoutMs, m.rebalanceTimeoutMs)));
    if (group.members.size === 0 || group.vouching || group.dropped || group.vouchedUntilMs - now > windowMs / 2) return;
    group.vouching = true;
    try {
      await vouchForMembers(this.options.metadata, group.id, now + windowMs, now);
      group.vouchedUntilMs = now + windowMs;
    } catch (error) {
      this.options.logger?.log('warn', 'kafka group vouch not renewed', { group: group.id, message: errorMessage(error) });
    } finally {
      group.vouching = false;
    }
  }

  // ---- offsets ----------------------------------------------------------------------------------

  async commitOffsets(request: OffsetCommitRequest, allowed: (topic: string) => boolean): Promise<OffsetCommitResponse> {
    checkGroupId(request.groupId);
    const group = await this.group(request.groupId);
    const outsider = request.generationId < 0 && request.memberId === '';
    const everyPartition = (errorCode: number): OffsetCommitResponse => ({
      throttleTimeMs: 0,
      topics: request.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) })),
    });
    let member: Member | undefined;
    if (!outsider || group.members.size > 0) {
      member = group.members.get(request.memberId);
      if (member === undefined) return everyPartition(KafkaErrors.UNKNOWN_MEMBER_ID);
      if (request.generationId !== group.generation) return everyPartition(KafkaErrors.ILLEGAL_GENERATION);
      if (group.phase === 'CompletingRebalance') return everyPartition(KafkaErrors.REBALANCE_IN_PROGRESS);
      this.renewSession(member);
    }
    // Per partition: is it one to commit?
    const errors = new Map<string, number>();
    const commits: { key: string; offset: number; metadata: string | null; topicId: string }[] = [];
    for (const topic of request.topics) {
      const item = allowed(topic.name) ? await this.options.log.topic(topic.name) : undefined;
      for (const p of topic.partitions) {
        const key = tpKey(topic.name, p.partitionIndex);
        if (!allowed(topic.name)) errors.set(key, KafkaErrors.TOPIC_AUTHORIZATION_FAILED);
        else if (item === undefined || p.partitionIndex < 0 || p.partitionIndex >= item.partitions) errors.set(key, KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION);
        else if ((p.committedMetadata?.length ?? 0) > maxMetadataChars) errors.set(key, KafkaErrors.OFFSET_METADATA_TOO_LARGE);
        else if (p.committedOffset < 0) errors.set(key, KafkaErrors.OFFSET_OUT_OF_RANGE);
        else commits.push({ key, offset: p.committedOffset, metadata: p.committedMetadata, topicId: item.id });
      }
    }
    const failed = (code: number) => commits.forEach((c) => errors.set(c.key, code));
    if (member !== undefined && (group.dropped || group.generation !== request.generationId || !group.members.has(member.id))) {
      failed(group.dropped ? KafkaErrors.NOT_COORDINATOR : group.members.has(member.id) ? KafkaErrors.ILLEGAL_GENERATION : KafkaErrors.UNKNOWN_MEMBER_ID); // changed while the topics were read
    } else if (member === undefined) {
      // From outside the group, while it has no members: through the HTTP groups' rule, which also
      // expires HTTP members whose leases ran out and refuses while live ones remain.
      try {
        if (commits.length > 0) {
          await this.options.groups.commit(request.groupId, { offsets: commits.map((c) => ({ ...parseTpKey(c.key), offset: c.offset, metadata: c.metadata })) });
        }
      } catch (error) {
        if (!(error instanceof SpoolError && error.code === 'GROUP_NOT_EMPTY')) throw error;
        failed(KafkaErrors.UNKNOWN_MEMBER_ID);
      }
    } else {
      const changed = commits.filter((c) => {
        const known = group.committed.get(c.key);
        return known === undefined || known.offset !== c.offset || known.metadata !== c.metadata || known.topicId !== c.topicId;
      });
      try {
        if (changed.length > 0) {
          await commitClassicOffsets(this.options.metadata, group.id, { incarnation: group.stored.incarnation, generation: request.generationId }, changed, this.scheduler.now());
          if (group.generation === request.generationId) for (const c of changed) group.committed.set(c.key, { offset: c.offset, metadata: c.metadata, topicId: c.topicId });
        }
      } catch (error) {
        if (!(error instanceof SpoolError && error.code === 'ILLEGAL_GENERATION')) throw error;
        // The store has moved past this coordinator's generation: someone else has the group now.
        this.drop(group.id, KafkaErrors.NOT_COORDINATOR);
        failed(KafkaErrors.NOT_COORDINATOR);
      }
    }
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: errors.get(tpKey(t.name, p.partitionIndex)) ?? KafkaErrors.NONE })),
      })),
    };
  }

  /** Committed offsets; -1 for a partition with none. `topics: null` answers every committed partition. */
  async fetchOffsets(request: OffsetFetchRequest, allowed: (topic: string) => boolean): Promise<OffsetFetchResponse> {
    checkGroupId(request.groupId);
    await this.requireCoordinator(request.groupId);
    const stored = await loadOffsets(this.options.metadata, request.groupId, this.options.groups.topicIdentities);
    const entry = (name: string, partitionIndex: number) => {
      const offset = allowed(name) ? stored.get(tpKey(name, partitionIndex)) : undefined;
      const committed = offset?.committed ?? null;
      return {
        partitionIndex,
        committedOffset: committed ?? -1,
        committedLeaderEpoch: -1,
        metadata: committed === null ? '' : (offset?.metadata ?? ''),
        errorCode: allowed(name) ? KafkaErrors.NONE : KafkaErrors.TOPIC_AUTHORIZATION_FAILED,
      };
    };
    let topics: { name: string; partitionIndexes: readonly number[] }[];
    if (request.topics !== null) topics = [...request.topics];
    else {
      const byTopic = new Map<string, number[]>();
      for (const [key, offset] of stored) {
        const { topic, partition } = parseTpKey(key);
        if (offset.committed !== null && allowed(topic)) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
      }
      topics = [...byTopic.entries()].map(([name, partitions]) => ({ name, partitionIndexes: partitions.sort((a, b) => a - b) }));
    }
    return { throttleTimeMs: 0, errorCode: KafkaErrors.NONE, topics: topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((p) => entry(t.name, p)) })) };
  }

  // ---- DescribeGroups, ListGroups ---------------------------------------------------------------

  async describe(groupId: string): Promise<DescribedGroup> {
    const described = (fields: Partial<DescribedGroup>): DescribedGroup => ({
      errorCode: KafkaErrors.NONE,
      groupId,
      groupState: 'Dead',
      protocolType: '',
      protocolData: '',
      members: [],
      authorizedOperations: -2147483648,
      ...fields,
    });
    try {
      checkGroupId(groupId);
    } catch {
      return described({ errorCode: KafkaErrors.INVALID_GROUP_ID });
    }
    const group = await this.group(groupId);
    if (group.phase !== 'Empty') {
      return described({
        groupState: group.phase,
        protocolType: group.protocolType ?? '',
        protocolData: group.phase === 'PreparingRebalance' ? '' : (group.protocol ?? ''),
        members: [...group.members.values()].map((m) => ({
          memberId: m.id,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          memberMetadata: group.phase === 'PreparingRebalance' ? Buffer.alloc(0) : m.metadata,
          memberAssignment: group.phase === 'Stable' ? m.assignment : Buffer.alloc(0),
        })),
      });
    }
    // No Kafka members here: the group as the store has it (an HTTP group, shown as consumers would be).
    const stored = await this.options.groups.describe(groupId).catch((error: unknown) => {
      if (error instanceof SpoolError && error.code === 'GROUP_NOT_FOUND') return undefined;
      throw error;
    });
    if (stored === undefined) return described({});
    if (stored.kind === 'kafka' || stored.members.length === 0) return described({ groupState: 'Empty', protocolType: group.protocolType ?? 'consumer' });
    return described({
      groupState: stored.state === 'stable' ? 'Stable' : 'PreparingRebalance',
      protocolType: 'consumer',
      protocolData: stored.assignor ?? '',
      members: stored.members.map((m) => ({
        memberId: m.memberId,
        groupInstanceId: null,
        clientId: 'spool-http',
        clientHost: '',
        memberMetadata: encodeSubscription({ topics: m.topics }),
        memberAssignment: encodeAssignment({ partitions: byTopic(m.assignments) }),
      })),
    });
  }

  /** Every group in the store, and Kafka groups still forming here; with their protocol type. */
  async list(): Promise<{ groupId: string; protocolType: string }[]> {
    const names = new Set((await this.options.groups.list()).map((g) => g.group));
    for (const [id, group] of this.groups) if (group.phase !== 'Empty') names.add(id);
    return [...names].sort().map((groupId) => ({ groupId, protocolType: this.groups.get(groupId)?.protocolType ?? 'consumer' }));
  }

  // ---- the groups this agent coordinates ---------------------------------------------------------

  /** Answers pending requests with NOT_COORDINATOR and forgets every group (on shutdown). */
  close(): void {
    this.closed = true;
    for (const id of [...this.groups.keys()]) this.drop(id, KafkaErrors.NOT_COORDINATOR);
  }

  private async requireCoordinator(groupId: string): Promise<void> {
    if (this.closed || !(await this.options.cluster.coordinates(groupId))) {
      this.drop(groupId, KafkaErrors.NOT_COORDINATOR);
      throw notCoordinator(groupId);
    }
  }

  /** The group, read from the store the first time this agent coordinates it. */
  private async group(groupId: string): Promise<Group> {
    await this.requireCoordinator(groupId);
    const known = this.groups.get(groupId);
    if (known) return known;
    let loading = this.loading.get(groupId);
    if (!loading) {
      loading = this.load(groupId).finally(() => this.loading.delete(groupId));
      this.loading.set(groupId, loading);
    }
    return loading;
  }

  private async load(groupId: string): Promise<Group> {
    const loaded = await loadGroup(this.options.metadata, groupId, this.options.groups.topicIdentities);
    const { state } = loaded;
    const classic = state.classic;
    const group: Group = {
      id: groupId,
      phase: 'Empty',
      generation: state.generation,
      protocolType: classic?.protocolType ?? null,
      protocol: null,
      leader: null,
      members: new Map(),
      pending: new Map(),
      stored: state,
      storedExists: loaded.exists,
      committed: new Map(),
      vouchedUntilMs: loaded.vouch?.aliveUntilMs ?? 0,
      vouching: false,
      queue: Promise.resolve(),
      dropped: false,
    };
    if (classic && classic.phase === 'Stable' && state.memberCount > 0) {
      // Taking over: the last written generation carries on, each member with a fresh session.
      const now = this.scheduler.now();
      group.phase = 'Stable';
      group.protocol = classic.protocol;
      group.leader = classic.leader;
      for (const [id, stored] of Object.entries(classic.members)) {
        const member: Member = {
          id,
          groupInstanceId: stored.groupInstanceId,
          clientId: stored.clientId,
          clientHost: stored.clientHost,
          sessionTimeoutMs: stored.sessionTimeoutMs,
          rebalanceTimeoutMs: stored.rebalanceTimeoutMs,
          protocols: classic.protocol === null ? [] : [{ name: classic.protocol, metadata: stored.metadata }],
          metadata: stored.metadata,
          assignment: stored.assignment,
          joinedMs: stored.joinedMs,
          deadlineMs: now + stored.sessionTimeoutMs,
        };
        group.members.set(id, member);
        this.watchSession(group, member);
      }
      void this.vouch(group);
      this.options.logger?.log('info', 'kafka group taken over', { group: groupId, generation: group.generation, members: group.members.size });
    }
    this.groups.set(groupId, group);
    return group;
  }

  /** This agent no longer coordinates the group: waiting members are told `errorCode`, and it is forgotten. */
  private drop(groupId: string, errorCode: number): void {
    const group = this.groups.get(groupId);
    if (!group) return;
    this.groups.delete(groupId);
    group.dropped = true;
    group.cancelRebalanceTimer?.();
    for (const cancel of group.pending.values()) cancel();
    for (const member of group.members.values()) {
      member.cancelSessionTimer?.();
      member.joining?.(errorJoin(member.id, errorCode));
      member.syncing?.({ throttleTimeMs: 0, errorCode, assignment: Buffer.alloc(0) });
      member.joining = member.syncing = undefined;
    }
  }

  private failSyncs(group: Group, errorCode: number): void {
    for (const member of group.members.values()) {
      member.syncing?.({ throttleTimeMs: 0, errorCode, assignment: Buffer.alloc(0) });
      member.syncing = undefined;
    }
  }

  /** The member, if it is in the group at this generation. */
  private memberOf(group: Group, memberId: string, generationId: number): Member {
    const member = group.members.get(memberId);
    if (member === undefined) throw new GroupRefusal(KafkaErrors.UNKNOWN_MEMBER_ID, `member ${memberId} is not in group ${group.id}`);
    if (generationId !== group.generation) {
      throw new GroupRefusal(KafkaErrors.ILLEGAL_GENERATION, `generation ${generationId} is not group ${group.id}'s current ${group.generation}`);
    }
    return member;
  }

  /** Writes run one at a time per group, in the order they were asked for. */
  private enqueue(group: Group, task: () => Promise<void>): void {
    group.queue = group.queue.then(task).catch((error: unknown) => {
      this.options.logger?.log('error', 'kafka group write failed', { group: group.id, message: errorMessage(error) });
      this.drop(group.id, KafkaErrors.COORDINATOR_NOT_AVAILABLE);
    });
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function notCoordinator(groupId: string): GroupRefusal {
  return new GroupRefusal(KafkaErrors.NOT_COORDINATOR, `this agent does not coordinate group ${groupId}`);
}

function checkGroupId(groupId: string): void {
  try {
    checkGroupName(groupId);
  } catch (error) {
    throw new GroupRefusal(KafkaErrors.INVALID_GROUP_ID, error instanceof Error ? error.message : String(error));
  }
}

export function errorJoin(memberId: string, errorCode: number): JoinGroupResponse {
  return { throttleTimeMs: 0, errorCode, generationId: -1, protocolName: '', leader: '', memberId, members: [] };
}

function sameProtocols(a: readonly GroupProtocol[], b: readonly GroupProtocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]!.name && p.metadata.equals(b[i]!.metadata));
}

function subscribedTopics(metadata: Buffer): string[] {
  try {
    return [...decodeSubscription(metadata).topics].sort();
  } catch {
    return []; // not the consumer protocol as Spool knows it: shown without topics
  }
}

function assignedKeys(assignment: Buffer): string[] {
  try {
    return decodeAssignment(assignment).partitions.flatMap(({ topic, partitions }) => partitions.map((p) => tpKey(topic, p)));
  } catch {
    return [];
  }
}

function byTopic(partitions: readonly { topic: string; partition: number }[]): { topic: string; partitions: number[] }[] {
  const topics = new Map<string, number[]>();
  for (const { topic, partition } of partitions) topics.set(topic, [...(topics.get(topic) ?? []), partition]);
  return [...topics.entries()].map(([topic, list]) => ({ topic, partitions: list }));
}
