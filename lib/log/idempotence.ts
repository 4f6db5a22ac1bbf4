/**
 * Idempotent producers: a batch retried with the same (producer id, epoch, sequence) is acknowledged
 * with its first offsets and never appended twice; a gap in sequences is refused.
 *
 * State, per partition and producer id, lives in the MetadataStore beside the partition's own item
 * (lib/keys.ts, "producer state"): producerEpoch, nextSequence, and the last 5 committed batches
 * (firstSequence, lastSequence, baseOffset).
 *
 * Invariants:
 *  1. The item changes only in the commit transaction that appends the producer's batches, with a
 *     condition that it is as this writer last saw it (absent, or its epoch and next sequence). So a
 *     duplicate can never be appended by two writers (two agents, a leader change, a zombie): the
 *     second transaction fails, and the client's retry finds the batch in the item.
 *  2. Sequences are checked against committed state plus batches accepted but not committed yet, so
 *     pipelined batches (up to 5 in flight, as Kafka clients send) are accepted in order.
 *  3. Any failure forgets the cached state of that producer and partition: the next batch reloads it
 *     from the store, strongly consistently. A leader change therefore keeps producer state.
 *  4. A batch is refused only on state read from the store: when the cached state would refuse it
 *     (and nothing of the producer is pending here), the state is read again first, since another
 *     writer may have appended for the producer meanwhile (leadership moved away and came back).
 *     An append decided on a stale cache needs no such read: its commit condition catches it (1).
 *
 * Expiry (Kafka's producer.id.expiration.ms, default one day): the commit stamps the item with its
 * time (`lastWriteMs`, the committing writer's clock, not the producer's record timestamps). A state
 * not written for the expiration time is no state: its batches are forgotten, and the producer is
 * as unknown as one that never wrote (at the expiration time itself: Kafka forgets at its next check,
 * up to 10 minutes later). An unknown producer may continue its sequences on a partition
 * that has held records (its state expired there: Kafka since 2.5, KIP-360), but its first batch on
 * a partition that never held a record must start at 0 (Kafka 4.5, KAFKA-15591: otherwise a batch
 * overtaking a retried one of a new producer would be taken, and the retried one refused for good).
 * An expired item is overwritten by the producer's next commit (its condition is the item as read,
 * expired or not), and maintenance deletes it (maintenance/producers.ts): expiry is decided on read,
 * so the deletion changes nothing a producer sees.
 *
 * Cost: one more item in the flush's transaction per idempotent producer per partition touched
 * (2 write units; transactional writes cost double). Where maintenance runs, items live at most the
 * expiration time plus its check interval after their last write. This writer's cache forgets a
 * producer unused for `cacheIdleMs` (it is read again if it comes back): memory follows the
 * producers in use.
 */
import { SpoolError } from '../errors.js';
import { ConditionFailedError, type Attributes, type Condition, type Item, type MetadataStore } from '../storage/ports.js';
import { partitionKey, partitionPk, producerIdOfSk, producerIdsKey, producerStateKey, producerStateSks } from '../keys.js';
import { partitionStateFromItem } from './layout.js';

/** How many committed batches per producer are remembered for duplicate detection (Kafka's 5 in flight). */
export const rememberedBatches = 5;

export interface ProducerBatch {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly firstSequence: number;
  readonly lastSequence: number;
  /** A transactional batch: the marker version it was verified under (commit.ts, ChunkProducer). */
  readonly transaction?: { readonly markerVersion: number };
}

export interface CommittedBatch {
  readonly firstSequence: number;
  readonly lastSequence: number;
  readonly baseOffset: number;
}

export interface ProducerState {
  readonly producerEpoch: number;
  readonly nextSequence: number;
  readonly batches: readonly CommittedBatch[];
  /** When the commit that wrote this state was made (the writer's clock); undefined on an item written before expiry existed. */
  readonly lastWriteMs?: number;
  /** A transactional producer's open transaction on the partition: the offset of its first batch (cleared by the marker). */
  readonly txnFirstOffset?: number;
  /** The coordinator's version of the last transaction marker written for the producer here (commit.ts). */
  readonly markerVersion?: number;
}

