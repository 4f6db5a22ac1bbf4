/**
 * Kafka RecordBatch v2 (magic 2): the unit Spool stores, serves and checksums. Spool keeps batches
 * exactly as producers sent them and only rewrites `baseOffset` (which the CRC does not cover) when
 * it assigns offsets or serves a fetch, so Kafka clients get bytes back with no re-encoding.
 *
 * Batch layout (big-endian; byte offsets from the start of the batch):
 *
 * | at | field                | type   | meaning                                                        |
 * |----|----------------------|--------|----------------------------------------------------------------|
 * |  0 | baseOffset           | int64  | offset of the first record; patched on append and on fetch     |
 * |  8 | batchLength          | int32  | bytes after this field: the batch is `12 + batchLength` bytes   |
 * | 12 | partitionLeaderEpoch | int32  | leader epoch when appended; -1 from producers                  |
 * | 16 | magic                | int8   | format version, always 2 here                                  |
 * | 17 | crc                  | uint32 | CRC-32C of bytes 21 (attributes) to the end of the batch       |
 * | 21 | attributes           | int16  | bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd), |
 * |    |                      |        | bit 3 timestampType (0 create, 1 log-append), bit 4            |
 * |    |                      |        | isTransactional, bit 5 isControl; the rest unused              |
 * | 23 | lastOffsetDelta      | int32  | offsetDelta of the last record (recordCount - 1 from clients)  |
 * | 27 | baseTimestamp        | int64  | timestamp of the first record, ms                              |
 * | 35 | maxTimestamp         | int64  | largest record timestamp (the append time for log-append)      |
 * | 43 | producerId           | int64  | idempotent/transactional producer id, -1 if none               |
 * | 51 | producerEpoch        | int16  | producer epoch, -1 if none                                     |
 * | 53 | baseSequence         | int32  | sequence number of the first record, -1 if none                |
 * | 57 | recordCount          | int32  | number of records                                              |
 * | 61 | records              | bytes  | the records, compressed as one block if compression != none   |
 *
 * Record layout (inside `records`, after decompression):
 *
 * | field             | type    | meaning                                                       |
 * |-------------------|---------|---------------------------------------------------------------|
 * | length            | varint  | bytes of the rest of this record                              |
 * | attributes        | int8    | unused, 0                                                     |
 * | timestampDelta    | varlong | timestamp - baseTimestamp (may be negative)                   |
 * | offsetDelta       | varint  | offset - baseOffset                                           |
 * | keyLength         | varint  | -1 for a null key                                             |
 * | key               | bytes   |                                                               |
 * | valueLength       | varint  | -1 for a null value (a tombstone)                             |
 * | value             | bytes   |                                                               |
 * | headersCount      | varint  |                                                               |
 * | headers           | ...     | per header: keyLength varint (>= 0), key UTF-8, valueLength    |
 * |                   |         | varint (-1 for null), value bytes                             |
 *
 * Invariants enforced here: every decode checks magic, CRC, that each record fills exactly its
 * declared length, that the batch holds exactly `recordCount` records and nothing after them, and
 * that no field reads past the batch. Anything else is CORRUPT_RECORD with a message naming the
 * problem; nothing in this module throws a bare RangeError on hostile input. Offsets and timestamps
 * are JS numbers (they fit in 2^53); an int64 field outside that range is treated as corrupt.
 *
 * Conventions copied from the Java producer: baseTimestamp is the first record's timestamp (so
 * later deltas may be negative), records without a timestamp get `nowMs`, and a non-idempotent
 * batch has producerId/producerEpoch/baseSequence -1 and partitionLeaderEpoch -1. In a log-append
 * time batch every record's timestamp is the batch's maxTimestamp, as in Java's DefaultRecordBatch.
 */
