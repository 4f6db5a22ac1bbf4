/**
 * The read path: locate, read, patch, filter, wait.
 *
 * The high watermark and log start come from a strongly consistent read of the partition item, and
 * only offsets below that high watermark are read: every such offset has a committed row whose chunk
 * was stored before the commit, so a reader never sees an offset before its data. A fetch finds the
 * row at or below the offset (floor lookup: query descending, limit 1), then walks forward; chunks
 * come from the in-memory cache or a ranged GET of the segment object. Batches are copied and their
 * baseOffset patched from the row (stored batches carry relative offsets). Long-polls wake on local
 * commits at once and re-read the partition item every `pollIntervalMs` for other writers' commits.
 */
import { SpoolError } from '../errors.js';
import { LRUCache } from 'lru-cache';
import { batchesIn, decodeRecordBatch, patchBaseOffset, readBatchHeader, type DecodedRecord } from '../format/index.js';
import type { MetadataStore, ObjectStore } from '../storage/ports.js';
import type { ChunkCache } from './cache.js';
import { offsetForTime, positionFor } from './segment-index.js';
import { partitionId } from './commit.js';
import { batchRowFromItem, offsetSk, partitionKey, partitionStateFromItem, rowsPk, type BatchRow, type PartitionState, type TopicItem } from './layout.js';

export interface ReadOptions {
  /** Stop after this many bytes of batches (the first batch is returned whatever its size). */
  readonly maxBytes?: number;
  /** Wait up to this long for records when `offset` is at the high watermark. */
  readonly waitMs?: number;
  readonly signal?: AbortSignal;
}

export interface FetchOptions extends ReadOptions {
  readonly maxRecords?: number;
}

export interface ReadBatchesResult {
  /** Whole RecordBatches with their real base offsets; the first may start before `offset`. */
  readonly batches: Buffer[];
  readonly highWatermark: number;
  readonly logStartOffset: number;
}

export interface FetchResult {
  readonly records: DecodedRecord[];
  /** The offset to ask for next. */
  readonly nextOffset: number;
  readonly highWatermark: number;
  readonly logStartOffset: number;
}

export interface ReaderOptions {
  readonly pollIntervalMs?: number;
  readonly now?: () => number;
}

const rowsPerPage = 32;
/** Smallest ranged read of a compacted segment. */
const minRangeBytes = 64 * 1024;

interface ReadBatch {
  readonly bytes: Buffer;
  readonly lastOffset: number;
  readonly maxTimestampMs: number;
}
/** Chunk reads one fetch may have in flight. */
const parallelReads = 8;
export const defaultMaxBytes = 1024 * 1024;
export const defaultMaxRecords = 500;

export class Reader {
  readonly stats = { objectGets: 0, bytesRead: 0 };
  private readonly pollIntervalMs: number;
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly indexes = new LRUCache<string, Buffer>({ max: 4096 });

  constructor(
    private readonly metadata: MetadataStore,
    private readonly objects: ObjectStore,
    private readonly cache: ChunkCache,
    options: ReaderOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
  }

  async state(topic: TopicItem, partition: number): Promise<PartitionState> {
    const item = await this.metadata.get(partitionKey(topic.id, partition));
    if (item === undefined) {
      throw new SpoolError('PARTITION_NOT_FOUND', `topic ${topic.name} has no partition ${partition}`, { details: { topic: topic.name, partition } });
    }
    return partitionStateFromItem(item);
  }

  /** Called by the local writer after each commit: wakes long-polls on that partition. */
  notify(topicId: string, partition: number): void {
    const waiting = this.waiters.get(partitionId(topicId, partition));
    if (waiting) for (const wake of [...waiting]) wake();
  }

  async readBatches(topic: TopicItem, partition: number, offset: number, options: ReadOptions = {}): Promise<ReadBatchesResult> {
    let state = await this.state(topic, partition);
    checkRange(topic, partition, offset, state);
    if (offset === state.nextOffset && (options.waitMs ?? 0) > 0) state = await this.waitBeyond(topic, partition, offset, state, options);
    const maxBytes = options.maxBytes ?? defaultMaxBytes;
    const batches: Buffer[] = [];
    let bytes = 0;
    // Everything below `covered` has been returned (or was not asked for). Rows may overlap after a
    // compaction cut short; skipping what is covered keeps every offset exactly once.
    let covered = offset;
    const result = () => ({ batches, highWatermark: state.nextOffset, logStartOffset: state.logStartOffset });
    while (covered < state.nextOffset && bytes < maxBytes) {
      const rows = (await this.rowsFrom(topic, partition, covered, state)).filter((row) => row.baseOffset + row.recordCount > covered);
      // Read the chunks this fetch will need in parallel (object GETs are slow, and independent).
      const wanted: BatchRow[] = [];
      for (let planned = bytes; wanted.length < rows.length && (wanted.length === 0 || planned < maxBytes); ) {
        const row = rows[wanted.length]!;
        wanted.push(row);
        planned += row.sizeBytes;
      }
      const reads = await mapConcurrently(wanted, parallelReads, (row, index) => this.rowBatches(row, index === 0 ? covered : row.baseOffset, maxBytes - bytes));
      for (const read of reads) {
        for (const batch of read.batches) {
          if (batch.lastOffset < covered) continue; // already returned, or before the offset asked for
          if (batches.length > 0 && bytes + batch.bytes.length > maxBytes) return result();
          batches.push(batch.bytes);
          bytes += batch.bytes.length;
          covered = batch.lastOffset + 1;
        }
        if (!read.complete || bytes >= maxBytes) return result();
      }
    }
    return result();
  }

