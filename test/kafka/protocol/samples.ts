/**
 * Samples of every generated protocol message, built from schemas.json (the generator's description
 * of the structs it generated, written beside this file by scripts/kafka-protocol/generate.ts): a
 * value to encode, and the value its decoding must give (every field, defaults for what the version
 * does not carry). Deterministic for a seed, so a failure names the seed that reproduces it.
 *
 * Also the bridge to Kafka's own JSON form (its *DataJsonConverter classes): the conformance
 * fixtures hold samples in that form, with UUIDs in Kafka's base64 and bytes in base64.
 */
import { readFileSync } from 'node:fs';
import { prng } from '../../format/support.js';
import { uuidFromKafkaString, uuidToKafkaString } from '../../../lib/kafka/protocol/runtime.js';

export interface FieldDescriptor {
  readonly name: string;
  readonly type:
    | 'bool'
    | 'int8'
    | 'int16'
    | 'uint16'
    | 'int32'
    | 'uint32'
    | 'int64'
    | 'float64'
    | 'string'
    | 'bytes'
    | 'uuid'
    | 'records'
    | 'struct';
  readonly array?: true;
  readonly struct?: string;
  readonly versions: string;
  readonly nullable?: string;
  readonly tagged?: string;
  readonly tag?: number;
  /** The decoded default: a value, [] for an array, { struct } for a struct at its defaults, '' for empty bytes. */
  readonly default: number | boolean | string | null | readonly never[] | { readonly struct: string };
}

export interface FileDescriptor {
  readonly file: string;
  readonly kind: 'pair' | 'data';
  readonly exports: readonly {
    readonly name: string;
    readonly struct: string;
    readonly apiKey?: number;
    readonly side?: 'request' | 'response';
  }[];
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly flexibleFrom: number | null;
  readonly sources: readonly { readonly release: string; readonly versions: string }[];
  readonly structs: Readonly<Record<string, { readonly context: string; readonly fields: readonly FieldDescriptor[] }>>;
}

export const schemas = JSON.parse(readFileSync(new URL('./schemas.json', import.meta.url), 'utf8')) as {
  readonly generatedFrom: string;
  readonly files: readonly FileDescriptor[];
};

type Value = unknown;
type Struct = Record<string, Value>;

const setCache = new Map<string, ReadonlySet<number>>();

/** "0-3, 5" as a set. */
export function versionSet(text: string | undefined): ReadonlySet<number> {
  if (!text) return new Set();
  let set = setCache.get(text);
  if (set === undefined) {
    const versions = new Set<number>();
    for (const part of text.split(', ')) {
      const [lo, hi] = part.split('-').map(Number) as [number, number | undefined];
      for (let v = lo; v <= (hi ?? lo); v++) versions.add(v);
    }
    set = versions;
    setCache.set(text, set);
  }
  return set;
}

/** A small deterministic PRNG (mulberry32, test/format/support.ts): a number in [0, 1) per call. */
export function seeded(seed: number): () => number {
  return prng(seed).next;
}

function structOf(file: FileDescriptor, name: string) {
  const struct = file.structs[name];
  if (!struct) throw new Error(`${file.file}: no struct ${name}`);
  return struct;
}

/** The decoded default of a field. */
export function defaultOf(file: FileDescriptor, field: FieldDescriptor): Value {
  const value = field.default;
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return [];
  if (typeof value === 'object') return defaultStruct(file, (value as { struct: string }).struct);
  if (field.type === 'bytes' || field.type === 'records') return Buffer.alloc(0);
  return value;
}

export function defaultStruct(file: FileDescriptor, name: string): Struct {
  return Object.fromEntries(structOf(file, name).fields.map((f) => [f.name, defaultOf(file, f)]));
}

export interface SampleOptions {
  /**
   * For Kafka's JSON converters: every field the version carries is given (tagged ones mostly away
   * from their default), arrays have items, and numbers are ones JSON carries exactly (float64 with a fraction).
   */
  readonly complete?: boolean;
  /** Most items an array gets. @default 2 */
  readonly maxItems?: number;
}

export interface Sample {
  /** What to encode (an Encodable: fields may be missing; bytes may be given in parts). */
  readonly input: Struct;
  /** What decoding the encoding must give. */
  readonly expected: Struct;
}

const alphabet = ['a', 'b', 'z', '0', '-', '_', '.', 'é', 'ß', '漢', '🙂', ' '];

