/**
 * Partitions a packing writer holds (docs/packed-commits.md; the writer's log: writer-log.ts): where
 * their end is, and how their packed commits become rows.
 *
 * A partition item with `packedBy = W` says: W alone assigns the partition's offsets from
 * `nextOffset` on, in its packed commits after `packedSeq`; the item's `nextOffset` is the end of the
 * partition's rows. The per-partition commit refuses such a partition (commit.ts).
 *
 * - The **tail** (`tailOf`) is the partition's chunks in W's commits after `packedSeq`: they start at
 *   the item's `nextOffset` and follow one another without a gap, and each is a chunk of a segment
 *   object stored before its commit, so a reader serves offsets up to the tail's end from them (commit.ts
 *   invariant 2). W's commits are read after the item, so they hold everything the item's rows do not.
 *   The item is read again after the commits: if W turned commits into rows (and dropped them) between
 *   the reads, the tail is not used and all is read again.
 * - **Unpacking** (`unpackPartition`) turns the tail into rows, a step at a time, each step one
 *   transaction: whole rows (a chunk each, or a run of chunks W copied into one object: `rowsFor`),
 *   up to 48 (created if absent), the producer states their idempotent
 *   batches moved, and the item's `nextOffset` and `packedSeq` moved past them, conditional on the
 *   item as read (`packedBy`, `packedSeq`, `nextOffset`); with `release`, the step that leaves no tail
 *   also clears `packedBy`. It is run by W itself or by a writer that fenced W (writer-log.ts: W's log
 *   is then final). However many run it at once, rows tile the partition: a step lands only on the
 *   item it read, so two steps never write the same offsets, and a step refused is planned again from
 *   the item as it is. A step holds only commits W made (they landed), so a fenced W unpacking its own
 *   commits writes the rows its successor would.
 *
 * Cost of unpacking: per row, 2 write units (in the transaction); per step, the item (2) and each
 * idempotent producer's state (2); reads per step: the item twice, W's log (W itself reads its own
 * commits from memory: `commitsAfter`), the producer states.
 */
import { SpoolError } from '../errors.js';
import { ConditionFailedError, TransactionConflictError, type MetadataStore, type WriteOp } from '../storage/ports.js';
import { partitionKey, producerStateKey, rowKey } from '../keys.js';
import {
  advance,
  isExpired,
  producerStateAttrs,
  producerStateCondition,
  producerStateFromItem,
  defaultProducerIdExpirationMs,
  type ProducerState,
} from './idempotence.js';
import { batchRowAttrs, partitionStateFromItem, type BatchRow, type PartitionState } from './layout.js';
import { readPackedCommits, type PackedChunk, type PackedCommit } from './writer-log.js';

/** A chunk of the tail, with the commit it came in. */
export interface TailChunk extends PackedChunk {
  readonly seq: number;
  readonly committedMs: number;
}

/**
 * The partition's tail in `commits` (the packer's commits after the item's `packedSeq`, in order), or
 * undefined when it does not start at `state.nextOffset` and run without a gap (the item is stale).
 */
export function tailOf(
  commits: readonly PackedCommit[],
  topicId: string,
  partition: number,
  state: PartitionState,
): TailChunk[] | undefined {
  const tail: TailChunk[] = [];
  let end = state.nextOffset;
  for (const commit of commits) {
    if (commit.seq <= state.packedSeq) continue;
    for (const chunk of commit.chunks) {
      if (chunk.topicId !== topicId || chunk.partition !== partition) continue;
      if (chunk.baseOffset !== end) return undefined;
      tail.push({ ...chunk, seq: commit.seq, committedMs: commit.committedMs });
      end += chunk.recordCount;
    }
  }
  return tail;
}

/** The row a tail chunk becomes (and, to a reader, is: a flush row). */
export function rowOf(chunk: TailChunk): BatchRow {
  return {
    baseOffset: chunk.baseOffset,
    recordCount: chunk.recordCount,
    objectKey: chunk.objectKey,
    position: chunk.position,
    sizeBytes: chunk.sizeBytes,
    maxTimestampMs: chunk.maxTimestampMs,
    committedMs: chunk.committedMs,
    recordTimes: true,
  };
}

