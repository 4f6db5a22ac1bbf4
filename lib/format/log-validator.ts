/**
 * What the broker checks and rewrites in a record batch a client produces, as Apache Kafka does on
 * append (UnifiedLog.analyzeAndValidateRecords, then LogValidator). Pure: a batch and the topic's
 * settings in, the batch to store out.
 *
 * A client's header is never trusted: every record is read (decompressed first when the batch is
 * compressed) and the header's timestamp fields are set from the records. Bytes change only where a
 * field must: the timestamp type and maxTimestamp, with the CRC (a header rewrite, as Kafka's
 * setMaxTimestamp), or, for a compressed batch whose inner offsets are not 0, 1, 2, …, the whole
 * batch re-encoded with its own codec (as Kafka). A batch that needs nothing is stored as it came.
 *
 * `appendRules` lists the checks in the order they run, each with what Kafka does and the error a
 * client gets; `normalisations` lists the rewrites. Where Spool differs from Kafka, the entry says
 * so and why. Structural damage (truncation, a record that does not fill its length, a bad varint,
 * a payload that does not decompress) is CORRUPT_RECORD from the decoder before any rule runs.
 *
 * Kafka reads a compressed batch a record at a time; here its records are inflated whole, so a batch
 * that inflates beyond `maxDecompressedBytes` is refused (RECORD_TOO_LARGE) before it can take the
 * agent's memory: a compression bomb, not a batch any producer makes.
 */
import { SpoolError, type ErrorCode } from '../errors.js';
import {
  NO_TIMESTAMP,
  decodeRecordBatch,
  encodeLike,
  readBatchHeader,
  scanRecords,
  setMaxTimestamp,
  type BatchHeader,
} from './record-batch.js';
import { crc32c } from './crc32c.js';

/** The topic's settings that validation applies (Kafka's names in comments). */
export interface AppendSettings {
  /** message.timestamp.type */
  readonly timestampType: 'CreateTime' | 'LogAppendTime';
  /** message.timestamp.before.max.ms */
  readonly timestampBeforeMaxMs: number;
  /** message.timestamp.after.max.ms */
  readonly timestampAfterMaxMs: number;
  /** max.message.bytes */
  readonly maxBatchBytes: number;
  /** The time of append. */
  readonly nowMs: number;
  /** Refuse a compressed batch that inflates beyond this (RECORD_TOO_LARGE). @default `defaultMaxInflatedBytes` */
  readonly maxDecompressedBytes?: number;
  /** cleanup.policy includes compact: every record needs a key. @default false */
  readonly keysRequired?: boolean;
}

export interface ValidatedBatch {
  /** The batch as it is to be stored: the input itself when nothing changed, else a rewritten copy. */
  readonly bytes: Buffer;
  /** The header of `bytes`. */
  readonly header: BatchHeader;
  /** What was rewritten. */
  readonly rewrite: 'none' | 'header' | 'rebuilt';
  /** The time of append when the batch is stored as log-append time, else -1 (as Kafka's Produce answer). */
  readonly logAppendTimeMs: number;
}

/** One record's facts, as a record rule sees them. */
export interface RecordFacts {
  readonly index: number;
  readonly offsetDelta: number;
  /** The record's timestamp as the client wrote it (the batch's maxTimestamp in a log-append batch). */
  readonly timestampMs: number;
  readonly hasKey: boolean;
}

interface RuleBase {
  readonly id: string;
  /** The error a failing batch gets (Kafka's code in brackets in `kafka`). */
  readonly error: ErrorCode;
  /** What Apache Kafka does, and where. */
  readonly kafka: string;
  /** Where Spool differs from Kafka, and why. */
  readonly spool?: string;
}

export type AppendRule =
  | (RuleBase & { readonly level: 'batch'; check(bytes: Buffer, header: BatchHeader, settings: AppendSettings): string | undefined })
  | (RuleBase & {
      readonly level: 'record';
      check(record: RecordFacts, header: BatchHeader, settings: AppendSettings): string | undefined;
    });

