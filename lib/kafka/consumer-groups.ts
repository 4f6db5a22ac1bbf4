/**
 * KIP-848 consumer groups (ConsumerGroupHeartbeat, ConsumerGroupDescribe) on the agent that
 * coordinates the group — the holder of its lease in the ClusterView, as for classic groups. The
 * protocol itself is pure (groups/consumer-state.ts); this module holds the groups in memory, runs
 * their members' session and revocation timers, and writes them.
 *
 * What is written: the group's state item, with `consumer` set (the whole group, and per member its
 * topics and partitions for HTTP describe), whenever a heartbeat or a timer changed the group;
 * compare-and-set on `version`, so a coordinator that lost the group cannot overwrite who took it (a
 * conflict lets the group go: NOT_COORDINATOR, and the member finds the coordinator again). About
 * every half session while it has members, the coordinator's vouch (lib/groups/classic.ts) for 1.5
 * session timeouts, so it always covers the last heartbeat's session: while it runs, HTTP and classic
 * readers count the members as live. It is written in one transaction with the state write that falls
 * due (a reader never sees members without it, nor a refused write vouched for), or alone, conditional
 * on the state item's version, so a coordinator that lost the group learns it then.
 * Members' commits are fenced the same way: on the version the coordinator holds, in the group's queue.
 *
 * Invariants:
 * - Requests and timers of one group run one at a time (`queue`), each on the group as last written.
 * - A group is in memory only while this agent coordinates it; a refused write or a lost lease drops it.
 * - An agent taking a group over reads it as written: every member gets a fresh session, and one that
 *   was revoking, a fresh rebalance timeout.
 * - A member's offsets are written only while the group is, in the store, the version whose epochs
 *   allowed the commit (`commitOffsets`): a coordinator that lost the group commits nothing.
 * - A group held by live HTTP members is refused with GROUP_ID_NOT_FOUND (lib/groups/ownership.ts;
 *   Kafka's answer for a group that is not a consumer group and cannot be converted).
 * - Classic members (JoinGroup/SyncGroup/Heartbeat/LeaveGroup) of a group that has members here are
 *   members of it like any other, as in Kafka 4.x's mixed groups (groups/consumer-classic.ts); the
 *   classic coordinator hands their requests over (`servesClassic`). Each has its own session timeout,
 *   and its rebalance timeout to SyncGroup after a join and to rejoin after REBALANCE_IN_PROGRESS.
 * - A live group changes protocol only as Kafka 4.x migrates it (`migrationPolicy`), in the group's
 *   queue, through the classic coordinator (ClassicGroupConversions). Upgrade: a join to a classic group
 *   with members takes it over as the classic coordinator held it (after its writes in flight) and
 *   writes the consumer group before anything else touches it; the classic coordinator loads nothing
 *   for the group meanwhile, and classic requests wait for the queue (`servesClassic`). Downgrade: a
 *   change that leaves only classic members writes the classic group (compare-and-set on the version
 *   held, as every write here), lets the group go, and the classic coordinator takes it up. Either
 *   write is conditional (the upgrade's on the state item as the classic coordinator last had it), so a
 *   coordinator that lost the group converts nothing; each member's partitions carry over, so no
 *   partition is held by two members across a conversion; a classic member's request that waited out
 *   a conversion is routed again (Rerouted), to the group as it is now.
 */
import { randomUUID } from 'node:crypto';
import { tpKey } from '../groups/assignors.js';
import { saveClassicState, vouchForMembers, vouchOp, type ClassicCommit } from '../groups/classic.js';
import { SpoolError } from '../errors.js';
import { groupStateFence, loadGroup, writeOffsets, type OffsetUpdate, type TopicIdentities } from '../groups/items.js';
import { groupKind, liveCount } from '../groups/ownership.js';
import type { ClassicState, ConsumerProtocolMember, GroupState } from '../groups/state.js';
import type { Log } from '../log/index.js';
import type { Logger } from '../logger.js';
import { ConditionFailedError, type MetadataStore, type WriteOp } from '../storage/ports.js';
import type { ClusterView } from './cluster.js';
import { KafkaErrors } from './errors.js';
import type { ConsumerCommits } from './groups/offsets.js';
import type { TopicPartitions } from './groups/consumer-assignors.js';
import {
  checkUpgrade,
  classicHeartbeat,
  classicJoin,
  classicLeave,
  classicSync,
  CONSUMER_PROTOCOL_TYPE,
  downgradeDue,
  fromClassicGroup,
  toClassicState,
  type ClassicGroupSnapshot,
  type MigrationPolicy,
} from './groups/consumer-classic.js';
import {
  ConsumerGroupError,
  consumerOffsetFence,
  emptyConsumerGroup,
  groupPhase,
  heartbeat,
  removeMember,
  samePartitions,
  type ConsumerGroup,
  type ConsumerMember,
  type HeartbeatInput,
} from './groups/consumer-state.js';
import { GroupRefusal, realScheduler, Rerouted, type ClientInfo, type Scheduler } from './groups/group.js';
import { codecs } from './served.js';
import type { DescribedGroup } from './protocol/messages/consumer-group-describe.js';
import type { ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse } from './protocol/messages/consumer-group-heartbeat.js';
import type { JoinGroupRequest, JoinGroupResponse } from './protocol/messages/join-group.js';
import type { LeaveGroupResponse, MemberIdentity } from './protocol/messages/leave-group.js';
import type { SyncGroupRequest, SyncGroupResponse } from './protocol/messages/sync-group.js';
import type { Encodable } from './protocol/runtime.js';

type DescribedConsumerGroup = Encodable<DescribedGroup>;

