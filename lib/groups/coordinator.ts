/**
 * Consumer groups with no coordinator process: the group's state lives in the MetadataStore and
 * changes only by compare-and-set (state.ts holds the rules), so any API instance — any Lambda — can
 * serve any request of any member. Its items are listed in lib/keys.ts, read and written through
 * items.ts. A group another protocol manages (Kafka's classic groups) lives in the same items: here
 * it is listed, described, has its offsets read, reset and deleted, and takes commits with no member
 * while it has no live members; joining it, or acting as one of its members, is
 * INCONSISTENT_GROUP_PROTOCOL until its members are gone. Which protocol holds a group, and what
 * taking it over means, is ownership.ts's to answer.
 *
 * Heartbeats write only the member's own lease item, so members do not contend; the state item is
 * written when membership, subscriptions, partition counts or ownership change, or once per member
 * per generation (to record that the member was told of it). Every request first expires members
 * whose lease has run out — in one transaction with a check that each such lease is still the one
 * read, so a member renewing at that moment is never expelled by a stale reader. A member renews its
 * lease before it changes the state, so once its change lands it is known live.
 *
 * Offset items are changed by updates of the fields each path owns (a commit sets `committed`, a poll
 * sets the position), in a transaction with a check that the group's incarnation, generation and
 * owners are as the request saw them: a zombie, a member whose partition moved, or a writer of a
 * deleted group cannot commit. Auto-commit also requires the offset item to be as read, so it never
 * undoes a concurrent explicit commit. Positions are tagged with the member's run (one per join) and
 * generation; a position not of this run and generation is ignored and never auto-committed.
 *
 * Limits, by design: a poll's records come from at most 98 partitions (its positions must land in
 * one transaction); a poll's positions advance when its response is built, so a client that loses a
 * response loses those records unless it commits explicitly (auto-commit is at-least-once only up to
 * that window, as a Kafka consumer that crashes after poll but before processing).
 */
import { randomUUID } from 'node:crypto';
import { describeValue, SpoolError } from '../errors.js';
import type { DecodedRecord } from '../format/index.js';
import type { Log } from '../log/index.js';
import {
  TransactionConflictError,
  ConditionFailedError,
  maxTransactionOps,
  type Attributes,
  type MetadataStore,
  type WriteOp,
} from '../storage/ports.js';
import { assignorNames, parseTpKey, tpKey, type AssignorName } from './assignors.js';
import { groupIndexKey, groupOffsetKey, groupsPk, groupStateKey, memberKey, vouchKey } from '../keys.js';
import {
  checkGroupName,
  liveMembers,
  loadGroup,
  stateAttrs,
  groupStateFence,
  writeOffsets,
  type LoadedGroup as Loaded,
  type OffsetEntry,
  type OffsetUpdate,
  type TopicIdentities,
} from './items.js';
import { heldByOther, heldElsewhere, heldView, groupKind, liveCount, takeOver, takeOverChecks, type GroupKind } from './ownership.js';
import {
  acknowledge,
  assignmentOf,
  emptyGroup,
  notified,
  phaseOf,
  rebalance,
  type AutoOffsetReset,
  type GroupPhase,
  type GroupState,
  type MemberState,
} from './state.js';
import { linkedSignal, sleep } from '../signals.js';

export interface JoinOptions {
  readonly topics: readonly string[];
  readonly memberId?: string;
  readonly sessionTimeoutMs?: number;
  readonly autoOffsetReset?: AutoOffsetReset;
  readonly assignor?: AssignorName;
  readonly autoCommit?: boolean;
}

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

export interface MembershipView {
  readonly memberId: string;
  readonly generation: number;
  readonly assignments: TopicPartition[];
  /** Assigned partitions this member is asked to give up: commit them before the next request. */
  readonly revoking: TopicPartition[];
  readonly state: GroupPhase;
}

export interface GroupRecord extends DecodedRecord {
  readonly topic: string;
  readonly partition: number;
}

export interface OffsetView extends TopicPartition {
  readonly committed: number | null;
}

export interface GroupDescription {
  readonly group: string;
  readonly state: GroupPhase;
  readonly generation: number;
  /** Which protocol manages the group: Spool's HTTP groups or Kafka's (classic or KIP-848). */
  readonly kind: GroupKind;
  /** Kafka's two: classic (JoinGroup/SyncGroup) or consumer (KIP-848 ConsumerGroupHeartbeat; `generation` is its group epoch). */
  readonly protocol: 'http' | 'classic' | 'consumer';
  /** HTTP: the assignor; Kafka: the protocol the members chose (e.g. "range", "cooperative-sticky"). */
  readonly assignor: string | null;
  readonly members: {
    memberId: string;
    topics: readonly string[];
    assignments: TopicPartition[];
    lastHeartbeatMs: number;
    sessionTimeoutMs: number;
  }[];
  readonly partitions: {
    topic: string;
    partition: number;
    committed: number | null;
    highWatermark: number;
    lag: number | null;
    owner: string | null;
  }[];
}