import { SpoolError, describeValue } from '../errors.js';
import { ByteReader, ByteWriter, readInt64, writeInt64 } from './bytes.js';
import {
  type Compression,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  assertCompressionSupported,
  compress,
  compressionFromId,
  compressionIds,
  decompress,
} from './compression.js';
import { crc32c } from './crc32c.js';
import { readVarint, readVarlong, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint.js';

export type { Compression } from './compression.js';

// ---------- layout ----------

const BASE_OFFSET_AT = 0;
const BATCH_LENGTH_AT = 8;
const PARTITION_LEADER_EPOCH_AT = 12;
const MAGIC_AT = 16;
const CRC_AT = 17;
const ATTRIBUTES_AT = 21;
const LAST_OFFSET_DELTA_AT = 23;
const BASE_TIMESTAMP_AT = 27;
const MAX_TIMESTAMP_AT = 35;
const PRODUCER_ID_AT = 43;
const PRODUCER_EPOCH_AT = 51;
const BASE_SEQUENCE_AT = 53;
const RECORD_COUNT_AT = 57;

/** Bytes before the records: the fixed header. */
export const BATCH_HEADER_BYTES = 61;
/** baseOffset + batchLength: the bytes not counted by batchLength. */
export const LOG_OVERHEAD_BYTES = 12;
export const MAGIC_V2 = 2;
/** A record or batch that carries no timestamp (Kafka's RecordBatch.NO_TIMESTAMP). */
export const NO_TIMESTAMP = -1;

const COMPRESSION_MASK = 0x07;
const TIMESTAMP_TYPE_FLAG = 0x08;
const TRANSACTIONAL_FLAG = 0x10;
const CONTROL_FLAG = 0x20;

/** Smallest record: length, attributes, timestampDelta, offsetDelta, keyLength, valueLength, headersCount. */
const MIN_RECORD_BYTES = 7;

// ---------- public types ----------

export interface RecordHeader {
  readonly key: string;
  readonly value: Buffer | null;
}

export interface RecordInput {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: readonly RecordHeader[];
  /** Create time, ms since the epoch. @default options.nowMs */
  readonly timestampMs?: number;
  /**
   * The record's offset less the batch's base offset. @default its index (0, 1, 2, …, as producers
   * write them). Only a cleaned batch (retainRecords) has gaps: increasing, not dense.
   */
  readonly offsetDelta?: number;
}

export interface EncodeBatchOptions {
  /** @default 0 (producers send 0; the log assigns the real offset with `patchBaseOffset`) */
  readonly baseOffset?: number;
  /** @default 'none' */
  readonly compression?: Compression;
  /** @default -1 (not idempotent) */
  readonly producerId?: number;
  /** @default -1 */
  readonly producerEpoch?: number;
  /** @default -1 */
  readonly baseSequence?: number;
  /** @default false */
  readonly isTransactional?: boolean;
  /** A control batch (transaction markers: `encodeTxnMarker`). @default false */
  readonly isControl?: boolean;
  /** @default -1 */
  readonly partitionLeaderEpoch?: number;
  /** Timestamp for records that carry none. @default Date.now() at the call */
  readonly nowMs?: number;
  /** `log-append`: the batch says its records carry the time of append (its maxTimestamp). @default 'create' */
  readonly timestampType?: 'create' | 'log-append';
  /** Accept records whose timestampMs is -1 (Kafka's NO_TIMESTAMP), as a rebuilt client batch may hold. @default false */
  readonly allowNoTimestamp?: boolean;
  /** The batch's last offset less its base, at least the last record's offsetDelta. @default the last record's offsetDelta */
  readonly lastOffsetDelta?: number;
}

export interface BatchHeader {
  readonly baseOffset: number;
  /** As in the field: bytes after baseOffset and batchLength. */
  readonly batchLength: number;
  /** Whole batch: `12 + batchLength`. */
  readonly sizeBytes: number;
  readonly partitionLeaderEpoch: number;
  readonly magic: number;
  readonly crc: number;
  readonly attributes: number;
  readonly compression: Compression;
  readonly timestampType: 'create' | 'log-append';
  readonly isTransactional: boolean;
  readonly isControl: boolean;
  readonly lastOffsetDelta: number;
  readonly recordCount: number;
  readonly baseTimestampMs: number;
  readonly maxTimestampMs: number;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly baseSequence: number;
}

export interface DecodedRecord {
  readonly offset: number;
  readonly timestampMs: number;
  /** A view into the input (or decompressed) buffer, not a copy. */
  readonly key: Buffer | null;
  /** A view into the input (or decompressed) buffer, not a copy. */
  readonly value: Buffer | null;
  readonly headers: RecordHeader[];
}

export interface DecodeBatchOptions {
  /** Refuse (RECORD_TOO_LARGE) a compressed records section that inflates beyond this. @default Buffer's limit */
  readonly maxDecompressedBytes?: number;
}

// ---------- errors ----------

function corrupt(message: string, details: Record<string, unknown> = {}): SpoolError {
  return new SpoolError('CORRUPT_RECORD', message, { details });
}

function invalid(message: string, details: Record<string, unknown> = {}): SpoolError {
  return new SpoolError('INVALID_ARGUMENT', message, { details });
}

// ---------- option validation (rules as data) ----------

const INT16 = [-0x8000, 0x7fff] as const;
const INT32 = [-0x80000000, 0x7fffffff] as const;
const SAFE = [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER] as const;
const NON_NEGATIVE_SAFE = [0, Number.MAX_SAFE_INTEGER] as const;

const integerOptionRules: ReadonlyArray<readonly [keyof EncodeBatchOptions, readonly [number, number]]> = [
  ['baseOffset', NON_NEGATIVE_SAFE],
  ['producerId', SAFE],
  ['producerEpoch', INT16],
  ['baseSequence', INT32],
  ['partitionLeaderEpoch', INT32],
  ['nowMs', NON_NEGATIVE_SAFE],
];

function checkOptions(options: EncodeBatchOptions): void {
  for (const [name, [min, max]] of integerOptionRules) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw invalid(`${name} must be an integer in [${min}, ${max}], got ${describeValue(value)}`, { [name]: value });
    }
  }
}

