/**
 * The rebalance protocol of classic groups: JoinGroup, SyncGroup, Heartbeat and LeaveGroup, members'
 * sessions and the rebalance timers, moving each group through the states of classic-state.ts.
 * A rebalance lives only here, in memory; what is durable is written through classic-store.ts.
 *
 * Invariants (test/kafka/classic-groups.test.ts):
 * - A member learns a generation only once it is complete (JoinGroup answers are sent together), and
 *   learns its assignment only once that is written.
 * - Every waiting JoinGroup and SyncGroup is answered exactly once: with the generation, or with the
 *   error that ended it (failJoin, failSync in group.ts).
 * - A member waiting in JoinGroup or SyncGroup cannot heartbeat, so its session does not end while it
 *   waits (Kafka's rule).
 * - A member of a new generation that sends no SyncGroup within the rebalance timeout is out, and the
 *   group rebalances (Kafka's pending sync expiry).
 *
 * Static members (KIP-345, test/kafka/static-membership.test.ts), as Kafka's coordinator:
 * - A group instance id belongs to at most one member. A request naming an instance id must come from
 *   the member that holds it (else FENCED_INSTANCE_ID, or UNKNOWN_MEMBER_ID for an unknown instance).
 * - A known instance joining without a member id (restarted) takes the member's place under a new id,
 *   assignment kept; in a Stable group whose chosen protocol stays, without a rebalance (written first).
 * - A static member that does not join a rebalance stays in the group (it may be restarting) until
 *   its session runs out; a dynamic one is out at the rebalance timeout.
 */
import { randomUUID } from 'node:crypto';
import type { JoinGroupRequest, JoinGroupRequestProtocol as GroupProtocol, JoinGroupResponse } from '../protocol/messages/join-group.js';
import type { LeaveGroupResponse, MemberIdentity } from '../protocol/messages/leave-group.js';
import type { SyncGroupRequest, SyncGroupResponse } from '../protocol/messages/sync-group.js';
import { KafkaErrors } from '../errors.js';
import type { ClassicGroupStore } from './classic-store.js';
import { isDead, transition } from './classic-state.js';
import type { CommitCheck } from './offsets.js';
import {
  checkGroupId,
  errorJoin,
  errorMessage,
  failJoin,
  failSync,
  GroupRefusal,
  memberOf,
  notCoordinator,
  staticMemberId,
  unknownMember,
  validateMember,
  voteProtocol,
  type ClientInfo,
  type Group,
  type GroupContext,
  type Member,
} from './group.js';

export interface MembershipTimeouts {
  /** How long a new group waits for more members before its first generation (Kafka's group.initial.rebalance.delay.ms). @default 3000 */
  readonly initialRebalanceDelayMs?: number;
  /** Kafka's group.min.session.timeout.ms. @default 6000 */
  readonly minSessionTimeoutMs?: number;
  /** Kafka's group.max.session.timeout.ms. @default 1 800 000 */
  readonly maxSessionTimeoutMs?: number;
}

export class ClassicMembership implements CommitCheck {
  private readonly initialRebalanceDelayMs: number;
  private readonly minSessionTimeoutMs: number;
  private readonly maxSessionTimeoutMs: number;

  constructor(
    private readonly context: GroupContext,
    private readonly store: ClassicGroupStore,
    timeouts: MembershipTimeouts = {},
  ) {
    this.initialRebalanceDelayMs = timeouts.initialRebalanceDelayMs ?? 3000;
    this.minSessionTimeoutMs = timeouts.minSessionTimeoutMs ?? 6000;
    this.maxSessionTimeoutMs = timeouts.maxSessionTimeoutMs ?? 1_800_000;
  }

  /** A group taken over with its members (classic-store.ts `load`): their sessions run from now. */
  resume(group: Group): void {
    if (group.members.size === 0) return;
    for (const member of group.members.values()) this.watchSession(group, member);
    void this.store.vouch(group);
    this.context.logger?.log('info', 'kafka group taken over', {
      group: group.id,
      generation: group.generation,
      members: group.members.size,
    });
  }

