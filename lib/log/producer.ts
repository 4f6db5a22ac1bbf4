/**
 * The write path: buffer, segment, commit, acknowledge.
 *
 * Appends are buffered per partition. Flushes are group commits: the buffer is flushed as soon as
 * one of `maxInflightFlushes` flush slots is free and `batchIntervalMs` have passed since the
 * previous flush started, so a lone request after a quiet spell waits for no timer, and a writer
 * whose slots are all busy batches whatever arrives until one is free (with one slot: until its
 * previous flush is committed). The interval is the cost/latency knob: a writer starts at most one
 * flush per interval (one object PUT and one commit per partition touched), unless the buffer
 * reaches `flushBytes`, which seals it and flushes it as soon as a slot is free, whatever the
 * interval. A flush takes the whole buffer, encodes each partition's records as Kafka
 * RecordBatch v2 batches (client batches are kept as they came), writes ONE segment object holding
 * every partition's chunk, then commits the chunks (commit.ts: transactions of up to 50 partitions,
 * concurrently) and resolves each append with its base offset. One `appendAll` call lands in one
 * flush and its partitions in one transaction (a commit unit), so a request spread over partitions is
 * committed all or nothing (up to 50 partitions). Calls that share a partition share a unit; the
 * buffer is sealed before a call whose unit would outgrow a transaction.
 *
 * Uploads of several flushes may overlap, but commits run one at a time in flush order, so offsets
 * follow acceptance order within a partition. `acks=0` appends resolve at once; failures are then
 * only counted.
 */
import { hostname } from 'node:os';
import { monotonicFactory } from 'ulid';
import { SpoolError } from '../errors.js';
import { encodeRecordBatch, type RecordInput } from '../format/index.js';
import type { Compression } from '../format/index.js';
import { maxTransactionOps, type ObjectStore } from '../storage/ports.js';
import type { ChunkCache } from './cache.js';
import { maxChunksPerTransaction, partitionId, type ChunkProducer, type CommitChunk, type Committer } from './commit.js';
import type { ProducerBatch } from './idempotence.js';
import type { TopicItem } from './layout.js';
import { HedgedPut, type HedgeOptions } from './hedged-put.js';
import { buildSegment, type ChunkInput } from './segment.js';

export type Acks = 0 | 1 | 'all';

export type AppendPayload =
  /** Records to encode; each must carry its timestamp (the time of append, when `timestampType` is log-append). */
  | {
      readonly kind: 'records';
      readonly records: readonly (RecordInput & { readonly timestampMs: number })[];
      readonly timestampType: 'create' | 'log-append';
    }
  /** Validated client RecordBatches, stored byte for byte. */
  | { readonly kind: 'batches'; readonly bytes: Buffer; readonly recordCount: number; readonly maxTimestampMs: number };

export interface AppendRequest {
  readonly topic: TopicItem;
  readonly partition: number;
  readonly payload: AppendPayload;
  /** Epoch to fence the commit with, when the writer leads the partition. */
  readonly leaderEpoch?: number;
  /** An idempotent producer's batch (already checked by the Log): its state moves in the same commit. */
  readonly producer?: ProducerBatch;
}

export interface ProducerOptions {
  readonly writerId?: string;
  /** Least time between the starts of two flushes, unless `flushBytes` are buffered. 0: a flush starts whenever a slot is free. @default 10 */
  readonly batchIntervalMs?: number;
  readonly flushBytes?: number;
  /** Largest encoded RecordBatch the writer makes from HTTP records. */
  readonly maxBatchBytes?: number;
  readonly compression?: Compression;
  readonly maxInflightFlushes?: number;
  /** Appends wait while this many bytes are buffered or in flight. */
  readonly maxBufferedBytes?: number;
  /** Longest time from the start of a segment's upload to its commit. @default 600 000 (10 min) */
  readonly maxCommitAgeMs?: number;
  /** Hedging of slow segment PUTs (see hedged-put.ts). */
  readonly hedge?: HedgeOptions;
  readonly now?: () => number;
}

interface Waiter {
  readonly startDelta: number;
  readonly count: number;
  /** The idempotent or transactional producer of the append, if any. */
  readonly producerId?: number;
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
  /** Idempotent producers' batches, by producer id, in order. */
  readonly producers: Map<
    number,
    { producerEpoch: number; batches: ChunkProducer['batches'][number][]; transaction?: ChunkProducer['transaction'] }
  >;
}

interface Uploaded {
  readonly chunks: CommitChunk[];
  readonly bytesByChunk: Buffer[];
  readonly notAfterMs: number;
}

