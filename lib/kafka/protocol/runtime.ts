/**
 * What the generated protocol messages (messages/*.ts, written by scripts/kafka-protocol/generate.ts)
 * share: the `MessagePair` each API exports (codecs, and for the APIs served an `errorResponse`),
 * the `Encodable` form a message is encoded from, and the UUID forms.
 *
 * Invariants the generated code keeps:
 * - A decoded message has every field of its schema, readonly: a field the version does not carry
 *   holds the schema's default, so handlers never test versions to read a field.
 * - An encoded message carries exactly the fields of its version; a field left out of the
 *   `Encodable` is written as the schema's default, and a tagged field is written only when it
 *   differs from its default.
 * - Decoding reads through `KafkaReader` only, so malformed input is `SpoolError('CORRUPT_RECORD')`
 *   and never a read past the frame. The reader (writer) must be flexible exactly for the flexible
 *   versions; a version outside the pair's range is `INVALID_ARGUMENT` (the server checks first).
 * - A UUID is a canonical string, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" in lower-case hex (Spool's
 *   topic ids already are); Kafka shows the same 16 bytes as URL-safe base64 without padding.
 * - int64 is a JS number: KafkaReader.int64 refuses values beyond ±2^53. A schema default beyond it
 *   (Fetch's HighWatermark, Long.MAX_VALUE) stands as Number.MAX_SAFE_INTEGER.
 */
import { SpoolError } from '../../errors.js';
import type { KafkaReader, KafkaWriter } from '../wire.js';

/**
 * The form a message is encoded from: its decoded form with every field optional (a missing field
 * is written as the schema's default), and every bytes or records field also accepting several
 * buffers, written as one field without copying them (KafkaWriter.bytesOf).
 */
export type Encodable<T> = T extends Buffer
  ? Buffer | readonly Buffer[]
  : T extends readonly (infer Element)[]
    ? readonly Encodable<Element>[]
    : T extends object
      ? { readonly [K in keyof T]?: Encodable<T[K]> }
      : T;

/** One API's request and response codecs, for the versions generated. */
export interface MessagePair<Req, Res> {
  readonly apiKey: number;
  /** e.g. "ListOffsets" */
  readonly name: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  /** The first flexible (compact, tagged-field) version; undefined when no version is. */
  readonly flexibleFrom: number | undefined;
  decodeRequest(r: KafkaReader, version: number): Req;
  encodeRequest(w: KafkaWriter, version: number, value: Encodable<Req>): void;
  decodeResponse(r: KafkaReader, version: number): Res;
  encodeResponse(w: KafkaWriter, version: number, value: Encodable<Res>): void;
  /**
   * The answer to a request refused as a whole (Kafka's AbstractRequest.getErrorResponse): the error
   * at the top and in every item answered (topic, partition, group, resource…), each echoing the keys
   * of the request item it answers; the message in every error message field the version has.
   * Generated for the APIs scripts/kafka-protocol/error-responses.ts lists (every served one).
   */
  errorResponse?(request: Req, version: number, errorCode: number, errorMessage?: string | null): Encodable<Res>;
}

/** A generated errorResponse: see MessagePair.errorResponse. */
export type ErrorResponse<Req, Res> = (request: Req, version: number, errorCode: number, errorMessage?: string | null) => Encodable<Res>;

/** A versioned data schema that is not a request or response (the consumer protocol's subscription and assignment). */
export interface MessageData<T> {
  readonly name: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly flexibleFrom: number | undefined;
  decode(r: KafkaReader, version: number): T;
  encode(w: KafkaWriter, version: number, value: Encodable<T>): void;
}

// ---------- UUIDs ----------

export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

const canonicalUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(value: string): boolean {
  return canonicalUuid.test(value);
}

/** Kafka's display form of a UUID (Uuid.toString): the 16 bytes in URL-safe base64, without padding. */
export function uuidToKafkaString(uuid: string): string {
  if (!isUuid(uuid))
    throw new SpoolError('INVALID_ARGUMENT', `uuid must be "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" in lower-case hex, got "${uuid}"`);
  return Buffer.from(uuid.replaceAll('-', ''), 'hex').toString('base64url');
}

