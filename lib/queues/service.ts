/**
 * Queues over the log: a share group's receive, acknowledge and describe, as the HTTP API (and the
 * Lambda handler) serve them, and the partition-level acquire, settle and release the Kafka share
 * groups (lib/kafka/share-groups.ts) are served with. A receive acquires records of the topic's
 * partitions for a new holder (share-partition.ts, stored by store.ts), reads them from the log,
 * and answers each with a receipt naming the holder; an acknowledgement names the holder and the
 * records, by receipt or by range. Any instance serves any request: the state is in the metadata
 * store, changed only by compare-and-set, so a share group is the same object whichever instance
 * or protocol serves it.
 *
 * Invariants:
 *  - A record is handed to one holder at a time, for its lock (share-partition.ts invariant 2);
 *    only that holder's acknowledgement under a live lock settles it.
 *  - Offsets acquired that hold no record (a transaction's marker, an aborted record read
 *    read_committed, a compacted topic's hole, one retention removed since) are archived by a GAP
 *    acknowledgement: never handed out, never counted dead. Offsets acquired that cannot be read yet
 *    are given back UNREAD: their delivery is not counted.
 *  - An acknowledgement answers per entry, and one that settled nothing says why: `already_settled`
 *    (the records are acknowledged or archived: a retry whose first answer was lost, or records
 *    another holder settled after this one's lock expired), `lock_expired` (available again, or
 *    handed to another holder: they will be, or were, delivered again), or `invalid` (never handed
 *    out, not a range, or partly settled and partly still held).
 *
 * Cost, per share partition a request touches (the topic and the group's settings come from
 * short-lived caches): a receive reads the partition's state and the share partition's item, and
 * writes the item only if it hands out records (or the group reads the partition for the first
 * time, to pin where it starts); reading the records is a fetch (the partition's state again, its
 * rows, the objects); offsets that hold no record, or cannot be read yet, cost one more read and
 * write of the item. An acknowledgement reads and writes the item once for all of the request's
 * entries on that partition. A waiting receive looks again when records come, a lock expires,
 * records are released on this instance, or every `recheckMs` (5 s: a release on another instance).
 */
import { randomUUID } from 'node:crypto';
import { SpoolError } from '../errors.js';
import type { DecodedRecord, RecordHeader } from '../format/index.js';
import type { Log, ProduceRecord, TopicItem } from '../log/index.js';
import { type Logger, silentLogger } from '../logger.js';
import { linkedSignal, sleep } from '../signals.js';
import type { MetadataStore } from '../storage/ports.js';
import { type ShareGroupConfig, lockRangeMs } from './config.js';
import { emptyMembership, shareSessionTimeoutMs, withoutExpired } from './members.js';
import { deferrals } from './delay.js';
import { deadLetterHeaders } from './redrive.js';
import {
  type AckRefusal,
  type AckType,
  type AcquiredRecords,
  type Acknowledgement,
  type DeadLetterRange,
  type DeathCause,
  type SharePartitionState,
  acknowledge,
  acquire as acquireRecords,
  claimDeadLetters,
  counts,
  deadLettered,
  expireLocks,
  initialState,
} from './share-partition.js';
import { type DecideShare, type ListedSharePartition, maxDelayEntries, SharePartitionStore, type StoredShareConfig } from './store.js';

/** A record handed to a holder. */
export interface QueueRecord extends DecodedRecord {
  readonly partition: number;
  /** How many times it was handed out, this time included. */
  readonly deliveryCount: number;
  /** Names the holder and the record: what an acknowledgement of it carries. */
  readonly receipt: string;
}

export interface ReceiveOptions {
  /** @default 10 */
  readonly maxRecords?: number;
  /** How long the records stay locked to this receive's holder. @default the group's share.record.lock.duration.ms */
  readonly lockMs?: number;
  /** Wait up to this long for a record when none is available. @default 0 */
  readonly waitMs?: number;
  readonly signal?: AbortSignal;
}

export interface Received {
  /** This receive's holder: what an acknowledgement by range names. */
  readonly holder: string;
  readonly records: readonly QueueRecord[];
}

/** An acknowledgement of records [first, last] of a partition, by the holder they were handed to. */
export interface QueueAck {
  readonly holder: string;
  readonly partition: number;
  readonly first: number;
  readonly last: number;
  readonly type: AckType;
  /** The topic incarnation the records were received from (a receipt's): another is `invalid`. */
  readonly topicId?: string;
  /** RENEW: how long from now the records stay locked. @default the group's share.record.lock.duration.ms */
  readonly lockMs?: number;
  /** REJECT: why, for the dead letter's `__dlq.errors.message` (Kafka's "Offset rejected by client." if absent). */
  readonly error?: string;
}

export type AckStatus = 'ok' | 'already_settled' | 'lock_expired' | 'invalid';

export interface AckResult {
  readonly status: AckStatus;
  /** Why nothing was settled (status other than ok). */
  readonly reason?: string;
}

