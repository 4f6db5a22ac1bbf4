/**
 * The append validator against Kafka's rules: every rule in `appendRules` has a case here that
 * breaks exactly that rule (a rule without one fails the table test), every normalisation is shown
 * rewriting only what it must, and real clients' batches in every codec pass untouched.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import {
  appendRules,
  ByteWriter,
  compress,
  compressionReady,
  decodeRecordBatch,
  encodeRecordBatch,
  normalisations,
  readBatchHeader,
  repairChunkTimestamps,
  repairMaxTimestamp,
  setMaxTimestamp,
  validateAppend,
  writeVarint,
  writeVarlong,
  type AppendSettings,
  type Compression,
} from '../../lib/format/index.js';
import { expectSpoolError, fixCrc, loadFixture } from './support.js';

const nowMs = 1_700_000_000_000;
const createTime: AppendSettings = {
  timestampType: 'CreateTime',
  timestampBeforeMaxMs: Number.MAX_SAFE_INTEGER,
  timestampAfterMaxMs: 3_600_000,
  maxBatchBytes: 1_048_588,
  nowMs,
};
const logAppendTime: AppendSettings = { ...createTime, timestampType: 'LogAppendTime' };
const codecs: Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

const text = (s: string) => Buffer.from(s);
const records = (count: number, firstMs = nowMs - 10_000) =>
  Array.from({ length: count }, (_, i) => ({ key: text(`k${i}`), value: text(`v${i}`), timestampMs: firstMs + i * 100 }));

/** What Filebeat's sarama fork sends: a correct batch whose header says maxTimestamp -1. */
function filebeatBatch(compression: Compression = 'gzip', count = 3): Buffer {
  const batch = encodeRecordBatch(records(count), { compression });
  setMaxTimestamp(batch, 0, 'create', -1);
  return batch;
}

interface RawRecord {
  readonly offsetDelta: number;
  readonly timestampDelta: number;
  readonly value: string;
}

/** A batch written field by field, so a test can break what encodeRecordBatch never would. */
function rawBatch(
  recordsIn: readonly RawRecord[],
  options: { compression?: Compression; baseTimestampMs?: number; maxTimestampMs?: number; attributes?: number } = {},
): Buffer {
  const body = new ByteWriter(256);
  for (const record of recordsIn) {
    const inner = new ByteWriter(64);
    inner.int8(0);
    writeVarlong(inner, record.timestampDelta);
    writeVarint(inner, record.offsetDelta);
    writeVarint(inner, -1); // null key
    writeVarint(inner, Buffer.byteLength(record.value));
    inner.bytes(text(record.value));
    writeVarint(inner, 0); // no headers
    const bytes = inner.finish();
    writeVarint(body, bytes.length);
    body.bytes(bytes);
  }
  const compression = options.compression ?? 'none';
  const payload = compression === 'none' ? body.finish() : compress(compression, body.finish());
  const out = Buffer.alloc(61 + payload.length);
  out.writeInt32BE(out.length - 12, 8);
  out.writeInt32BE(-1, 12);
  out.writeInt8(2, 16);
  const codecId = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 }[compression];
  out.writeInt16BE(options.attributes ?? codecId, 21);
  out.writeInt32BE(recordsIn.length - 1, 23);
  const base = options.baseTimestampMs ?? nowMs - 1000;
  out.writeBigInt64BE(BigInt(base), 27);
  out.writeBigInt64BE(BigInt(options.maxTimestampMs ?? base + Math.max(...recordsIn.map((r) => r.timestampDelta))), 35);
  out.writeBigInt64BE(-1n, 43);
  out.writeInt16BE(-1, 51);
  out.writeInt32BE(-1, 53);
  out.writeInt32BE(recordsIn.length, 57);
  payload.copy(out, 61);
  return fixCrc(out);
}

/** Edits a header field of a valid batch and keeps the CRC valid, so only the edited rule can fail. */
function edited(edit: (batch: Buffer) => void, batch = encodeRecordBatch(records(3))): Buffer {
  edit(batch);
  return fixCrc(batch);
}

function refusal(fn: () => unknown): SpoolError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SpoolError) return error;
    throw error;
  }
  throw new Error('expected the batch to be refused');
}

beforeAll(() => compressionReady());