interface OpenBuffer {
  readonly partitions: Map<string, PartitionBuffer>;
  /** The partitions that commit together (those of one request, and transitively), as a forest: partition → parent. */
  readonly units: Map<string, string>;
  /** Per unit, by its root: its partitions, and the writes its commit takes (commit.ts: 2 per partition, 1 per idempotent producer in each). */
  readonly unitShapes: Map<string, UnitShape>;
  sizeBytes: number;
}

interface UnitShape {
  partitions: number;
  writes: number;
}

const openBuffer = (): OpenBuffer => ({ partitions: new Map(), units: new Map(), unitShapes: new Map(), sizeBytes: 0 });

/** The root of a partition's unit in `buffer` (the partition must be in it). */
function unitOf(buffer: OpenBuffer, id: string): string {
  let root = id;
  while (buffer.units.get(root) !== root) root = buffer.units.get(root)!;
  for (let at = id; at !== root; ) {
    const next = buffer.units.get(at)!;
    buffer.units.set(at, root);
    at = next;
  }
  return root;
}

/** The unit the requests' partitions would form in `buffer` with the units they share a partition with. */
function joinedShape(buffer: OpenBuffer, requests: readonly AppendRequest[]): UnitShape {
  const roots = new Set<string>();
  const added = new Set<string>();
  let partitions = 0;
  let writes = 0;
  for (const request of requests) {
    const id = partitionId(request.topic.id, request.partition);
    const buffered = buffer.partitions.get(id);
    if (buffered) roots.add(unitOf(buffer, id));
    else if (!added.has(id)) {
      added.add(id);
      partitions++;
      writes += 2;
    }
    const producer = request.producer?.producerId;
    if (producer !== undefined && !buffered?.producers.has(producer) && !added.has(`${id}\u0000${producer}`)) {
      added.add(`${id}\u0000${producer}`);
      writes++;
    }
  }
  for (const root of roots) {
    partitions += buffer.unitShapes.get(root)!.partitions;
    writes += buffer.unitShapes.get(root)!.writes;
  }
  return { partitions, writes };
}

/** Makes `ids` (partitions already added to `buffer`, each a unit at least) one unit. */
function joinUnit(buffer: OpenBuffer, ids: ReadonlySet<string>): void {
  let root: string | undefined;
  for (const id of ids) {
    const other = unitOf(buffer, id);
    if (root === undefined) root = other;
    else if (other !== root) {
      const into = buffer.unitShapes.get(root)!;
      const from = buffer.unitShapes.get(other)!;
      buffer.units.set(other, root);
      into.partitions += from.partitions;
      into.writes += from.writes;
      buffer.unitShapes.delete(other);
    }
  }
}

export class Producer {
  readonly writerId: string;
  readonly stats = { flushes: 0, objectsPut: 0, bytesPut: 0, recordsCommitted: 0, chunksCommitted: 0, failedAppends: 0 };
  private readonly batchIntervalMs: number;
  private readonly flushBytes: number;
  private readonly maxBatchBytes: number;
  private readonly compression: Compression;
  private readonly maxInflight: number;
  private readonly maxBufferedBytes: number;
  private readonly maxCommitAgeMs: number;
  private readonly now: () => number;
  private readonly ulid = monotonicFactory();
  readonly uploads: HedgedPut;

  /** Appends land here until it is sealed; sealed buffers wait for a flush slot, oldest first. */
  private current: OpenBuffer = openBuffer();
  private readonly sealed: OpenBuffer[] = [];
  /** Bytes in `current` and `sealed`. */
  private bufferedBytes = 0;
  private inflightBytes = 0;
  private inflight = 0;
  /** When the last flush started (performance.now(): timers run on real time, whatever `now` says), and the timer that starts the next one an interval later. */
  private lastFlushStartMs = Number.NEGATIVE_INFINITY;
  private intervalTimer: NodeJS.Timeout | undefined;
  private commitChain: Promise<void> = Promise.resolve();
  private readonly idle = new Set<() => void>();
  private closed = false;

  constructor(
    objects: ObjectStore,
    private readonly committer: Pick<Committer, 'commit'>,
    private readonly cache: ChunkCache,
    options: ProducerOptions = {},
  ) {
    this.writerId = options.writerId ?? `${hostname().replace(/[^a-zA-Z0-9-]/g, '-')}-${process.pid}-${this.ulid().slice(-6)}`;
    this.batchIntervalMs = options.batchIntervalMs ?? 10;
    this.flushBytes = options.flushBytes ?? 4 * 1024 * 1024;
    this.maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024;
    this.compression = options.compression ?? 'none';
    this.maxInflight = options.maxInflightFlushes ?? 4;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.maxCommitAgeMs = options.maxCommitAgeMs ?? 600_000;
    this.now = options.now ?? Date.now;
    this.uploads = new HedgedPut(objects, options.hedge);
  }