/** The checks, in the order they run. Batch rules stop at the first failure; record rules report every failing record. */
export const appendRules: readonly AppendRule[] = [
  {
    id: 'crc',
    level: 'batch',
    error: 'CORRUPT_RECORD',
    kafka: 'UnifiedLog.analyzeAndValidateRecords: batch.isValid, CRC-32C of attributes..end [CORRUPT_MESSAGE]',
    spool:
      'checked first, so a damaged header (a batchLength cut short, say) is reported as damage rather than as whatever it now resembles',
    check: (bytes, header) => {
      const computed = crc32c(bytes, 21, header.sizeBytes);
      return computed === header.crc
        ? undefined
        : `the record batch fails its CRC-32C check: the header says ${hex32(header.crc)}, the bytes give ${hex32(computed)}`;
    },
  },
  {
    id: 'one-batch',
    level: 'batch',
    error: 'INVALID_RECORD',
    kafka: 'ProduceRequest.validateRecords (v3+) and LogValidator: exactly one batch per partition per request [INVALID_RECORD]',
    check: (bytes, header) =>
      header.sizeBytes === bytes.length
        ? undefined
        : `expected exactly one record batch per partition, got ${bytes.length - header.sizeBytes} bytes after the first batch`,
  },
  {
    id: 'base-offset-zero',
    level: 'batch',
    error: 'INVALID_RECORD',
    kafka: 'UnifiedLog.analyzeAndValidateRecords: a client batch has baseOffset 0 [INVALID_RECORD]',
    check: (_bytes, header) =>
      header.baseOffset === 0 ? undefined : `the baseOffset of a produced record batch must be 0, got ${header.baseOffset}`,
  },
  {
    id: 'max-message-bytes',
    level: 'batch',
    error: 'RECORD_TOO_LARGE',
    kafka: 'UnifiedLog.analyzeAndValidateRecords: batch size <= max.message.bytes [MESSAGE_TOO_LARGE]',
    check: (_bytes, header, settings) =>
      header.sizeBytes <= settings.maxBatchBytes
        ? undefined
        : `the record batch is ${header.sizeBytes} bytes, over max.message.bytes ${settings.maxBatchBytes}`,
  },
  {
    id: 'offset-range',
    level: 'batch',
    error: 'INVALID_RECORD',
    kafka: 'LogValidator.validateBatch: lastOffset - baseOffset + 1 > 0 [INVALID_RECORD]',
    check: (_bytes, header) =>
      header.lastOffsetDelta >= 0 ? undefined : `the batch has an invalid offset range: lastOffsetDelta ${header.lastOffsetDelta}`,
  },
  {
    id: 'record-count',
    level: 'batch',
    error: 'INVALID_RECORD',
    kafka: 'LogValidator.validateBatch: recordCount > 0 [INVALID_RECORD]',
    check: (_bytes, header) =>
      header.recordCount > 0 ? undefined : `a record batch must hold at least one record, got ${header.recordCount}`,
  },
  {
    id: 'count-matches-offsets',
    level: 'batch',
    error: 'INVALID_RECORD',
    kafka: 'LogValidator.validateBatch: recordCount = lastOffsetDelta + 1 [INVALID_RECORD]',
    check: (_bytes, header) =>
      header.recordCount === header.lastOffsetDelta + 1
        ? undefined
        : `inconsistent batch: lastOffsetDelta ${header.lastOffsetDelta} spans ${header.lastOffsetDelta + 1} offsets but recordCount is ${header.recordCount}`,
  },
  {
    id: 'no-control-batch',
    level: 'batch',
    error: 'INVALID_RECORD',
    kafka: 'LogValidator.validateBatch: clients may not write control batches [INVALID_RECORD]',
    check: (_bytes, header) => (header.isControl ? 'clients are not allowed to write control records' : undefined),
  },
  {
    id: 'sequence-with-producer-id',
    level: 'batch',
    error: 'INVALID_RECORD',
    kafka: 'LogValidator.validateBatch: a batch with a producerId has baseSequence >= 0 [INVALID_RECORD]',
    check: (_bytes, header) =>
      header.producerId < 0 || header.baseSequence >= 0
        ? undefined
        : `invalid sequence number ${header.baseSequence} in a record batch with producerId ${header.producerId}`,
  },
  {
    id: 'inner-offsets',
    level: 'record',
    error: 'INVALID_RECORD',
    kafka:
      'LogValidator: inner records of a compressed batch have offsetDelta 0, 1, 2, … or the batch is rebuilt (not checked uncompressed)',
    spool:
      'a compressed batch is rebuilt as in Kafka (normalisation dense-inner-offsets); an uncompressed one is refused, since Kafka would store offsets outside its batch',
    check: (record, header) =>
      record.offsetDelta === record.index || header.compression !== 'none'
        ? undefined
        : `record ${record.index} has offsetDelta ${record.offsetDelta}; expected ${record.index}`,
  },
  {
    id: 'key-on-compacted-topic',
    level: 'record',
    error: 'INVALID_RECORD',
    kafka: 'LogValidator.validateKey: a topic with cleanup.policy compact refuses a record without a key [INVALID_RECORD]',
    check: (record, _header, settings) =>
      settings.keysRequired === true && !record.hasKey
        ? `record ${record.index} has no key: a compacted topic (cleanup.policy=compact) keeps the latest record per key, so every record needs one`
        : undefined,
  },
  {
    id: 'no-log-append-time-from-producer',
    level: 'record',
    error: 'INVALID_TIMESTAMP',
    kafka:
      'LogValidator.validateTimestamp: a producer may not send a log-append-time batch to a LogAppendTime topic, nor one without timestamps [INVALID_TIMESTAMP]',
    check: (record, header, settings) =>
      header.timestampType === 'log-append' && (settings.timestampType === 'LogAppendTime' || record.timestampMs === NO_TIMESTAMP)
        ? `invalid timestamp type in record ${record.index}: a producer should not set the timestamp type to LogAppendTime`
        : undefined,
  },
  {
    id: 'timestamp-not-negative',
    level: 'record',
    error: 'INVALID_TIMESTAMP',
    kafka: 'none on the broker (the Java producer refuses negative timestamps itself)',
    spool: 'refused: a timestamp below -1 would expire at once and has no meaning; -1 means "none" (see normalisation no-timestamps)',
    check: (record) =>
      record.timestampMs >= NO_TIMESTAMP
        ? undefined
        : `record ${record.index} has timestamp ${record.timestampMs}; expected a time in ms since the epoch, or -1 for none`,
  },
  {
    id: 'timestamp-bounds',
    level: 'record',
    error: 'INVALID_TIMESTAMP',
    kafka:
      'LogValidator.validateTimestamp: with CreateTime, a record timestamp (other than -1) within [now - message.timestamp.before.max.ms, now + message.timestamp.after.max.ms] [INVALID_TIMESTAMP]',
    check: (record, _header, settings) => {
      if (settings.timestampType !== 'CreateTime' || record.timestampMs === NO_TIMESTAMP) return undefined;
      const { earliestMs, latestMs } = timestampWindow(settings);
      return record.timestampMs >= earliestMs && record.timestampMs <= latestMs
        ? undefined
        : `timestamp ${record.timestampMs} of record ${record.index} is out of range; it should be within [${earliestMs}, ${latestMs}]`;
    },
  },
];

