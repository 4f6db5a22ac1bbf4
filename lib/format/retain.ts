/**
 * A stored batch with only some of its records, as Kafka's log cleaner rewrites one
 * (MemoryRecords.filterTo): the same base offset and last offset (so a consumer still moves past the
 * whole batch, and producer sequence ranges stay as they were), the same producer id, epoch, base
 * sequence, transactional flag, partition leader epoch, timestamp type and codec; each kept record
 * keeps its offset and timestamp, and maxTimestamp is that of the records kept. Offsets inside the
 * rebuilt batch have gaps where records were removed, as in a compacted Kafka log. Pure.
 */
import { isCompressionSupported, type Compression } from './compression.js';
import { decodeRecordBatch, encodeLike, type DecodedRecord } from './record-batch.js';

export interface RetainedBatch {
  /** The batch to store: the input itself when every record is kept, null when none is. */
  readonly bytes: Buffer | null;
  readonly removed: number;
  /**
   * Records `keep` refused that are still in `bytes`: all of them when the batch's codec cannot be
   * encoded here (zstd before its encoder has loaded) and the batch is kept whole. A cleaner must not
   * count such a batch as cleaned.
   */
  readonly refusedButKept: number;
}

/** Keeps the records of the batch at the start of `batch` that `keep` accepts. */
export function retainRecords(
  batch: Buffer,
  keep: (record: DecodedRecord) => boolean,
  canEncode: (compression: Compression) => boolean = isCompressionSupported,
): RetainedBatch {
  const { header, records } = decodeRecordBatch(batch);
  const kept = records.filter(keep);
  if (kept.length === records.length) return { bytes: batch, removed: 0, refusedButKept: 0 };
  if (kept.length === 0) return { bytes: null, removed: records.length, refusedButKept: 0 };
  if (!canEncode(header.compression)) return { bytes: batch, removed: 0, refusedButKept: records.length - kept.length };
  const rebuilt = encodeLike(
    header,
    kept.map((record) => ({
      key: record.key,
      value: record.value,
      headers: record.headers,
      timestampMs: record.timestampMs,
      offsetDelta: record.offset - header.baseOffset,
    })),
    { baseOffset: header.baseOffset, lastOffsetDelta: header.lastOffsetDelta },
  );
  return { bytes: rebuilt, removed: records.length - kept.length, refusedButKept: 0 };
}
