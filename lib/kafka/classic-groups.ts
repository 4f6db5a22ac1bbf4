/**
 * Kafka's classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup; commits and fetches of
 * offsets; DescribeGroups, ListGroups) on the agent that coordinates the group — the holder of its
 * lease in the ClusterView. This module owns which groups this agent coordinates, and hands each
 * request to the part that owns it (lib/kafka/groups/):
 *
 *   classic-state.ts       the group states and their one checked transition
 *   classic-membership.ts  the rebalance: joins, syncs, heartbeats, leaves, sessions and timers
 *   classic-store.ts       what is written (a generation, an Empty group, the vouch), and ownership
 *   offsets.ts             OffsetCommit, OffsetFetch, over the offset items every group kind shares
 *   describe.ts            DescribeGroups, ListGroups
 *   admin.ts               DeleteGroups, OffsetDelete
 *
 * Why here and not in lib/groups: the protocol is a rendezvous of blocked requests (every JoinGroup
 * waits for the others, every SyncGroup for the leader's), which only one process can hold, and it
 * carries Kafka's opaque protocol bytes. lib/groups stays transport-neutral and owns the store
 * layout; the durable part goes into the same items as HTTP groups (so both kinds are listed,
 * described and have their offsets reset alike).
 *
 * Invariants:
 * - A group is in memory here only while this agent coordinates it; once it learns otherwise (a
 *   request, a write refused, shutdown) the group is Dead, forgotten, and its waiting members are told.
 * - A group is Kafka's or HTTP's: Kafka members join only while HTTP ones are gone, and vice versa
 *   (lib/groups/ownership.ts).
 * - An agent taking a group over reads the last Stable generation: its members carry on heartbeating
 *   (each gets a fresh session), and the next rebalance continues from that generation. A generation
 *   handed out but never written never let anyone commit, so handing its number out again is safe.
 *
 * Static membership (KIP-345, group.instance.id) is Kafka's (classic-membership.ts): a restarted
 * instance takes its place under a new member id without a rebalance, and the id it replaced is
 * fenced; the instance ids are written with the members, so an agent taking over keeps them.
 * KIP-848's consumer protocol is consumer-groups.ts; its
 * members' commits come through offsets.ts here, fenced by member epoch (`consumer` option). A classic
 * member's JoinGroup/SyncGroup/Heartbeat/LeaveGroup for a consumer-protocol group with members is served
 * there (`consumerClassic` option), as Kafka 4.x serves classic members inside a consumer group. A live
 * group migrates between the protocols as Kafka 4.x's (consumer-groups.ts): this coordinator hands a
 * classic group over to an upgrade (`handOver`: not loaded again until the consumer group is written)
 * and takes a downgraded one back (`takeBack`: loaded as written, then rebalanced).
 */
import type { GroupCoordinator } from '../groups/coordinator.js';
import { loadGroup } from '../groups/items.js';
import { liveCount } from '../groups/ownership.js';
import type { Log } from '../log/index.js';
import type { Logger } from '../logger.js';
import type { MetadataStore } from '../storage/ports.js';
import type { ClusterView } from './cluster.js';
import { KafkaErrors } from './errors.js';
import { deleteGroup, deleteOffsets } from './groups/admin.js';
import { ClassicMembership, type MembershipTimeouts } from './groups/classic-membership.js';
import { isDead, transition } from './groups/classic-state.js';
import type { ClassicGroupSnapshot } from './groups/consumer-classic.js';
import type { ClassicGroupBase, ClassicGroupConversions } from './consumer-groups.js';
import { ClassicGroupStore } from './groups/classic-store.js';
import { describeGroup, type ListedGroup, listGroups } from './groups/describe.js';
import {
  failJoin,
  failSync,
  GroupRefusal,
  notCoordinator,
  realScheduler,
  Rerouted,
  type ClientInfo,
  type Group,
  type GroupContext,
  type Scheduler,
} from './groups/group.js';
import { type ConsumerCommits, GroupOffsets } from './groups/offsets.js';
import type { DescribedGroup } from './protocol/messages/describe-groups.js';
import type { JoinGroupRequest, JoinGroupResponse } from './protocol/messages/join-group.js';
import type { LeaveGroupResponse, MemberIdentity } from './protocol/messages/leave-group.js';
import type { OffsetCommitRequest, OffsetCommitResponse } from './protocol/messages/offset-commit.js';
import type { TxnOffsetCommitRequest } from './protocol/messages/txn-offset-commit.js';
import { markPendingOffsets } from '../groups/items.js';
import type { TransactionalOffsetPending } from './groups/offsets.js';
import type { OffsetDeleteRequest, OffsetDeleteResponse } from './protocol/messages/offset-delete.js';
import type { OffsetFetchRequestGroup, OffsetFetchResponseGroup } from './protocol/messages/offset-fetch.js';
import type { SyncGroupRequest, SyncGroupResponse } from './protocol/messages/sync-group.js';
import type { Encodable } from './protocol/runtime.js';