/** The canonical form of a UUID shown by Kafka (Uuid.fromString): 22 characters of URL-safe base64. */
export function uuidFromKafkaString(text: string): string {
  const bytes = /^[A-Za-z0-9_-]{22}$/.test(text) ? Buffer.from(text, 'base64url') : undefined;
  if (bytes?.length !== 16 || bytes.toString('base64url') !== text) {
    throw new SpoolError('INVALID_ARGUMENT', `a Kafka uuid must be 22 characters of URL-safe base64, got "${text}"`);
  }
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------- used by the generated code ----------

/** The default of a non-nullable bytes field. Shared: a zero-length buffer cannot be changed. */
export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

/** A bytes or records field: one buffer, several written as one (without copying), or null. */
export function writeBytes(w: KafkaWriter, value: Buffer | readonly Buffer[] | null): void {
  if (value === null || Buffer.isBuffer(value)) w.nullableBytes(value as Buffer | null);
  else w.bytesOf(value as readonly Buffer[]);
}

export function bytesLength(value: Buffer | readonly Buffer[]): number {
  return Buffer.isBuffer(value) ? value.length : (value as readonly Buffer[]).reduce((sum, part) => sum + part.length, 0);
}

/** A value for a field that cannot be null in the version being written. */
export function notNull<T>(value: T | null, what: string): T {
  if (value === null) throw new SpoolError('INVALID_ARGUMENT', `${what} cannot be null in this version`);
  return value;
}

interface Codec<T> {
  read(r: KafkaReader, version: number): T;
  write(w: KafkaWriter, version: number, value: Encodable<T>): void;
}

interface Versioned {
  readonly name: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly flexibleFrom: number | undefined;
}

function checked<T>(spec: Versioned, what: string, codec: Codec<T>): Codec<T> {
  const check = (version: number, flexible: boolean): void => {
    if (!Number.isInteger(version) || version < spec.minVersion || version > spec.maxVersion) {
      throw new SpoolError(
        'INVALID_ARGUMENT',
        `${spec.name} ${what} version must be in [${spec.minVersion}, ${spec.maxVersion}], got ${version}`,
      );
    }
    const expected = spec.flexibleFrom !== undefined && version >= spec.flexibleFrom;
    if (flexible !== expected) {
      throw new SpoolError(
        'INVALID_ARGUMENT',
        `${spec.name} ${what} v${version} is ${expected ? 'flexible' : 'classic'}, but the reader or writer given is ${flexible ? 'flexible' : 'classic'}`,
      );
    }
  };
  return {
    read(r, version) {
      check(version, r.flexible);
      return codec.read(r, version);
    },
    write(w, version, value) {
      check(version, w.flexible);
      codec.write(w, version, value);
    },
  };
}

export function messagePair<Req, Res>(
  spec: Versioned & {
    readonly apiKey: number;
    readonly request: Codec<Req>;
    readonly response: Codec<Res>;
    readonly errorResponse?: ErrorResponse<Req, Res>;
  },
): MessagePair<Req, Res> {
  const request = checked(spec, 'request', spec.request);
  const response = checked(spec, 'response', spec.response);
  return {
    apiKey: spec.apiKey,
    name: spec.name,
    minVersion: spec.minVersion,
    maxVersion: spec.maxVersion,
    flexibleFrom: spec.flexibleFrom,
    decodeRequest: request.read,
    encodeRequest: request.write,
    decodeResponse: response.read,
    encodeResponse: response.write,
    ...(spec.errorResponse ? { errorResponse: spec.errorResponse } : {}),
  };
}

export function messageData<T>(spec: Versioned & Codec<T>): MessageData<T> {
  const codec = checked(spec, 'data', spec);
  return {
    name: spec.name,
    minVersion: spec.minVersion,
    maxVersion: spec.maxVersion,
    flexibleFrom: spec.flexibleFrom,
    decode: codec.read,
    encode: codec.write,
  };
}
