/**
 * Compaction: the small chunks a partition's flushes left in multi-partition segments are merged
 * into per-partition segment objects (Kafka's `.log`) with an offset index and a time index beside
 * each (segment-index.ts), and the merged rows collapse into one row per new segment.
 *
 * Safety, with producers, consumers and other compactors running:
 * - Only committed rows below the high watermark are read; their objects are immutable.
 * - The new objects are stored first under unique keys; then ONE conditional write replaces the
 *   group's first row by the new row (same base offset, covering the whole group) — readers switch
 *   there, atomically — together with deletes of as many of the other rows as fit the transaction.
 *   Every row write requires the row to be exactly as read, so a racing compactor or retention run
 *   makes this one give up (its objects become orphans for the collector), never overwrite.
 * - Rows the first transaction could not delete are deleted after it. Until then they are shadows:
 *   covered by the new row, holding the same bytes; readers skip them and the next pass removes them.
 * - The compactor's own segment is committed within maxCommitAgeMs of its upload, below the
 *   collector's grace period, as writers' are.
 */
import pMap from 'p-map';
import { monotonicFactory } from 'ulid';
import { batchesIn, patchBaseOffset, readBatchHeader, repairMaxTimestamp } from '../../format/index.js';
import { maxTransactionOps, TransactionConflictError, ConditionFailedError, type WriteOp } from '../../storage/ports.js';
import { batchRowAttrs, effectiveRows, objectsOf, type BatchRow, type PartitionState, type TopicItem } from '../layout.js';
import { offsetSk, rowKey } from '../../keys.js';
import { buildIndexes, type BatchPlacement } from '../segment-index.js';
import { checkpoint, rowPages, unchanged, type MaintenanceContext, type MaintenanceResult } from './context.js';
import { markUnreferenced } from './ledger.js';
import { cleanupPolicy } from '../topic-config.js';

const ulid = monotonicFactory();
/** Chunk reads one compaction run has in flight. */
const parallelReads = 8;
/** Row deletes in flight. */
const parallelWrites = 16;

export async function compactPartition(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  state: PartitionState,
  result: MaintenanceResult,
): Promise<void> {
  const groups = new CompactionGroups({ ...ctx, compactionTailAgeMs: tailAgeMs(ctx, topic) });
  let covered = -1;
  for await (const page of rowPages(ctx, topic, partition)) {
    checkpoint(ctx);
    const effective = effectiveRows(
      page.filter((row) => row.baseOffset < state.nextOffset),
      covered,
    );
    covered = effective.covered;
    await deleteRows(ctx, topic, partition, effective.shadowed, result);
    for (const row of effective.live) {
      if (row.baseOffset + row.recordCount <= state.logStartOffset) continue;
      for (const group of groups.add(row)) {
        checkpoint(ctx);
        await compactGroup(ctx, topic, partition, group, result);
      }
    }
  }
  for (const group of groups.end()) {
    checkpoint(ctx);
    await compactGroup(ctx, topic, partition, group, result);
  }
}

/**
 * How long a topic's flush rows may stay young (unmerged): the agent's tail age; for a compacted
 * topic, less if its segment.ms or max.compaction.lag.ms asks, as Kafka rolls a compacted log's
 * active segment after either (the log cleaner reaches records only once they are in a segment).
 * Other topics ignore segment.ms: retention cuts rows, not segments, and smaller segments would only
 * cost more PUTs.
 */
export function tailAgeMs(ctx: Pick<MaintenanceContext, 'compactionTailAgeMs'>, topic: Pick<TopicItem, 'config'>): number {
  if (!cleanupPolicy(topic.config).compact) return ctx.compactionTailAgeMs;
  return Math.min(ctx.compactionTailAgeMs, topic.config['segment.ms'], topic.config['max.compaction.lag.ms']);
}

/** What decides compaction's runs. */
export type CompactionGrouping = Pick<MaintenanceContext, 'compactionTargetBytes' | 'compactionTailAgeMs' | 'compactionRunRows' | 'now'>;

