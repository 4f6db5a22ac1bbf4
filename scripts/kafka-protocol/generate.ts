/**
 * Generates Spool's Kafka protocol codecs from Apache Kafka's own JSON message schemas, as franz-go
 * (kmsg) and tansu do: typed TypeScript encoders and decoders, never hand-written per version.
 *
 *   npm run generate:protocol                        # the default jars, from ~/.m2
 *   npm run generate:protocol -- --newest path/to/kafka-clients-4.4.0.jar --baseline path/to/kafka-clients-3.9.1.jar
 *   npm run generate:protocol -- --check             # exit 1 if the committed output is not what the jars give
 *
 * A missing jar is fetched with `mvn -q -B dependency:get -Dartifact=org.apache.kafka:kafka-clients:<version> -Dtransitive=false`.
 *
 * Inputs. The schemas ship inside the kafka-clients jar as common/message/*.json (JSON with //
 * comments). Kafka 4.0 removed old versions (KIP-896) and the fields only they used, but Spool
 * keeps answering them (librdkafka probes Produce v0, Fetch v0, ListOffsets v0). So two releases are
 * read: the newest (4.4.0) and a baseline that still has every old version (3.9.1).
 *
 * Merge (schema.ts). For a version v, the newest release defines v when v is within its
 * validVersions, otherwise the baseline does. Fields are matched by name at each struct level (and
 * common structs by name); a field's versions, nullableVersions and taggedVersions are the newest
 * release's within the versions it defines plus the baseline's within the versions the baseline
 * defines, so a field only in the baseline (ListOffsets v0's MaxNumOffsets) keeps its versions and its
 * place. The merge fails, loudly, when a field's type, tag or default differs between the releases,
 * when any version's merged field layout (order, types, nullability, tags, nested structs) differs
 * from that version's own schema, or when the flexible versions are not a suffix. Requests and
 * responses are matched by API key (4.x renamed ListClientMetricsResources to ListConfigResources).
 * A version marked `latestVersionUnstable` is not generated (the request declares it; the response's
 * same version is dropped too), and the file header says so.
 *
 * Output (emit.ts). One module per API whose request lists the "broker" listener, in
 * lib/kafka/protocol/messages/<kebab-name>.ts, plus consumer-protocol.ts for the consumer protocol's
 * subscription and assignment; lib/kafka/protocol/index.ts lists them by API key; and
 * test/kafka/protocol/schemas.json describes every generated struct for the tests' sample builder.
 * Each module is headed by its grammar and exports the decoded interfaces (schema struct names; a
 * name the request and response use for different shapes is prefixed with the message name) and
 * `export const <Name>: MessagePair<<Name>Request, <Name>Response>`.
 *
 * Versions. A struct is generated once, with the versions in which it occurs as its context; each
 * field's presence, nullability and taggedness is a set of versions cut to that context and written
 * as the shortest `version` test over it. Compact strings, arrays and bytes come from KafkaReader
 * and KafkaWriter, which are flexible exactly for the flexible versions (MessagePair checks).
 *
 * Defaults (Kafka's FieldSpec rules): numbers 0 unless given (hex allowed), bool false, string "",
 * uuid all zeros, bytes empty, records null (empty where not nullable), arrays empty, structs with
 * every field at its default; "null" where every version is nullable. A decoder returns the default
 * for a field its version does not carry; an encoder writes the default for a field left out of its
 * `Encodable` and skips fields its version does not carry (Kafka's `ignorable` is not enforced). An
 * int64 default beyond ±2^53 (Fetch's HighWatermark, Long.MAX_VALUE) stands as Number.MAX_SAFE_INTEGER.
 *
 * Tagged fields (flexible versions). Decoders read the tags they know within each value's size and
 * skip the rest; a tag known only from a later version is skipped as unknown. Encoders write a
 * tagged field only when it differs from its default (Kafka's generateNonDefaultValueCheck: a
 * struct by deep comparison, an array or bytes when non-empty, a nullable field when null and the
 * default is not), in tag order, each sized by writing it on a writer of its own. A nullable struct
 * is a presence marker then the struct: int8 -1/1, or uvarint 0/1 when tagged.
 *
 * Error responses (error-responses.ts). An API listed there also gets `errorResponse(request, version,
 * errorCode, errorMessage)`, on its MessagePair: Kafka's AbstractRequest.getErrorResponse, the answer
 * to a request refused as a whole, with the error in every item answered and the items' keys echoed.
 *
 * Not supported, and refused when a schema needs it: field-level flexibleVersions overrides (only
 * the request header uses one, and the server reads headers itself), tagged records, nested arrays.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compactJson, emitFile, kebabCase, type FileDescriptor } from './emit.js';
import { errorResponses } from './error-responses.js';
import { mergeReleases, readRelease, type Message } from './schema.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const protocolDir = join(root, 'lib/kafka/protocol');
const messagesDir = join(protocolDir, 'messages');
const descriptorPath = join(root, 'test/kafka/protocol/schemas.json');

const defaultJar = (version: string) =>
  join(homedir(), `.m2/repository/org/apache/kafka/kafka-clients/${version}/kafka-clients-${version}.jar`);

interface Options {
  readonly newest: string;
  readonly baseline: string;
  readonly check: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  let newest = defaultJar('4.4.0');
  let baseline = defaultJar('3.9.1');
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--check') check = true;
    else if (arg === '--newest' || arg === '--baseline') {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a jar path`);
      if (arg === '--newest') newest = value;
      else baseline = value;
    } else throw new Error(`unknown argument "${arg}"; expected --newest <jar>, --baseline <jar> or --check`);
  }
  for (const jar of [newest, baseline]) {
    if (!existsSync(jar)) {
      const version = /kafka-clients-(.+)\.jar$/.exec(jar)?.[1] ?? '<version>';
      throw new Error(
        `${jar} does not exist; fetch it with: mvn -q -B dependency:get -Dartifact=org.apache.kafka:kafka-clients:${version} -Dtransitive=false`,
      );
    }
  }
  return { newest, baseline, check };
}

/** What to generate: every API a broker serves (request and response), and the consumer protocol. */
function selectFiles(messages: readonly Message[]): { name: string; kind: 'pair' | 'data'; messages: Message[] }[] {
  const files: { name: string; kind: 'pair' | 'data'; messages: Message[] }[] = [];
  for (const request of messages.filter((m) => m.kind === 'request' && m.listeners.includes('broker'))) {
    const response = messages.find((m) => m.kind === 'response' && m.apiKey === request.apiKey);
    if (!response) throw new Error(`${request.name} has no response schema`);
    const name = request.name.replace(/Request$/, '');
    if (response.name !== `${name}Response`) throw new Error(`${request.name}'s response is ${response.name}; expected ${name}Response`);
    files.push({ name, kind: 'pair', messages: [request, response] });
  }
  const consumerProtocol = ['ConsumerProtocolSubscription', 'ConsumerProtocolAssignment'].map((name) => {
    const message = messages.find((m) => m.kind === 'data' && m.name === name);
    if (!message) throw new Error(`no ${name} schema`);
    return message;
  });
  files.push({ name: 'ConsumerProtocol', kind: 'data', messages: consumerProtocol });
  return files;
}

