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
import { monotonicFactory } from 'ulid';
import { batchesIn, patchBaseOffset, readBatchHeader, repairMaxTimestamp } from '../../format/index.js';
import { maxTransactionOps, TransactionConflictError, ConditionFailedError, type WriteOp } from '../../storage/ports.js';
import {
  batchRowAttrs,
  batchRowFromItem,
  effectiveRows,
  objectsOf,
  type BatchRow,
  type PartitionState,
  type TopicItem,
} from '../layout.js';
import { offsetSk, rowKey, rowsPk } from '../../keys.js';
import { buildIndexes, type BatchPlacement } from '../segment-index.js';
import { checkpoint, unchanged, type MaintenanceContext, type MaintenanceResult } from './context.js';
import { markUnreferenced } from './ledger.js';

const ulid = monotonicFactory();

export async function compactPartition(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  state: PartitionState,
  result: MaintenanceResult,
): Promise<void> {
  const rows = (await ctx.metadata.query(rowsPk(topic.id, partition)))
    .map(batchRowFromItem)
    .filter((row) => row.baseOffset < state.nextOffset);
  const { live, shadowed } = effectiveRows(rows);
  await deleteRows(ctx, topic, partition, shadowed, result);
  for (const group of groupsToCompact(
    ctx,
    live.filter((row) => row.baseOffset + row.recordCount > state.logStartOffset),
  )) {
    checkpoint(ctx);
    await compactGroup(ctx, topic, partition, group, result);
  }
}

/** Runs of flush rows, cut at compacted rows and at the target size; the young tail waits. */
export function groupsToCompact(
  ctx: Pick<MaintenanceContext, 'compactionTargetBytes' | 'compactionTailAgeMs' | 'now'>,
  rows: readonly BatchRow[],
): BatchRow[][] {
  const groups: BatchRow[][] = [];
  const oldEnough = (group: BatchRow[]) => Math.max(...group.map((row) => row.committedMs)) <= ctx.now() - ctx.compactionTailAgeMs;
  let current: BatchRow[] = [];
  let bytes = 0;
  const close = (full: boolean) => {
    if (current.length > 0 && (full || oldEnough(current))) groups.push(current);
    current = [];
    bytes = 0;
  };
  for (const row of rows) {
    if (row.indexKey !== undefined) {
      close(false);
      continue;
    }
    if (current.length > 0 && bytes + row.sizeBytes > ctx.compactionTargetBytes) close(bytes >= ctx.compactionTargetBytes / 2);
    current.push(row);
    bytes += row.sizeBytes;
  }
  close(bytes >= ctx.compactionTargetBytes);
  return groups;
}

async function compactGroup(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  group: BatchRow[],
  result: MaintenanceResult,
): Promise<void> {
  const startedMs = ctx.now();
  const first = group[0]!;
  const parts: Buffer[] = [];
  const placements: BatchPlacement[] = [];
  let position = 0;
  let maxTimestampMs = -1;
  for (const row of group) {
    checkpoint(ctx); // nothing is written until the group is read: stopping here leaves nothing behind
    const chunk = await ctx.objects.get(row.objectKey, { offset: row.position, length: row.sizeBytes });
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
  const body = Buffer.concat(parts);
  const { offsetIndex, timeIndex } = buildIndexes(first.baseOffset, placements, ctx.indexIntervalBytes);
  const stem = `partitions/${topic.id}/${partition}/${offsetSk(first.baseOffset)}-${ulid()}`;
  const merged: BatchRow = {
    baseOffset: first.baseOffset,
    recordCount: group.reduce((sum, row) => sum + row.recordCount, 0),
    objectKey: `${stem}.log`,
    position: 0,
    sizeBytes: body.length,
    maxTimestampMs,
    committedMs: Math.max(...group.map((row) => row.committedMs)),
    firstCommittedMs: Math.min(...group.map((row) => row.firstCommittedMs ?? row.committedMs)),
    indexKey: `${stem}.index`,
    timeIndexKey: `${stem}.timeindex`,
    recordTimes: true,
  };
  await Promise.all([
    ctx.objects.put(merged.objectKey, body),
    ctx.objects.put(merged.indexKey!, offsetIndex),
    ctx.objects.put(merged.timeIndexKey!, timeIndex),
  ]);
  result.objects_written += 3;
  result.bytes_written += body.length + offsetIndex.length + timeIndex.length;
  if (ctx.now() - startedMs > ctx.maxCommitAgeMs) return; // too late to commit safely: the objects are orphans now

  await markUnreferenced(ctx.metadata, group.flatMap(objectsOf), ctx.now());
  const deletes = group
    .slice(1)
    .map((row): WriteOp => ({ kind: 'delete', key: rowKey(topic.id, partition, row.baseOffset), condition: unchanged(row) }));
  const firstOps: WriteOp[] = [
    { kind: 'put', key: rowKey(topic.id, partition, first.baseOffset), attrs: batchRowAttrs(merged), condition: unchanged(first) },
    ...deletes.slice(0, maxTransactionOps - 1),
  ];
  try {
    await ctx.metadata.transact(firstOps);
  } catch (error) {
    if (!(error instanceof TransactionConflictError)) throw error;
    result.compaction_conflicts++;
    return;
  }
  result.segments_compacted++;
  result.rows_merged += group.length;
  result.rows_deleted += firstOps.length - 1;
  for (const op of deletes.slice(maxTransactionOps - 1)) {
    try {
      await ctx.metadata.write(op);
      result.rows_deleted++;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
      break; // changed under us: what is left is a shadow for the next pass
    }
  }
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
  for (const row of rows) {
    try {
      await ctx.metadata.write({ kind: 'delete', key: rowKey(topic.id, partition, row.baseOffset), condition: unchanged(row) });
      result.rows_deleted++;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
    }
  }
}