  /** A group taken back from a consumer group (an online downgrade, as Kafka's): its members join a new generation. */
  rebalance(group: Group, reason: string): void {
    if (group.members.size > 0) this.membershipChanged(group, reason);
  }

  // ---- JoinGroup --------------------------------------------------------------------------------

  /** Answers once the rebalance this join belongs to completes (or at once, with an error or the current generation). */
  async join(request: JoinGroupRequest, client: ClientInfo, version: number): Promise<JoinGroupResponse> {
    checkGroupId(request.groupId);
    if (request.sessionTimeoutMs < this.minSessionTimeoutMs || request.sessionTimeoutMs > this.maxSessionTimeoutMs) {
      throw new GroupRefusal(
        KafkaErrors.INVALID_SESSION_TIMEOUT,
        `session timeout ${request.sessionTimeoutMs} ms is outside [${this.minSessionTimeoutMs}, ${this.maxSessionTimeoutMs}]`,
      );
    }
    if (request.protocolType === '' || request.protocols.length === 0) {
      throw new GroupRefusal(KafkaErrors.INCONSISTENT_GROUP_PROTOCOL, 'a member must name a protocol type and at least one protocol');
    }
    const group = await this.context.group(request.groupId, true);
    if (group.phase === 'Empty') await this.store.refuseIfHeldByOther(group);
    if (isDead(group)) throw notCoordinator(group.id); // lost while the store was read
    if (!supports(group, request.protocolType, request.protocols, request.memberId)) {
      throw new GroupRefusal(
        KafkaErrors.INCONSISTENT_GROUP_PROTOCOL,
        `group ${group.id} shares no protocol with this member (${request.protocols.map((p) => p.name).join(', ')})`,
      );
    }
    if (request.memberId === '') return this.joinNew(group, request, client, version);
    const cancelPending = request.groupInstanceId === null ? group.pending.get(request.memberId) : undefined;
    if (cancelPending) {
      cancelPending();
      group.pending.delete(request.memberId);
      return this.addMember(group, request.memberId, request, client);
    }
    return this.rejoin(group, validateMember(group, request.memberId, request.groupInstanceId), request, client);
  }

  /**
   * A member without an id. A static one (group instance id) gets its id at once (Kafka asks only
   * dynamic members to come back with one): a new instance joins, a known one takes its previous
   * incarnation's place. A dynamic one joining with v4+ must come back with the id it is given, so a
   * lost answer never leaves a ghost member behind.
   */
  private joinNew(group: Group, request: JoinGroupRequest, client: ClientInfo, version: number): Promise<JoinGroupResponse> {
    const instanceId = request.groupInstanceId;
    if (instanceId !== null) {
      const memberId = `${instanceId}-${randomUUID()}`;
      const previous = staticMemberId(group, instanceId);
      if (previous !== undefined) return this.replaceStaticMember(group, group.members.get(previous)!, memberId, request, version);
      return this.addMember(group, memberId, request, client);
    }
    const memberId = `${client.clientId || 'member'}-${randomUUID()}`;
    if (version >= 4) {
      this.addPending(group, memberId, request.sessionTimeoutMs);
      throw new GroupRefusal(KafkaErrors.MEMBER_ID_REQUIRED, `join group ${group.id} again with member id ${memberId}`, memberId);
    }
    return this.addMember(group, memberId, request, client);
  }

  private addMember(group: Group, memberId: string, request: JoinGroupRequest, client: ClientInfo): Promise<JoinGroupResponse> {
    const now = this.context.scheduler.now();
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
    const answer = awaitJoin(member);
    if (group.phase === 'PreparingRebalance') {
      if (group.initialJoinUntilMs !== undefined) this.extendInitialJoin(group);
      else this.tryCompleteJoin(group);
    } else {
      this.prepareRebalance(group, `member ${memberId} joined${request.reason ? `: ${request.reason}` : ''}`);
    }
    return answer;
  }

