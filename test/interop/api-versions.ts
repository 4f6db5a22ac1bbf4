/**
 * Which Kafka APIs, at which versions, each interop client sent: read from the request log of the
 * real Kafka broker (kafka-broker.sh --request-log: one `Completed request:{json}` line per request,
 * the header naming the API key, its version and the client id, then the request and the response).
 * A Kafka-protocol server must serve at least these versions, or advertise ranges that make the
 * client pick others it serves. The request fields a server's behaviour hangs on (acks, assignors,
 * timeouts, isolation level, fetch sessions, topic ids) and the error codes Kafka answered are
 * listed per client below the table.
 *
 *   node --import tsx test/interop/api-versions.ts DIR/requests.log
 *
 * The interop suite writes the summary to test/interop/.build/kafka-api-versions.md after a run
 * with INTEROP_TARGET=kafka.
 */
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

/** The client ids the interop programs set, and the column each is shown in. */
const clients: readonly (readonly [prefix: string, name: string])[] = [
  ['interop-kafkajs', 'kafkajs'],
  ['interop-kcat', 'kcat'],
  ['interop-java', 'java'],
  ['interop-sarama', 'sarama'],
  ['interop-filebeat-7', 'filebeat 7.17'],
  ['interop-filebeat-9', 'filebeat 9.3'],
];

/** Error codes a client meets in a normal run, by name (the rest are shown as numbers). */
const errorNames: Record<number, string> = {
  1: 'OFFSET_OUT_OF_RANGE',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  5: 'LEADER_NOT_AVAILABLE',
  6: 'NOT_LEADER_OR_FOLLOWER',
  14: 'COORDINATOR_LOAD_IN_PROGRESS',
  15: 'COORDINATOR_NOT_AVAILABLE',
  16: 'NOT_COORDINATOR',
  22: 'ILLEGAL_GENERATION',
  25: 'UNKNOWN_MEMBER_ID',
  27: 'REBALANCE_IN_PROGRESS',
  36: 'TOPIC_ALREADY_EXISTS',
  79: 'MEMBER_ID_REQUIRED',
};

type Json = Record<string, unknown>;

/** The request fields worth knowing, per API, as short `name=value` facts. */
const factsOf: Record<string, (request: Json) => string[]> = {
  PRODUCE: (r) => [`acks=${r.acks}`, `timeoutMs=${r.timeoutMs}`, `transactionalId=${r.transactionalId}`],
  FETCH: (r) => {
    const topics = (r.topics as Json[] | undefined) ?? [];
    return [
      `isolationLevel=${r.isolationLevel}`,
      `maxWaitMs=${r.maxWaitMs}`,
      `minBytes=${r.minBytes}`,
      topics.length === 0 ? '' : topics.some((topic) => 'topicId' in topic) ? 'topics by topicId' : 'topics by name',
      Number(r.sessionId ?? 0) !== 0 ? 'incremental fetch session' : `sessionEpoch=${r.sessionEpoch}`,
    ];
  },
  LIST_OFFSETS: (r) => [
    `isolationLevel=${r.isolationLevel}`,
    // -1 latest, -2 earliest, -3 max timestamp; a time (offsetsForTimes) is shown as <ms>, not each value
    ...((r.topics as Json[] | undefined) ?? []).flatMap((topic) =>
      ((topic.partitions as Json[]) ?? []).map((p) => `timestamp=${Number(p.timestamp) >= 0 ? '<ms>' : p.timestamp}`),
    ),
  ],
  METADATA: (r) => [`allowAutoTopicCreation=${r.allowAutoTopicCreation}`, r.topics === null ? 'all topics' : 'named topics'],
  JOIN_GROUP: (r) => [
    `protocols=${((r.protocols as Json[] | undefined) ?? []).map((p) => p.name).join('+')}`,
    `sessionTimeoutMs=${r.sessionTimeoutMs}`,
    `rebalanceTimeoutMs=${r.rebalanceTimeoutMs}`,
    `groupInstanceId=${r.groupInstanceId ?? null}`,
  ],
  OFFSET_FETCH: (r) => ['requireStable' in r ? `requireStable=${r.requireStable}` : '', 'groups' in r ? 'groups array' : ''],
  CREATE_TOPICS: (r) => ((r.topics as Json[] | undefined) ?? []).map((t) => `replicationFactor=${t.replicationFactor}`),
  INIT_PRODUCER_ID: (r) => [`transactionalId=${r.transactionalId}`],
};

/** Every non-zero `errorCode` anywhere in a response. */
function errorCodes(value: unknown, into: Set<number>): void {
  if (Array.isArray(value)) for (const item of value) errorCodes(item, into);
  else if (value && typeof value === 'object') {
    for (const [field, inner] of Object.entries(value)) {
      if (field === 'errorCode' && typeof inner === 'number' && inner !== 0) into.add(inner);
      else errorCodes(inner, into);
    }
  }
}