  /**
   * Buffers every request in one step (so they share a flush) and resolves, per request, the base
   * offset of its first record once committed — or -1 at once with acks=0.
   */
  async appendAll(requests: readonly AppendRequest[], acks: Acks): Promise<number[]> {
    this.checkOpen();
    while (this.bufferedBytes + this.inflightBytes > this.maxBufferedBytes) await this.waitForProgress();
    this.checkOpen(); // close() may have run while we waited
    for (const request of requests) {
      if (measure(request.payload).count === 0) throw new SpoolError('INVALID_ARGUMENT', 'an append must hold at least one record');
    }
    // One call's partitions commit in one transaction (commit.ts units): seal the buffer first if the
    // unit they would join, through partitions shared with earlier calls, would not fit in one.
    if (this.current.partitions.size > 0) {
      const joined = joinedShape(this.current, requests);
      if (joined.partitions > maxChunksPerTransaction || joined.writes > maxTransactionOps) this.seal();
      // A chunk holds one transactional state per producer: batches of another epoch or verified under another marker go in the next.
      else if (requests.some((request) => this.changesTransaction(request))) this.seal();
    }
    const results = requests.map((request) => this.add(request));
    joinUnit(this.current, new Set(requests.map((r) => partitionId(r.topic.id, r.partition))));
    if (this.current.sizeBytes >= this.flushBytes) this.seal();
    this.schedule();
    if (acks === 0) {
      for (const result of results) result.catch(() => this.stats.failedAppends++);
      return requests.map(() => -1);
    }
    return Promise.all(results);
  }

  /**
   * Resolves once an append would be buffered at once (not held back by `maxBufferedBytes`). A caller
   * that awaits this and then calls `appendAll` in the same turn is buffered in its call order.
   */
  async whenAccepting(): Promise<void> {
    while (this.bufferedBytes + this.inflightBytes > this.maxBufferedBytes) await this.waitForProgress();
  }

  /** Flushes what is buffered now, whatever the interval, and waits for every flush in flight. */
  async flush(): Promise<void> {
    // Nothing is left for the interval's timer to start (appends arriving meanwhile set their own).
    clearTimeout(this.intervalTimer);
    this.intervalTimer = undefined;
    this.seal();
    while (this.inflight > 0 || this.sealed.length > 0) {
      this.startSealed();
      await this.waitForProgress();
    }
  }

  /** Stops accepting, flushes what was accepted, and waits for its commit. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private checkOpen(): void {
    if (this.closed) throw new SpoolError('SHUTTING_DOWN', 'the writer is shutting down and accepts no more records');
  }

  private add(request: AppendRequest): Promise<number> {
    const id = partitionId(request.topic.id, request.partition);
    let buffer = this.current.partitions.get(id);
    if (buffer === undefined) {
      buffer = {
        topic: request.topic,
        partition: request.partition,
        payloads: [],
        waiters: [],
        recordCount: 0,
        sizeBytes: 0,
        maxTimestampMs: -1,
        producers: new Map(),
      };
      this.current.partitions.set(id, buffer);
      this.current.units.set(id, id);
      this.current.unitShapes.set(id, { partitions: 1, writes: 2 });
    }
    if (request.leaderEpoch !== undefined) buffer.leaderEpoch = request.leaderEpoch;
    const { count, sizeBytes, maxTimestampMs } = measure(request.payload);
    buffer.payloads.push(request.payload);
    buffer.maxTimestampMs = Math.max(buffer.maxTimestampMs, maxTimestampMs);
    buffer.sizeBytes += sizeBytes;
    this.current.sizeBytes += sizeBytes;
    this.bufferedBytes += sizeBytes;
    const startDelta = buffer.recordCount;
    buffer.recordCount += count;
    if (request.producer) {
      const { producerId, producerEpoch, firstSequence, lastSequence } = request.producer;
      let producer = buffer.producers.get(producerId);
      // A new producer in the chunk is one more write in its unit's commit (its state item).
      if (producer === undefined) this.current.unitShapes.get(unitOf(this.current, id))!.writes++;
      // A new epoch starts the producer's sequences over: only its batches are remembered (the buffer
      // was sealed before a transactional producer's new epoch, appendAll).
      if (producer === undefined || producer.producerEpoch !== producerEpoch)
        buffer.producers.set(producerId, (producer = { producerEpoch, batches: [] }));
      producer.batches.push({ firstSequence, lastSequence, startDelta });
      if (request.producer.transaction) producer.transaction = request.producer.transaction;
    }
    const producerId = request.producer?.producerId;
    return new Promise<number>((resolve, reject) => buffer.waiters.push({ startDelta, count, producerId, resolve, reject }));
  }

  /**
   * Whether the request's producer is buffered for its partition under another epoch or another
   * marker version, either one transactional: the chunk's commit checks one transactional state per
   * producer (commit.ts), so such a batch waits for the next buffer.
   */
  private changesTransaction(request: AppendRequest): boolean {
    if (request.producer === undefined) return false;
    const buffered = this.current.partitions
      .get(partitionId(request.topic.id, request.partition))
      ?.producers.get(request.producer.producerId);
    if (buffered === undefined || (buffered.transaction === undefined && request.producer.transaction === undefined)) return false;
    return (
      buffered.producerEpoch !== request.producer.producerEpoch ||
      buffered.transaction?.markerVersion !== request.producer.transaction?.markerVersion
    );
  }