  private rejoin(
    group: Group,
    member: Member,
    request: JoinGroupRequest,
    client: ClientInfo,
  ): Promise<JoinGroupResponse> | JoinGroupResponse {
    const unchanged = sameProtocols(member.protocols, request.protocols);
    const update = () => {
      member.protocols = request.protocols;
      member.sessionTimeoutMs = request.sessionTimeoutMs;
      member.rebalanceTimeoutMs = request.rebalanceTimeoutMs;
      member.clientId = client.clientId;
      member.clientHost = client.clientHost;
    };
    switch (group.phase) {
      case 'PreparingRebalance': {
        update();
        const answer = awaitJoin(member);
        this.tryCompleteJoin(group);
        return answer;
      }
      case 'CompletingRebalance':
      case 'Stable':
        // A follower that lost its answer and joins again unchanged gets the generation it is in;
        // a leader joining again, or a changed subscription, starts a new one.
        if (unchanged && (group.phase === 'CompletingRebalance' || member.id !== group.leader)) {
          this.renewSession(member);
          return joinAnswer(group, member);
        }
        update();
        {
          const answer = awaitJoin(member);
          this.prepareRebalance(
            group,
            `member ${member.id} joined again${unchanged ? '' : ' with new metadata'}${request.reason ? `: ${request.reason}` : ''}`,
          );
          return answer;
        }
      case 'Empty':
        throw unknownMember(group, member.id);
      case 'Dead':
        throw notCoordinator(group.id);
    }
  }

  /**
   * Kafka's updateStaticMemberAndRebalance: a static member's next incarnation (it restarted, and
   * joins with its instance id and no member id) takes the member's place under `newId` — its
   * assignment, client and join time kept — and the old id is fenced (its waiting requests, and any
   * it sends later with the instance id, are answered FENCED_INSTANCE_ID). In a Stable group whose
   * chosen protocol stays the same, there is no rebalance: the swap is written, then answered with
   * the current generation. Otherwise the group rebalances (in CompletingRebalance always: the
   * leader may be assigning to the old id).
   */
  private replaceStaticMember(
    group: Group,
    member: Member,
    newId: string,
    request: JoinGroupRequest,
    version: number,
  ): Promise<JoinGroupResponse> {
    const oldId = member.id;
    const previousLeader = group.leader;
    const previous = {
      protocols: member.protocols,
      sessionTimeoutMs: member.sessionTimeoutMs,
      rebalanceTimeoutMs: member.rebalanceTimeoutMs,
    };
    failJoin(member, KafkaErrors.FENCED_INSTANCE_ID);
    failSync(member, KafkaErrors.FENCED_INSTANCE_ID);
    renameMember(group, oldId, newId);
    member.protocols = request.protocols;
    member.sessionTimeoutMs = request.sessionTimeoutMs;
    member.rebalanceTimeoutMs = request.rebalanceTimeoutMs;
    this.renewSession(member);
    this.context.logger?.log('info', 'kafka group static member replaced', {
      group: group.id,
      group_instance_id: member.groupInstanceId,
      old_member: oldId,
      member: newId,
      state: group.phase,
    });
    const answer = awaitJoin(member); // it counts as joined should a rebalance begin before it is answered
    const reason = `static member ${newId} (instance ${member.groupInstanceId}) replaced ${oldId}${request.reason ? `: ${request.reason}` : ''}`;
    switch (group.phase) {
      case 'Stable':
        if (chooseProtocol(group) === group.protocol) {
          member.metadata = member.protocols.find((p) => p.name === group.protocol)!.metadata;
          const generation = group.generation;
          const current = () => group.phase === 'Stable' && group.generation === generation && group.members.get(newId) === member;
          const revert = () => {
            renameMember(group, newId, oldId);
            Object.assign(member, previous);
          };
          this.store.enqueue(group, () => this.keepStaticMember(group, member, current, revert, previousLeader, version));
          return answer;
        }
        this.prepareRebalance(group, `${reason}, with protocols that change the group's`);
        return answer;
      case 'CompletingRebalance':
        this.prepareRebalance(group, reason);
        return answer;
      case 'PreparingRebalance':
        this.tryCompleteJoin(group);
        return answer;
      case 'Empty': // (an Empty group has no members)
      case 'Dead':
        throw notCoordinator(group.id);
    }
  }

