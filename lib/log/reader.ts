/**
 * The read path: locate, read, patch, filter, wait.
 *
 * The high watermark and log start come from a strongly consistent read of the partition item, and
 * only offsets below that high watermark are read: every such offset has a committed row whose chunk
 * was stored before the commit, so a reader never sees an offset before its data. A fetch finds the
 * row at or below the offset (floor lookup: query descending, limit 1), then walks forward; chunks
 * come from the in-memory cache or a ranged GET of the segment object. Batches are copied and their
 * baseOffset patched from the row (stored batches carry relative offsets). In a compacted topic a
 * row's span may hold fewer records than offsets (the log cleaner removed some, maintenance/cleaner.ts):
 * a row read to its end moves the read past its whole span, so a fetch at a removed offset answers
 * the next record, and the partition's newest record is never removed, so one is always ahead.
 *
 * Long-polls wake on local commits at once. For other writers' commits, the partitions someone waits
 * on are watched: one consistent read per watched partition every `pollIntervalMs`, however many
 * fetches wait on it, and only the waiters it has news for read again. A long-poll's first look at a
 * partition takes the last consistent read of it (`recentState`) when that is under one watch
 * interval old and the offset asked for is that read's high watermark (the idle consumer's case):
 * the look finds nothing new, anything committed past that offset since wakes the long-poll within
 * one watch interval (as the watch's own read would), and no row is read, so a log start that moved
 * since cannot mislead it (below the high watermark, the look reads afresh). The agent's own commits
 * and record deletions forget the partition's last read. So the cost of idle consumers is per
 * partition and agent, not per partition and consumer; and nothing for a partition this agent packs
 * (packed commits: no other writer commits there, so its end in memory is the partition's end).
 */
import { SpoolError } from '../errors.js';
import { LRUCache } from 'lru-cache';
import pMap from 'p-map';
import {
  batchesIn,
  decodeRecordBatch,
  patchBaseOffset,
  readBatchHeader,
  repairMaxTimestamp,
  txnMarkerType,
  type BatchHeader,
  type DecodedRecord,
} from '../format/index.js';
import type { MetadataStore, ObjectStore } from '../storage/ports.js';
import type { ChunkCache } from './cache.js';
import { offsetForTime, positionFor } from './segment-index.js';
import { readPackedPartition, rowOf } from './packed.js';
import { readPackedCommits, type PackedCommit } from './writer-log.js';
import { partitionId } from './commit.js';
import { abortedTxnFromItem, batchRowFromItem, type BatchRow, type PartitionState, type TopicItem } from './layout.js';
import { abortedTxnSks, offsetSk, partitionPk, rowsPk } from '../keys.js';

export interface ReadOptions {
  /** Stop after this many bytes of batches (the first batch is returned whatever its size). */
  readonly maxBytes?: number;
  /** Wait up to this long for records when `offset` is at the high watermark. */
  readonly waitMs?: number;
  /**
   * The caller long-polls (it waits itself) when this read finds nothing new: the partition's state
   * may be up to one watch interval old, as with `waitMs` (see the module comment).
   */
  readonly longPoll?: boolean;
  readonly signal?: AbortSignal;
  /**
   * read_committed: only offsets below the last stable offset are read (no open transaction's
   * records), and the answer names the aborted transactions the batches read may hold (Kafka's
   * FetchIsolation TXN_COMMITTED). @default 'read_uncommitted'
   */
  readonly isolation?: Isolation;
}

export type Isolation = 'read_uncommitted' | 'read_committed';

/** An aborted transaction a read_committed fetch must skip: its producer's batches from `firstOffset` until its abort marker. */
export interface AbortedTransaction {
  readonly producerId: number;
  readonly firstOffset: number;
}

export interface FetchOptions extends ReadOptions {
  readonly maxRecords?: number;
}

