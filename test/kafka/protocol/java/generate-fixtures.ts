/**
 * Writes the golden fixtures of conformance.test.ts (test/kafka/protocol/fixtures/<api>.json):
 * samples of a representative set of APIs, at every version, both sides, encoded by Apache Kafka's
 * own generated message classes (EncodeSamples.java beside this file).
 *
 *   node --import tsx test/kafka/protocol/java/generate-fixtures.ts
 *
 * Needs Java 17+ and Maven (which fetch kafka-clients and Jackson from Maven Central). Each version
 * is encoded by the release that defines it in the generated code (schemas.json names it: 4.4.0 for
 * the current versions, 3.9.1 for those Kafka 4 removed). Samples are deterministic (seeded per API,
 * side and version), give every field the version carries, and set tagged fields away from their
 * defaults where they can. A sample Kafka refuses, or does not read back as it was given, stops the
 * script: a fixture must show Kafka's encoding of exactly the value the test compares against.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { compactJson } from '../../../../scripts/kafka-protocol/emit.js';
import { fromKafkaJson, sample, schemas, seeded, toKafkaJson, versionSet, type FileDescriptor } from '../samples.js';

/** The APIs with fixtures: what Spool serves most, flexible and classic versions, tagged fields. */
export const fixtureApis = [
  'produce',
  'fetch',
  'list-offsets',
  'metadata',
  'offset-commit',
  'offset-fetch',
  'join-group',
  'sync-group',
  'api-versions',
  'create-topics',
  'describe-configs',
  'consumer-protocol',
];

const javaDir = new URL('./', import.meta.url).pathname;
const fixturesDir = new URL('../fixtures/', import.meta.url).pathname;

interface Case {
  readonly file: FileDescriptor;
  readonly struct: string;
  readonly className: string;
  readonly version: number;
  readonly release: string;
  readonly json: Record<string, unknown>;
}

function seedOf(text: string): number {
  let hash = 0x811c9dc5;
  for (const c of text) hash = Math.imul(hash ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return hash;
}

function casesOf(file: FileDescriptor): Case[] {
  const cases: Case[] = [];
  for (const entry of file.exports) {
    for (let version = file.minVersion; version <= file.maxVersion; version++) {
      const release = file.sources.find((s) => versionSet(s.versions).has(version))!.release;
      const { expected } = sample(file, entry.struct, version, seeded(seedOf(`${file.file}:${entry.struct}:${version}`)), {
        complete: true,
        maxItems: 2,
      });
      cases.push({
        file,
        struct: entry.struct,
        className: file.kind === 'pair' ? `${entry.struct}Data` : entry.struct,
        version,
        release,
        json: toKafkaJson(file, entry.struct, version, expected),
      });
    }
  }
  return cases;
}

/** Runs a command quietly; its output is shown only when it fails. */
function run(command: string, args: readonly string[], input?: string): Buffer {
  try {
    return execFileSync(command, args, { input, stdio: 'pipe', maxBuffer: 256 * 1024 * 1024 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout?.toString() ?? ''}${stderr?.toString() ?? ''}`, { cause: error });
  }
}

function mvn(...args: string[]): void {
  run('mvn', ['-q', '-B', '-f', `${javaDir}pom.xml`, ...args]);
}

function encodeWithKafka(release: string, cases: readonly Case[]): { hex?: string; readBack?: Record<string, unknown>; error?: string }[] {
  const classpathFile = `${javaDir}target/classpath-${release}.txt`;
  mvn(`-Dkafka.version=${release}`, 'dependency:build-classpath', `-Dmdep.outputFile=${classpathFile}`);
  const classpath = `${javaDir}target/classes:${readFileSync(classpathFile, 'utf8').trim()}`;
  const input = JSON.stringify(cases.map((c) => ({ className: c.className, version: c.version, json: c.json })));
  const output = run('java', ['-cp', classpath, 'spool.fixtures.EncodeSamples'], input);
  return JSON.parse(output.toString('utf8'));
}

/** A decoded value with its records fields emptied. */
function withoutRecords(file: FileDescriptor, struct: string, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  for (const field of file.structs[struct]!.fields) {
    const v = out[field.name];
    if (field.type === 'records') out[field.name] = null;
    else if (field.type === 'struct' && v !== null && v !== undefined) {
      const one = (item: unknown) => withoutRecords(file, field.struct!, item as Record<string, unknown>);
      out[field.name] = field.array ? (v as unknown[]).map(one) : one(v);
    }
  }
  return out;
}

function main(): void {
  mvn('compile');
  const files = fixtureApis.map((name) => {
    const file = schemas.files.find((f) => f.file === name);
    if (!file) throw new Error(`schemas.json has no ${name}`);
    return file;
  });
  const cases = files.flatMap(casesOf);
  const hexes = new Map<Case, string>();
  for (const release of new Set(cases.map((c) => c.release))) {
    const batch = cases.filter((c) => c.release === release);
    encodeWithKafka(release, batch).forEach((result, i) => {
      const c = batch[i]!;
      const what = `${c.struct} v${c.version} (Kafka ${release})`;
      if (result.error !== undefined || result.hex === undefined) throw new Error(`${what}: Kafka refused the sample: ${result.error}`);
      // Kafka's converter shows records it has read as an empty buffer; their bytes are checked by the hex.
      const given = withoutRecords(c.file, c.struct, fromKafkaJson(c.file, c.struct, c.version, c.json));
      const readBack = withoutRecords(c.file, c.struct, fromKafkaJson(c.file, c.struct, c.version, result.readBack!));
      if (!isDeepStrictEqual(readBack, given)) {
        throw new Error(
          `${what}: Kafka read its encoding back as\n${JSON.stringify(result.readBack)}\nnot as given\n${JSON.stringify(c.json)}`,
        );
      }
      hexes.set(c, result.hex);
    });
  }
  mkdirSync(fixturesDir, { recursive: true });
  for (const file of files) {
    const fixture = {
      about: `${file.file} encoded by Apache Kafka's generated message classes; regenerate with node --import tsx test/kafka/protocol/java/generate-fixtures.ts`,
      cases: cases
        .filter((c) => c.file === file)
        .map((c) => ({ message: c.struct, version: c.version, kafka: c.release, json: c.json, hex: hexes.get(c)! })),
    };
    writeFileSync(`${fixturesDir}${file.file}.json`, `${compactJson(fixture)}\n`);
  }
  console.log(
    `${cases.length} cases in ${files.length} fixture files, encoded by Apache Kafka ${[...new Set(cases.map((c) => c.release))].join(' and ')}`,
  );
}

main();
