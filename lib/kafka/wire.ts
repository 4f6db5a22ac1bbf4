/**
 * The Kafka protocol's primitive types, read and written. Every API codec (protocol/messages/*.ts) is a list of
 * these calls, in the order of the grammar in its header comment.
 *
 *   type              classic encoding                 flexible ("compact") encoding
 *   STRING            int16 length + UTF-8             uvarint (length + 1) + UTF-8
 *   NULLABLE_STRING   int16 length, -1 = null          uvarint (length + 1), 0 = null
 *   BYTES             int32 length + bytes             uvarint (length + 1) + bytes
 *   ARRAY             int32 count, -1 = null           uvarint (count + 1), 0 = null
 *   TAGGED_FIELDS     (absent)                         uvarint count, then (tag, size, bytes)*
 *   UINT16, UINT32    big-endian unsigned              same
 *   FLOAT64           big-endian IEEE 754 double       same
 *   UUID              16 bytes (a string "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" in lower-case hex here)
 *
 * Reads never run past the frame: every shortfall is `SpoolError('CORRUPT_RECORD')` naming the
 * field, which the server answers by closing the connection (the request cannot be parsed, so it
 * cannot be answered). Array counts are checked against the bytes left before anything is allocated,
 * so a hostile count cannot make the server allocate gigabytes.
 *
 * Writes collect small fields in one buffer and keep large byte fields (fetched record batches) as
 * separate chunks, so a Fetch response is written with `writev` without copying the batches.
 */
import { SpoolError } from '../errors.js';
import { ByteReader, ByteWriter } from '../format/bytes.js';
import { readUVarint, writeUVarint } from '../format/varint.js';

/** A tagged field to write: its tag, and the writer of its value (run against a flexible writer of its own, to learn its size). */
export type TaggedField = readonly [tag: number, write: (writer: KafkaWriter) => void];

const canonicalUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Byte fields at least this long are kept as their own chunk instead of being copied. */
const zeroCopyBytes = 4096;

export class KafkaReader {
  readonly bytes: ByteReader;

  constructor(
    buf: Buffer,
    /** Compact strings, arrays and tagged fields (the API version is flexible). */
    readonly flexible: boolean,
    context = 'request',
  ) {
    this.bytes = new ByteReader(buf, 0, buf.length, context);
  }

  get remaining(): number {
    return this.bytes.remaining;
  }

  int8(what: string): number {
    return this.bytes.int8(what);
  }

  bool(what: string): boolean {
    return this.bytes.int8(what) !== 0;
  }

  int16(what: string): number {
    return this.bytes.int16(what);
  }

  int32(what: string): number {
    return this.bytes.int32(what);
  }

  int64(what: string): number {
    return this.bytes.int64(what);
  }

  uuid(what: string): Buffer {
    return this.bytes.bytes(16, what);
  }