  /**
   * Writes a Stable group's static member under its new id, then answers its join with the current
   * generation: at v9+ a leader learns it leads and is told to skip the assignment (KIP-814: the
   * group keeps the one it has); before v9 it is named no leader (the previous id stands in), so it
   * assigns nothing. If the store fails, the swap is undone and the member told to join again.
   */
  private async keepStaticMember(
    group: Group,
    member: Member,
    current: () => boolean,
    revert: () => void,
    previousLeader: string | null,
    version: number,
  ): Promise<void> {
    if (!current()) return; // a rebalance began meanwhile: the member is in it
    const assignments = new Map([...group.members.values()].map((m) => [m.id, m.assignment]));
    try {
      if (!(await this.store.writeStable(group, group.generation, assignments, current))) return;
    } catch (error) {
      this.context.logger?.log('warn', 'kafka group static member could not be written', {
        group: group.id,
        member: member.id,
        message: errorMessage(error),
      });
      if (!current()) return;
      const answer = member.joining;
      member.joining = undefined;
      revert();
      answer?.(errorJoin('', KafkaErrors.COORDINATOR_NOT_AVAILABLE));
      return;
    }
    if (!current() || member.joining === undefined) return;
    const answer = member.joining;
    member.joining = undefined;
    this.renewSession(member);
    const joined = joinAnswer(group, member);
    const v9 = version >= 9;
    answer({
      ...joined,
      members: v9 ? joined.members : [],
      leader: (v9 ? group.leader : previousLeader) ?? '',
      skipAssignment: v9 && member.id === group.leader,
    });
  }

  private addPending(group: Group, memberId: string, sessionTimeoutMs: number): void {
    const cancel = this.context.scheduler.schedule(sessionTimeoutMs, () => {
      if (isDead(group) || !group.pending.delete(memberId)) return;
      if (group.phase === 'PreparingRebalance') this.tryCompleteJoin(group);
    });
    group.pending.set(memberId, cancel);
  }

  // ---- rebalancing ------------------------------------------------------------------------------

  private prepareRebalance(group: Group, reason: string): void {
    this.context.logger?.log('debug', 'kafka group rebalancing', { group: group.id, generation: group.generation, reason });
    // Kafka's resetAndPropagateAssignmentWithError: a generation that never got its assignment leaves every member with none.
    if (group.phase === 'CompletingRebalance')
      for (const member of group.members.values()) {
        member.assignment = Buffer.alloc(0);
        failSync(member, KafkaErrors.REBALANCE_IN_PROGRESS);
      }
    const wasEmpty = group.phase === 'Empty';
    transition(group, 'PreparingRebalance');
    group.assigning = undefined;
    group.awaitingSync.clear();
    group.cancelRebalanceTimer?.();
    if (wasEmpty && this.initialRebalanceDelayMs > 0) {
      group.initialJoinUntilMs = this.context.scheduler.now() + maxRebalanceTimeoutMs(group);
      group.cancelRebalanceTimer = this.context.scheduler.schedule(this.initialRebalanceDelayMs, () => this.initialJoinElapsed(group));
      return;
    }
    this.collectJoins(group);
  }

  /** Kafka's InitialDelayedJoin: each new member of a new group restarts the delay, up to the rebalance timeout. */
  private extendInitialJoin(group: Group): void {
    const remainingMs = group.initialJoinUntilMs! - this.context.scheduler.now();
    group.cancelRebalanceTimer?.();
    group.cancelRebalanceTimer = this.context.scheduler.schedule(Math.max(0, Math.min(this.initialRebalanceDelayMs, remainingMs)), () =>
      this.initialJoinElapsed(group),
    );
  }