export interface SharePartitionView {
  readonly topic: string;
  readonly partition: number;
  /** The share-partition start offset: every record before it is settled, delayed ones aside. */
  readonly startOffset: number;
  /** The next offset never handed out yet. */
  readonly endOffset: number;
  /** The end of what may be handed out: the high watermark, or the last stable offset read_committed. */
  readonly logEndOffset: number;
  /** Records locked to a holder now. */
  readonly acquired: number;
  /** Records that may be handed out now: released or expired ones in flight, and those not yet handed out. */
  readonly available: number;
  /** Records archived by a reject or at the delivery limit, since the share partition began. */
  readonly dead: number;
  /** Records waiting in the delay index for their deliver-at time. */
  readonly delayed: number;
}

export interface QueueDescription {
  readonly group: string;
  readonly config: ShareGroupConfig;
  /** The settings set on the group (the rest are defaults). */
  readonly configSet: Partial<ShareGroupConfig>;
  readonly partitions: readonly SharePartitionView[];
}

export interface QueueServiceOptions {
  readonly now?: () => number;
  /** group.share.partition.max.record.locks: records in flight per share partition. @default 2000 */
  readonly maxInFlight?: number;
  /** How long a group's settings read are used. @default 2000 */
  readonly configCacheMs?: number;
  /** Kafka's errors.deadletterqueue.topic.name.prefix: a dead-letter topic's name must start with it ("": any). @default "dlq." */
  readonly deadLetterTopicPrefix?: string;
  /** Kafka's errors.deadletterqueue.auto.create.topics.enable: a missing dead-letter topic is created. @default false */
  readonly autoCreateDeadLetterTopics?: boolean;
  readonly logger?: Logger;
}

/** The `__dlq.errors.message` of a dead letter, by cause: Kafka 4.4's words. */
export const deadLetterMessages: Readonly<Record<DeathCause, string>> = {
  rejected: 'Offset rejected by client.',
  limit: 'Offset delivery count exceeded the threshold.',
};

/** A receive's largest request, and the bytes one read of the log asks for. */
export const maxReceiveRecords = 10_000;
const readBytes = 8 * 1024 * 1024;
/** Shortest interval between two rounds of a waiting receive (a log with records the group cannot take yet would spin). */
const minRoundMs = 100;
/** Longest a waiting receive goes without looking again: records released on another instance wake no one here. */
const recheckMs = 5000;
const maxGroupBytes = 255;

export class QueueService {
  private readonly store: SharePartitionStore;
  private readonly now: () => number;
  private readonly maxInFlight: number;
  private readonly configCacheMs: number;
  private readonly deadLetterTopicPrefix: string;
  private readonly autoCreateDeadLetterTopics: boolean;
  private readonly logger: Logger;
  private readonly configs = new Map<string, { config: StoredShareConfig; expiresMs: number }>();
  /** Waiting receives, by group and topic incarnation: woken when records are released here. */
  private readonly releaseWaiters = new Map<string, Set<() => void>>();

  constructor(
    private readonly log: Log,
    metadata: MetadataStore,
    options: QueueServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.store = new SharePartitionStore(metadata, this.now);
    this.maxInFlight = options.maxInFlight ?? 2000;
    this.configCacheMs = options.configCacheMs ?? 2000;
    this.deadLetterTopicPrefix = options.deadLetterTopicPrefix ?? 'dlq.';
    this.autoCreateDeadLetterTopics = options.autoCreateDeadLetterTopics ?? false;
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Hands up to `maxRecords` records of the topic to a new holder, locked for `lockMs`, from the
   * partitions in turn (starting at a random one, so concurrent receivers spread); waits up to
   * `waitMs` for one when none is available.
   */
  async receive(group: string, topicName: string, options: ReceiveOptions = {}): Promise<Received> {
    checkGroup(group);
    const maxRecords = options.maxRecords ?? 10;
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1 || maxRecords > maxReceiveRecords)
      throw new SpoolError('INVALID_ARGUMENT', `max_records: expected 1 to ${maxReceiveRecords}, got ${maxRecords}`);
    const topic = await this.topic(topicName);
    const config = (await this.config(group)).effective;
    const lockMs = options.lockMs ?? config['share.record.lock.duration.ms'];
    if (!Number.isSafeInteger(lockMs) || lockMs < lockRangeMs.min || lockMs > lockRangeMs.max)
      throw new SpoolError('INVALID_ARGUMENT', `visibility_ms: expected ${lockRangeMs.min} to ${lockRangeMs.max}, got ${lockMs}`);
    const holder = randomUUID();
    const deadlineMs = this.now() + (options.waitMs ?? 0);
    const first = Math.floor(Math.random() * topic.partitions);
    for (;;) {
      if (options.signal?.aborted) return { holder, records: [] }; // gone: lock nothing for it
      const roundMs = this.now();
      const records: QueueRecord[] = [];
      const waits: { topic: string; partition: number; offset: number }[] = [];
      let wakeMs = deadlineMs;
      for (let i = 0; i < topic.partitions && records.length < maxRecords; i++) {
        const partition = (first + i) % topic.partitions;
        const taken = await this.receiveFrom(group, topic, partition, holder, maxRecords - records.length, lockMs, config);
        records.push(...taken.records);
        if (taken.nextExpiryMs !== undefined) wakeMs = Math.min(wakeMs, taken.nextExpiryMs);
        if (taken.waitOffset !== undefined) waits.push({ topic: topic.name, partition, offset: taken.waitOffset });
      }
      const nowMs = this.now();
      if (records.length > 0 || nowMs >= deadlineMs || options.signal?.aborted) return { holder, records };
      await this.waitForWork(group, [topic.id], waits, wakeMs, options.signal);
      await sleep(roundMs + minRoundMs - this.now(), options.signal);
    }
  }

