/**
 * Fuzzing of the HTTP API's request bodies (the Kafka decoders are fuzzed in test/kafka/fuzz.test.ts),
 * with fast-check and a fixed seed: random JSON, near-valid bodies with wrong fields, mutations of
 * valid bodies, NDJSON and raw bytes, under assorted content types and queries, to the produce,
 * topic admin, group and maintenance endpoints of the real hono app (in process, memory store).
 * Whatever comes in: never a 5xx, always a JSON error body with a code for a 4xx, and a 4xx changes
 * nothing a client can observe (topics, their offsets and config, groups, members, assignments,
 * committed offsets). Groups run on a stopped clock, so no session expires between two looks.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { QueueService } from '../../lib/queues/service.js';
import { createApp } from '../../lib/http/app.js';
import type { Log } from '../../lib/log/index.js';
import { silentLogger } from '../../lib/logger.js';
import { closeAll, newLog, openTestStores, type TestStores } from '../support/logs.js';
import { memory } from '../support/stores.js';

const seed = 20261121;
const numRuns = 200;

interface FuzzRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: string | Uint8Array | undefined;
}

let stores: TestStores;
let log: Log;
let app: ReturnType<typeof createApp>;
let memberId: string;
const tally = { inputs: 0, byStatus: {} as Record<number, number>, byEndpoint: {} as Record<string, Record<string, number>> };

async function call(method: string, path: string, body?: string | Uint8Array, contentType?: string) {
  const headers: Record<string, string> = contentType === undefined ? {} : { 'content-type': contentType };
  const response = await app.request(path, { method, headers, body: body as RequestInit['body'] });
  const text = await response.text();
  return { status: response.status, text };
}

const json = (method: string, path: string, body: unknown) =>
  call(method, path, JSON.stringify(body), 'application/json').then((r) => ({ ...r, body: JSON.parse(r.text || 'null') }));

/** What a client can observe, without clocks (heartbeat times move on every request). */
async function observable(): Promise<unknown> {
  await log.flush(); // acks=0 writes land before we look
  const topics = (await json('GET', '/v1/topics', undefined)).body.topics as { name: string }[];
  const described = await Promise.all(
    topics.map((t) => json('GET', `/v1/topics/${encodeURIComponent(t.name)}`, undefined).then((r) => r.body)),
  );
  const groups = (await json('GET', '/v1/groups', undefined)).body.groups as { group: string }[];
  const groupDetails = await Promise.all(
    groups.map((g) =>
      json('GET', `/v1/groups/${encodeURIComponent(g.group)}`, undefined).then((r) => ({
        ...r.body,
        members: r.body.members?.map(({ last_heartbeat_ms: _, ...member }: { last_heartbeat_ms: number }) => member),
      })),
    ),
  );
  return { described, groups, groupDetails };
}

beforeAll(async () => {
  stores = await openTestStores(memory.locations());
  log = newLog(stores);
  // Groups on a stopped clock: no member's session runs out between two looks at the state.
  const frozenMs = Date.now();
  app = createApp({
    log,
    logger: silentLogger,
    groups: new GroupCoordinator(log, stores.metadata, { now: () => frozenMs }),
    queues: new QueueService(log, stores.metadata),
  });
  expect((await json('POST', '/v1/topics', { name: 'fz', partitions: 2 })).status).toBe(201);
  expect(
    (
      await json('POST', '/v1/topics/fz/records', {
        records: [
          { key: 'a', value: '1' },
          { value: '2', partition: 1 },
        ],
      })
    ).status,
  ).toBe(200);
  const joined = await json('POST', '/v1/groups/live/members', { topics: ['fz'], auto_offset_reset: 'earliest' });
  expect(joined.status).toBe(200);
  memberId = joined.body.member_id;
  expect((await json('POST', '/v1/groups/idle/offsets', { offsets: [{ topic: 'fz', partition: 0, offset: 1 }] })).status).toBe(204);
});

afterAll(async () => {
  console.info(`reliability: http fuzzing: ${JSON.stringify(tally, null, 1)}`);
  await closeAll([log], [stores]);
});

// ---- inputs -----------------------------------------------------------------------------------------