export interface ReadBatchesResult {
  /** Whole RecordBatches with their real base offsets; the first may start before `offset`. */
  readonly batches: Buffer[];
  /**
   * The offset after what was read: the last batch's last offset + 1, or further where the log
   * cleaner removed every record after it in its row (a compacted topic); `offset` if nothing was.
   */
  readonly endOffset: number;
  readonly highWatermark: number;
  readonly lastStableOffset: number;
  readonly logStartOffset: number;
  /** read_committed: the aborted transactions that overlap the batches read, in marker order (else undefined). */
  readonly abortedTransactions?: readonly AbortedTransaction[];
}

/** A record's offset and timestamp, as ListOffsets answers a time lookup. */
export interface TimestampedOffset {
  readonly offset: number;
  readonly timestampMs: number;
}

export interface FetchResult {
  readonly records: DecodedRecord[];
  /** The offset to ask for next. */
  readonly nextOffset: number;
  readonly highWatermark: number;
  readonly logStartOffset: number;
}

/** A partition a long-poll waits on, and the offset it waits past. */
export interface WaitTarget {
  readonly topic: TopicItem;
  readonly partition: number;
  readonly offset: number;
}

export interface ReaderOptions {
  /** How often a watched partition's item is read for other writers' commits. @default 250 */
  readonly pollIntervalMs?: number;
  /** A packed partition's commits as this process holds them (packing.ts), if it is their writer; else they are read. */
  readonly localCommits?: (writerId: string, topicId: string, partition: number, afterSeq: number) => readonly PackedCommit[] | undefined;
  /**
   * The end of a partition this process packs (packing.ts), from memory; undefined for any other.
   * No other writer commits to such a partition (it would ask the packer to leave it first), so a
   * watch round takes its end from here instead of reading it: no read while long-polls wait on it.
   */
  readonly localEnd?: (topicId: string, partition: number) => number | undefined;
}

const rowsPerPage = 32;
/** Smallest ranged read of a compacted segment. */
const minRangeBytes = 64 * 1024;

interface ReadBatch {
  readonly bytes: Buffer;
  readonly baseOffset: number;
  readonly lastOffset: number;
  readonly maxTimestampMs: number;
}
/** Chunk reads one fetch may have in flight. */
const parallelReads = 8;
/** Partition items one watch round reads at once. */
const parallelWatchReads = 16;

interface Waiter {
  readonly offset: number;
  readonly wake: () => void;
}

/** The waiters on one partition. */
interface Watch {
  readonly topic: TopicItem;
  readonly partition: number;
  readonly waiters: Set<Waiter>;
}
export const defaultMaxBytes = 1024 * 1024;
export const defaultMaxRecords = 500;

export class Reader {
  readonly stats = { objectGets: 0, bytesRead: 0, watchReads: 0, recentStates: 0 };
  private readonly pollIntervalMs: number;
  private readonly watches = new Map<string, Watch>();
  private watchTimer: NodeJS.Timeout | undefined;
  private readonly indexes = new LRUCache<string, Buffer>({ max: 4096 });
  /** The last consistent read of partition items, with when it was asked for (`recentState`; monotonic ms). */
  private readonly recent = new LRUCache<string, { state: PartitionState; askedMs: number }>({ max: 65_536 });
  /** Packed partitions (packed.ts): where their rows ended at the last read, and the rows of their tail after that. */
  private readonly tails = new LRUCache<string, { rowsEnd: number; rows: BatchRow[] }>({ max: 65_536 });
  /** When this writer last changed a partition (monotonic ms): a read asked for before then is not kept (it may predate the change). */
  private readonly changedMs = new LRUCache<string, number>({ max: 65_536 });

  constructor(
    private readonly metadata: MetadataStore,
    private readonly objects: ObjectStore,
    private readonly cache: ChunkCache,
    private readonly options: ReaderOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
  }