  /** Settles records as each entry says; answers per entry, in order (see the module comment). */
  async acknowledge(group: string, topicName: string, acks: readonly QueueAck[]): Promise<AckResult[]> {
    checkGroup(group);
    const topic = await this.topic(topicName);
    const config = (await this.config(group)).effective;
    const results: AckResult[] = new Array(acks.length);
    const byPartition = new Map<number, number[]>();
    for (const [index, ack] of acks.entries()) {
      if (ack.topicId !== undefined && ack.topicId !== topic.id)
        results[index] = { status: 'invalid', reason: `received from another topic named ${topic.name}, since deleted` };
      else if (!Number.isSafeInteger(ack.partition) || ack.partition < 0 || ack.partition >= topic.partitions)
        results[index] = { status: 'invalid', reason: `partition ${ack.partition}: ${topic.name} has ${topic.partitions}` };
      else byPartition.set(ack.partition, [...(byPartition.get(ack.partition) ?? []), index]);
    }
    const groupLockMs = config['share.record.lock.duration.ms'];
    const context = (nowMs: number) => ({ nowMs, ...deathRules(config) });
    await Promise.all(
      [...byPartition].map(async ([partition, indexes]) => {
        // A reject's reason, for the dead letters of the records it settled (of the decision written).
        let applied: readonly QueueAck[] = [];
        const messageOf = (offset: number) =>
          applied.find((ack) => ack.type === 'reject' && ack.first <= offset && offset <= ack.last)?.error;
        const answers = await this.change(group, topic.id, partition, config, messageOf, (state, nowMs) => {
          if (state === undefined)
            return {
              next: null,
              answer: indexes.map(() => ({ status: 'invalid' as const, reason: 'the group has handed out no record of this partition' })),
            };
          let current: SharePartitionState = state;
          const taken: QueueAck[] = [];
          const answer = indexes.map((index): AckResult => {
            const ack = acks[index]!;
            const { next, refused } = acknowledge(current, ack.holder, [ack], { ...context(nowMs), lockMs: ack.lockMs ?? groupLockMs });
            if (refused.length === 0) {
              current = next;
              taken.push(ack);
              return { status: 'ok' };
            }
            return { status: refusedStatus(current, ack, nowMs), reason: refused[0]!.reason };
          });
          applied = taken;
          return { next: current === state ? null : current, answer };
        });
        for (const [i, index] of indexes.entries()) results[index] = answers[i]!;
        if (indexes.some((index, i) => acks[index]!.type === 'release' && answers[i]!.status === 'ok')) this.released(group, topic.id);
      }),
    );
    return results;
  }

  /** Prolongs the holder's locks on the records: `lockMs` from now. */
  async extend(group: string, topicName: string, acks: readonly Omit<QueueAck, 'type'>[], lockMs: number): Promise<AckResult[]> {
    if (!Number.isSafeInteger(lockMs) || lockMs < lockRangeMs.min || lockMs > lockRangeMs.max)
      throw new SpoolError('INVALID_ARGUMENT', `visibility_ms: expected ${lockRangeMs.min} to ${lockRangeMs.max}, got ${lockMs}`);
    return this.acknowledge(
      group,
      topicName,
      acks.map((ack) => ({ ...ack, type: 'renew' as const, lockMs })),
    );
  }

  /** The group's settings and share partitions (of `topicName` only, if given), with their counts now. */
  async describe(group: string, topicName?: string): Promise<QueueDescription> {
    checkGroup(group);
    const topic = topicName === undefined ? undefined : await this.log.requireTopic(topicName);
    const [config, listed] = await Promise.all([this.store.config(group), this.store.list(group)]);
    if (listed.length === 0 && !config.exists)
      throw new SpoolError('GROUP_NOT_FOUND', `share group ${group} has no settings and has read no partition`);
    const partitions: SharePartitionView[] = [];
    for (const share of listed) {
      if (topic !== undefined && share.topicId !== topic.id) continue;
      const view = await this.view(share, config.effective);
      if (view) partitions.push(view);
    }
    partitions.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    return { group, config: config.effective, configSet: config.set, partitions };
  }

  async alterConfig(group: string, changes: Readonly<Record<string, unknown>>): Promise<StoredShareConfig> {
    checkGroup(group);
    const altered = await this.store.alterConfig(group, changes);
    this.configs.delete(group);
    return altered;
  }

  /**
   * Deletes the group's state, settings and members; refused (GROUP_NOT_EMPTY) while it has live
   * Kafka members or any record is locked to a holder.
   */
  async delete(group: string): Promise<void> {
    checkGroup(group);
    const config = await this.store.config(group);
    let found = config.exists;
    await this.store.delete(group, (partitions, membership) => {
      const members = Object.keys(withoutExpired(membership, this.now(), shareSessionTimeoutMs).members).length;
      if (members > 0) throw new SpoolError('GROUP_NOT_EMPTY', `share group ${group} has ${members} live member(s)`, { retriable: true });
      found ||= partitions.length > 0 || membership !== emptyMembership;
      const locked = partitions.filter(({ state }) => this.locked(state));
      if (locked.length > 0)
        throw new SpoolError('GROUP_NOT_EMPTY', `share group ${group} has records locked to a holder in ${locked.length} partition(s)`, {
          retriable: true,
        });
    });
    this.configs.delete(group);
    if (!found) throw new SpoolError('GROUP_NOT_FOUND', `share group ${group} has no settings and has read no partition`);
  }

