/**
 * A packing writer's log of commits (packed commits, docs/packed-commits.md; packing.ts writes it).
 *
 * A packing writer (an agent whose leases ride on its registration) commits a whole flush as one
 * item, `c#<seq>` under its writer id, listing every chunk of the flush (partition, base offset,
 * record count, object, position, size, max timestamp, idempotent producers' sequences) in a compact
 * binary form, about 15 bytes a chunk: DynamoDB bills per item-kilobyte, so the metadata of a flush
 * over 250 partitions costs a few write units, not 4–6 per partition.
 *
 * Invariants (test/log/writer-log.suite.ts proves each on every store):
 *  1. A commit lands at most once, and its sequence number names it: its item is created only if
 *     absent, so a retry after a lost answer finds its own item there (the same bytes) and reports it
 *     landed; a different item there is never overwritten, and is reported, not taken for ours.
 *  2. A fenced writer cannot commit, to any partition: every commit checks in its transaction that
 *     the writer's fence is live, and `fenceWriter` sets it. The store orders the two writes on the
 *     fence item: a commit either landed before the fence (and a strongly consistent read after the
 *     fence sees it) or is refused. A fence is never lifted; a writer id fenced once is done.
 *  3. So once `fenceWriter` has returned, `readPackedCommits` gives the writer's final log: nothing
 *     can join it, and a commit whose answer its writer never got is in it or never will be.
 *  4. `abandon(seq)` settles a commit whose outcome is unknown: it claims the sequence number with an
 *     empty item, so the commit is either found there (it landed) or can never land.
 *  5. The codec round-trips every chunk exactly and refuses (CORRUPT_RECORD) bytes it cannot read.
 *  6. A request to leave a partition (`requestLeave`, from a writer that must commit there per
 *     partition) is seen by the writer's next commit, which is refused for it (nothing lands), and is
 *     cleared only by a writer that read it: clearing is conditional on the token it read.
 *
 * Cost: a commit of S KB costs 2 × ⌈S⌉ + 2 write units (a transaction of the item and the fence
 * check); no read on the happy path. A fence costs one write, or a transaction with the caller's
 * checks; a leave request, one write, and one more to clear it.
 */
import { randomUUID } from 'node:crypto';
import { SpoolError } from '../errors.js';
import { ByteReader, ByteWriter, readVarlong, writeVarlong } from '../format/index.js';
import { ConditionFailedError, TransactionConflictError, type Item, type MetadataStore, type WriteOp } from '../storage/ports.js';
import { packedCommitKey, packedCommitPk, packedCommitShards, packedCommitSksAfter, seqOfPackedCommitSk, writerFenceKey } from '../keys.js';

/** One batch of an idempotent producer in a chunk, as the producer state records it. */
export interface PackedProducerBatch {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly firstSequence: number;
  readonly lastSequence: number;
  /** The offset of the batch's first record from the chunk's base. */
  readonly startDelta: number;
}

/** One partition's chunk of a flush, at the offsets the writer assigned it. */
export interface PackedChunk {
  readonly topicId: string;
  readonly partition: number;
  readonly baseOffset: number;
  readonly recordCount: number;
  readonly objectKey: string;
  /** Byte position of the chunk in the object. */
  readonly position: number;
  readonly sizeBytes: number;
  readonly maxTimestampMs: number;
  /** The idempotent producers' batches of the chunk, in order; empty: none. */
  readonly producers: readonly PackedProducerBatch[];
}

export interface PackedCommit {
  readonly seq: number;
  /** When the writer committed it, by its clock. */
  readonly committedMs: number;
  /** Empty for a sequence number claimed by `abandon` (no commit landed there). */
  readonly chunks: readonly PackedChunk[];
  /** The sequence number was claimed by `abandon`. */
  readonly abandoned: boolean;
}

export interface WriterFence {
  readonly writerId: string;
  /** The registration (node id) the writer packs for; null: none. */
  readonly node: number | null;
  /** Set once another writer took over from this one; never cleared. */
  readonly fencedMs: number | null;
  /** A token naming the newest request of other writers that it stop packing partitions (`requestLeave`); none: null. */
  readonly leaveRequested: string | null;
  readonly leaveRequests: readonly { readonly topicId: string; readonly partition: number }[];
}

/**
 * A commit refused because other writers asked this one to stop packing partitions (`requestLeave`),
 * not because it is fenced: nothing landed; the writer leaves them, clears the requests
 * (`clearLeaveRequests`) and commits the rest again.
 */