/** The rewrites, in the order they apply; each leaves the batch as Kafka would store it. */
export const normalisations: readonly { readonly id: string; readonly kafka: string; readonly spool?: string }[] = [
  {
    id: 'dense-inner-offsets',
    kafka:
      'LogValidator.buildRecordsAndAssignOffsets: a compressed batch whose inner offsets are not 0, 1, 2, … is re-encoded with the same codec',
  },
  {
    id: 'create-time-max-timestamp',
    kafka: 'LogValidator: with CreateTime, maxTimestamp := the largest record timestamp and the type := CreateTime (setMaxTimestamp)',
  },
  {
    id: 'log-append-time',
    kafka: 'LogValidator: with LogAppendTime, the type := LogAppendTime and maxTimestamp := the time of append (setMaxTimestamp)',
  },
  {
    id: 'no-timestamps',
    kafka: 'stores maxTimestamp -1 when no record carries a timestamp; retention then uses the segment file modification time',
    spool:
      'the batch is stored as log-append time at the time of append, so every stored batch has a real maxTimestamp for retention and time lookups',
  },
  {
    id: 'partition-leader-epoch',
    kafka: 'LogValidator sets partitionLeaderEpoch to the leader epoch',
    spool: 'left as the producer sent it (-1): Spool serves no OffsetForLeaderEpoch, so consumers must not be given epochs to ask it about',
  },
];