  /** Closes the current buffer to further appends; it is flushed, in order, as soon as a slot is free. */
  private seal(): void {
    if (this.current.partitions.size === 0) return;
    this.sealed.push(this.current);
    this.current = openBuffer();
  }

  /**
   * The group commit: sealed buffers go as soon as a flush slot is free; the open buffer goes when a
   * slot is free and an interval has passed since the last flush started (else a timer, or the end
   * of a flush in flight, calls this again).
   */
  private schedule(): void {
    this.startSealed();
    if (this.current.partitions.size === 0 || this.inflight >= this.maxInflight || this.intervalTimer !== undefined) return;
    const waitMs = this.lastFlushStartMs + this.batchIntervalMs - performance.now();
    if (waitMs > 0) {
      this.intervalTimer = setTimeout(() => {
        this.intervalTimer = undefined;
        this.schedule();
      }, waitMs);
      return;
    }
    this.seal();
    this.startSealed();
  }

  /** Starts sealed buffers, oldest first, while flush slots are free. */
  private startSealed(): void {
    while (this.inflight < this.maxInflight && this.sealed.length > 0) {
      const taken = this.sealed.shift()!;
      this.lastFlushStartMs = performance.now();
      this.bufferedBytes -= taken.sizeBytes;
      this.inflightBytes += taken.sizeBytes;
      this.inflight++;
      const buffers = [...taken.partitions.values()];
      // Per buffer, the root of its partition's unit: the chunks that commit in one transaction (commit.ts).
      const units = [...taken.partitions.keys()].map((id) => unitOf(taken, id));
      void this.runFlush(buffers, units).finally(() => {
        this.inflight--;
        this.inflightBytes -= taken.sizeBytes;
        this.schedule();
        for (const wake of [...this.idle]) wake();
      });
    }
  }

  /**
   * Starts the upload now, and takes the next place in the commit chain now (not when the upload
   * ends), so flushes commit in the order they were taken even when a later upload finishes first.
   */
  private runFlush(buffers: PartitionBuffer[], units: readonly string[]): Promise<void> {
    this.stats.flushes++;
    const failAll = (error: unknown) => {
      for (const buffer of buffers) for (const waiter of buffer.waiters) waiter.reject(error);
    };
    const upload = this.upload(buffers, units).catch((error) => {
      failAll(error);
      return undefined;
    });
    const previous = this.commitChain;
    const done = (async () => {
      const uploaded = await upload;
      await previous;
      if (uploaded) await this.commitUploaded(buffers, uploaded).catch(failAll);
    })();
    this.commitChain = done;
    return done;
  }

  private async upload(buffers: PartitionBuffer[], units: readonly string[]): Promise<Uploaded> {
    const createdMs = this.now();
    const uploaded = await this.uploadChunks(
      buffers.map((buffer) => ({
        topic: buffer.topic,
        partition: buffer.partition,
        bytes: this.encode(buffer, createdMs),
        recordCount: buffer.recordCount,
        maxTimestampMs: buffer.maxTimestampMs,
      })),
      createdMs,
    );
    return {
      chunks: uploaded.chunks.map((chunk, index) => ({
        ...chunk,
        leaderEpoch: buffers[index]!.leaderEpoch,
        producers: chunkProducers(buffers[index]!),
        unit: units[index],
      })),
      bytesByChunk: uploaded.bytesByChunk,
      notAfterMs: this.commitDeadlineMs(createdMs),
    };
  }

