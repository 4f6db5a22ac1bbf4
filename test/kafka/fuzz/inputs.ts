/**
 * Fuzz inputs for the request decoders the server serves (lib/kafka/served.ts, every served version,
 * found at run time), and the check each input must pass. Shared by test/kafka/fuzz.test.ts (a
 * bounded run in CI) and test/kafka/fuzz/run.ts (`npm run fuzz`, a million inputs or more).
 *
 * Inputs are structure-aware: a valid request is encoded by the API's generated pair from a random
 * sample of its schema (test/kafka/protocol/samples.ts; records fields hold a real record batch),
 * through a writer that notes where every value, length prefix and tagged-field section lies; one of
 * those is then mutated (a value, a length made huge, negative, off by one or a malformed varint, a
 * tagged-field section given unknown, duplicate or oversized tags, a truncation at a boundary,
 * appended junk). Random bytes and random byte flips are mixed in.
 *
 * The check: decoding returns, or throws SpoolError('CORRUPT_RECORD'); nothing else. A decoded
 * request holds no array, buffer or string longer than its frame (so nothing was allocated from an
 * untrusted length). Everything is deterministic for (seed, index): a failure carries what
 * reproduces it.
 */
import { SpoolError } from '../../../lib/errors.js';
import { encodeRecordBatch } from '../../../lib/format/index.js';
import type { ApiCodec } from '../../../lib/kafka/api.js';
import { messagePairFor } from '../../../lib/kafka/protocol/index.js';
import type { MessagePair } from '../../../lib/kafka/protocol/runtime.js';
import { servedCodecs } from '../../../lib/kafka/served.js';
import { KafkaReader, KafkaWriter } from '../../../lib/kafka/wire.js';
import { type FileDescriptor, sample, schemas, seeded, versionSet } from '../protocol/samples.js';

/** The error codes a request decoder may throw. */
export const refusalCodes: ReadonlySet<string> = new Set(['CORRUPT_RECORD']);

/** One served API at one served version. */
export interface FuzzTarget {
  readonly codec: ApiCodec<unknown, unknown>;
  readonly version: number;
  readonly flexible: boolean;
  /** The generated pair and schema that encode valid requests, when the generated versions cover this one. */
  readonly pair?: MessagePair<unknown, unknown>;
  readonly file?: FileDescriptor;
  readonly struct?: string;
  /** e.g. "Fetch v11" */
  readonly label: string;
}

/** Every served codec at every version it serves, from the one table. */
export function fuzzTargets(codecs: readonly ApiCodec<unknown, unknown>[] = servedCodecs): FuzzTarget[] {
  const targets: FuzzTarget[] = [];
  for (const codec of codecs) {
    const pair = messagePairFor(codec.key);
    const file = schemas.files.find((f) => f.kind === 'pair' && f.exports.some((e) => e.apiKey === codec.key));
    const struct = file?.exports.find((e) => e.apiKey === codec.key && e.side === 'request')?.struct;
    for (let version = codec.minVersion; version <= codec.maxVersion; version++) {
      const flexible = codec.flexibleFrom !== undefined && version >= codec.flexibleFrom;
      const covered = pair !== undefined && version >= pair.minVersion && version <= pair.maxVersion;
      // The generated pair must agree on the layout (flexible or not) to encode for this codec.
      const agrees = covered && (pair.flexibleFrom !== undefined && version >= pair.flexibleFrom) === flexible;
      targets.push({
        codec,
        version,
        flexible,
        label: `${codec.name} v${version}`,
        ...(agrees && file && struct ? { pair, file, struct } : {}),
      });
    }
  }
  return targets;
}

// ---------- a writer that notes the layout ----------

type Region =
  | { readonly kind: 'value'; readonly start: number; readonly end: number; readonly varint: boolean }
  | { readonly kind: 'length'; readonly start: number; readonly end: number; readonly varint: boolean; readonly value: number }
  | { readonly kind: 'tags'; readonly start: number; readonly end: number };

/** A KafkaWriter that records where each primitive, length prefix and tagged-field section was written. */
class TracingWriter extends KafkaWriter {
  readonly regions: Region[] = [];
  private lengthNext = false;
  private inTags = 0;

  private note(write: () => void, varint: boolean): this {
    const start = this.sizeBytes;
    const isLength = this.lengthNext;
    this.lengthNext = false;
    write();
    if (this.inTags > 0) return this;
    const end = this.sizeBytes;
    if (isLength) {
      this.regions.push({ kind: 'length', start, end, varint, value: lastValue });
    } else this.regions.push({ kind: 'value', start, end, varint });
    return this;
  }