export type ResetTarget = 'earliest' | 'latest' | { readonly timestamp: number } | { readonly offset: number };

export interface CoordinatorOptions {
  readonly now?: () => number;
  /** @default 30 000 */
  readonly defaultSessionTimeoutMs?: number;
}

const maxCasAttempts = 20;

const maxPartitionsPerPoll = 98;

export class GroupCoordinator {
  private readonly now: () => number;
  private readonly defaultSessionTimeoutMs: number;

  constructor(
    private readonly log: Log,
    private readonly metadata: MetadataStore,
    options: CoordinatorOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.defaultSessionTimeoutMs = options.defaultSessionTimeoutMs ?? 30_000;
  }

  async join(group: string, options: JoinOptions): Promise<MembershipView> {
    checkGroupName(group);
    const topics = [...new Set(options.topics)];
    if (topics.length === 0)
      throw new SpoolError('INVALID_ARGUMENT', 'topics: expected at least one topic, got none', { details: { field: 'topics' } });
    for (const topic of topics) await this.log.requireTopic(topic);
    const memberId = options.memberId ?? `${group}-${randomUUID()}`;
    const member: MemberState = {
      topics,
      sessionTimeoutMs: options.sessionTimeoutMs ?? this.defaultSessionTimeoutMs,
      autoOffsetReset: options.autoOffsetReset ?? 'latest',
      autoCommit: options.autoCommit ?? true,
      joinedMs: this.now(),
      runId: randomUUID(),
      notifiedGeneration: -1,
    };
    await this.metadata.write({ kind: 'put', key: groupIndexKey(group), attrs: { createdMs: this.now() } });
    const { state } = await this.change(group, memberId, async (loaded, live) => {
      const requested = options.assignor ?? loaded.state.assignor ?? 'range';
      const others = Object.keys(live).filter((id) => id !== memberId);
      if (others.length > 0 && loaded.state.assignor !== null && requested !== loaded.state.assignor) {
        throw new SpoolError('INCONSISTENT_GROUP_PROTOCOL', `group ${group} uses assignor ${loaded.state.assignor}, got ${requested}`);
      }
      // A member joining again has dropped what it consumed: that acknowledges any revocation.
      const previous = live[memberId];
      const base = previous
        ? acknowledge(
            { ...loaded.state, members: { ...live, [memberId]: { ...previous, notifiedGeneration: loaded.state.generation } } },
            memberId,
          )
        : loaded.state;
      const members = { ...live, [memberId]: member };
      return rebalance(
        { ...base, assignor: others.length === 0 ? requested : base.assignor },
        members,
        await this.partitionCounts(members),
      );
    });
    await this.renew(group, memberId, member.sessionTimeoutMs);
    return this.view(memberId, state);
  }

  /** Keeps the membership alive. Before it acknowledges a revocation, an auto-commit member commits the partitions it gives up. */
  async heartbeat(group: string, memberId: string): Promise<MembershipView> {
    return this.view(memberId, (await this.touch(group, memberId, 'revoking')).state);
  }

  /** Leaves the group: an auto-commit member commits its positions first (as a Kafka consumer does on close). */
  async leave(group: string, memberId: string): Promise<void> {
    await this.autoCommit(group, memberId, 'owned');
    await this.change(group, memberId, async (loaded, live) => {
      if (live[memberId] === undefined) throw unknownMember(group, memberId);
      const members = { ...live };
      delete members[memberId];
      return rebalance(loaded.state, members, await this.partitionCounts(members));
    });
    await this.metadata.write({ kind: 'delete', key: memberKey(group, memberId) });
  }

