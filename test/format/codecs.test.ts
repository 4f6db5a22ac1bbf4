/**
 * snappy, lz4 and zstd: round trips through the codecs and through RecordBatch, golden bytes written
 * by other implementations (fixtures/GenerateJavaFixtures.java: the Java client's MemoryRecords with
 * snappy-java, lz4-java and zstd-jni; fixtures/generate_codecs.py: kafka-python with python-snappy,
 * python-lz4 and zstandard), what we write checked by an independent LZ4 decoder (lz4-napi, Rust
 * lz4_flex) and against the Java client's framing, and malformed input, which must end as a
 * SpoolError quickly.
 */
import * as zlib from 'node:zlib';
import lz4js from 'lz4js';
import snappyjs from 'snappyjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  compress,
  compressionReady,
  decodeRecordBatch,
  decompress,
  encodeRecordBatch,
  isCompressionSupported,
  supportedCompressions,
  type Compression,
  type DecodedRecord,
  type RecordInput,
} from '../../lib/format/index.js';
import { expectSpoolError, outcome, flipByte, loadFixture, prng, requireCjs } from './support.js';

const T0 = 1_700_000_000_000;
const kafkaCodecs = ['gzip', 'snappy', 'lz4', 'zstd'] as const;
const lz4Napi = requireCjs('lz4-napi') as { decompressFrameSync(bytes: Buffer): Buffer };

/** The records in fixtures/kafka-python-*.hex (`fixture_records` in generate_codecs.py). */
function fixtureRecords(): RecordInput[] {
  return Array.from({ length: 1000 }, (_, i) => ({
    key: i % 10 === 9 ? null : Buffer.from(`key-${i}`),
    value: i % 25 === 24 ? null : Buffer.from(`{"n":${i},"msg":"hello, spool","pad":"${'x'.repeat(i % 50)}"}`),
    headers: i % 3 === 0 ? [{ key: 'trace-id', value: Buffer.from(`abc-${i}`) }] : [],
    timestampMs: T0 + ((i * 7) % 1000),
  }));
}

/** The plaintext of fixtures/payload-*.hex (`fixture_payload` in generate_codecs.py). */
function fixturePayload(): Buffer {
  return Buffer.from(Array.from({ length: 2000 }, (_, i) => `line ${i}: the quick brown fox jumps over the lazy dog\n`).join(''));
}

function expectRecords(decoded: readonly DecodedRecord[], inputs: readonly RecordInput[]): void {
  const show = (r: Pick<RecordInput, 'key' | 'value' | 'headers' | 'timestampMs'>) => ({
    key: r.key?.toString('hex') ?? null,
    value: r.value?.toString('hex') ?? null,
    headers: (r.headers ?? []).map((h) => [h.key, h.value?.toString('hex') ?? null]),
    timestampMs: r.timestampMs,
  });
  expect(decoded.map(show)).toEqual(inputs.map(show));
  expect(decoded.map((r) => r.offset)).toEqual(inputs.map((_, i) => i));
}

/** Compressible input of a given size: record-like text with some random bytes mixed in. */
function sampleInput(seed: number, length: number): Buffer {
  const random = prng(seed);
  const out = Buffer.alloc(length);
  for (let pos = 0; pos < length; ) {
    const chunk = random.bool(0.2) ? random.bytes(random.int(1, 40)) : Buffer.from(`{"user":${random.int(0, 999)},"event":"click"}`);
    pos += chunk.copy(out, pos);
  }
  return out;
}

beforeAll(async () => {
  await compressionReady();
});

