/**
 * The write path: buffer, segment, commit, acknowledge.
 *
 * Appends are buffered per partition. A flush starts when the buffer reaches `flushBytes`, touches
 * `maxChunksPerTransaction` partitions, or is `lingerMs` old; it takes the whole buffer, encodes each
 * partition's records as Kafka RecordBatch v2 batches (client batches are kept as they came), writes
 * ONE segment object holding every partition's chunk, then commits all chunks in one transaction
 * (commit.ts) and resolves each append with its base offset. One `appendAll` call lands in one flush,
 * so a request spread over partitions is committed all or nothing (up to 50 partitions).
 *
 * Uploads of several flushes may overlap (`maxInflightFlushes`), but commits run one at a time in
 * flush order, so offsets follow acceptance order within a partition. `acks=0` appends resolve at
 * once; failures are then only counted.
 */
import { hostname } from 'node:os';
import { monotonicFactory } from 'ulid';
import { SpoolError } from '../errors.js';
import { encodeRecordBatch, type RecordInput } from '../format/index.js';
import type { Compression } from '../format/index.js';
import type { ObjectStore } from '../storage/ports.js';
import type { ChunkCache } from './cache.js';
import { maxChunksPerTransaction, partitionId, type CommitChunk, type Committer } from './commit.js';
import type { TopicItem } from './layout.js';
import { buildSegment, type ChunkInput } from './segment.js';

export type Acks = 0 | 1 | 'all';

export type AppendPayload =
  /** Records to encode; each must carry its timestamp. */
  | { readonly kind: 'records'; readonly records: readonly (RecordInput & { readonly timestampMs: number })[] }
  /** Validated client RecordBatches, stored byte for byte. */
  | { readonly kind: 'batches'; readonly bytes: Buffer; readonly recordCount: number; readonly maxTimestampMs: number };

export interface AppendRequest {
  readonly topic: TopicItem;
  readonly partition: number;
  readonly payload: AppendPayload;
  /** Epoch to fence the commit with, when the writer leads the partition. */
  readonly leaderEpoch?: number;
}

export interface ProducerOptions {
  readonly writerId?: string;
  readonly lingerMs?: number;
  readonly flushBytes?: number;
  /** Largest encoded RecordBatch the writer makes from HTTP records. */
  readonly maxBatchBytes?: number;
  readonly compression?: Compression;
  readonly maxInflightFlushes?: number;
  /** Appends wait while this many bytes are buffered or in flight. */
  readonly maxBufferedBytes?: number;
  readonly now?: () => number;
}

interface Waiter {
  readonly startDelta: number;
  readonly count: number;
  resolve(baseOffset: number): void;
  reject(error: unknown): void;
}

interface PartitionBuffer {
  readonly topic: TopicItem;
  readonly partition: number;
  readonly payloads: AppendPayload[];
  readonly waiters: Waiter[];
  recordCount: number;
  sizeBytes: number;
  maxTimestampMs: number;
  leaderEpoch?: number;
}

export class Producer {
  readonly writerId: string;
  readonly stats = { flushes: 0, objectsPut: 0, bytesPut: 0, recordsCommitted: 0, chunksCommitted: 0, failedAppends: 0 };
  private readonly lingerMs: number;
  private readonly flushBytes: number;
  private readonly maxBatchBytes: number;
  private readonly compression: Compression;
  private readonly maxInflight: number;
  private readonly maxBufferedBytes: number;
  private readonly now: () => number;
  private readonly ulid = monotonicFactory();