export interface ConsumerGroupTimeouts {
  /** group.consumer.session.timeout.ms @default 45 000 */
  readonly sessionTimeoutMs?: number;
  /** group.consumer.heartbeat.interval.ms @default 5 000 */
  readonly heartbeatIntervalMs?: number;
  /** group.consumer.max.size @default 2 147 483 647 */
  readonly maxSize?: number;
  /** How long the topic list the assignors see is reused across heartbeats. @default 1 000 */
  readonly topicsCacheMs?: number;
}

/** The state item as the classic coordinator last read or wrote it, and its vouch: what an upgrade's write is conditional on. */
export interface ClassicGroupBase {
  readonly state: GroupState;
  readonly exists: boolean;
  readonly vouchedUntilMs: number;
}

/**
 * The classic coordinator's side of online upgrades and downgrades (lib/kafka/classic-groups.ts), as Kafka
 * 4.x converts a group between the two protocols while its members stay.
 */
export interface ClassicGroupConversions {
  /**
   * The classic group, if it has members, goes to `convert` (which may refuse by throwing: nothing changes);
   * then the classic coordinator lets it go and `write` runs (conditional on `base`, the state item as that
   * coordinator last read or wrote it), before it would load the group again. Answers what `write` did;
   * undefined, with nothing called, when the classic group has no members.
   */
  handOver<T, R>(
    groupId: string,
    convert: (group: ClassicGroupSnapshot) => T,
    write: (converted: T, base: ClassicGroupBase) => Promise<R>,
  ): Promise<R | undefined>;
  /** The group just written back as a classic group: the classic coordinator takes it up and rebalances it for `reason` (null: not). */
  takeBack(groupId: string, reason: string | null): Promise<void>;
}

export interface ConsumerGroupsOptions extends ConsumerGroupTimeouts {
  readonly log: Log;
  readonly metadata: MetadataStore;
  readonly cluster: ClusterView;
  readonly topicIdentities: TopicIdentities;
  readonly logger?: Logger;
  /** @default real time */
  readonly scheduler?: Scheduler;
  /** group.consumer.migration.policy: online upgrades of classic groups and downgrades back. @default bidirectional */
  readonly migrationPolicy?: MigrationPolicy;
}

interface Held {
  group: ConsumerGroup;
  stored: GroupState;
  storedExists: boolean;
  vouchedUntilMs: number;
  dead: boolean;
  readonly sessions: Map<string, () => void>;
  readonly revocations: Map<string, () => void>;
  /** Classic members: a SyncGroup is due within the rebalance timeout after a JoinGroup (Kafka's sync timeout). */
  readonly syncs: Map<string, () => void>;
  /** Classic members told REBALANCE_IN_PROGRESS: a JoinGroup is due within the rebalance timeout (Kafka's join timeout). */
  readonly rejoins: Map<string, () => void>;
  /** Offsets this coordinator wrote, by `topic/partition`: an unchanged commit is not written again. */
  readonly committed: Map<string, { offset: number; metadata: string | null; topicId: string }>;
}

interface Topics {
  readonly counts: Record<string, number>;
  readonly idByName: ReadonlyMap<string, string>;
  readonly nameById: ReadonlyMap<string, string>;
}

export class ConsumerGroups implements ConsumerCommits {
  private readonly held = new Map<string, Held>();
  /** Per group, the end of its queue of requests and timers. */
  private readonly queues = new Map<string, Promise<void>>();
  private readonly scheduler: Scheduler;
  private readonly sessionTimeoutMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly maxSize: number;
  private readonly topicsCacheMs: number;
  private readonly migrationPolicy: MigrationPolicy;
  private conversions: ClassicGroupConversions | undefined;
  private topicsCache: { readonly atMs: number; readonly topics: Promise<Topics> } | undefined;
  private closed = false;

  constructor(private readonly options: ConsumerGroupsOptions) {
    this.scheduler = options.scheduler ?? realScheduler;
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? 45_000;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5_000;
    this.maxSize = options.maxSize ?? 2_147_483_647;
    this.topicsCacheMs = options.topicsCacheMs ?? 1000;
    this.migrationPolicy = options.migrationPolicy ?? 'bidirectional';
  }

  /** Online upgrades and downgrades go through the classic coordinator (constructed after this one, which it serves). */
  convertsWith(conversions: ClassicGroupConversions): void {
    this.conversions = conversions;
  }