interface RequestHeader {
  readonly requestApiKey: number;
  readonly requestApiVersion: number;
  readonly clientId: string;
  readonly requestApiKeyName: string;
}

export async function summariseRequestLog(path: string): Promise<string> {
  try {
    await access(path);
  } catch {
    return `No request log at ${path}.\n`;
  }
  // api key -> name, and per client: api key -> versions seen
  const names = new Map<number, string>();
  const seen = new Map<string, Map<number, Set<number>>>();
  const software = new Map<string, string>();
  // per client: api name -> facts, and api name -> error codes answered
  const facts = new Map<string, Map<string, Set<string>>>();
  const errors = new Map<string, Map<string, Set<number>>>();
  const add = <T>(table: Map<string, Map<string, Set<T>>>, client: string, api: string, values: Iterable<T>) => {
    const apis = table.get(client) ?? new Map<string, Set<T>>();
    table.set(client, apis);
    const set = apis.get(api) ?? new Set<T>();
    apis.set(api, set);
    for (const value of values) if (value !== '') set.add(value);
  };
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    const start = line.indexOf('{');
    if (!line.startsWith('Completed request:') || start < 0) continue;
    let entry: {
      isForwarded?: boolean;
      listener?: string;
      requestHeader?: RequestHeader;
      request?: Json & { clientSoftwareName?: string; clientSoftwareVersion?: string };
      response?: unknown;
    };
    try {
      entry = JSON.parse(line.slice(start));
    } catch {
      continue;
    }
    // Requests the broker itself sends its controller (an auto-created topic, forwarded with the
    // client's header) are not the client's.
    if (entry.isForwarded || (entry.listener && entry.listener !== 'PLAINTEXT')) continue;
    const header = entry.requestHeader;
    const client = header && clients.find(([prefix]) => header.clientId?.startsWith(prefix))?.[1];
    if (!header || !client) continue;
    names.set(header.requestApiKey, header.requestApiKeyName);
    const apis = seen.get(client) ?? new Map<number, Set<number>>();
    seen.set(client, apis);
    const versions = apis.get(header.requestApiKey) ?? new Set<number>();
    apis.set(header.requestApiKey, versions);
    versions.add(header.requestApiVersion);
    const { clientSoftwareName, clientSoftwareVersion } = entry.request ?? {};
    if (header.requestApiKeyName === 'API_VERSIONS' && clientSoftwareName) {
      software.set(client, `${clientSoftwareName} ${clientSoftwareVersion ?? ''}`.trim());
    }
    const api = header.requestApiKeyName;
    const describe = factsOf[api];
    if (describe && entry.request) add(facts, client, api, describe(entry.request));
    const codes = new Set<number>();
    errorCodes(entry.response, codes);
    add(errors, client, api, codes);
  }

  const columns = clients.map(([, name]) => name).filter((name) => seen.has(name));
  const header = `| API (key) | ${columns.join(' | ')} |`;
  const rule = `|---|${columns.map(() => '---').join('|')}|`;
  const rows = [...names.keys()]
    .sort((a, b) => a - b)
    .map((key) => {
      const cells = columns.map((client) => {
        const versions = [...(seen.get(client)?.get(key) ?? [])].sort((a, b) => a - b);
        return versions.length ? versions.map((v) => `v${v}`).join(', ') : '';
      });
      return `| ${names.get(key)} (${key}) | ${cells.join(' | ')} |`;
    });
  const identities = columns.map((client) => `- ${client}: ${software.get(client) ?? 'sent no client software name'}`);
  const details = columns.flatMap((client) => [
    '',
    `### ${client}`,
    '',
    ...[...(facts.get(client) ?? [])].filter(([, values]) => values.size > 0).map(([api, values]) => `- ${api}: ${[...values].join(', ')}`),
    ...[...(errors.get(client) ?? [])]
      .filter(([, codes]) => codes.size > 0)
      .map(([api, codes]) => `- ${api} answered: ${[...codes].map((code) => errorNames[code] ?? `error ${code}`).join(', ')}`),
  ]);
  return [
    '# API versions the interop clients sent to Apache Kafka 3.9',
    '',
    `From ${path}.`,
    '',
    header,
    rule,
    ...rows,
    '',
    'Client software names (ApiVersions v3+):',
    ...identities,
    '',
    '## Request fields and answered errors, per client',
    ...details,
    '',
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write('usage: node --import tsx test/interop/api-versions.ts DIR/requests.log\n');
    process.exit(2);
  }
  process.stdout.write(await summariseRequestLog(path));
}
