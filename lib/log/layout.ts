/**
 * The shape of the log's items in the MetadataStore (their keys, and where each lives: lib/keys.ts).
 * Pure.
 */
import type { Attributes, Item } from '../storage/ports.js';
import { withDefaults, type TopicConfig } from './topic-config.js';

export interface TopicItem {
  readonly id: string;
  readonly name: string;
  readonly partitions: number;
  readonly config: TopicConfig;
  /** The config keys the topic sets itself (Kafka's topic overrides); absent on topics stored before they were kept. */
  readonly configOverrides?: readonly string[];
  readonly createdMs: number;
  /** Set while the topic is being deleted: it is then invisible and cannot grow. */
  readonly deleting?: boolean;
  /** A fresh value after any of its partitions' leases changed hands (leadership.ts); absent until then. */
  readonly leadership?: string;
}

export interface PartitionState {
  /** The next offset to assign: the high watermark. */
  readonly nextOffset: number;
  /** The first offset still readable; advanced by retention. */
  readonly logStartOffset: number;
  /** Leader epoch: bumped on every lease takeover; commits by a leader are conditional on it. */
  readonly epoch: number;
  readonly owner: string | null;
  /**
   * The node id of the agent registration the lease rides on (leases.ts): the lease holds while that
   * registration names its owner and is unexpired. null: a lease of its own, held until leaseExpiresMs.
   */
  readonly ownerNode: number | null;
  readonly leaseExpiresMs: number;
  /** Open transactions on the partition: producer id → the offset of its first batch in it (commit.ts). */
  readonly openTransactions: Readonly<Record<string, number>>;
  /**
   * The last stable offset (Kafka's LSO): the first offset of the oldest open transaction, else the
   * high watermark. A read_committed reader reads below it only.
   */
  readonly lastStableOffset: number;
  /** The offset of the newest abort marker (-1: none): a read above it needs no aborted-transaction lookup. */
  readonly lastAbortedOffset: number;
  /**
   * The packing writer (lib/log/packed.ts) that alone assigns the partition's offsets from
   * `nextOffset` on, in its packed commits after `packedSeq`; null: none (offsets move by the
   * per-partition compare-and-set, commit.ts). While it is set, `nextOffset` is the end of the rows
   * only, and the partition's end is in the packer's log.
   */
  readonly packedBy: string | null;
  /** The packer's commits up to this sequence number are in the partition's rows. */
  readonly packedSeq: number;
}

/**
 * An aborted transaction on a partition (Kafka's AbortedTxn in the .txnindex), stored under its
 * marker's offset: its records in [firstOffset, marker) are not for read_committed readers.
 * `lastStableOffset`: the LSO just after the marker; a search past a fetch's end stops at an entry
 * whose LSO is at or past that end (no later abort can overlap the fetch).
 */
export interface AbortedTxn {
  readonly producerId: number;
  readonly firstOffset: number;
  readonly lastStableOffset: number;
}

export function abortedTxnAttrs(txn: AbortedTxn): Attributes {
  return { ...txn };
}

export function abortedTxnFromItem(item: Item): AbortedTxn & { readonly markerOffset: number } {
  const a = item.attrs;
  return {
    producerId: a.producerId as number,
    firstOffset: a.firstOffset as number,
    lastStableOffset: a.lastStableOffset as number,
    markerOffset: Number(item.sk.slice(item.sk.indexOf('#') + 1)),
  };
}

/**
 * Where records [baseOffset, baseOffset + recordCount) live: `recordCount` is the row's span of
 * offsets, and rows tile the log from its start to the high watermark. Every offset of a span holds a
 * record, except in a segment the log cleaner rewrote (cleanup.policy=compact), whose batches keep
 * their offsets but not every record, as a compacted Kafka log. Two kinds:
 * - a flush row points at one partition's chunk inside a multi-partition segment object; its batches
 *   are stored with relative offsets (baseOffset 0, 1, …), patched on read;
 * - a compacted row (it has `indexKey`) points at a whole per-partition segment object whose batches
 *   carry their absolute offsets, with an offset index and a time index object beside it.
 */
