/**
 * The write side of packed commits (docs/packed-commits.md): an agent whose partition leases ride on
 * its registration packs the partitions it takes, and commits a flush's chunks of them as one item of
 * its log (writer-log.ts), whatever their number, instead of a compare-and-set per partition.
 *
 * - A lease take (leases.ts) that packs sets the item's `packedBy` to this writer's id and
 *   `packedSeq` to its last sequence number, in the write that takes it; from then on the writer
 *   assigns the partition's offsets from its end, in memory (`adopt`).
 * - `commit` assigns each chunk the partition's end at commit time and commits them in one packed
 *   commit; commits run one at a time, in call order (the producer's flush order), so a partition's
 *   chunks land in offset order and a failure leaves no hole (the next commit is planned at the same
 *   end). A commit whose outcome stays unknown is settled by claiming its sequence number
 *   (writer-log.ts `abandon`) before anything after it is committed.
 * - The writer keeps each packed partition's tail (its chunks not yet rows) for the reader and for its
 *   producers' state (idempotence). Every `materializeMs` a round turns the tails that are due into
 *   rows (packed.ts `unpackPartition`, up to its last commit: commits go on meanwhile): a tail is due
 *   once it holds a row's worth (`maxMergedBytes`) or its oldest commit is `materializeAgeMs` old. A
 *   row costs the same write units whatever it holds, so a slow partition waits to fill it (a tail is
 *   memory here, and its commits stay in the log until every partition's rows hold them).
 * - `leave` stops packing a partition: no commit is planned for it after, the commits under way end,
 *   its tail becomes rows and `packedBy` is cleared (before its lease is released, and before a
 *   transaction marker or a request mixing it with unpacked partitions is committed per partition).
 * - Asked to leave partitions by other writers (writer-log.ts `requestLeave`: a lease-less produce, a
 *   marker from another agent), it learns of it when its next commit is refused for the request (or
 *   within 5 s, idle: its fence is read every 5 s): it stops planning commits for them, refuses their
 *   chunks in that commit as a moved leader's, leaves them, clears the requests, and commits the rest.
 * - Fenced (another writer took over after this one's registration lapsed: every commit is then
 *   refused, writer-log.ts invariant 2), the writer drops every partition it packed, tells the lease
 *   manager they are lost, and packs under a new writer id from then on.
 *
 * Invariants it keeps (with packed.ts and writer-log.ts; the invariants suite runs in packed mode):
 * offsets dense and assigned once (one assigner per partition: `packedBy`, and one commit at a time
 * here); nothing acknowledged before its commit landed; a fenced writer commits nothing.
 */
import pMap from 'p-map';
import { SpoolError } from '../errors.js';
import type { MetadataStore } from '../storage/ports.js';
import { packedCommitKey } from '../keys.js';
import { partitionId, type CommitChunk, type CommitOutcome } from './commit.js';
import type { ProducerState, ProducerStates } from './idempotence.js';
import { appendedBy, producerStateWithTail, rowOf, unpackPartition, type TailChunk } from './packed.js';
import type { BatchRow } from './layout.js';
import type { Metrics } from '../metrics.js';
import {
  LeaveRequestedError,
  WriterLog,
  clearLeaveRequests,
  readFence,
  readPackedCommits,
  type PackedChunk,
  type PackedCommit,
  type WriterFence,
} from './writer-log.js';

/**
 * Whether a Log packs commits where its leases ride on a registration: `true`, always (whoever runs it
 * vouches that every writer knows packing); `false`, never; `'auto'`, once the cluster's
 * `spool.commit.version` is finalized at 1 (features.ts, `kafka-features.sh upgrade`).
 */
export type PackedCommitsMode = boolean | 'auto';

/** `LogOptions.packedCommits` and SPOOL_PACKED_COMMITS unless told otherwise. */
export const packedCommitsByDefault: PackedCommitsMode = 'auto';