  /** Every share group, by name (one query). */
  groups(): Promise<string[]> {
    return this.store.groups();
  }

  /** The group's Kafka members whose sessions are live. */
  async liveMembers(group: string): Promise<number> {
    return Object.keys(withoutExpired(await this.store.membership(group), this.now(), shareSessionTimeoutMs).members).length;
  }

  /**
   * Starts the share partition at `startOffset` (kafka-share-groups --reset-offsets): every record
   * below it is done, none is in flight. Refused (GROUP_NOT_EMPTY) while a record of it is locked,
   * and (OFFSET_OUT_OF_RANGE) outside the log's offsets.
   */
  async resetStart(group: string, topic: TopicItem, partition: number, startOffset: number): Promise<void> {
    checkGroup(group);
    const range = await this.log.offsetRange(topic.name, partition);
    if (!Number.isSafeInteger(startOffset) || startOffset < range.earliest || startOffset > range.latest)
      throw new SpoolError(
        'OFFSET_OUT_OF_RANGE',
        `start offset ${startOffset} of ${topic.name}/${partition}: expected ${range.earliest} to ${range.latest}`,
      );
    await this.store.apply(group, topic.id, partition, (state) => {
      if (state && this.locked(state))
        throw new SpoolError('GROUP_NOT_EMPTY', `share group ${group} has records of ${topic.name}/${partition} locked to a holder`);
      // A new delay epoch (later than the old one, whatever the clock says): records the old state
      // deferred never come back into this one.
      const delayEpoch = Math.max(this.now(), (state?.delayEpoch ?? 0) + 1);
      return { next: { ...initialState(startOffset, delayEpoch), deadRecords: state?.deadRecords ?? 0 }, answer: undefined };
    });
  }

  /**
   * Forgets the group's share partitions of a topic (kafka-share-groups --delete-offsets): read
   * again from share.auto.offset.reset. Refused (GROUP_NOT_EMPTY) while a record of it is locked.
   */
  async forgetTopic(group: string, topicId: string): Promise<void> {
    checkGroup(group);
    await this.store.deletePartitions(group, topicId, (partitions) => {
      if (partitions.some(({ state }) => this.locked(state)))
        throw new SpoolError('GROUP_NOT_EMPTY', `share group ${group} has records of topic ${topicId} locked to a holder`);
    });
  }

  private locked(state: SharePartitionState): boolean {
    const nowMs = this.now();
    return state.ranges.some((r) => r.state === 'acquired' && r.lockedUntilMs! > nowMs);
  }

  /**
   * Waits, until `wakeMs` at the latest, for news a round of acquires found none of: records past
   * `waits` (each partition's offset), records released on this instance in the group's `topicIds`,
   * or `recheckMs` (a release on another instance); `wakeMs` is the first lock to expire, if sooner.
   */
  async waitForWork(
    group: string,
    topicIds: readonly string[],
    waits: readonly { topic: string; partition: number; offset: number }[],
    wakeMs: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const nowMs = this.now();
    const untilMs = Math.min(wakeMs, nowMs + recheckMs);
    const released = new AbortController();
    const linked = linkedSignal([signal, released.signal]);
    const stopWaiting = topicIds.map((topicId) => this.onRelease(group, topicId, () => released.abort()));
    try {
      if (waits.length > 0) await this.log.waitForRecords(waits, untilMs - nowMs, linked.signal);
      else await sleep(untilMs - nowMs, linked.signal);
    } finally {
      for (const stop of stopWaiting) stop();
      linked.dispose();
    }
  }

  private onRelease(group: string, topicId: string, wake: () => void): () => void {
    const key = `${group}\u0000${topicId}`;
    let waiters = this.releaseWaiters.get(key);
    if (!waiters) this.releaseWaiters.set(key, (waiters = new Set()));
    waiters.add(wake);
    return () => {
      waiters.delete(wake);
      if (waiters.size === 0) this.releaseWaiters.delete(key);
    };
  }

  private released(group: string, topicId: string): void {
    for (const wake of this.releaseWaiters.get(`${group}\u0000${topicId}`) ?? []) wake();
  }

  /** The topic from the log's short-lived cache (a receipt's topic id guards against a stale one); TOPIC_NOT_FOUND if none. */
  private async topic(name: string): Promise<TopicItem> {
    return (await this.log.cachedTopic(name)) ?? this.log.requireTopic(name);
  }

  private async config(group: string): Promise<StoredShareConfig> {
    const nowMs = this.now();
    const cached = this.configs.get(group);
    if (cached && cached.expiresMs > nowMs) return cached.config;
    const config = await this.store.config(group);
    this.configs.set(group, { config, expiresMs: nowMs + this.configCacheMs });
    return config;
  }