  /**
   * The member's next records from its partitions, resuming at its positions (or the committed
   * offset, or auto_offset_reset). With auto-commit, the positions reached by the previous poll are
   * committed first. Positions advance only if the group has not changed meanwhile, and not at all
   * if the request was abandoned before its records were ready.
   */
  async poll(
    group: string,
    memberId: string,
    options: { maxRecords?: number; maxBytes?: number; waitMs?: number; signal?: AbortSignal } = {},
  ): Promise<{ records: GroupRecord[]; generation: number; assignments: TopicPartition[]; revoking: TopicPartition[] }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const { state, offsets } = await this.touch(group, memberId, 'owned');
      const member = state.members[memberId]!;
      const view = this.view(memberId, state);
      // A long-poll never outlives half the session: the lease is renewed only when a request starts.
      const waitMs = Math.min(options.waitMs ?? 0, Math.floor(member.sessionTimeoutMs / 2));
      const owned = assignmentOf(state, memberId);
      if (owned.length === 0) {
        await sleep(waitMs, options.signal);
        return { records: [], generation: state.generation, assignments: view.assignments, revoking: view.revoking };
      }
      // Where each partition resumes: read in parallel (one partition-state read each).
      const resumeAt = await Promise.all(
        owned.map((key) => {
          const stored = offsets.get(key);
          const { topic, partition } = parseTpKey(key);
          return this.startOffset(
            topic,
            partition,
            this.ownPosition(stored, member, state) ?? stored?.committed ?? null,
            member.autoOffsetReset,
          );
        }),
      );
      const starts = new Map(owned.map((key, index) => [key, resumeAt[index]!]));
      const records = await this.fetchFrom(starts, { ...options, waitMs });
      if (options.signal?.aborted)
        return { records: [], generation: state.generation, assignments: view.assignments, revoking: view.revoking };