  async heartbeat(
    request: ConsumerGroupHeartbeatRequest,
    client: ClientInfo,
    version: number,
  ): Promise<Encodable<ConsumerGroupHeartbeatResponse>> {
    const refuse = (errorCode: number, errorMessage: string): Encodable<ConsumerGroupHeartbeatResponse> =>
      codecs.consumerGroupHeartbeat.errorResponse(request, version, errorCode, errorMessage);
    if (request.groupId === '') return refuse(KafkaErrors.INVALID_REQUEST, "GroupId can't be empty.");
    if (this.closed || !(await this.options.cluster.coordinates(request.groupId))) {
      this.drop(request.groupId);
      return refuse(KafkaErrors.NOT_COORDINATOR, `this agent does not coordinate group ${request.groupId}`);
    }
    // A heartbeat that (re)states a subscription sees the topics as they are now; others, as of up to topicsCacheMs ago.
    const readingTopics = this.topics(request.subscribedTopicNames !== null || request.subscribedTopicRegex !== null);
    return this.serially(
      request.groupId,
      async (held) => {
        const topics = await readingTopics;
        const input: HeartbeatInput = {
          apiVersion: version,
          memberId: request.memberId,
          memberEpoch: request.memberEpoch,
          instanceId: request.instanceId,
          rackId: request.rackId,
          rebalanceTimeoutMs: request.rebalanceTimeoutMs,
          subscribedTopicNames: request.subscribedTopicNames,
          subscribedTopicRegex: request.subscribedTopicRegex,
          serverAssignor: request.serverAssignor,
          ownedTopicPartitions: request.topicPartitions === null ? null : byName(request.topicPartitions, topics),
          clientId: client.clientId,
          clientHost: client.clientHost,
        };
        // Kafka's answer for a group that does not exist (as a consumer group) to anything but a join.
        if (request.memberEpoch !== 0 && held.stored.consumer === undefined && Object.keys(held.group.members).length === 0) {
          this.drop(request.groupId);
          return refuse(KafkaErrors.GROUP_ID_NOT_FOUND, `Group ${request.groupId} not found.`);
        }
        let result: ReturnType<typeof heartbeat>;
        try {
          result = heartbeat(held.group, input, { topics: topics.counts, newMemberId: randomUUID, maxSize: this.maxSize });
        } catch (error) {
          if (!(error instanceof ConsumerGroupError)) throw error;
          this.dropIfEmpty(held);
          return refuse(error.errorCode, error.message);
        }
        const { reply } = result;
        const previous = held.group.members[reply.memberId];
        if (!(await this.saveOrDowngrade(held, result.group))) {
          return refuse(KafkaErrors.NOT_COORDINATOR, `group ${request.groupId} moved to another coordinator`);
        }
        for (const id of result.removed) this.stopTimers(held, id);
        const member = held.group.members[reply.memberId];
        if (member === undefined) this.stopTimers(held, reply.memberId);
        else {
          this.startSession(request.groupId, held, reply.memberId);
          this.watchRevocation(request.groupId, held, previous, member);
        }
        return {
          throttleTimeMs: 0,
          errorCode: KafkaErrors.NONE,
          errorMessage: null,
          memberId: reply.memberId,
          memberEpoch: reply.memberEpoch,
          heartbeatIntervalMs: this.heartbeatIntervalMs,
          assignment: reply.assignment === null ? null : { topicPartitions: byId(reply.assignment, topics) },
        };
      },
      request.memberEpoch === 0 ? readingTopics : undefined,
    ).catch((error: unknown) => {
      if (error instanceof NotCoordinated) return refuse(error.errorCode, error.message);
      throw error;
    });
  }

  /**
   * Whether classic-protocol requests (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) for the group are served
   * here: it is a consumer-protocol group with members, held here or, as stored, with live members (then it
   * is loaded, as a heartbeat would). Kafka serves classic members inside a non-empty consumer group; an empty
   * one becomes a classic group (the classic coordinator takes it).
   */
  async servesClassic(groupId: string): Promise<boolean> {
    if (this.closed || !(await this.options.cluster.coordinates(groupId))) return false;
    await this.queues.get(groupId); // an upgrade or a downgrade under way settles first
    const held = this.held.get(groupId);
    if (held !== undefined && !held.dead) return Object.keys(held.group.members).length > 0;
    const loaded = await loadGroup(this.options.metadata, groupId, this.options.topicIdentities);
    if (loaded.state.consumer === undefined || liveCount(loaded, this.scheduler.now()) === 0) return false;
    const now = await this.heldOrStored(groupId);
    return now !== undefined && Object.keys(now.group.members).length > 0;
  }

  /** A classic member's JoinGroup, served inside the consumer group (groups/consumer-classic.ts): answered at once, as a follower. */
  async classicJoin(request: JoinGroupRequest, client: ClientInfo, version: number): Promise<JoinGroupResponse> {
    return this.classically(request.groupId, async (held) => {
      const topics = await this.topics(true);
      const result = classicJoin(
        held.group,
        {
          apiVersion: version,
          memberId: request.memberId,
          instanceId: request.groupInstanceId,
          sessionTimeoutMs: request.sessionTimeoutMs,
          rebalanceTimeoutMs: request.rebalanceTimeoutMs,
          protocolType: request.protocolType,
          protocols: request.protocols,
          clientId: client.clientId,
          clientHost: client.clientHost,
        },
        { topics: topics.counts, newMemberId: randomUUID, maxSize: this.maxSize },
      );
      if (result.kind === 'member-id-required') {
        throw new GroupRefusal(KafkaErrors.MEMBER_ID_REQUIRED, 'a new member must join with the member id given', result.memberId);
      }
      const previous = held.group.members[result.memberId];
      // Kafka: the last consumer-protocol member replaced by a classic static member's next incarnation downgrades the group, with no rebalance.
      const replacedLast = result.removed.some((id) => held.group.members[id]?.classic === undefined);
      const classic = replacedLast ? this.downgradeOf(held, result.group) : undefined;
      if (classic !== undefined) {
        const written = await this.downgrade(held, result.group, classic, null);
        if (written === undefined) {
          throw new GroupRefusal(KafkaErrors.NOT_COORDINATOR, `group ${request.groupId} moved to another coordinator`);
        }
        // The classic group's generation and protocol: its SyncGroup goes there.
        return classicJoinAnswer(result.memberId, written.generation, classic.protocol ?? result.protocolName);
      }
      await this.saveOrRefuse(held, result.group);
      for (const id of result.removed) this.stopTimers(held, id);
      const member = held.group.members[result.memberId]!;
      this.startSession(request.groupId, held, member.memberId);
      this.stopTimer(held.rejoins, member.memberId);
      this.startDeadline(request.groupId, held, held.syncs, member);
      this.watchRevocation(request.groupId, held, previous, member);
      return classicJoinAnswer(result.memberId, result.generationId, result.protocolName);
    });
  }