function indexSource(generatedFrom: string, files: readonly { name: string; kind: 'pair' | 'data'; descriptor: FileDescriptor }[]): string {
  const pairs = files.filter((f) => f.kind === 'pair');
  const lines = [
    '/**',
    ` * Generated by scripts/kafka-protocol/generate.ts from ${generatedFrom} message schemas; do not edit.`,
    ' *',
    ' * Every generated API, by key. Each module in messages/ also exports its interfaces; import those from the module.',
    ' *',
    ...pairs.map(
      (f) =>
        ` *   ${String(f.descriptor.exports[0]!.apiKey).padStart(3)}  ${f.name.padEnd(44)} v${f.descriptor.minVersion}-${f.descriptor.maxVersion}`,
    ),
    ' */',
    "import type { MessagePair } from './runtime.js';",
    ...pairs.map((f) => `import { ${f.name} } from './messages/${kebabCase(f.name)}.js';`),
    '',
    "export { ConsumerProtocolAssignmentData, ConsumerProtocolSubscriptionData } from './messages/consumer-protocol.js';",
    "export { ZERO_UUID, isUuid, uuidFromKafkaString, uuidToKafkaString } from './runtime.js';",
    "export type { Encodable, MessageData, MessagePair } from './runtime.js';",
    `export { ${pairs.map((f) => f.name).join(', ')} };`,
    '',
    '/** Every generated request/response pair, in API key order. */',
    'export const messagePairs: readonly MessagePair<unknown, unknown>[] = [',
    ...pairs.map((f) => `  ${f.name},`),
    '];',
    '',
    'const byApiKey: ReadonlyMap<number, MessagePair<unknown, unknown>> = new Map(messagePairs.map((pair) => [pair.apiKey, pair]));',
    '',
    '/** The generated codecs of an API, or undefined for a key no broker-facing schema has. */',
    'export function messagePairFor(apiKey: number): MessagePair<unknown, unknown> | undefined {',
    '  return byApiKey.get(apiKey);',
    '}',
    '',
  ];
  return wrapExports(lines).join('\n');
}

