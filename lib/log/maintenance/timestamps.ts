/**
 * Migration of rows written before produced batches were validated on append: a client that left
 * a batch's maxTimestamp at -1 (Filebeat's sarama fork does) gave its row maxTimestampMs -1, and
 * retention, which drops a row once its newest record is older than retention.ms, expired it on
 * the next pass. Since then every row is written with a real time (format/log-validator.ts).
 *
 * Before retention judges a partition, each row still at -1 has its chunk read and its max taken
 * from the records (a chunk whose records carry no timestamp at all counts as appended when its
 * row was committed, as Kafka falls back to a segment's modification time), and the row is updated
 * to it, conditional on the row being unchanged. So it happens once per row, and a row that was
 * compacted or deleted meanwhile is left to the one that changed it. The objects themselves stay as
 * they are: readers and compaction normalise their batches on the way out (reader.ts, compaction.ts),
 * and readers do not use the time index of a compacted row written before (BatchRow.recordTimes).
 */
import { repairChunkTimestamps } from '../../format/index.js';
import { ConditionFailedError, type Attributes } from '../../storage/ports.js';
import type { BatchRow, TopicItem } from '../layout.js';
import { rowKey } from '../../keys.js';
import { unchanged, type MaintenanceContext, type MaintenanceResult } from './context.js';

/** The rows, with every row stored with an unknown (negative) maxTimestampMs repaired in the store and in the result. */
export async function repairRowTimestamps(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  rows: readonly BatchRow[],
  result: MaintenanceResult,
): Promise<BatchRow[]> {
  const repaired: BatchRow[] = [];
  for (const row of rows) {
    if (row.maxTimestampMs >= 0) {
      repaired.push(row);
      continue;
    }
    const chunk = await ctx.objects.get(row.objectKey, { offset: row.position, length: row.sizeBytes });
    const maxTimestampMs = repairChunkTimestamps(chunk, row.committedMs);
    try {
      // A flush row's max is now its records'; a compacted row keeps the time index it was built with, not to be trusted.
      const set: Attributes = row.indexKey === undefined ? { maxTimestampMs, recordTimes: true } : { maxTimestampMs };
      await ctx.metadata.write({ kind: 'update', key: rowKey(topic.id, partition, row.baseOffset), set, condition: unchanged(row) });
      result.rows_timestamps_repaired++;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
    }
    repaired.push({ ...row, maxTimestampMs, recordTimes: row.indexKey === undefined });
  }
  return repaired;
}
