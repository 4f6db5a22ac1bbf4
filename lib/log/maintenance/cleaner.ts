/**
 * The log cleaner, for topics with cleanup.policy=compact, as Kafka's LogCleaner: the latest record
 * per key is kept, older records of a key are removed, and so is a tombstone (a record with a null
 * value) once it has been readable for delete.retention.ms after the cleaner first reached it.
 * Offsets never move: a cleaned segment's batches keep their base and last offsets (retain.ts) and a
 * row keeps its span, so a partition's offsets become sparse, as in Kafka. Readers step over the gaps.
 *
 * What is cleaned (Kafka's cleanable range): the per-partition segments (compacted rows) from the log
 * start, up to the first flush row (the young tail, merged into segments first by compaction.ts: it
 * plays Kafka's active segment) or the first row whose newest record is within
 * min.compaction.lag.ms. The partition's newest record is never removed (as Kafka never cleans its
 * active segment), so a consumer at any offset below the high watermark finds a record ahead of it.
 * The checkpoint item (keys.ts cleanerKey) says where the dirty part starts (`through`) and when
 * the cleaner reached each point (`reached`); a partition is cleaned when its dirty bytes are more
 * than min.cleanable.dirty.ratio of the cleanable bytes, when a dirty row is older than
 * max.compaction.lag.ms, or when a clean segment other than the newest holds a tombstone now due
 * (`tombstonesDueMs`; the newest waits for the partition to move on, as Kafka's active segment).
 *
 * A pass reads the dirty segments into a map of key digest (MD5, as Kafka's) → latest offset (at most
 * about `cleanerMapKeys` keys: a larger dirty part is cleaned in several passes), then rewrites the
 * cleanable segments, a run of at most compactionTargetBytes at a time, clean and dirty runs apart.
 * A record is removed when the map holds its key at a later offset, when it has no key (as Kafka's
 * cleaner does), or when it is a tombstone the cleaner reached delete.retention.ms ago.
 *
 * Transactions (as Kafka's cleaner): nothing at or past the last stable offset is cleanable (an open
 * transaction's records are undecided); transaction markers are kept whole, and neither they nor an
 * aborted transaction's records count as a key's latest record, so a read_committed reader always
 * finds its committed value. (Kafka also removes aborted records and, after delete.retention.ms,
 * markers whose transaction is empty: Spool keeps both, which costs space, never a read.)
 *
 * Safety, with producers, consumers, compactors, retention and other cleaners running:
 * - A record is removed only when a later record of its key exists (the map's offset is a record
 *   read from an immutable object), or the key's latest record is a tombstone past its time.
 *   Retention only cuts a log's oldest rows, so the later record outlives the earlier one.
 * - A run is replaced as compaction replaces one (compaction.ts replaceRun): new objects first, then
 *   one conditional transaction on every row as read; a race makes it give up, never overwrite.
 * - The checkpoint advances only after every run of the pass was replaced (or needed nothing), and
 *   no record the map condemned stayed (a batch whose codec cannot be encoded here is kept whole), by a
 *   write conditional on the checkpoint as read: a pass cut short, or beaten by another, leaves the
 *   dirty part dirty and the next pass cleans it again. A tombstone's time counts from the
 *   checkpoint that first passed it, so it is kept at least delete.retention.ms, never less.
 */
import { createHash } from 'node:crypto';
import pMap from 'p-map';
import { batchesIn, compressionReady, decodeRecordBatch, readBatchHeader, retainRecords, type DecodedRecord } from '../../format/index.js';
import { ConditionFailedError } from '../../storage/ports.js';
import { cleanerKey, rowKey } from '../../keys.js';
import { effectiveRows, type BatchRow, type PartitionState, type TopicItem } from '../layout.js';
import { cleanupPolicy } from '../topic-config.js';
import type { BatchPlacement } from '../segment-index.js';
import { checkpoint, rowPages, unchanged, type MaintenanceContext, type MaintenanceResult } from './context.js';
import { abortedTransactionsFrom, skippedBatches } from '../reader.js';
import { replaceRun, storeSegment } from './compaction.js';

/** A compacted partition's cleaner state (the checkpoint item). */
export interface CleanerCheckpoint {
  /** The first dirty offset: below it, every segment was cleaned against every key below it. */
  readonly through: number;
  /** [offset, ms]: the cleaner had reached `offset` (exclusive) by `ms`; offsets increasing. */
  readonly reached: readonly (readonly [number, number])[];
}