export { errorJoin, GroupRefusal, realScheduler, type ClientInfo, type Scheduler } from './groups/group.js';

export interface ClassicGroupsOptions extends MembershipTimeouts {
  readonly log: Log;
  readonly metadata: MetadataStore;
  /** The HTTP groups over the same store: for describing them to Kafka tools and for commits from outside a group. */
  readonly groups: GroupCoordinator;
  readonly cluster: ClusterView;
  readonly logger?: Logger;
  /** @default real time */
  readonly scheduler?: Scheduler;
  /** KIP-848 groups (consumer-groups.ts): their members' commits are fenced by member epoch. @default none */
  readonly consumer?: ConsumerCommits;
  /** KIP-848 groups that serve classic members (consumer-groups.ts): their JoinGroup/SyncGroup/Heartbeat/LeaveGroup go there. @default none */
  readonly consumerClassic?: ClassicMembersOfConsumerGroups;
  /** Whether a transaction still holds an offset it staged for the group (OffsetFetch require_stable). @default none: every offset is stable */
  readonly transactionalOffsetPending?: TransactionalOffsetPending;
}

/**
 * Classic members of a consumer-protocol group (Kafka 4.x's mixed groups): served by the KIP-848 coordinator
 * (lib/kafka/consumer-groups.ts) while the group has members there; refusals are thrown as GroupRefusal.
 */
export interface ClassicMembersOfConsumerGroups {
  /** Whether the group is a consumer-protocol group with members, on this coordinator. */
  servesClassic(groupId: string): Promise<boolean>;
  classicJoin(request: JoinGroupRequest, client: ClientInfo, version: number): Promise<JoinGroupResponse>;
  classicSync(request: SyncGroupRequest): Promise<SyncGroupResponse>;
  classicHeartbeat(groupId: string, memberId: string, groupInstanceId: string | null, generationId: number): Promise<number>;
  classicLeave(groupId: string, members: readonly MemberIdentity[]): Promise<LeaveGroupResponse>;
}

export class ClassicGroups implements ClassicGroupConversions {
  private readonly coordinated = new Map<string, Group>();
  private readonly loading = new Map<string, Promise<Group>>();
  /** Groups being upgraded to consumer groups (`handOver`): not loaded again until the consumer group is written. */
  private readonly converting = new Map<string, Promise<void>>();
  private readonly store: ClassicGroupStore;
  private readonly membership: ClassicMembership;
  private readonly offsets: GroupOffsets;
  private readonly context: GroupContext;
  private readonly consumerClassic?: ClassicMembersOfConsumerGroups;
  private closed = false;

  constructor(options: ClassicGroupsOptions) {
    this.context = {
      log: options.log,
      metadata: options.metadata,
      groups: options.groups,
      cluster: options.cluster,
      logger: options.logger,
      scheduler: options.scheduler ?? realScheduler,
      coordinated: this.coordinated,
      group: (groupId, forMember) => this.group(groupId, forMember),
      requireCoordinator: (groupId) => this.requireCoordinator(groupId),
      drop: (groupId, errorCode) => this.drop(groupId, errorCode),
    };
    this.store = new ClassicGroupStore(this.context);
    this.membership = new ClassicMembership(this.context, this.store, options);
    this.offsets = new GroupOffsets(this.context, this.membership, options.consumer, options.transactionalOffsetPending);
    this.consumerClassic = options.consumerClassic;
  }

  /** Answers once the rebalance this join belongs to completes (or at once, with an error or the current generation). */
  join(request: JoinGroupRequest, client: ClientInfo, version: number): Promise<JoinGroupResponse> {
    return this.routed(
      request.groupId,
      () => this.membership.join(request, client, version),
      (c) => c.classicJoin(request, client, version),
    );
  }

  sync(request: SyncGroupRequest): Promise<SyncGroupResponse> {
    return this.routed(
      request.groupId,
      () => this.membership.sync(request),
      (c) => c.classicSync(request),
    );
  }