export class LeaveRequestedError extends SpoolError {
  constructor(readonly fence: WriterFence) {
    super('CONFLICT', `writer ${fence.writerId}: asked to stop packing ${fence.leaveRequests.length} partition(s)`, { retriable: true });
  }
}

/** The codec's version byte; a reader refuses others. */
const codecVersion = 1;

/** Unsigned base-128 varint of a safe integer (up to 8 bytes; Kafka's varints are zig-zag or 32-bit). */
function writeNatural(writer: ByteWriter, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new SpoolError('INVALID_ARGUMENT', `packed commit: ${value} is not a safe natural number`);
  while (value >= 0x80) {
    writer.int8((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  writer.int8(value);
}

function readNatural(reader: ByteReader, what: string): number {
  let value = 0;
  for (let scale = 1; ; scale *= 0x80) {
    const byte = reader.int8(what) & 0xff;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) break;
    if (scale >= 2 ** 49) throw new SpoolError('CORRUPT_RECORD', `packed commit: ${what} is longer than a safe integer`);
  }
  if (!Number.isSafeInteger(value)) throw new SpoolError('CORRUPT_RECORD', `packed commit: ${what} is beyond 2^53`);
  return value;
}

/**
 * The chunks as bytes: version, the topic ids, object keys and producers (id, epoch) once each, then per chunk its fields as
 * unsigned varints, with what repeats written as a difference: the position from the end of the chunk
 * before it in the same object (0 when the flush laid them out in order), the max timestamp from
 * `committedMs`, a producer's last sequence from its first (both zig-zag: they may go backwards).
 * About 15 bytes a chunk, 20 with an idempotent producer's batch (test/log/writer-log.suite.ts measures it).
 */
export function encodeChunks(chunks: readonly PackedChunk[], committedMs: number): Buffer {
  const topics = [...new Set(chunks.map((chunk) => chunk.topicId))];
  const objects = [...new Set(chunks.map((chunk) => chunk.objectKey))];
  const topicIndex = new Map(topics.map((topic, i) => [topic, i]));
  const objectIndex = new Map(objects.map((key, i) => [key, i]));
  const producerOf = (batch: PackedProducerBatch) => `${batch.producerId}.${batch.producerEpoch}`;
  const producers = new Map(chunks.flatMap((chunk) => chunk.producers.map((batch) => [producerOf(batch), batch] as const)));
  const producerIndex = new Map([...producers.keys()].map((producer, i) => [producer, i]));
  const objectEnds = new Map<string, number>();
  const writer = new ByteWriter(64 + chunks.length * 24);
  writer.int8(codecVersion);
  for (const names of [topics, objects]) {
    writeNatural(writer, names.length);
    for (const name of names) {
      const bytes = Buffer.from(name, 'utf8');
      writeNatural(writer, bytes.length);
      writer.bytes(bytes);
    }
  }
  writeNatural(writer, producers.size);
  for (const batch of producers.values()) for (const value of [batch.producerId, batch.producerEpoch]) writeNatural(writer, value);
  writeNatural(writer, chunks.length);
  for (const chunk of chunks) {
    for (const value of [
      topicIndex.get(chunk.topicId)!,
      chunk.partition,
      chunk.baseOffset,
      chunk.recordCount,
      objectIndex.get(chunk.objectKey)!,
    ])
      writeNatural(writer, value);
    writeVarlong(writer, chunk.position - (objectEnds.get(chunk.objectKey) ?? 0));
    objectEnds.set(chunk.objectKey, chunk.position + chunk.sizeBytes);
    writeNatural(writer, chunk.sizeBytes);
    writeVarlong(writer, chunk.maxTimestampMs - committedMs);
    writeNatural(writer, chunk.producers.length);
    for (const batch of chunk.producers) {
      for (const value of [producerIndex.get(producerOf(batch))!, batch.firstSequence]) writeNatural(writer, value);
      writeVarlong(writer, batch.lastSequence - batch.firstSequence);
      writeNatural(writer, batch.startDelta);
    }
  }
  return writer.finish();
}

/** The chunks `encodeChunks` wrote; CORRUPT_RECORD for anything else. */
export function decodeChunks(data: Buffer, committedMs: number): PackedChunk[] {
  const reader = new ByteReader(data, 0, data.length, 'packed commit');
  const version = reader.int8('version') & 0xff;
  if (version !== codecVersion)
    throw new SpoolError('CORRUPT_RECORD', `packed commit: codec version ${version}, expected ${codecVersion}`, { details: { version } });
  const count = (what: string) => {
    const value = readNatural(reader, what);
    // Every counted thing takes at least one byte, so a count beyond the bytes left is corrupt.
    if (value > reader.end - reader.pos)
      throw new SpoolError('CORRUPT_RECORD', `packed commit: ${what} ${value} does not fit in the ${reader.end - reader.pos} bytes left`);
    return value;
  };
  const names = (what: string) =>
    Array.from({ length: count(`${what} count`) }, () => reader.bytes(count(`${what} length`), what).toString('utf8'));
  const topics = names('topic id');
  const objects = names('object key');
  const producerTable = Array.from({ length: count('producer count') }, () => ({
    producerId: readNatural(reader, 'producer id'),
    producerEpoch: readNatural(reader, 'producer epoch'),
  }));
  const pick = (list: readonly string[], index: number, what: string) => {
    const name = list[index];
    if (name === undefined) throw new SpoolError('CORRUPT_RECORD', `packed commit: ${what} index ${index} of ${list.length}`);
    return name;
  };
  const safe = (value: number, what: string) => {
    if (!Number.isSafeInteger(value) || value < 0) throw new SpoolError('CORRUPT_RECORD', `packed commit: ${what} is ${value}`);
    return value;
  };
  const objectEnds = new Map<string, number>();
  const chunks: PackedChunk[] = Array.from({ length: count('chunk count') }, () => {
    const topicId = pick(topics, readNatural(reader, 'topic index'), 'topic');
    const partition = readNatural(reader, 'partition');
    const baseOffset = readNatural(reader, 'base offset');
    const recordCount = readNatural(reader, 'record count');
    const objectKey = pick(objects, readNatural(reader, 'object index'), 'object');
    const position = safe(readVarlong(reader, 'position') + (objectEnds.get(objectKey) ?? 0), 'position');
    const sizeBytes = readNatural(reader, 'size');
    objectEnds.set(objectKey, position + sizeBytes);
    const maxTimestampMs = readVarlong(reader, 'max timestamp') + committedMs;
    const batches = Array.from({ length: count('batch count') }, () => {
      const index = readNatural(reader, 'producer index');
      const producer = producerTable[index];
      if (producer === undefined)
        throw new SpoolError('CORRUPT_RECORD', `packed commit: producer index ${index} of ${producerTable.length}`);
      const firstSequence = readNatural(reader, 'first sequence');
      return {
        ...producer,
        firstSequence,
        lastSequence: safe(firstSequence + readVarlong(reader, 'last sequence'), 'last sequence'),
        startDelta: readNatural(reader, 'start delta'),
      };
    });
    return { topicId, partition, baseOffset, recordCount, objectKey, position, sizeBytes, maxTimestampMs, producers: batches };
  });
  if (reader.pos !== reader.end)
    throw new SpoolError('CORRUPT_RECORD', `packed commit: ${reader.end - reader.pos} bytes after the last chunk`);
  return chunks;
}

export function packedCommitFromItem(item: Item): PackedCommit {
  const committedMs = item.attrs.committedMs as number;
  const abandoned = item.attrs.abandoned === true;
  return {
    seq: seqOfPackedCommitSk(item.sk),
    committedMs,
    abandoned,
    chunks: abandoned ? [] : decodeChunks(item.attrs.chunks as Buffer, committedMs),
  };
}

export interface WriterLogOptions {
  readonly now?: () => number;
  /** Attempts lost to storage errors before a commit gives up (its outcome then unknown). @default 10 */
  readonly maxAttempts?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Refusal of a writer whose fence is set: it may commit nothing more (as a leader whose epoch was superseded). */
export function fencedError(writerId: string): SpoolError {
  return new SpoolError('FENCED_LEADER_EPOCH', `writer ${writerId} was fenced: another writer took over its partitions`, {
    details: { writer: writerId },
  });
}

/** One writer's commits. Sequence numbers are the caller's: it commits them in order, each once. */
export class WriterLog {
  private readonly now: () => number;
  private readonly maxAttempts: number;
  private readonly sleep: (ms: number) => Promise<void>;
  readonly stats = { commits: 0, retries: 0 };

  constructor(
    private readonly metadata: MetadataStore,
    readonly writerId: string,
    options: WriterLogOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.maxAttempts = options.maxAttempts ?? 10;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /**
   * Creates the writer's fence, live, for `node`; answers the newest sequence number already in its
   * log (0: none), so a writer that opens again goes on after it. Refused (FENCED_LEADER_EPOCH) once fenced.
   */
  async open(node: number | null): Promise<number> {
    try {
      await this.metadata.write({
        kind: 'put',
        key: writerFenceKey(this.writerId),
        attrs: { writerId: this.writerId, node, fencedMs: null },
        condition: { kind: 'absent' },
      });
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error; // (there already: opened before, or fenced)
    }
    const fence = await readFence(this.metadata, this.writerId);
    if (fence === undefined)
      throw new SpoolError('STORAGE_UNAVAILABLE', `writer ${this.writerId}: its fence was not found after creating it`);
    if (fence.fencedMs !== null) throw fencedError(this.writerId);
    const newest = await Promise.all(
      Array.from({ length: packedCommitShards }, (_, shard) =>
        this.metadata.query(packedCommitPk(this.writerId, shard), { ...packedCommitSksAfter(0), reverse: true, limit: 1 }),
      ),
    );
    return Math.max(0, ...newest.flat().map((item) => seqOfPackedCommitSk(item.sk)));
  }

  /**
   * Commits `chunks` as sequence number `seq`, in one transaction with the check that the writer is
   * not fenced. Resolves, with the time it carries, once it landed (or had landed: an earlier attempt whose answer was lost);
   * FENCED_LEADER_EPOCH once the writer is fenced; after `maxAttempts` storage errors, the last of them, its
   * outcome unknown (the caller may `abandon` the sequence number to settle it).
   */
  async commit(seq: number, chunks: readonly PackedChunk[]): Promise<{ readonly committedMs: number }> {
    const committedMs = this.now();
    const data = encodeChunks(chunks, committedMs);
    const key = packedCommitKey(this.writerId, seq);
    const ops: WriteOp[] = [
      { kind: 'put', key, attrs: { committedMs, chunks: data }, condition: { kind: 'absent' } },
      { kind: 'check', key: writerFenceKey(this.writerId), condition: { kind: 'match', fields: { fencedMs: null, leaveRequested: null } } },
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        await this.metadata.transact(ops);
        this.stats.commits++;
        return { committedMs };
      } catch (error) {
        if (error instanceof TransactionConflictError) {
          const item = error.conflicts.find((conflict) => conflict.index === 0);
          // The item is there: an earlier attempt of ours landed (same bytes), or something else holds the number.
          if (item) {
            if (item.current && Buffer.isBuffer(item.current.attrs.chunks) && data.equals(item.current.attrs.chunks))
              return { committedMs };
            throw new SpoolError('INTERNAL', `writer ${this.writerId}: sequence number ${seq} already holds another commit`, {
              details: { writer: this.writerId, seq },
            });
          }
          const current = error.conflicts.find((conflict) => conflict.index === 1)?.current;
          const fence = current && fenceFromItem(this.writerId, current);
          if (fence && fence.fencedMs === null && fence.leaveRequested !== null) throw new LeaveRequestedError(fence);
          throw fencedError(this.writerId);
        }
        const failure = error instanceof SpoolError ? error : new SpoolError('INTERNAL', 'packed commit failed', { cause: error });
        if (!failure.retriable || attempt >= this.maxAttempts) throw failure;
        this.stats.retries++;
        await this.sleep(Math.min(200, 2 ** Math.min(attempt, 8)) * Math.random());
      }
    }
  }

  /**
   * Settles sequence number `seq` after a commit whose outcome is unknown: claims it with an empty
   * item. Answers the commit there if one landed, else undefined, and then none ever can (invariant 4).
   * Needs no fence check: it commits nothing.
   */
  async abandon(seq: number): Promise<PackedCommit | undefined> {
    const key = packedCommitKey(this.writerId, seq);
    try {
      await this.metadata.write({ kind: 'put', key, attrs: { committedMs: this.now(), abandoned: true }, condition: { kind: 'absent' } });
      return undefined;
    } catch (error) {
      if (!(error instanceof ConditionFailedError) || error.current === undefined) throw error;
      const commit = packedCommitFromItem(error.current);
      return commit.abandoned ? undefined : commit;
    }
  }
}

export async function readFence(metadata: MetadataStore, writerId: string): Promise<WriterFence | undefined> {
  const item = await metadata.get(writerFenceKey(writerId));
  return item && fenceFromItem(writerId, item);
}

/** The fence item's attribute naming one partition asked to be left (`requestLeave`). */
const leaveAttr = (topicId: string, partition: number) => `leave:${topicId}:${partition}`;

function fenceFromItem(writerId: string, item: Item): WriterFence {
  const leaveRequests = Object.keys(item.attrs).flatMap((name) => {
    const [prefix, topicId, partition] = name.split(':');
    return prefix === 'leave' && topicId && item.attrs[name] !== null ? [{ topicId, partition: Number(partition) }] : [];
  });
  return {
    writerId,
    node: (item.attrs.node as number | null | undefined) ?? null,
    fencedMs: (item.attrs.fencedMs as number | null | undefined) ?? null,
    leaveRequested: (item.attrs.leaveRequested as string | null | undefined) ?? null,
    leaveRequests,
  };
}

/**
 * Asks a live writer to stop packing a partition (packing.ts: it leaves it, its tail becoming rows and
 * `packedBy` cleared), for a writer that must commit there per partition: a transaction marker, a
 * lease-less produce. Costs one write, read by the packer for free: its next commit's fence check
 * fails on it (`LeaveRequestedError`), and an idle packer reads its fence every 5 s (packing.ts).
 * A writer that never opened its log is not asked (nothing is created for it).
 */
export async function requestLeave(
  metadata: MetadataStore,
  writerId: string,
  topicId: string,
  partition: number,
  nowMs: number,
): Promise<void> {
  try {
    await metadata.write({
      kind: 'update',
      key: writerFenceKey(writerId),
      set: { [leaveAttr(topicId, partition)]: nowMs, leaveRequested: randomUUID() },
      condition: { kind: 'match', fields: { writerId } },
    });
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
  }
}

/**
 * Clears the requests `fence` holds, once they are taken in hand: only if no request came since
 * (else the next commit is refused again and takes the newer in hand). Answers whether it cleared.
 */
export async function clearLeaveRequests(metadata: MetadataStore, fence: WriterFence): Promise<boolean> {
  try {
    await metadata.write({
      kind: 'update',
      key: writerFenceKey(fence.writerId),
      set: { leaveRequested: null },
      remove: fence.leaveRequests.map(({ topicId, partition }) => leaveAttr(topicId, partition)),
      condition: { kind: 'match', fields: { leaveRequested: fence.leaveRequested, fencedMs: null } },
    });
    return true;
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
    return false;
  }
}

/**
 * Fences `writerId` for good: none of its commits can land after this returns (invariant 2). `checks`
 * go in the same transaction (e.g. that the writer's registration is still as read, lapsed), so the
 * fence is set only if they hold (TransactionConflictError otherwise; the fence is op 0). A writer
 * that never opened is fenced all the same, so it cannot open later. Fencing again only moves
 * `fencedMs`.
 */
export async function fenceWriter(
  metadata: MetadataStore,
  writerId: string,
  nowMs: number,
  checks: readonly WriteOp[] = [],
): Promise<void> {
  const fence: WriteOp = { kind: 'update', key: writerFenceKey(writerId), set: { writerId, fencedMs: nowMs } };
  if (checks.length === 0) await metadata.write(fence);
  else await metadata.transact([fence, ...checks]);
}

/**
 * A writer's commits after `afterSeq`, in order (strongly consistent; one query per shard); abandoned
 * numbers included. `limit`: at most this many per shard, and only those below the first sequence
 * number a full shard may hide (so the answer is a complete run after `afterSeq`). (No shortcut: a
 * number missing may be one its writer deleted below its horizon, packing.ts, with later ones kept.)
 */
export async function readPackedCommits(
  metadata: MetadataStore,
  writerId: string,
  afterSeq: number,
  options: { readonly limit?: number } = {},
): Promise<PackedCommit[]> {
  const shards = await Promise.all(
    Array.from({ length: packedCommitShards }, (_, shard) =>
      metadata.query(packedCommitPk(writerId, shard), {
        ...packedCommitSksAfter(afterSeq),
        ...(options.limit ? { limit: options.limit } : {}),
      }),
    ),
  );
  // A shard cut by the limit may hold more past its last item: the run is complete below the lowest such cut.
  const cut = Math.min(
    ...shards
      .filter((items) => options.limit !== undefined && items.length === options.limit)
      .map((items) => seqOfPackedCommitSk(items.at(-1)!.sk)),
  );
  return shards
    .flat()
    .map(packedCommitFromItem)
    .filter((commit) => commit.seq <= cut)
    .sort((a, b) => a.seq - b.seq);
}