describe('format > log validator > rules', () => {
  /** Per rule: a batch that breaks exactly it, and the settings to validate with. */
  const breaking: Record<string, () => { bytes: Buffer; settings?: AppendSettings; message: RegExp }> = {
    'one-batch': () => ({
      bytes: Buffer.concat([encodeRecordBatch(records(2)), encodeRecordBatch(records(1))]),
      message: /exactly one record batch per partition/,
    }),
    'base-offset-zero': () => ({
      bytes: edited((b) => b.writeBigInt64BE(5n, 0)),
      message: /baseOffset of a produced record batch must be 0, got 5/,
    }),
    'max-message-bytes': () => ({
      bytes: encodeRecordBatch(records(3)),
      settings: { ...createTime, maxBatchBytes: 50 },
      message: /over max.message.bytes 50/,
    }),
    crc: () => {
      const bytes = encodeRecordBatch(records(3));
      bytes[bytes.length - 1]! ^= 0xff;
      return { bytes, message: /fails its CRC-32C check/ };
    },
    'offset-range': () => ({ bytes: edited((b) => b.writeInt32BE(-1, 23)), message: /invalid offset range: lastOffsetDelta -1/ }),
    'record-count': () => ({ bytes: edited((b) => b.writeInt32BE(0, 57)), message: /at least one record, got 0/ }),
    'count-matches-offsets': () => ({
      bytes: edited((b) => b.writeInt32BE(4, 23)),
      message: /lastOffsetDelta 4 spans 5 offsets but recordCount is 3/,
    }),
    'no-control-batch': () => ({
      bytes: edited((b) => b.writeInt16BE(b.readInt16BE(21) | 0x20, 21)),
      message: /not allowed to write control records/,
    }),
    'sequence-with-producer-id': () => ({
      bytes: edited((b) => b.writeBigInt64BE(7n, 43)),
      message: /invalid sequence number -1 in a record batch with producerId 7/,
    }),
    'inner-offsets': () => ({
      bytes: rawBatch([
        { offsetDelta: 0, timestampDelta: 0, value: 'a' },
        { offsetDelta: 2, timestampDelta: 1, value: 'b' },
      ]),
      message: /record 1 has offsetDelta 2; expected 1/,
    }),
    'key-on-compacted-topic': () => ({
      bytes: encodeRecordBatch([...records(1), { key: null, value: text('keyless'), timestampMs: nowMs }]),
      settings: { ...createTime, keysRequired: true },
      message: /record 1 has no key: a compacted topic/,
    }),
    'no-log-append-time-from-producer': () => ({
      bytes: edited((b) => b.writeInt16BE(b.readInt16BE(21) | 0x08, 21)),
      settings: logAppendTime,
      message: /should not set the timestamp type to LogAppendTime/,
    }),
    'timestamp-not-negative': () => ({
      bytes: rawBatch([{ offsetDelta: 0, timestampDelta: 0, value: 'a' }], { baseTimestampMs: -5, maxTimestampMs: -5 }),
      message: /timestamp -5; expected a time in ms/,
    }),
    'timestamp-bounds': () => ({
      bytes: encodeRecordBatch([...records(2), { key: null, value: text('future'), timestampMs: nowMs + 3_600_001 }]),
      message: new RegExp(
        `timestamp ${nowMs + 3_600_001} of record 2 is out of range; it should be within \\[-?\\d+, ${nowMs + 3_600_000}\\]`,
      ),
    }),
  };

  it('has a breaking case for every rule in the table', () => {
    expect(appendRules.map((rule) => rule.id).sort()).toEqual(Object.keys(breaking).sort());
  });

  for (const rule of appendRules) {
    it(`refuses a batch breaking ${rule.id} with ${rule.error} (${rule.kafka.split(':')[0]})`, () => {
      const { bytes, settings, message } = breaking[rule.id]!();
      const error = expectSpoolError(() => validateAppend(bytes, settings ?? createTime), rule.error, message);
      expect(error.details.rule).toBe(rule.id);
    });
  }

  it('reports every failing record with its index, as Produce v8 record_errors, and refuses the batch whole', () => {
    const future = nowMs + 7_200_000;
    const batch = encodeRecordBatch([
      ...records(2),
      { key: null, value: text('x'), timestampMs: future },
      { key: null, value: text('y'), timestampMs: future + 1 },
    ]);
    const error = refusal(() => validateAppend(batch, createTime));
    expect(error.code).toBe('INVALID_TIMESTAMP');
    expect(error.message).toMatch(/record 2 is out of range.*\(and 1 more record\)/);
    expect(error.details.record_errors).toEqual([
      { batch_index: 2, message: expect.stringContaining(`timestamp ${future} of record 2`) },
      { batch_index: 3, message: expect.stringContaining(`timestamp ${future + 1} of record 3`) },
    ]);
  });

  it('accepts the edges of the timestamp window and any time with an unbounded past, and bounds nothing with LogAppendTime', () => {
    const window = { ...createTime, timestampBeforeMaxMs: 60_000 };
    expect(() => validateAppend(encodeRecordBatch([{ key: null, value: null, timestampMs: nowMs - 60_000 }]), window)).not.toThrow();
    expect(() => validateAppend(encodeRecordBatch([{ key: null, value: null, timestampMs: nowMs + 3_600_000 }]), window)).not.toThrow();
    expectSpoolError(
      () => validateAppend(encodeRecordBatch([{ key: null, value: null, timestampMs: nowMs - 60_001 }]), window),
      'INVALID_TIMESTAMP',
    );
    expect(() => validateAppend(encodeRecordBatch([{ key: null, value: null, timestampMs: 0 }]), createTime)).not.toThrow();
    expect(() =>
      validateAppend(encodeRecordBatch([{ key: null, value: null, timestampMs: nowMs + 86_400_000 }]), logAppendTime),
    ).not.toThrow();
  });

  it('refuses a compressed batch that inflates beyond maxDecompressedBytes (a compression bomb) with RECORD_TOO_LARGE', () => {
    const bomb = encodeRecordBatch([{ key: null, value: Buffer.alloc(4 * 1024 * 1024), timestampMs: nowMs }], { compression: 'gzip' });
    expect(bomb.length).toBeLessThan(16 * 1024);
    expectSpoolError(() => validateAppend(bomb, { ...createTime, maxDecompressedBytes: 1024 * 1024 }), 'RECORD_TOO_LARGE');
    expect(validateAppend(bomb, createTime).rewrite).toBe('none'); // within the default
  });

  it('lets a producer send a log-append-time batch with a time to a CreateTime topic, which reads it as create time (as Kafka)', () => {
    const batch = edited((b) => b.writeInt16BE(b.readInt16BE(21) | 0x08, 21));
    const { header } = validateAppend(batch, createTime);
    expect(header.timestampType).toBe('create');
  });
});