/**
 * Runs of flush rows, cut at compacted rows and at the target size. A run is compacted when full
 * (half the target at a cut, the target at the end), or when all its rows are older than
 * compactionTailAgeMs; of a run that is neither, the old rows before its first young one are
 * compacted once they are `compactionRunRows`, if the run is below half the target (a larger one
 * soon fills it, as before). So a partition written without pause below half the target per tail
 * age has its old rows compacted about that many at a time, instead of one run growing until it
 * fills the target (at the soak's rate: tens of thousands of rows, and a pass of minutes); a trickle
 * costs one compaction (3 PUTs) per that many flushes, not one per pass.
 * Fed rows in offset order, it answers the runs each row closes, so a run is compacted as soon as it
 * is known, while the rows after it are still being read; it holds one run's rows at most.
 * A run is also cut where a row does not start at the end of the one before: rows read in pages
 * can miss rows another compactor merged between two reads, and a run across that gap would name
 * offsets it does not hold (its rows are contiguous as read, so conditions on them catch the rest).
 */
export class CompactionGroups {
  private current: BatchRow[] = [];
  private bytes = 0;
  /** Where the current run's first young row is; its length while it has none. */
  private youngFrom = 0;

  constructor(private readonly ctx: CompactionGrouping) {}

  /** The runs `row` closes (none, or one). */
  add(row: BatchRow): BatchRow[][] {
    if (row.indexKey !== undefined) return this.close(false);
    const last = this.current.at(-1);
    const closed =
      last === undefined
        ? []
        : row.baseOffset !== last.baseOffset + last.recordCount
          ? this.close(false)
          : this.bytes + row.sizeBytes > this.ctx.compactionTargetBytes
            ? this.close(this.bytes >= this.ctx.compactionTargetBytes / 2)
            : [];
    if (this.youngFrom === this.current.length && !this.young(row)) this.youngFrom++;
    this.current.push(row);
    this.bytes += row.sizeBytes;
    return closed;
  }

  /** The last run, if it is full or old enough (or its old part). */
  end(): BatchRow[][] {
    return this.close(this.bytes >= this.ctx.compactionTargetBytes);
  }

  private young(row: BatchRow): boolean {
    return row.committedMs > this.ctx.now() - this.ctx.compactionTailAgeMs;
  }

  private close(full: boolean): BatchRow[][] {
    const [run, bytes, youngFrom] = [this.current, this.bytes, this.youngFrom];
    this.current = [];
    this.bytes = 0;
    this.youngFrom = 0;
    if (run.length === 0) return [];
    if (full || run.every((row) => !this.young(row))) return [run];
    const oldPart = run.slice(0, youngFrom);
    return oldPart.length >= this.ctx.compactionRunRows && bytes < this.ctx.compactionTargetBytes / 2 ? [oldPart] : [];
  }
}

/** The runs of `rows` (in offset order) compaction would merge. Pure. */
export function groupsToCompact(ctx: CompactionGrouping, rows: readonly BatchRow[]): BatchRow[][] {
  const groups = new CompactionGroups(ctx);
  return [...rows.flatMap((row) => groups.add(row)), ...groups.end()];
}

async function compactGroup(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  group: BatchRow[],
  result: MaintenanceResult,
): Promise<void> {
  const startedMs = ctx.now();
  const parts: Buffer[] = [];
  const placements: BatchPlacement[] = [];
  let position = 0;
  let maxTimestampMs = -1;
  // Read several at once (one GET per flush row: on S3 their latency, not their bytes, bounds a run).
  const chunks = await pMap(
    group,
    (row) => {
      checkpoint(ctx); // nothing is written until the group is read: stopping here leaves nothing behind
      return ctx.objects.get(row.objectKey, { offset: row.position, length: row.sizeBytes });
    },
    { concurrency: parallelReads },
  );
  for (const [i, row] of group.entries()) {
    const chunk = chunks[i]!;
    let base = row.baseOffset;
    for (const { header: stored, pos } of batchesIn(chunk)) {
      const batch = Buffer.from(chunk.subarray(pos, pos + stored.sizeBytes));
      patchBaseOffset(batch, 0, base); // per-partition segments carry absolute offsets, as Kafka's .log
      repairMaxTimestamp(batch, 0, row.committedMs); // a batch stored before append validation gets its records' time
      const header = readBatchHeader(batch, 0);
      maxTimestampMs = Math.max(maxTimestampMs, header.maxTimestampMs);
      placements.push({ baseOffset: base, position, maxTimestampMs: header.maxTimestampMs });
      parts.push(batch);
      position += batch.length;
      base += header.lastOffsetDelta + 1;
    }
  }
  const merged = await storeSegment(ctx, topic, partition, group, parts, placements, { maxTimestampMs, recordTimes: true }, result);
  if (ctx.now() - startedMs > ctx.maxCommitAgeMs) return; // too late to commit safely: the objects are orphans now
  if (!(await replaceRun(ctx, topic, partition, group, merged, result))) {
    result.compaction_conflicts++;
    return;
  }
  result.segments_compacted++;
  result.rows_merged += group.length;
}