  async state(topic: TopicItem, partition: number): Promise<PartitionState> {
    const id = partitionId(topic.id, partition);
    const askedMs = performance.now();
    const read = await readPackedPartition(
      this.metadata,
      topic.id,
      partition,
      async (writerId, afterSeq) =>
        this.options.localCommits?.(writerId, topic.id, partition, afterSeq) ?? readPackedCommits(this.metadata, writerId, afterSeq),
    );
    if (read === undefined) {
      this.recent.delete(id);
      this.tails.delete(id);
      throw new SpoolError('PARTITION_NOT_FOUND', `topic ${topic.name} has no partition ${partition}`, {
        details: { topic: topic.name, partition },
      });
    }
    const { state, rowsEnd, tail } = read;
    // A packed partition's offsets from the end of its rows on are served from its packer's commits (packed.ts).
    if (tail.length > 0) this.tails.set(id, { rowsEnd, rows: tail.map(rowOf) });
    else this.tails.delete(id);
    if (askedMs > (this.changedMs.get(id) ?? -Infinity)) this.recent.set(id, { state, askedMs });
    return state;
  }

  /** For a long-poll's first look: the last consistent read if under one watch interval old and `offset` is its high watermark, else a read. */
  private async recentState(topic: TopicItem, partition: number, offset: number): Promise<PartitionState> {
    const recent = this.recent.get(partitionId(topic.id, partition));
    // (a partition packed here whose end is still `offset`: that read is as new as any, whatever its age)
    if (
      recent !== undefined &&
      offset === recent.state.nextOffset &&
      (performance.now() - recent.askedMs < this.pollIntervalMs || this.options.localEnd?.(topic.id, partition) === offset)
    ) {
      this.stats.recentStates++;
      return recent.state;
    }
    return this.state(topic, partition);
  }

  /** Called when this process changed a partition's item (its log start): its last read is forgotten, and one under way is not kept. */
  forget(topicId: string, partition: number): void {
    const id = partitionId(topicId, partition);
    this.recent.delete(id);
    this.changedMs.set(id, performance.now());
  }

  /** Called by the local writer after each commit: wakes long-polls on that partition, and forgets its last read. */
  notify(topicId: string, partition: number): void {
    this.forget(topicId, partition);
    const watch = this.watches.get(partitionId(topicId, partition));
    if (watch) for (const waiter of [...watch.waiters]) waiter.wake();
  }

  /**
   * Resolves when any target's partition may have records past its offset (a commit here, or a
   * higher high watermark seen by the watch): true; or when `waitMs` has passed, or on `signal`:
   * false. Says nothing of which partition: callers read again.
   */
  async waitForAny(targets: readonly WaitTarget[], waitMs: number, signal?: AbortSignal): Promise<boolean> {
    if (targets.length === 0 || waitMs <= 0 || signal?.aborted) return false;
    return new Promise<boolean>((resolve) => {
      const registered: { watch: Watch; waiter: Waiter }[] = [];
      let settled = false;
      const done = (woken: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        for (const { watch, waiter } of registered) {
          watch.waiters.delete(waiter);
          const id = partitionId(watch.topic.id, watch.partition);
          if (watch.waiters.size === 0 && this.watches.get(id) === watch) this.watches.delete(id);
        }
        resolve(woken);
      };
      const timer = setTimeout(() => done(false), waitMs);
      const aborted = () => done(false);
      signal?.addEventListener('abort', aborted, { once: true });
      for (const { topic, partition, offset } of targets) {
        const id = partitionId(topic.id, partition);
        let watch = this.watches.get(id);
        if (!watch) this.watches.set(id, (watch = { topic, partition, waiters: new Set() }));
        const waiter = { offset, wake: () => done(true) };
        watch.waiters.add(waiter);
        registered.push({ watch, waiter });
      }
      this.keepWatching();
    });
  }

