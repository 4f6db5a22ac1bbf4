/**
 * Variable-length integers as Kafka encodes them (protobuf base-128, little-endian groups of 7 bits,
 * high bit = "more bytes follow").
 *
 * | kind    | value range        | wire format                                  | max bytes | used by                      |
 * |---------|--------------------|----------------------------------------------|-----------|------------------------------|
 * | varint  | int32              | zig-zag `(n << 1) ^ (n >> 31)`, then base-128 | 5         | record lengths and deltas    |
 * | varlong | int64 (safe JS int) | zig-zag over 64 bits, then base-128          | 10        | record timestampDelta        |
 * | uvarint | uint32             | base-128, no zig-zag                         | 5         | flexible protocol versions   |
 *
 * Decoding is strict: input that ends mid-varint, a varint longer than its maximum, or a last byte
 * carrying bits beyond the type's width (which Java would silently truncate) is CORRUPT_RECORD.
 * Encoding takes values the caller has range-checked; an out-of-range value is INVALID_ARGUMENT.
 * A varlong decodes to a JS number, so a value outside ±2^53 is reported as corrupt.
 */
import { SpoolError } from '../errors.js';
import type { ByteReader, ByteWriter } from './bytes.js';

export const MAX_VARINT_BYTES = 5;
export const MAX_VARLONG_BYTES = 10;

// ---------- sizes ----------

export function sizeOfUVarint(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

export function sizeOfVarint(value: number): number {
  return sizeOfUVarint(((value << 1) ^ (value >> 31)) >>> 0);
}

export function sizeOfVarlong(value: number): number {
  if ((value | 0) === value) return sizeOfVarint(value);
  let zigZag = zigZagEncode64(value);
  let size = 1;
  while (zigZag >= 0x80n) {
    zigZag >>= 7n;
    size++;
  }
  return size;
}

// ---------- encode ----------

export function writeUVarint(writer: ByteWriter, value: number): void {
  if (value >>> 0 !== value) {
    throw new SpoolError('INVALID_ARGUMENT', `unsigned varint must be an integer in [0, 2^32), got ${value}`);
  }
  writeUVarintUnchecked(writer, value);
}

function writeUVarintUnchecked(writer: ByteWriter, value: number): void {
  writer.ensure(MAX_VARINT_BYTES);
  const buf = writer.buf;
  let pos = writer.pos;
  while (value >= 0x80) {
    buf[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[pos++] = value;
  writer.pos = pos;
}

export function writeVarint(writer: ByteWriter, value: number): void {
  if ((value | 0) !== value) {
    throw new SpoolError('INVALID_ARGUMENT', `varint must be an int32, got ${value}`);
  }
  writeUVarintUnchecked(writer, ((value << 1) ^ (value >> 31)) >>> 0);
}

export function writeVarlong(writer: ByteWriter, value: number): void {
  if ((value | 0) === value) {
    writeUVarintUnchecked(writer, ((value << 1) ^ (value >> 31)) >>> 0);
    return;
  }
  if (!Number.isSafeInteger(value)) {
    throw new SpoolError('INVALID_ARGUMENT', `varlong must be a safe integer, got ${value}`);
  }
  // Beyond int32 the zig-zag value needs up to 54 bits: rare (timestamp deltas of > 12 days), so bigint.
  let zigZag = zigZagEncode64(value);
  writer.ensure(MAX_VARLONG_BYTES);
  const buf = writer.buf;
  let pos = writer.pos;
  while (zigZag >= 0x80n) {
    buf[pos++] = Number(zigZag & 0x7fn) | 0x80;
    zigZag >>= 7n;
  }
  buf[pos++] = Number(zigZag);
  writer.pos = pos;
}

function zigZagEncode64(value: number): bigint {
  const big = BigInt(value);
  return BigInt.asUintN(64, (big << 1n) ^ (big >> 63n));
}

// ---------- decode ----------

function varintError(reader: ByteReader, start: number, problem: string): SpoolError {
  return new SpoolError('CORRUPT_RECORD', `${reader.context}: ${problem} at position ${start}`, {
    details: { position: start },
  });
}

export function readUVarint(reader: ByteReader, what = 'varint'): number {
  const buf = reader.buf;
  const end = reader.end;
  const start = reader.pos;
  let pos = start;
  let result = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) throw varintError(reader, start, `${what} is truncated`);
    const byte = buf[pos++]!;
    result |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      reader.pos = pos;
      return result >>> 0;
    }
  }
  // Fifth byte: only 4 payload bits remain in 32.
  if (pos >= end) throw varintError(reader, start, `${what} is truncated`);
  const last = buf[pos++]!;
  if (last >= 0x80) throw varintError(reader, start, `${what} is longer than ${MAX_VARINT_BYTES} bytes`);
  if (last > 0x0f) throw varintError(reader, start, `${what} overflows 32 bits`);
  reader.pos = pos;
  return (result | (last << 28)) >>> 0;
}

export function readVarint(reader: ByteReader, what = 'varint'): number {
  const zigZag = readUVarint(reader, what);
  return (zigZag >>> 1) ^ -(zigZag & 1);
}

export function readVarlong(reader: ByteReader, what = 'varlong'): number {
  const buf = reader.buf;
  const end = reader.end;
  const start = reader.pos;
  let pos = start;
  // Up to 7 bytes (49 bits) the arithmetic is exact in a double; that covers every realistic delta.
  let zigZag = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    if (pos >= end) throw varintError(reader, start, `${what} is truncated`);
    const byte = buf[pos++]!;
    zigZag += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      reader.pos = pos;
      return zigZag % 2 === 0 ? zigZag / 2 : -(zigZag + 1) / 2;
    }
    scale *= 128;
  }
  let big = BigInt(zigZag);
  let shift = 49n;
  for (let i = 7; i < MAX_VARLONG_BYTES; i++) {
    if (pos >= end) throw varintError(reader, start, `${what} is truncated`);
    const byte = buf[pos++]!;
    if (i === MAX_VARLONG_BYTES - 1) {
      if (byte >= 0x80) throw varintError(reader, start, `${what} is longer than ${MAX_VARLONG_BYTES} bytes`);
      if (byte > 0x01) throw varintError(reader, start, `${what} overflows 64 bits`);
    }
    big |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) {
      const value = (big >> 1n) ^ -(big & 1n);
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw varintError(reader, start, `${what} must be within ±2^53, got ${value}`);
      }
      reader.pos = pos;
      return Number(value);
    }
    shift += 7n;
  }
  // Unreachable: the last iteration returns or throws.
  throw varintError(reader, start, `${what} is longer than ${MAX_VARLONG_BYTES} bytes`);
}
