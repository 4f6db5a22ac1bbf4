import { beforeAll, describe, expect, it } from 'vitest';
import {
  compressionReady,
  decodeRecordBatch,
  encodeRecordBatch,
  readBatchHeader,
  retainRecords,
  supportedCompressions,
  type Compression,
} from '../../lib/format/index.js';

const t0 = 1_700_000_000_000;
const records = ['a', 'b', 'a', 'c', 'b'].map((key, i) => ({
  key: Buffer.from(key),
  value: i === 4 ? null : Buffer.from(`v${i}`),
  headers: [{ key: 'h', value: Buffer.from(String(i)) }],
  timestampMs: t0 + i * 10,
}));

describe('retainRecords (the log cleaner’s rewrite of one batch)', () => {
  beforeAll(async () => {
    await compressionReady();
  });

  it.each(['none', 'gzip', 'snappy', 'lz4', 'zstd'] as Compression[])(
    'keeps offsets, the last offset, producer fields and the codec (%s); kept records are as they were',
    (compression) => {
      expect(supportedCompressions).toContain(compression);
      const batch = encodeRecordBatch(records, {
        baseOffset: 100,
        compression,
        producerId: 7,
        producerEpoch: 2,
        baseSequence: 40,
        partitionLeaderEpoch: 3,
        isTransactional: true,
      });
      const retained = retainRecords(batch, (record) => record.offset === 101 || record.offset === 103);
      expect(retained.removed).toBe(3);
      const header = readBatchHeader(retained.bytes!, 0);
      expect(header).toMatchObject({
        baseOffset: 100,
        lastOffsetDelta: 4, // as before: a consumer moves past the whole batch
        recordCount: 2,
        compression,
        producerId: 7,
        producerEpoch: 2,
        baseSequence: 40,
        partitionLeaderEpoch: 3,
        isTransactional: true,
        timestampType: 'create',
        maxTimestampMs: t0 + 30, // of the records kept
      });
      const kept = decodeRecordBatch(retained.bytes!).records; // checks the CRC
      expect(kept.map((r) => [r.offset, r.key!.toString(), r.value!.toString(), r.timestampMs, r.headers[0]!.value!.toString()])).toEqual([
        [101, 'b', 'v1', t0 + 10, '1'],
        [103, 'c', 'v3', t0 + 30, '3'],
      ]);
    },
  );

  it('answers the batch itself when every record stays, and null when none does', () => {
    const batch = encodeRecordBatch(records, { baseOffset: 5 });
    expect(retainRecords(batch, () => true)).toEqual({ bytes: batch, removed: 0, refusedButKept: 0 });
    expect(retainRecords(batch, () => false)).toEqual({ bytes: null, removed: 5, refusedButKept: 0 });
  });

  it('keeps a batch whole when its codec cannot be encoded here, and says how many refused records it kept', () => {
    const batch = encodeRecordBatch(records, { baseOffset: 5, compression: 'zstd' });
    const canEncode = (compression: Compression) => compression !== 'zstd';
    expect(retainRecords(batch, (record) => record.offset !== 6, canEncode)).toEqual({ bytes: batch, removed: 0, refusedButKept: 1 });
    expect(retainRecords(batch, () => false, canEncode)).toEqual({ bytes: null, removed: 5, refusedButKept: 0 }); // nothing to encode
  });

  it('keeps a log-append-time batch’s type and time, and tombstones as tombstones', () => {
    const batch = encodeRecordBatch(records, { baseOffset: 0, timestampType: 'log-append' });
    const before = readBatchHeader(batch, 0);
    const retained = retainRecords(batch, (record) => record.offset >= 3);
    const header = readBatchHeader(retained.bytes!, 0);
    expect([header.timestampType, header.maxTimestampMs]).toEqual(['log-append', before.maxTimestampMs]);
    expect(decodeRecordBatch(retained.bytes!).records.map((r) => [r.offset, r.value])).toEqual([
      [3, Buffer.from('v3')],
      [4, null],
    ]);
  });

  it('refuses offset deltas that do not increase, and a last offset before the last record', () => {
    const two = [records[0]!, records[1]!];
    expect(() => encodeRecordBatch(two.map((r, i) => ({ ...r, offsetDelta: 3 - i })))).toThrow(
      /offsetDelta must be an int32 above the one before/,
    );
    expect(() =>
      encodeRecordBatch(
        two.map((r, i) => ({ ...r, offsetDelta: i * 2 })),
        { lastOffsetDelta: 1 },
      ),
    ).toThrow(/lastOffsetDelta must be an int32 of at least the last record's offsetDelta 2/);
  });
});