describe('format > compression > snappy, lz4, zstd', () => {
  it('encodes and decodes every Kafka codec in this process once compressionReady() resolves', () => {
    expect(supportedCompressions).toEqual(['none', 'gzip', 'snappy', 'lz4', 'zstd']);
    for (const name of kafkaCodecs) expect(isCompressionSupported(name)).toBe(true);
  });

  it('round-trips empty, tiny, multi-block, incompressible and large inputs through every codec', () => {
    const inputs = [
      Buffer.alloc(0),
      Buffer.from('x'),
      sampleInput(1, 100),
      sampleInput(2, 200_000),
      prng(3).bytes(70_000),
      Buffer.alloc(1_500_000, 7),
    ];
    for (const name of kafkaCodecs) {
      for (const input of inputs) {
        const packed = compress(name, input);
        expect(decompress(name, packed).equals(input), `${name}, ${input.length} bytes`).toBe(true);
      }
    }
    expect(compress('zstd', Buffer.alloc(1_500_000, 7)).length).toBeLessThan(1000);
  });

  it('round-trips record batches through encodeRecordBatch and decodeRecordBatch with every codec', () => {
    const records = fixtureRecords();
    for (const compression of kafkaCodecs) {
      const batch = encodeRecordBatch(records, { compression });
      const { header, records: decoded } = decodeRecordBatch(batch);
      expect(header.compression).toBe(compression);
      expect(header.attributes & 7).toBe(['none', 'gzip', 'snappy', 'lz4', 'zstd'].indexOf(compression));
      expect(batch.length, compression).toBeLessThan(encodeRecordBatch(records).length / 2);
      expectRecords(decoded, records);
    }
  });
});

describe('format > compression > golden bytes from other implementations', () => {
  const cases: [string, string, Compression][] = [
    ['the Java client', 'java-snappy', 'snappy'],
    ['the Java client', 'java-lz4', 'lz4'],
    ['the Java client', 'java-zstd', 'zstd'],
    ['kafka-python', 'kafka-python-snappy', 'snappy'],
    ['kafka-python', 'kafka-python-lz4', 'lz4'],
    ['kafka-python', 'kafka-python-zstd', 'zstd'],
  ];
  for (const [writer, fixture, compression] of cases) {
    it(`decodes a ${compression} batch written by ${writer} (${fixture}.hex)`, () => {
      const { header, records } = decodeRecordBatch(loadFixture(fixture));
      expect(header).toMatchObject({ compression, recordCount: 1000, baseTimestampMs: T0, maxTimestampMs: T0 + 999, producerId: -1 });
      expectRecords(records, fixtureRecords());
    });
  }

  it('reads xerial-framed snappy with several 32 KiB chunks, as the Java client writes it', () => {
    const batch = loadFixture('java-snappy');
    const section = batch.subarray(61);
    expect(section.subarray(0, 16).toString('hex')).toBe('82534e41505059000000000100000001');
    const firstChunk = section.readInt32BE(16);
    expect(section.length).toBeGreaterThan(16 + 4 + firstChunk + 4); // a second chunk follows
  });

  it('reads a raw snappy block (librdkafka, sarama)', () => {
    expect(decompress('snappy', loadFixture('payload-snappy-raw')).equals(fixturePayload())).toBe(true);
  });

  it('reads an LZ4 frame with linked blocks, block and content checksums and a content size', () => {
    const frame = loadFixture('payload-lz4-linked-checksums');
    expect(frame[4]).toBe(0x5c); // version 01, linked, block checksum, content size, content checksum
    expect(decompress('lz4', frame).equals(fixturePayload())).toBe(true);
  });

  it("reads the Java client's streamed zstd frame, which does not declare its content size", () => {
    expect(loadFixture('java-zstd')[61 + 4]! & 0xc0).toBe(0);
  });

  it('reads two zstd frames back to back, neither declaring its content size', () => {
    const frames = loadFixture('payload-zstd-two-frames');
    expect(frames[4]! & 0xc0).toBe(0);
    expect(decompress('zstd', frames).equals(fixturePayload())).toBe(true);
  });
});