  private initialJoinElapsed(group: Group): void {
    if (group.phase !== 'PreparingRebalance') return;
    group.initialJoinUntilMs = undefined;
    this.collectJoins(group);
  }

  /** The rebalance completes when every member has joined again, or when the longest rebalance timeout runs out. */
  private collectJoins(group: Group): void {
    group.cancelRebalanceTimer = this.context.scheduler.schedule(maxRebalanceTimeoutMs(group), () => {
      if (group.phase === 'PreparingRebalance') this.completeJoin(group);
    });
    this.tryCompleteJoin(group);
  }

  private tryCompleteJoin(group: Group): void {
    if (group.phase !== 'PreparingRebalance' || group.initialJoinUntilMs !== undefined) return;
    const allJoined = [...group.members.values()].every((m) => m.joining !== undefined) && group.pending.size === 0;
    if (allJoined) this.completeJoin(group);
  }

  /**
   * Dynamic members that did not join again are out; static ones stay until their session runs out
   * (Kafka's rule: a restarting static member keeps its place). The members that joined get the new
   * generation, the leader (one of them) with everyone's metadata. If only static members that have
   * not joined are left, the rebalance waits another rebalance timeout (or until their sessions end).
   */
  private completeJoin(group: Group): void {
    group.cancelRebalanceTimer?.();
    group.cancelRebalanceTimer = undefined;
    group.initialJoinUntilMs = undefined;
    for (const member of [...group.members.values()])
      if (member.joining === undefined && member.groupInstanceId === null) this.removeMember(group, member);
    const joined = [...group.members.values()].filter((m) => m.joining !== undefined);
    if (group.members.size > 0 && joined.length === 0) {
      this.context.logger?.log('info', 'kafka group rebalance waits: no member joined again', { group: group.id });
      this.collectJoins(group);
      return;
    }
    const protocol = group.members.size === 0 ? undefined : chooseProtocol(group);
    if (protocol === undefined) {
      // Members changed their protocols while rebalancing until none is common: none of them can be in it.
      for (const member of [...group.members.values()]) {
        failJoin(member, KafkaErrors.INCONSISTENT_GROUP_PROTOCOL);
        this.removeMember(group, member);
      }
    }
    group.generation = Math.max(group.generation, group.stored.generation) + 1;
    group.committed.clear();
    if (protocol === undefined) {
      transition(group, 'Empty');
      group.protocol = null;
      group.leader = null;
      this.store.enqueue(group, () => this.store.writeEmpty(group));
      return;
    }
    group.protocol = protocol;
    if (group.leader === null || group.members.get(group.leader)?.joining === undefined) group.leader = joined[0]!.id;
    transition(group, 'CompletingRebalance');
    // Each member keeps its last assignment until the leader's is in (Kafka's: an upgrade meanwhile sees what it still owns).
    for (const member of group.members.values()) member.metadata = member.protocols.find((p) => p.name === group.protocol)!.metadata;
    for (const member of group.members.values()) group.awaitingSync.add(member.id);
    const generation = group.generation;
    group.cancelRebalanceTimer = this.context.scheduler.schedule(maxRebalanceTimeoutMs(group), () => this.syncExpired(group, generation));
    for (const member of group.members.values()) {
      const answer = member.joining;
      member.joining = undefined;
      this.renewSession(member);
      answer?.(joinAnswer(group, member));
    }
    this.context.logger?.log('debug', 'kafka group joined', {
      group: group.id,
      generation: group.generation,
      members: group.members.size,
      protocol: group.protocol,
    });
  }

  // ---- SyncGroup --------------------------------------------------------------------------------