  /** A classic member's SyncGroup: its assigned partitions as a ConsumerProtocolAssignment. */
  async classicSync(request: SyncGroupRequest): Promise<SyncGroupResponse> {
    return this.classically(request.groupId, async (held) => {
      const answer = classicSync(held.group, {
        memberId: request.memberId,
        instanceId: request.groupInstanceId,
        generationId: request.generationId,
        protocolType: request.protocolType,
        protocolName: request.protocolName,
      });
      await this.saveOrRefuse(held, held.group);
      this.stopTimer(held.syncs, request.memberId);
      this.startSession(request.groupId, held, request.memberId);
      return { throttleTimeMs: 0, errorCode: KafkaErrors.NONE, ...answer };
    });
  }

  /** A classic member's Heartbeat: NONE, or REBALANCE_IN_PROGRESS (it then has its rebalance timeout to JoinGroup again). */
  async classicHeartbeat(groupId: string, memberId: string, groupInstanceId: string | null, generationId: number): Promise<number> {
    return this.classically(groupId, async (held) => {
      const topics = await this.topics();
      const { group, errorCode } = classicHeartbeat(held.group, { memberId, instanceId: groupInstanceId, generationId }, topics.counts);
      await this.saveOrRefuse(held, group);
      this.startSession(groupId, held, memberId);
      const member = held.group.members[memberId]!;
      if (errorCode === KafkaErrors.REBALANCE_IN_PROGRESS && !held.rejoins.has(memberId))
        this.startDeadline(groupId, held, held.rejoins, member);
      return errorCode;
    }).catch((error: unknown) => {
      if (error instanceof GroupRefusal) return error.errorCode;
      throw error;
    });
  }

  /** A classic LeaveGroup: each named classic member leaves for good; each is answered alone. */
  async classicLeave(groupId: string, members: readonly MemberIdentity[]): Promise<LeaveGroupResponse> {
    return this.classically(groupId, async (held) => {
      const result = classicLeave(
        held.group,
        members.map((m) => ({ memberId: m.memberId, instanceId: m.groupInstanceId })),
      );
      if (!(await this.saveOrDowngrade(held, result.group))) {
        throw new GroupRefusal(KafkaErrors.NOT_COORDINATOR, `group ${groupId} moved to another coordinator`);
      }
      for (const id of result.removed) this.stopTimers(held, id);
      return {
        throttleTimeMs: 0,
        errorCode: KafkaErrors.NONE,
        members: result.outcomes.map((o) => ({ memberId: o.memberId, groupInstanceId: o.instanceId, errorCode: o.errorCode })),
      };
    });
  }

  /**
   * Runs a classic member's request in the group's queue; a refusal (the group unchanged) or a lost group is
   * thrown as a GroupRefusal, which the classic handlers answer.
   */
  private async classically<T>(groupId: string, task: (held: Held) => Promise<T>): Promise<T> {
    if (this.closed || !(await this.options.cluster.coordinates(groupId))) {
      this.drop(groupId);
      throw new GroupRefusal(KafkaErrors.NOT_COORDINATOR, `this agent does not coordinate group ${groupId}`);
    }
    return this.serially(groupId, async (held) => {
      try {
        return await task(held);
      } catch (error) {
        if (!(error instanceof ConsumerGroupError)) throw error;
        this.dropIfEmpty(held);
        throw new GroupRefusal(error.errorCode, error.message);
      }
    }).catch((error: unknown) => {
      if (error instanceof ClassicGroupLive) throw new Rerouted(groupId); // downgraded while the request waited
      if (error instanceof NotCoordinated) throw new GroupRefusal(error.errorCode, error.message);
      throw error;
    });
  }

  /** Writes the group (or renews the vouch); a group let go is NOT_COORDINATOR: the member finds its coordinator again. */
  private async saveOrRefuse(held: Held, next: ConsumerGroup): Promise<void> {
    if (!(await this.save(held, next))) {
      throw new GroupRefusal(KafkaErrors.NOT_COORDINATOR, `group ${next.groupId} moved to another coordinator`);
    }
  }

  /** One group as ConsumerGroupDescribe shows it: GROUP_ID_NOT_FOUND unless it is a consumer-protocol group. */
  async describe(groupId: string): Promise<DescribedConsumerGroup> {
    const refuse = (errorCode: number, errorMessage: string) => refusedDescribe(groupId, errorCode, errorMessage);
    if (this.closed || !(await this.options.cluster.coordinates(groupId))) {
      this.drop(groupId);
      return refuse(KafkaErrors.NOT_COORDINATOR, `this agent does not coordinate group ${groupId}`);
    }
    let group = this.held.get(groupId)?.group;
    if (group === undefined) {
      const loaded = await loadGroup(this.options.metadata, groupId, this.options.topicIdentities);
      // Kafka's two answers: no group at all, or a group of another kind.
      if (loaded.state.consumer === undefined)
        return refuse(
          KafkaErrors.GROUP_ID_NOT_FOUND,
          loaded.exists ? `Group ${groupId} is not a consumer group.` : `Group ${groupId} not found.`,
        );
      group = loaded.state.consumer.group as unknown as ConsumerGroup;
    }
    const topics = await this.topics();
    const withNames = (tp: TopicPartitions) => byId(tp, topics).map((t) => ({ ...t, topicName: topics.nameById.get(t.topicId) ?? '' }));
    return {
      errorCode: KafkaErrors.NONE,
      errorMessage: null,
      groupId,
      groupState: groupPhase(group),
      groupEpoch: group.groupEpoch,
      assignmentEpoch: group.assignmentEpoch,
      assignorName: group.assignor,
      members: Object.values(group.members).map((m) => ({
        memberId: m.memberId,
        instanceId: m.instanceId,
        rackId: m.rackId,
        memberEpoch: m.memberEpoch,
        clientId: m.clientId,
        clientHost: m.clientHost,
        subscribedTopicNames: [...m.subscribedTopicNames],
        subscribedTopicRegex: m.subscribedTopicRegex,
        assignment: { topicPartitions: withNames(m.assigned) },
        targetAssignment: { topicPartitions: withNames(group.target[m.memberId] ?? {}) },
        memberType: m.classic === undefined ? 1 : 0,
      })),
    };
  }