describe('format > log validator > normalisations', () => {
  it('lists each normalisation with what Kafka does', () => {
    expect(normalisations.map((n) => n.id)).toEqual([
      'dense-inner-offsets',
      'create-time-max-timestamp',
      'log-append-time',
      'no-timestamps',
      'partition-leader-epoch',
    ]);
    for (const normalisation of normalisations) expect(normalisation.kafka.length).toBeGreaterThan(10);
  });

  for (const compression of codecs) {
    it(`create-time-max-timestamp: a ${compression} batch whose header says maxTimestamp -1 (Filebeat) gets its records' max, header and CRC only`, () => {
      const sent = filebeatBatch(compression);
      const copy = Buffer.from(sent);
      const validated = validateAppend(sent, createTime);
      expect(validated.rewrite).toBe('header');
      expect(sent.equals(copy)).toBe(true); // the client's bytes are not edited in place
      expect(validated.header).toMatchObject({ maxTimestampMs: nowMs - 10_000 + 200, timestampType: 'create', compression });
      // Everything after the header (the compressed records) is byte for byte what the client sent.
      expect(validated.bytes.subarray(61).equals(sent.subarray(61))).toBe(true);
      const decoded = decodeRecordBatch(validated.bytes); // checks the new CRC
      expect(decoded.records.map((r) => [r.timestampMs, r.value!.toString()])).toEqual(
        records(3).map((r) => [r.timestampMs, r.value.toString()]),
      );
      expect(validated.logAppendTimeMs).toBe(-1);
    });
  }

  it('create-time-max-timestamp: a header claiming a later maxTimestamp than its records is corrected', () => {
    const batch = encodeRecordBatch(records(3));
    setMaxTimestamp(batch, 0, 'create', nowMs + 1_000_000);
    expect(validateAppend(batch, createTime).header.maxTimestampMs).toBe(nowMs - 10_000 + 200);
  });

  it('log-append-time: with LogAppendTime the batch says so and every record reads the time of append', () => {
    const validated = validateAppend(encodeRecordBatch(records(3), { compression: 'lz4' }), logAppendTime);
    expect(validated).toMatchObject({
      rewrite: 'header',
      logAppendTimeMs: nowMs,
      header: { timestampType: 'log-append', maxTimestampMs: nowMs },
    });
    expect(decodeRecordBatch(validated.bytes).records.map((r) => r.timestampMs)).toEqual([nowMs, nowMs, nowMs]);
  });

  it('no-timestamps: a batch whose records carry no timestamp (-1) is stored as log-append time at the time of append', () => {
    const batch = rawBatch(
      [
        { offsetDelta: 0, timestampDelta: 0, value: 'a' },
        { offsetDelta: 1, timestampDelta: 0, value: 'b' },
      ],
      { baseTimestampMs: -1, maxTimestampMs: -1 },
    );
    const validated = validateAppend(batch, createTime);
    expect(validated.header).toMatchObject({ timestampType: 'log-append', maxTimestampMs: nowMs });
    expect(validated.logAppendTimeMs).toBe(nowMs);
  });

  it('no-timestamps: records without a timestamp beside timed ones keep -1, and the batch max is the timed records', () => {
    const batch = rawBatch(
      [
        { offsetDelta: 0, timestampDelta: 0, value: 'none' },
        { offsetDelta: 1, timestampDelta: nowMs - 5_000 + 1, value: 'timed' },
      ],
      { baseTimestampMs: -1, maxTimestampMs: -1 },
    );
    const validated = validateAppend(batch, createTime);
    expect(validated.header).toMatchObject({ timestampType: 'create', maxTimestampMs: nowMs - 5_000 });
    expect(decodeRecordBatch(validated.bytes).records.map((r) => r.timestampMs)).toEqual([-1, nowMs - 5_000]);
  });

  for (const compression of codecs.filter((codec) => codec !== 'none')) {
    it(`dense-inner-offsets: a ${compression} batch with inner offsets 0, 2, 4 is rebuilt with 0, 1, 2 and the same codec`, () => {
      const batch = rawBatch(
        [0, 2, 4].map((offsetDelta, i) => ({ offsetDelta, timestampDelta: i * 10, value: `r${i}` })),
        { compression, maxTimestampMs: -1 },
      );
      batch.writeInt32BE(2, 23); // lastOffsetDelta = count - 1, as the client declared
      fixCrc(batch);
      const validated = validateAppend(batch, createTime);
      expect(validated.rewrite).toBe('rebuilt');
      const decoded = decodeRecordBatch(validated.bytes);
      expect(decoded.header).toMatchObject({ compression, recordCount: 3, lastOffsetDelta: 2, maxTimestampMs: nowMs - 1000 + 20 });
      expect(decoded.records.map((r) => [r.offset, r.value!.toString(), r.timestampMs])).toEqual([
        [0, 'r0', nowMs - 1000],
        [1, 'r1', nowMs - 990],
        [2, 'r2', nowMs - 980],
      ]);
    });
  }

  const javaFixtures = ['java-lz4', 'java-snappy', 'java-zstd', 'gzip', 'uncompressed'];
  for (const name of javaFixtures) {
    it(`stores a correct client batch (${name} fixture) as it came: the same bytes, no copy`, () => {
      const batch = loadFixture(name);
      const header = readBatchHeader(batch);
      const validated = validateAppend(batch, { ...createTime, nowMs: header.maxTimestampMs });
      expect(validated.rewrite).toBe('none');
      expect(validated.bytes).toBe(batch);
    });
  }
});