// ---------- encode ----------

function bytesFieldSize(bytes: Uint8Array | null): number {
  return bytes === null ? 1 : sizeOfVarint(bytes.length) + bytes.length;
}

function checkBytes(bytes: unknown, index: number, field: string): Buffer | null {
  if (bytes === null || bytes === undefined) return null;
  if (bytes instanceof Uint8Array) return bytes as Buffer;
  throw invalid(`record ${index} ${field} must be a Buffer or null, got ${describeValue(bytes)}`, { index });
}

/**
 * Encode records as one RecordBatch v2. Offsets are `baseOffset + index`. Synchronous; the output
 * is sized exactly up front, so an uncompressed batch costs one allocation plus the CRC pass.
 */
export function encodeRecordBatch(records: readonly RecordInput[], options: EncodeBatchOptions = {}): Buffer {
  const count = records.length;
  if (count === 0) throw invalid('a record batch needs at least one record, got 0');
  checkOptions(options);
  const compression = options.compression ?? 'none';
  assertCompressionSupported(compression);

  // Pass 1: timestamps, offset deltas and exact sizes (the record length prefix needs the body size anyway).
  let nowMs = options.nowMs;
  const timestamps = new Array<number>(count);
  const offsetDeltas = new Array<number>(count);
  const bodySizes = new Array<number>(count);
  const headerKeyBytes: number[] = [];
  let recordsBytes = 0;
  let baseTimestamp = 0;
  let maxTimestamp = 0;
  for (let i = 0; i < count; i++) {
    const record = records[i]!;
    let timestamp = record.timestampMs;
    if (timestamp === undefined) {
      timestamp = nowMs ??= Date.now();
    } else if (!Number.isSafeInteger(timestamp) || (timestamp < 0 && !(timestamp === NO_TIMESTAMP && options.allowNoTimestamp === true))) {
      throw invalid(`record ${i} timestampMs must be a non-negative safe integer, got ${describeValue(timestamp)}`, {
        index: i,
      });
    }
    if (i === 0) baseTimestamp = maxTimestamp = timestamp;
    else if (timestamp > maxTimestamp) maxTimestamp = timestamp;
    timestamps[i] = timestamp;

    const offsetDelta = record.offsetDelta ?? i;
    if (!Number.isInteger(offsetDelta) || offsetDelta > INT32[1] || offsetDelta < (i === 0 ? 0 : offsetDeltas[i - 1]! + 1)) {
      throw invalid(
        `record ${i} offsetDelta must be an int32 above the one before (at least ${i === 0 ? 0 : offsetDeltas[i - 1]! + 1}), got ${describeValue(offsetDelta)}`,
        { index: i },
      );
    }
    offsetDeltas[i] = offsetDelta;

    const key = checkBytes(record.key, i, 'key');
    const value = checkBytes(record.value, i, 'value');
    let body = 1 + sizeOfVarlong(timestamp - baseTimestamp) + sizeOfVarint(offsetDelta) + bytesFieldSize(key) + bytesFieldSize(value);
    const headers = record.headers;
    if (headers === undefined || headers.length === 0) {
      body += 1;
    } else {
      body += sizeOfVarint(headers.length);
      for (const header of headers) {
        if (typeof header.key !== 'string') {
          throw invalid(`record ${i} header key must be a string, got ${describeValue(header.key)}`, { index: i });
        }
        const keyBytes = Buffer.byteLength(header.key, 'utf8');
        headerKeyBytes.push(keyBytes);
        body += sizeOfVarint(keyBytes) + keyBytes + bytesFieldSize(checkBytes(header.value, i, 'header value'));
      }
    }
    if (body > 0x7fffffff) throw invalid(`record ${i} must encode to less than 2 GiB, got ${body} bytes`, { index: i });
    bodySizes[i] = body;
    recordsBytes += sizeOfVarint(body) + body;
  }

  // Pass 2: write. Uncompressed records go straight after the header in the output.
  const uncompressed = compression === 'none';
  const writer = new ByteWriter(uncompressed ? BATCH_HEADER_BYTES + recordsBytes : recordsBytes);
  if (uncompressed) writer.pos = BATCH_HEADER_BYTES;
  let headerIndex = 0;
  for (let i = 0; i < count; i++) {
    const record = records[i]!;
    writeVarint(writer, bodySizes[i]!);
    writer.int8(0);
    writeVarlong(writer, timestamps[i]! - baseTimestamp);
    writeVarint(writer, offsetDeltas[i]!);
    writeBytesField(writer, record.key ?? null);
    writeBytesField(writer, record.value ?? null);
    const headers = record.headers;
    if (headers === undefined || headers.length === 0) {
      writer.int8(0);
    } else {
      writeVarint(writer, headers.length);
      for (const header of headers) {
        const keyBytes = headerKeyBytes[headerIndex++]!;
        writeVarint(writer, keyBytes);
        writer.utf8(header.key, keyBytes);
        writeBytesField(writer, header.value ?? null);
      }
    }
  }

  const lastOffsetDelta = options.lastOffsetDelta ?? offsetDeltas[count - 1]!;
  if (!Number.isInteger(lastOffsetDelta) || lastOffsetDelta < offsetDeltas[count - 1]! || lastOffsetDelta > INT32[1]) {
    throw invalid(
      `lastOffsetDelta must be an int32 of at least the last record's offsetDelta ${offsetDeltas[count - 1]}, got ${describeValue(lastOffsetDelta)}`,
    );
  }
  let out: Buffer;
  if (uncompressed) {
    out = writer.finish();
  } else {
    const compressed = compress(compression, writer.finish());
    out = Buffer.allocUnsafe(BATCH_HEADER_BYTES + compressed.length);
    compressed.copy(out, BATCH_HEADER_BYTES);
  }

  writeInt64(out, BASE_OFFSET_AT, options.baseOffset ?? 0);
  out.writeInt32BE(out.length - LOG_OVERHEAD_BYTES, BATCH_LENGTH_AT);
  out.writeInt32BE(options.partitionLeaderEpoch ?? -1, PARTITION_LEADER_EPOCH_AT);
  out.writeInt8(MAGIC_V2, MAGIC_AT);
  const attributes =
    compressionIds[compression] |
    (options.isTransactional === true ? TRANSACTIONAL_FLAG : 0) |
    (options.isControl === true ? CONTROL_FLAG : 0) |
    (options.timestampType === 'log-append' ? TIMESTAMP_TYPE_FLAG : 0);
  out.writeInt16BE(attributes, ATTRIBUTES_AT);
  out.writeInt32BE(lastOffsetDelta, LAST_OFFSET_DELTA_AT);
  writeInt64(out, BASE_TIMESTAMP_AT, baseTimestamp);
  writeInt64(out, MAX_TIMESTAMP_AT, maxTimestamp);
  writeInt64(out, PRODUCER_ID_AT, options.producerId ?? -1);
  out.writeInt16BE(options.producerEpoch ?? -1, PRODUCER_EPOCH_AT);
  out.writeInt32BE(options.baseSequence ?? -1, BASE_SEQUENCE_AT);
  out.writeInt32BE(count, RECORD_COUNT_AT);
  out.writeUInt32BE(crc32c(out, ATTRIBUTES_AT), CRC_AT);
  return out;
}

