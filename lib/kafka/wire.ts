/**
 * The Kafka protocol's primitive types, read and written. Every API codec (apis/*.ts) is a list of
 * these calls, in the order of the grammar in its header comment.
 *
 *   type              classic encoding                 flexible ("compact") encoding
 *   STRING            int16 length + UTF-8             uvarint (length + 1) + UTF-8
 *   NULLABLE_STRING   int16 length, -1 = null          uvarint (length + 1), 0 = null
 *   BYTES             int32 length + bytes             uvarint (length + 1) + bytes
 *   ARRAY             int32 count, -1 = null           uvarint (count + 1), 0 = null
 *   TAGGED_FIELDS     (absent)                         uvarint count, then (tag, size, bytes)*
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