const contentTypes = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  {
    weight: 3,
    arbitrary: fc.constantFrom<string | undefined>(
      'application/json; charset=utf-8',
      'application/vnd.spool+json',
      'application/x-ndjson',
      'text/plain',
      'multipart/form-data; boundary=x',
      '',
      undefined,
    ),
  },
);

/** Strings with the awkward parts: unicode, lone surrogates, quotes, control characters, NUL. */
const anyString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', '\u0000', '"', '\\', '\ud800', 'fz', 'live', '-1', '1e3', '__proto__'),
);
const anyNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(-1, 0, 1, 2, 2 ** 53, Number.MAX_SAFE_INTEGER + 2));
const anyValue = fc.oneof(anyString, anyNumber, fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}));
/** Mostly a value of the field's own kind (so requests get past validation), now and then anything. */
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 8, arbitrary: arb }, { weight: 1, arbitrary: anyValue });

/** Objects with the endpoint's field names (the required ones present, others or not), and rarely an unknown field. */
const shaped = (fields: Record<string, fc.Arbitrary<unknown>>, required: string[] = []) =>
  fc
    .tuple(
      fc.record(Object.fromEntries(Object.entries(fields).map(([name, arb]) => [name, maybe(arb)])), { requiredKeys: required }),
      fc.oneof({ weight: 15, arbitrary: fc.constant(undefined) }, anyValue),
    )
    .map(([body, extra]) => (extra === undefined ? body : { ...body, [`x${String(extra).length}`]: extra }));

/** Mostly `valid` values (so requests get deep), sometimes near misses just outside the rules. */
const nearly = (valid: fc.Arbitrary<unknown>, ...nearMisses: unknown[]): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 6, arbitrary: valid }, fc.constantFrom(...nearMisses));

const recordIn = shaped(
  {
    key: fc.oneof(anyString, fc.constant(null)),
    value: fc.oneof(anyString, fc.constant(null), fc.constantFrom('AAE=', '////')),
    partition: nearly(fc.integer({ min: 0, max: 1 }), -1, 2, 3),
    headers: fc.dictionary(anyString, fc.oneof(anyString, fc.constant(null)), { maxKeys: 3 }),
    timestamp: nearly(fc.nat(), -1, 2 ** 53, 1.5),
  },
  ['value'],
);

const topicName = nearly(fc.stringMatching(/^[a-z0-9._-]{1,12}$/), 'fz', '', '..', 'a'.repeat(250), 'bad name!');
const topicConfig = shaped({
  retention_ms: nearly(fc.integer({ min: 1, max: 10 ** 9 }), -2, 0),
  retention_bytes: nearly(fc.integer({ min: -1, max: 10 ** 9 }), -2),
  max_message_bytes: nearly(fc.integer({ min: 1024, max: 1_048_588 }), 0, 10 ** 10),
});
const partitionCount = nearly(fc.integer({ min: 1, max: 4 }), 0, -1, 100_001);

const bodies = {
  produce: shaped(
    { records: fc.array(recordIn, { minLength: 1, maxLength: 4 }), encoding: nearly(fc.constantFrom('utf8', 'base64'), 'hex') },
    ['records'],
  ),
  createTopic: shaped({ name: topicName, partitions: partitionCount, config: topicConfig }, ['name']),
  alterTopic: shaped({ partitions: partitionCount, config: topicConfig }),
  join: shaped(
    {
      topics: nearly(fc.constant(['fz']), [], ['nope'], ['fz', 'fz']),
      member_id: nearly(fc.constantFrom('m-1', 'm-2', '<member>'), '', 'x'.repeat(600)),
      session_timeout_ms: nearly(fc.integer({ min: 1000, max: 60_000 }), 999, 3_600_001),
      auto_offset_reset: nearly(fc.constantFrom('earliest', 'latest', 'none'), 'middle'),
      assignor: nearly(fc.constantFrom('range', 'roundrobin'), 'sticky'),
      auto_commit: fc.boolean(),
    },
    ['topics'],
  ),
  commit: shaped(
    {
      member_id: nearly(fc.constant('<member>'), 'm-1', ''),
      generation: nearly(fc.integer({ min: 1, max: 4 }), -1, 0),
      offsets: fc.array(
        shaped(
          {
            topic: nearly(fc.constant('fz'), 'nope'),
            partition: nearly(fc.integer({ min: 0, max: 1 }), -1, 7),
            offset: nearly(fc.integer({ min: 0, max: 5 }), -1),
          },
          ['topic', 'partition', 'offset'],
        ),
        { minLength: 1, maxLength: 3 },
      ),
    },
    ['offsets'],
  ),
  reset: shaped(
    {
      to: nearly(
        fc.oneof(fc.constantFrom('earliest', 'latest'), fc.record({ offset: fc.nat(5) }), fc.record({ timestamp: fc.nat() })),
        'now',
        { offset: -1 },
      ),
      topics: nearly(fc.constant(['fz']), ['nope'], []),
    },
    ['to'],
  ),
};