  /** A UUID as a canonical string (lower-case hex, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"). */
  uuidString(what: string): string {
    const hex = this.bytes.bytes(16, what).toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  uint16(what: string): number {
    this.bytes.need(2, what);
    const value = this.bytes.buf.readUInt16BE(this.bytes.pos);
    this.bytes.pos += 2;
    return value;
  }

  uint32(what: string): number {
    return this.bytes.uint32(what);
  }

  float64(what: string): number {
    this.bytes.need(8, what);
    const value = this.bytes.buf.readDoubleBE(this.bytes.pos);
    this.bytes.pos += 8;
    return value;
  }

  uvarint(what: string): number {
    return readUVarint(this.bytes, what);
  }

  string(what: string): string {
    const text = this.nullableString(what);
    if (text === null) throw this.invalid(`${what} must be a string, got null`);
    return text;
  }

  nullableString(what: string): string | null {
    const length = this.nullableLength(what, 'int16', 'length');
    return length === null ? null : this.bytes.utf8(length, what);
  }

  /** BYTES / NULLABLE_BYTES: a view of the frame, not a copy. */
  nullableBytes(what: string): Buffer | null {
    const length = this.nullableLength(what, 'int32', 'length');
    return length === null ? null : this.bytes.bytes(length, what);
  }

  bytesField(what: string): Buffer {
    const bytes = this.nullableBytes(what);
    if (bytes === null) throw this.invalid(`${what} must be bytes, got null`);
    return bytes;
  }

  /** An ARRAY of items; `null` only where the grammar says nullable (else an error). */
  array<T>(what: string, item: (reader: this, index: number) => T): T[] {
    const items = this.nullableArray(what, item);
    if (items === null) throw this.invalid(`${what} must be an array, got null`);
    return items;
  }

  nullableArray<T>(what: string, item: (reader: this, index: number) => T): T[] | null {
    const count = this.nullableLength(what, 'int32', 'count');
    if (count === null) return null;
    // Every item takes at least one byte: a larger count cannot be honest.
    if (count > this.bytes.remaining) {
      throw this.invalid(`${what} claims ${count} items but only ${this.bytes.remaining} bytes remain`);
    }
    const items: T[] = new Array(count);
    for (let i = 0; i < count; i++) items[i] = item(this, i);
    return items;
  }

  /** Skips a tagged-field section (flexible versions only); Spool reads no tagged fields yet. */
  taggedFields(what = 'tagged fields'): void {
    if (!this.flexible) return;
    const count = readUVarint(this.bytes, what);
    for (let i = 0; i < count; i++) {
      readUVarint(this.bytes, `${what} tag`);
      this.bytes.skip(readUVarint(this.bytes, `${what} size`), `${what} value`);
    }
  }

  /**
   * A tagged-field section (flexible versions only; nothing when classic). `field(tag)` reads the
   * value of a tag it knows and returns true, or returns false and the value is skipped. A value is
   * read within its own size: reading past it, or leaving part of it unread, is CORRUPT_RECORD.
   */
  readTaggedFields(what: string, field: (tag: number) => boolean): void {
    if (!this.flexible) return;
    const count = readUVarint(this.bytes, what);
    for (let i = 0; i < count; i++) {
      const tag = readUVarint(this.bytes, `${what} tag`);
      const size = readUVarint(this.bytes, `${what} size`);
      this.bytes.need(size, `${what} tag ${tag}`);
      const end = this.bytes.pos + size;
      const outerEnd = this.bytes.end;
      this.bytes.end = end;
      try {
        if (!field(tag)) this.bytes.pos = end;
      } finally {
        this.bytes.end = outerEnd;
      }
      if (this.bytes.pos !== end) {
        throw this.invalid(`${what} tag ${tag} has ${size} bytes, but its value took ${size - (end - this.bytes.pos)}`);
      }
    }
  }

  /** A length or count: uvarint (n + 1) when flexible, else `classic`; -1 (0 when flexible) is null. */
  private nullableLength(what: string, classic: 'int16' | 'int32', noun: 'length' | 'count'): number | null {
    const value = this.flexible ? readUVarint(this.bytes, what) - 1 : this.bytes[classic](what);
    if (value >= 0) return value;
    if (value === -1) return null;
    throw this.invalid(`${what} has ${noun} ${value}; expected -1 (null) or more`);
  }

  private invalid(message: string): SpoolError {
    return new SpoolError('CORRUPT_RECORD', `${this.bytes.context}: ${message}`, { details: { position: this.bytes.pos } });
  }
}

export class KafkaWriter {
  private current = new ByteWriter(1024);
  private readonly chunks: Buffer[] = [];
  private chunkBytes = 0;

  constructor(
    /** Compact strings, arrays and tagged fields (the API version is flexible). */
    readonly flexible = false,
  ) {}

  int8(value: number): this {
    this.current.int8(value);
    return this;
  }

  bool(value: boolean): this {
    return this.int8(value ? 1 : 0);
  }

  int16(value: number): this {
    this.current.int16(value);
    return this;
  }

  int32(value: number): this {
    this.current.int32(value);
    return this;
  }