  async readBatches(topic: TopicItem, partition: number, offset: number, options: ReadOptions = {}): Promise<ReadBatchesResult> {
    const longPoll = options.longPoll === true || (options.waitMs ?? 0) > 0;
    let state = longPoll ? await this.recentState(topic, partition, offset) : await this.state(topic, partition);
    checkRange(topic, partition, offset, state);
    const committedOnly = options.isolation === 'read_committed';
    const endOf = (s: PartitionState) => (committedOnly ? s.lastStableOffset : s.nextOffset);
    if (offset >= endOf(state) && (options.waitMs ?? 0) > 0) state = await this.waitBeyond(topic, partition, offset, state, endOf, options);
    const maxBytes = options.maxBytes ?? defaultMaxBytes;
    // read_committed stops at the last stable offset: the first batch of the oldest open transaction.
    const bound = committedOnly ? state.lastStableOffset : state.nextOffset;
    const batches: Buffer[] = [];
    let bytes = 0;
    // Everything below `covered` has been returned (or was not asked for). Rows may overlap after a
    // compaction cut short; skipping what is covered keeps every offset exactly once.
    let covered = offset;
    const result = async (): Promise<ReadBatchesResult> => ({
      batches,
      endOffset: covered,
      highWatermark: state.nextOffset,
      lastStableOffset: state.lastStableOffset,
      logStartOffset: state.logStartOffset,
      ...(committedOnly ? { abortedTransactions: await this.abortedIn(topic, partition, state, offset, covered) } : {}),
    });
    while (covered < bound && bytes < maxBytes) {
      const rows = (await this.rowsFrom(topic, partition, covered, state)).filter((row) => row.baseOffset + row.recordCount > covered);
      // Read the chunks this fetch will need in parallel (object GETs are slow, and independent).
      const wanted: BatchRow[] = [];
      for (let planned = bytes; wanted.length < rows.length && (wanted.length === 0 || planned < maxBytes); ) {
        const row = rows[wanted.length]!;
        wanted.push(row);
        planned += row.sizeBytes;
      }
      const reads = await pMap(wanted, (row, index) => this.rowBatches(row, index === 0 ? covered : row.baseOffset, maxBytes - bytes), {
        concurrency: parallelReads,
      });
      for (const [i, read] of reads.entries()) {
        for (const batch of read.batches) {
          if (batch.lastOffset < covered) continue; // already returned, or before the offset asked for
          if (batch.baseOffset >= bound) return result(); // an open transaction's (a batch never straddles the bound: it is a batch's start)
          if (batches.length > 0 && bytes + batch.bytes.length > maxBytes) return result();
          batches.push(batch.bytes);
          bytes += batch.bytes.length;
          covered = batch.lastOffset + 1;
        }
        if (!read.complete) return result();
        // A row read to its end holds nothing more: in a cleaned segment its last records may be gone.
        covered = Math.min(bound, Math.max(covered, wanted[i]!.baseOffset + wanted[i]!.recordCount));
        if (bytes >= maxBytes) return result();
      }
    }
    return result();
  }

  /**
   * The aborted transactions a read_committed fetch of [from, to) must be told of: those whose
   * range overlaps it (marker at or after `from`, first offset before `to`), as Kafka's
   * TransactionIndex.collectAbortedTxns. Omitting one would show its records; naming one whose
   * marker is before `from` would hide its producer's later committed batches (the client drops a
   * producer's batches until it sees the abort marker). No read when no abort is at or after `from`.
   */
  private async abortedIn(
    topic: TopicItem,
    partition: number,
    state: PartitionState,
    from: number,
    to: number,
  ): Promise<AbortedTransaction[]> {
    if (state.lastAbortedOffset < from || to <= from) return [];
    const found: AbortedTransaction[] = [];
    for (let start = from; ; ) {
      const page = await this.metadata.query(partitionPk(topic.id, partition), { ...abortedTxnSks(start), limit: rowsPerPage });
      for (const item of page) {
        const txn = abortedTxnFromItem(item);
        if (txn.firstOffset < to) found.push({ producerId: txn.producerId, firstOffset: txn.firstOffset });
        // Every later abort began after this marker or at or after the LSO it left: none can overlap [from, to).
        if (txn.lastStableOffset >= to) return found;
        start = txn.markerOffset + 1;
      }
      if (page.length < rowsPerPage) return found;
    }
  }