/**
 * Encode `records` as a batch that stands in for the stored batch `header` describes: the same codec,
 * producer id, epoch and base sequence, transactional flag, partition leader epoch and timestamp type
 * (records without a timestamp are allowed, as a stored batch may hold them); `options` adds the rest
 * (the base and last offsets).
 */
export function encodeLike(
  header: BatchHeader,
  records: readonly RecordInput[],
  options: Pick<EncodeBatchOptions, 'baseOffset' | 'lastOffsetDelta'> = {},
): Buffer {
  return encodeRecordBatch(records, {
    ...options,
    compression: header.compression,
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    isTransactional: header.isTransactional,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
    timestampType: header.timestampType,
    allowNoTimestamp: true,
  });
}

function writeBytesField(writer: ByteWriter, bytes: Uint8Array | null): void {
  if (bytes === null) {
    writer.int8(1); // zig-zag -1
    return;
  }
  writeVarint(writer, bytes.length);
  writer.bytes(bytes);
}

// ---------- header ----------

function checkPosition(buf: Buffer, pos: number): void {
  if (!Number.isInteger(pos) || pos < 0 || pos > buf.length) {
    throw invalid(`pos must be an integer in [0, ${buf.length}], got ${describeValue(pos)}`, { pos });
  }
}

function int64Field(buf: Buffer, pos: number, at: number, name: string): number {
  const value = readInt64(buf, pos + at);
  if (value === undefined) {
    throw corrupt(`record batch at position ${pos}: ${name} must be within ±2^53, got ${buf.readBigInt64BE(pos + at)}`, {
      position: pos,
      field: name,
    });
  }
  return value;
}