/** The partition's state with its tail: the end is the tail's. */
export function withTail(state: PartitionState, tail: readonly TailChunk[]): PartitionState {
  const last = tail.at(-1);
  if (last === undefined) return state;
  const nextOffset = last.baseOffset + last.recordCount;
  return { ...state, nextOffset, lastStableOffset: Math.min(nextOffset, ...Object.values(state.openTransactions)) };
}

/**
 * Reads a packed partition's state and tail, strongly consistently: the item, then its packer's
 * commits after `packedSeq`; again (up to `attempts` times) while the tail shows the item was stale.
 */
export async function readPackedPartition(
  metadata: MetadataStore,
  topicId: string,
  partition: number,
  commitsAfter: (writerId: string, afterSeq: number) => Promise<readonly PackedCommit[]> = (writerId, afterSeq) =>
    readPackedCommits(metadata, writerId, afterSeq),
  attempts = 5,
): Promise<{ state: PartitionState; rowsEnd: number; tail: TailChunk[] } | undefined> {
  for (let attempt = 1; ; attempt++) {
    const item = await metadata.get(partitionKey(topicId, partition));
    if (item === undefined) return undefined;
    const state = partitionStateFromItem(item);
    if (state.packedBy === null) return { state, rowsEnd: state.nextOffset, tail: [] };
    const tail = tailOf(await commitsAfter(state.packedBy, state.packedSeq), topicId, partition, state);
    // The commits read after the item: its packer may have made rows of some and deleted them between
    // the two reads (a tail cut short, or gone, would show an end gone back): the item is read again.
    const again = tail === undefined ? undefined : await metadata.get(partitionKey(topicId, partition));
    const still = again !== undefined && partitionStateFromItem(again);
    if (
      tail !== undefined &&
      still &&
      still.packedSeq === state.packedSeq &&
      still.nextOffset === state.nextOffset &&
      still.packedBy === state.packedBy
    )
      return { state: withTail(state, tail), rowsEnd: state.nextOffset, tail };
    if (attempt >= attempts)
      throw new SpoolError(
        'STORAGE_UNAVAILABLE',
        `partition ${partition} of topic id ${topicId}: its packed commits kept moving under ${attempts} reads`,
        {
          retriable: true,
        },
      );
  }
}

/**
 * The producer's state after `chunk` (at its base offset, committed at `committedMs`) appended its
 * batches, from `state` (live, or null); unchanged when the chunk holds none of the producer's. What a
 * commit keeps (its last marker's version, an open transaction) is kept.
 */
export function appendedBy(state: ProducerState | null, producerId: number, chunk: PackedChunk, committedMs: number): ProducerState | null {
  const batches = chunk.producers.filter((batch) => batch.producerId === producerId);
  if (batches.length === 0) return state;
  return {
    ...advance(
      state,
      batches[0]!.producerEpoch,
      batches.map((batch) => ({
        firstSequence: batch.firstSequence,
        lastSequence: batch.lastSequence,
        baseOffset: chunk.baseOffset + batch.startDelta,
      })),
      committedMs,
    ),
    ...(state?.txnFirstOffset === undefined ? {} : { txnFirstOffset: state.txnFirstOffset }),
    ...(state?.markerVersion === undefined ? {} : { markerVersion: state.markerVersion }),
  };
}

/**
 * An idempotent producer's state on a packed partition: its stored state (as the last unpack left
 * it) with the batches of the partition's tail applied. The stored state is read before and after the
 * tail: an unpack between the two may have moved it, and the reads are made again.
 */