  async sync(request: SyncGroupRequest): Promise<SyncGroupResponse> {
    checkGroupId(request.groupId);
    const group = await this.context.group(request.groupId, true);
    const member = memberOf(group, request.memberId, request.generationId, request.groupInstanceId);
    // v5+: a member names the protocol type and name it joined with; a mismatch is Kafka's INCONSISTENT_GROUP_PROTOCOL.
    if (inconsistent(request.protocolType, group.protocolType) || inconsistent(request.protocolName, group.protocol)) {
      throw new GroupRefusal(
        KafkaErrors.INCONSISTENT_GROUP_PROTOCOL,
        `group ${group.id} has protocol ${group.protocolType}/${group.protocol}, the member names ${request.protocolType}/${request.protocolName}`,
      );
    }
    if (group.phase === 'CompletingRebalance' || group.phase === 'Stable') this.synced(group, member);
    switch (group.phase) {
      case 'PreparingRebalance':
        throw new GroupRefusal(KafkaErrors.REBALANCE_IN_PROGRESS, `group ${group.id} is rebalancing: join again`);
      case 'Stable':
        this.renewSession(member);
        return syncAnswer(group, member.assignment);
      case 'Dead':
        throw notCoordinator(group.id);
      case 'CompletingRebalance':
      case 'Empty': // (memberOf has refused: an Empty group has no members)
        break;
    }
    failSync(member, KafkaErrors.REBALANCE_IN_PROGRESS); // a second SyncGroup while one waits takes its place
    const answer = new Promise<SyncGroupResponse>((resolve) => (member.syncing = resolve));
    if (member.id === group.leader && group.assigning === undefined) {
      const assigning = new Map<string, Buffer>();
      for (const { memberId, assignment } of request.assignments) if (group.members.has(memberId)) assigning.set(memberId, assignment);
      group.assigning = assigning;
      const generation = group.generation;
      this.store.enqueue(group, () => this.completeSync(group, generation));
    }
    return answer;
  }

  /** Writes the generation with its assignment; only then does any member learn its assignment. */
  private async completeSync(group: Group, generation: number): Promise<void> {
    if (group.phase !== 'CompletingRebalance' || group.generation !== generation || group.assigning === undefined) return;
    const assigning = group.assigning;
    const current = () => group.phase === 'CompletingRebalance' && group.generation === generation;
    try {
      if (!(await this.store.writeStable(group, generation, assigning, current))) return;
    } catch (error) {
      // As Kafka does when the group cannot be stored: the members hear it and join again.
      this.context.logger?.log('warn', 'kafka group assignment could not be written', {
        group: group.id,
        generation,
        message: errorMessage(error),
      });
      if (current()) this.prepareRebalance(group, 'its assignment could not be written');
      return;
    }
    if (!current()) return;
    transition(group, 'Stable');
    group.assigning = undefined;
    for (const member of group.members.values()) {
      member.assignment = assigning.get(member.id) ?? Buffer.alloc(0);
      const answer = member.syncing;
      member.syncing = undefined;
      if (answer) {
        this.renewSession(member);
        answer(syncAnswer(group, member.assignment));
      }
    }
    this.context.logger?.log('debug', 'kafka group stable', { group: group.id, generation, members: group.members.size });
  }

  /** The member has sent SyncGroup for this generation; once all have, the wait for them ends. */
  private synced(group: Group, member: Member): void {
    if (!group.awaitingSync.delete(member.id) || group.awaitingSync.size > 0) return;
    group.cancelRebalanceTimer?.();
    group.cancelRebalanceTimer = undefined;
  }

  /**
   * Kafka's pending sync expiry: members that have sent no SyncGroup a rebalance timeout after the
   * generation formed (a static member that was away, a client that lost its answer) are out, and the
   * group rebalances without them.
   */
  private syncExpired(group: Group, generation: number): void {
    if (group.generation !== generation || (group.phase !== 'CompletingRebalance' && group.phase !== 'Stable')) return;
    const late = [...group.awaitingSync];
    if (late.length === 0) return;
    this.context.logger?.log('info', 'kafka group members sent no SyncGroup in time', { group: group.id, generation, members: late });
    for (const id of late) {
      const member = group.members.get(id);
      if (member) this.removeMember(group, member);
    }
    this.prepareRebalance(group, `members ${late.join(', ')} sent no SyncGroup within the rebalance timeout`);
  }