  override int8(value: number): this {
    lastValue = value;
    return this.note(() => super.int8(value), false);
  }
  override int16(value: number): this {
    lastValue = value;
    return this.note(() => super.int16(value), false);
  }
  override int32(value: number): this {
    lastValue = value;
    return this.note(() => super.int32(value), false);
  }
  override int64(value: number): this {
    return this.note(() => super.int64(value), false);
  }
  override uint16(value: number): this {
    return this.note(() => super.uint16(value), false);
  }
  override uint32(value: number): this {
    return this.note(() => super.uint32(value), false);
  }
  override float64(value: number): this {
    return this.note(() => super.float64(value), false);
  }
  override uuid(value: string): this {
    return this.note(() => super.uuid(value), false);
  }
  override uvarint(value: number): this {
    lastValue = value;
    return this.note(() => super.uvarint(value), true);
  }
  override nullableString(value: string | null): this {
    this.lengthNext = true;
    return super.nullableString(value);
  }
  override nullableBytes(value: Buffer | null): this {
    this.lengthNext = true;
    return super.nullableBytes(value);
  }
  override bytesOf(parts: readonly Buffer[]): this {
    this.lengthNext = true;
    return super.bytesOf(parts);
  }
  override array<T>(items: readonly T[], item: (writer: this, value: T) => void): this {
    this.lengthNext = true;
    return super.array(items, item);
  }
  override nullableArray<T>(items: readonly T[] | null, item: (writer: this, value: T) => void): this {
    this.lengthNext = items === null;
    return super.nullableArray(items, item);
  }
  override taggedFields(): this {
    return this.section(() => super.taggedFields());
  }
  override taggedFieldsOf(fields: Parameters<KafkaWriter['taggedFieldsOf']>[0]): this {
    return this.section(() => super.taggedFieldsOf(fields));
  }

  private section(write: () => void): this {
    if (!this.flexible) return this;
    const start = this.sizeBytes;
    this.inTags++;
    try {
      write();
    } finally {
      this.inTags--;
    }
    this.regions.push({ kind: 'tags', start, end: this.sizeBytes });
    return this;
  }
}
let lastValue = 0;