  async fetch(topic: TopicItem, partition: number, offset: number, options: FetchOptions = {}): Promise<FetchResult> {
    const maxRecords = options.maxRecords ?? defaultMaxRecords;
    const maxBytes = options.maxBytes ?? defaultMaxBytes;
    const { batches, highWatermark, logStartOffset } = await this.readBatches(topic, partition, offset, options);
    const records: DecodedRecord[] = [];
    let bytes = 0;
    outer: for (const batch of batches) {
      for (const record of decodeRecordBatch(batch).records) {
        if (record.offset < offset) continue;
        const size = (record.key?.length ?? 0) + (record.value?.length ?? 0);
        if (records.length >= maxRecords || (records.length > 0 && bytes + size > maxBytes)) break outer;
        records.push(record);
        bytes += size;
      }
    }
    const nextOffset = records.length > 0 ? records[records.length - 1]!.offset + 1 : offset;
    return { records, nextOffset, highWatermark, logStartOffset };
  }

  /**
   * The earliest offset whose record timestamp is at or after `timestampMs`; undefined when none is.
   * Rows are skipped by their max timestamp; inside a compacted segment the time index names the batch.
   */
  async offsetForTimestamp(topic: TopicItem, partition: number, timestampMs: number): Promise<number | undefined> {
    const state = await this.state(topic, partition);
    let from = state.logStartOffset;
    while (from < state.nextOffset) {
      const page = (await this.metadata.query(rowsPk(topic.id, partition), { from: offsetSk(from), limit: rowsPerPage })).map(batchRowFromItem);
      if (page.length === 0) break;
      for (const row of page) {
        const end = row.baseOffset + row.recordCount;
        if (end <= from || end <= state.logStartOffset) continue;
        if (row.maxTimestampMs >= timestampMs) {
          let start = Math.max(from, row.baseOffset);
          if (row.timeIndexKey) {
            const relative = offsetForTime(await this.indexObject(row.timeIndexKey), timestampMs);
            if (relative !== undefined) start = Math.max(start, row.baseOffset + relative);
          }
          const read = await this.rowBatches(row, start, defaultMaxBytes);
          for (const batch of read.batches) {
            if (batch.lastOffset < start || batch.maxTimestampMs < timestampMs) continue;
            for (const record of decodeRecordBatch(batch.bytes).records) {
              if (record.offset >= Math.max(start, state.logStartOffset) && record.timestampMs >= timestampMs) return record.offset;
            }
          }
        }
        from = end;
      }
    }
    return undefined;
  }

  /**
   * Rows covering `offset` and after, up to the high watermark: the nearest row at or below `offset`
   * that still covers it (normally the floor row itself; past a shadowed row left by a compaction cut
   * short, a few rows further back), then the rows that follow without a gap (the two queries are
   * not one snapshot: a compaction between them can move the rows right after the covering one).
   */
  private async rowsFrom(topic: TopicItem, partition: number, offset: number, state: PartitionState): Promise<BatchRow[]> {
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
      throw new SpoolError('INTERNAL', `no row covers offset ${offset} of ${topic.name}/${partition} below high watermark ${state.nextOffset}`);
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
   * about `maxBytes` are read from there; `complete` says whether the row's end was reached.
   */
  private async rowBatches(row: BatchRow, fromOffset: number, maxBytes: number): Promise<{ batches: ReadBatch[]; complete: boolean }> {
    if (row.indexKey === undefined) {
      const chunk = await this.readRange(row.objectKey, row.position, row.sizeBytes);
      const batches: ReadBatch[] = [];
      let base = row.baseOffset;
      for (const { header, pos } of batchesIn(chunk)) {
        const bytes = Buffer.from(chunk.subarray(pos, pos + header.sizeBytes));
        patchBaseOffset(bytes, 0, base);
        batches.push({ bytes, lastOffset: base + header.lastOffsetDelta, maxTimestampMs: header.maxTimestampMs });
        base += header.lastOffsetDelta + 1;
      }
      return { batches, complete: true };
    }
    const start = row.position + positionFor(await this.indexObject(row.indexKey), Math.max(0, fromOffset - row.baseOffset));
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
      batches.push({
        bytes: Buffer.from(range.subarray(pos, pos + header.sizeBytes)),
        lastOffset: header.baseOffset + header.lastOffsetDelta,
        maxTimestampMs: header.maxTimestampMs,
      });
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

  private async waitBeyond(topic: TopicItem, partition: number, offset: number, state: PartitionState, options: ReadOptions): Promise<PartitionState> {
    const deadline = Date.now() + options.waitMs!;
    const id = partitionId(topic.id, partition);
    let current = state;
    while (current.nextOffset <= offset && Date.now() < deadline && !options.signal?.aborted) {
      await new Promise<void>((resolve) => {
        let waiting = this.waiters.get(id);
        if (!waiting) this.waiters.set(id, (waiting = new Set()));
        const set = waiting;
        const done = () => {
          clearTimeout(timer);
          set.delete(done);
          if (set.size === 0) this.waiters.delete(id);
          options.signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, Math.min(this.pollIntervalMs, deadline - Date.now())));
        set.add(done);
        options.signal?.addEventListener('abort', done);
      });
      current = await this.state(topic, partition);
    }
    return current;
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

async function mapConcurrently<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!, index);
      }
    }),
  );
  return results;
}