  // ---- Heartbeat, LeaveGroup, sessions ----------------------------------------------------------

  async heartbeat(groupId: string, memberId: string, groupInstanceId: string | null, generationId: number): Promise<number> {
    checkGroupId(groupId);
    const group = await this.context.group(groupId, true);
    const member = memberOf(group, memberId, generationId, groupInstanceId);
    this.renewSession(member);
    void this.store.vouch(group);
    return group.phase === 'PreparingRebalance' ? KafkaErrors.REBALANCE_IN_PROGRESS : KafkaErrors.NONE;
  }

  /**
   * Each member named leaves (v0–2 name one; v3+ several), as Kafka: by member id (with its group
   * instance id, if static: FENCED_INSTANCE_ID if another incarnation holds it now), or by group
   * instance id alone (an administrator removing a static member). Each is answered on its own;
   * `reason` (v5+) is logged.
   */
  async leave(groupId: string, leavingMembers: readonly MemberIdentity[]): Promise<LeaveGroupResponse> {
    checkGroupId(groupId);
    const group = await this.context.group(groupId, true);
    const members = leavingMembers.map(({ memberId, groupInstanceId, reason }) => ({
      memberId,
      groupInstanceId,
      errorCode: this.leaveOne(group, memberId, groupInstanceId, reason),
    }));
    return { throttleTimeMs: 0, errorCode: KafkaErrors.NONE, members };
  }

  private leaveOne(group: Group, memberId: string, groupInstanceId: string | null, reason: string | null): number {
    if (memberId === '') {
      const id = groupInstanceId === null ? undefined : staticMemberId(group, groupInstanceId);
      if (id === undefined) return KafkaErrors.UNKNOWN_MEMBER_ID;
      memberId = id;
    } else {
      const cancelPending = group.pending.get(memberId);
      if (cancelPending) {
        cancelPending();
        group.pending.delete(memberId);
        if (group.phase === 'PreparingRebalance') this.tryCompleteJoin(group);
        return KafkaErrors.NONE;
      }
    }
    let member: Member;
    try {
      member = validateMember(group, memberId, groupInstanceId);
    } catch (error) {
      if (error instanceof GroupRefusal) return error.errorCode;
      throw error;
    }
    this.removeMember(group, member);
    this.membershipChanged(group, `member ${member.id} left${reason ? `: ${reason}` : ''}`);
    return KafkaErrors.NONE;
  }

  /**
   * Whether the member may commit offsets at this generation: NONE (its session renewed), or the
   * error each partition of its commit is answered with.
   */
  checkCommit(group: Group, memberId: string, generationId: number, groupInstanceId: string | null): number {
    let member: Member;
    try {
      member = validateMember(group, memberId, groupInstanceId);
    } catch (error) {
      if (error instanceof GroupRefusal) return error.errorCode;
      throw error;
    }
    if (generationId !== group.generation) return KafkaErrors.ILLEGAL_GENERATION;
    if (group.phase === 'CompletingRebalance') return KafkaErrors.REBALANCE_IN_PROGRESS;
    this.renewSession(member);
    return KafkaErrors.NONE;
  }

  private membershipChanged(group: Group, reason: string): void {
    if (group.phase === 'Stable' || group.phase === 'CompletingRebalance') this.prepareRebalance(group, reason);
    else if (group.phase === 'PreparingRebalance') this.tryCompleteJoin(group);
  }

  private removeMember(group: Group, member: Member): void {
    group.members.delete(member.id);
    group.awaitingSync.delete(member.id);
    member.cancelSessionTimer?.();
    failJoin(member, KafkaErrors.UNKNOWN_MEMBER_ID);
    failSync(member, KafkaErrors.UNKNOWN_MEMBER_ID);
    if (group.leader === member.id) group.leader = group.members.keys().next().value ?? null;
  }