/**
 * Read and check the fixed header of the batch at `pos`: enough bytes for the header and for the
 * whole batch as batchLength declares it, magic 2, a known compression id, a non-negative record
 * count. Does not check the CRC (see `decodeRecordBatch` / log-validator.ts).
 */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  checkPosition(buf, pos);
  const available = buf.length - pos;
  if (available < MAGIC_AT + 1) {
    throw corrupt(`record batch at position ${pos} is truncated: its header needs ${BATCH_HEADER_BYTES} bytes, got ${available}`, {
      position: pos,
      available,
    });
  }
  const magic = buf.readInt8(pos + MAGIC_AT);
  if (magic !== MAGIC_V2) {
    throw corrupt(`record batch magic must be ${MAGIC_V2}, got ${magic}`, { position: pos, magic });
  }
  if (available < BATCH_HEADER_BYTES) {
    throw corrupt(`record batch at position ${pos} is truncated: its header needs ${BATCH_HEADER_BYTES} bytes, got ${available}`, {
      position: pos,
      available,
    });
  }
  const batchLength = buf.readInt32BE(pos + BATCH_LENGTH_AT);
  if (batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) {
    throw corrupt(`record batch batchLength must be at least ${BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES}, got ${batchLength}`, {
      position: pos,
      batchLength,
    });
  }
  const sizeBytes = LOG_OVERHEAD_BYTES + batchLength;
  if (sizeBytes > available) {
    throw corrupt(
      `record batch at position ${pos} is truncated: batchLength ${batchLength} needs ${sizeBytes} bytes, ` + `got ${available}`,
      { position: pos, batchLength, available },
    );
  }
  const attributes = buf.readInt16BE(pos + ATTRIBUTES_AT);
  const compression = compressionFromId(attributes & COMPRESSION_MASK);
  if (compression === undefined) {
    throw corrupt(`record batch compression id must be 0-4, got ${attributes & COMPRESSION_MASK}`, {
      position: pos,
      attributes,
    });
  }
  const recordCount = buf.readInt32BE(pos + RECORD_COUNT_AT);
  if (recordCount < 0) {
    throw corrupt(`record batch recordCount must be >= 0, got ${recordCount}`, { position: pos, recordCount });
  }
  return {
    baseOffset: int64Field(buf, pos, BASE_OFFSET_AT, 'baseOffset'),
    batchLength,
    sizeBytes,
    partitionLeaderEpoch: buf.readInt32BE(pos + PARTITION_LEADER_EPOCH_AT),
    magic,
    crc: buf.readUInt32BE(pos + CRC_AT),
    attributes,
    compression,
    timestampType: (attributes & TIMESTAMP_TYPE_FLAG) === 0 ? 'create' : 'log-append',
    isTransactional: (attributes & TRANSACTIONAL_FLAG) !== 0,
    isControl: (attributes & CONTROL_FLAG) !== 0,
    lastOffsetDelta: buf.readInt32BE(pos + LAST_OFFSET_DELTA_AT),
    recordCount,
    baseTimestampMs: int64Field(buf, pos, BASE_TIMESTAMP_AT, 'baseTimestamp'),
    maxTimestampMs: int64Field(buf, pos, MAX_TIMESTAMP_AT, 'maxTimestamp'),
    producerId: int64Field(buf, pos, PRODUCER_ID_AT, 'producerId'),
    producerEpoch: buf.readInt16BE(pos + PRODUCER_EPOCH_AT),
    baseSequence: buf.readInt32BE(pos + BASE_SEQUENCE_AT),
  };
}