/** A sample of struct `name` at `version`. */
export function sample(file: FileDescriptor, name: string, version: number, random: () => number, options: SampleOptions = {}): Sample {
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

  const primitive = (type: FieldDescriptor['type']): { input: Value; expected: Value } => {
    switch (type) {
      case 'bool':
        return same(random() < 0.5);
      case 'int8':
        return same(pick([int(-128, 127), -128, 127, 0, -1]));
      case 'int16':
        return same(pick([int(-32768, 32767), -32768, 32767, 0, -1]));
      case 'uint16':
        return same(pick([int(0, 65535), 65535, 0]));
      case 'int32':
        return same(pick([int(-2147483648, 2147483647), -2147483648, 2147483647, 0, -1]));
      case 'uint32':
        return same(pick([int(0, 4294967295), 4294967295, 0]));
      case 'int64':
        return same(
          pick([
            int(-1000, 1000),
            Number.MAX_SAFE_INTEGER,
            Number.MIN_SAFE_INTEGER,
            int(-2147483648, 2147483647) * 2097152 + int(0, 2097151),
          ]),
        );
      case 'float64':
        if (options.complete) return same(pick([0.5, -1.25, 1e-7, 12345.678, int(-1000, 1000) + 0.5]));
        return same(pick([0, -0, 1.5, -1e300, Number.MIN_VALUE, Number.POSITIVE_INFINITY, Number.NaN, random() * 1e6]));
      case 'string':
        return same(Array.from({ length: int(0, 6) }, () => pick(alphabet)).join(''));
      case 'uuid': {
        const hex = Buffer.from(Array.from({ length: 16 }, () => int(0, 255))).toString('hex');
        return same(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`);
      }
      case 'bytes':
      case 'records': {
        const bytes = Buffer.from(Array.from({ length: int(0, 8) }, () => int(0, 255)));
        // Several buffers written as one field (KafkaWriter.bytesOf), sometimes.
        if (!options.complete && random() < 0.3)
          return { input: [bytes.subarray(0, 3), Buffer.alloc(0), bytes.subarray(3)], expected: bytes };
        return same(bytes);
      }
      case 'struct':
        throw new Error('structs are built by structSample');
    }
  };

  const sampleOf = (field: FieldDescriptor, nullable: boolean): { input: Value; expected: Value } => {
    if (nullable && random() < 0.2) return same(null);
    const one = (): { input: Value; expected: Value } => (field.type === 'struct' ? structSample(field.struct!) : primitive(field.type));
    if (!field.array) return one();
    const items = Array.from({ length: int(options.complete ? 1 : 0, options.maxItems ?? 2) }, one);
    return { input: items.map((i) => i.input), expected: items.map((i) => i.expected) };
  };

  const structSample = (structName: string): { input: Struct; expected: Struct } => {
    const input: Struct = {};
    const expected: Struct = {};
    for (const field of structOf(file, structName).fields) {
      const present = versionSet(field.versions).has(version);
      const nullable = versionSet(field.nullable).has(version);
      const tagged = versionSet(field.tagged).has(version);
      if (!present) {
        // A value the version cannot carry is not written: decoding gives the default.
        if (!options.complete && random() < 0.2) input[field.name] = sampleOf(field, false).input;
        expected[field.name] = defaultOf(file, field);
        continue;
      }
      const roll = random();
      if (!options.complete && roll < (tagged ? 0.4 : 0.15)) {
        // Left out: written as the default (tagged: not written at all).
        expected[field.name] = defaultOf(file, field);
        continue;
      }
      if (!options.complete && tagged && roll < 0.55) {
        const value = defaultOf(file, field);
        input[field.name] = value;
        expected[field.name] = value;
        continue;
      }
      const value = sampleOf(field, nullable);
      input[field.name] = value.input;
      expected[field.name] = value.expected;
    }
    return { input, expected };
  };

  return structSample(name);
}

function same(value: Value): { input: Value; expected: Value } {
  return { input: value, expected: value };
}

// ---------- Kafka's JSON form ----------

/** A decoded value in the form Kafka's *DataJsonConverter reads: only the fields the version carries. */
export function toKafkaJson(file: FileDescriptor, name: string, version: number, value: Struct): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of structOf(file, name).fields) {
    if (!versionSet(field.versions).has(version)) continue;
    const one = (v: Value): unknown => {
      if (v === null) return null;
      if (field.type === 'struct') return toKafkaJson(file, field.struct!, version, v as Struct);
      if (field.type === 'uuid') return uuidToKafkaString(v as string);
      if (field.type === 'bytes' || field.type === 'records') return (v as Buffer).toString('base64');
      return v;
    };
    const v = value[field.name];
    out[field.name] = field.array && v !== null ? (v as Value[]).map(one) : one(v);
  }
  return out;
}

/** Kafka's JSON form as the decoded value: UUIDs canonical, bytes as buffers, defaults for what the version does not carry. */
export function fromKafkaJson(file: FileDescriptor, name: string, version: number, json: Record<string, unknown>): Struct {
  const out: Struct = {};
  for (const field of structOf(file, name).fields) {
    if (!versionSet(field.versions).has(version) || !(field.name in json)) {
      out[field.name] = defaultOf(file, field);
      continue;
    }
    const one = (v: unknown): Value => {
      if (v === null) return null;
      if (field.type === 'struct') return fromKafkaJson(file, field.struct!, version, v as Record<string, unknown>);
      if (field.type === 'uuid') return uuidFromKafkaString(v as string);
      if (field.type === 'bytes' || field.type === 'records') return Buffer.from(v as string, 'base64');
      return v;
    };
    const v = json[field.name];
    out[field.name] = field.array && v !== null ? (v as unknown[]).map(one) : one(v);
  }
  return out;
}