/** Kafka's producer.id.expiration.ms default: a producer's state is kept a day after its last write. */
export const defaultProducerIdExpirationMs = 86_400_000;

export type SequenceVerdict =
  | { readonly kind: 'append' }
  | { readonly kind: 'duplicate'; readonly baseOffset: number | Promise<number> }
  | { readonly kind: 'refuse'; readonly error: SpoolError };

interface Pending {
  readonly transactional: boolean;
  readonly producerEpoch: number;
  readonly firstSequence: number;
  readonly lastSequence: number;
  readonly baseOffset: Promise<number>;
}

interface Entry {
  /** As in the store after this writer's last commit (expired or not); null: no item. */
  committed: ProducerState | null;
  pending: Pending[];
  /** When this writer last checked a batch of the producer (the cache drops it after `cacheIdleMs`). */
  usedMs: number;
}

export function producerStateFromItem(item: Item | undefined): ProducerState | null {
  if (item === undefined) return null;
  const a = item.attrs;
  return {
    producerEpoch: a.producerEpoch as number,
    nextSequence: a.nextSequence as number,
    batches: (a.batches as unknown as CommittedBatch[]) ?? [],
    ...(typeof a.lastWriteMs === 'number' ? { lastWriteMs: a.lastWriteMs } : {}),
    ...(typeof a.txnFirstOffset === 'number' ? { txnFirstOffset: a.txnFirstOffset } : {}),
    ...(typeof a.markerVersion === 'number' ? { markerVersion: a.markerVersion } : {}),
  };
}

export function producerStateAttrs(state: ProducerState): Attributes {
  const attrs: Attributes = {
    producerEpoch: state.producerEpoch,
    nextSequence: state.nextSequence,
    batches: state.batches.map((batch) => ({ ...batch })),
  };
  return {
    ...attrs,
    ...(state.lastWriteMs === undefined ? {} : { lastWriteMs: state.lastWriteMs }),
    ...(state.txnFirstOffset === undefined ? {} : { txnFirstOffset: state.txnFirstOffset }),
    ...(state.markerVersion === undefined ? {} : { markerVersion: state.markerVersion }),
  };
}

/**
 * The condition a write of a producer's state holds: the item as `before` was read (absent, or its
 * epoch, next sequence and marker version: a marker written meanwhile, by any writer, ended the
 * transaction a batch was verified for).
 */
export function producerStateCondition(before: ProducerState | null): Condition {
  return before === null
    ? { kind: 'absent' }
    : {
        kind: 'match',
        fields: { producerEpoch: before.producerEpoch, nextSequence: before.nextSequence, markerVersion: before.markerVersion ?? null },
      };
}

/**
 * Whether a stored state has expired at `nowMs`: not written for `expirationMs`. An item with no time
 * (older than expiry) has not, nor one with an open transaction (as in Kafka: its marker must find it).
 */
export function isExpired(state: ProducerState, nowMs: number, expirationMs: number): boolean {
  return state.txnFirstOffset === undefined && state.lastWriteMs !== undefined && nowMs - state.lastWriteMs >= expirationMs;
}

/** The sequence `increment` after `sequence`: Kafka's sequences wrap from 2^31 - 1 to 0 (DefaultRecordBatch.incrementSequence). */
export function incrementSequence(sequence: number, increment: number): number {
  return sequence > 0x7fffffff - increment ? increment - (0x7fffffff - sequence) - 1 : sequence + increment;
}

function nextAfter(sequence: number): number {
  return incrementSequence(sequence, 1);
}

/**
 * The rule, pure: what to do with `batch` given the producer's state (committed, then pending; null:
 * unknown here, never written or expired). `partitionWritten`: the partition has held records, so an
 * unknown producer may continue its sequences (see the module comment).
 */