export async function producerStateWithTail(
  metadata: MetadataStore,
  topicId: string,
  partition: number,
  producerId: number,
  commitsAfter?: (writerId: string, afterSeq: number) => Promise<readonly PackedCommit[]>,
  expirationMs = defaultProducerIdExpirationMs,
): Promise<ProducerState | null> {
  const key = producerStateKey(topicId, partition, producerId);
  // Each chunk appends to the state as it was live then (one expired before the chunk is no state).
  const apply = (state: ProducerState | null, chunk: TailChunk) =>
    appendedBy(state !== null && isExpired(state, chunk.committedMs, expirationMs) ? null : state, producerId, chunk, chunk.committedMs);
  for (let attempt = 1; ; attempt++) {
    const before = await metadata.get(key);
    const read = await readPackedPartition(metadata, topicId, partition, commitsAfter);
    const stored = producerStateFromItem(before);
    if (read === undefined) return stored;
    // An unpack between the two reads moved batches from the tail into the stored state: read again.
    const after = await metadata.get(key);
    if (JSON.stringify(after?.attrs ?? null) === JSON.stringify(before?.attrs ?? null)) return read.tail.reduce(apply, stored);
    if (attempt >= 5)
      throw new SpoolError('STORAGE_UNAVAILABLE', `producer ${producerId} on partition ${partition}: its state kept moving`, {
        retriable: true,
      });
  }
}

/**
 * Every producer's state on a partition, packed or not: `list()` (the stored states) with the batches
 * of the partition's tail applied; read again if an unpack moved the partition's rows meanwhile.
 */
export async function producerStatesWithTail(
  metadata: MetadataStore,
  topicId: string,
  partition: number,
  list: () => Promise<readonly { readonly producerId: number; readonly state: ProducerState }[]>,
  commitsAfter?: (writerId: string, afterSeq: number) => Promise<readonly PackedCommit[]>,
  expirationMs = defaultProducerIdExpirationMs,
): Promise<{ readonly producerId: number; readonly state: ProducerState }[]> {
  for (let attempt = 1; ; attempt++) {
    const read = await readPackedPartition(metadata, topicId, partition, commitsAfter);
    const stored = await list();
    if (read === undefined || read.tail.length === 0) return [...stored];
    const again = await metadata.get(partitionKey(topicId, partition));
    if (again !== undefined && partitionStateFromItem(again).packedSeq === read.state.packedSeq) {
      const states = new Map<number, ProducerState | null>(stored.map(({ producerId, state }) => [producerId, state]));
      for (const chunk of read.tail)
        for (const producerId of new Set(chunk.producers.map((batch) => batch.producerId))) {
          const before = states.get(producerId) ?? null;
          states.set(
            producerId,
            appendedBy(
              before !== null && isExpired(before, chunk.committedMs, expirationMs) ? null : before,
              producerId,
              chunk,
              chunk.committedMs,
            ),
          );
        }
      return [...states].flatMap(([producerId, state]) => (state === null ? [] : [{ producerId, state }]));
    }
    if (attempt >= 5) throw new SpoolError('STORAGE_UNAVAILABLE', `partition ${partition}: its producers kept moving`, { retriable: true });
  }
}

/** Most rows a step writes: with the item and a producer state or more, within a transaction's 100 writes. */
export const maxRowsPerStep = 48;

export interface UnpackOptions {
  /** Clear `packedBy` once no tail is left: per-partition commits may then write the partition. */
  readonly release?: boolean;
  /** Only as W: unpack its commits up to this sequence number (its later ones stay packed). */
  readonly throughSeq?: number;
  readonly nowMs?: () => number;
  /** Kafka's producer.id.expiration.ms, to tell an expired producer state (idempotence.ts). */
  readonly producerIdExpirationMs?: number;
  /** Steps refused (another unpacker moved the item) before giving up. @default 20 */
  readonly maxRefusals?: number;
  /**
   * The rows the tail's chunks become, tiling them in order (the packer's merged copies: packing.ts);
   * a step takes whole rows. @default a row per chunk, where the chunk is
   */
  readonly rowsFor?: (chunks: readonly TailChunk[]) => BatchRow[];
  /** The packer's commits after a sequence number (the packer's own, from memory). @default read from its log */
  readonly commitsAfter?: (writerId: string, afterSeq: number) => Promise<readonly PackedCommit[]>;
}

/**
 * Unpacks the partition's tail into rows, as `packer` left it (see the module comment). Answers the
 * item's state as stored after the last step (its `nextOffset`: the rows' end); a partition no longer
 * packed by `packer` is left as it is.
 */