  int64(value: number): this {
    this.current.int64(value);
    return this;
  }

  uvarint(value: number): this {
    writeUVarint(this.current, value);
    return this;
  }

  uint16(value: number): this {
    this.current.ensure(2);
    this.current.buf.writeUInt16BE(value, this.current.pos);
    this.current.pos += 2;
    return this;
  }

  uint32(value: number): this {
    this.current.uint32(value);
    return this;
  }

  float64(value: number): this {
    this.current.ensure(8);
    this.current.buf.writeDoubleBE(value, this.current.pos);
    this.current.pos += 8;
    return this;
  }

  /** A UUID given as a canonical string (either case). */
  uuid(value: string): this {
    if (!canonicalUuid.test(value)) {
      throw new SpoolError('INVALID_ARGUMENT', `uuid must be "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex), got "${value}"`);
    }
    this.current.bytes(Buffer.from(value.replaceAll('-', ''), 'hex'));
    return this;
  }

  string(value: string): this {
    return this.nullableString(value);
  }

  nullableString(value: string | null): this {
    if (value === null) return this.flexible ? this.uvarint(0) : this.int16(-1);
    const length = Buffer.byteLength(value);
    if (this.flexible) this.uvarint(length + 1);
    else this.int16(length);
    this.current.utf8(value, length);
    return this;
  }

  nullableBytes(value: Buffer | null): this {
    if (value === null) return this.flexible ? this.uvarint(0) : this.int32(-1);
    if (this.flexible) this.uvarint(value.length + 1);
    else this.int32(value.length);
    return this.raw(value);
  }

  /** A BYTES field made of several buffers, written as one (e.g. a partition's record batches). */
  bytesOf(parts: readonly Buffer[]): this {
    const length = parts.reduce((sum, part) => sum + part.length, 0);
    if (this.flexible) this.uvarint(length + 1);
    else this.int32(length);
    for (const part of parts) this.raw(part);
    return this;
  }

  array<T>(items: readonly T[], item: (writer: this, value: T) => void): this {
    if (this.flexible) this.uvarint(items.length + 1);
    else this.int32(items.length);
    for (const value of items) item(this, value);
    return this;
  }

  nullableArray<T>(items: readonly T[] | null, item: (writer: this, value: T) => void): this {
    if (items === null) return this.flexible ? this.uvarint(0) : this.int32(-1);
    return this.array(items, item);
  }

  /** An empty tagged-field section (flexible versions only). */
  taggedFields(): this {
    if (this.flexible) this.uvarint(0);
    return this;
  }

  /**
   * A tagged-field section (flexible versions only; nothing when classic): the fields given, which
   * must be in tag order; `undefined` entries (fields left at their default) are not written.
   */
  taggedFieldsOf(fields: readonly (TaggedField | undefined)[]): this {
    if (!this.flexible) return this;
    const present = fields.filter((field): field is TaggedField => field !== undefined);
    this.uvarint(present.length);
    for (const [tag, write] of present) {
      const value = new KafkaWriter(true);
      write(value);
      this.uvarint(tag).uvarint(value.sizeBytes);
      for (const chunk of value.finish()) this.raw(chunk);
    }
    return this;
  }

  /** Bytes as they are: copied when small, kept by reference when large. */
  raw(bytes: Buffer): this {
    if (bytes.length < zeroCopyBytes) {
      this.current.bytes(bytes);
      return this;
    }
    this.flush();
    this.chunks.push(bytes);
    this.chunkBytes += bytes.length;
    return this;
  }

  get sizeBytes(): number {
    return this.chunkBytes + this.current.pos;
  }

  /** The written bytes as a list of buffers, in order. */
  finish(): Buffer[] {
    this.flush();
    return this.chunks;
  }

  private flush(): void {
    if (this.current.pos === 0) return;
    const written = this.current.finish();
    this.chunks.push(written);
    this.chunkBytes += written.length;
    this.current = new ByteWriter(1024);
  }
}