export interface PackingOptions {
  readonly now?: () => number;
  readonly producerStates: ProducerStates;
  /** How often a round turns the tails that are due into rows. @default 10 000 */
  readonly materializeMs?: number;
  /** A tail is due once its oldest commit is this old (or it holds `maxMergedBytes`). @default 30 000 */
  readonly materializeAgeMs?: number;
  /** Kafka's producer.id.expiration.ms (idempotence.ts). */
  readonly producerIdExpirationMs?: number;
  /** Told after every commit, per partition: its new end. */
  readonly onCommitted?: (topicId: string, partition: number, nextOffset: number) => void;
  /** Told once fenced: the partitions (and the epochs they were taken at) it packed, now lost. */
  readonly onFenced?: (
    lost: readonly { readonly topicId: string; readonly topicName: string; readonly partition: number; readonly epoch: number }[],
  ) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Packed commits are counted here as commits (`Commits`), as commit.ts counts its transactions. */
  readonly metrics?: Metrics;
  /**
   * Materialisation copies a partition's tail into one object, so it becomes one row (a flush row of
   * up to `maxMergedBytes`), not a row per chunk: `readChunk` gets a chunk's bytes (the cache, else
   * the object store), `upload` stores a segment (producer.ts `uploadChunks`), `remember` caches it.
   * Without them, a row per chunk.
   */
  readonly merge?: {
    readonly readChunk: (objectKey: string, position: number, sizeBytes: number) => Promise<Buffer>;
    readonly upload: (
      runs: readonly {
        topic: { id: string; name: string };
        partition: number;
        bytes: Buffer[];
        recordCount: number;
        maxTimestampMs: number;
      }[],
      createdMs: number,
    ) => Promise<{ chunks: readonly { objectKey: string; position: number }[] }>;
    readonly remember: (objectKey: string, position: number, bytes: Buffer) => void;
    /** A copy is used only if its rows can be written by then after its upload (the collector's bound). */
    readonly maxCommitAgeMs: number;
  };
}

/** Most bytes of a merged row (a flush row is read whole). */
export const maxMergedBytes = 1024 * 1024;

/** How often an idle packing writer reads its fence at least (leave requests, a takeover): one read. */
const fenceCheckMs = 5_000;

/** Most idempotent producers with batches in one merged row (its step writes their states with it). */
const maxRunProducers = 90;

/** Most bytes of one object materialisation copies tails into (it holds them in memory to upload them). */
export const maxCopyBytes = 64 * 1024 * 1024;