const validSamples: Record<keyof typeof bodies, string[]> = {
  produce: [
    '{"records":[{"key":"k","value":"v","partition":1,"headers":{"h":"x"},"timestamp":1700000000000}]}',
    '{"encoding":"base64","records":[{"value":"AAE="}]}',
  ],
  createTopic: ['{"name":"made-by-fuzz","partitions":2,"config":{"retention_ms":3600000}}'],
  alterTopic: ['{"partitions":2,"config":{"max_message_bytes":2048}}'],
  join: ['{"topics":["fz"],"session_timeout_ms":30000,"auto_offset_reset":"earliest","assignor":"range","auto_commit":true}'],
  commit: ['{"member_id":"<member>","generation":1,"offsets":[{"topic":"fz","partition":0,"offset":1}]}'],
  reset: ['{"to":"earliest","topics":["fz"]}', '{"to":{"offset":1}}'],
};

/** A valid body with a few bytes deleted, inserted, replaced, or cut off. */
const mutation = (samples: readonly string[]) =>
  fc
    .tuple(
      fc.constantFrom(...samples),
      fc.array(fc.tuple(fc.constantFrom('delete', 'insert', 'replace', 'truncate'), fc.nat(), fc.string({ minLength: 1, maxLength: 3 })), {
        minLength: 1,
        maxLength: 4,
      }),
    )
    .map(([sample, edits]) =>
      edits.reduce((text, [edit, at, chars]) => {
        const i = at % (text.length + 1);
        if (edit === 'delete') return text.slice(0, i) + text.slice(i + chars.length);
        if (edit === 'insert') return text.slice(0, i) + chars + text.slice(i);
        if (edit === 'replace') return text.slice(0, i) + chars + text.slice(i + chars.length);
        return text.slice(0, i);
      }, sample),
    );

const bodyFor = (name: keyof typeof bodies): fc.Arbitrary<string | Uint8Array | undefined> =>
  fc.oneof(
    { weight: 6, arbitrary: bodies[name].map((body) => JSON.stringify(body)) },
    { weight: 3, arbitrary: mutation(validSamples[name]) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.array(fc.string({ unit: 'binary', maxLength: 20 }), { maxLength: 4 }).map((lines) => lines.join('\n')) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

/** Every UTF-8 byte percent-encoded (lone surrogates become U+FFFD on the way, as a client's would). */
const percentEncoded = (text: string) => [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
/** A path segment: a known name, any string, or broken percent-encoding. */
const segment = (...known: string[]) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...known) },
    anyString.map(percentEncoded),
    fc.constantFrom('%', '%zz', '%C0%AF', '..', '%2F'),
  );

/** Mostly one of the `valid` values, sometimes a near miss or anything. */
const mostly = (valid: string[], nearMisses: string[]) =>
  fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...valid) }, fc.constantFrom(...nearMisses), anyString);

const produceQuery = fc
  .record(
    {
      acks: mostly(['0', '1', 'all'], ['2', '', 'ALL']),
      key_separator: mostly([':', '|'], ['']),
      partition: mostly(['0', '1'], ['7', '-1', '01', '1.5', '', ' 1']),
    },
    { requiredKeys: [] },
  )
  .map((query) => new URLSearchParams(query as Record<string, string>).toString());
const maybeQuery = fc.oneof({ weight: 2, arbitrary: fc.constant('') }, produceQuery);