export async function unpackPartition(
  metadata: MetadataStore,
  topicId: string,
  partition: number,
  packer: string,
  options: UnpackOptions = {},
): Promise<PartitionState | undefined> {
  const now = options.nowMs ?? Date.now;
  const expirationMs = options.producerIdExpirationMs ?? defaultProducerIdExpirationMs;
  const maxRefusals = options.maxRefusals ?? 20;
  for (let refusals = 0; ; ) {
    const read = await readPackedPartition(metadata, topicId, partition, options.commitsAfter);
    if (read === undefined) return undefined;
    const item = read.state;
    // (answered as stored: its end is the rows')
    const asStored = (): PartitionState => ({
      ...item,
      nextOffset: read.rowsEnd,
      lastStableOffset: Math.min(read.rowsEnd, ...Object.values(item.openTransactions)),
    });
    if (item.packedBy !== packer) return asStored();
    const due = read.tail.filter((chunk) => options.throughSeq === undefined || chunk.seq <= options.throughSeq);
    // Nothing to turn into rows, and nothing to release (or not yet: later commits stay packed).
    if (due.length === 0 && (!options.release || read.tail.length > 0)) return asStored();
    // A step: the first whole rows, as many as fit one transaction with the item and the producers' states.
    const rows: BatchRow[] = [];
    const producers = new Set<number>();
    let covered = 0; // chunks of `due` the step's rows hold
    const planned = options.rowsFor?.(due) ?? due.map(rowOf);
    for (let next = 0; next < planned.length; next++) {
      const row = planned[next]!;
      let end = covered;
      while (end < due.length && due[end]!.baseOffset < row.baseOffset + row.recordCount) end++;
      const distinct = new Set(due.slice(covered, end).flatMap((chunk) => chunk.producers.map((batch) => batch.producerId)));
      // A merged row whose producers alone would not fit a transaction with it and the item: its chunks, a row each.
      if (end - covered > 1 && distinct.size + 2 > 100) {
        planned.splice(next--, 1, ...due.slice(covered, end).map(rowOf));
        continue;
      }
      const adds = [...distinct].filter((id) => !producers.has(id));
      if (rows.length > 0 && (rows.length >= maxRowsPerStep || rows.length + 1 + producers.size + adds.length + 1 > 100)) break;
      rows.push(row);
      for (const id of adds) producers.add(id);
      covered = end;
    }
    const step = due.slice(0, covered);
    const last = step.at(-1);
    const rowsEnd = read.rowsEnd;
    const ops: WriteOp[] = rows.map((row) => ({
      kind: 'put',
      key: rowKey(topicId, partition, row.baseOffset),
      attrs: batchRowAttrs(row),
      condition: { kind: 'absent' },
    }));
    for (const producerId of producers) {
      const key = producerStateKey(topicId, partition, producerId);
      const before = producerStateFromItem(await metadata.get(key));
      let state = before !== null && !isExpired(before, now(), expirationMs) ? before : null;
      for (const chunk of step) state = appendedBy(state, producerId, chunk, chunk.committedMs);
      // (a commit keeps the last marker's version even of a state that had expired)
      if (before?.markerVersion !== undefined) state = { ...state!, markerVersion: before.markerVersion };
      ops.push({
        kind: 'put',
        key,
        attrs: producerStateAttrs(state!),
        condition: producerStateCondition(before),
      });
    }
    const nextOffset = last ? last.baseOffset + last.recordCount : rowsEnd;
    const releasing = options.release === true && step.length === due.length && due.length === read.tail.length;
    ops.push({
      kind: 'update',
      key: partitionKey(topicId, partition),
      set: { nextOffset, packedSeq: last ? last.seq : item.packedSeq, ...(releasing ? { packedBy: null } : {}) },
      condition: { kind: 'match', fields: { packedBy: packer, packedSeq: item.packedSeq, nextOffset: rowsEnd } },
    });
    try {
      await metadata.transact(ops);
    } catch (error) {
      const refused =
        error instanceof TransactionConflictError ||
        error instanceof ConditionFailedError ||
        (error instanceof SpoolError && error.code === 'CONFLICT');
      if (!refused || ++refusals > maxRefusals) throw error;
      continue; // another unpacker (or the packer) moved the item: plan again from it
    }
    if (releasing || (step.length === due.length && !options.release)) {
      const after = await metadata.get(partitionKey(topicId, partition));
      return after && partitionStateFromItem(after);
    }
  }
}