export function checkSequence(
  state: { producerEpoch: number; nextSequence: number } | null,
  known: readonly { firstSequence: number; lastSequence: number; producerEpoch: number; baseOffset: number | Promise<number> }[],
  batch: ProducerBatch,
  where: string,
  partitionWritten = false,
): SequenceVerdict {
  const duplicate = known.find(
    (k) => k.producerEpoch === batch.producerEpoch && k.firstSequence === batch.firstSequence && k.lastSequence === batch.lastSequence,
  );
  if (duplicate) return { kind: 'duplicate', baseOffset: duplicate.baseOffset };
  if (state !== null && batch.producerEpoch < state.producerEpoch) {
    return refuse(
      'INVALID_PRODUCER_EPOCH',
      `producer ${batch.producerId} epoch ${batch.producerEpoch} on ${where} is older than its current epoch ${state.producerEpoch}`,
    );
  }
  if (state === null && partitionWritten) return { kind: 'append' };
  const expected = state === null || batch.producerEpoch > state.producerEpoch ? 0 : state.nextSequence;
  if (batch.firstSequence !== expected) {
    return refuse(
      'OUT_OF_ORDER_SEQUENCE',
      `producer ${batch.producerId} (epoch ${batch.producerEpoch}) on ${where}: expected sequence ${expected}, got ${batch.firstSequence}`,
    );
  }
  return { kind: 'append' };
}

function refuse(code: 'INVALID_PRODUCER_EPOCH' | 'OUT_OF_ORDER_SEQUENCE', message: string): SequenceVerdict {
  return { kind: 'refuse', error: new SpoolError(code, message) };
}

/** The state after appending `batches` (in order) at their offsets, in a commit made at `nowMs`; `state`: the live one (not expired), or null. */
export function advance(
  state: ProducerState | null,
  producerEpoch: number,
  batches: readonly CommittedBatch[],
  nowMs: number,
): ProducerState {
  const kept = state !== null && state.producerEpoch === producerEpoch ? state.batches : [];
  return {
    producerEpoch,
    nextSequence: nextAfter(batches[batches.length - 1]!.lastSequence),
    batches: [...kept, ...batches].slice(-rememberedBatches),
    lastWriteMs: nowMs,
  };
}

export interface ProducerStatesOptions {
  /** Kafka's producer.id.expiration.ms. @default 86 400 000 (a day) */
  readonly expirationMs?: number;
  /** A producer not used by this writer for this long is dropped from its cache (read again when it comes back). @default 600 000 */
  readonly cacheIdleMs?: number;
  readonly now?: () => number;
  /** A producer's stored state where the store's item is not all of it (a partition this writer packs: packing.ts); undefined: the item. */
  readonly readState?: (topicId: string, partition: number, producerId: number) => Promise<ProducerState | null> | undefined;
  /** A partition's end where its item's `nextOffset` is not all of it (a packed partition's tail: packed.ts); undefined: the item's. */
  readonly partitionEnd?: (topicId: string, partition: number) => Promise<number | undefined> | undefined;
}

/**
 * This writer's view of producer states: committed (as the store holds them after its commits) and
 * pending (accepted, not committed). Shared by the Log (checks) and the Committer (writes).
 */
export class ProducerStates {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  readonly expirationMs: number;
  private readonly cacheIdleMs: number;
  private lastPruneMs: number;
  readonly stats = { loads: 0 };

  constructor(
    private readonly metadata: MetadataStore,
    private readonly options: ProducerStatesOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.expirationMs = options.expirationMs ?? defaultProducerIdExpirationMs;
    this.cacheIdleMs = options.cacheIdleMs ?? 600_000;
    this.lastPruneMs = this.now();
  }