/**
 * Stores a per-partition segment for a run of rows (its batches, with absolute offsets, and where each
 * starts) with its offset and time indexes, and answers the row that would point at it: the run's
 * base offset and offset span, its commit times.
 */
export async function storeSegment(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  run: readonly BatchRow[],
  batches: readonly Buffer[],
  placements: readonly BatchPlacement[],
  fields: Pick<BatchRow, 'maxTimestampMs' | 'recordTimes' | 'tombstonesDueMs'>,
  result: MaintenanceResult,
): Promise<BatchRow> {
  const first = run[0]!;
  const last = run.at(-1)!;
  const body = Buffer.concat(batches);
  const { offsetIndex, timeIndex } = buildIndexes(first.baseOffset, placements, ctx.indexIntervalBytes);
  const stem = `partitions/${topic.id}/${partition}/${offsetSk(first.baseOffset)}-${ulid()}`;
  const row: BatchRow = {
    baseOffset: first.baseOffset,
    recordCount: last.baseOffset + last.recordCount - first.baseOffset,
    objectKey: `${stem}.log`,
    position: 0,
    sizeBytes: body.length,
    committedMs: Math.max(...run.map((row) => row.committedMs)),
    firstCommittedMs: Math.min(...run.map((row) => row.firstCommittedMs ?? row.committedMs)),
    indexKey: `${stem}.index`,
    timeIndexKey: `${stem}.timeindex`,
    ...fields,
  };
  await Promise.all([
    ctx.objects.put(row.objectKey, body),
    ctx.objects.put(row.indexKey!, offsetIndex),
    ctx.objects.put(row.timeIndexKey!, timeIndex),
  ]);
  result.objects_written += 3;
  result.bytes_written += body.length + offsetIndex.length + timeIndex.length;
  return row;
}

/**
 * Replaces a run of contiguous rows by one row covering them: ONE conditional transaction puts the
 * new row in place of the first (readers switch there, atomically) and deletes as many of the others
 * as fit; the rest are deleted after it (shadows until then). Every write requires its row exactly as
 * read; false, with nothing changed, if one was not (a racing compactor, cleaner or retention).
 */
export async function replaceRun(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  run: readonly BatchRow[],
  row: BatchRow,
  result: MaintenanceResult,
): Promise<boolean> {
  const first = run[0]!;
  await markUnreferenced(ctx.metadata, run.flatMap(objectsOf), ctx.now());
  const deletes = run
    .slice(1)
    .map((old): WriteOp => ({ kind: 'delete', key: rowKey(topic.id, partition, old.baseOffset), condition: unchanged(old) }));
  const firstOps: WriteOp[] = [
    { kind: 'put', key: rowKey(topic.id, partition, first.baseOffset), attrs: batchRowAttrs(row), condition: unchanged(first) },
    ...deletes.slice(0, maxTransactionOps - 1),
  ];
  try {
    await ctx.metadata.transact(firstOps);
  } catch (error) {
    if (!(error instanceof TransactionConflictError)) throw error;
    return false;
  }
  result.rows_deleted += firstOps.length - 1;
  await deleteEach(ctx, deletes.slice(maxTransactionOps - 1), result);
  return true;
}

/** Deletes rows, each only if unchanged, after recording their objects as unreferenced. */
export async function deleteRows(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  rows: readonly BatchRow[],
  result: MaintenanceResult,
): Promise<void> {
  if (rows.length === 0) return;
  await markUnreferenced(ctx.metadata, rows.flatMap(objectsOf), ctx.now());
  await deleteEach(
    ctx,
    rows.map((row): WriteOp => ({ kind: 'delete', key: rowKey(topic.id, partition, row.baseOffset), condition: unchanged(row) })),
    result,
  );
}

/**
 * Deletes rows, each only if unchanged, many at once (one after another, each waits a round trip,
 * and on LMDB a sync of its own). A row changed meanwhile (another compactor, retention) is left: a
 * shadow, if it is one, for the next pass.
 */
async function deleteEach(ctx: MaintenanceContext, deletes: readonly WriteOp[], result: MaintenanceResult): Promise<void> {
  await pMap(
    deletes,
    async (op) => {
      try {
        await ctx.metadata.write(op);
        result.rows_deleted++;
      } catch (error) {
        if (!(error instanceof ConditionFailedError)) throw error;
      }
    },
    { concurrency: parallelWrites },
  );
}