  /**
   * For OffsetCommit/OffsetFetch v9+ of a consumer-protocol group: NONE when the member may commit (fetch)
   * with that epoch, else UNKNOWN_MEMBER_ID or STALE_MEMBER_EPOCH; undefined when the group is not a
   * consumer-protocol group (the classic path decides). A group stored as one but not held here yet (its
   * members have not heartbeated since it moved to this agent) is loaded, as a heartbeat would.
   */
  async offsetFence(
    groupId: string,
    request: { readonly memberId: string; readonly memberEpoch: number; readonly kind: 'commit' | 'fetch' },
  ): Promise<number | undefined> {
    const held = await this.heldOrStored(groupId);
    return held === undefined ? undefined : consumerOffsetFence(held.group, request);
  }

  /**
   * Writes a member's commits if its epoch still allows them, in the group's queue: fenced in the store on
   * the group's version as held, so nothing commits once another coordinator (or HTTP members) changed
   * the group. NONE, or the error every partition is answered with (NOT_COORDINATOR when the group was
   * lost: it is let go, and the member finds its coordinator again).
   */
  async commitOffsets(groupId: string, memberId: string, memberEpoch: number, commits: readonly ClassicCommit[]): Promise<number> {
    if ((await this.heldOrStored(groupId)) === undefined) return KafkaErrors.NOT_COORDINATOR;
    return this.serially(groupId, async (held) => {
      const refused = consumerOffsetFence(held.group, { memberId, memberEpoch, kind: 'commit' });
      this.dropIfEmpty(held);
      if (refused !== KafkaErrors.NONE) return refused;
      const changed = commits.filter((c) => {
        const known = held.committed.get(c.key);
        return known === undefined || known.offset !== c.offset || known.metadata !== c.metadata || known.topicId !== c.topicId;
      });
      if (changed.length === 0) return KafkaErrors.NONE;
      const updates = new Map<string, OffsetUpdate>(
        changed.map((c) => [
          c.key,
          { topicId: c.topicId, set: { committed: c.offset, committedMs: this.scheduler.now(), metadata: c.metadata } },
        ]),
      );
      const { incarnation, version } = held.stored;
      const lost = () => new SpoolError('ILLEGAL_GENERATION', `group ${groupId} is no longer at version ${version} as stored`);
      try {
        await writeOffsets(this.options.metadata, groupId, groupStateFence(groupId, { incarnation, version }), updates, lost);
      } catch (error) {
        if (!(error instanceof SpoolError && error.code === 'ILLEGAL_GENERATION')) throw error;
        this.options.logger?.log('info', 'kafka consumer group changed under its coordinator; letting it go', { group: groupId });
        this.drop(groupId);
        return KafkaErrors.NOT_COORDINATOR;
      }
      for (const c of changed) held.committed.set(c.key, { offset: c.offset, metadata: c.metadata, topicId: c.topicId });
      return KafkaErrors.NONE;
    }).catch((error: unknown) => {
      if (error instanceof NotCoordinated) return KafkaErrors.NOT_COORDINATOR;
      throw error;
    });
  }

  /** The group as held here, loading it if the store shows a consumer-protocol group; undefined if it is not one. */
  private async heldOrStored(groupId: string): Promise<Held | undefined> {
    const held = this.held.get(groupId);
    if (held !== undefined && !held.dead) return held;
    const { state } = await loadGroup(this.options.metadata, groupId, this.options.topicIdentities);
    if (state.consumer === undefined) return undefined;
    return this.serially(groupId, async (loaded) => {
      this.dropIfEmpty(loaded);
      return loaded;
    }).catch((error: unknown) => {
      if (error instanceof NotCoordinated) return undefined;
      throw error;
    });
  }