interface Packed {
  readonly topicId: string;
  readonly topicName: string;
  readonly partition: number;
  readonly epoch: number;
  /** The next offset to assign. */
  end: number;
  /** Committed chunks not yet known to be rows, in offset order. */
  tail: TailChunk[];
  /** No commit is planned for it any more (`leave`). */
  leaving: boolean;
  /** The `leave` under way. */
  left?: Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class PackingWriter {
  private incarnation = 0;
  private log: WriterLog | undefined;
  private seq = 0;
  /** Commits run one at a time: each waits for the one before. */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly packed = new Map<string, Packed>();
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly materializeMs: number;
  private readonly materializeAgeMs: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The last sequence number whose commit is decided (landed or abandoned). */
  private settledSeq = 0;
  /** When the last materialisation round started. */
  private lastRoundMs = 0;
  /** This incarnation's commits up to here are deleted (every partition's rows hold them). */
  private deletedThrough = 0;
  readonly stats = { commits: 0, chunks: 0, unpacks: 0, fences: 0, abandoned: 0, deleted: 0, leaveRequests: 0 };

  constructor(
    private readonly metadata: MetadataStore,
    /** This process's writer id; the packing writer id adds its incarnation. */
    private readonly baseId: string,
    /** The registration (node id) it packs for. */
    private readonly node: () => number | undefined,
    private readonly options: PackingOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? defaultSleep;
    this.materializeMs = options.materializeMs ?? 10_000;
    this.materializeAgeMs = options.materializeAgeMs ?? 30_000;
  }

  /** The id partitions packed here carry in `packedBy`. */
  get writerId(): string {
    return `${this.baseId}.p${this.incarnation}`;
  }

  /** What a lease take records as `packedSeq`: every commit after it is numbered higher. */
  get lastSeq(): number {
    return this.seq;
  }

  /** A partition taken in packed mode at `epoch`, its offsets going on at `end`; `tail`: its commits not yet rows (none after a take). */
  adopt(topicId: string, topicName: string, partition: number, epoch: number, end: number, tail: readonly TailChunk[] = []): void {
    // A writer that packed nothing starts its interval now: its first round comes `materializeMs` after it starts packing.
    if (this.packed.size === 0) this.lastRoundMs = this.now();
    this.packed.set(partitionId(topicId, partition), { topicId, topicName, partition, epoch, end, tail: [...tail], leaving: false });
    this.keepMaterializing();
  }

  /** Whether the partition is packed here, being left or not (`leave` then waits for it to be left). */
  holds(topicId: string, partition: number): boolean {
    return this.packed.has(partitionId(topicId, partition));
  }

  /** Whether a chunk of the partition at `epoch` is committed here. */
  packs(topicId: string, partition: number, epoch?: number): boolean {
    const packed = this.packed.get(partitionId(topicId, partition));
    return packed !== undefined && !packed.leaving && (epoch === undefined || packed.epoch === epoch);
  }

  /** The end of a partition packed here (not being left): its next offset, every commit to it being this writer's. */
  endOf(topicId: string, partition: number): number | undefined {
    const packed = this.packed.get(partitionId(topicId, partition));
    return packed === undefined || packed.leaving ? undefined : packed.end;
  }

  get packedCount(): number {
    return this.packed.size;
  }

  /** The partition's tail as commits after `afterSeq`, if `writerId` is this writer and packs it (the reader's and producer states' source). */
  localCommits(writerId: string, topicId: string, partition: number, afterSeq: number): PackedCommit[] | undefined {
    if (writerId !== this.writerId) return undefined;
    const packed = this.packed.get(partitionId(topicId, partition));
    if (packed === undefined) return undefined;
    return packed.tail
      .filter((chunk) => chunk.seq > afterSeq)
      .map((chunk) => ({ seq: chunk.seq, committedMs: chunk.committedMs, abandoned: false, chunks: [chunk] }));
  }

  /** A partition's commits after a sequence number: this writer's own from memory, another's (an earlier incarnation's) from its log. */
  private ownCommits(topicId: string, partition: number) {
    return async (writerId: string, afterSeq: number) =>
      this.localCommits(writerId, topicId, partition, afterSeq) ?? readPackedCommits(this.metadata, writerId, afterSeq);
  }

  /** An idempotent producer's state on a partition packed here: the stored state and the tail's batches. */
  producerState(topicId: string, partition: number, producerId: number): Promise<ProducerState | null> {
    return producerStateWithTail(
      this.metadata,
      topicId,
      partition,
      producerId,
      this.ownCommits(topicId, partition),
      this.options.producerIdExpirationMs,
    );
  }

  /** Commits chunks of partitions packed here (`packs`), after every commit asked for before. */
  commit(chunks: readonly CommitChunk[], notAfterMs = Infinity): Promise<CommitOutcome[]> {
    const run = this.chain.then(() => this.commitNow(chunks, notAfterMs));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async commitNow(chunks: readonly CommitChunk[], notAfterMs: number): Promise<CommitOutcome[]> {
    const outcomes: CommitOutcome[] = new Array(chunks.length);
    const planned: { index: number; packed: Packed; chunk: PackedChunk }[] = [];
    if (this.now() > notAfterMs) {
      const late = new SpoolError('TIMEOUT', 'the segment was stored too long ago to be committed safely; send again');
      return chunks.map(() => ({ ok: false, error: late }));
    }
    let log: WriterLog;
    try {
      log = await this.open();
      // Producers' states are known before their batches commit (loaded through the tail if not cached).
      for (const chunk of chunks)
        for (const producer of chunk.producers ?? [])
          if (this.options.producerStates.committed(chunk.topicId, chunk.partition, producer.producerId) === undefined)
            await this.options.producerStates.load(chunk.topicId, chunk.partition, producer.producerId);
    } catch (error) {
      return chunks.map(() => failed(error));
    }
    for (const [index, chunk] of chunks.entries()) {
      const packed = this.packed.get(partitionId(chunk.topicId, chunk.partition));
      if (packed === undefined || packed.leaving || (chunk.leaderEpoch !== undefined && chunk.leaderEpoch !== packed.epoch)) {
        outcomes[index] = { ok: false, error: notPacked(chunk) };
        continue;
      }
      planned.push({
        index,
        packed,
        chunk: {
          topicId: chunk.topicId,
          partition: chunk.partition,
          baseOffset: packed.end,
          recordCount: chunk.recordCount,
          objectKey: chunk.objectKey,
          position: chunk.position,
          sizeBytes: chunk.sizeBytes,
          maxTimestampMs: chunk.maxTimestampMs,
          producers: (chunk.producers ?? []).flatMap((producer) =>
            producer.batches.map((batch) => ({
              producerId: producer.producerId,
              producerEpoch: producer.producerEpoch,
              firstSequence: batch.firstSequence,
              lastSequence: batch.lastSequence,
              startDelta: batch.startDelta,
            })),
          ),
        },
      });
    }
    if (planned.length === 0) return outcomes;
    try {
      return await this.decide(log, ++this.seq, planned, outcomes);
    } finally {
      // (commits run one at a time: every number up to the last taken is decided)
      if (this.log === log) this.settledSeq = this.seq;
    }
  }

  private async decide(
    log: WriterLog,
    seq: number,
    planned: readonly { index: number; packed: Packed; chunk: PackedChunk }[],
    outcomes: CommitOutcome[],
  ): Promise<CommitOutcome[]> {
    let committedMs: number;
    try {
      ({ committedMs } = await log.commit(
        seq,
        planned.map((plan) => plan.chunk),
      ));
    } catch (error) {
      if (error instanceof LeaveRequestedError) return this.leaveAsked(log, seq, planned, outcomes, error.fence);
      if (error instanceof SpoolError && error.code === 'FENCED_LEADER_EPOCH') {
        if (this.log === log) this.fenced(); // (not again if a materialisation round found the fence first)
        for (const { index } of planned) outcomes[index] = { ok: false, error };
        return outcomes;
      }
      // Unknown whether it landed: the sequence number is claimed, so it landed (found) or never will.
      const found = await this.settle(log, seq);
      if (found === undefined) {
        for (const { index } of planned) outcomes[index] = failed(error);
        return outcomes;
      }
      committedMs = found.committedMs;
    }
    return this.landed(seq, committedMs, planned, outcomes);
  }

  /** Commit `seq` landed, holding `planned`: their partitions' ends, tails and producers' states move, and they are acknowledged. */
  private landed(
    seq: number,
    committedMs: number,
    planned: readonly { index: number; packed: Packed; chunk: PackedChunk }[],
    outcomes: CommitOutcome[],
  ): CommitOutcome[] {
    this.stats.commits++;
    this.options.metrics?.emit({ Commits: [1, 'Count'], CommitConflicts: [0, 'Count'] });
    for (const { index, packed, chunk } of planned) {
      const tailChunk: TailChunk = { ...chunk, seq, committedMs };
      packed.end = chunk.baseOffset + chunk.recordCount;
      packed.tail.push(tailChunk);
      for (const producerId of new Set(chunk.producers.map((batch) => batch.producerId))) {
        const states = this.options.producerStates;
        const before = states.committed(chunk.topicId, chunk.partition, producerId) ?? null;
        const state = appendedBy(states.live(before), producerId, chunk, committedMs);
        if (state)
          states.committedAs(
            chunk.topicId,
            chunk.partition,
            producerId,
            before?.markerVersion === undefined ? state : { ...state, markerVersion: before.markerVersion },
          );
      }
      this.stats.chunks++;
      outcomes[index] = { ok: true, baseOffset: chunk.baseOffset };
      this.options.onCommitted?.(chunk.topicId, chunk.partition, packed.end);
    }
    return outcomes;
  }

  /**
   * Other writers asked this one to stop packing partitions (writer-log.ts `requestLeave`), and the
   * commit was refused for it: their chunks are refused as a moved leader's, the rest commit again
   * under the next number. The refused number is claimed first: an earlier attempt whose answer was
   * lost could otherwise land once the requests are cleared; if one did, the whole commit landed.
   */
  private async leaveAsked(
    log: WriterLog,
    seq: number,
    planned: readonly { index: number; packed: Packed; chunk: PackedChunk }[],
    outcomes: CommitOutcome[],
    fence: WriterFence,
  ): Promise<CommitOutcome[]> {
    try {
      await this.takeLeaveRequests(fence);
    } catch (error) {
      for (const { index } of planned) outcomes[index] = failed(error);
      return outcomes;
    }
    const found = await this.settle(log, seq);
    if (found !== undefined) return this.landed(seq, found.committedMs, planned, outcomes);
    for (const { index, packed } of planned) if (packed.leaving) outcomes[index] = { ok: false, error: notPackedAt(packed) };
    const kept = planned.filter(({ packed }) => !packed.leaving);
    return kept.length === 0 ? outcomes : this.decide(log, ++this.seq, kept, outcomes);
  }

  /**
   * Takes leave requests in hand: no commit is planned for those partitions from now on, each is left
   * (`leave`, after the commit under way), and the requests are cleared (not if a newer one came: the
   * next commit is refused for it again, or the next round reads it).
   */
  private async takeLeaveRequests(fence: WriterFence): Promise<void> {
    for (const { topicId, partition } of fence.leaveRequests) {
      const packed = this.packed.get(partitionId(topicId, partition));
      if (packed === undefined) continue;
      if (!packed.leaving) this.stats.leaveRequests++;
      this.leave(topicId, partition).catch(() => undefined); // (still packed if it failed: the requester asks again)
    }
    await clearLeaveRequests(this.metadata, fence);
  }

  /** Claims `seq` until the store answers: the commit found there, or undefined (none landed, none will). */
  private async settle(log: WriterLog, seq: number): Promise<PackedCommit | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        const found = await log.abandon(seq);
        if (found === undefined) this.stats.abandoned++;
        return found;
      } catch {
        await this.sleep(Math.min(5_000, 100 * 2 ** attempt));
      }
    }
  }

  /** The writer's log, opened (its fence created) once per incarnation; a fenced id moves to the next. */
  private async open(): Promise<WriterLog> {
    if (this.log) return this.log;
    for (;;) {
      const log = new WriterLog(this.metadata, this.writerId, { now: this.now, sleep: this.sleep });
      try {
        this.seq = Math.max(this.seq, await log.open(this.node() ?? null));
        this.settledSeq = this.deletedThrough = this.seq; // (this id's log holds nothing below)
        this.log = log;
        return log;
      } catch (error) {
        if (!(error instanceof SpoolError && error.code === 'FENCED_LEADER_EPOCH')) throw error;
        this.fenced();
      }
    }
  }

  /** Fenced: every partition packed here is lost; the next commit opens a new incarnation. */
  private fenced(): void {
    this.stats.fences++;
    const lost = [...this.packed.values()].map(({ topicId, topicName, partition, epoch }) => ({ topicId, topicName, partition, epoch }));
    this.packed.clear();
    this.log = undefined;
    this.incarnation++;
    this.options.onFenced?.(lost);
  }

  /**
   * Stops packing the partition: the commits under way end, its tail becomes rows, and `packedBy` is
   * cleared, so per-partition commits may write it. A partition not packed here is left alone; one
   * being left already, waited for.
   */
  leave(topicId: string, partition: number): Promise<void> {
    const packed = this.packed.get(partitionId(topicId, partition));
    if (packed === undefined) return Promise.resolve();
    packed.leaving = true;
    packed.left ??= this.leaveNow(packed).finally(() => {
      packed.left = undefined;
    });
    return packed.left;
  }

  private async leaveNow(packed: Packed): Promise<void> {
    await this.chain;
    try {
      await unpackPartition(this.metadata, packed.topicId, packed.partition, this.writerId, {
        release: true,
        commitsAfter: this.ownCommits(packed.topicId, packed.partition),
        nowMs: this.now,
        producerIdExpirationMs: this.options.producerIdExpirationMs,
      });
    } catch (error) {
      packed.leaving = false; // still packed here: commits may go on, and a later leave tries again
      throw error;
    }
    const id = partitionId(packed.topicId, packed.partition);
    if (this.packed.get(id) === packed) this.packed.delete(id);
    this.stats.unpacks++;
  }

  /**
   * Turns packed partitions' tails, as committed now, into rows: every tail (`'all'`), or those due
   * (`'due'`, the timer's rounds: a row's worth, or the oldest commit `materializeAgeMs` old). Each
   * is copied into one object (runs of up to `maxMergedBytes`, one row each) where `merge` is given.
   * Failures are tried again at the next round.
   */
  async materialize(tails: 'all' | 'due' = 'all'): Promise<void> {
    await this.checkFence();
    const nowMs = this.now();
    this.lastRoundMs = nowMs;
    const isDue = (tail: readonly TailChunk[]) =>
      nowMs - tail[0]!.committedMs >= this.materializeAgeMs || tail.reduce((bytes, chunk) => bytes + chunk.sizeBytes, 0) >= maxMergedBytes;
    const due = [...this.packed.values()].filter((packed) => packed.tail.length > 0 && (tails === 'all' || isDue(packed.tail)));
    const copies = await this.copyTails(due).catch(() => undefined);
    await pMap(
      due,
      async (packed) => {
        const throughSeq = packed.tail.at(-1)!.seq;
        await unpackPartition(this.metadata, packed.topicId, packed.partition, this.writerId, {
          throughSeq,
          commitsAfter: this.ownCommits(packed.topicId, packed.partition),
          nowMs: this.now,
          producerIdExpirationMs: this.options.producerIdExpirationMs,
          ...(copies ? { rowsFor: (chunks: readonly TailChunk[]) => copies.rowsFor(chunks) } : {}),
        });
        packed.tail = packed.tail.filter((chunk) => chunk.seq > throughSeq);
        this.stats.unpacks++;
      },
      { concurrency: 16, stopOnError: false },
    ).catch(() => undefined);
    await this.deleteBelowHorizon().catch(() => undefined);
  }

  /**
   * Deletes this incarnation's commits every partition holds as rows: those up to the first tail
   * chunk of any partition packed here, and up to the last decided commit. A reader that read a
   * partition item before its rows moved may then find its tail cut: it reads the item again (packed.ts).
   */
  private async deleteBelowHorizon(): Promise<void> {
    const log = this.log;
    if (log === undefined) return;
    const horizon = Math.min(this.settledSeq, ...[...this.packed.values()].filter((p) => p.tail.length > 0).map((p) => p.tail[0]!.seq - 1));
    if (horizon <= this.deletedThrough) return;
    const seqs = Array.from({ length: horizon - this.deletedThrough }, (_, i) => this.deletedThrough + 1 + i);
    await pMap(seqs, (seq) => this.metadata.write({ kind: 'delete', key: packedCommitKey(log.writerId, seq) }), { concurrency: 16 });
    if (this.log === log) this.deletedThrough = Math.max(this.deletedThrough, horizon);
    this.stats.deleted += seqs.length;
  }

  /**
   * One object holding, per partition, its tail's chunks back to back (runs of at least two chunks and
   * up to `maxMergedBytes`); answers the rows a step's chunks become: a run copied whole, one row; a
   * chunk not copied, its own row. Past the collector's bound after the upload, every chunk its own row.
   */
  private async copyTails(due: readonly Packed[]): Promise<{ rowsFor: (chunks: readonly TailChunk[]) => BatchRow[] } | undefined> {
    const merge = this.options.merge;
    if (merge === undefined) return undefined;
    const runs: TailChunk[][] = [];
    for (const packed of due) {
      let run: TailChunk[] = [];
      let bytes = 0;
      let producers = new Set<number>();
      const close = () => {
        if (run.length >= 2) runs.push(run);
        run = [];
        bytes = 0;
        producers = new Set();
      };
      for (const chunk of packed.tail) {
        const ids = chunk.producers.map((batch) => batch.producerId);
        // (a run's row goes in one transaction with its idempotent producers' states: packed.ts)
        if (bytes + chunk.sizeBytes > maxMergedBytes || new Set([...producers, ...ids]).size > maxRunProducers) close();
        run.push(chunk);
        bytes += chunk.sizeBytes;
        for (const id of ids) producers.add(id);
      }
      close();
    }
    if (runs.length === 0) return undefined;
    // Copies of at most maxCopyBytes each, one after another: memory held and object sizes stay bounded.
    const batches: TailChunk[][][] = [[]];
    let batchBytes = 0;
    for (const run of runs) {
      const bytes = run.reduce((sum, chunk) => sum + chunk.sizeBytes, 0);
      if (batchBytes > 0 && batchBytes + bytes > maxCopyBytes) {
        batches.push([]);
        batchBytes = 0;
      }
      batches.at(-1)!.push(run);
      batchBytes += bytes;
    }
    const createdMs = this.now();
    const copied = new Map<string, { run: TailChunk[]; objectKey: string; position: number; sizeBytes: number }>();
    for (const batch of batches) {
      const bodies = await pMap(
        batch,
        (run) => Promise.all(run.map((chunk) => merge.readChunk(chunk.objectKey, chunk.position, chunk.sizeBytes))),
        {
          concurrency: 8,
        },
      );
      const { chunks: stored } = await merge.upload(
        batch.map((run, i) => ({
          topic: {
            id: run[0]!.topicId,
            name: this.packed.get(partitionId(run[0]!.topicId, run[0]!.partition))?.topicName ?? run[0]!.topicId,
          },
          partition: run[0]!.partition,
          bytes: bodies[i]!,
          recordCount: run.reduce((sum, chunk) => sum + chunk.recordCount, 0),
          maxTimestampMs: Math.max(...run.map((chunk) => chunk.maxTimestampMs)),
        })),
        createdMs,
      );
      // Only the last copy is cached: an earlier one would evict chunks the copies after it read.
      const last = batch === batches.at(-1);
      batch.forEach((run, i) => {
        const { objectKey, position } = stored[i]!;
        const sizeBytes = run.reduce((sum, chunk) => sum + chunk.sizeBytes, 0);
        if (last) merge.remember(objectKey, position, Buffer.concat(bodies[i]!));
        copied.set(`${run[0]!.topicId}#${run[0]!.partition}#${run[0]!.seq}`, { run, objectKey, position, sizeBytes });
      });
    }
    const notAfterMs = createdMs + merge.maxCommitAgeMs;
    return {
      rowsFor: (chunks) => {
        const rows: BatchRow[] = [];
        for (let i = 0; i < chunks.length; ) {
          const first = chunks[i]!;
          const copy = this.now() <= notAfterMs ? copied.get(`${first.topicId}#${first.partition}#${first.seq}`) : undefined;
          // A run is used only whole, and only if the chunks given hold all of it in the same order.
          if (copy?.run.every((chunk, j) => chunks[i + j]?.seq === chunk.seq && chunks[i + j]?.baseOffset === chunk.baseOffset)) {
            const last = copy.run.at(-1)!;
            rows.push({
              baseOffset: first.baseOffset,
              recordCount: last.baseOffset + last.recordCount - first.baseOffset,
              objectKey: copy.objectKey,
              position: copy.position,
              sizeBytes: copy.sizeBytes,
              maxTimestampMs: Math.max(...copy.run.map((chunk) => chunk.maxTimestampMs)),
              committedMs: last.committedMs,
              recordTimes: true,
            });
            i += copy.run.length;
          } else {
            rows.push(rowOf(first));
            i++;
          }
        }
        return rows;
      },
    };
  }

  /**
   * Reads this writer's fence: fenced (taken over), it lets go of every partition; asked to leave
   * partitions, it leaves them. A busy writer learns of both from its next commit; an idle one here,
   * every materialisation round and at least every `fenceCheckMs`.
   */
  private async checkFence(): Promise<void> {
    const log = this.log;
    const fence = log && (await readFence(this.metadata, log.writerId).catch(() => undefined));
    if (fence?.fencedMs != null && this.log === log) this.fenced();
    else if (fence?.leaveRequested) await this.takeLeaveRequests(fence).catch(() => undefined);
  }

  private keepMaterializing(): void {
    if (this.timer || this.closed || this.materializeMs === 0) return;
    this.timer = setTimeout(
      () => {
        const round = this.now() - this.lastRoundMs >= this.materializeMs;
        void (round ? this.materialize('due') : this.checkFence()).finally(() => {
          this.timer = undefined;
          if (this.packed.size > 0) this.keepMaterializing();
        });
      },
      Math.min(this.materializeMs, fenceCheckMs),
    );
    this.timer.unref();
  }

  /** Stops materializing on a timer (the lease release that follows leaves every partition). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** A chunk whose partition this writer no longer packs at its epoch (fenced, or left meanwhile): as a leader's commit refused for its epoch. */
function notPacked(chunk: { readonly topic: string; readonly partition: number; readonly leaderEpoch?: number }): SpoolError {
  return new SpoolError(
    'FENCED_LEADER_EPOCH',
    `${chunk.topic}/${chunk.partition} is no longer packed by this writer at leader epoch ${chunk.leaderEpoch}; send again`,
    {
      retriable: true,
      details: { topic: chunk.topic, partition: chunk.partition },
    },
  );
}

const notPackedAt = (packed: Packed) => notPacked({ topic: packed.topicName, partition: packed.partition, leaderEpoch: packed.epoch });

function failed(error: unknown): { ok: false; error: SpoolError } {
  return { ok: false, error: error instanceof SpoolError ? error : new SpoolError('INTERNAL', 'packed commit failed', { cause: error }) };
}