  private renewSession(member: Member): void {
    member.deadlineMs = this.context.scheduler.now() + member.sessionTimeoutMs;
  }

  /** One timer per member, re-armed when it fires before the (moved) deadline. */
  private watchSession(group: Group, member: Member): void {
    const { scheduler } = this.context;
    member.cancelSessionTimer = scheduler.schedule(Math.max(0, member.deadlineMs - scheduler.now()), () => {
      if (isDead(group) || group.members.get(member.id) !== member) return;
      // A member waiting in JoinGroup or SyncGroup cannot heartbeat: it stays (Kafka's rule).
      if (member.joining || member.syncing) member.deadlineMs = Math.max(member.deadlineMs, scheduler.now() + member.sessionTimeoutMs);
      if (scheduler.now() < member.deadlineMs) return this.watchSession(group, member);
      this.context.logger?.log('info', 'kafka group member session expired', {
        group: group.id,
        member: member.id,
        session_timeout_ms: member.sessionTimeoutMs,
      });
      this.removeMember(group, member);
      this.membershipChanged(group, `member ${member.id}'s session expired`);
    });
  }
}

/** The member known as `from` is known as `to`, in the same place among the members (and as leader, if it leads). */
function renameMember(group: Group, from: string, to: string): void {
  const members = [...group.members.values()];
  group.members.clear();
  for (const m of members) {
    if (m.id === from) m.id = to;
    group.members.set(m.id, m);
  }
  if (group.leader === from) group.leader = to;
  if (group.awaitingSync.delete(from)) group.awaitingSync.add(to);
}

function awaitJoin(member: Member): Promise<JoinGroupResponse> {
  // A second JoinGroup while one waits (its connection was lost, say) takes its place.
  failJoin(member, KafkaErrors.REBALANCE_IN_PROGRESS);
  return new Promise((resolve) => (member.joining = resolve));
}

function joinAnswer(group: Group, member: Member): JoinGroupResponse {
  const isLeader = member.id === group.leader;
  return {
    throttleTimeMs: 0,
    errorCode: KafkaErrors.NONE,
    generationId: group.generation,
    protocolType: group.protocolType,
    protocolName: group.protocol ?? '',
    leader: group.leader ?? '',
    // v9: true only for a static leader back in a Stable group (keepStaticMember).
    skipAssignment: false,
    memberId: member.id,
    members: isLeader
      ? [...group.members.values()].map((m) => ({ memberId: m.id, groupInstanceId: m.groupInstanceId, metadata: m.metadata }))
      : [],
  };
}

function syncAnswer(group: Group, assignment: Buffer): SyncGroupResponse {
  return { throttleTimeMs: 0, errorCode: KafkaErrors.NONE, protocolType: group.protocolType, protocolName: group.protocol, assignment };
}

/** Kafka's rule for SyncGroup v5's protocol fields: a name given that differs from the group's. */
function inconsistent(named: string | null, groups: string | null): boolean {
  return named !== null && groups !== null && named !== groups;
}

/** Whether a member with these protocols may be in the group (with the others, excluding itself). */
function supports(group: Group, protocolType: string, protocols: readonly GroupProtocol[], memberId: string): boolean {
  const others = [...group.members.values()].filter((m) => m.id !== memberId);
  if (others.length === 0) return true;
  if (group.protocolType !== protocolType) return false;
  return protocols.some((p) => others.every((m) => m.protocols.some((q) => q.name === p.name)));
}

function chooseProtocol(group: Group): string | undefined {
  return voteProtocol([...group.members.values()].map((m) => m.protocols.map((p) => p.name)));
}

function maxRebalanceTimeoutMs(group: Group): number {
  return Math.max(0, ...[...group.members.values()].map((m) => m.rebalanceTimeoutMs));
}

function sameProtocols(a: readonly GroupProtocol[], b: readonly GroupProtocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]!.name && p.metadata.equals(b[i]!.metadata));
}