describe('format > compression > what we write, as other implementations read it', () => {
  it('writes xerial snappy byte-compatible with the Java client: its header, 32 KiB chunks, raw blocks', () => {
    const input = sampleInput(4, 100_000);
    const packed = compress('snappy', input);
    expect(packed.subarray(0, 16).equals(loadFixture('java-snappy').subarray(61, 77))).toBe(true);
    const chunks: Buffer[] = [];
    for (let pos = 16; pos < packed.length; ) {
      const length = packed.readInt32BE(pos);
      chunks.push(snappyjs.uncompress(packed.subarray(pos + 4, pos + 4 + length)));
      pos += 4 + length;
    }
    expect(chunks.map((c) => c.length)).toEqual([32768, 32768, 32768, 100_000 - 3 * 32768]);
    expect(Buffer.concat(chunks).equals(input)).toBe(true);
  });

  it('writes LZ4 frames that lz4_flex (lz4-napi) reads, with independent 64 KiB blocks as Java requires', () => {
    const javaLz4Header = loadFixture('java-lz4').subarray(61, 68); // 04224d18 60 40 82
    for (const input of [Buffer.alloc(0), sampleInput(5, 10), sampleInput(6, 300_000), prng(7).bytes(100_000)]) {
      const frame = compress('lz4', input);
      // lz4_flex checks the header checksum; the header is byte for byte the Java client's.
      expect(lz4Napi.decompressFrameSync(frame).equals(input)).toBe(true);
      expect(frame.subarray(0, 7).equals(javaLz4Header)).toBe(true);
      // Every block decodes on its own (no match reaches into an earlier block).
      let pos = 7;
      let offset = 0;
      for (let word = frame.readUInt32LE(pos); word !== 0; word = frame.readUInt32LE(pos)) {
        const stored = word >= 0x80000000;
        const size = stored ? word - 0x80000000 : word;
        const expected = input.subarray(offset, offset + 65536);
        const alone = Buffer.alloc(65536);
        const length = stored ? frame.copy(alone, 0, pos + 4, pos + 4 + size) : lz4js.decompressBlock(frame, alone, pos + 4, size, 0);
        expect(alone.subarray(0, length).equals(expected)).toBe(true);
        offset += length;
        pos += 4 + size;
      }
      expect(offset).toBe(input.length);
    }
  });

  it('writes standard zstd frames (fzstd reads what libzstd wrote; node:zlib on Node 22.15+)', () => {
    const input = sampleInput(8, 250_000);
    const packed = compress('zstd', input);
    expect(packed.readUInt32LE(0)).toBe(0xfd2fb528);
    expect(decompress('zstd', packed).equals(input)).toBe(true);
    const builtin = (zlib as { zstdDecompressSync?: (b: Buffer) => Buffer }).zstdDecompressSync;
    if (builtin !== undefined) expect(builtin(packed).equals(input)).toBe(true);
  });
});

describe('format > compression > encoder loading', () => {
  it('refuses zstd with UNSUPPORTED_COMPRESSION until its WASM encoder has loaded (Node before 22.15)', async () => {
    vi.resetModules();
    const fresh = await import('../../lib/format/compression.js');
    if ((zlib as { zstdCompressSync?: unknown }).zstdCompressSync !== undefined) {
      expect(fresh.isCompressionSupported('zstd')).toBe(true); // node:zlib: no loading at all
      return;
    }
    expect(fresh.isCompressionSupported('zstd')).toBe(false);
    expect(fresh.supportedCompressions).toEqual(['none', 'gzip', 'snappy', 'lz4']);
    // The fresh module graph has its own SpoolError class, so check the shape rather than instanceof.
    expect(() => fresh.compress('zstd', Buffer.from('x'))).toThrow(
      expect.objectContaining({
        code: 'UNSUPPORTED_COMPRESSION',
        message: expect.stringMatching(
          /^compression zstd cannot be encoded in this process: its WASM encoder .* is still loading; supported: none, gzip, snappy, lz4$/,
        ),
      }),
    );
    expect(fresh.decompress('zstd', compress('zstd', Buffer.from('decodes meanwhile'))).toString()).toBe('decodes meanwhile');
    await fresh.compressionReady();
    expect(fresh.isCompressionSupported('zstd')).toBe(true);
    expect(fresh.supportedCompressions).toEqual(['none', 'gzip', 'snappy', 'lz4', 'zstd']);
  });
});