describe('format > log validator > batches stored before validation', () => {
  it('repairs a -1 maxTimestamp from the records, and leaves a batch that has one alone', () => {
    const legacy = filebeatBatch('snappy');
    expect(repairMaxTimestamp(legacy, 0, 42)).toBe(true);
    expect(readBatchHeader(legacy)).toMatchObject({ maxTimestampMs: nowMs - 10_000 + 200, timestampType: 'create' });
    expect(repairMaxTimestamp(legacy, 0, 42)).toBe(false);
    expect(() => decodeRecordBatch(legacy)).not.toThrow();
  });

  it('gives a legacy batch whose records carry no timestamp the time it was appended, as log-append time', () => {
    const legacy = rawBatch([{ offsetDelta: 0, timestampDelta: 0, value: 'a' }], { baseTimestampMs: -1, maxTimestampMs: -1 });
    expect(repairMaxTimestamp(legacy, 0, 1234)).toBe(true);
    expect(readBatchHeader(legacy)).toMatchObject({ maxTimestampMs: 1234, timestampType: 'log-append' });
  });

  it('repairs every batch of a chunk and answers the chunk max', () => {
    const chunk = Buffer.concat([filebeatBatch('none', 2), encodeRecordBatch(records(2, nowMs)), filebeatBatch('gzip', 4)]);
    expect(repairChunkTimestamps(chunk, 0)).toBe(nowMs + 100);
    expect(readBatchHeader(chunk, 0).maxTimestampMs).toBe(nowMs - 10_000 + 100);
  });
});