function checkCrc(buf: Buffer, pos: number, header: BatchHeader): void {
  const computed = crc32c(buf, pos + ATTRIBUTES_AT, pos + header.sizeBytes);
  if (computed !== header.crc) {
    throw corrupt(
      `record batch at position ${pos} fails its CRC-32C check: the header says ${hex32(header.crc)}, ` +
        `the bytes give ${hex32(computed)}`,
      { position: pos, expectedCrc: header.crc, actualCrc: computed },
    );
  }
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

// ---------- records ----------

/** A reader over the batch's records, decompressed if needed. */
function recordsReader(buf: Buffer, pos: number, header: BatchHeader, maxDecompressedBytes: number): ByteReader {
  const context = `record batch at position ${pos}`;
  const start = pos + BATCH_HEADER_BYTES;
  const end = pos + header.sizeBytes;
  if (header.compression === 'none') return new ByteReader(buf, start, end, context);
  const payload = decompress(header.compression, buf.subarray(start, end), maxDecompressedBytes);
  return new ByteReader(payload, 0, payload.length, `${context} (${header.compression}-decompressed records)`);
}

/**
 * Parse `header.recordCount` records from `reader`, which must then be exhausted. With `sink` the
 * records are materialised into it; without, they are only checked (no allocation). `visit` is
 * told of each record's offsetDelta and timestamp (the log validator's rules need no more).
 */
function readRecords(reader: ByteReader, header: BatchHeader, sink: DecodedRecord[] | null, visit?: RecordVisitor): void {
  const count = header.recordCount;
  const batchEnd = reader.end;
  if (count > reader.remaining / MIN_RECORD_BYTES) {
    throw corrupt(
      `${reader.context} declares ${count} records but its ${reader.remaining} bytes of records hold at most ` +
        `${Math.floor(reader.remaining / MIN_RECORD_BYTES)}`,
      { recordCount: count },
    );
  }
  const logAppendTime = header.timestampType === 'log-append';
  for (let i = 0; i < count; i++) {
    if (reader.pos >= batchEnd) {
      throw corrupt(`${reader.context} declares ${count} records but its records end after ${i}`, {
        recordCount: count,
        found: i,
      });
    }
    const length = readVarint(reader, `record ${i} length`);
    const bodyStart = reader.pos;
    if (length < MIN_RECORD_BYTES - 1 || length > batchEnd - bodyStart) {
      throw corrupt(
        `${reader.context}: record ${i} length must be in [${MIN_RECORD_BYTES - 1}, ${batchEnd - bodyStart}] ` +
          `(the bytes left in the batch), got ${length}`,
        { record: i, length },
      );
    }
    const recordEnd = bodyStart + length;
    reader.end = recordEnd; // fields of this record must not read past its declared length
    reader.skip(1, `record ${i} attributes`);
    const timestampDelta = readVarlong(reader, `record ${i} timestampDelta`);
    const offsetDelta = readVarint(reader, `record ${i} offsetDelta`);
    if (offsetDelta < 0) {
      throw corrupt(`${reader.context}: record ${i} offsetDelta must be >= 0, got ${offsetDelta}`, { record: i, offsetDelta });
    }
    const keyLength = readVarint(reader, `record ${i} keyLength`);
    if (keyLength < -1) throw corrupt(`${reader.context}: record ${i} keyLength must be >= -1, got ${keyLength}`);
    let key: Buffer | null = null;
    if (keyLength >= 0) {
      if (sink === null) reader.skip(keyLength, `record ${i} key`);
      else key = reader.bytes(keyLength, `record ${i} key`);
    }
    const valueLength = readVarint(reader, `record ${i} valueLength`);
    if (valueLength < -1) {
      throw corrupt(`${reader.context}: record ${i} valueLength must be >= -1, got ${valueLength}`);
    }
    let value: Buffer | null = null;
    if (valueLength >= 0) {
      if (sink === null) reader.skip(valueLength, `record ${i} value`);
      else value = reader.bytes(valueLength, `record ${i} value`);
    }
    const headerCount = readVarint(reader, `record ${i} headersCount`);
    if (headerCount < 0 || headerCount > reader.remaining / 2) {
      throw corrupt(
        `${reader.context}: record ${i} headersCount must be in [0, ${Math.floor(reader.remaining / 2)}] ` +
          `(2 bytes each at least), got ${headerCount}`,
        { record: i, headerCount },
      );
    }
    const headers: RecordHeader[] = [];
    for (let h = 0; h < headerCount; h++) {
      const headerKeyLength = readVarint(reader, `record ${i} header ${h} keyLength`);
      if (headerKeyLength < 0) {
        throw corrupt(`${reader.context}: record ${i} header ${h} keyLength must be >= 0, got ${headerKeyLength}`);
      }
      let headerKey = '';
      if (sink === null) reader.skip(headerKeyLength, `record ${i} header ${h} key`);
      else headerKey = reader.utf8(headerKeyLength, `record ${i} header ${h} key`);
      const headerValueLength = readVarint(reader, `record ${i} header ${h} valueLength`);
      if (headerValueLength < -1) {
        throw corrupt(`${reader.context}: record ${i} header ${h} valueLength must be >= -1, got ${headerValueLength}`);
      }
      let headerValue: Buffer | null = null;
      if (headerValueLength >= 0) {
        if (sink === null) reader.skip(headerValueLength, `record ${i} header ${h} value`);
        else headerValue = reader.bytes(headerValueLength, `record ${i} header ${h} value`);
      }
      if (sink !== null) headers.push({ key: headerKey, value: headerValue });
    }
    if (reader.pos !== recordEnd) {
      throw corrupt(`${reader.context}: record ${i} declares ${length} bytes but its fields take ${reader.pos - bodyStart}`, {
        record: i,
        length,
      });
    }
    reader.end = batchEnd;
    if (sink !== null || visit !== undefined) {
      const timestampMs = logAppendTime ? header.maxTimestampMs : header.baseTimestampMs + timestampDelta;
      if (!Number.isSafeInteger(timestampMs)) {
        throw corrupt(`${reader.context}: record ${i} timestamp must be within ±2^53, got ${timestampMs}`);
      }
      sink?.push({ offset: header.baseOffset + offsetDelta, timestampMs, key, value, headers });
      visit?.(i, offsetDelta, timestampMs, keyLength >= 0);
    }
  }
  if (reader.pos !== batchEnd) {
    throw corrupt(`${reader.context} declares ${count} records but has ${batchEnd - reader.pos} bytes left after them`, {
      recordCount: count,
      trailingBytes: batchEnd - reader.pos,
    });
  }
}

// ---------- decode / walk / validate ----------

/**
 * Decode the batch at `pos`: header checks, CRC, decompression, every record. Keys and values are
 * views into `buf` (or into the decompressed records), not copies.
 */
export function decodeRecordBatch(
  buf: Buffer,
  pos = 0,
  options: DecodeBatchOptions = {},
): { header: BatchHeader; records: DecodedRecord[] } {
  const header = readBatchHeader(buf, pos);
  checkCrc(buf, pos, header);
  const reader = recordsReader(buf, pos, header, options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES);
  const records: DecodedRecord[] = [];
  readRecords(reader, header, records);
  return { header, records };
}

/**
 * Walk a concatenation of batches (a segment chunk, a fetch response) by their headers, without
 * checking CRCs. A tail shorter than a whole batch is CORRUPT_RECORD, not silently skipped.
 */
export function* batchesIn(buf: Buffer): Generator<{ header: BatchHeader; pos: number }> {
  let pos = 0;
  while (pos < buf.length) {
    const header = readBatchHeader(buf, pos);
    yield { header, pos };
    pos += header.sizeBytes;
  }
}

/**
 * Set the baseOffset of the batch at `pos`, in place. The CRC does not cover baseOffset, so the
 * batch stays valid and every record's offset moves with it.
 */
export function patchBaseOffset(buf: Buffer, pos: number, baseOffset: number): void {
  checkPosition(buf, pos);
  if (!Number.isSafeInteger(baseOffset) || baseOffset < 0) {
    throw invalid(`baseOffset must be a non-negative safe integer, got ${describeValue(baseOffset)}`, { baseOffset });
  }
  if (buf.length - pos < BATCH_HEADER_BYTES) {
    throw corrupt(
      `record batch at position ${pos} is truncated: its header needs ${BATCH_HEADER_BYTES} bytes, ` + `got ${buf.length - pos}`,
      { position: pos },
    );
  }
  const magic = buf.readInt8(pos + MAGIC_AT);
  if (magic !== MAGIC_V2) throw corrupt(`record batch magic must be ${MAGIC_V2}, got ${magic}`, { position: pos });
  writeInt64(buf, pos + BASE_OFFSET_AT, baseOffset);
}

/** Told of each record of a batch, in order: its index, offsetDelta and timestamp (the batch's for log-append time). */
export type RecordVisitor = (index: number, offsetDelta: number, timestampMs: number, hasKey: boolean) => void;

/**
 * Walks the records of the batch at `pos` (decompressing them if needed) and checks their structure,
 * telling `visit` of each, without materialising keys, values or headers. Does not check the CRC.
 */
export function scanRecords(buf: Buffer, pos: number, header: BatchHeader, visit: RecordVisitor, options: DecodeBatchOptions = {}): void {
  const reader = recordsReader(buf, pos, header, options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES);
  readRecords(reader, header, null, visit);
}

/**
 * Sets the batch's timestamp type and maxTimestamp, in place, and recomputes its CRC; a batch that
 * already says so is left untouched (as Kafka's DefaultRecordBatch.setMaxTimestamp). Records keep
 * their deltas: in a log-append batch every record's timestamp reads as maxTimestamp.
 */
export function setMaxTimestamp(buf: Buffer, pos: number, timestampType: 'create' | 'log-append', maxTimestampMs: number): boolean {
  const header = readBatchHeader(buf, pos);
  if (header.timestampType === timestampType && header.maxTimestampMs === maxTimestampMs) return false;
  if (!Number.isSafeInteger(maxTimestampMs)) throw invalid(`maxTimestamp must be a safe integer, got ${describeValue(maxTimestampMs)}`);
  const attributes = (header.attributes & ~TIMESTAMP_TYPE_FLAG) | (timestampType === 'log-append' ? TIMESTAMP_TYPE_FLAG : 0);
  buf.writeInt16BE(attributes, pos + ATTRIBUTES_AT);
  writeInt64(buf, pos + MAX_TIMESTAMP_AT, maxTimestampMs);
  buf.writeUInt32BE(crc32c(buf, pos + ATTRIBUTES_AT, pos + header.sizeBytes), pos + CRC_AT);
  return true;
}

/**
 * A transaction marker as Kafka writes it (EndTransactionMarker): a transactional control batch of
 * one record, sequence -1, whose key is (version 0, type: 0 abort, 1 commit) and value (version 0,
 * coordinator epoch), all big-endian int16 but the int32 epoch.
 */
export function encodeTxnMarker(marker: {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly commit: boolean;
  readonly coordinatorEpoch: number;
  readonly timestampMs: number;
}): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(marker.commit ? 1 : 0, 2);
  const value = Buffer.alloc(6);
  value.writeInt16BE(0, 0);
  value.writeInt32BE(marker.coordinatorEpoch, 2);
  return encodeRecordBatch([{ key, value, timestampMs: marker.timestampMs }], {
    producerId: marker.producerId,
    producerEpoch: marker.producerEpoch,
    baseSequence: -1,
    isTransactional: true,
    isControl: true,
    nowMs: marker.timestampMs,
  });
}

/** A control batch's marker type, from its record's key: 'commit', 'abort', or undefined (not a transaction marker). */
export function txnMarkerType(key: Buffer | null): 'commit' | 'abort' | undefined {
  if (key === null || key.length < 4) return undefined;
  const type = key.readInt16BE(2);
  return type === 1 ? 'commit' : type === 0 ? 'abort' : undefined;
}
