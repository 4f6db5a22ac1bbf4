/**
 * The generated codecs against Apache Kafka's own: golden bytes that Kafka's generated message
 * classes wrote for JSON samples (fixtures/<api>.json, written by java/generate-fixtures.ts with
 * kafka-clients 4.4.0, and 3.9.1 for the versions Kafka 4 removed). For each case, decoding Kafka's
 * bytes gives the sample (with defaults for what the version does not carry), and encoding the
 * sample gives Kafka's bytes exactly: field order, compact and classic forms, nullable markers and
 * tagged fields (only those off their default, in tag order, sized) included.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KafkaReader, KafkaWriter } from '../../../lib/kafka/wire.js';
import { fromKafkaJson, schemas, versionSet, type FileDescriptor } from './samples.js';

interface Fixture {
  readonly cases: readonly {
    readonly message: string;
    readonly version: number;
    readonly kafka: string;
    readonly json: Record<string, unknown>;
    readonly hex: string;
  }[];
}

const fixturesDir = new URL('./fixtures/', import.meta.url);
const fixtures = readdirSync(fixturesDir)
  .filter((name) => name.endsWith('.json'))
  .map((name) => ({ name: name.replace(/\.json$/, ''), fixture: JSON.parse(readFileSync(new URL(name, fixturesDir), 'utf8')) as Fixture }));

async function codecFor(file: FileDescriptor, struct: string) {
  const module = (await import(`../../../lib/kafka/protocol/messages/${file.file}.ts`)) as Record<string, any>;
  const entry = file.exports.find((e) => e.struct === struct)!;
  const codec = module[entry.name];
  const side = entry.side === 'request' ? 'Request' : entry.side === 'response' ? 'Response' : '';
  return {
    flexibleFrom: codec.flexibleFrom as number | undefined,
    decode: (r: KafkaReader, v: number): unknown => (side ? codec[`decode${side}`](r, v) : codec.decode(r, v)),
    encode: (w: KafkaWriter, v: number, value: unknown): void => (side ? codec[`encode${side}`](w, v, value) : codec.encode(w, v, value)),
  };
}

/** How many tagged fields a sample sets, at any depth (a check that the fixtures exercise them). */
function taggedFieldsSet(file: FileDescriptor, struct: string, version: number, json: Record<string, unknown>): number {
  let count = 0;
  for (const field of file.structs[struct]!.fields) {
    const value = json[field.name];
    if (value === undefined || value === null) continue;
    if (versionSet(field.tagged).has(version)) count++;
    if (field.type === 'struct') {
      for (const item of field.array ? (value as Record<string, unknown>[]) : [value as Record<string, unknown>]) {
        count += taggedFieldsSet(file, field.struct!, version, item);
      }
    }
  }
  return count;
}

describe('kafka > protocol > conformance with Apache Kafka', () => {
  it('has fixtures for the APIs Spool serves most, both sides, classic and flexible versions, with tagged fields', () => {
    expect(fixtures.map((f) => f.name)).toEqual(
      expect.arrayContaining([
        'list-offsets',
        'metadata',
        'fetch',
        'produce',
        'offset-commit',
        'offset-fetch',
        'join-group',
        'api-versions',
        'create-topics',
        'describe-configs',
      ]),
    );
    let tagged = 0;
    for (const { name, fixture } of fixtures) {
      const file = schemas.files.find((f) => f.file === name)!;
      expect(new Set(fixture.cases.map((c) => c.message)).size).toBe(file.exports.length);
      expect(fixture.cases.some((c) => file.flexibleFrom === null || c.version < file.flexibleFrom)).toBe(true);
      for (const c of fixture.cases) tagged += taggedFieldsSet(file, c.message, c.version, c.json);
    }
    expect(tagged).toBeGreaterThan(20);
  });

  describe.each(fixtures)('$name', ({ name, fixture }) => {
    const file = schemas.files.find((f) => f.file === name)!;

    it.each(fixture.cases.map((c) => [`${c.message} v${c.version}`, c] as const))(
      "%s: decodes Kafka's bytes to the sample and encodes the sample to them",
      async (_, c) => {
        const codec = await codecFor(file, c.message);
        const flexible = codec.flexibleFrom !== undefined && c.version >= codec.flexibleFrom;
        const value = fromKafkaJson(file, c.message, c.version, c.json);

        const reader = new KafkaReader(Buffer.from(c.hex, 'hex'), flexible);
        expect(codec.decode(reader, c.version)).toEqual(value);
        expect(reader.remaining).toBe(0);

        const writer = new KafkaWriter(flexible);
        codec.encode(writer, c.version, value);
        expect(Buffer.concat(writer.finish()).toString('hex')).toBe(c.hex);
      },
    );
  });
});