  async fetch(topic: TopicItem, partition: number, offset: number, options: FetchOptions = {}): Promise<FetchResult> {
    const maxRecords = options.maxRecords ?? defaultMaxRecords;
    const maxBytes = options.maxBytes ?? defaultMaxBytes;
    const { batches, endOffset, highWatermark, logStartOffset, abortedTransactions } = await this.readBatches(
      topic,
      partition,
      offset,
      options,
    );
    const skipped = skippedBatches(abortedTransactions);
    const records: DecodedRecord[] = [];
    let bytes = 0;
    let full = false;
    outer: for (const batch of batches) {
      const decoded = decodeRecordBatch(batch);
      if (skipped(decoded.header, decoded.records)) continue;
      for (const record of decoded.records) {
        if (record.offset < offset) continue;
        const size = (record.key?.length ?? 0) + (record.value?.length ?? 0);
        if (records.length >= maxRecords || (records.length > 0 && bytes + size > maxBytes)) {
          full = true;
          break outer;
        }
        records.push(record);
        bytes += size;
      }
    }
    // Past every batch read when all their records were taken: in a compacted topic, past offsets the cleaner removed too.
    const last = records.at(-1);
    const nextOffset = full ? (last === undefined ? offset : last.offset + 1) : Math.max(offset, endOffset);
    return { records, nextOffset, highWatermark, logStartOffset };
  }

  /**
   * The first record whose timestamp is at or after `timestampMs`, as Kafka's ListOffsets answers
   * it (offset and that record's timestamp); undefined when none is. Rows are skipped by their max
   * timestamp; inside a compacted segment the time index names the batch to start from.
   */
  async offsetForTimestamp(topic: TopicItem, partition: number, timestampMs: number): Promise<TimestampedOffset | undefined> {
    const state = await this.state(topic, partition);
    for await (const row of this.rowsIn(topic, partition, state)) {
      // A row with an unknown time (stored before append validation, not yet repaired) may hold it: look inside.
      if (row.maxTimestampMs >= 0 && row.maxTimestampMs < timestampMs) continue;
      let start = Math.max(state.logStartOffset, row.baseOffset);
      // The time index of a segment compacted before batches were validated may hold -1 for some batches: not used.
      if (row.timeIndexKey && row.recordTimes === true) {
        const relative = offsetForTime(await this.indexObject(row.timeIndexKey), timestampMs);
        if (relative !== undefined) start = Math.max(start, row.baseOffset + relative);
      }
      for await (const batch of this.batchesOf(row, start)) {
        if (batch.lastOffset < start || batch.maxTimestampMs < timestampMs) continue;
        for (const record of decodeRecordBatch(batch.bytes).records) {
          if (record.offset >= start && record.timestampMs >= timestampMs)
            return { offset: record.offset, timestampMs: record.timestampMs };
        }
      }
    }
    return undefined;
  }

  /**
   * The record with the largest timestamp (the first of them, if several share it), as Kafka's
   * ListOffsets answers MAX_TIMESTAMP (-3); undefined when the partition holds no record.
   */
  async maxTimestampOffset(topic: TopicItem, partition: number): Promise<TimestampedOffset | undefined> {
    const state = await this.state(topic, partition);
    let best: { row: BatchRow; maxTimestampMs: number } | undefined;
    for await (const row of this.rowsIn(topic, partition, state)) {
      if (row.sizeBytes === 0) continue; // a segment the log cleaner emptied keeps its rows' time, but no record
      let maxTimestampMs = row.maxTimestampMs;
      if (maxTimestampMs < 0)
        for await (const batch of this.batchesOf(row, row.baseOffset)) maxTimestampMs = Math.max(maxTimestampMs, batch.maxTimestampMs);
      if (best === undefined || maxTimestampMs > best.maxTimestampMs) best = { row, maxTimestampMs };
    }
    if (best === undefined) return undefined;
    const start = Math.max(state.logStartOffset, best.row.baseOffset);
    for await (const batch of this.batchesOf(best.row, start)) {
      if (batch.maxTimestampMs !== best.maxTimestampMs) continue;
      for (const record of decodeRecordBatch(batch.bytes).records) {
        if (record.offset >= start && record.timestampMs === best.maxTimestampMs)
          return { offset: record.offset, timestampMs: record.timestampMs };
      }
    }
    return undefined;
  }

