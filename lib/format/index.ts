/**
 * lib/format: Kafka's on-the-wire data formats, pure (bytes in, bytes out, no I/O). RecordBatch v2
 * with its varints, CRC-32C and compression codecs, and the Java client's murmur2 partitioner.
 * Every malformed input is a SpoolError('CORRUPT_RECORD') naming the problem.
 */
export {
  BATCH_HEADER_BYTES,
  LOG_OVERHEAD_BYTES,
  MAGIC_V2,
  batchesIn,
  decodeRecordBatch,
  encodeRecordBatch,
  encodeTxnMarker,
  patchBaseOffset,
  NO_TIMESTAMP,
  readBatchHeader,
  scanRecords,
  setMaxTimestamp,
  txnMarkerType,
} from './record-batch.js';
export {
  appendRules,
  normalisations,
  repairChunkTimestamps,
  repairMaxTimestamp,
  timestampWindow,
  validateAppend,
} from './log-validator.js';
export type { AppendRule, AppendSettings, RecordFacts, ValidatedBatch } from './log-validator.js';
export { retainRecords } from './retain.js';
export type { RetainedBatch } from './retain.js';
export type {
  BatchHeader,
  DecodeBatchOptions,
  DecodedRecord,
  EncodeBatchOptions,
  RecordHeader,
  RecordInput,
  RecordVisitor,
} from './record-batch.js';
export {
  assertCompressionSupported,
  compress,
  compressionFromId,
  compressionIds,
  compressionReady,
  decompress,
  isCompressionSupported,
  supportedCompressions,
} from './compression.js';
export type { Codec, Compression } from './compression.js';
export { crc32c } from './crc32c.js';
export { murmur2, partitionForKey, toPositive } from './murmur2.js';
export { ByteReader, ByteWriter } from './bytes.js';
export {
  readUVarint,
  readVarint,
  readVarlong,
  sizeOfUVarint,
  sizeOfVarint,
  sizeOfVarlong,
  writeUVarint,
  writeVarint,
  writeVarlong,
} from './varint.js';