  /** A group with no members is not kept in memory (the next request reads it again). */
  private dropIfEmpty(held: Held): void {
    if (Object.keys(held.group.members).length === 0) this.drop(held.group.groupId);
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.held.keys()]) this.drop(id);
  }

  /**
   * Runs `task` after the group's earlier requests and timers, on the group as held (loaded first if need be;
   * for a join, a classic group with members is upgraded with the topics `upgradeWith`).
   */
  private serially<T>(groupId: string, task: (held: Held) => Promise<T>, upgradeWith?: Promise<Topics>): Promise<T> {
    const run = async (): Promise<T> => {
      let held = this.held.get(groupId);
      if (held === undefined || held.dead)
        held = (upgradeWith === undefined ? undefined : await this.upgrade(groupId, upgradeWith)) ?? (await this.load(groupId));
      return task(held);
    };
    const next = (this.queues.get(groupId) ?? Promise.resolve()).then(run, run);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(groupId, settled);
    void settled.then(() => {
      if (this.queues.get(groupId) === settled) this.queues.delete(groupId);
    });
    return next;
  }

  private async load(groupId: string): Promise<Held> {
    const loaded = await loadGroup(this.options.metadata, groupId, this.options.topicIdentities);
    const now = this.scheduler.now();
    const { state } = loaded;
    if (groupKind(state) === 'kafka' && state.consumer === undefined && liveCount(loaded, now) > 0) {
      throw new ClassicGroupLive(KafkaErrors.GROUP_ID_NOT_FOUND, `Group ${groupId} is not a consumer group.`);
    }
    if (groupKind(state) === 'http' && liveCount(loaded, now) > 0) {
      throw new NotCoordinated(KafkaErrors.GROUP_ID_NOT_FOUND, `Group ${groupId} has live HTTP members, not a consumer group.`);
    }
    const group: ConsumerGroup =
      state.consumer !== undefined
        ? (state.consumer.group as unknown as ConsumerGroup)
        : { ...emptyConsumerGroup(groupId), groupEpoch: state.generation, assignmentEpoch: state.generation };
    return this.keep(heldOf(group, state, loaded.exists, loaded.vouch?.aliveUntilMs ?? 0));
  }

  /**
   * Kafka's online upgrade: a member joining a classic group with members converts it (groups/consumer-classic.ts
   * `fromClassicGroup`: its members stay, with their assignments) if the policy allows, and the consumer group is
   * written before anything else happens to it; the join then goes on in it. Undefined when there is no classic
   * group with members to convert; a refusal is GROUP_ID_NOT_FOUND, a lost group NOT_COORDINATOR.
   */
  private async upgrade(groupId: string, readingTopics: Promise<Topics>): Promise<Held | undefined> {
    const conversions = this.conversions;
    if (conversions === undefined) return undefined;
    const topics = await readingTopics;
    return conversions.handOver(
      groupId,
      (snapshot) => {
        try {
          checkUpgrade(snapshot, this.migrationPolicy, this.maxSize);
          return fromClassicGroup(snapshot, topics.counts);
        } catch (error) {
          if (error instanceof ConsumerGroupError) throw new NotCoordinated(error.errorCode, error.message);
          throw error;
        }
      },
      async (group, base) => {
        // Written on the state item as the classic coordinator had it (not as read now); held here only once written.
        const held = heldOf(emptyConsumerGroup(groupId), base.state, base.exists, base.vouchedUntilMs);
        if (!(await this.write(held, group))) {
          throw new NotCoordinated(KafkaErrors.NOT_COORDINATOR, `group ${groupId} moved to another coordinator`);
        }
        this.options.logger?.log('info', 'kafka classic group upgraded to a consumer group', {
          group: groupId,
          generation: group.groupEpoch,
          members: Object.keys(group.members).length,
        });
        return this.keep(held);
      },
    );
  }

  /** Holds the group here, its members' sessions and revocations running from now. */
  private keep(held: Held): Held {
    const { group } = held;
    const groupId = group.groupId;
    this.held.set(groupId, held);
    for (const member of Object.values(group.members)) {
      this.startSession(groupId, held, member.memberId);
      if (member.state === 'UNREVOKED_PARTITIONS') this.startRevocation(groupId, held, member);
    }
    return held;
  }

  /** Writes the group if it changed (with the vouch, if due), else renews the vouch if due; false when the group was let go. */
  private async save(held: Held, next: ConsumerGroup): Promise<boolean> {
    if (JSON.stringify(next) === JSON.stringify(held.group) && held.storedExists) return this.vouch(held, next);
    return this.write(held, next);
  }

  /**
   * Saves the group, unless it just lost members and only classic members are left: then, as Kafka's online
   * downgrade, it is written back as a classic group (groups/consumer-classic.ts `toClassicState`: Stable at
   * the group epoch, each member's target as its assignment) and the classic coordinator takes it up and
   * rebalances it. False when the group was let go.
   */
  private async saveOrDowngrade(held: Held, next: ConsumerGroup): Promise<boolean> {
    const classic = this.downgradeOf(held, next);
    if (classic === undefined) return this.save(held, next);
    return (await this.downgrade(held, next, classic, `Downgrade group ${next.groupId} from consumer to classic.`)) !== undefined;
  }

  /** The classic group `next` becomes if it lost members and only classic ones are left (and the policy allows). */
  private downgradeOf(held: Held, next: ConsumerGroup): ClassicState | undefined {
    const lost = Object.keys(held.group.members).some((id) => next.members[id] === undefined);
    return lost && this.conversions !== undefined && downgradeDue(next, this.migrationPolicy)
      ? toClassicState(next, this.scheduler.now())
      : undefined;
  }

  /** Writes `classic` in place of the group and hands it to the classic coordinator, which rebalances it for `reason` (null: not). */
  private async downgrade(held: Held, next: ConsumerGroup, classic: ClassicState, reason: string | null): Promise<GroupState | undefined> {
    const groupId = next.groupId;
    if (held.dead || !(await this.options.cluster.coordinates(groupId))) {
      this.drop(groupId);
      return undefined;
    }
    const state: GroupState = {
      ...held.stored,
      // Kafka's: the group epoch before the change, so a member in step with it is told REBALANCE_IN_PROGRESS.
      generation: Math.max(held.group.groupEpoch, held.stored.generation),
      assignor: null,
      members: {},
      memberCount: Object.keys(next.members).length,
      target: {},
      owners: {},
      classic,
      consumer: undefined,
    };
    if (!(await this.writeState(held, groupId, state, this.scheduler.now()))) return undefined;
    held.group = next; // what the request that did this reads back (its member gone, say)
    this.drop(groupId);
    this.options.logger?.log('info', 'kafka consumer group downgraded to a classic group', {
      group: groupId,
      generation: state.generation,
      members: state.memberCount,
    });
    await this.conversions!.takeBack(groupId, reason).catch((error: unknown) =>
      this.options.logger?.log('warn', 'kafka classic coordinator could not take the downgraded group up', {
        group: groupId,
        message: error instanceof Error ? error.message : String(error),
      }),
    );
    return held.stored;
  }

  /** Writes the group (with the vouch, if due); false when the group was let go. */
  private async write(held: Held, next: ConsumerGroup): Promise<boolean> {
    const groupId = next.groupId;
    if (held.dead || !(await this.options.cluster.coordinates(groupId))) {
      this.drop(groupId);
      return false;
    }
    const members: Record<string, ConsumerProtocolMember> = {};
    for (const m of Object.values(next.members)) {
      members[m.memberId] = {
        topics: m.subscribedTopicRegex === null ? [...m.subscribedTopicNames].sort() : Object.keys(next.target[m.memberId] ?? {}),
        assigned: [m.assigned, m.pendingRevocation].flatMap((tp) => Object.entries(tp).flatMap(([t, ps]) => ps.map((p) => tpKey(t, p)))),
        sessionTimeoutMs: m.classic?.sessionTimeoutMs ?? this.sessionTimeoutMs,
      };
    }
    const state: GroupState = {
      ...held.stored,
      generation: Math.max(next.groupEpoch, held.stored.generation),
      assignor: null,
      members: {},
      memberCount: Object.keys(next.members).length,
      target: {},
      owners: {},
      classic: undefined,
      consumer: { assignor: next.assignor, members, group: next as unknown as Record<string, unknown> },
    };
    // A vouch due goes in the same transaction: a reader never sees the members without it, nor a refused write vouched for.
    const now = this.scheduler.now();
    const vouchUntilMs = this.vouchDue(held, next, now) ? now + (this.sessionTimeoutMs * 3) / 2 : undefined;
    if (!(await this.writeState(held, groupId, state, now, vouchUntilMs === undefined ? undefined : vouchOp(groupId, vouchUntilMs, now))))
      return false;
    held.group = next;
    if (vouchUntilMs !== undefined) held.vouchedUntilMs = vouchUntilMs;
    // An empty group is not kept: the next request reads it again, whichever protocol has taken it meanwhile.
    if (Object.keys(next.members).length === 0) this.drop(groupId);
    return true;
  }

  /**
   * Writes `state` over the state item as held (compare-and-set on its version), with `alongside` in the same
   * transaction; false, and the group let go, when someone else changed it meanwhile.
   */
  private async writeState(held: Held, groupId: string, state: GroupState, now: number, alongside?: WriteOp): Promise<boolean> {
    try {
      held.stored = await saveClassicState(
        this.options.metadata,
        groupId,
        { state: held.stored, exists: held.storedExists },
        state,
        now,
        alongside,
      );
      held.storedExists = true;
      return true;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
      this.options.logger?.log('info', 'kafka consumer group changed under its coordinator; letting it go', { group: groupId });
      this.drop(groupId);
      return false;
    }
  }

  /**
   * The vouch is renewed once less than a session of it is left, for 1.5 sessions: it always covers the
   * session of the member that heartbeated last.
   */
  private vouchDue(held: Held, group: ConsumerGroup, now: number): boolean {
    return Object.keys(group.members).length > 0 && held.vouchedUntilMs - now <= this.sessionTimeoutMs;
  }

  /** Renews the vouch if due, while the state item is still the version held; false, and the group let go, if it is not. */
  private async vouch(held: Held, group: ConsumerGroup): Promise<boolean> {
    const now = this.scheduler.now();
    if (!this.vouchDue(held, group, now)) return true;
    const untilMs = now + (this.sessionTimeoutMs * 3) / 2;
    try {
      await vouchForMembers(this.options.metadata, group.groupId, untilMs, now, held.stored.version);
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
      this.options.logger?.log('info', 'kafka consumer group changed under its coordinator; letting it go', { group: group.groupId });
      this.drop(group.groupId);
      return false;
    }
    held.vouchedUntilMs = untilMs;
    return true;
  }

  private startSession(groupId: string, held: Held, memberId: string): void {
    held.sessions.get(memberId)?.();
    held.sessions.set(
      memberId,
      this.scheduler.schedule(held.group.members[memberId]?.classic?.sessionTimeoutMs ?? this.sessionTimeoutMs, () => {
        this.options.logger?.log('info', 'kafka consumer group member session expired', { group: groupId, member: memberId });
        return this.expel(groupId, held, memberId, () => true);
      }),
    );
  }

  /** A member that does not revoke within its rebalance timeout is fenced (removed), as in Kafka. */
  private startRevocation(groupId: string, held: Held, member: ConsumerMember): void {
    const { memberId, memberEpoch } = member;
    held.revocations.get(memberId)?.();
    held.revocations.set(
      memberId,
      this.scheduler.schedule(member.rebalanceTimeoutMs, () =>
        this.expel(
          groupId,
          held,
          memberId,
          (g) => g.members[memberId]?.state === 'UNREVOKED_PARTITIONS' && g.members[memberId]?.memberEpoch === memberEpoch,
        ),
      ),
    );
  }

  /** As Kafka: a reconciliation step that leaves the member revoking (again) starts its rebalance timeout anew. */
  private watchRevocation(groupId: string, held: Held, previous: ConsumerMember | undefined, member: ConsumerMember): void {
    if (previous !== undefined && !reconciliationMoved(previous, member)) return;
    if (member.state === 'UNREVOKED_PARTITIONS') this.startRevocation(groupId, held, member);
    else this.stopRevocation(held, member.memberId);
  }

  private stopRevocation(held: Held, memberId: string): void {
    held.revocations.get(memberId)?.();
    held.revocations.delete(memberId);
  }

  /** Removes the member if `still` holds of the group when its turn comes; settles when done (or given up). */
  private expel(groupId: string, held: Held, memberId: string, still: (group: ConsumerGroup) => boolean): Promise<void> {
    this.stopTimers(held, memberId);
    return this.serially(groupId, async (current) => {
      if (current !== held || !still(current.group)) return;
      await this.saveOrDowngrade(current, removeMember(current.group, memberId));
    }).catch((error: unknown) => {
      this.options.logger?.log('warn', 'kafka consumer group member could not be removed', {
        group: groupId,
        message: error instanceof Error ? error.message : String(error),
      });
      this.drop(groupId);
    });
  }

  private stopTimers(held: Held, memberId: string): void {
    held.sessions.get(memberId)?.();
    held.sessions.delete(memberId);
    this.stopRevocation(held, memberId);
    this.stopTimer(held.syncs, memberId);
    this.stopTimer(held.rejoins, memberId);
  }

  /** A classic member must act (SyncGroup after a join, JoinGroup after REBALANCE_IN_PROGRESS) within its rebalance timeout, or it is removed. */
  private startDeadline(groupId: string, held: Held, timers: Map<string, () => void>, member: ConsumerMember): void {
    const { memberId } = member;
    timers.get(memberId)?.();
    timers.set(
      memberId,
      this.scheduler.schedule(member.rebalanceTimeoutMs, () => {
        this.options.logger?.log('info', 'kafka consumer group classic member did not rejoin or sync in time', {
          group: groupId,
          member: memberId,
        });
        return this.expel(groupId, held, memberId, (g) => g.members[memberId] !== undefined);
      }),
    );
  }

  private stopTimer(timers: Map<string, () => void>, memberId: string): void {
    timers.get(memberId)?.();
    timers.delete(memberId);
  }

  private drop(groupId: string): void {
    const held = this.held.get(groupId);
    if (held === undefined) return;
    this.held.delete(groupId);
    held.dead = true;
    for (const timers of [held.sessions, held.revocations, held.syncs, held.rejoins]) for (const cancel of timers.values()) cancel();
  }

  /** Every topic, as the assignors see them: one query per `topicsCacheMs` whatever the number of heartbeats (or now, if `fresh`). */
  private topics(fresh = false): Promise<Topics> {
    const now = this.scheduler.now();
    if (fresh || this.topicsCache === undefined || now - this.topicsCache.atMs >= this.topicsCacheMs) {
      const topics = this.options.log.listTopics().then((all) => ({
        counts: Object.fromEntries(all.map((t) => [t.name, t.partitions])),
        idByName: new Map(all.map((t) => [t.name, t.id])),
        nameById: new Map(all.map((t) => [t.id, t.name])),
      }));
      this.topicsCache = { atMs: now, topics };
      topics.catch(() => {
        if (this.topicsCache?.topics === topics) this.topicsCache = undefined;
      });
    }
    return this.topicsCache.topics;
  }
}