  private async receiveFrom(
    group: string,
    topic: TopicItem,
    partition: number,
    holder: string,
    maxRecords: number,
    lockMs: number,
    config: ShareGroupConfig,
  ): Promise<{ records: QueueRecord[]; waitOffset?: number; nextExpiryMs?: number }> {
    const { acquired, ...shape } = await this.acquire(group, topic, partition, holder, maxRecords, lockMs, config);
    if (acquired.length === 0) return { records: [], ...shape };
    const read = await this.read(topic, partition, acquired, holder, config['share.isolation.level']);
    // Records not due yet (a deliver-at header) wait in the delay index, not handed out.
    const later = deferrals(read.records, this.now(), maxDelayEntries);
    const records = later.held.size === 0 ? read.records : read.records.filter((r) => !later.held.has(r.offset));
    // Not settled now (a lock lost meanwhile): handed out again when it expires, and read again then.
    await this.settle(group, topic.id, partition, holder, [...read.gaps, ...read.unread, ...later.acks], config).catch(() => undefined);
    return { records, ...shape };
  }

  /** The group's settings in effect (read at most once per `configCacheMs`). */
  async settings(group: string): Promise<ShareGroupConfig> {
    return (await this.config(group)).effective;
  }

  /** The group's settings as stored now: those set, and those in effect. */
  configOf(group: string): Promise<StoredShareConfig> {
    checkGroup(group);
    return this.store.config(group);
  }

  /**
   * Acquires up to `maxRecords` records of one partition for `holder` (an HTTP receive's, or a Kafka
   * member's id), locked for `lockMs`; answers the acquired ranges, and when to look again if none:
   * past `waitOffset` (absent while the window is full) or at `nextExpiryMs` (a lock's end).
   */
  async acquire(
    group: string,
    topic: TopicItem,
    partition: number,
    holder: string,
    maxRecords: number,
    lockMs: number,
    config: ShareGroupConfig,
  ): Promise<{ acquired: readonly AcquiredRecords[]; waitOffset?: number; nextExpiryMs?: number }> {
    const isolation = config['share.isolation.level'];
    const range = await this.log.offsetRange(topic.name, partition);
    const logEndOffset = isolation === 'read_committed' ? range.lastStable : range.latest;
    const take = () =>
      this.change(group, topic.id, partition, config, noMessage, (stored, nowMs) => {
        const state = stored ?? initialState(config['share.auto.offset.reset'] === 'earliest' ? range.earliest : range.latest, nowMs);
        const { next, acquired } = acquireRecords(state, {
          member: holder,
          maxRecords,
          nowMs,
          lockMs,
          ...deathRules(config),
          maxInFlight: this.maxInFlight,
          logStartOffset: range.earliest,
          logEndOffset,
        });
        // A group's first read pins where it starts ("latest" must not move on with the log); a record
        // that died (its lock expired at the limit) is written dead, for its dead letter.
        const changed = acquired.length > 0 || stored === undefined || next.deadRecords !== state.deadRecords;
        return { next: changed ? next : null, answer: { acquired, next } };
      });
    let taken = await take();
    // Records due in the delay index come back, and are taken if nothing else was.
    const dueMs = taken.next.nextDueMs;
    if (
      dueMs !== undefined &&
      dueMs <= this.now() &&
      // Records may be acquired already: a failure here leaves the return to the next acquire.
      (await this.store.returnDue(group, topic.id, partition).catch(() => false)) &&
      taken.acquired.length === 0
    )
      taken = await take();
    const { next, acquired } = taken;
    const locks = next.ranges.filter((r) => r.state === 'acquired').map((r) => r.lockedUntilMs!);
    if (next.nextDueMs !== undefined) locks.push(next.nextDueMs); // a delayed record comes due: look again then
    // Where news may come from: records past those taken (none while the window is full), or past
    // the high watermark while a transaction holds the stable offset below it (read_committed).
    const full = next.endOffset - next.startOffset >= this.maxInFlight;
    const waitOffset = isolation === 'read_committed' && range.lastStable < range.latest ? range.latest : next.endOffset;
    return {
      acquired,
      ...(full ? {} : { waitOffset }),
      ...(locks.length > 0 ? { nextExpiryMs: Math.min(...locks) } : {}),
    };
  }

  /**
   * Settles `acks` of one partition as `holder`, all or nothing (as Kafka takes a request's
   * acknowledgements of a partition): answers the refusals (none: all settled). A RENEW locks the
   * records for `lockMs` (the group's lock duration by default).
   */
  async settle(
    group: string,
    topicId: string,
    partition: number,
    holder: string,
    acks: readonly Acknowledgement[],
    config: ShareGroupConfig,
    lockMs = config['share.record.lock.duration.ms'],
  ): Promise<readonly AckRefusal[]> {
    if (acks.length === 0) return [];
    const refused = await this.change(group, topicId, partition, config, noMessage, (state, nowMs) => {
      if (state === undefined)
        return { next: null, answer: acks.map((a) => ({ ...a, reason: 'the group has handed out no record of this partition' })) };
      const { next, refused, deferred } = acknowledge(state, holder, acks, {
        nowMs,
        ...deathRules(config),
        lockMs,
        maxDeferred: maxDelayEntries,
      });
      return { next: refused.length === 0 ? next : null, answer: refused, deferred };
    });
    if (refused.length === 0 && acks.some((a) => a.type === 'release' || a.type === 'unread')) this.released(group, topicId);
    return refused;
  }