      // Positions are of the topics as they were read: a topic created again since reads them as none.
      const topicIds = new Map<string, string>();
      for (const topic of new Set(owned.map((key) => parseTpKey(key).topic))) {
        const identity = await this.log.topicIdentity(topic);
        if (identity) topicIds.set(topic, identity.id);
      }
      const positions = (entries: Iterable<[string, number]>): Map<string, OffsetUpdate> => {
        const updates = new Map<string, OffsetUpdate>();
        for (const [key, offset] of entries) {
          const topicId = topicIds.get(parseTpKey(key).topic);
          if (topicId !== undefined)
            updates.set(key, { topicId, set: { position: offset, positionRun: member.runId, positionGeneration: state.generation } });
        }
        return updates;
      };
      const advanced = positions(nextOffsets(records));
      // Partitions that started from a commit or a reset hold their start as position, so records
      // produced before the next poll are not skipped by a second "latest".
      const started = positions(
        owned
          .filter((key) => !advanced.has(key) && this.ownPosition(offsets.get(key), member, state) !== starts.get(key))
          .map((key) => [key, starts.get(key)!]),
      );
      try {
        await this.updateOffsets(group, state, advanced);
      } catch (error) {
        if (error instanceof SpoolError && (error.code === 'REBALANCE_IN_PROGRESS' || error.code === 'CONFLICT')) continue; // nothing delivered, nothing advanced
        throw error;
      }
      await this.updateOffsets(group, state, started).catch(() => undefined); // a hint: recomputed if it did not land
      return { records, generation: state.generation, assignments: view.assignments, revoking: view.revoking };
    }
    const { state } = await this.touch(group, memberId, 'none');
    const view = this.view(memberId, state);
    return { records: [], generation: state.generation, assignments: view.assignments, revoking: view.revoking };
  }

  /** Commits offsets: by a member of the current generation for its own partitions, or by anyone while the group has no live members. */
  async commit(
    group: string,
    request: {
      memberId?: string;
      generation?: number;
      offsets: readonly (TopicPartition & { offset: number; metadata?: string | null })[];
    },
  ): Promise<void> {
    checkGroupName(group);
    const topicIds = new Map<string, string>();
    for (const { topic, partition, offset } of request.offsets) {
      const topicItem = await this.log.requireTopic(topic);
      if (!Number.isInteger(partition) || partition < 0 || partition >= topicItem.partitions) {
        throw new SpoolError('PARTITION_NOT_FOUND', `topic ${topic} has no partition ${describeValue(partition)}`);
      }
      if (!Number.isSafeInteger(offset) || offset < 0)
        throw new SpoolError('INVALID_ARGUMENT', `offset must be a non-negative integer, got ${describeValue(offset)}`);
      topicIds.set(topic, topicItem.id);
    }
    const updates = new Map<string, OffsetUpdate>(
      request.offsets.map(({ topic, partition, offset, metadata }) => [
        tpKey(topic, partition),
        { topicId: topicIds.get(topic)!, set: { committed: offset, committedMs: this.now(), metadata: metadata ?? null } },
      ]),
    );
    for (let attempt = 0; attempt < maxCasAttempts; attempt++) {
      const loaded = await this.load(group);
      const live = this.liveMembers(loaded);
      if (request.memberId === undefined) {
        const liveNow = liveCount(loaded, this.now());
        if (liveNow === 0 && loaded.state.memberCount > 0) {
          await this.expire(group);
          continue;
        }
        if (liveNow > 0) {
          throw new SpoolError(
            'GROUP_NOT_EMPTY',
            `group ${group} has ${liveNow} live members: commit as a member (member_id and generation)`,
          );
        }
        if (!loaded.exists) {
          await this.ensureGroup(group);
          continue;
        }
        try {
          await this.updateOffsets(group, loaded.state, updates, true);
          return;
        } catch (error) {
          if (error instanceof SpoolError && error.code === 'REBALANCE_IN_PROGRESS') continue;
          throw error;
        }
      }
      const memberId = request.memberId;
      if (groupKind(loaded.state) !== 'http') throw heldElsewhere(group, loaded.state);
      if (live[memberId] === undefined) throw unknownMember(group, memberId);
      if (request.generation !== loaded.state.generation) {
        throw new SpoolError(
          'ILLEGAL_GENERATION',
          `generation ${describeValue(request.generation)} of member ${memberId} is not the group's current ${loaded.state.generation}: rejoin`,
          {
            details: { generation: loaded.state.generation },
          },
        );
      }
      for (const key of updates.keys()) {
        if (loaded.state.owners[key] !== memberId) {
          throw new SpoolError(
            'REBALANCE_IN_PROGRESS',
            `partition ${key} is not assigned to member ${memberId} in generation ${loaded.state.generation}`,
            {
              details: { generation: loaded.state.generation },
            },
          );
        }
      }
      try {
        await this.updateOffsets(group, loaded.state, updates);
        return;
      } catch (error) {
        // Another member's hand-over changed the owners: check again whether ours are still ours.
        if (error instanceof SpoolError && error.code === 'REBALANCE_IN_PROGRESS') continue;
        throw error;
      }
    }
    throw new SpoolError('CONFLICT', `group ${group} kept changing; try again`, { retriable: true });
  }

  async offsets(group: string): Promise<OffsetView[]> {
    const loaded = await this.load(group);
    if (!loaded.exists && loaded.offsets.size === 0) throw groupNotFound(group);
    return [...loaded.offsets.entries()]
      .filter(([, entry]) => entry.committed !== null)
      .map(([key, entry]) => ({ ...parseTpKey(key), committed: entry.committed }))
      .sort(byTopicPartition);
  }

  async list(): Promise<{ group: string; state: GroupPhase; generation: number; members: number }[]> {
    return (await this.listLoaded()).map(({ loaded: _, ...listed }) => listed);
  }

  /** Every group as `list` shows it, with the group as read, for a caller that looks further (Kafka's ListGroups): one read each. */
  async listLoaded(): Promise<{ group: string; state: GroupPhase; generation: number; members: number; loaded: Loaded }[]> {
    const names = (await this.metadata.query(groupsPk)).map((item) => item.sk);
    return Promise.all(
      names.map(async (group) => {
        const loaded = await this.load(group);
        const state = this.withoutExpired(loaded);
        return { group, state: phaseOf(state), generation: state.generation, members: state.memberCount, loaded };
      }),
    );
  }

  async describe(group: string): Promise<GroupDescription> {
    const loaded = await this.load(group);
    if (!loaded.exists && loaded.offsets.size === 0) throw groupNotFound(group);
    const state = this.withoutExpired(loaded);
    const held = heldView(state, loaded.vouch);
    const owners = held?.owners ?? state.owners;
    const keys = [...new Set([...loaded.offsets.keys(), ...Object.keys(state.target), ...Object.keys(owners)])].sort();
    const partitions = await Promise.all(
      keys.map(async (key) => {
        const { topic, partition } = parseTpKey(key);
        const committed = loaded.offsets.get(key)?.committed ?? null;
        const highWatermark = (await this.log.listOffset(topic, partition, 'latest').catch(() => undefined))?.offset ?? 0;
        // As kafka-consumer-groups.sh: negative for an offset committed beyond the end (a consumer there waits for records that are not there).
        return {
          topic,
          partition,
          committed,
          highWatermark,
          lag: committed === null ? null : highWatermark - committed,
          owner: owners[key] ?? null,
        };
      }),
    );
    const members = held
      ? held.members.map(({ assigned, ...member }) => ({ ...member, assignments: assigned.map(parseTpKey).sort(byTopicPartition) }))
      : Object.entries(state.members).map(([memberId, member]) => ({
          memberId,
          topics: member.topics,
          assignments: assignmentOf(state, memberId).map(parseTpKey),
          lastHeartbeatMs: loaded.leases.get(memberId)?.lastHeartbeatMs ?? 0,
          sessionTimeoutMs: member.sessionTimeoutMs,
        }));
    return {
      group,
      kind: groupKind(state),
      protocol: state.consumer ? 'consumer' : state.classic ? 'classic' : 'http',
      state: phaseOf(state),
      generation: state.generation,
      assignor: held ? held.assignor : state.assignor,
      members,
      partitions: partitions.sort(byTopicPartition),
    };
  }

  /**
   * Sets committed offsets (and positions) of the given topics, or of every partition with an
   * offset; only with no live members. An offset outside a partition's [earliest, high watermark] is
   * brought inside, as kafka-consumer-groups.sh --reset-offsets --to-offset does. `dryRun`: answers the
   * offsets it would set, writing nothing (kafka-consumer-groups.sh --dry-run: refused alike on a live group).
   */
  async resetOffsets(group: string, to: ResetTarget, topics?: readonly string[], dryRun = false): Promise<OffsetView[]> {
    await this.expire(group);
    const loaded = await this.load(group);
    this.requireEmpty(group, loaded);
    const names = topics ?? [...new Set([...loaded.offsets.keys()].map((key) => parseTpKey(key).topic))];
    const updates = new Map<string, OffsetUpdate>();
    const committed = new Map<string, number>();
    for (const topic of names) {
      const { partitions, id: topicId } = await this.log.requireTopic(topic);
      for (let partition = 0; partition < partitions; partition++) {
        const offset =
          typeof to === 'string'
            ? (await this.log.listOffset(topic, partition, to))!.offset
            : 'offset' in to
              ? clamp(to.offset, await this.log.offsetRange(topic, partition))
              : (
                  (await this.log.listOffset(topic, partition, { timestampMs: to.timestamp })) ??
                  (await this.log.listOffset(topic, partition, 'latest'))!
                ).offset;
        committed.set(tpKey(topic, partition), offset);
        updates.set(tpKey(topic, partition), {
          topicId,
          set: { committed: offset, committedMs: this.now(), position: null, positionRun: null, positionGeneration: null },
        });
      }
    }
    if (!dryRun) {
      if (!loaded.exists) await this.ensureGroup(group);
      await this.updateOffsets(group, (await this.load(group)).state, updates, true);
    }
    return [...committed.entries()].map(([key, offset]) => ({ ...parseTpKey(key), committed: offset })).sort(byTopicPartition);
  }

  async deleteGroup(group: string): Promise<void> {
    await this.expire(group);
    const loaded = await this.load(group);
    if (!loaded.exists && loaded.offsets.size === 0) throw groupNotFound(group);
    this.requireEmpty(group, loaded);
    // Fence first: the state item goes only if still empty, then the rest.
    if (loaded.exists) {
      try {
        await this.metadata.write({
          kind: 'delete',
          key: groupStateKey(group),
          condition: { kind: 'match', fields: { version: loaded.state.version } },
        });
      } catch (error) {
        if (error instanceof ConditionFailedError)
          throw new SpoolError('CONFLICT', `group ${group} changed while being deleted; try again`, { retriable: true });
        throw error;
      }
    }
    // Only what was read: a group created again meanwhile keeps its own items.
    for (const id of loaded.leases.keys()) await this.metadata.write({ kind: 'delete', key: memberKey(group, id) });
    for (const key of loaded.storedOffsetKeys) await this.metadata.write({ kind: 'delete', key: groupOffsetKey(group, key) });
    if (loaded.vouch) await this.metadata.write({ kind: 'delete', key: vouchKey(group) });
    // Not the Kafka coordinator item (lib/kafka/cluster.ts): only the agent it names may delete it
    // (ClusterView.release), which Kafka's DeleteGroups does; another agent deleting it would let a
    // second agent take the group while the first still coordinates it from memory.
    await this.metadata.write({ kind: 'delete', key: groupIndexKey(group) });
  }

  // ---- internals ----------------------------------------------------------------------------------

  /** Writes the group without its expired members (if it has any), so "empty" holds in the store too. */
  private async expire(group: string): Promise<void> {
    const loaded = await this.load(group);
    if (loaded.exists && liveCount(loaded, this.now()) !== loaded.state.memberCount) {
      await this.change(group, '', async (current) => current.state);
    }
  }

  /**
   * With auto-commit, commits the positions this member's previous poll reached ('owned': every
   * partition it holds; 'revoking': only those it is asked to give up). Each offset item must still be
   * as read. Answers whether everything due was committed.
   */
  private async autoCommit(group: string, memberId: string, which: 'owned' | 'revoking' | 'none'): Promise<boolean> {
    if (which === 'none') return true;
    for (let attempt = 0; attempt < 5; attempt++) {
      const loaded = await this.load(group);
      const member = loaded.state.members[memberId];
      if (!member?.autoCommit) return true;
      const updates = new Map<string, OffsetUpdate>();
      for (const key of assignmentOf(loaded.state, memberId)) {
        if (which === 'revoking' && loaded.state.target[key] === memberId) continue;
        const stored = loaded.offsets.get(key);
        // Forward only: an explicit commit ahead of the polled position is never undone.
        if (
          stored &&
          stored.positionRun === member.runId &&
          stored.position !== null &&
          (stored.committed === null || stored.position > stored.committed)
        ) {
          const topicId = stored.positionTopicId ?? (await this.log.topicIdentity(parseTpKey(key).topic))?.id;
          if (topicId === undefined) continue; // the topic is gone: nothing to commit
          updates.set(key, {
            topicId,
            set: { committed: stored.position, committedMs: this.now() },
            expect: { position: stored.position, positionRun: member.runId, committed: stored.storedCommitted },
          });
        }
      }
      try {
        await this.updateOffsets(group, loaded.state, updates);
        return true;
      } catch (error) {
        if (!(error instanceof SpoolError && (error.code === 'REBALANCE_IN_PROGRESS' || error.code === 'CONFLICT'))) throw error;
      }
    }
    return false;
  }

  /**
   * A member's request: auto-commits what is due, renews its lease, expires others, and acknowledges
   * the current generation — but only once the auto-commit has landed, so a partition never moves on
   * with this member's progress uncommitted.
   */
  private async touch(
    group: string,
    memberId: string,
    commit: 'owned' | 'revoking' | 'none',
  ): Promise<{ state: GroupState; offsets: Loaded['offsets'] }> {
    const committed = await this.autoCommit(group, memberId, commit);
    return this.change(group, memberId, async (loaded, live) => {
      if (live[memberId] === undefined) throw unknownMember(group, memberId);
      let next = loaded.state;
      const counts = await this.partitionCounts(live);
      if (!sameCounts(counts, next.partitionCounts)) next = rebalance(next, live, counts);
      return committed ? acknowledge(next, memberId) : next;
    });
  }

  /**
   * Read; renew the member's lease; expire dead members; apply `mutate`; mark the member notified;
   * write with compare-and-set (and, for each member expired, a check that its lease is still the one
   * read); on conflict, again from the read.
   */
  private async change(
    group: string,
    memberId: string,
    mutate: (loaded: Loaded, live: Record<string, MemberState>) => Promise<GroupState>,
  ): Promise<{ state: GroupState; offsets: Loaded['offsets'] }> {
    for (let attempt = 0; attempt < maxCasAttempts; attempt++) {
      const loaded = await this.load(group);
      // A group another protocol holds with live members is theirs; once they are gone it is anyone's.
      if (heldByOther(loaded, 'http', this.now())) throw heldElsewhere(group, loaded.state);
      const live = this.liveMembers(loaded);
      const self = live[memberId];
      if (self) await this.renew(group, memberId, self.sessionTimeoutMs);
      // Each member expired is checked in the same transaction as the state: as many as fit expire
      // now; the rest stay members until the next change (a heartbeat, a poll) expires them.
      const expired = Object.keys(loaded.state.members).filter((id) => live[id] === undefined);
      const takeOverOps = takeOverChecks(group, loaded);
      const expiringCapacity = maxTransactionOps - 1 - takeOverOps.length;
      for (const id of expired.splice(expiringCapacity)) live[id] = loaded.state.members[id]!;
      let base = takeOver(loaded.state);
      if (expired.length > 0) base = rebalance(base, live, await this.partitionCounts(live));
      let next = notified(await mutate({ ...loaded, state: base }, live), memberId);
      if (next === loaded.state) {
        // Nothing to write; but the lease was renewed after the read: make sure no one expired us in between.
        const now = await this.metadata.get(groupStateKey(group));
        if ((now?.attrs.version ?? 0) !== loaded.state.version) continue;
        return { state: next, offsets: loaded.offsets };
      }
      if (!loaded.exists) next = { ...next, incarnation: randomUUID() };
      const written = { ...next, version: loaded.state.version + 1 };
      const ops: WriteOp[] = [
        {
          kind: 'put',
          key: groupStateKey(group),
          attrs: stateAttrs(written),
          condition: loaded.exists ? { kind: 'match', fields: { version: loaded.state.version } } : { kind: 'absent' },
        },
        ...expired.map((id): WriteOp => {
          const lease = loaded.leases.get(id);
          return {
            kind: 'check',
            key: memberKey(group, id),
            condition: lease ? { kind: 'match', fields: { lastHeartbeatMs: lease.lastHeartbeatMs } } : { kind: 'absent' },
          };
        }),
        ...takeOverOps,
      ];
      try {
        if (ops.length === 1) await this.metadata.write(ops[0]!);
        else await this.metadata.transact(ops);
      } catch (error) {
        if (error instanceof ConditionFailedError || error instanceof TransactionConflictError) continue;
        throw error;
      }
      for (const id of expired) {
        const lease = loaded.leases.get(id);
        if (lease)
          await this.metadata
            .write({
              kind: 'delete',
              key: memberKey(group, id),
              condition: { kind: 'match', fields: { lastHeartbeatMs: lease.lastHeartbeatMs } },
            })
            .catch(() => undefined);
      }
      return { state: written, offsets: loaded.offsets };
    }
    throw new SpoolError('CONFLICT', `group ${group} kept changing; try again`, { retriable: true });
  }

  private async renew(group: string, memberId: string, sessionTimeoutMs: number): Promise<void> {
    await this.metadata.write({ kind: 'put', key: memberKey(group, memberId), attrs: { lastHeartbeatMs: this.now(), sessionTimeoutMs } });
  }

  /** A position the member may resume from: written by this run of it, in this generation. */
  private ownPosition(stored: OffsetEntry | undefined, member: MemberState, state: GroupState): number | null {
    return stored?.positionRun === member.runId && stored.positionGeneration === state.generation ? stored.position : null;
  }

  private load(group: string): Promise<Loaded> {
    return loadGroup(this.metadata, group, this.topicIdentities);
  }

  /** Committed offsets are checked against the topics as they are now (items.ts, OffsetEntry). */
  readonly topicIdentities: TopicIdentities = (topic, fresh) => this.log.topicIdentity(topic, fresh);

  private liveMembers(loaded: Loaded): Record<string, MemberState> {
    return liveMembers(loaded, this.now());
  }

  /** The state as it would be with expired members gone (for views; not written). */
  private withoutExpired(loaded: Loaded): GroupState {
    if (groupKind(loaded.state) !== 'http')
      return loaded.state.memberCount === 0 || heldByOther(loaded, 'http', this.now()) ? loaded.state : takeOver(loaded.state);
    const live = this.liveMembers(loaded);
    if (Object.keys(live).length === loaded.state.memberCount) return loaded.state;
    return rebalance(loaded.state, live, loaded.state.partitionCounts);
  }

  private requireEmpty(group: string, loaded: Loaded): void {
    const live = liveCount(loaded, this.now());
    if (live > 0)
      throw new SpoolError(
        'GROUP_NOT_EMPTY',
        `group ${group} has ${live} live members; stop them (or wait for their sessions to expire) first`,
      );
  }

  private async ensureGroup(group: string): Promise<void> {
    checkGroupName(group);
    await this.metadata.write({ kind: 'put', key: groupIndexKey(group), attrs: { createdMs: this.now() } });
    await this.metadata
      .write({
        kind: 'put',
        key: groupStateKey(group),
        attrs: stateAttrs({ ...emptyGroup, incarnation: randomUUID() }),
        condition: { kind: 'absent' },
      })
      .catch((error) => {
        if (!(error instanceof ConditionFailedError)) throw error;
      });
  }

  private async partitionCounts(members: Readonly<Record<string, MemberState>>): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const topic of new Set(Object.values(members).flatMap((m) => m.topics))) {
      const item = await this.log.topic(topic);
      if (item) counts[topic] = item.partitions;
    }
    return counts;
  }

  /**
   * Offset updates in one transaction (at most 99), with a check that the group's incarnation,
   * generation and owners (or, for `requireEmpty`, its emptiness) are as read. A failed group check is
   * REBALANCE_IN_PROGRESS (or GROUP_NOT_EMPTY); a failed offset-item expectation is CONFLICT.
   */
  private async updateOffsets(
    group: string,
    state: GroupState,
    updates: ReadonlyMap<string, OffsetUpdate>,
    requireEmpty = false,
  ): Promise<void> {
    if (updates.size === 0) return;
    const fence: Attributes = requireEmpty
      ? { memberCount: 0, incarnation: state.incarnation }
      : { generation: state.generation, ownersVersion: state.ownersVersion, incarnation: state.incarnation };
    await writeOffsets(this.metadata, group, groupStateFence(group, fence), updates, () =>
      requireEmpty
        ? new SpoolError('GROUP_NOT_EMPTY', `group ${group} gained members; commit as a member`)
        : new SpoolError('REBALANCE_IN_PROGRESS', `group ${group} changed since generation ${state.generation}: rejoin or poll again`, {
            details: { generation: state.generation },
          }),
    );
  }

  private async startOffset(topic: string, partition: number, stored: number | null, reset: AutoOffsetReset): Promise<number> {
    const { earliest, latest } = await this.log.offsetRange(topic, partition);
    if (stored !== null && stored >= earliest && stored <= latest) return stored;
    if (reset === 'none') {
      throw new SpoolError(
        'NO_COMMITTED_OFFSET',
        `${stored === null ? 'no committed offset' : `committed offset ${stored} is out of range`} for ${topic}/${partition} and auto_offset_reset is none`,
      );
    }
    return reset === 'earliest' ? earliest : latest;
  }

  /** Reads the member's partitions in turn within the budget; waits (long-poll) on all when none has records. */
  private async fetchFrom(
    starts: ReadonlyMap<string, number>,
    options: { maxRecords?: number; maxBytes?: number; waitMs?: number; signal?: AbortSignal },
  ): Promise<GroupRecord[]> {
    let maxRecords = options.maxRecords ?? 500;
    let maxBytes = options.maxBytes ?? 1024 * 1024;
    const records: GroupRecord[] = [];
    const keys = [...starts.keys()];
    const read = async () => {
      let partitionsWithRecords = 0;
      for (const key of keys) {
        if (maxRecords <= 0 || maxBytes <= 0 || partitionsWithRecords >= maxPartitionsPerPoll) break;
        const { topic, partition } = parseTpKey(key);
        const fetched = await this.log.fetch(topic, partition, starts.get(key)!, { maxRecords, maxBytes });
        if (fetched.records.length > 0) partitionsWithRecords++;
        for (const record of fetched.records) {
          records.push({ ...record, topic, partition });
          maxRecords--;
          maxBytes -= (record.key?.length ?? 0) + (record.value?.length ?? 0);
        }
      }
    };
    await read();
    if (records.length > 0 || (options.waitMs ?? 0) <= 0 || options.signal?.aborted) return records;
    // Nothing yet: wait on every partition at once; the first to see records ends every wait.
    const stop = new AbortController();
    const linked = linkedSignal([options.signal, stop.signal]);
    await Promise.all(
      keys.map(async (key) => {
        const { topic, partition } = parseTpKey(key);
        const fetched = await this.log.fetch(topic, partition, starts.get(key)!, {
          maxRecords: 1,
          maxBytes: 1,
          waitMs: options.waitMs,
          signal: linked.signal,
        });
        if (fetched.records.length > 0) stop.abort();
      }),
    ).finally(() => linked.dispose());
    if (!options.signal?.aborted) await read();
    return records;
  }

  private view(memberId: string, state: GroupState): MembershipView {
    const owned = assignmentOf(state, memberId);
    return {
      memberId,
      generation: state.generation,
      assignments: owned.map(parseTpKey),
      revoking: owned.filter((key) => state.target[key] !== memberId).map(parseTpKey),
      state: phaseOf(state),
    };
  }
}

function nextOffsets(records: readonly GroupRecord[]): Map<string, number> {
  const next = new Map<string, number>();
  for (const record of records) next.set(tpKey(record.topic, record.partition), record.offset + 1);
  return next;
}

function sameCounts(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

function unknownMember(group: string, memberId: string): SpoolError {
  return new SpoolError('UNKNOWN_MEMBER_ID', `member ${memberId} is not in group ${group} (it left, or its session expired): join again`);
}

function groupNotFound(group: string): SpoolError {
  return new SpoolError('GROUP_NOT_FOUND', `group ${group} does not exist`);
}

function byTopicPartition(a: TopicPartition, b: TopicPartition): number {
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
}

export { assignorNames };

/** An offset brought inside a partition's valid range. */
function clamp(offset: number, range: { earliest: number; latest: number }): number {
  return Math.min(Math.max(offset, range.earliest), range.latest);
}