  /**
   * Checks a batch. On `append` the batch is recorded as pending at once (so the next batch of the
   * same producer is checked against it), and the caller must `settle` it with the append's outcome.
   */
  async accept(
    topicId: string,
    partition: number,
    batch: ProducerBatch,
    where: string,
  ): Promise<{ verdict: SequenceVerdict; settle?: (baseOffset: Promise<number>) => void }> {
    this.prune();
    const id = stateId(topicId, partition, batch.producerId);
    let entry = await this.entry(topicId, partition, batch.producerId);
    let verdict = this.check(entry, batch, where, false);
    if (verdict.kind === 'refuse' && entry.pending.length === 0 && this.entries.get(id) === entry) {
      // A refusal must rest on the store's state, not on what this writer last saw: another writer may
      // have appended for the producer since (leadership moved away and came back). Read it again; and
      // an unknown producer continuing its sequences is taken where the partition has held records.
      this.entries.delete(id);
      entry = await this.entry(topicId, partition, batch.producerId);
      const unknown = entry.pending.length === 0 && this.live(entry.committed) === null;
      verdict = this.check(entry, batch, where, unknown && batch.firstSequence !== 0 && (await this.partitionWritten(topicId, partition)));
    }
    if (verdict.kind !== 'append') return { verdict };
    let settled!: (baseOffset: Promise<number>) => void;
    const baseOffset = new Promise<number>((resolve) => (settled = (outcome) => resolve(outcome)));
    const pending: Pending = {
      transactional: batch.transaction !== undefined,
      producerEpoch: batch.producerEpoch,
      firstSequence: batch.firstSequence,
      lastSequence: batch.lastSequence,
      baseOffset,
    };
    entry.pending.push(pending);
    baseOffset.then(
      () => {
        const index = entry.pending.indexOf(pending);
        if (index >= 0) entry.pending.splice(index, 1);
      },
      () => {
        // What was pending behind a failure cannot commit either (its condition will not hold): start over from the store.
        if (this.entries.get(id) === entry) this.entries.delete(id);
      },
    );
    return { verdict, settle: settled };
  }

  /** The committed state as this writer knows it, expired or not; undefined: unknown (load it first). */
  committed(topicId: string, partition: number, producerId: number): ProducerState | null | undefined {
    return this.entries.get(stateId(topicId, partition, producerId))?.committed;
  }

  /** `state` if it has not expired, else null (no state). */
  live(state: ProducerState | null): ProducerState | null {
    return state !== null && isExpired(state, this.now(), this.expirationMs) ? null : state;
  }

  async load(topicId: string, partition: number, producerId: number): Promise<ProducerState | null> {
    this.prune();
    return (await this.entry(topicId, partition, producerId)).committed;
  }

  /**
   * The committed state as the store holds it now, read again unless batches of the producer are
   * pending here (then this writer's view is the one its commits will be checked against). For a
   * decision another writer's commit may have changed: a transaction marker written elsewhere.
   */
  async fresh(topicId: string, partition: number, producerId: number): Promise<ProducerState | null> {
    const id = stateId(topicId, partition, producerId);
    if ((this.entries.get(id)?.pending.length ?? 0) === 0) this.entries.delete(id);
    return this.load(topicId, partition, producerId);
  }

  /** Whether a transactional batch of the producer is accepted here and not committed yet. */
  transactionalPending(topicId: string, partition: number, producerId: number): boolean {
    return this.entries.get(stateId(topicId, partition, producerId))?.pending.some((p) => p.transactional) ?? false;
  }

  /** Called by the committer, in commit order, once a transaction holding the producer's write landed. */
  committedAs(topicId: string, partition: number, producerId: number, state: ProducerState): void {
    const entry = this.entries.get(stateId(topicId, partition, producerId));
    if (entry) entry.committed = state;
  }

  /** Every producer with live (unexpired) state on the partition, as the store holds it (DescribeProducers). */
  async list(topicId: string, partition: number): Promise<{ readonly producerId: number; readonly state: ProducerState }[]> {
    const items = await this.metadata.query(partitionPk(topicId, partition), producerStateSks);
    return items
      .map((item) => ({ producerId: producerIdOfSk(item.sk), state: producerStateFromItem(item)! }))
      .filter(({ state }) => this.live(state) !== null);
  }

  forget(topicId: string, partition: number, producerId: number): void {
    this.entries.delete(stateId(topicId, partition, producerId));
  }

