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
import { batchesIn, decodeRecordBatch, patchBaseOffset, type DecodedRecord } from '../format/index.js';
import type { MetadataStore, ObjectStore } from '../storage/ports.js';
import type { ChunkCache } from './cache.js';
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
/** Chunk reads one fetch may have in flight. */
const parallelReads = 8;
export const defaultMaxBytes = 1024 * 1024;
export const defaultMaxRecords = 500;

export class Reader {
  readonly stats = { objectGets: 0, bytesRead: 0 };
  private readonly pollIntervalMs: number;
  private readonly waiters = new Map<string, Set<() => void>>();

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
    let next = offset;
    const result = () => ({ batches, highWatermark: state.nextOffset, logStartOffset: state.logStartOffset });
    while (next < state.nextOffset && (batches.length === 0 || bytes < maxBytes)) {
      const rows = await this.rowsFrom(topic, partition, next, state);
      // Read the chunks this fetch will need in parallel (object GETs are slow, and independent).
      const wanted: BatchRow[] = [];
      for (let planned = bytes; wanted.length < rows.length && (wanted.length === 0 || planned < maxBytes); ) {
        const row = rows[wanted.length]!;
        wanted.push(row);
        planned += row.sizeBytes;
      }
      const chunks = await mapConcurrently(wanted, parallelReads, (row) => this.chunkBatches(row));
      for (const [index, row] of wanted.entries()) {
        for (const batch of chunks[index]!) {
          if (batch.lastOffset < offset) continue; // wholly before the offset asked for: never sent, never counted
          if (batches.length > 0 && bytes + batch.bytes.length > maxBytes) return result();
          batches.push(batch.bytes);
          bytes += batch.bytes.length;
        }
        next = row.baseOffset + row.recordCount;
        if (bytes >= maxBytes) break;
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

  /** The earliest offset whose record timestamp is at or after `timestampMs`; undefined when none is. */
  async offsetForTimestamp(topic: TopicItem, partition: number, timestampMs: number): Promise<number | undefined> {
    const state = await this.state(topic, partition);
    let from = state.logStartOffset;
    while (from < state.nextOffset) {
      const rows = (await this.metadata.query(rowsPk(topic.id, partition), { from: offsetSk(from), limit: rowsPerPage })).map((item) =>
        batchRowFromItem(item),
      );
      if (rows.length === 0) break;
      for (const row of rows) {
        if (row.baseOffset + row.recordCount <= state.logStartOffset) continue;
        if (row.maxTimestampMs >= timestampMs) {
          for (const batch of await this.chunkBatches(row)) {
            for (const record of decodeRecordBatch(batch.bytes).records) {
              if (record.offset >= state.logStartOffset && record.timestampMs >= timestampMs) return record.offset;
            }
          }
        }
        from = row.baseOffset + row.recordCount;
      }
    }
    return undefined;
  }

  /** Rows covering `offset` and after: the floor row first, then following rows, up to the high watermark. */
  private async rowsFrom(topic: TopicItem, partition: number, offset: number, state: PartitionState): Promise<BatchRow[]> {
    const pk = rowsPk(topic.id, partition);
    const [floor] = await this.metadata.query(pk, { to: offsetSk(offset), reverse: true, limit: 1 });
    const rows: BatchRow[] = [];
    if (floor !== undefined) {
      const row = batchRowFromItem(floor);
      if (row.baseOffset + row.recordCount > offset) rows.push(row);
    }
    if (rows.length === 0) {
      // Retention may have advanced the log start while we read.
      const now = await this.state(topic, partition);
      checkRange(topic, partition, offset, now);
      throw new SpoolError('INTERNAL', `no row covers offset ${offset} of ${topic.name}/${partition} below high watermark ${state.nextOffset}`);
    }
    const after = await this.metadata.query(pk, { from: offsetSk(offset + 1), limit: rowsPerPage });
    for (const item of after) {
      const row = batchRowFromItem(item);
      if (row.baseOffset >= state.nextOffset) break;
      rows.push(row);
    }
    return rows;
  }

  /** The row's chunk as batches, each copied with its baseOffset set, with the offsets it spans. */
  private async chunkBatches(row: BatchRow): Promise<{ bytes: Buffer; baseOffset: number; lastOffset: number }[]> {
    let chunk = this.cache.get(row.objectKey, row.position, row.sizeBytes);
    if (chunk === undefined) {
      chunk = await this.objects.get(row.objectKey, { offset: row.position, length: row.sizeBytes });
      this.stats.objectGets++;
      this.stats.bytesRead += chunk.length;
      if (chunk.length !== row.sizeBytes) {
        throw new SpoolError('INTERNAL', `chunk of ${row.objectKey} at ${row.position} should be ${row.sizeBytes} bytes, got ${chunk.length}`);
      }
      this.cache.set(row.objectKey, row.position, chunk);
    }
    const batches: { bytes: Buffer; baseOffset: number; lastOffset: number }[] = [];
    let base = row.baseOffset;
    for (const { header, pos } of batchesIn(chunk)) {
      const bytes = Buffer.from(chunk.subarray(pos, pos + header.sizeBytes));
      patchBaseOffset(bytes, 0, base);
      batches.push({ bytes, baseOffset: base, lastOffset: base + header.lastOffsetDelta });
      base += header.lastOffsetDelta + 1;
    }
    return batches;
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

async function mapConcurrently<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!);
      }
    }),
  );
  return results;
}
