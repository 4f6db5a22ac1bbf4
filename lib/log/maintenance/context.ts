/** What every maintenance step works with, and the counters one pass reports. */
import type { MetadataStore, ObjectStore } from '../../storage/ports.js';
import { batchRowFromItem, type BatchRow, type TopicItem } from '../layout.js';
import { offsetSk, rowsPk } from '../../keys.js';

export interface MaintenanceOptions {
  /** Size a compacted per-partition segment grows to. @default 64 MiB */
  readonly compactionTargetBytes?: number;
  /** Rows older than this may be compacted into a segment below the target size (compaction.ts says when). @default 600 000 (10 min) */
  readonly compactionTailAgeMs?: number;
  /** Old rows before a young tail are compacted once they are this many (compaction.ts). @default 1000 */
  readonly compactionRunRows?: number;
  /** An unreferenced object is deleted this long after it was dereferenced or written. @default 3 600 000 (1 h) */
  readonly gcGraceMs?: number;
  /** Longest time from upload to commit for the compactor's own segments. @default gcGraceMs / 2 */
  readonly maxCommitAgeMs?: number;
  /** Bytes of log between offset index entries. @default 4096 */
  readonly indexIntervalBytes?: number;
  /** Kafka's producer.id.expiration.check.interval.ms: how often a pass looks for expired producer states. @default 600 000 */
  readonly producerIdExpirationCheckIntervalMs?: number;
  /** Rows read at once (one query): a pass holds at most this many of a partition's rows, plus a compaction group's. @default 1000 */
  readonly rowsPerPage?: number;
  /** Keys the log cleaner's map holds in a pass (cleaner.ts; ~100 bytes each): a larger dirty part is cleaned over several passes. @default 500 000 */
  readonly cleanerMapKeys?: number;
}

export interface MaintenanceContext {
  readonly metadata: MetadataStore;
  readonly objects: ObjectStore;
  readonly now: () => number;
  readonly compactionTargetBytes: number;
  readonly compactionTailAgeMs: number;
  readonly compactionRunRows: number;
  readonly gcGraceMs: number;
  readonly maxCommitAgeMs: number;
  readonly indexIntervalBytes: number;
  readonly producerIdExpirationMs: number;
  readonly rowsPerPage: number;
  readonly cleanerMapKeys: number;
  /** Aborted when the process shuts down: the pass ends at its next safe point (`checkpoint`). */
  readonly stopping: AbortSignal;
}

/** Thrown at a safe point of a pass asked to stop: between steps, never between a step's upload and its commit. */
export class MaintenanceStopped extends Error {
  constructor() {
    super('maintenance pass stopped: the process is shutting down');
    this.name = 'MaintenanceStopped';
  }
}

/**
 * A safe point: every step is a sequence of conditional writes that may stop between any two of them
 * and be run again (the module comments of retention, compaction and gc say why), so a pass asked to
 * stop ends here, at once.
 */
export function checkpoint(ctx: Pick<MaintenanceContext, 'stopping'>): void {
  if (ctx.stopping.aborted) throw new MaintenanceStopped();
}

/** One pass's result; snake_case because it is shown as it is (HTTP, logs). */
export interface MaintenanceResult {
  segments_compacted: number;
  rows_merged: number;
  compaction_conflicts: number;
  /** The log cleaner (cleanup.policy=compact, cleaner.ts): partitions whose checkpoint it advanced, segments it rewrote, records it removed, runs a racing writer changed first. */
  partitions_cleaned: number;
  segments_cleaned: number;
  records_cleaned: number;
  cleaner_conflicts: number;
  partitions_trimmed: number;
  records_expired: number;
  rows_deleted: number;
  objects_written: number;
  bytes_written: number;
  objects_deleted: number;
  bytes_deleted: number;
  topics_deletion_finished: number;
  /** Rows written with maxTimestampMs -1 (before append validation) given their records' real time. */
  rows_timestamps_repaired: number;
  /** Idempotent producers' states deleted once expired (producers.ts). */
  producer_states_expired: number;
  objects_before: number;
  bytes_before: number;
  /** Rows of the live partitions as the pass first read them (a topic being deleted is not counted). */
  rows_before: number;
  objects_after: number;
  bytes_after: number;
  rows_after: number;
  duration_ms: number;
  /** The pass stopped early at a safe point (shutdown): the counts are of what it did (rows_before: of the partitions it reached); the census after it was not taken. */
  stopped: boolean;
}

export function emptyResult(): MaintenanceResult {
  return {
    segments_compacted: 0,
    rows_merged: 0,
    compaction_conflicts: 0,
    partitions_cleaned: 0,
    segments_cleaned: 0,
    records_cleaned: 0,
    cleaner_conflicts: 0,
    partitions_trimmed: 0,
    records_expired: 0,
    rows_deleted: 0,
    objects_written: 0,
    bytes_written: 0,
    objects_deleted: 0,
    bytes_deleted: 0,
    topics_deletion_finished: 0,
    rows_timestamps_repaired: 0,
    producer_states_expired: 0,
    objects_before: 0,
    bytes_before: 0,
    rows_before: 0,
    objects_after: 0,
    bytes_after: 0,
    rows_after: 0,
    duration_ms: 0,
    stopped: false,
  };
}

/** The condition that a row is still exactly as read: maintenance never overwrites a row that changed. */
export function unchanged(row: BatchRow) {
  return { kind: 'match' as const, fields: { objectKey: row.objectKey, position: row.position, recordCount: row.recordCount } };
}

/**
 * A partition's rows in offset order, from `fromOffset`, one page (`rowsPerPage`, one query) at a
 * time: a pass holds a page, not the partition, whatever its backlog. A partition with fewer rows
 * than a page costs one query, as a whole read would.
 */
export async function* rowPages(
  ctx: Pick<MaintenanceContext, 'metadata' | 'rowsPerPage'>,
  topic: TopicItem,
  partition: number,
  fromOffset = 0,
): AsyncGenerator<BatchRow[]> {
  let from = offsetSk(fromOffset);
  for (;;) {
    const rows = (await ctx.metadata.query(rowsPk(topic.id, partition), { from, limit: ctx.rowsPerPage })).map(batchRowFromItem);
    if (rows.length > 0) yield rows;
    if (rows.length < ctx.rowsPerPage) return;
    from = offsetSk(rows.at(-1)!.baseOffset + 1);
  }
}