  /**
   * Releases what `holder` still holds under a live lock among `ranges` of the partition (the records
   * a Kafka share session handed out, when it ends; `ranges` must not overlap), decided on the state
   * the write replaces: a lock that ended meanwhile, or a record handed out again since, is left alone.
   */
  async releaseHeld(
    group: string,
    topicId: string,
    partition: number,
    holder: string,
    ranges: readonly AcquiredRecords[],
    config: ShareGroupConfig,
  ): Promise<void> {
    if (ranges.length === 0) return;
    const released = await this.change(group, topicId, partition, config, noMessage, (state, nowMs) => {
      if (state === undefined) return { next: null, answer: false };
      // The same delivery only: each acquisition counts one more, so a record the holder acquired
      // again since (through another session, after its lock ended) has another count, and stays.
      const acks = state.ranges
        .filter((r) => r.state === 'acquired' && r.member === holder && r.lockedUntilMs! > nowMs)
        .flatMap((r) =>
          ranges
            .filter((mine) => mine.first <= r.last && mine.last >= r.first && mine.deliveryCount === r.deliveryCount)
            .map((mine) => ({ first: Math.max(r.first, mine.first), last: Math.min(r.last, mine.last), type: 'release' as const })),
        );
      if (acks.length === 0) return { next: null, answer: false };
      const { next, refused } = acknowledge(state, holder, acks, { nowMs, ...deathRules(config), lockMs: 0 });
      return { next: refused.length === 0 ? next : null, answer: refused.length === 0 };
    });
    if (released) this.released(group, topicId);
  }

  /**
   * The one way this service changes a share partition: as `decide` says, with the dead letters the
   * change made, or whose writer's claim ran out, claimed in the same write (share-partition.ts
   * invariant 6); once written, they are written to the dead-letter topic, then archived.
   */
  private async change<T>(
    group: string,
    topicId: string,
    partition: number,
    config: ShareGroupConfig,
    messageOf: (offset: number) => string | undefined,
    decide: DecideShare<T>,
  ): Promise<T> {
    const { answer, letters } = await this.store.apply(group, topicId, partition, (state, nowMs) => {
      const decided = decide(state, nowMs);
      const after = decided.next ?? state;
      if (after === undefined) return { next: decided.next, answer: { answer: decided.answer, letters: [] } };
      const { next, claimed } = claimDeadLetters(state, after, nowMs);
      return {
        next: claimed.length > 0 ? next : decided.next,
        answer: { answer: decided.answer, letters: claimed },
        ...(decided.deferred ? { deferred: decided.deferred } : {}),
      };
    });
    if (letters.length > 0) await this.writeDeadLetters(group, topicId, partition, letters, config, messageOf);
    return answer;
  }

  /**
   * Writes dead letters, then archives their records, whether the write succeeded or not (as Kafka
   * 4.4 does: "proceeding to ARCHIVED regardless"; a record is never delivered again for want of
   * its dead letter). A write this instance does not live to archive is written again by whoever
   * next takes the claim: at least once.
   */
  private async writeDeadLetters(
    group: string,
    topicId: string,
    partition: number,
    letters: readonly DeadLetterRange[],
    config: ShareGroupConfig,
    messageOf: (offset: number) => string | undefined,
  ): Promise<void> {
    try {
      await this.produceDeadLetters(group, topicId, partition, letters, config, messageOf);
    } catch (error) {
      this.logger.log('error', 'Failed to write to DLQ, proceeding to ARCHIVED regardless.', {
        group,
        topic_id: topicId,
        partition,
        offsets: letters.map((l) => `${l.first}-${l.last}`).join(','),
        message: error instanceof Error ? error.message : String(error),
      });
    }
    await this.store.apply(group, topicId, partition, (state) => {
      const archiving = state?.ranges.some((r) => r.state === 'archiving' && letters.some((l) => l.first <= r.last && r.first <= l.last));
      return { next: archiving ? deadLettered(state!, letters) : null, answer: undefined };
    });
  }

