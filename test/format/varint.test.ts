import { describe, expect, it } from 'vitest';
import {
  ByteReader,
  ByteWriter,
  readUVarint,
  readVarint,
  readVarlong,
  sizeOfUVarint,
  sizeOfVarint,
  sizeOfVarlong,
  writeUVarint,
  writeVarint,
  writeVarlong,
} from '../../lib/format/index.js';
import { expectSpoolError, prng, requireCjs } from './support.js';

const KafkajsEncoder = requireCjs('kafkajs/src/protocol/encoder') as new () => {
  writeVarInt(n: number): unknown;
  writeVarLong(n: unknown): unknown;
  writeUVarInt(n: number): unknown;
  buffer: Buffer;
};
const Long = requireCjs('kafkajs/src/utils/long') as { fromString(s: string): unknown };

function encode(write: (w: ByteWriter) => void): Buffer {
  const writer = new ByteWriter(1);
  write(writer);
  return Buffer.from(writer.finish());
}

function reader(hex: string): ByteReader {
  return new ByteReader(Buffer.from(hex, 'hex'));
}

// Values and their bytes follow from the zig-zag + base-128 definitions (Kafka's ByteUtils).
const varintVectors: ReadonlyArray<readonly [number, string]> = [
  [0, '00'],
  [-1, '01'],
  [1, '02'],
  [-64, '7f'],
  [63, '7e'],
  [64, '8001'],
  [300, 'd804'],
  [2147483647, 'feffffff0f'],
  [-2147483648, 'ffffffff0f'],
];

