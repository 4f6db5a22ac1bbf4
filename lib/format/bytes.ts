/**
 * Big-endian byte cursors for the Kafka codecs: a growable `ByteWriter` and a bounded `ByteReader`.
 *
 * They exist so the codecs read as a list of fields and so every out-of-bounds read becomes a
 * `SpoolError('CORRUPT_RECORD')` naming the position, instead of a `RangeError` from Buffer. They do
 * not validate the numbers they are given: callers validate user input once, at the API boundary,
 * and then write without re-checking (this is the produce hot path).
 *
 * Integers wider than 32 bits are JS numbers here: Kafka offsets, millisecond timestamps and
 * producer ids fit in 2^53. A stored int64 outside the safe-integer range is reported as corrupt.
 */
import { SpoolError } from '../errors.js';

const TWO_POW_32 = 4294967296;

export class ByteWriter {
  /** Backing store; only `[0, pos)` is written. Replaced (copied) when it grows. */
  buf: Buffer;
  pos = 0;

  /** `capacity` is a hint: writing past it grows the buffer (doubling). Exact sizing avoids copies. */
  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(capacity, 16));
  }

  /** Make room for `byteCount` more bytes. */
  ensure(byteCount: number): void {
    if (this.pos + byteCount > this.buf.length) this.grow(byteCount);
  }

  private grow(byteCount: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + byteCount));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int8(value: number): void {
    this.ensure(1);
    this.buf[this.pos++] = value & 0xff;
  }

  int16(value: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(value, this.pos);
    this.pos += 2;
  }

  int32(value: number): void {
    this.ensure(4);
    this.buf.writeInt32BE(value, this.pos);
    this.pos += 4;
  }

  uint32(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(value, this.pos);
    this.pos += 4;
  }

  /** `value` must be a safe integer (callers check). */
  int64(value: number): void {
    this.ensure(8);
    writeInt64(this.buf, this.pos, value);
    this.pos += 8;
  }

  bytes(source: Uint8Array): void {
    this.ensure(source.length);
    this.buf.set(source, this.pos);
    this.pos += source.length;
  }

  /** Write `text` as UTF-8; `byteLength` must be `Buffer.byteLength(text)` (the caller already needed it). */
  utf8(text: string, byteLength: number): void {
    this.ensure(byteLength);
    this.pos += this.buf.write(text, this.pos, byteLength, 'utf8');
  }

  /** The written bytes (a view of the backing store, not a copy). */
  finish(): Buffer {
    return this.pos === this.buf.length ? this.buf : this.buf.subarray(0, this.pos);
  }
}

/** Write a safe integer as a big-endian two's-complement int64. */
export function writeInt64(buf: Buffer, pos: number, value: number): void {
  const high = Math.floor(value / TWO_POW_32);
  buf.writeInt32BE(high, pos);
  buf.writeUInt32BE(value - high * TWO_POW_32, pos + 4);
}

/** Read a big-endian int64, or `undefined` if it is outside the safe-integer range. */
export function readInt64(buf: Buffer, pos: number): number | undefined {
  const high = buf.readInt32BE(pos);
  // |value| < 2^53 needs high in [-2^21, 2^21); then the arithmetic below is exact.
  if (high < -0x200000 || high >= 0x200000) return undefined;
  const value = high * TWO_POW_32 + buf.readUInt32BE(pos + 4);
  return Number.isSafeInteger(value) ? value : undefined;
}

export class ByteReader {
  readonly buf: Buffer;
  pos: number;
  /** Reads stop here (exclusive). Codecs narrow it temporarily to parse a length-prefixed region. */
  end: number;
  /** Names the structure being read in error messages, e.g. "record batch at position 0". */
  readonly context: string;

  constructor(buf: Buffer, pos = 0, end = buf.length, context = 'input') {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.context = context;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throw CORRUPT_RECORD unless `byteCount` bytes remain; `what` names the field being read. */
  need(byteCount: number, what: string): void {
    if (byteCount > this.end - this.pos) throw this.truncated(byteCount, what);
  }

  truncated(byteCount: number, what: string): SpoolError {
    return new SpoolError(
      'CORRUPT_RECORD',
      `${this.context} is truncated: ${what} needs ${byteCount} bytes at position ${this.pos}, ` +
        `${Math.max(0, this.end - this.pos)} remain`,
      { details: { position: this.pos, needed: byteCount, remaining: this.end - this.pos } },
    );
  }

  int8(what = 'int8'): number {
    this.need(1, what);
    return this.buf.readInt8(this.pos++);
  }

  int16(what = 'int16'): number {
    this.need(2, what);
    const value = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return value;
  }

  int32(what = 'int32'): number {
    this.need(4, what);
    const value = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  uint32(what = 'uint32'): number {
    this.need(4, what);
    const value = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  int64(what = 'int64'): number {
    this.need(8, what);
    const value = readInt64(this.buf, this.pos);
    if (value === undefined) {
      throw new SpoolError(
        'CORRUPT_RECORD',
        `${this.context}: ${what} at position ${this.pos} must be within ±2^53, got ${this.buf.readBigInt64BE(this.pos)}`,
        { details: { position: this.pos } },
      );
    }
    this.pos += 8;
    return value;
  }

  /** The next `byteCount` bytes as a view of the input (no copy). */
  bytes(byteCount: number, what = 'bytes'): Buffer {
    this.need(byteCount, what);
    const view = this.buf.subarray(this.pos, this.pos + byteCount);
    this.pos += byteCount;
    return view;
  }

  utf8(byteCount: number, what = 'string'): string {
    this.need(byteCount, what);
    const text = this.buf.toString('utf8', this.pos, this.pos + byteCount);
    this.pos += byteCount;
    return text;
  }

  skip(byteCount: number, what = 'bytes'): void {
    this.need(byteCount, what);
    this.pos += byteCount;
  }
}