  /** The live rows of a partition from its log start to its high watermark, in offset order, a page at a time. */
  private async *rowsIn(topic: TopicItem, partition: number, state: PartitionState): AsyncGenerator<BatchRow> {
    for (let from = state.logStartOffset; from < state.nextOffset; ) {
      for (const row of await this.rowsFrom(topic, partition, from, state)) {
        const end = row.baseOffset + row.recordCount;
        if (end <= from) continue;
        yield row;
        from = end;
      }
    }
  }

  /** Every batch of a row from (about) `fromOffset` to its end, read a range at a time. */
  private async *batchesOf(row: BatchRow, fromOffset: number): AsyncGenerator<ReadBatch> {
    for (let next = fromOffset; ; ) {
      const read = await this.rowBatches(row, next, defaultMaxBytes);
      for (const batch of read.batches) {
        if (batch.lastOffset < next) continue;
        yield batch;
        next = batch.lastOffset + 1;
      }
      if (read.complete || read.batches.length === 0 || next >= row.baseOffset + row.recordCount) return;
    }
  }

  /**
   * Rows covering `offset` and after, up to the high watermark: the nearest row at or below `offset`
   * that still covers it (normally the floor row itself; past a shadowed row left by a compaction cut
   * short, a few rows further back), then the rows that follow without a gap (the two queries are
   * not one snapshot: a compaction between them can move the rows right after the covering one).
   */
  private async rowsFrom(topic: TopicItem, partition: number, offset: number, state: PartitionState): Promise<BatchRow[]> {
    // Past the end of a packed partition's rows (as its last read found them): its tail. A tail read
    // since with more rows is as good (rows only grow at their end, and hold what the tail held).
    const tail = this.tails.get(partitionId(topic.id, partition));
    if (tail !== undefined && offset >= tail.rowsEnd) {
      const rows = tail.rows.filter((row) => row.baseOffset + row.recordCount > offset && row.baseOffset < state.nextOffset);
      if (rows.length > 0 && rows[0]!.baseOffset <= offset) return rows;
    }
    const pk = rowsPk(topic.id, partition);
    let covering: BatchRow | undefined;
    for (let to = offsetSk(offset); covering === undefined; ) {
      const page = (await this.metadata.query(pk, { to, reverse: true, limit: rowsPerPage })).map(batchRowFromItem);
      covering = page.find((row) => row.baseOffset + row.recordCount > offset);
      if (covering !== undefined || page.length < rowsPerPage || page[page.length - 1]!.baseOffset === 0) break;
      to = offsetSk(page[page.length - 1]!.baseOffset - 1);
    }
    if (covering === undefined) {
      // Retention may have advanced the log start while we read.
      checkRange(topic, partition, offset, await this.state(topic, partition));
      throw new SpoolError(
        'INTERNAL',
        `no row covers offset ${offset} of ${topic.name}/${partition} below high watermark ${state.nextOffset}`,
      );
    }
    const rows = [covering];
    let end = covering.baseOffset + covering.recordCount;
    const after = await this.metadata.query(pk, { from: offsetSk(offset + 1), limit: rowsPerPage });
    for (const item of after) {
      const row = batchRowFromItem(item);
      if (row.baseOffset >= state.nextOffset) break;
      // Rows tile the log. A gap means a compaction merged the covering row and the ones after it
      // into a row based lower, between our two queries: stop here; the caller looks up the rest again.
      if (row.baseOffset > end) break;
      rows.push(row);
      end = Math.max(end, row.baseOffset + row.recordCount);
    }
    return rows;
  }

