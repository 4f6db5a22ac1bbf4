/**
 * Retention, as Kafka's log.retention.ms / log.retention.bytes, for topics whose cleanup.policy
 * includes delete: whole segments (rows) at the start of
 * a partition are dropped while their newest record is older than retention.ms, or while the
 * partition holds more than retention.bytes. The log start offset advances first, by a conditional
 * write: from then on those offsets are out of range for readers. Only then are the rows deleted
 * (objects recorded in the ledger first), and the objects follow after the collector's grace period.
 * Rows left below the log start by a pass cut short are deleted by the next one. A row's time is
 * its records' (rows written before append validation are repaired first: timestamps.ts).
 * Rows are read a page at a time (context.ts rowPages) and judged as they come (RetentionCut): the
 * cut is found without holding the partition's rows; the rows below it are read again to delete them.
 * Reads in pages may miss rows another compactor merged between two reads (offsets above the log
 * start that no row seen holds: before a row, or after the last): the cut never passes such a gap,
 * whose records were not judged. A cut
 * may land inside a row merged meanwhile, as a DeleteRecords' can; only rows wholly below it go.
 */
import { ConditionFailedError } from '../../storage/ports.js';
import type { BatchRow, PartitionState, TopicItem } from '../layout.js';
import { cleanupPolicy } from '../topic-config.js';
import { abortedTxnSksBelow, partitionKey, partitionPk } from '../../keys.js';
import { deleteRows } from './compaction.js';
import { checkpoint, rowPages, type MaintenanceContext, type MaintenanceResult } from './context.js';
import { repairRowTimestamps } from './timestamps.js';

export async function retainPartition(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  state: PartitionState,
  result: MaintenanceResult,
): Promise<PartitionState> {
  // cleanup.policy without delete (compact alone, or none): nothing expires; rows below a log start moved by DeleteRecords still go.
  const expires = cleanupPolicy(topic.config).delete;
  const cut = new RetentionCut(
    state,
    expires ? topic.config['retention.ms'] : -1,
    expires ? topic.config['retention.bytes'] : -1,
    ctx.now(),
  );
  let firstEnd: number | undefined; // of the first row stored: is anything below the new start to delete?
  for await (const page of rowPages(ctx, topic, partition)) {
    checkpoint(ctx);
    result.rows_before += page.length; // the pass's census before: each partition's rows as it first reads them
    firstEnd ??= page[0]!.baseOffset + page[0]!.recordCount;
    // Never judge a row by a time it does not have: rows from before append validation get their records' time first.
    const stored = page.filter((row) => row.baseOffset < state.nextOffset);
    for (const row of await repairRowTimestamps(ctx, topic, partition, stored, result)) cut.add(row);
  }
  // retention.bytes needs the partition's total first: a second read finds where the rest fits.
  if (cut.needsBytesScan)
    for await (const page of rowPages(ctx, topic, partition)) {
      checkpoint(ctx);
      for (const row of page) if (row.baseOffset < state.nextOffset) cut.addForBytes(row);
    }
  const newStart = cut.offset();
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
  // The rows wholly below the start (dropped now, or left by a pass cut short), read again a page at a time.
  if (firstEnd !== undefined && firstEnd <= start)
    for await (const page of rowPages(ctx, topic, partition)) {
      checkpoint(ctx);
      const below = page.filter((row) => row.baseOffset + row.recordCount <= start);
      await deleteRows(ctx, topic, partition, below, result);
      if (below.length < page.length) break;
    }
  // Aborted-transaction entries whose markers are below the start: no reader can reach them (Kafka's .txnindex goes with its segment).
  if (state.lastAbortedOffset >= 0 && start > 0)
    for (const item of await ctx.metadata.query(partitionPk(topic.id, partition), abortedTxnSksBelow(start))) {
      checkpoint(ctx);
      await ctx.metadata.write({ kind: 'delete', key: item });
    }
  return { ...state, logStartOffset: start };
}

/**
 * Where retention cuts a partition, from its rows fed in offset order (retention.ms's cut: the first
 * live row above the log start whose newest record is not past retention.ms; retention.bytes's: the
 * first from which the rest fits, which needs the total, so a second feed, `addForBytes`). Holds a
 * few numbers, not the rows. Pure.
 */
export class RetentionCut {
  private covered = -1;
  private timeDropped = 0;
  private timeKept: number | undefined;
  private totalBytes = 0;
  private bytesCovered = -1;
  private bytesLeft: number | undefined;
  private bytesDropped = 0;
  private bytesKept: number | undefined;

  constructor(
    private readonly state: Pick<PartitionState, 'logStartOffset' | 'nextOffset'>,
    private readonly retentionMs: number,
    private readonly retentionBytes: number,
    private readonly nowMs: number,
  ) {}

  add(row: BatchRow): void {
    const gapAt = this.gapBefore(row, this.covered);
    if (!this.live(row, 'covered')) return;
    this.totalBytes += row.sizeBytes;
    if (this.timeKept !== undefined) return;
    if (gapAt !== undefined) this.timeKept = gapAt;
    else if (this.retentionMs >= 0 && row.maxTimestampMs < this.nowMs - this.retentionMs) this.timeDropped++;
    else this.timeKept = row.baseOffset;
  }

  /** Whether retention.bytes cuts anything: the rows are then fed again, to addForBytes. */
  get needsBytesScan(): boolean {
    return this.retentionBytes >= 0 && this.totalBytes > this.retentionBytes;
  }

  addForBytes(row: BatchRow): void {
    const gapAt = this.gapBefore(row, this.bytesCovered);
    if (!this.live(row, 'bytesCovered') || this.bytesKept !== undefined) return;
    this.bytesLeft ??= this.totalBytes;
    if (gapAt !== undefined) this.bytesKept = gapAt;
    else if (this.bytesLeft > this.retentionBytes) {
      this.bytesLeft -= row.sizeBytes;
      this.bytesDropped++;
    } else this.bytesKept = row.baseOffset;
  }

  /** The new log start: the base of the first row kept, or the high watermark when none is. */
  offset(): number {
    // Every row seen dropped: up to the end of the last one seen (the high watermark, unless rows went missing after it).
    const at = (dropped: number, kept: number | undefined, covered: number) =>
      dropped === 0 ? this.state.logStartOffset : (kept ?? Math.min(this.state.nextOffset, covered));
    return Math.max(
      this.state.logStartOffset,
      at(this.timeDropped, this.timeKept, this.covered),
      at(this.bytesDropped, this.bytesKept, this.bytesCovered),
    );
  }

  /** Where offsets at or above the log start before `row` are missing (rows read in pages, changed meanwhile). */
  private gapBefore(row: BatchRow, covered: number): number | undefined {
    const from = Math.max(covered, this.state.logStartOffset);
    return row.baseOffset > from ? from : undefined;
  }

  /** Whether a row is live (no earlier row of the same feed covers it) and above the log start. */
  private live(row: BatchRow, covered: 'covered' | 'bytesCovered'): boolean {
    const end = row.baseOffset + row.recordCount;
    if (end <= this[covered]) return false;
    this[covered] = end;
    return end > this.state.logStartOffset;
  }
}

/** The new log start for `rows` (all of a partition's, in offset order): RetentionCut over an array. Pure. */
export function retentionCut(
  rows: readonly BatchRow[],
  state: PartitionState,
  retentionMs: number,
  retentionBytes: number,
  nowMs: number,
): number {
  const cut = new RetentionCut(state, retentionMs, retentionBytes, nowMs);
  for (const row of rows) cut.add(row);
  if (cut.needsBytesScan) for (const row of rows) cut.addForBytes(row);
  return cut.offset();
}