  /** Forgets every producer of the partition with nothing pending here (their states are read again from the store). */
  forgetPartition(topicId: string, partition: number): void {
    const prefix = `${topicId}#${partition}#`;
    for (const [id, entry] of this.entries) if (id.startsWith(prefix) && entry.pending.length === 0) this.entries.delete(id);
  }

  /** Producers this writer holds in memory (for tests and stats). */
  get cached(): number {
    return this.entries.size;
  }

  private async entry(topicId: string, partition: number, producerId: number): Promise<Entry> {
    const id = stateId(topicId, partition, producerId);
    const cached = this.entries.get(id);
    if (cached) {
      cached.usedMs = this.now();
      return cached;
    }
    this.stats.loads++;
    const read = this.options.readState?.(topicId, partition, producerId);
    const committed =
      read !== undefined ? await read : producerStateFromItem(await this.metadata.get(producerStateKey(topicId, partition, producerId)));
    // Another call may have loaded it meanwhile; keep the first so pending batches are not lost.
    const existing = this.entries.get(id);
    if (existing) return existing;
    const entry: Entry = { committed, pending: [], usedMs: this.now() };
    this.entries.set(id, entry);
    return entry;
  }

  /** Whether the partition has ever held a record (its end offset moved), read from the store. */
  private async partitionWritten(topicId: string, partition: number): Promise<boolean> {
    const end = this.options.partitionEnd?.(topicId, partition);
    if (end !== undefined) return ((await end) ?? 0) > 0;
    const item = await this.metadata.get(partitionKey(topicId, partition));
    return item !== undefined && partitionStateFromItem(item).nextOffset > 0;
  }

  /** Drops producers unused for `cacheIdleMs` with nothing pending, at most once per a tenth of that. */
  private prune(): void {
    const nowMs = this.now();
    if (nowMs - this.lastPruneMs < this.cacheIdleMs / 10) return;
    this.lastPruneMs = nowMs;
    for (const [id, entry] of this.entries)
      if (entry.pending.length === 0 && nowMs - entry.usedMs >= this.cacheIdleMs) this.entries.delete(id);
  }

  /** The verdict on `batch` against what this writer knows: live committed state, then its pending batches. */
  private check(entry: Entry, batch: ProducerBatch, where: string, partitionWritten: boolean): SequenceVerdict {
    const committed = this.live(entry.committed);
    const known = [...(committed?.batches ?? []).map((b) => ({ ...b, producerEpoch: committed!.producerEpoch })), ...entry.pending];
    const last = entry.pending[entry.pending.length - 1];
    const state = last ? { producerEpoch: last.producerEpoch, nextSequence: nextAfter(last.lastSequence) } : committed;
    return checkSequence(state, known, batch, where, partitionWritten);
  }
}

function stateId(topicId: string, partition: number, producerId: number): string {
  return `${topicId}#${partition}#${producerId}`;
}

/**
 * Producer ids, unique across every writer sharing the store: each writer reserves a block by a
 * compare-and-set of the shared counter and hands ids out of it. Ids of a block not used before a
 * writer stops are never used (ids are plentiful: 2^53).
 */
export class ProducerIds {
  private next = 0;
  private end = 0;
  private reserving: Promise<void> | undefined;

  constructor(
    private readonly metadata: MetadataStore,
    private readonly blockSize = 1000,
  ) {}

  async allocate(): Promise<number> {
    while (this.next >= this.end) await (this.reserving ??= this.reserve().finally(() => (this.reserving = undefined)));
    return this.next++;
  }

  private async reserve(): Promise<void> {
    let current = (await this.metadata.get(producerIdsKey))?.attrs.next as number | undefined;
    for (;;) {
      const start = current ?? 0;
      try {
        await this.metadata.write({
          kind: 'put',
          key: producerIdsKey,
          attrs: { next: start + this.blockSize },
          condition: current === undefined ? { kind: 'absent' } : { kind: 'match', fields: { next: current } },
        });
        this.next = start;
        this.end = start + this.blockSize;
        return;
      } catch (error) {
        if (!(error instanceof ConditionFailedError)) throw error;
        current = error.current?.attrs.next as number | undefined;
      }
    }
  }
}