  /** The dead letters' records, to the group's dead-letter topic, checked as Kafka 4.4 checks it when it writes. */
  private async produceDeadLetters(
    group: string,
    topicId: string,
    partition: number,
    letters: readonly DeadLetterRange[],
    config: ShareGroupConfig,
    messageOf: (offset: number) => string | undefined,
  ): Promise<void> {
    const name = config['errors.deadletterqueue.topic.name'];
    if (name === '') return; // the setting was removed since the records died: archived only
    if (name.startsWith('__'))
      throw new SpoolError('INVALID_CONFIG', `Configured DLQ topic name in share group: ${group} cannot start with __, topic: ${name}.`);
    // Kafka 4.4's checks, in its order; the opt-in is checked again of a topic created meanwhile.
    const notEnabled = () =>
      new SpoolError('INVALID_CONFIG', `DLQ is not enabled on configured DLQ topic for share group: ${group}, topic: ${name}.`);
    let dlq = await this.log.cachedTopic(name);
    if (dlq !== undefined && !dlq.config['errors.deadletterqueue.group.enable']) throw notEnabled();
    if (dlq === undefined && !this.autoCreateDeadLetterTopics)
      throw new SpoolError(
        'TOPIC_NOT_FOUND',
        `DLQ topic does not exist and auto create is disabled on cluster for share group: ${group}, topic: ${name}.`,
      );
    if (this.deadLetterTopicPrefix !== '' && !name.startsWith(this.deadLetterTopicPrefix))
      throw new SpoolError(
        'INVALID_CONFIG',
        `Configured DLQ topic name does not comply with the DLQ topic prefix in share group: ${group}, topic: ${name}, prefix: ${this.deadLetterTopicPrefix}.`,
      );
    // Created by another instance meanwhile: that one, then (its opt-in checked as any).
    dlq ??= await this.log
      .createTopic(name, undefined, { 'errors.deadletterqueue.group.enable': true, 'message.timestamp.type': 'CreateTime' })
      .catch(async (error: unknown) => {
        if (error instanceof SpoolError && error.code === 'TOPIC_ALREADY_EXISTS') return this.log.requireTopic(name);
        throw error;
      });
    if (!dlq.config['errors.deadletterqueue.group.enable']) throw notEnabled();
    // A dead letter in its own source partition would be handed out again, and die again, without end.
    if (dlq.id === topicId)
      throw new SpoolError('INVALID_CONFIG', `DLQ topic of share group ${group} is the topic its records died in: ${name}.`);
    const source = await this.log.topicById(topicId);
    const copies =
      config['errors.deadletterqueue.copy.record.enable'] && source ? await this.copies(source, partition, letters) : new Map();
    const nowMs = this.now();
    const text = (value: string | number): Buffer => Buffer.from(String(value), 'utf8');
    const records: ProduceRecord[] = letters.flatMap((letter) =>
      Array.from({ length: letter.last - letter.first + 1 }, (_, i): ProduceRecord => {
        const offset = letter.first + i;
        const copy = copies.get(offset);
        const headers: RecordHeader[] = [
          { key: deadLetterHeaders.topic, value: text(source?.name ?? topicId) },
          { key: deadLetterHeaders.partition, value: text(partition) },
          { key: deadLetterHeaders.offset, value: text(offset) },
          { key: deadLetterHeaders.group, value: text(group) },
          { key: deadLetterHeaders.deliveryCount, value: text(letter.deliveryCount) },
          {
            key: deadLetterHeaders.message,
            value: text((letter.cause === 'rejected' ? messageOf(offset) : undefined) ?? deadLetterMessages[letter.cause]),
          },
        ];
        return { key: copy?.key ?? null, value: copy?.value ?? null, headers, timestampMs: nowMs, partition: partition % dlq!.partitions };
      }),
    );
    await this.log.produce(name, records, { acks: 'all' });
  }

  /** The records dead letters copy, by offset; none if they cannot be read (the letters carry headers only, as Kafka's then). */
  private async copies(topic: TopicItem, partition: number, letters: readonly DeadLetterRange[]): Promise<Map<number, DecodedRecord>> {
    const out = new Map<number, DecodedRecord>();
    try {
      for (const letter of letters) {
        let offset = letter.first;
        while (offset <= letter.last) {
          const fetched = await this.log.fetch(topic.name, partition, offset, {
            maxRecords: letter.last - offset + 1,
            maxBytes: readBytes,
          });
          const records = fetched.records.filter((r) => r.offset >= offset && r.offset <= letter.last);
          for (const record of records) out.set(record.offset, record);
          if (fetched.nextOffset <= offset) break;
          offset = fetched.nextOffset;
        }
      }
    } catch (error) {
      this.logger.log('warn', 'DLQ records will be produced with headers only for this round', {
        topic: topic.name,
        partition,
        message: error instanceof Error ? error.message : String(error),
      });
      return new Map();
    }
    return out;
  }

  /**
   * Reads the acquired records. An offset is a gap only where the log shows it holds no record: a
   * fetch went past it without returning it (a marker, an aborted record read_committed, a compacted
   * topic's hole), or it is below the log's start. Offsets a fetch cannot reach yet (at or past the
   * end it reads to) are given back unread (not a delivery), not gaps.
   */
  private async read(
    topic: TopicItem,
    partition: number,
    acquired: readonly AcquiredRecords[],
    holder: string,
    isolation: ShareGroupConfig['share.isolation.level'],
  ): Promise<{ records: QueueRecord[]; gaps: Acknowledgement[]; unread: Acknowledgement[] }> {
    const records: QueueRecord[] = [];
    const gaps: Acknowledgement[] = [];
    const unread: Acknowledgement[] = [];
    const gap = (first: number, last: number) => {
      if (first <= last) gaps.push({ first, last, type: 'gap' });
    };
    for (const batch of acquired) {
      let offset = batch.first;
      while (offset <= batch.last) {
        let fetched: Awaited<ReturnType<Log['fetch']>>;
        try {
          fetched = await this.log.fetch(topic.name, partition, offset, {
            maxRecords: batch.last - offset + 1,
            maxBytes: readBytes,
            isolation,
          });
        } catch (error) {
          if (!(error instanceof SpoolError && error.code === 'OFFSET_OUT_OF_RANGE')) throw error;
          const earliest = error.details?.earliest_offset;
          if (typeof earliest !== 'number' || earliest <= offset) break; // past the end: unread
          // Retention or DeleteRecords removed them since they were acquired.
          gap(offset, Math.min(earliest, batch.last + 1) - 1);
          offset = earliest;
          continue;
        }
        const before = offset;
        for (const record of fetched.records) {
          if (record.offset > batch.last) break;
          gap(offset, record.offset - 1);
          const receipt = encodeReceipt({ topicId: topic.id, partition, offset: record.offset, holder });
          records.push({ ...record, partition, deliveryCount: batch.deliveryCount, receipt });
          offset = record.offset + 1;
        }
        if (offset > before) continue; // records came: read on from after them
        if (fetched.nextOffset > offset) {
          // The fetch went past these offsets and found no record in them.
          const readTo = Math.min(fetched.nextOffset, batch.last + 1);
          gap(offset, readTo - 1);
          offset = readTo;
          continue;
        }
        break; // not readable yet (past the end this isolation reads to)
      }
      if (offset <= batch.last) unread.push({ first: offset, last: batch.last, type: 'unread' });
    }
    return { records, gaps, unread };
  }

