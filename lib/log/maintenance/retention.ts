/**
 * Retention, as Kafka's log.retention.ms / log.retention.bytes: whole segments (rows) at the start of
 * a partition are dropped while their newest record is older than retention.ms, or while the
 * partition holds more than retention.bytes. The log start offset advances first, by a conditional
 * write: from then on those offsets are out of range for readers. Only then are the rows deleted
 * (objects recorded in the ledger first), and the objects follow after the collector's grace period.
 * Rows left below the log start by a pass cut short are deleted by the next one. A row's time is
 * its records' (rows written before append validation are repaired first: timestamps.ts).
 */
import { ConditionFailedError } from '../../storage/ports.js';
import { batchRowFromItem, effectiveRows, type BatchRow, type PartitionState, type TopicItem } from '../layout.js';
import { partitionKey, rowsPk } from '../../keys.js';
import { deleteRows } from './compaction.js';
import type { MaintenanceContext, MaintenanceResult } from './context.js';
import { repairRowTimestamps } from './timestamps.js';

export async function retainPartition(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  state: PartitionState,
  result: MaintenanceResult,
): Promise<PartitionState> {
  const items = await ctx.metadata.query(rowsPk(topic.id, partition));
  result.rows_before += items.length; // the pass's census before: each partition's rows as it first reads them
  const stored = items.map(batchRowFromItem).filter((row) => row.baseOffset < state.nextOffset);
  // Never judge a row by a time it does not have: rows from before append validation get their records' time first.
  const rows = await repairRowTimestamps(ctx, topic, partition, stored, result);
  const newStart = retentionCut(rows, state, topic.config['retention.ms'], topic.config['retention.bytes'], ctx.now());
  let start = state.logStartOffset;
  if (newStart > state.logStartOffset) {
    try {
      await ctx.metadata.write({
        kind: 'update',
        key: partitionKey(topic.id, partition),
        set: { logStartOffset: newStart },
        condition: { kind: 'match', fields: { logStartOffset: state.logStartOffset } },
      });
      start = newStart;
      result.partitions_trimmed++;
      result.records_expired += newStart - state.logStartOffset;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
      return state; // another pass moved it; it will be read afresh next time
    }
  }
  await deleteRows(
    ctx,
    topic,
    partition,
    rows.filter((row) => row.baseOffset + row.recordCount <= start),
    result,
  );
  return { ...state, logStartOffset: start };
}

/** The new log start: the base of the first row kept, or the high watermark when none is. Pure. */
export function retentionCut(
  rows: readonly BatchRow[],
  state: PartitionState,
  retentionMs: number,
  retentionBytes: number,
  nowMs: number,
): number {
  const live = effectiveRows(rows).live.filter((row) => row.baseOffset + row.recordCount > state.logStartOffset);
  let cut = 0;
  if (retentionMs >= 0) while (cut < live.length && live[cut]!.maxTimestampMs < nowMs - retentionMs) cut++;
  if (retentionBytes >= 0) {
    let total = live.reduce((sum, row) => sum + row.sizeBytes, 0);
    let dropped = 0;
    while (dropped < live.length && total > retentionBytes) total -= live[dropped++]!.sizeBytes;
    cut = Math.max(cut, dropped);
  }
  if (cut === 0) return state.logStartOffset;
  return Math.max(state.logStartOffset, cut < live.length ? live[cut]!.baseOffset : state.nextOffset);
}
