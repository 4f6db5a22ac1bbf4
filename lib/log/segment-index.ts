/**
 * Index objects of a per-partition segment, as Kafka's `.index` and `.timeindex`, rebuilt as
 * immutable objects beside the segment. Pure. Offsets are relative to the segment's base offset.
 *
 * Offset index (`.index`): entries of 8 bytes, ascending.
 *   relativeOffset  int32 BE   base offset of a batch, minus the segment's base offset
 *   position        int32 BE   byte position of that batch in the segment object
 * One entry per `intervalBytes` of log (Kafka's index.interval.bytes, 4096), and always the first
 * batch, so a reader can GET from the nearest batch at or below any offset.
 *
 * Time index (`.timeindex`): entries of 12 bytes, timestamps strictly ascending.
 *   timestampMs     int64 BE   the largest record timestamp seen up to and including this batch
 *   relativeOffset  int32 BE   base offset of the batch where that maximum was first reached
 * The first record at or after time T is in the batch of the first entry whose timestamp is ≥ T:
 * every batch before it holds only records older than T.
 */
import { SpoolError } from '../errors.js';

export const offsetEntryBytes = 8;
export const timeEntryBytes = 12;
export const defaultIndexIntervalBytes = 4096;

export interface BatchPlacement {
  readonly baseOffset: number;
  readonly position: number;
  readonly maxTimestampMs: number;
}

/** Builds both indexes from the batches of a segment, in order. */
export function buildIndexes(
  segmentBaseOffset: number,
  batches: readonly BatchPlacement[],
  intervalBytes = defaultIndexIntervalBytes,
): { offsetIndex: Buffer; timeIndex: Buffer } {
  const offsets: Buffer[] = [];
  const times: Buffer[] = [];
  let lastIndexedPosition = -Infinity;
  let maxTimestamp = -Infinity;
  for (const batch of batches) {
    const relative = batch.baseOffset - segmentBaseOffset;
    if (relative < 0 || relative > 0x7fffffff)
      throw new SpoolError('INTERNAL', `batch offset ${batch.baseOffset} does not fit the segment at ${segmentBaseOffset}`);
    if (batch.position - lastIndexedPosition >= intervalBytes) {
      const entry = Buffer.alloc(offsetEntryBytes);
      entry.writeInt32BE(relative, 0);
      entry.writeInt32BE(batch.position, 4);
      offsets.push(entry);
      lastIndexedPosition = batch.position;
    }
    if (batch.maxTimestampMs > maxTimestamp) {
      maxTimestamp = batch.maxTimestampMs;
      const entry = Buffer.alloc(timeEntryBytes);
      entry.writeBigInt64BE(BigInt(batch.maxTimestampMs), 0);
      entry.writeInt32BE(relative, 8);
      times.push(entry);
    }
  }
  return { offsetIndex: Buffer.concat(offsets), timeIndex: Buffer.concat(times) };
}

/** Byte position of the last indexed batch starting at or below `relativeOffset` (0 when none is). */
export function positionFor(offsetIndex: Buffer, relativeOffset: number): number {
  checkLength(offsetIndex, offsetEntryBytes, 'offset index');
  let low = 0;
  let high = offsetIndex.length / offsetEntryBytes - 1;
  let found = 0;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (offsetIndex.readInt32BE(middle * offsetEntryBytes) <= relativeOffset) {
      found = offsetIndex.readInt32BE(middle * offsetEntryBytes + 4);
      low = middle + 1;
    } else high = middle - 1;
  }
  return found;
}

/** Relative base offset of the batch holding the first record at or after `timestampMs`; undefined when none. */
export function offsetForTime(timeIndex: Buffer, timestampMs: number): number | undefined {
  checkLength(timeIndex, timeEntryBytes, 'time index');
  let low = 0;
  let high = timeIndex.length / timeEntryBytes - 1;
  let found: number | undefined;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (Number(timeIndex.readBigInt64BE(middle * timeEntryBytes)) >= timestampMs) {
      found = timeIndex.readInt32BE(middle * timeEntryBytes + 8);
      high = middle - 1;
    } else low = middle + 1;
  }
  return found;
}

function checkLength(index: Buffer, entryBytes: number, what: string): void {
  if (index.length % entryBytes !== 0)
    throw new SpoolError('CORRUPT_RECORD', `${what} must be a whole number of ${entryBytes}-byte entries, got ${index.length} bytes`);
}