  /**
   * The row's batches from (about) `fromOffset`, each a copy with its real baseOffset. A flush row's
   * chunk is read whole (it is small) and its relative offsets patched. A compacted row is read by
   * range: its offset index gives the position of the nearest batch at or below `fromOffset`, and
   * about `maxBytes` are read from there (a small one is read whole, from its start, with no index
   * lookup); `complete` says whether the row's end was reached.
   */
  private async rowBatches(row: BatchRow, fromOffset: number, maxBytes: number): Promise<{ batches: ReadBatch[]; complete: boolean }> {
    if (row.sizeBytes === 0) return { batches: [], complete: true }; // a segment the log cleaner emptied
    if (row.indexKey === undefined) {
      const chunk = await this.readRange(row.objectKey, row.position, row.sizeBytes);
      const batches: ReadBatch[] = [];
      let base = row.baseOffset;
      for (const { header, pos } of batchesIn(chunk)) {
        const bytes = Buffer.from(chunk.subarray(pos, pos + header.sizeBytes));
        patchBaseOffset(bytes, 0, base);
        batches.push(servedBatch(bytes, row));
        base += header.lastOffsetDelta + 1;
      }
      return { batches, complete: true };
    }
    // A segment no larger than the smallest range read is read whole, without its index: one GET, not two.
    const whole = row.sizeBytes <= minRangeBytes;
    const start = row.position + (whole ? 0 : positionFor(await this.indexObject(row.indexKey), Math.max(0, fromOffset - row.baseOffset)));
    const end = row.position + row.sizeBytes;
    let length = Math.min(end - start, Math.max(maxBytes, minRangeBytes));
    let range = await this.readRange(row.objectKey, start, length);
    // A batch larger than the range read: read exactly that batch.
    if (range.length >= 12 && 12 + range.readInt32BE(8) > range.length) {
      length = Math.min(end - start, 12 + range.readInt32BE(8));
      range = await this.readRange(row.objectKey, start, length);
    }
    const batches: ReadBatch[] = [];
    let pos = 0;
    while (pos + 12 <= range.length && pos + 12 + range.readInt32BE(pos + 8) <= range.length) {
      const header = readBatchHeader(range, pos);
      batches.push(servedBatch(Buffer.from(range.subarray(pos, pos + header.sizeBytes)), row));
      pos += header.sizeBytes;
    }
    return { batches, complete: start + pos >= end };
  }

  private async readRange(objectKey: string, position: number, sizeBytes: number): Promise<Buffer> {
    const cached = this.cache.get(objectKey, position, sizeBytes);
    if (cached) return cached;
    const bytes = await this.objects.get(objectKey, { offset: position, length: sizeBytes });
    this.stats.objectGets++;
    this.stats.bytesRead += bytes.length;
    if (bytes.length !== sizeBytes) {
      throw new SpoolError('INTERNAL', `${objectKey} at ${position} should hold ${sizeBytes} bytes, got ${bytes.length}`);
    }
    this.cache.set(objectKey, position, bytes);
    return bytes;
  }

  /** Index objects are small and immutable: kept in their own LRU. */
  private async indexObject(key: string): Promise<Buffer> {
    let index = this.indexes.get(key);
    if (index === undefined) {
      index = await this.objects.get(key);
      this.stats.objectGets++;
      this.indexes.set(key, index);
    }
    return index;
  }

  private async waitBeyond(
    topic: TopicItem,
    partition: number,
    offset: number,
    state: PartitionState,
    endOf: (state: PartitionState) => number,
    options: ReadOptions,
  ): Promise<PartitionState> {
    const deadline = Date.now() + options.waitMs!;
    let current = state;
    while (endOf(current) <= offset && Date.now() < deadline && !options.signal?.aborted) {
      // Woken by the next commit past the high watermark (read_committed: the marker that moves the last stable offset is one).
      const woken = await this.waitForAny(
        [{ topic, partition, offset: Math.max(offset, current.nextOffset) }],
        deadline - Date.now(),
        options.signal,
      );
      // Not woken, on a partition packed here: its end has not moved, nothing to read.
      if (!woken && this.options.localEnd?.(topic.id, partition) === current.nextOffset) break;
      current = await this.state(topic, partition);
    }
    return current;
  }