const endpoints: Record<string, fc.Arbitrary<FuzzRequest>> = {
  'POST /v1/topics/{topic}/records': fc
    .record({
      topic: segment('fz', 'fz-auto'),
      query: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('', 'acks=all', 'acks=1', 'acks=0') }, maybeQuery),
      contentType: contentTypes,
      body: bodyFor('produce'),
    })
    .map(({ topic, query, contentType, body }) => ({
      method: 'POST',
      path: `/v1/topics/${topic}/records${query ? `?${query}` : ''}`,
      contentType,
      body,
    })),
  'POST /v1/topics/{topic}/records (NDJSON)': fc
    .record({
      topic: segment('fz'),
      query: maybeQuery,
      lines: fc.array(
        fc.oneof(anyString, fc.constantFrom('k:v', 'a|b', '', '\r', '{"value":1}'), fc.string({ unit: 'binary', maxLength: 40 })),
        { maxLength: 6 },
      ),
      ending: fc.constantFrom('\n', '\r\n'),
      contentType: fc.constantFrom('application/x-ndjson', 'text/plain'),
    })
    .map(({ topic, query, lines, ending, contentType }) => ({
      method: 'POST',
      path: `/v1/topics/${topic}/records${query ? `?${query}` : ''}`,
      contentType,
      body: lines.join(ending),
    })),
  'POST /v1/topics': fc
    .record({ contentType: contentTypes, body: bodyFor('createTopic') })
    .map(({ contentType, body }) => ({ method: 'POST', path: '/v1/topics', contentType, body })),
  'PATCH /v1/topics/{topic}': fc
    .record({ topic: segment('fz'), contentType: contentTypes, body: bodyFor('alterTopic') })
    .map(({ topic, contentType, body }) => ({ method: 'PATCH', path: `/v1/topics/${topic}`, contentType, body })),
  'POST /v1/groups/{group}/members': fc
    .record({ group: segment('live', 'idle', 'fresh'), contentType: contentTypes, body: bodyFor('join') })
    .map(({ group, contentType, body }) => ({ method: 'POST', path: `/v1/groups/${group}/members`, contentType, body })),
  'POST /v1/groups/{group}/offsets': fc
    .record({ group: segment('live', 'idle'), contentType: contentTypes, body: bodyFor('commit') })
    .map(({ group, contentType, body }) => ({ method: 'POST', path: `/v1/groups/${group}/offsets`, contentType, body })),
  'POST /v1/groups/{group}/offsets/reset': fc
    .record({ group: segment('live', 'idle'), contentType: contentTypes, body: bodyFor('reset') })
    .map(({ group, contentType, body }) => ({ method: 'POST', path: `/v1/groups/${group}/offsets/reset`, contentType, body })),
  'POST /v1/groups/{group}/members/{member}/heartbeat': fc
    .record({ group: segment('live'), member: segment('<member>', 'nobody'), contentType: contentTypes, body: bodyFor('commit') })
    .map(({ group, member, contentType, body }) => ({
      method: 'POST',
      path: `/v1/groups/${group}/members/${member}/heartbeat`,
      contentType,
      body,
    })),
  'POST /v1/admin/maintenance': fc
    .record({ contentType: contentTypes, body: bodyFor('reset') })
    .map(({ contentType, body }) => ({ method: 'POST', path: '/v1/admin/maintenance', contentType, body })),
};

describe('reliability > HTTP body fuzzing', () => {
  it.each(Object.keys(endpoints))('%s: never answers 5xx, and a 4xx changes nothing', async (name) => {
    await fc.assert(
      fc.asyncProperty(endpoints[name]!, async (request) => {
        // The live member's id stands in for "<member>", so commits and heartbeats can get past the lookup.
        const withMember = (text: string) => text.replaceAll('<member>', memberId);
        const body = typeof request.body === 'string' ? withMember(request.body) : request.body;
        const before = await observable();
        const answer = await call(request.method, withMember(request.path), body, request.contentType);
        tally.inputs++;
        tally.byStatus[answer.status] = (tally.byStatus[answer.status] ?? 0) + 1;
        const outcome = `${answer.status} ${answer.status >= 400 ? (JSON.parse(answer.text).error?.code ?? '') : ''}`.trim();
        const seen = (tally.byEndpoint[name] ??= {});
        seen[outcome] = (seen[outcome] ?? 0) + 1;
        expect(answer.status, answer.text).toBeLessThan(500);
        if (answer.status >= 400) {
          expect(JSON.parse(answer.text)).toEqual({
            error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
          });
          expect(await observable()).toEqual(before);
        }
      }),
      { seed, numRuns },
    );
  });
});