  heartbeat(groupId: string, memberId: string, groupInstanceId: string | null, generationId: number): Promise<number> {
    return this.routed(
      groupId,
      () => this.membership.heartbeat(groupId, memberId, groupInstanceId, generationId),
      (c) => c.classicHeartbeat(groupId, memberId, groupInstanceId, generationId),
    );
  }

  leave(groupId: string, members: readonly MemberIdentity[]): Promise<LeaveGroupResponse> {
    return this.routed(
      groupId,
      () => this.membership.leave(groupId, members),
      (c) => c.classicLeave(groupId, members),
    );
  }

  /**
   * A classic member's request goes to the classic group, unless it has no members here and the group is a
   * consumer-protocol group with members: then the KIP-848 coordinator serves it (Kafka's mixed group). One
   * that finds the group converted between the protocols while it waited (`Rerouted`) is routed again.
   */
  private async routed<T>(
    groupId: string,
    classic: () => Promise<T>,
    consumer: (port: ClassicMembersOfConsumerGroups) => Promise<T>,
  ): Promise<T> {
    const port = this.consumerClassic;
    for (let attempt = 1; ; attempt++) {
      try {
        if (port === undefined || (this.coordinated.get(groupId)?.members.size ?? 0) > 0) return await classic();
        return (await port.servesClassic(groupId)) ? await consumer(port) : await classic();
      } catch (error) {
        if (!(error instanceof Rerouted)) throw error;
        if (attempt === 3) throw new GroupRefusal(KafkaErrors.NOT_COORDINATOR, error.message); // the client finds the group again
      }
    }
  }

  /** OffsetCommit at `version` (v10+ names its topics by id). */
  commitOffsets(
    request: OffsetCommitRequest,
    allowed: (topic: string) => boolean,
    version: number,
  ): Promise<Encodable<OffsetCommitResponse>> {
    return this.offsets.commit(request, allowed, version);
  }

  /** TxnOffsetCommit's group side: whether the member may commit, and the offsets to stage in its transaction (GroupOffsets.checkTransactional). */
  checkTransactionalOffsets(request: TxnOffsetCommitRequest, allowed: (topic: string) => boolean) {
    return this.offsets.checkTransactional(request, allowed);
  }

  /** One group's committed offsets; -1 for a partition with none. `topics: null` answers every committed partition. */
  fetchOffsets(
    request: Pick<OffsetFetchRequestGroup, 'groupId' | 'topics'>,
    allowed: (topic: string) => boolean,
    byTopicId: boolean,
    requireStable = false,
  ): Promise<Encodable<OffsetFetchResponseGroup>> {
    return this.offsets.fetch(request, allowed, byTopicId, requireStable);
  }

  /** Marks the offsets a transaction staged for the group (`topic/partition` keys), for require_stable (items.ts markPendingOffsets). */
  markTransactionalOffsets(groupId: string, keys: readonly string[], transactionalId: string): Promise<void> {
    return markPendingOffsets(this.context.metadata, groupId, keys, transactionalId);
  }

  /** Deletes an empty group with all its items (DeleteGroups). */
  deleteGroup(groupId: string): Promise<void> {
    return deleteGroup(this.context, groupId);
  }

  /** Deletes committed offsets of topics the group does not consume (OffsetDelete). */
  deleteOffsets(request: OffsetDeleteRequest, allowed: (topic: string) => boolean): Promise<Encodable<OffsetDeleteResponse>> {
    return deleteOffsets(this.context, request, allowed);
  }

  describe(groupId: string): Promise<DescribedGroup> {
    return describeGroup(this.context, groupId);
  }

  /** Every group in the store, and Kafka groups still forming here; with their protocol type, state and type. */
  list(): Promise<ListedGroup[]> {
    return listGroups(this.context);
  }