  private async view(share: ListedSharePartition, config: ShareGroupConfig): Promise<SharePartitionView | undefined> {
    const topic = await this.log.topicById(share.topicId);
    if (topic === undefined || share.partition >= topic.partitions) return undefined; // deleted: its state goes with the group
    const range = await this.log.offsetRange(topic.name, share.partition);
    const logEndOffset = config['share.isolation.level'] === 'read_committed' ? range.lastStable : range.latest;
    const state = expireLocks(share.state, { nowMs: this.now(), deliveryLimit: config['share.delivery.count.limit'] });
    const inFlight = counts(state);
    return {
      topic: topic.name,
      partition: share.partition,
      startOffset: state.startOffset,
      endOffset: state.endOffset,
      logEndOffset,
      acquired: inFlight.acquired,
      available: inFlight.available + Math.max(0, logEndOffset - Math.max(state.endOffset, range.earliest)),
      dead: state.deadRecords,
      delayed: state.delayedRecords,
    };
  }
}

/** What decides a record's death in the group: its delivery limit, and whether it gets a dead letter. */
function deathRules(config: ShareGroupConfig): { deliveryLimit: number; deadLetters: boolean } {
  return { deliveryLimit: config['share.delivery.count.limit'], deadLetters: config['errors.deadletterqueue.topic.name'] !== '' };
}

const noMessage = (): undefined => undefined;

/** Why an acknowledgement settled nothing, from the state it was judged on. */
function refusedStatus(state: SharePartitionState, ack: QueueAck, nowMs: number): AckStatus {
  if (!Number.isSafeInteger(ack.first) || !Number.isSafeInteger(ack.last) || ack.first > ack.last || ack.first < 0) return 'invalid';
  if (ack.last >= state.endOffset) return 'invalid';
  const overlapping = state.ranges.filter((r) => r.last >= ack.first && r.first <= ack.last);
  if (overlapping.every((r) => r.state === 'acknowledged' || r.state === 'archiving' || r.state === 'archived')) return 'already_settled';
  // Partly settled, partly still this holder's: nothing was settled, and nothing will be delivered again.
  if (overlapping.some((r) => r.state === 'acquired' && r.member === ack.holder && r.lockedUntilMs! > nowMs)) return 'invalid';
  return 'lock_expired';
}

// ---- receipts ----------------------------------------------------------------------------------------

export interface Receipt {
  readonly topicId: string;
  readonly partition: number;
  readonly offset: number;
  readonly holder: string;
}

const receiptVersion = 'r1';

/** Opaque to clients: base64url of the version, topic incarnation, partition, offset and holder. */
export function encodeReceipt(receipt: Receipt): string {
  return Buffer.from([receiptVersion, receipt.topicId, receipt.partition, receipt.offset, receipt.holder].join(' ')).toString('base64url');
}

/** The receipt's fields, or INVALID_ARGUMENT naming `field`. */
export function decodeReceipt(text: string, field: string): Receipt {
  const parts = /^[A-Za-z0-9_-]{1,400}$/.test(text) ? Buffer.from(text, 'base64url').toString('utf8').split(' ') : [];
  const [version, topicId, partition, offset, holder] = parts;
  if (
    parts.length !== 5 ||
    version !== receiptVersion ||
    !/^\d{1,9}$/.test(partition!) ||
    !/^\d{1,16}$/.test(offset!) ||
    !topicId ||
    !holder
  )
    throw new SpoolError(
      'INVALID_ARGUMENT',
      `${field}: expected a receipt as a receive answered it, got ${JSON.stringify(text.slice(0, 40))}`,
      {
        details: { field },
      },
    );
  return { topicId, partition: Number(partition), offset: Number(offset), holder };
}

function checkGroup(group: string): void {
  if (group.length === 0 || Buffer.byteLength(group) > maxGroupBytes)
    throw new SpoolError('INVALID_ARGUMENT', `group: expected 1 to ${maxGroupBytes} bytes, got ${Buffer.byteLength(group)}`, {
      details: { field: 'group' },
    });
}