  private buffer = new Map<string, PartitionBuffer>();
  private bufferedBytes = 0;
  private inflightBytes = 0;
  private inflight = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  private commitChain: Promise<void> = Promise.resolve();
  private readonly idle = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly objects: ObjectStore,
    private readonly committer: Committer,
    private readonly cache: ChunkCache,
    options: ProducerOptions = {},
  ) {
    this.writerId = options.writerId ?? `${hostname().replace(/[^a-zA-Z0-9-]/g, '-')}-${process.pid}-${this.ulid().slice(-6)}`;
    this.lingerMs = options.lingerMs ?? 10;
    this.flushBytes = options.flushBytes ?? 4 * 1024 * 1024;
    this.maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024;
    this.compression = options.compression ?? 'none';
    this.maxInflight = options.maxInflightFlushes ?? 4;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.now = options.now ?? Date.now;
  }

  /**
   * Buffers every request in one step (so they share a flush) and resolves, per request, the base
   * offset of its first record once committed — or -1 at once with acks=0.
   */
  async appendAll(requests: readonly AppendRequest[], acks: Acks): Promise<number[]> {
    if (this.closed) throw new SpoolError('SHUTTING_DOWN', 'the writer is shutting down and accepts no more records');
    while (this.bufferedBytes + this.inflightBytes > this.maxBufferedBytes) await this.waitForProgress();
    const results = requests.map((request) => this.add(request));
    if (this.buffer.size >= maxChunksPerTransaction || this.bufferedBytes >= this.flushBytes) this.startFlush();
    else if (this.lingerMs <= 0) this.startFlush();
    else this.lingerTimer ??= setTimeout(() => this.startFlush(), this.lingerMs);
    if (acks === 0) {
      for (const result of results) result.catch(() => this.stats.failedAppends++);
      return requests.map(() => -1);
    }
    return Promise.all(results);
  }

  /** Flushes what is buffered and waits for every flush in flight. */
  async flush(): Promise<void> {
    this.startFlush();
    while (this.inflight > 0 || this.buffer.size > 0) {
      if (this.buffer.size > 0 && this.inflight < this.maxInflight) this.startFlush();
      await this.waitForProgress();
    }
  }

  /** Stops accepting, flushes what was accepted, and waits for its commit. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private add(request: AppendRequest): Promise<number> {
    const id = partitionId(request.topic.id, request.partition);
    let buffer = this.buffer.get(id);
    if (buffer === undefined) {
      buffer = { topic: request.topic, partition: request.partition, payloads: [], waiters: [], recordCount: 0, sizeBytes: 0, maxTimestampMs: -1 };
      this.buffer.set(id, buffer);
    }
    if (request.leaderEpoch !== undefined) buffer.leaderEpoch = request.leaderEpoch;
    const { count, sizeBytes, maxTimestampMs } = measure(request.payload);
    buffer.payloads.push(request.payload);
    buffer.maxTimestampMs = Math.max(buffer.maxTimestampMs, maxTimestampMs);
    this.bufferedBytes += sizeBytes;
    buffer.sizeBytes += sizeBytes;
    const startDelta = buffer.recordCount;
    buffer.recordCount += count;
    return new Promise<number>((resolve, reject) => buffer.waiters.push({ startDelta, count, resolve, reject }));
  }

  private startFlush(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    if (this.buffer.size === 0 || this.inflight >= this.maxInflight) return;
    const taken = [...this.buffer.values()];
    const takenBytes = this.bufferedBytes;
    this.buffer = new Map();
    this.bufferedBytes = 0;
    this.inflightBytes += takenBytes;
    this.inflight++;
    const done = this.runFlush(taken).finally(() => {
      this.inflight--;
      this.inflightBytes -= takenBytes;
      if (this.buffer.size > 0 && (this.bufferedBytes >= this.flushBytes || this.closed)) this.startFlush();
      else if (this.buffer.size > 0) this.lingerTimer ??= setTimeout(() => this.startFlush(), this.lingerMs);
      for (const wake of [...this.idle]) wake();
    });
    done.catch(() => undefined);
  }

  private async runFlush(buffers: PartitionBuffer[]): Promise<void> {
    this.stats.flushes++;
    const failAll = (error: unknown) => buffers.forEach((buffer) => buffer.waiters.forEach((waiter) => waiter.reject(error)));
    let chunks: CommitChunk[];
    let bytesByChunk: Buffer[];
    try {
      const createdMs = this.now();
      const inputs: ChunkInput[] = buffers.map((buffer) => ({
        topicId: buffer.topic.id,
        topic: buffer.topic.name,
        partition: buffer.partition,
        bytes: this.encode(buffer, createdMs),
        recordCount: buffer.recordCount,
        maxTimestampMs: buffer.maxTimestampMs,
      }));
      const objectKey = `segments/${new Date(createdMs).toISOString().slice(0, 13)}/${this.writerId}-${this.ulid(createdMs)}`;
      const { body, entries } = buildSegment(inputs, this.writerId, createdMs);
      await this.objects.put(objectKey, body);
      this.stats.objectsPut++;
      this.stats.bytesPut += body.length;
      chunks = entries.map((entry, index) => ({ ...entry, objectKey, leaderEpoch: buffers[index]!.leaderEpoch }));
      bytesByChunk = entries.map((entry) => body.subarray(entry.position, entry.position + entry.sizeBytes));
    } catch (error) {
      failAll(error);
      return;
    }
    // Commits run one at a time, in flush order.
    const commit = this.commitChain.then(async () => {
      try {
        const outcomes = await this.committer.commit(chunks);
        outcomes.forEach((outcome, index) => {
          const buffer = buffers[index]!;
          if (!outcome.ok) {
            buffer.waiters.forEach((waiter) => waiter.reject(outcome.error));
            return;
          }
          const chunk = chunks[index]!;
          this.cache.set(chunk.objectKey, chunk.position, Buffer.from(bytesByChunk[index]!));
          this.stats.chunksCommitted++;
          this.stats.recordsCommitted += chunk.recordCount;
          buffer.waiters.forEach((waiter) => waiter.resolve(outcome.baseOffset + waiter.startDelta));
        });
      } catch (error) {
        failAll(error);
      }
    });
    this.commitChain = commit;
    await commit;
  }

  /** Encodes a partition's payloads in order: runs of records become batches of at most maxBatchBytes. */
  private encode(buffer: PartitionBuffer, nowMs: number): Buffer[] {
    const out: Buffer[] = [];
    let run: RecordInput[] = [];
    let runBytes = 0;
    const flushRun = () => {
      if (run.length > 0) out.push(encodeRecordBatch(run, { compression: this.compression, nowMs }));
      run = [];
      runBytes = 0;
    };
    for (const payload of buffer.payloads) {
      if (payload.kind === 'batches') {
        flushRun();
        out.push(payload.bytes);
        continue;
      }
      for (const record of payload.records) {
        const size = recordSize(record);
        if (run.length > 0 && runBytes + size > this.maxBatchBytes) flushRun();
        run.push(record);
        runBytes += size;
      }
    }
    flushRun();
    return out;
  }

  private waitForProgress(): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.idle.delete(wake);
        resolve();
      };
      this.idle.add(wake);
    });
  }
}

function measure(payload: AppendPayload): { count: number; sizeBytes: number; maxTimestampMs: number } {
  if (payload.kind === 'batches') return { count: payload.recordCount, sizeBytes: payload.bytes.length, maxTimestampMs: payload.maxTimestampMs };
  let sizeBytes = 0;
  let maxTimestampMs = -1;
  for (const record of payload.records) {
    sizeBytes += recordSize(record);
    if (record.timestampMs > maxTimestampMs) maxTimestampMs = record.timestampMs;
  }
  return { count: payload.records.length, sizeBytes, maxTimestampMs };
}

/** Upper bound of a record's encoded size, in bytes. */
export function recordSize(record: RecordInput): number {
  let size = 21 + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const header of record.headers ?? []) size += 10 + Buffer.byteLength(header.key) + (header.value?.length ?? 0);
  return size;
}