/** How far a produced compressed batch may inflate: 256 MiB, 256 times the default max.message.bytes. */
export const defaultMaxInflatedBytes = 256 * 1024 * 1024;

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/** The range of CreateTime timestamps accepted at `nowMs` (bounds saturate instead of overflowing). */
export function timestampWindow(settings: Pick<AppendSettings, 'nowMs' | 'timestampBeforeMaxMs' | 'timestampAfterMaxMs'>): {
  earliestMs: number;
  latestMs: number;
} {
  return {
    earliestMs: Math.max(Number.MIN_SAFE_INTEGER, settings.nowMs - settings.timestampBeforeMaxMs),
    latestMs: Math.min(Number.MAX_SAFE_INTEGER, settings.nowMs + settings.timestampAfterMaxMs),
  };
}

const batchRules = appendRules.filter((rule): rule is Extract<AppendRule, { level: 'batch' }> => rule.level === 'batch');
const recordRules = appendRules.filter((rule): rule is Extract<AppendRule, { level: 'record' }> => rule.level === 'record');
/** Record errors kept in a refusal's details (a batch may hold millions of records). */
const maxRecordErrors = 100;

/**
 * Validates one produced batch against `appendRules` and returns it normalised. Throws the failing
 * rule's error: for record rules, with `record_errors` (batch_index, message) in the details, as
 * Kafka's Produce answer (v8+) carries them.
 */
export function validateAppend(bytes: Buffer, settings: AppendSettings): ValidatedBatch {
  if (bytes.length === 0) throw new SpoolError('CORRUPT_RECORD', 'expected one record batch, got 0 bytes');
  const header = readBatchHeader(bytes, 0);
  for (const rule of batchRules) {
    const problem = rule.check(bytes, header, settings);
    if (problem !== undefined) throw new SpoolError(rule.error, problem, { details: { rule: rule.id } });
  }

  const recordErrors: { batch_index: number; message: string; rule: string; error: ErrorCode }[] = [];
  let failures = 0;
  let maxTimestampMs = NO_TIMESTAMP;
  let dense = true;
  scanRecords(
    bytes,
    0,
    header,
    (index, offsetDelta, timestampMs, hasKey) => {
      if (offsetDelta !== index) dense = false;
      if (timestampMs > maxTimestampMs) maxTimestampMs = timestampMs;
      const facts = { index, offsetDelta, timestampMs, hasKey };
      for (const rule of recordRules) {
        const problem = rule.check(facts, header, settings);
        if (problem === undefined) continue;
        failures++;
        if (recordErrors.length < maxRecordErrors)
          recordErrors.push({ batch_index: index, message: problem, rule: rule.id, error: rule.error });
        break;
      }
    },
    { maxDecompressedBytes: settings.maxDecompressedBytes ?? defaultMaxInflatedBytes },
  );
  if (failures > 0) throw refusal(recordErrors, failures);

  let stored = bytes;
  let rewrite: ValidatedBatch['rewrite'] = 'none';
  if (!dense) {
    stored = rebuild(bytes, settings);
    rewrite = 'rebuilt';
  }
  const logAppend = settings.timestampType === 'LogAppendTime' || maxTimestampMs === NO_TIMESTAMP;
  const type = logAppend ? 'log-append' : 'create';
  const max = logAppend ? settings.nowMs : maxTimestampMs;
  const current = readBatchHeader(stored, 0);
  if (current.timestampType !== type || current.maxTimestampMs !== max) {
    if (stored === bytes) stored = Buffer.from(bytes);
    setMaxTimestamp(stored, 0, type, max);
    if (rewrite === 'none') rewrite = 'header';
  }
  return { bytes: stored, header: readBatchHeader(stored, 0), rewrite, logAppendTimeMs: logAppend ? settings.nowMs : -1 };
}