/** At most this many `reached` points are kept (about 20 bytes each: the item stays far below 400 KB). */
const maxReachedPoints = 2000;
/** Segment reads in flight. */
const parallelReads = 4;

/**
 * When the cleaner first reached `offset`; undefined if it has not. Pure.
 */
export function reachedAt(checkpoint: CleanerCheckpoint, offset: number): number | undefined {
  return checkpoint.reached.find(([through]) => offset < through)?.[1];
}

/**
 * The checkpoint after a pass cleaned up to `through` at `nowMs`: of the points whose tombstones are
 * all due (older than `deleteRetentionMs`), only the last is kept (it says as much for every offset
 * below it); past `maxReachedPoints` the oldest of the others go (a tombstone there then counts from a
 * later point: kept longer, never less). Pure.
 */
export function advanceCheckpoint(
  previous: CleanerCheckpoint,
  through: number,
  nowMs: number,
  deleteRetentionMs: number,
): CleanerCheckpoint {
  const points = [...previous.reached, [through, nowMs] as const];
  const due = points.filter(([, ms]) => ms + deleteRetentionMs <= nowMs);
  const pending = points.filter(([, ms]) => ms + deleteRetentionMs > nowMs);
  const kept = [...due.slice(-1), ...pending.slice(Math.max(0, pending.length - (maxReachedPoints - 1)))];
  return { through, reached: kept };
}

/** The dirty part of a partition's cleanable range, and what a pass is due for. Pure. */
export function cleaningDue(
  rows: readonly BatchRow[],
  checkpoint: CleanerCheckpoint,
  config: Pick<TopicItem['config'], 'min.cleanable.dirty.ratio' | 'max.compaction.lag.ms'>,
  nowMs: number,
  nextOffset: number,
): boolean {
  const dirty = rows.filter((row) => row.baseOffset + row.recordCount > checkpoint.through);
  const totalBytes = rows.reduce((sum, row) => sum + row.sizeBytes, 0);
  const dirtyBytes = dirty.reduce((sum, row) => sum + row.sizeBytes, 0);
  if (dirty.length > 0 && dirtyBytes / Math.max(1, totalBytes) > config['min.cleanable.dirty.ratio']) return true;
  if (dirty.some((row) => (row.firstCommittedMs ?? row.committedMs) <= nowMs - config['max.compaction.lag.ms'])) return true;
  // The segment holding the newest record waits, as Kafka's active segment: that record may not go, and an idle partition costs no read.
  return rows.some(
    (row) => row.tombstonesDueMs !== undefined && row.tombstonesDueMs <= nowMs && row.baseOffset + row.recordCount < nextOffset,
  );
}

/**
 * The cleanable rows from the log start, in offset order (see the module comment); shadows are left
 * out. Holds the partition's segment rows (not flush rows): a few hundred bytes each.
 */
async function cleanableRows(ctx: MaintenanceContext, topic: TopicItem, partition: number, state: PartitionState): Promise<BatchRow[]> {
  const horizonMs = ctx.now() - topic.config['min.compaction.lag.ms'];
  const rows: BatchRow[] = [];
  let covered = -1;
  let expected = state.logStartOffset;
  for await (const page of rowPages(ctx, topic, partition)) {
    checkpoint(ctx);
    const effective = effectiveRows(page, covered);
    covered = effective.covered;
    for (const row of effective.live) {
      const end = row.baseOffset + row.recordCount;
      if (end <= state.logStartOffset) continue;
      const stop =
        row.indexKey === undefined || // a flush row: merged into a segment first
        end > state.nextOffset || // merged by another maintainer since `state` was read: its newest record is not the one protected
        end > state.lastStableOffset || // an open transaction's records are not decided yet (Kafka never cleans past the LSO)
        row.baseOffset !== expected || // a gap (rows merged between two page reads) or an overlap (a replacement half done): next pass
        row.maxTimestampMs < 0 ||
        (topic.config['min.compaction.lag.ms'] > 0 && row.maxTimestampMs > horizonMs);
      if (stop) return rows;
      rows.push(row);
      expected = end;
    }
  }
  return rows;
}

/** 16 bytes, as Kafka's offset map keeps an MD5 of each key: a Map entry of ~100 bytes, whatever the key's size. */
function keyDigest(key: Buffer): string {
  return createHash('md5').update(key).digest().toString('latin1');
}