/** Records fields get a real record batch (so the mutations reach past the batch parser's first check). */
function withRecordBatches(file: FileDescriptor, struct: string, version: number, value: Record<string, unknown>, random: () => number) {
  for (const field of file.structs[struct]!.fields) {
    if (!versionSet(field.versions).has(version)) continue;
    const current = value[field.name];
    if (current === undefined || current === null) continue;
    if (field.type === 'records') {
      const count = 1 + Math.floor(random() * 3);
      value[field.name] = encodeRecordBatch(
        Array.from({ length: count }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`), timestampMs: 1000 + i })),
      );
    } else if (field.type === 'struct') {
      const items = field.array ? (current as Record<string, unknown>[]) : [current as Record<string, unknown>];
      for (const item of items) withRecordBatches(file, field.struct!, version, item, random);
    }
  }
}

/** A valid request body for the target, with the layout of what was written. */
export function validRequest(target: FuzzTarget, random: () => number): { bytes: Buffer; regions: readonly Region[] } | undefined {
  if (!target.pair || !target.file || !target.struct) return undefined;
  const { input } = sample(target.file, target.struct, target.version, random, { maxItems: 3 });
  withRecordBatches(target.file, target.struct, target.version, input, random);
  const writer = new TracingWriter(target.flexible);
  target.pair.encodeRequest(writer, target.version, input);
  return { bytes: Buffer.concat(writer.finish()), regions: writer.regions };
}

// ---------- mutations ----------

function uvarintBytes(value: number): Buffer {
  const out: number[] = [];
  let v = value >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

/** Varints that are not well formed: too long, bits beyond 32, non-minimal, cut off. */
const malformedVarints = [
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]),
  Buffer.from([0x80, 0x80, 0x80, 0x80, 0x00]),
  Buffer.from([0x81, 0x00]),
  Buffer.from([0x80]),
];

const splice = (bytes: Buffer, start: number, end: number, insert: Buffer): Buffer =>
  Buffer.concat([bytes.subarray(0, start), insert, bytes.subarray(end)]);

function randomBytes(random: () => number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

export type InputKind = 'valid' | 'value' | 'length' | 'tags' | 'truncate' | 'junk' | 'flips' | 'random';

export interface FuzzInput {
  readonly kind: InputKind;
  readonly bytes: Buffer;
}

/** One fuzz input for the target, from the random source. */
export function fuzzInput(target: FuzzTarget, random: () => number): FuzzInput {
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const valid = random() < 0.9 ? validRequest(target, random) : undefined;
  if (!valid) return { kind: 'random', bytes: randomBytes(random, pick([0, 1, 2, 4, 8, int(0, 64), int(0, 512)])) };
  const { bytes, regions } = valid;
  const of = <K extends Region['kind']>(kind: K) => regions.filter((r): r is Extract<Region, { kind: K }> => r.kind === kind);

  const roll = random();
  if (roll < 0.03) return { kind: 'valid', bytes };

  if (roll < 0.25) {
    const values = of('value');
    if (values.length > 0) {
      const region = pick(values);
      if (region.varint) return { kind: 'value', bytes: splice(bytes, region.start, region.end, mutatedUVarint(random)) };
      const out = Buffer.from(bytes);
      const width = region.end - region.start;
      const fill = pick(['random', 'max', 'zero', 'min', 'minus-one'] as const);
      for (let i = 0; i < width; i++) {
        out[region.start + i] =
          fill === 'random'
            ? int(0, 255)
            : fill === 'max'
              ? i === 0
                ? 0x7f
                : 0xff
              : fill === 'min'
                ? i === 0
                  ? 0x80
                  : 0
                : fill === 'zero'
                  ? 0
                  : 0xff;
      }
      return { kind: 'value', bytes: out };
    }
  }

  if (roll < 0.55) {
    const lengths = of('length');
    if (lengths.length > 0) {
      const region = pick(lengths);
      const left = bytes.length - region.end;
      if (region.varint) {
        // Compact: the varint holds length + 1 (0 = null).
        const choices = [0, 1, region.value - 1, region.value + 1, left + 1, left + 2, 0x7fffffff, 0xffffffff, 0x10000000];
        const insert = random() < 0.2 ? pick(malformedVarints) : uvarintBytes(Math.max(0, pick(choices)));
        return { kind: 'length', bytes: splice(bytes, region.start, region.end, insert) };
      }
      const out = Buffer.from(bytes);
      const width = region.end - region.start;
      const max = width === 2 ? 0x7fff : 0x7fffffff;
      const min = width === 2 ? -0x8000 : -0x80000000;
      const next = pick([-1, -2, min, max, region.value + 1, region.value - 1, left, left + 1, 0, int(min, max)]);
      const clamped = Math.min(max, Math.max(min, next));
      if (width === 2) out.writeInt16BE(clamped, region.start);
      else out.writeInt32BE(clamped, region.start);
      return { kind: 'length', bytes: out };
    }
  }

  if (roll < 0.72) {
    const sections = of('tags');
    if (sections.length > 0) return { kind: 'tags', bytes: mutatedTags(bytes, pick(sections), random) };
  }

  if (roll < 0.85) {
    const boundaries = [...new Set(regions.flatMap((r) => [r.start, r.end]))];
    const at = Math.max(0, Math.min(bytes.length - 1, pick(boundaries) + pick([0, 0, 0, -1, 1])));
    return { kind: 'truncate', bytes: bytes.subarray(0, at) };
  }

  if (roll < 0.9) return { kind: 'junk', bytes: Buffer.concat([bytes, randomBytes(random, int(1, 32))]) };

  const out = Buffer.from(bytes);
  if (out.length === 0) return { kind: 'random', bytes: randomBytes(random, int(1, 64)) };
  for (let n = int(1, 4); n > 0; n--) out[int(0, out.length - 1)] = int(0, 255);
  return { kind: 'flips', bytes: out };
}

function mutatedUVarint(random: () => number): Buffer {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  if (random() < 0.3) return pick(malformedVarints);
  return uvarintBytes(pick([0, 1, 2, 0x7f, 0x80, 0x3fff, 0x7fffffff, 0xffffffff, Math.floor(random() * 2 ** 32)]));
}

/**
 * A tagged-field section rewritten: the count changed, or fields added (unknown tags, a duplicate of
 * a field present, a tag known to the schema with an empty or oversized value, a huge size).
 */
function mutatedTags(bytes: Buffer, section: Region, random: () => number): Buffer {
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  // The section as written: count, then (tag, size, value)*.
  const reader = new KafkaReader(bytes.subarray(section.start, section.end), true, 'fuzz');
  const count = reader.uvarint('count');
  const fields: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const from = reader.bytes.pos;
    reader.uvarint('tag');
    reader.bytes.skip(reader.uvarint('size'), 'value');
    fields.push(bytes.subarray(section.start + from, section.start + reader.bytes.pos));
  }
  const field = (tag: number, value: Buffer) => Buffer.concat([uvarintBytes(tag), uvarintBytes(value.length), value]);
  const how = int(0, 6);
  let entries = fields;
  let declared: number | undefined;
  switch (how) {
    case 0: // unknown tags, in order or not
      entries = [
        ...fields,
        ...Array.from({ length: int(1, 3) }, () => field(pick([int(0, 10), 100, 0x7fffffff]), randomBytes(random, int(0, 8)))),
      ];
      break;
    case 1: // a duplicate of a field present, or of a new one
      entries = fields.length > 0 ? [...fields, pick(fields)] : [field(0, Buffer.alloc(0)), field(0, Buffer.alloc(0))];
      break;
    case 2: // a tag's value with a huge size
      entries = [
        ...fields,
        Buffer.concat([uvarintBytes(int(0, 5)), uvarintBytes(pick([0x7fffffff, 0xffffffff, 0x10000000])), randomBytes(random, 4)]),
      ];
      break;
    case 3: // a low (possibly known) tag with a value too short or too long for it
      entries = [field(int(0, 3), randomBytes(random, pick([0, 1, 3, 17]))), ...fields];
      break;
    case 4: // the count off by one, or huge
      declared = pick([count + 1, count === 0 ? 0 : count - 1, 0x7fffffff, 0xffffffff]);
      break;
    case 5: // a malformed varint for the count
      return splice(bytes, section.start, section.start + uvarintBytes(count).length, pick(malformedVarints));
    default: // fields in reverse order
      entries = [...fields].reverse().concat(field(int(0, 3), randomBytes(random, int(0, 4))));
  }
  const rebuilt = Buffer.concat([uvarintBytes(declared ?? entries.length), ...entries]);
  return splice(bytes, section.start, section.end, rebuilt);
}

// ---------- the check ----------

export class FuzzFailure extends Error {}

/**
 * Decodes `bytes` as the target's request: 'decoded', or 'refused' (SpoolError with a refusal
 * code). Anything else, or a decoded value holding more than the frame could, is a FuzzFailure.
 */
export function decodeChecked(target: FuzzTarget, bytes: Buffer): 'decoded' | 'refused' {
  let value: unknown;
  let thrown: unknown;
  largestAllocBytes = 0;
  tracking = true;
  try {
    value = target.codec.decodeRequest(new KafkaReader(bytes, target.flexible, `${target.label} request`), target.version);
  } catch (error) {
    thrown = error ?? new Error(`threw ${error}`);
  } finally {
    tracking = false;
  }
  if (largestAllocBytes > bytes.length) {
    throw new FuzzFailure(`${target.label}: allocated a buffer of ${largestAllocBytes} bytes for a ${bytes.length}-byte frame`);
  }
  if (thrown !== undefined) {
    if (thrown instanceof SpoolError && refusalCodes.has(thrown.code)) return 'refused';
    const detail =
      thrown instanceof SpoolError ? `SpoolError ${thrown.code}: ${thrown.message}` : String((thrown as Error)?.stack ?? thrown);
    throw new FuzzFailure(`${target.label}: threw ${detail}`);
  }
  const oversized = largestPart(value, bytes.length);
  if (oversized !== undefined) throw new FuzzFailure(`${target.label}: decoded ${oversized} from a ${bytes.length}-byte frame`);
  return 'decoded';
}

// Buffer allocations while a decoder runs, watched: the largest one must fit in the frame.
let tracking = false;
let largestAllocBytes = 0;
for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) {
  const original = Buffer[name] as (size: number, ...rest: unknown[]) => Buffer;
  (Buffer as unknown as Record<string, unknown>)[name] = function watched(size: number, ...rest: unknown[]): Buffer {
    if (tracking && size > largestAllocBytes) largestAllocBytes = size;
    return original.call(Buffer, size, ...rest);
  };
}

/** The first array, buffer or string in `value` longer than `frameBytes`, described; undefined if none. */
export function largestPart(value: unknown, frameBytes: number, seen = new Set<object>()): string | undefined {
  // A UUID decodes to 36 characters from 16 bytes, or stands as the all-zero default when absent.
  if (typeof value === 'string') return value.length > Math.max(frameBytes, 36) ? `a string of ${value.length} characters` : undefined;
  if (value === null || typeof value !== 'object' || seen.has(value)) return undefined;
  seen.add(value);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return value.length > frameBytes ? `a buffer of ${value.length} bytes` : undefined;
  }
  if (Array.isArray(value) && value.length > frameBytes) return `an array of ${value.length} items`;
  for (const item of Array.isArray(value) ? value : value instanceof Map ? [...value.values()] : Object.values(value)) {
    const found = largestPart(item, frameBytes, seen);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The seed of input `index` of a run seeded `seed` (each input reproducible on its own). */
export function inputSeed(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}

/** The input `index` of a run seeded `seed`, over `targets` (round robin). */
export function nthInput(targets: readonly FuzzTarget[], seed: number, index: number): { target: FuzzTarget; input: FuzzInput } {
  const target = targets[index % targets.length]!;
  return { target, input: fuzzInput(target, seeded(inputSeed(seed, index))) };
}