/** Breaks the long `export { A, B, ... }` line of the index into one name per line. */
function wrapExports(lines: string[]): string[] {
  return lines.flatMap((line) => {
    const match = /^export \{ (.+) \};$/.exec(line);
    if (!match || line.length <= 140) return [line];
    return ['export {', ...match[1]!.split(', ').map((name) => `  ${name},`), '};'];
  });
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  const newest = readRelease(options.newest);
  const baseline = readRelease(options.baseline);
  const generatedFrom = `Apache Kafka ${newest.version} and ${baseline.version}`;
  const messages = mergeReleases({ newest, baseline });
  const outputs = new Map<string, string>();
  const files = selectFiles(messages);
  for (const name of Object.keys(errorResponses))
    if (!files.some((f) => f.kind === 'pair' && f.name === name))
      throw new Error(`error-responses.ts names ${name}, which is not generated`);
  const emitted = files.map((file) => {
    const errorResponse = file.kind === 'pair' ? errorResponses[file.name] : undefined;
    const { source, descriptor } = emitFile({ ...file, generatedFrom, ...(errorResponse ? { errorResponse } : {}) });
    outputs.set(join(messagesDir, `${kebabCase(file.name)}.ts`), source);
    return { name: file.name, kind: file.kind, descriptor };
  });
  outputs.set(join(protocolDir, 'index.ts'), indexSource(generatedFrom, emitted));
  outputs.set(descriptorPath, `${compactJson({ generatedFrom, files: emitted.map((e) => e.descriptor) })}\n`);

  const stale = existsSync(messagesDir)
    ? readdirSync(messagesDir)
        .map((f) => join(messagesDir, f))
        .filter((f) => !outputs.has(f))
    : [];
  const changed = [...outputs].filter(([path, text]) => !existsSync(path) || readFileSync(path, 'utf8') !== text).map(([path]) => path);
  if (options.check) {
    for (const path of [...changed, ...stale]) console.error(`out of date: ${relative(root, path)}`);
    if (changed.length + stale.length > 0) {
      console.error('run: npm run generate:protocol');
      process.exitCode = 1;
    } else console.log(`${outputs.size} generated files are up to date (${generatedFrom})`);
    return;
  }
  mkdirSync(messagesDir, { recursive: true });
  for (const path of changed) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, outputs.get(path)!);
  }
  for (const path of stale) rmSync(path);
  const long = [...outputs].flatMap(([path, text]) =>
    path.endsWith('.ts')
      ? text
          .split('\n')
          .filter((l) => l.length > 140)
          .map(() => relative(root, path))
      : [],
  );
  console.log(
    `${emitted.length} modules from ${generatedFrom}: ${changed.length} written, ${stale.length} removed, ` +
      `${outputs.size - changed.length} unchanged${long.length ? `; ${long.length} lines over 140 characters` : ''}`,
  );
}

main();