describe('format > varint', () => {
  it('encodes zig-zag varints as Kafka does', () => {
    for (const [value, hex] of varintVectors) {
      expect(encode((w) => writeVarint(w, value)).toString('hex'), String(value)).toBe(hex);
      expect(readVarint(reader(hex)), hex).toBe(value);
      expect(sizeOfVarint(value)).toBe(hex.length / 2);
    }
  });

  it('matches the kafkajs encoder for random int32 varints and int64 varlongs', () => {
    const random = prng(1);
    for (let i = 0; i < 2000; i++) {
      const bits = random.int(0, 31);
      const int32 = (Math.floor(random.next() * 2 ** bits) * (random.bool() ? 1 : -1)) | 0;
      const expected32 = new KafkajsEncoder();
      expected32.writeVarInt(int32);
      expect(encode((w) => writeVarint(w, int32)).equals(expected32.buffer), String(int32)).toBe(true);

      const long = Math.floor(random.next() * 2 ** random.int(0, 53)) * (random.bool() ? 1 : -1);
      const expected64 = new KafkajsEncoder();
      expected64.writeVarLong(Long.fromString(String(long)));
      expect(encode((w) => writeVarlong(w, long)).equals(expected64.buffer), String(long)).toBe(true);
    }
  });

  it('round-trips int32 varints, safe-integer varlongs and uint32 uvarints, with sizes to match', () => {
    const random = prng(2);
    const longs = [0, -1, 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    for (let i = 0; i < 2000; i++) {
      const magnitude = Math.floor(random.next() * 2 ** random.int(0, 53));
      longs.push(random.bool() ? magnitude : -magnitude || 0); // no -0: it encodes as 0
    }
    for (const value of longs) {
      const bytes = encode((w) => writeVarlong(w, value));
      expect(bytes.length).toBe(sizeOfVarlong(value));
      const r = new ByteReader(bytes);
      expect(readVarlong(r)).toBe(value);
      expect(r.pos).toBe(bytes.length);
    }
    for (let i = 0; i < 2000; i++) {
      const int32 = random.int(-(2 ** 31), 2 ** 31 - 1);
      const bytes = encode((w) => writeVarint(w, int32));
      expect(bytes.length).toBe(sizeOfVarint(int32));
      expect(readVarint(new ByteReader(bytes))).toBe(int32);

      const uint32 = random.int(0, 2 ** 32 - 1);
      const ubytes = encode((w) => writeUVarint(w, uint32));
      expect(ubytes.length).toBe(sizeOfUVarint(uint32));
      expect(readUVarint(new ByteReader(ubytes))).toBe(uint32);
    }
  });

  it('encodes unsigned varints without zig-zag', () => {
    expect(encode((w) => writeUVarint(w, 0)).toString('hex')).toBe('00');
    expect(encode((w) => writeUVarint(w, 300)).toString('hex')).toBe('ac02');
    expect(encode((w) => writeUVarint(w, 2 ** 32 - 1)).toString('hex')).toBe('ffffffff0f');
  });

  it('reports input that ends inside a varint as truncated', () => {
    for (const read of [readVarint, readUVarint, readVarlong]) {
      expectSpoolError(() => read(reader('')), 'CORRUPT_RECORD', /truncated at position 0/);
      expectSpoolError(() => read(reader('8080')), 'CORRUPT_RECORD', /truncated/);
    }
    expectSpoolError(() => readVarlong(reader('ffffffffffffffff')), 'CORRUPT_RECORD', /truncated/);
  });

  it('rejects varints longer than 5 bytes and varlongs longer than 10', () => {
    expectSpoolError(() => readVarint(reader('808080808000')), 'CORRUPT_RECORD', /longer than 5 bytes/);
    expectSpoolError(() => readUVarint(reader('ffffffffff01')), 'CORRUPT_RECORD', /longer than 5 bytes/);
    expectSpoolError(() => readVarlong(reader('8080808080808080808000')), 'CORRUPT_RECORD', /longer than 10 bytes/);
  });

  it('rejects a last byte with bits beyond the type width', () => {
    expectSpoolError(() => readVarint(reader('ffffffff10')), 'CORRUPT_RECORD', /overflows 32 bits/);
    expectSpoolError(() => readVarlong(reader('ffffffffffffffffff02')), 'CORRUPT_RECORD', /overflows 64 bits/);
  });

  it('reports varlongs outside ±2^53 as corrupt rather than rounding them', () => {
    // zig-zag(2^53) = 2^54: 8 bytes
    const bytes = encodeBig(2n ** 54n);
    expectSpoolError(() => readVarlong(new ByteReader(bytes)), 'CORRUPT_RECORD', /within ±2\^53, got 9007199254740992/);
    // int64 min: zig-zag 2^64 - 1, the full 10 bytes
    expectSpoolError(() => readVarlong(reader('ffffffffffffffffff01')), 'CORRUPT_RECORD', /-9223372036854775808/);
  });

  it('refuses to encode values outside the type', () => {
    expectSpoolError(() => writeVarint(new ByteWriter(), 2 ** 31), 'INVALID_ARGUMENT', /int32, got 2147483648/);
    expectSpoolError(() => writeVarint(new ByteWriter(), 1.5), 'INVALID_ARGUMENT');
    expectSpoolError(() => writeUVarint(new ByteWriter(), -1), 'INVALID_ARGUMENT');
    expectSpoolError(() => writeVarlong(new ByteWriter(), 2 ** 53), 'INVALID_ARGUMENT', /safe integer/);
  });

  it('stops at the reader end, not the buffer end', () => {
    const r = new ByteReader(Buffer.from('d804', 'hex'), 0, 1, 'test input');
    expectSpoolError(() => readVarint(r), 'CORRUPT_RECORD', /^test input: varint is truncated/);
  });
});

describe('format > bytes', () => {
  it('grows the writer as needed and writes big-endian fields', () => {
    const writer = new ByteWriter(1);
    writer.int8(-1);
    writer.int16(-2);
    writer.int32(-3);
    writer.uint32(0xfffffffe);
    writer.int64(-4);
    writer.int64(Number.MAX_SAFE_INTEGER);
    writer.bytes(Buffer.from('ab'));
    writer.utf8('é', 2);
    expect(writer.finish().toString('hex')).toBe(
      'ff' + 'fffe' + 'fffffffd' + 'fffffffe' + 'fffffffffffffffc' + '001fffffffffffff' + '6162' + 'c3a9',
    );
  });

  it('reads the same fields back and names the field on truncation', () => {
    const r = new ByteReader(Buffer.from('fffffefffffffdfffffffffffffffc001fffffffffffff', 'hex'), 0, undefined, 'demo');
    expect([r.int8(), r.int16(), r.int32(), r.int64(), r.int64()]).toEqual([-1, -2, -3, -4, Number.MAX_SAFE_INTEGER]);
    expectSpoolError(() => r.int32('field x'), 'CORRUPT_RECORD', 'demo is truncated: field x needs 4 bytes at position 23, 0 remain');
  });

  it('reports an int64 outside ±2^53 as corrupt', () => {
    const r = new ByteReader(Buffer.from('0020000000000000', 'hex'));
    expectSpoolError(() => r.int64('offset'), 'CORRUPT_RECORD', /offset at position 0 must be within ±2\^53, got 9007199254740992/);
  });
});

function encodeBig(zigZag: bigint): Buffer {
  const out: number[] = [];
  while (zigZag >= 0x80n) {
    out.push(Number(zigZag & 0x7fn) | 0x80);
    zigZag >>= 7n;
  }
  out.push(Number(zigZag));
  return Buffer.from(out);
}