  /** Runs watch rounds, one after another, while anyone waits. */
  private keepWatching(): void {
    if (this.watchTimer || this.watches.size === 0) return;
    this.watchTimer = setTimeout(() => {
      void this.watchRound().finally(() => {
        this.watchTimer = undefined;
        this.keepWatching();
      });
    }, this.pollIntervalMs);
    this.watchTimer.unref();
  }

  /** A watched partition's end, read; Infinity if the read failed (its waiters read again and meet the error). */
  private async watchRead(watch: Watch): Promise<number> {
    this.stats.watchReads++;
    try {
      return (await this.state(watch.topic, watch.partition)).nextOffset;
    } catch {
      return Infinity;
    }
  }

  /** Reads each watched partition's item once; wakes the waiters it has news for (a failed read wakes all: they read again and meet the error). */
  private async watchRound(): Promise<void> {
    await pMap(
      [...this.watches.values()],
      async (watch) => {
        // A partition packed here: its end from memory (ReaderOptions.localEnd); any other, read.
        const nextOffset = this.options.localEnd?.(watch.topic.id, watch.partition) ?? (await this.watchRead(watch));
        for (const waiter of [...watch.waiters]) if (waiter.offset < nextOffset) waiter.wake();
      },
      { concurrency: parallelWatchReads },
    );
  }
}

function checkRange(topic: TopicItem, partition: number, offset: number, state: PartitionState): void {
  if (!Number.isSafeInteger(offset) || offset < state.logStartOffset || offset > state.nextOffset) {
    throw new SpoolError(
      'OFFSET_OUT_OF_RANGE',
      `offset ${offset} is out of range for ${topic.name}/${partition}: valid offsets are [${state.logStartOffset}, ${state.nextOffset}]`,
      { details: { topic: topic.name, partition, earliest_offset: state.logStartOffset, high_watermark: state.nextOffset } },
    );
  }
}

/** A partition's aborted transactions whose markers are at or after `fromOffset`, in marker order (the cleaner's view of them). */
export async function abortedTransactionsFrom(
  metadata: MetadataStore,
  topicId: string,
  partition: number,
  fromOffset: number,
): Promise<AbortedTransaction[]> {
  return (await metadata.query(partitionPk(topicId, partition), abortedTxnSks(fromOffset))).map((item) => {
    const { producerId, firstOffset } = abortedTxnFromItem(item);
    return { producerId, firstOffset };
  });
}

/**
 * Which batches a reader of records skips, in offset order (as Kafka's consumer does): control
 * batches (transaction markers) always; with `aborted` (read_committed), a transactional batch of a
 * producer with an aborted transaction begun at or before it, until that producer's abort marker.
 */
export function skippedBatches(
  aborted: readonly AbortedTransaction[] | undefined,
): (header: BatchHeader, records: readonly DecodedRecord[]) => boolean {
  const pending = [...(aborted ?? [])].sort((a, b) => a.firstOffset - b.firstOffset);
  const abortedProducers = new Set<number>();
  return (header, records) => {
    const lastOffset = header.baseOffset + header.lastOffsetDelta;
    while (pending.length > 0 && pending[0]!.firstOffset <= lastOffset) abortedProducers.add(pending.shift()!.producerId);
    if (header.isControl) {
      if (txnMarkerType(records[0]?.key ?? null) === 'abort') abortedProducers.delete(header.producerId);
      return true;
    }
    return header.isTransactional && abortedProducers.has(header.producerId);
  };
}

/**
 * A batch as it leaves the store. One stored before append validation may still say maxTimestamp
 * -1: it is given its records' time here, on the reader's own copy, so no batch is served, indexed
 * or compared by an unknown time.
 */
function servedBatch(bytes: Buffer, row: BatchRow): ReadBatch {
  repairMaxTimestamp(bytes, 0, row.committedMs);
  const header = readBatchHeader(bytes, 0);
  return {
    bytes,
    baseOffset: header.baseOffset,
    lastOffset: header.baseOffset + header.lastOffsetDelta,
    maxTimestampMs: header.maxTimestampMs,
  };
}