export interface BatchRow {
  readonly baseOffset: number;
  readonly recordCount: number;
  readonly objectKey: string;
  /** Byte position of the chunk in the object. */
  readonly position: number;
  readonly sizeBytes: number;
  readonly maxTimestampMs: number;
  /** When the row was committed (a compacted row: its newest row's commit), by the writer's clock. */
  readonly committedMs: number;
  /** A compacted row: its oldest row's commit, so the span its records were written over is known (absent on rows compacted before it was kept). */
  readonly firstCommittedMs?: number;
  readonly indexKey?: string;
  readonly timeIndexKey?: string;
  /**
   * Whether maxTimestampMs (and, for a compacted row, its time index) come from the records'
   * timestamps: true of every row written since produced batches are validated on append. A row
   * written before may carry what a client's header said (-1 from Filebeat): maintenance repairs such
   * a row's max (maintenance/timestamps.ts), and readers do not trust its time index.
   */
  readonly recordTimes?: boolean;
  /**
   * A segment the log cleaner wrote or went through (cleanup.policy=compact) that still holds a
   * tombstone (a record with a null value): the earliest
   * time one of them may be removed (delete.retention.ms after the cleaner reached it), so a pass
   * knows when cleaning is due for it. Absent: none (or a row the cleaner has not reached).
   */
  readonly tombstonesDueMs?: number;
}

/** Every object a row keeps alive. */
export function objectsOf(row: BatchRow): string[] {
  return [row.objectKey, ...(row.indexKey ? [row.indexKey] : []), ...(row.timeIndexKey ? [row.timeIndexKey] : [])];
}

/**
 * The rows a reader follows, in offset order: rows wholly covered by an earlier row are dropped (a
 * compaction cut short, or two racing compactors, can leave such shadows; they hold the same data).
 * Rows read a page at a time pass each page's `covered` (the end of the last live row) to the next.
 */
export function effectiveRows<T extends BatchRow>(rows: readonly T[], coveredBefore = -1): { live: T[]; shadowed: T[]; covered: number } {
  const live: T[] = [];
  const shadowed: T[] = [];
  let covered = coveredBefore;
  for (const row of rows) {
    const end = row.baseOffset + row.recordCount;
    if (end <= covered) shadowed.push(row);
    else {
      live.push(row);
      covered = end;
    }
  }
  return { live, shadowed, covered };
}

/** A stored topic; config keys it was created without take the built-in defaults (the registry applies its own). */
export function topicFromItem(item: Item): TopicItem {
  const topic = item.attrs as unknown as TopicItem;
  return { ...topic, config: withDefaults(topic.config) };
}

export function partitionStateFromItem(item: Item): PartitionState {
  const a = item.attrs;
  const nextOffset = a.nextOffset as number;
  const openTransactions = (a.openTxns as Record<string, number> | undefined) ?? {};
  return {
    nextOffset,
    openTransactions,
    lastStableOffset: Math.min(nextOffset, ...Object.values(openTransactions)),
    lastAbortedOffset: (a.lastAbortedOffset as number | undefined) ?? -1,
    logStartOffset: a.logStartOffset as number,
    epoch: a.epoch as number,
    owner: (a.owner as string | null | undefined) ?? null,
    ownerNode: (a.ownerNode as number | null | undefined) ?? null,
    leaseExpiresMs: (a.leaseExpiresMs as number | undefined) ?? 0,
    packedBy: (a.packedBy as string | null | undefined) ?? null,
    packedSeq: (a.packedSeq as number | undefined) ?? 0,
  };
}

export function batchRowFromItem(item: Item): BatchRow {
  return item.attrs as unknown as BatchRow;
}

export function newPartitionAttrs(): Attributes {
  return { nextOffset: 0, logStartOffset: 0, epoch: 0, owner: null, ownerNode: null, leaseExpiresMs: 0 };
}

export function batchRowAttrs(row: BatchRow): Attributes {
  return { ...row };
}

export function topicAttrs(topic: TopicItem): Attributes {
  return { ...topic, config: { ...topic.config } };
}
