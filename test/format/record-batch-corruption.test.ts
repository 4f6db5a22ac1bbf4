import { beforeAll, describe, expect, it } from 'vitest';
import {
  ByteWriter,
  batchesIn,
  compress,
  compressionReady,
  decodeRecordBatch,
  encodeRecordBatch,
  readBatchHeader,
  validateAppend,
  type AppendSettings,
  writeVarint,
} from '../../lib/format/index.js';
import { expectSpoolError, outcome, fixCrc, flipByte, loadFixture, prng, randomRecord } from './support.js';

/** Validation that only structure can fail: any time, any size. */
const anyTime: AppendSettings = {
  timestampType: 'CreateTime',
  timestampBeforeMaxMs: Number.MAX_SAFE_INTEGER,
  timestampAfterMaxMs: Number.MAX_SAFE_INTEGER,
  maxBatchBytes: Number.MAX_SAFE_INTEGER,
  nowMs: 0,
};

const T0 = 1_700_000_000_000;

function decodeAll(buf: Buffer): void {
  for (const { pos } of batchesIn(buf)) decodeRecordBatch(buf, pos);
}

function sampleBatches(): Buffer[] {
  const random = prng(11);
  const generated = (['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const).map((compression) =>
    encodeRecordBatch(
      Array.from({ length: 5 }, () => randomRecord(random, T0)),
      { compression },
    ),
  );
  return [loadFixture('uncompressed'), loadFixture('gzip'), loadFixture('transactional'), ...generated].map((b) =>
    // small enough to flip every byte
    b.length > 4000 ? encodeRecordBatch([{ key: null, value: b.subarray(0, 100), timestampMs: T0 }]) : b,
  );
}

/** Records section bytes from (varint | raw bytes) parts. */
function recordBytes(...parts: (number | Buffer)[]): Buffer {
  const writer = new ByteWriter(64);
  for (const part of parts) {
    if (typeof part === 'number') writeVarint(writer, part);
    else writer.bytes(part);
  }
  return Buffer.from(writer.finish());
}

/** A batch around a raw records section, with batchLength and CRC made consistent. */
function withRecords(records: Buffer, recordCount: number, attributes = 0): Buffer {
  const header = Buffer.from(loadFixture('uncompressed').subarray(0, 61));
  const batch = Buffer.concat([header, records]);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt16BE(attributes, 21);
  batch.writeInt32BE(recordCount - 1, 23);
  batch.writeInt32BE(recordCount, 57);
  return fixCrc(batch);
}

// One valid record: attributes, timestampDelta 0, offsetDelta 0, key "k", value null, 0 headers.
const validBody = [Buffer.from([0]), 0, 0, 1, Buffer.from('k'), -1, 0] as const;

describe('format > record batch > corruption', () => {
  beforeAll(async () => {
    await compressionReady(); // sampleBatches() encodes zstd: its WASM encoder on Node before 22.15
  });

  it('reports a flipped CRC byte', () => {
    const batch = loadFixture('uncompressed');
    flipByte(batch, 18, 0x01);
    expectSpoolError(
      () => decodeRecordBatch(batch),
      'CORRUPT_RECORD',
      /record batch at position 0 fails its CRC-32C check: the header says 0x0d9d5745, the bytes give 0x0d9c5745/,
    );
  });

  it('reports a flipped payload byte as a CRC failure', () => {
    const batch = loadFixture('gzip');
    flipByte(batch, 120, 0x40);
    expectSpoolError(() => decodeRecordBatch(batch), 'CORRUPT_RECORD', /fails its CRC-32C check/);
  });

  it('reports a wrong magic byte', () => {
    const batch = loadFixture('uncompressed');
    batch[16] = 1;
    expectSpoolError(() => decodeRecordBatch(batch), 'CORRUPT_RECORD', 'record batch magic must be 2, got 1');
    expectSpoolError(() => validateAppend(batch, anyTime), 'CORRUPT_RECORD', 'record batch magic must be 2, got 1');
  });

  it('reports a batchLength larger than the buffer', () => {
    const batch = loadFixture('uncompressed');
    batch.writeInt32BE(1000, 8);
    expectSpoolError(
      () => readBatchHeader(batch),
      'CORRUPT_RECORD',
      'record batch at position 0 is truncated: batchLength 1000 needs 1012 bytes, got 161',
    );
  });

  it('reports a batchLength too small for the header', () => {
    const batch = loadFixture('uncompressed');
    batch.writeInt32BE(20, 8);
    expectSpoolError(() => readBatchHeader(batch), 'CORRUPT_RECORD', 'record batch batchLength must be at least 49, got 20');
  });

  it('reports a batch cut at every possible length, from every entry point', () => {
    const batch = loadFixture('uncompressed');
    for (let length = 1; length < batch.length; length++) {
      const cut = batch.subarray(0, length);
      expect(
        outcome(() => readBatchHeader(cut)),
        `readBatchHeader at ${length}`,
      ).toBe('CORRUPT_RECORD');
      expect(
        outcome(() => decodeRecordBatch(cut)),
        `decodeRecordBatch at ${length}`,
      ).toBe('CORRUPT_RECORD');
      expect(
        outcome(() => validateAppend(cut, anyTime)),
        `validateAppend at ${length}`,
      ).toBe('CORRUPT_RECORD');
      expect(
        outcome(() => [...batchesIn(cut)]),
        `batchesIn at ${length}`,
      ).toBe('CORRUPT_RECORD');
    }
    expectSpoolError(
      () => decodeRecordBatch(batch.subarray(0, 40)),
      'CORRUPT_RECORD',
      'record batch at position 0 is truncated: its header needs 61 bytes, got 40',
    );
  });

  it('reports a truncated tail after whole batches when walking', () => {
    const two = Buffer.concat([loadFixture('uncompressed'), loadFixture('transactional')]);
    for (let length = 162; length < two.length; length++) {
      const walk = () => [...batchesIn(two.subarray(0, length))];
      expectSpoolError(walk, 'CORRUPT_RECORD', /record batch at position 161 is truncated/);
    }
  });

  it('reports records cut short even when batchLength and CRC were made to match', () => {
    for (const source of sampleBatches()) {
      for (let length = 61; length < source.length; length++) {
        const cut = Buffer.from(source.subarray(0, length));
        cut.writeInt32BE(length - 12, 8);
        fixCrc(cut);
        expect(
          outcome(() => decodeRecordBatch(cut)),
          `cut at ${length}`,
        ).toBe('CORRUPT_RECORD');
        // INVALID_RECORD: the transactional fixture was stored at baseOffset 100, which no client sends.
        expect(['CORRUPT_RECORD', 'INVALID_RECORD', 'ok']).toContain(outcome(() => validateAppend(cut, anyTime)));
      }
    }
  });

  it('reports a record count larger or smaller than the records present', () => {
    const more = loadFixture('uncompressed');
    more.writeInt32BE(4, 57);
    expectSpoolError(
      () => decodeRecordBatch(fixCrc(more)),
      'CORRUPT_RECORD',
      'record batch at position 0 declares 4 records but its records end after 3',
    );

    const fewer = loadFixture('uncompressed');
    fewer.writeInt32BE(2, 57);
    expectSpoolError(() => decodeRecordBatch(fixCrc(fewer)), 'CORRUPT_RECORD', /declares 2 records but has 19 bytes left after them/);

    const absurd = loadFixture('uncompressed');
    absurd.writeInt32BE(2 ** 31 - 1, 57);
    expectSpoolError(
      () => decodeRecordBatch(fixCrc(absurd)),
      'CORRUPT_RECORD',
      /declares 2147483647 records but its 100 bytes of records hold at most 14/,
    );

    const negative = loadFixture('uncompressed');
    negative.writeInt32BE(-1, 57);
    expectSpoolError(() => decodeRecordBatch(fixCrc(negative)), 'CORRUPT_RECORD', 'record batch recordCount must be >= 0, got -1');
  });

  it('reports a record count mismatch inside a gzip batch', () => {
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from('a'), timestampMs: T0 }], { compression: 'gzip' });
    batch.writeInt32BE(2, 57);
    expectSpoolError(() => decodeRecordBatch(fixCrc(batch)), 'CORRUPT_RECORD', /\(gzip-decompressed records\) declares 2 records/);
  });

  it('reports varint overflow in a record length', () => {
    const batch = withRecords(recordBytes(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Buffer.alloc(10)), 1);
    expectSpoolError(() => decodeRecordBatch(batch), 'CORRUPT_RECORD', /record 0 length is longer than 5 bytes at position 61/);
  });

  it('reports varlong overflow in a timestamp delta', () => {
    const batch = withRecords(recordBytes(16, Buffer.from([0]), Buffer.alloc(11, 0xff), 0, -1, -1, 0), 1);
    expectSpoolError(() => decodeRecordBatch(batch), 'CORRUPT_RECORD', /record 0 timestampDelta is longer than 10 bytes/);
  });

  it('reports a record length that disagrees with its fields', () => {
    const tooLong = withRecords(recordBytes(8, ...validBody, Buffer.from([0])), 1);
    expectSpoolError(() => decodeRecordBatch(tooLong), 'CORRUPT_RECORD', /record 0 declares 8 bytes but its fields take 7/);

    const tooShort = withRecords(recordBytes(6, ...validBody), 1);
    expectSpoolError(() => decodeRecordBatch(tooShort), 'CORRUPT_RECORD', /record 0 headersCount is truncated/);

    const pastEnd = withRecords(recordBytes(100, ...validBody), 1);
    expectSpoolError(
      () => decodeRecordBatch(pastEnd),
      'CORRUPT_RECORD',
      /record 0 length must be in \[6, 7\] \(the bytes left in the batch\), got 100/,
    );
  });

  it('reports negative lengths other than -1 and negative header counts', () => {
    const cases: [Buffer, RegExp][] = [
      [recordBytes(6, Buffer.from([0]), 0, 0, -2, -1, 0), /record 0 keyLength must be >= -1, got -2/],
      [recordBytes(6, Buffer.from([0]), 0, 0, -1, -3, 0), /record 0 valueLength must be >= -1, got -3/],
      [recordBytes(6, Buffer.from([0]), 0, 0, -1, -1, -1), /record 0 headersCount must be in \[0, 0\]/],
      [recordBytes(8, Buffer.from([0]), 0, 0, -1, -1, 1, -1, -1), /record 0 header 0 keyLength must be >= 0, got -1/],
      [recordBytes(9, Buffer.from([0]), 0, 0, -1, -1, 1, 1, Buffer.from('h'), -2), /record 0 header 0 valueLength must be >= -1, got -2/],
      [recordBytes(6, Buffer.from([0]), 0, -5, -1, -1, 0), /record 0 offsetDelta must be >= 0, got -5/],
    ];
    for (const [records, message] of cases) {
      expectSpoolError(() => decodeRecordBatch(withRecords(records, 1)), 'CORRUPT_RECORD', message);
    }
  });

  it('reports an unknown compression id, and records its codec cannot read, as corrupt', () => {
    const unknown = loadFixture('uncompressed');
    unknown.writeInt16BE(5, 21);
    expectSpoolError(() => decodeRecordBatch(fixCrc(unknown)), 'CORRUPT_RECORD', 'record batch compression id must be 0-4, got 5');

    for (const [id, name] of [
      [2, 'snappy'],
      [3, 'lz4'],
      [4, 'zstd'],
    ] as const) {
      const relabelled = loadFixture('uncompressed');
      relabelled.writeInt16BE(id, 21);
      expectSpoolError(
        () => decodeRecordBatch(fixCrc(relabelled)),
        'CORRUPT_RECORD',
        new RegExp(`^${name} records section does not decompress`),
      );
    }
  });

  it('reports a gzip payload that does not inflate, behind a valid CRC', () => {
    const batch = withRecords(Buffer.from('definitely not gzip'), 1, 1);
    expectSpoolError(() => decodeRecordBatch(batch), 'CORRUPT_RECORD', /gzip records section does not decompress/);
  });

  it('refuses a gzip payload that inflates beyond maxDecompressedBytes', () => {
    const batch = encodeRecordBatch([{ key: null, value: Buffer.alloc(100_000), timestampMs: T0 }], { compression: 'gzip' });
    expectSpoolError(() => decodeRecordBatch(batch, 0, { maxDecompressedBytes: 10_000 }), 'RECORD_TOO_LARGE');
    expect(decodeRecordBatch(batch, 0, { maxDecompressedBytes: 200_000 }).records.length).toBe(1);
  });

  it('reports int64 header fields outside ±2^53', () => {
    const batch = loadFixture('uncompressed');
    batch.writeBigInt64BE(2n ** 60n, 27);
    expectSpoolError(
      () => decodeRecordBatch(fixCrc(batch)),
      'CORRUPT_RECORD',
      /baseTimestamp must be within ±2\^53, got 1152921504606846976/,
    );
  });

  it('rejects a position outside the buffer as an invalid argument', () => {
    expectSpoolError(() => decodeRecordBatch(loadFixture('uncompressed'), -1), 'INVALID_ARGUMENT', /pos must be an integer/);
    expectSpoolError(() => readBatchHeader(loadFixture('uncompressed'), 1.5), 'INVALID_ARGUMENT');
  });

  it('detects every single-byte flip the CRC covers, and throws only SpoolErrors', () => {
    const random = prng(12);
    for (const source of sampleBatches()) {
      for (let at = 0; at < source.length; at++) {
        const flipped = Buffer.from(source);
        flipByte(flipped, at, random.int(1, 255));
        const result = outcome(() => decodeRecordBatch(flipped));
        const validated = outcome(() => validateAppend(flipped, anyTime));
        // baseOffset (0-7) and partitionLeaderEpoch (12-15) are outside the CRC by design.
        if ((at >= 0 && at < 8) || (at >= 12 && at < 16)) {
          expect(['ok', 'CORRUPT_RECORD'], `flip at ${at}`).toContain(result);
        } else {
          expect(result, `flip at ${at}`).toBe('CORRUPT_RECORD');
          expect(validated, `flip at ${at}`).toBe('CORRUPT_RECORD');
        }
      }
    }
  });

  it('survives random flips behind a recomputed CRC with only SpoolErrors (parser fuzz)', () => {
    const random = prng(13);
    const allowed = ['ok', 'CORRUPT_RECORD', 'UNSUPPORTED_COMPRESSION'];
    for (const source of sampleBatches()) {
      for (let n = 0; n < 400; n++) {
        const flipped = Buffer.from(source);
        const flips = random.int(1, 3);
        for (let f = 0; f < flips; f++) flipByte(flipped, random.int(21, source.length - 1), random.int(1, 255));
        fixCrc(flipped);
        expect(allowed).toContain(outcome(() => decodeRecordBatch(flipped)));
        expect([...allowed, 'INVALID_RECORD', 'INVALID_TIMESTAMP', 'RECORD_TOO_LARGE']).toContain(
          outcome(() => validateAppend(flipped, anyTime)),
        );
        expect(allowed).toContain(outcome(() => decodeAll(flipped)));
      }
    }
  });

  it('survives arbitrary bytes with only SpoolErrors', () => {
    const random = prng(14);
    for (let n = 0; n < 2000; n++) {
      const junk = random.bytes(random.int(0, 200));
      if (junk.length > 16 && random.bool()) junk[16] = 2; // get past the magic check half the time
      if (junk.length > 12 && random.bool()) junk.writeInt32BE(junk.length - 12, 8);
      if (junk.length > 61 && random.bool()) fixCrc(junk);
      expect(['ok', 'CORRUPT_RECORD', 'UNSUPPORTED_COMPRESSION', 'RECORD_TOO_LARGE']).toContain(outcome(() => decodeAll(junk)));
      expect(['ok', 'CORRUPT_RECORD', 'UNSUPPORTED_COMPRESSION', 'INVALID_RECORD', 'INVALID_TIMESTAMP', 'RECORD_TOO_LARGE']).toContain(
        outcome(() => validateAppend(junk, anyTime)),
      );
    }
  });

  it('treats a gzip payload with valid records but trailing bytes as corrupt', () => {
    const records = recordBytes(7, ...validBody);
    const batch = withRecords(compress('gzip', Buffer.concat([records, Buffer.from([0, 0])])), 1, 1);
    expectSpoolError(() => decodeRecordBatch(batch), 'CORRUPT_RECORD', /declares 1 records but has 2 bytes left after them/);
  });
});