async function segmentBatches(ctx: MaintenanceContext, row: BatchRow): Promise<Buffer[]> {
  if (row.sizeBytes === 0) return [];
  const body = await ctx.objects.get(row.objectKey, { offset: row.position, length: row.sizeBytes });
  return [...batchesIn(body)].map(({ header, pos }) => body.subarray(pos, pos + header.sizeBytes));
}

/**
 * Cleans one partition of a compacted topic, if it is due. Run after compaction (which turns flush
 * rows into segments) and retention.
 */
export async function cleanPartition(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  state: PartitionState,
  result: MaintenanceResult,
): Promise<void> {
  if (!cleanupPolicy(topic.config).compact) return;
  await compressionReady(); // every codec encodes once its encoder has loaded (zstd's WASM, on Node before 22.15)
  const stored = await ctx.metadata.get(cleanerKey(topic.id, partition));
  const previous: CleanerCheckpoint = stored
    ? { through: stored.attrs.through as number, reached: stored.attrs.reached as [number, number][] }
    : { through: 0, reached: [] };
  const rows = await cleanableRows(ctx, topic, partition, state);
  const nowMs = ctx.now();
  if (rows.length === 0 || !cleaningDue(rows, previous, topic.config, nowMs, state.nextOffset)) return;

  // The map: the dirty rows, oldest first, as many as fit. Transaction markers and aborted
  // transactions' records are not a key's latest record (a read_committed reader never sees them).
  const latest = new Map<string, number>();
  let through = previous.through;
  const skipped = skippedBatches(await abortedTransactionsFrom(ctx.metadata, topic.id, partition, previous.through));
  for (const row of rows) {
    const end = row.baseOffset + row.recordCount;
    if (end <= previous.through) continue;
    if (latest.size >= ctx.cleanerMapKeys) break;
    checkpoint(ctx);
    for (const batch of await segmentBatches(ctx, row)) {
      const { header, records } = decodeRecordBatch(batch);
      if (skipped(header, records)) continue;
      for (const record of records) if (record.key !== null) latest.set(keyDigest(record.key), record.offset);
    }
    through = end;
  }

  const deleteRetentionMs = topic.config['delete.retention.ms'];
  const newestOffset = state.nextOffset - 1;
  const judge: Judge = {
    keep: (record) => {
      if (record.offset === newestOffset) return true;
      if (record.key === null) return false;
      const newest = latest.get(keyDigest(record.key));
      if (newest !== undefined && newest > record.offset) return false;
      if (record.value !== null) return true;
      const reached = reachedAt(previous, record.offset); // a tombstone stays the first time it is reached, as in Kafka
      return reached === undefined || reached + deleteRetentionMs > nowMs;
    },
    // When a tombstone kept may go: delete.retention.ms after the cleaner reached it (this pass, if it had not).
    dueMs: (record) => (record.value !== null ? undefined : (reachedAt(previous, record.offset) ?? nowMs) + deleteRetentionMs),
  };

  let complete = true;
  for (const run of cleaningRuns(rows, previous.through, through, ctx.compactionTargetBytes)) {
    checkpoint(ctx);
    if (!(await cleanRun(ctx, topic, partition, run, judge, result))) complete = false;
  }
  if (!complete || through === previous.through) return;
  const next = advanceCheckpoint(previous, through, nowMs, deleteRetentionMs);
  try {
    await ctx.metadata.write({
      kind: 'put',
      key: cleanerKey(topic.id, partition),
      attrs: { through: next.through, reached: next.reached.map(([offset, ms]) => [offset, ms]) },
      condition: stored ? { kind: 'match', fields: { through: previous.through } } : { kind: 'absent' },
    });
    result.partitions_cleaned++;
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error; // another cleaner moved it: the next pass looks again
  }
}

/**
 * The runs a pass rewrites: consecutive rows below `through`, clean ones (below `cleanThrough`) and
 * dirty ones apart (a clean run that loses nothing is not rewritten for a dirty row beside it), each
 * at most `targetBytes` as stored (a row larger than that is a run of its own). Pure.
 */