/** A classic member's JoinGroup answer in a consumer group (or one just downgraded): a follower's, with its generation. */
function classicJoinAnswer(memberId: string, generationId: number, protocolName: string): JoinGroupResponse {
  return {
    throttleTimeMs: 0,
    errorCode: KafkaErrors.NONE,
    generationId,
    protocolType: CONSUMER_PROTOCOL_TYPE,
    protocolName,
    leader: '',
    skipAssignment: false,
    memberId,
    members: [],
  };
}

/** A group as held here, on the state item `stored` (as read or written): no timers yet (ConsumerGroups.keep starts them). */
function heldOf(group: ConsumerGroup, stored: GroupState, storedExists: boolean, vouchedUntilMs: number): Held {
  return {
    group,
    stored,
    storedExists,
    vouchedUntilMs,
    dead: false,
    sessions: new Map(),
    revocations: new Map(),
    syncs: new Map(),
    rejoins: new Map(),
    committed: new Map(),
  };
}

/** One group of a ConsumerGroupDescribe answer, refused with `errorCode`. */
export function refusedDescribe(groupId: string, errorCode: number, errorMessage: string | null): DescribedConsumerGroup {
  return { errorCode, errorMessage, groupId, groupState: '', groupEpoch: 0, assignmentEpoch: 0, assignorName: '', members: [] };
}