/**
 * For a batch stored before batches were normalised on append (a client's maxTimestamp -1 kept as
 * sent): sets its timestamp fields from its records, in place, as `validateAppend` would have; a
 * batch with no record timestamp becomes log-append time at `appendedMs`. True if it changed.
 * Batches stored since are left as they are.
 */
export function repairMaxTimestamp(buf: Buffer, pos: number, appendedMs: number): boolean {
  const header = readBatchHeader(buf, pos);
  if (header.maxTimestampMs >= 0) return false;
  let maxTimestampMs = NO_TIMESTAMP;
  if (header.timestampType === 'create') {
    scanRecords(buf, pos, header, (_index, _offsetDelta, timestampMs) => {
      if (timestampMs > maxTimestampMs) maxTimestampMs = timestampMs;
    });
  }
  return maxTimestampMs >= 0 ? setMaxTimestamp(buf, pos, 'create', maxTimestampMs) : setMaxTimestamp(buf, pos, 'log-append', appendedMs);
}

/** `repairMaxTimestamp` over every batch of a chunk (batches back to back), in place; the largest maxTimestamp after it. */
export function repairChunkTimestamps(chunk: Buffer, appendedMs: number): number {
  let maxTimestampMs = NO_TIMESTAMP;
  for (let pos = 0; pos < chunk.length; ) {
    repairMaxTimestamp(chunk, pos, appendedMs);
    const header = readBatchHeader(chunk, pos);
    if (header.maxTimestampMs > maxTimestampMs) maxTimestampMs = header.maxTimestampMs;
    pos += header.sizeBytes;
  }
  return maxTimestampMs;
}

/** A compressed batch with inner offsets other than 0, 1, 2, …: its records re-encoded, in order, with dense offsets and the same codec and producer fields. */
function rebuild(bytes: Buffer, settings: AppendSettings): Buffer {
  const { header, records } = decodeRecordBatch(bytes, 0, {
    maxDecompressedBytes: settings.maxDecompressedBytes ?? defaultMaxInflatedBytes,
  });
  return encodeLike(
    header,
    records.map((record) => ({ key: record.key, value: record.value, headers: record.headers, timestampMs: record.timestampMs })),
  );
}

/** The error for failing records: INVALID_TIMESTAMP if any failed on a timestamp (as Kafka's processRecordErrors), else INVALID_RECORD. */
function refusal(recordErrors: { batch_index: number; message: string; rule: string; error: ErrorCode }[], failures: number): SpoolError {
  const timestamp = recordErrors.some((error) => error.error === 'INVALID_TIMESTAMP');
  const first = recordErrors[0]!;
  const more = failures > 1 ? ` (and ${failures - 1} more record${failures > 2 ? 's' : ''})` : '';
  return new SpoolError(timestamp ? 'INVALID_TIMESTAMP' : 'INVALID_RECORD', `${first.message}${more}`, {
    details: {
      rule: first.rule,
      record_errors: recordErrors.map(({ batch_index, message }) => ({ batch_index, message })),
    },
  });
}