export function cleaningRuns(rows: readonly BatchRow[], cleanThrough: number, through: number, targetBytes: number): BatchRow[][] {
  const runs: BatchRow[][] = [];
  let run: BatchRow[] = [];
  let bytes = 0;
  for (const row of rows) {
    const end = row.baseOffset + row.recordCount;
    if (end > through) break;
    const dirty = end > cleanThrough;
    const last = run.at(-1);
    if (last !== undefined && (last.baseOffset + last.recordCount > cleanThrough !== dirty || bytes + row.sizeBytes > targetBytes)) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(row);
    bytes += row.sizeBytes;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** What the cleaner decides of each record: keep it, and if it is a tombstone kept, when it may go. */
interface Judge {
  keep(record: DecodedRecord): boolean;
  dueMs(record: DecodedRecord): number | undefined;
}

const earliest = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

/**
 * Rewrites one run with the records `judge` keeps, as one segment in place of its rows. A run that
 * loses nothing is left as it is; its rows only learn when their tombstones are due (a small write
 * each, only where that changed). False if the run is not cleaned: a racing writer changed a row
 * first (counted as a conflict), or a record to remove stayed (its batch's codec cannot be encoded).
 */
async function cleanRun(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  run: readonly BatchRow[],
  judge: Judge,
  result: MaintenanceResult,
): Promise<boolean> {
  const startedMs = ctx.now();
  const segments = await pMap(run, (row) => segmentBatches(ctx, row), { concurrency: parallelReads });
  const batches: Buffer[] = [];
  const placements: BatchPlacement[] = [];
  const dueByRow: (number | undefined)[] = [];
  let position = 0;
  let removed = 0;
  let refusedButKept = 0;
  let maxTimestampMs = -1;
  for (const segment of segments) {
    let dueMs: number | undefined;
    for (const batch of segment) {
      // A transaction marker stays whole: read_committed readers need it (and the aborted-transaction entries) to skip what it ends.
      const retained = readBatchHeader(batch, 0).isControl
        ? { bytes: batch, removed: 0, refusedButKept: 0 }
        : retainRecords(batch, (record) => judge.keep(record));
      removed += retained.removed;
      refusedButKept += retained.refusedButKept;
      if (retained.bytes === null) continue;
      for (const record of decodeRecordBatch(retained.bytes).records) dueMs = earliest(dueMs, judge.dueMs(record));
      const header = readBatchHeader(retained.bytes, 0);
      maxTimestampMs = Math.max(maxTimestampMs, header.maxTimestampMs);
      placements.push({ baseOffset: header.baseOffset, position, maxTimestampMs: header.maxTimestampMs });
      batches.push(retained.bytes);
      position += retained.bytes.length;
    }
    dueByRow.push(dueMs);
  }
  if (removed === 0) return (await learnTombstones(ctx, topic, partition, run, dueByRow, result)) && refusedButKept === 0;

  const dueMs = dueByRow.reduce(earliest, undefined);
  const cleaned = await storeSegment(
    ctx,
    topic,
    partition,
    run,
    batches,
    placements,
    {
      // A run whose every record went keeps its rows' time, for retention (compact,delete) to judge it by.
      maxTimestampMs: placements.length > 0 ? maxTimestampMs : Math.max(...run.map((row) => row.maxTimestampMs)),
      recordTimes: run.every((row) => row.recordTimes === true),
      ...(dueMs === undefined ? {} : { tombstonesDueMs: dueMs }),
    },
    result,
  );
  if (ctx.now() - startedMs > ctx.maxCommitAgeMs) return false; // too late to commit safely: the objects are orphans now
  if (!(await replaceRun(ctx, topic, partition, run, cleaned, result))) {
    result.cleaner_conflicts++;
    return false;
  }
  result.segments_cleaned++;
  result.records_cleaned += removed;
  return refusedButKept === 0;
}

/** Records on each row of a run the cleaner left as it was when its tombstones are due, where that changed. */
async function learnTombstones(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  run: readonly BatchRow[],
  dueByRow: readonly (number | undefined)[],
  result: MaintenanceResult,
): Promise<boolean> {
  let unchangedRows = true;
  for (const [i, row] of run.entries()) {
    const dueMs = dueByRow[i];
    if (row.tombstonesDueMs === dueMs) continue;
    try {
      await ctx.metadata.write({
        kind: 'update',
        key: rowKey(topic.id, partition, row.baseOffset),
        set: dueMs === undefined ? {} : { tombstonesDueMs: dueMs },
        ...(dueMs === undefined ? { remove: ['tombstonesDueMs'] } : {}),
        condition: unchanged(row),
      });
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
      result.cleaner_conflicts++;
      unchangedRows = false;
    }
  }
  return unchangedRows;
}