/** Whether a heartbeat moved the member's reconciliation (its epoch, state or partitions), as Kafka's "member changed". */
function reconciliationMoved(before: ConsumerMember, after: ConsumerMember): boolean {
  return (
    before.memberEpoch !== after.memberEpoch ||
    before.state !== after.state ||
    !samePartitions(before.assigned, after.assigned) ||
    !samePartitions(before.pendingRevocation, after.pendingRevocation)
  );
}

class NotCoordinated extends Error {
  constructor(
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** The group is a classic group with live members (not converted): a classic member's request goes there. */
class ClassicGroupLive extends NotCoordinated {}

function byName(
  partitions: readonly { readonly topicId: string; readonly partitions: readonly number[] }[],
  topics: Topics,
): TopicPartitions {
  const out: Record<string, number[]> = {};
  for (const { topicId, partitions: ps } of partitions) {
    const name = topics.nameById.get(topicId);
    if (name !== undefined) out[name] = [...(out[name] ?? []), ...ps];
  }
  return out;
}

function byId(tp: TopicPartitions, topics: Topics): { topicId: string; partitions: number[] }[] {
  return Object.entries(tp).flatMap(([name, partitions]) => {
    const topicId = topics.idByName.get(name);
    return topicId === undefined ? [] : [{ topicId, partitions: [...partitions] }];
  });
}