  /**
   * Online upgrade (Kafka 4.x): the classic group, if it has members here (held, or stored with live members,
   * then loaded), goes to `convert` as held, after the writes in flight; `convert` may refuse by throwing, and
   * then nothing changes. Once converted, the group is let go (its waiting JoinGroup and SyncGroup answered
   * REBALANCE_IN_PROGRESS: its members join again, into the consumer group) and `write` runs on the state item
   * as this coordinator last had it; until it settles, nothing here loads the group again (a member's request
   * waiting for it is routed again). Answers what `write` answers; undefined, with nothing called, when the
   * group has no members here.
   */
  async handOver<T, R>(
    groupId: string,
    convert: (group: ClassicGroupSnapshot) => T,
    write: (converted: T, base: ClassicGroupBase) => Promise<R>,
  ): Promise<R | undefined> {
    await this.requireCoordinator(groupId);
    let group = this.coordinated.get(groupId);
    if (group === undefined) {
      const loaded = await loadGroup(this.context.metadata, groupId, this.context.groups.topicIdentities);
      if (loaded.state.classic === undefined || liveCount(loaded, this.context.scheduler.now()) === 0) return undefined;
      group = await this.group(groupId);
    }
    for (let writes = group.queue; ; writes = group.queue) {
      await writes;
      if (group.queue === writes) break; // no write was queued meanwhile
    }
    if (isDead(group) || group.members.size === 0) return undefined;
    const converted = convert(snapshotOf(group));
    const base: ClassicGroupBase = { state: group.stored, exists: group.storedExists, vouchedUntilMs: group.vouchedUntilMs };
    let settled!: () => void;
    const gate = new Promise<void>((resolve) => (settled = resolve));
    this.converting.set(groupId, gate);
    this.drop(groupId, KafkaErrors.REBALANCE_IN_PROGRESS);
    try {
      return await write(converted, base);
    } finally {
      settled();
      if (this.converting.get(groupId) === gate) this.converting.delete(groupId);
    }
  }

  /**
   * Online downgrade (Kafka 4.x): the group as the consumer coordinator just wrote it (classic, Stable, its
   * members with their assignments) is taken up here with fresh sessions, and rebalanced for `reason`
   * (null when a classic static member replaced the last consumer-protocol one: Kafka does not rebalance then).
   */
  async takeBack(groupId: string, reason: string | null): Promise<void> {
    // An Empty group held (or being read) here from while the consumer group had it is out of date.
    await this.loading.get(groupId)?.catch(() => undefined);
    if (this.coordinated.get(groupId)?.members.size === 0) this.drop(groupId, KafkaErrors.NOT_COORDINATOR);
    const group = await this.group(groupId);
    if (reason !== null) this.membership.rebalance(group, reason);
  }

  /** Answers pending requests with NOT_COORDINATOR and forgets every group (on shutdown). */
  close(): void {
    this.closed = true;
    for (const id of [...this.coordinated.keys()]) this.drop(id, KafkaErrors.NOT_COORDINATOR);
  }

  private async requireCoordinator(groupId: string): Promise<void> {
    if (this.closed || !(await this.context.cluster.coordinates(groupId))) {
      this.drop(groupId, KafkaErrors.NOT_COORDINATOR);
      throw notCoordinator(groupId);
    }
  }

  /** The group, read from the store the first time this agent coordinates it (see GroupContext.group for `forMember`). */
  private async group(groupId: string, forMember = false): Promise<Group> {
    await this.requireCoordinator(groupId);
    const converting = this.converting.get(groupId);
    if (converting !== undefined) {
      await converting;
      if (forMember) throw new Rerouted(groupId);
    }
    const known = this.coordinated.get(groupId);
    if (known) return known;
    let loading = this.loading.get(groupId);
    if (!loading) {
      loading = this.load(groupId).finally(() => this.loading.delete(groupId));
      this.loading.set(groupId, loading);
    }
    return loading;
  }

  private async load(groupId: string): Promise<Group> {
    const group = await this.store.load(groupId);
    this.membership.resume(group);
    this.coordinated.set(groupId, group);
    return group;
  }

  /** This agent no longer coordinates the group: it is Dead, its waiting members are told `errorCode`, and it is forgotten. */
  private drop(groupId: string, errorCode: number): void {
    const group = this.coordinated.get(groupId);
    if (!group) return;
    this.coordinated.delete(groupId);
    transition(group, 'Dead');
    group.cancelRebalanceTimer?.();
    for (const cancel of group.pending.values()) cancel();
    for (const member of group.members.values()) {
      member.cancelSessionTimer?.();
      failJoin(member, errorCode);
      failSync(member, errorCode);
    }
  }
}

/** The group as `handOver` gives it: each member with its protocols (only the chosen one, for a member read from the store). */
function snapshotOf(group: Group): ClassicGroupSnapshot {
  return {
    groupId: group.id,
    generation: group.generation,
    protocolType: group.protocolType,
    protocol: group.protocol,
    members: [...group.members.values()].map((m) => ({
      memberId: m.id,
      instanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      protocols: m.protocols,
      assignment: m.assignment,
    })),
  };
}