  /** The latest time a segment stored at `createdMs` may be committed (see Committer.commit's notAfterMs). */
  commitDeadlineMs(createdMs: number): number {
    return createdMs + this.maxCommitAgeMs;
  }

  /**
   * Stores one segment object holding the chunks (one per partition), made at `createdMs`: the
   * chunks to commit, and each one's bytes. The flush's path, and the transaction markers' (Log.writeMarkers).
   */
  async uploadChunks(
    chunks: readonly {
      topic: Pick<TopicItem, 'id' | 'name'>;
      partition: number;
      bytes: Buffer | Buffer[];
      recordCount: number;
      maxTimestampMs: number;
    }[],
    createdMs: number,
  ): Promise<{ chunks: CommitChunk[]; bytesByChunk: Buffer[] }> {
    const inputs: ChunkInput[] = chunks.map((chunk) => ({
      topicId: chunk.topic.id,
      topic: chunk.topic.name,
      partition: chunk.partition,
      bytes: Array.isArray(chunk.bytes) ? chunk.bytes : [chunk.bytes],
      recordCount: chunk.recordCount,
      maxTimestampMs: chunk.maxTimestampMs,
    }));
    const key = `segments/${new Date(createdMs).toISOString().slice(0, 13)}/${this.writerId}-${this.ulid(createdMs)}`;
    const { body, entries } = buildSegment(inputs, this.writerId, createdMs);
    const objectKey = await this.uploads.put(key, body);
    this.stats.objectsPut++;
    this.stats.bytesPut += body.length;
    return {
      chunks: entries.map((entry) => ({ ...entry, objectKey })),
      bytesByChunk: entries.map((entry) => body.subarray(entry.position, entry.position + entry.sizeBytes)),
    };
  }

  private async commitUploaded(buffers: PartitionBuffer[], { chunks, bytesByChunk, notAfterMs }: Uploaded): Promise<void> {
    const outcomes = await this.committer.commit(chunks, { notAfterMs });
    outcomes.forEach((outcome, index) => {
      const buffer = buffers[index]!;
      if (!outcome.ok) {
        // A refusal of one producer's batches (a transaction ended under them) is theirs; the others' records were refused with them, and are sent again.
        const producerId = outcome.error.details.producer_id;
        for (const waiter of buffer.waiters)
          waiter.reject(producerId === undefined || waiter.producerId === producerId ? outcome.error : sendAgain(buffer, outcome.error));
        return;
      }
      const chunk = chunks[index]!;
      this.cache.set(chunk.objectKey, chunk.position, Buffer.from(bytesByChunk[index]!));
      this.stats.chunksCommitted++;
      this.stats.recordsCommitted += chunk.recordCount;
      for (const waiter of buffer.waiters) waiter.resolve(outcome.baseOffset + waiter.startDelta);
    });
  }

  /** Encodes a partition's payloads in order: runs of records become batches of at most maxBatchBytes. */
  private encode(buffer: PartitionBuffer, nowMs: number): Buffer[] {
    const out: Buffer[] = [];
    let run: RecordInput[] = [];
    let runBytes = 0;
    let runType: 'create' | 'log-append' = 'create';
    const flushRun = () => {
      if (run.length > 0) out.push(encodeRecordBatch(run, { compression: this.compression, nowMs, timestampType: runType }));
      run = [];
      runBytes = 0;
    };
    for (const payload of buffer.payloads) {
      if (payload.kind === 'batches') {
        flushRun();
        out.push(payload.bytes);
        continue;
      }
      if (payload.timestampType !== runType) flushRun();
      runType = payload.timestampType;
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

function sendAgain(buffer: PartitionBuffer, cause: SpoolError): SpoolError {
  return new SpoolError(
    'NOT_LEADER',
    `${buffer.topic.name}/${buffer.partition}: the chunk was refused for another producer's batch (${cause.message}); send again`,
    { details: { topic: buffer.topic.name, partition: buffer.partition } },
  );
}

function chunkProducers(buffer: PartitionBuffer): ChunkProducer[] | undefined {
  if (buffer.producers.size === 0) return undefined;
  return [...buffer.producers.entries()].map(([producerId, { producerEpoch, batches, transaction }]) => ({
    producerId,
    producerEpoch,
    batches,
    ...(transaction ? { transaction } : {}),
  }));
}

function measure(payload: AppendPayload): { count: number; sizeBytes: number; maxTimestampMs: number } {
  if (payload.kind === 'batches')
    return { count: payload.recordCount, sizeBytes: payload.bytes.length, maxTimestampMs: payload.maxTimestampMs };
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