describe('format > compression > malformed input', () => {
  it('reports garbage and truncated payloads as CORRUPT_RECORD for every codec', () => {
    for (const name of kafkaCodecs) {
      expectSpoolError(
        () => decompress(name, Buffer.from('definitely not compressed data')),
        'CORRUPT_RECORD',
        new RegExp(`^${name} records section does not decompress`),
      );
      const packed = compress(name, sampleInput(9, 50_000));
      for (const cut of [1, 5, 17, packed.length >> 1, packed.length - 1]) {
        expect(
          outcome(() => decompress(name, packed.subarray(0, cut))),
          `${name} cut at ${cut}`,
        ).toBe('CORRUPT_RECORD');
      }
    }
  });

  it('names what is wrong in a snappy stream', () => {
    const xerial = compress('snappy', sampleInput(10, 1000));
    const lying = Buffer.from(xerial);
    lying.writeInt32BE(1_000_000, 16);
    expectSpoolError(
      () => decompress('snappy', lying),
      'CORRUPT_RECORD',
      /xerial snappy chunk at byte 16 must be 1-\d+ bytes, got 1000000/,
    );
    // A raw block declaring ~1 GiB from 6 bytes: refused before anything is allocated.
    expectSpoolError(
      () => decompress('snappy', Buffer.from([0x80, 0x80, 0x80, 0x80, 0x04, 0x00])),
      'CORRUPT_RECORD',
      /declares 1073741824 uncompressed bytes/,
    );
  });

  it('names what is wrong in an LZ4 frame', () => {
    const frame = compress('lz4', sampleInput(11, 1000));
    const cases: [Buffer, RegExp][] = [
      [Buffer.concat([frame, Buffer.from([0])]), /lz4 frame must end at byte/],
      [Buffer.from(frame).fill(0xff, 7, 11), /lz4 block at byte 7 must be at most 65536 bytes/],
      [
        Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x61, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        /must not need a dictionary/,
      ],
      [Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0x10, 0x00, 0x00, 0x00, 0x01]), /lz4 block at byte 7 runs past the end/],
      [Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x20, 0x40, 0x82]), /lz4 frame version must be 01/],
    ];
    for (const [bytes, message] of cases) expectSpoolError(() => decompress('lz4', bytes), 'CORRUPT_RECORD', message);
  });

  it('names what is wrong in a zstd frame, and refuses windows over 128 MiB before allocating them', () => {
    const frame = compress('zstd', sampleInput(12, 1000));
    const hugeWindow = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xff, 0x01, 0x00, 0x00]); // 2^41-byte window, one empty raw block
    expectSpoolError(() => decompress('zstd', hugeWindow), 'CORRUPT_RECORD', /needs a \d+-byte window, more than the 134217728 allowed/);
    const reservedBlock = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x50, 0x07, 0x00, 0x00]);
    expectSpoolError(() => decompress('zstd', reservedBlock), 'CORRUPT_RECORD', /reserved type 3/);
    expectSpoolError(
      () => decompress('zstd', Buffer.concat([frame, Buffer.from([1, 2])])),
      'CORRUPT_RECORD',
      /zstd frame magic at byte \d+ is truncated/,
    );
    expectSpoolError(() => decompress('zstd', Buffer.alloc(0)), 'CORRUPT_RECORD', /zstd input is empty/);
  });

  it('refuses to inflate beyond maxOutputBytes with RECORD_TOO_LARGE, for every codec (decompression bombs)', () => {
    const zeros = Buffer.alloc(2_000_000);
    for (const name of kafkaCodecs) {
      const bomb = compress(name, zeros);
      expect(bomb.length, name).toBeLessThan(zeros.length / 20);
      expectSpoolError(
        () => decompress(name, bomb, 100_000),
        'RECORD_TOO_LARGE',
        `${name} records section must decompress to at most 100000 bytes, got more`,
      );
      expect(decompress(name, bomb, zeros.length).length).toBe(zeros.length);
    }
    // Declared sizes are refused up front: the LZ4 content size field, the zstd frame content size.
    expectSpoolError(() => decompress('lz4', loadFixture('payload-lz4-linked-checksums'), 1000), 'RECORD_TOO_LARGE');
    expectSpoolError(() => decompress('zstd', loadFixture('kafka-python-zstd').subarray(61), 1000), 'RECORD_TOO_LARGE');
  });

  it('survives random byte flips in every codec with only CORRUPT_RECORD or RECORD_TOO_LARGE (fuzz)', () => {
    const random = prng(15);
    for (const name of kafkaCodecs) {
      const packed = compress(name, sampleInput(16, 20_000));
      for (let n = 0; n < 300; n++) {
        const flipped = Buffer.from(packed);
        for (let f = random.int(1, 4); f > 0; f--) flipByte(flipped, random.int(0, flipped.length - 1), random.int(1, 255));
        expect(['ok', 'CORRUPT_RECORD', 'RECORD_TOO_LARGE'], name).toContain(outcome(() => decompress(name, flipped, 1_000_000)));
      }
      for (let n = 0; n < 200; n++) {
        const junk = Buffer.concat([packed.subarray(0, random.int(0, 12)), random.bytes(random.int(0, 64))]);
        expect(['ok', 'CORRUPT_RECORD', 'RECORD_TOO_LARGE'], name).toContain(outcome(() => decompress(name, junk)));
      }
    }
  });
});
