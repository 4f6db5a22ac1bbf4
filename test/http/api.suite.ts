/**
 * Every endpoint and every error of the HTTP API, through the real hono app (in process), written
 * once and run on the embedded store and on the AWS adapters.
 */
import { randomUUID } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { clusterStatusSource } from '../../lib/cluster-status.js';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { QueueService } from '../../lib/queues/service.js';
import { createApp, type AppOptions } from '../../lib/http/app.js';
import { encodeRecordBatch } from '../../lib/format/index.js';
import type { Log } from '../../lib/log/index.js';
import { silentLogger } from '../../lib/logger.js';
import type { StoreKind } from '../support/stores.js';
import { closeAll, holdTopicsListing, newLog, openTestStores, type TestStores } from '../support/logs.js';

export function apiSuite(kind: () => StoreKind): void {
  const logs: Log[] = [];
  const opened: TestStores[] = [];
  afterEach(async () => {
    await closeAll(logs.splice(0), opened.splice(0));
  });

  async function setup(options: { log?: Parameters<typeof newLog>[1]; app?: Partial<AppOptions>; cluster?: boolean } = {}) {
    const stores = await openTestStores(kind().locations());
    opened.push(stores);
    const log = newLog(stores, options.log);
    logs.push(log);
    const app = createApp({
      log,
      groups: new GroupCoordinator(log, stores.metadata),
      queues: new QueueService(log, stores.metadata),
      logger: silentLogger,
      streamPollMs: 200,
      ...(options.cluster ? { cluster: clusterStatusSource({ log, metadata: stores.metadata, cacheMs: 0 }) } : {}),
      ...options.app,
    });
    const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const init: RequestInit = { method, headers: { ...headers } };
      if (body !== undefined) {
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
      }
      const response = await app.request(path, init);
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: text === '' ? undefined : (JSON.parse(text) as any) };
    };
    return { stores, log, app, call };
  }
  const topicName = () => `h-${randomUUID().slice(0, 8)}`;

  describe('http > service', () => {
    it('answers /healthz', async () => {
      const { call } = await setup();
      expect(await call('GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    });

    it('publishes an OpenAPI 3 document of every route, from the validating schemas', async () => {
      const { call } = await setup();
      const { status, body } = await call('GET', '/openapi.json');
      expect(status).toBe(200);
      expect(body.openapi).toMatch(/^3\./);
      expect(Object.keys(body.paths).sort()).toEqual([
        '/v1/admin/maintenance',
        '/v1/groups',
        '/v1/groups/{group}',
        '/v1/groups/{group}/members',
        '/v1/groups/{group}/members/{member}',
        '/v1/groups/{group}/members/{member}/heartbeat',
        '/v1/groups/{group}/members/{member}/records',
        '/v1/groups/{group}/offsets',
        '/v1/groups/{group}/offsets/reset',
        '/v1/me',
        '/v1/queues/{group}',
        '/v1/queues/{group}/redrive',
        '/v1/queues/{group}/topics/{topic}/ack',
        '/v1/queues/{group}/topics/{topic}/extend',
        '/v1/queues/{group}/topics/{topic}/receive',
        '/v1/topics',
        '/v1/topics/{topic}',
        '/v1/topics/{topic}/activity',
        '/v1/topics/{topic}/partitions/{partition}/delete-records',
        '/v1/topics/{topic}/partitions/{partition}/offsets',
        '/v1/topics/{topic}/partitions/{partition}/records',
        '/v1/topics/{topic}/records',
      ]);
      expect(body.paths['/v1/topics'].post.requestBody.content['application/json'].schema).toBeDefined();
      expect(Object.keys(body.paths['/v1/topics/{topic}/records'].post.requestBody.content)).toEqual([
        'application/json',
        'application/x-ndjson',
        'text/plain',
      ]);
      expect(body.components.schemas.Produce.properties.records).toBeDefined();
    });

    it('answers an unknown route with ROUTE_NOT_FOUND', async () => {
      const { call } = await setup();
      expect(await call('GET', '/v2/nothing')).toMatchObject({ status: 404, body: { error: { code: 'ROUTE_NOT_FOUND' } } });
    });
  });

  describe('http > topics', () => {
    it('creates, lists, describes, alters and deletes a topic', async () => {
      const { call } = await setup();
      const name = topicName();
      const created = await call('POST', '/v1/topics', { name, partitions: 2, config: { retention_ms: 3_600_000 } });
      expect(created).toMatchObject({
        status: 201,
        body: { name, partitions: 2, config: { retention_ms: 3_600_000, retention_bytes: -1, max_message_bytes: 1_048_588 } },
      });
      expect((await call('GET', '/v1/topics')).body.topics).toContainEqual(expect.objectContaining({ name, partitions: 2 }));
      expect(await call('GET', `/v1/topics/${name}`)).toMatchObject({
        status: 200,
        body: {
          name,
          partitions: [
            { partition: 0, earliest_offset: 0, high_watermark: 0 },
            { partition: 1, earliest_offset: 0, high_watermark: 0 },
          ],
        },
      });
      expect(await call('PATCH', `/v1/topics/${name}`, { partitions: 4, config: { max_message_bytes: 2048 } })).toMatchObject({
        status: 200,
        body: { partitions: 4, config: { max_message_bytes: 2048, retention_ms: 3_600_000 } },
      });
      // Configs Spool accepts and reports without acting on them (replication, segments) keep their Kafka types.
      expect(
        await call('PATCH', `/v1/topics/${name}`, {
          config: { min_insync_replicas: 2, segment_bytes: 1_048_576, preallocate: true, min_cleanable_dirty_ratio: 0.25 },
        }),
      ).toMatchObject({
        status: 200,
        body: {
          config: {
            min_insync_replicas: 2,
            segment_bytes: 1_048_576,
            preallocate: true,
            min_cleanable_dirty_ratio: 0.25,
            cleanup_policy: 'delete',
            compression_type: 'producer',
            max_message_bytes: 2048,
          },
        },
      });
      expect((await call('GET', `/v1/topics/${name}`)).body.partitions).toHaveLength(4);
      expect(await call('DELETE', `/v1/topics/${name}`)).toMatchObject({ status: 204, body: undefined });
      expect(await call('GET', `/v1/topics/${name}`)).toMatchObject({ status: 404, body: { error: { code: 'TOPIC_NOT_FOUND' } } });
    });

    it('defaults to one partition and the default config', async () => {
      const { call } = await setup();
      expect((await call('POST', '/v1/topics', { name: topicName() })).body).toMatchObject({
        partitions: 1,
        config: { retention_ms: 604_800_000 },
      });
    });

    it.each([
      [{ name: 'bad name!' }, 'INVALID_TOPIC_NAME', /topic name must be only ASCII letters/],
      // The same codes as in a path, or as Kafka's CreateTopics gets, from the engine's checks.
      [{ name: 'x'.repeat(250) }, 'INVALID_TOPIC_NAME', /topic name must be 1 to 249 characters, got "x{20}/],
      [{ name: '__consumer_offsets' }, 'INVALID_TOPIC_NAME', /not one of the names Kafka keeps for its internal topics/],
      [{ name: 't', partitions: 0 }, 'INVALID_PARTITIONS', /partitions must be an integer in \[1, 10000\], got 0/],
      [{ name: 't', partitions: 1.5 }, 'INVALID_PARTITIONS', /got 1\.5/],
      [{ name: 't', config: { retention_ms: -2 } }, 'INVALID_CONFIG', /retention\.ms must be an integer in \[-1, /],
      [
        { name: 't', config: { message_timestamp_type: 'WallClock' } },
        'INVALID_CONFIG',
        /message\.timestamp\.type must be one of CreateTime, LogAppendTime/,
      ],
      [{ name: 't', partitions: '3' }, 'INVALID_ARGUMENT', /^partitions: expected number, got "3"/],
      [{ name: 't', config: { retention_ms: 'x' } }, 'INVALID_ARGUMENT', /^config\.retention_ms: expected number, got "x"/],
      [
        { name: 't', config: { cleanup_policy: 'compact,shred' } },
        'INVALID_CONFIG',
        /^cleanup\.policy must be a comma-separated list of compact, delete/,
      ],
      [{ name: 't', config: { segment_bytes: 13 } }, 'INVALID_CONFIG', /^segment\.bytes must be an integer in \[14, 2147483647\]/],
      [{ name: 't', config: { preallocate: 'yes' } }, 'INVALID_ARGUMENT', /^config\.preallocate: expected boolean, got "yes"/],
      [{ name: 't', config: { cleanup_policies: 'delete' } }, 'INVALID_ARGUMENT', /^config: unknown field cleanup_policies/],
      [{ partitions: 1 }, 'INVALID_ARGUMENT', /^name: expected string, got nothing/],
    ])('refuses %j with 400 %s', async (body, code, message) => {
      const { call } = await setup();
      const response = await call('POST', '/v1/topics', body);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe(code);
      expect(response.body.error.message).toMatch(message);
    });

    it('answers malformed JSON with MALFORMED_JSON', async () => {
      const { call } = await setup();
      expect(await call('POST', '/v1/topics', '{"name":')).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED_JSON' } } });
    });

    it('answers 409 for an existing topic and for shrinking partitions, 404 for a missing one', async () => {
      const { call } = await setup();
      const name = topicName();
      await call('POST', '/v1/topics', { name, partitions: 3 });
      expect(await call('POST', '/v1/topics', { name })).toMatchObject({ status: 409, body: { error: { code: 'TOPIC_ALREADY_EXISTS' } } });
      expect(await call('PATCH', `/v1/topics/${name}`, { partitions: 2 })).toMatchObject({
        status: 400,
        body: { error: { code: 'INVALID_PARTITIONS' } },
      });
      expect(await call('PATCH', `/v1/topics/${topicName()}`, { partitions: 2 })).toMatchObject({ status: 404 });
      expect(await call('DELETE', `/v1/topics/${topicName()}`)).toMatchObject({
        status: 404,
        body: { error: { code: 'TOPIC_NOT_FOUND' } },
      });
    });
  });

  describe('http > produce', () => {
    it('produces JSON records and answers offsets in request order', async () => {
      const { call } = await setup();
      const name = topicName();
      await call('POST', '/v1/topics', { name, partitions: 2 });
      const produced = await call('POST', `/v1/topics/${name}/records`, {
        records: [
          { key: 'k', value: 'v0', partition: 1, headers: { trace: 'abc', empty: null }, timestamp: 1_700_000_000_000 },
          { key: null, value: null, partition: 0 },
          { value: 'v2', partition: 1 },
        ],
      });
      expect(produced).toMatchObject({
        status: 200,
        body: {
          offsets: [
            { partition: 1, offset: 0 },
            { partition: 0, offset: 0 },
            { partition: 1, offset: 1 },
          ],
        },
      });
      const fetched = await call('GET', `/v1/topics/${name}/partitions/1/records?offset=0`);
      expect(fetched.body).toEqual({
        records: [
          { offset: 0, timestamp: 1_700_000_000_000, key: 'k', value: 'v0', headers: { trace: 'abc', empty: null } },
          { offset: 1, timestamp: expect.any(Number), key: null, value: 'v2', headers: {} },
        ],
        next_offset: 2,
        high_watermark: 2,
      });
      expect((await call('GET', `/v1/topics/${name}/partitions/0/records`)).body.records[0]).toMatchObject({ key: null, value: null });
    });

    it('carries binary data as base64 both ways', async () => {
      const { call } = await setup();
      const name = topicName();
      const bytes = Buffer.from([0, 255, 128, 10]).toString('base64');
      await call('POST', `/v1/topics/${name}/records`, {
        encoding: 'base64',
        records: [{ key: bytes, value: bytes, headers: { h: bytes } }],
      });
      const fetched = await call('GET', `/v1/topics/${name}/partitions/0/records?encoding=base64`);
      expect(fetched.body.records[0]).toMatchObject({ key: bytes, value: bytes, headers: { h: bytes } });
    });

    it('produces text lines (text/plain), splitting keys at key_separator', async () => {
      const { call } = await setup();
      const name = topicName();
      await call('POST', '/v1/topics', { name, partitions: 1 });
      const ndjson = { 'content-type': 'text/plain; charset=utf-8' };
      expect(await call('POST', `/v1/topics/${name}/records`, 'plain one\r\nplain two\n', ndjson)).toMatchObject({
        status: 200,
        body: { offsets: [{ offset: 0 }, { offset: 1 }] },
      });
      await call('POST', `/v1/topics/${name}/records?key_separator=%3A`, 'user-1:{"a":1}\nuser-2:b:c', ndjson);
      const records = (await call('GET', `/v1/topics/${name}/partitions/0/records`)).body.records;
      expect(records.map((r: any) => [r.key, r.value])).toEqual([
        [null, 'plain one'],
        [null, 'plain two'],
        ['user-1', '{"a":1}'],
        ['user-2', 'b:c'],
      ]);
      const missing = await call('POST', `/v1/topics/${name}/records?key_separator=%3A`, 'ok:1\nno separator\n', ndjson);
      expect(missing).toMatchObject({
        status: 400,
        body: { error: { code: 'INVALID_ARGUMENT', message: 'line 2: expected a key separated by ":", got none' } },
      });
    });

    it("produces NDJSON as one JSON record per line, as a JSON body's records, naming the line of a bad one", async () => {
      const { call } = await setup();
      const name = topicName();
      await call('POST', '/v1/topics', { name, partitions: 2 });
      const ndjson = { 'content-type': 'application/x-ndjson' };
      const body = '{"key":"k","value":"v","headers":{"h":"x"}}\n   \n{"value":null,"partition":1,"timestamp":1000}\r\n';
      expect((await call('POST', `/v1/topics/${name}/records?partition=0`, body, ndjson)).body.offsets).toEqual([
        { partition: 0, offset: 0 },
        { partition: 1, offset: 0 },
      ]);
      const [first] = (await call('GET', `/v1/topics/${name}/partitions/0/records`)).body.records;
      expect(first).toMatchObject({ key: 'k', value: 'v', headers: { h: 'x' } });
      expect((await call('POST', `/v1/topics/${name}/records?encoding=base64&partition=1`, '{"value":"aGk="}\n', ndjson)).status).toBe(200);
      expect(await call('POST', `/v1/topics/${name}/records`, '{"value":"ok"}\nplain text\n', ndjson)).toMatchObject({
        status: 400,
        body: {
          error: {
            code: 'INVALID_ARGUMENT',
            field: 'line 2',
            message: 'line 2: expected a JSON record such as {"value": "…"}, got "plain text"',
          },
        },
      });
      expect(await call('POST', `/v1/topics/${name}/records`, '{"value":42}\n', ndjson)).toMatchObject({
        status: 400,
        body: { error: { field: 'line 1.value' } },
      });
      expect((await call('GET', `/v1/topics/${name}`)).body.partitions.map((p: any) => p.high_watermark)).toEqual([1, 2]); // nothing of a refused body
    });

    it('writes nothing of a batch that fails anywhere', async () => {
      const { call } = await setup();
      const name = topicName();
      await call('POST', '/v1/topics', { name, partitions: 2, config: { max_message_bytes: 200 } });
      const cases = [
        [{ records: [{ value: 'ok' }, { value: 'x'.repeat(500) }] }, 413, 'RECORD_TOO_LARGE'],
        [{ records: [{ value: 'ok' }, { value: 'ok', partition: 7 }] }, 404, 'PARTITION_NOT_FOUND'],
        [{ encoding: 'base64', records: [{ value: 'aGk=' }, { value: 'not base64!' }] }, 400, 'INVALID_ARGUMENT'],
        [{ records: [{ value: 'ok' }, { value: 42 }] }, 400, 'INVALID_ARGUMENT'],
      ] as const;
      for (const [body, status, code] of cases) {
        expect(await call('POST', `/v1/topics/${name}/records`, body)).toMatchObject({ status, body: { error: { code } } });
      }
      expect((await call('GET', `/v1/topics/${name}`)).body.partitions.map((p: any) => p.high_watermark)).toEqual([0, 0]);
    });

    it("refuses a timestamp outside the topic's message.timestamp bounds with INVALID_TIMESTAMP, and stamps a LogAppendTime topic's records itself", async () => {
      const { call } = await setup();
      const bounded = topicName();
      await call('POST', '/v1/topics', { name: bounded, config: { message_timestamp_before_max_ms: 60_000 } });
      const now = Date.now();
      const refused = await call('POST', `/v1/topics/${bounded}/records`, {
        records: [
          { value: 'ok', timestamp: now },
          { value: 'old', timestamp: now - 120_000 },
        ],
      });
      expect(refused).toMatchObject({ status: 400, body: { error: { code: 'INVALID_TIMESTAMP', index: 1, timestamp_ms: now - 120_000 } } });
      expect(
        (await call('POST', `/v1/topics/${bounded}/records`, { records: [{ value: 'future', timestamp: now + 7_200_000 }] })).body.error
          .code,
      ).toBe('INVALID_TIMESTAMP');
      expect((await call('GET', `/v1/topics/${bounded}`)).body).toMatchObject({
        partitions: [{ high_watermark: 0 }],
        config: {
          message_timestamp_type: 'CreateTime',
          message_timestamp_before_max_ms: 60_000,
          message_timestamp_after_max_ms: 3_600_000,
        },
      });

      const stamped = topicName();
      await call('POST', '/v1/topics', { name: stamped, config: { message_timestamp_type: 'LogAppendTime' } });
      await call('POST', `/v1/topics/${stamped}/records`, { records: [{ value: 'a', timestamp: 1000 }] });
      const [record] = (await call('GET', `/v1/topics/${stamped}/partitions/0/records`)).body.records;
      expect(record.timestamp).toBeGreaterThanOrEqual(now);
    });

    it('names the field, what was expected and what came in', async () => {
      const { call } = await setup();
      const response = await call('POST', `/v1/topics/${topicName()}/records`, { records: [{ value: 'a' }, { value: 42 }] });
      expect(response.body.error).toEqual({
        code: 'INVALID_ARGUMENT',
        message: 'records[1].value: expected string, got 42',
        field: 'records[1].value',
      });
      const base64 = await call('POST', `/v1/topics/${topicName()}/records`, { encoding: 'base64', records: [{ value: '%%%' }] });
      expect(base64.body.error.message).toBe('records[0].value: expected base64 (encoding is "base64"), got "%%%"');
    });

    it('answers acks=0 at once with offset -1, and commits anyway', async () => {
      const { call, log } = await setup();
      const name = topicName();
      expect((await call('POST', `/v1/topics/${name}/records?acks=0`, { records: [{ value: 'fire' }] })).body).toEqual({
        offsets: [{ partition: 0, offset: -1 }],
      });
      await log.flush();
      expect((await call('GET', `/v1/topics/${name}/partitions/0/records`)).body.records.map((r: any) => r.value)).toEqual(['fire']);
      expect(await call('POST', `/v1/topics/${name}/records?acks=2`, { records: [{ value: 'x' }] })).toMatchObject({ status: 400 });
    });

    it('auto-creates unknown topics, or answers 404 when that is off', async () => {
      const on = await setup();
      const name = topicName();
      expect((await on.call('POST', `/v1/topics/${name}/records`, { records: [{ value: 'a' }] })).status).toBe(200);
      expect((await on.call('GET', `/v1/topics/${name}`)).status).toBe(200);
      const off = await setup({ log: { autoCreateTopics: false } });
      expect(await off.call('POST', `/v1/topics/${topicName()}/records`, { records: [{ value: 'a' }] })).toMatchObject({
        status: 404,
        body: { error: { code: 'TOPIC_NOT_FOUND' } },
      });
    });

    it('refuses other media types with 415 and oversized bodies with 413', async () => {
      const { call } = await setup({ app: { maxBodyBytes: 1000 } });
      const name = topicName();
      expect(await call('POST', `/v1/topics/${name}/records`, 'a,b', { 'content-type': 'text/csv' })).toMatchObject({
        status: 415,
        body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } },
      });
      expect(await call('POST', `/v1/topics/${name}/records`, { records: [{ value: 'x'.repeat(2000) }] })).toMatchObject({
        status: 413,
        body: { error: { code: 'PAYLOAD_TOO_LARGE', max_bytes: 1000 } },
      });
    });

    it('answers 429 and 503 with Retry-After when storage throttles or is unavailable, writing nothing', async () => {
      const { call, stores } = await setup();
      const name = topicName();
      await call('POST', '/v1/topics', { name });
      stores.objects.beforePut = () => {
        throw new SpoolError('THROTTLED', 'SlowDown');
      };
      const throttled = await call('POST', `/v1/topics/${name}/records`, { records: [{ value: 'a' }] });
      expect(throttled).toMatchObject({ status: 429, body: { error: { code: 'THROTTLED' } } });
      expect(throttled.headers.get('retry-after')).toBe('1');
      stores.objects.beforePut = () => {
        throw new SpoolError('STORAGE_UNAVAILABLE', 'InternalError');
      };
      const unavailable = await call('POST', `/v1/topics/${name}/records`, { records: [{ value: 'a' }] });
      expect(unavailable).toMatchObject({ status: 503, body: { error: { code: 'STORAGE_UNAVAILABLE' } } });
      expect(unavailable.headers.get('retry-after')).toBe('1');
      stores.objects.beforePut = undefined;
      expect((await call('GET', `/v1/topics/${name}`)).body.partitions[0].high_watermark).toBe(0);
    });

    it('hides internal failures behind a plain 500', async () => {
      const { call, stores } = await setup();
      const name = topicName();
      await call('POST', `/v1/topics/${name}/records`, { records: [{ value: 'a' }] });
      const cold = newLog(stores, { cacheBytes: 0 });
      logs.push(cold);
      const app = createApp({
        log: cold,
        groups: new GroupCoordinator(cold, stores.metadata),
        queues: new QueueService(cold, stores.metadata),
        logger: silentLogger,
      });
      const get = stores.objects.get.bind(stores.objects);
      stores.objects.get = async () => {
        throw new TypeError('secret internal detail at /srv/spool');
      };
      const response = await app.request(`/v1/topics/${name}/partitions/0/records`);
      stores.objects.get = get;
      expect(response.status).toBe(500);
      const text = await response.text();
      expect(JSON.parse(text)).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
      expect(text).not.toContain('secret');
    });
  });

  describe('http > consumer groups', () => {
    it('joins, polls, commits, describes with lag, leaves and deletes a group', async () => {
      const { call } = await setup();
      const topic = topicName();
      const group = `g-${randomUUID().slice(0, 8)}`;
      await call('POST', '/v1/topics', { name: topic, partitions: 2 });
      await call('POST', `/v1/topics/${topic}/records`, { records: ['a', 'b', 'c', 'd'].map((value, i) => ({ value, partition: i % 2 })) });
      const joined = await call('POST', `/v1/groups/${group}/members`, {
        topics: [topic],
        auto_offset_reset: 'earliest',
        auto_commit: false,
        session_timeout_ms: 10_000,
      });
      expect(joined).toMatchObject({ status: 200, body: { generation: 1, state: 'stable', revoking: [] } });
      expect(joined.body.assignments).toEqual([
        { topic, partition: 0 },
        { topic, partition: 1 },
      ]);
      const member = joined.body.member_id as string;
      const polled = await call('GET', `/v1/groups/${group}/members/${member}/records?max_records=10`);
      expect(polled.body.generation).toBe(1);
      expect(polled.body.records.map((r: any) => [r.topic === topic, r.partition, r.offset, r.value]).sort()).toEqual([
        [true, 0, 0, 'a'],
        [true, 0, 1, 'c'],
        [true, 1, 0, 'b'],
        [true, 1, 1, 'd'],
      ]);
      expect(
        await call('POST', `/v1/groups/${group}/offsets`, {
          member_id: member,
          generation: 1,
          offsets: [{ topic, partition: 0, offset: 2 }],
        }),
      ).toMatchObject({ status: 204 });
      expect((await call('GET', `/v1/groups/${group}/offsets`)).body).toEqual({ offsets: [{ topic, partition: 0, offset: 2 }] });
      expect((await call('POST', `/v1/groups/${group}/members/${member}/heartbeat`)).body).toMatchObject({
        member_id: member,
        generation: 1,
        state: 'stable',
      });
      const described = await call('GET', `/v1/groups/${group}`);
      expect(described.body).toMatchObject({ group, state: 'stable', generation: 1, assignor: 'range' });
      expect(described.body.members[0]).toMatchObject({ member_id: member, topics: [topic], session_timeout_ms: 10_000 });
      expect(described.body.partitions).toEqual([
        { topic, partition: 0, committed_offset: 2, high_watermark: 2, lag: 0, member_id: member },
        { topic, partition: 1, committed_offset: null, high_watermark: 2, lag: null, member_id: member },
      ]);
      expect((await call('GET', '/v1/groups')).body.groups).toContainEqual({ group, state: 'stable', generation: 1, members: 1 });
      expect(await call('DELETE', `/v1/groups/${group}`)).toMatchObject({ status: 409, body: { error: { code: 'GROUP_NOT_EMPTY' } } });
      expect(await call('POST', `/v1/groups/${group}/offsets/reset`, { to: 'earliest' })).toMatchObject({
        status: 409,
        body: { error: { code: 'GROUP_NOT_EMPTY' } },
      });
      expect(await call('DELETE', `/v1/groups/${group}/members/${member}`)).toMatchObject({ status: 204 });
      expect(await call('POST', `/v1/groups/${group}/members/${member}/heartbeat`)).toMatchObject({
        status: 404,
        body: { error: { code: 'UNKNOWN_MEMBER_ID' } },
      });
      expect((await call('POST', `/v1/groups/${group}/offsets/reset`, { to: { offset: 1 }, topics: [topic] })).body).toEqual({
        offsets: [
          { topic, partition: 0, offset: 1 },
          { topic, partition: 1, offset: 1 },
        ],
      });
      expect(await call('POST', `/v1/groups/${group}/offsets`, { offsets: [{ topic, partition: 1, offset: 2 }] })).toMatchObject({
        status: 204,
      });
      expect(await call('DELETE', `/v1/groups/${group}`)).toMatchObject({ status: 204 });
      expect(await call('GET', `/v1/groups/${group}`)).toMatchObject({ status: 404, body: { error: { code: 'GROUP_NOT_FOUND' } } });
    });

    it('refuses stale generations, unknown topics and bad requests with stable codes', async () => {
      const { call } = await setup();
      const topic = topicName();
      const group = `g-${randomUUID().slice(0, 8)}`;
      await call('POST', '/v1/topics', { name: topic, partitions: 2 });
      const a = (await call('POST', `/v1/groups/${group}/members`, { topics: [topic] })).body;
      const b = (await call('POST', `/v1/groups/${group}/members`, { topics: [topic] })).body;
      expect(b.generation).toBe(2);
      expect(
        await call('POST', `/v1/groups/${group}/offsets`, {
          member_id: a.member_id,
          generation: 1,
          offsets: [{ topic, partition: 0, offset: 1 }],
        }),
      ).toMatchObject({
        status: 409,
        body: { error: { code: 'ILLEGAL_GENERATION', generation: 2 } },
      });
      expect(await call('POST', `/v1/groups/${group}/offsets`, { offsets: [{ topic, partition: 0, offset: 1 }] })).toMatchObject({
        status: 409,
        body: { error: { code: 'GROUP_NOT_EMPTY' } },
      });
      expect(await call('POST', `/v1/groups/${group}/members`, { topics: [topic], assignor: 'roundrobin' })).toMatchObject({
        status: 409,
        body: { error: { code: 'INCONSISTENT_GROUP_PROTOCOL' } },
      });
      expect(await call('POST', `/v1/groups/${group}/members`, { topics: [topicName()] })).toMatchObject({
        status: 404,
        body: { error: { code: 'TOPIC_NOT_FOUND' } },
      });
      expect(await call('POST', `/v1/groups/${group}/members`, { topics: [] })).toMatchObject({
        status: 400,
        body: { error: { field: 'topics' } },
      });
      expect(await call('POST', `/v1/groups/${group}/members`, { topics: [topic], auto_offset_reset: 'sometimes' })).toMatchObject({
        status: 400,
        body: { error: { field: 'auto_offset_reset' } },
      });
      expect(await call('POST', `/v1/groups/bad group/members`, { topics: [topic] })).toMatchObject({
        status: 400,
        body: { error: { code: 'INVALID_ARGUMENT' } },
      });
      expect(await call('GET', `/v1/groups/${group}/members/nobody/records`)).toMatchObject({
        status: 404,
        body: { error: { code: 'UNKNOWN_MEMBER_ID' } },
      });
      expect(await call('GET', `/v1/groups/nothing-${randomUUID().slice(0, 6)}/offsets`)).toMatchObject({
        status: 404,
        body: { error: { code: 'GROUP_NOT_FOUND' } },
      });
    });
  });

  describe('http > hardening', () => {
    it('bounds the body of every route, not only produce', async () => {
      const { call } = await setup({ app: { maxBodyBytes: 1000 } });
      expect(await call('POST', '/v1/topics', { name: 'x'.repeat(2000) })).toMatchObject({
        status: 413,
        body: { error: { code: 'PAYLOAD_TOO_LARGE' } },
      });
      expect(await call('POST', '/v1/groups/g/members', { topics: ['x'.repeat(2000)] })).toMatchObject({ status: 413 });
    });

    it('turns new requests away once shutdown has begun, closing the connection', async () => {
      const shutdown = new AbortController();
      const { call } = await setup({ app: { shutdown: shutdown.signal } });
      expect((await call('GET', '/healthz')).status).toBe(200);
      shutdown.abort();
      const refused = await call('GET', '/v1/topics');
      expect(refused).toMatchObject({ status: 503, body: { error: { code: 'SHUTTING_DOWN' } } });
      expect(refused.headers.get('connection')).toBe('close');
    });

    it('lets go of the shutdown signal after every group poll, and a waiting poll ends when shutdown begins', async () => {
      const shutdown = new AbortController();
      const { call } = await setup({ app: { shutdown: shutdown.signal } });
      const topic = topicName();
      const group = `g-${randomUUID().slice(0, 8)}`;
      await call('POST', '/v1/topics', { name: topic, partitions: 2 });
      const joined = await call('POST', `/v1/groups/${group}/members`, { topics: [topic], auto_offset_reset: 'earliest' });
      const member = joined.body.member_id as string;
      for (let i = 0; i < 20; i++) expect((await call('GET', `/v1/groups/${group}/members/${member}/records?wait_ms=1`)).status).toBe(200);
      // Nothing of the polls stays attached to the process-long signal: no listener, and none of the
      // dependant-signal entries AbortSignal.any left in it, one per poll, on Node 20 (nodejs/node#55351).
      expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
      const dependants = Object.getOwnPropertySymbols(shutdown.signal).find((symbol) => symbol.description === 'kDependantSignals');
      expect(dependants === undefined ? 0 : (shutdown.signal as unknown as Record<symbol, Set<unknown>>)[dependants]!.size).toBe(0);
      const waiting = call('GET', `/v1/groups/${group}/members/${member}/records?wait_ms=20000`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(1);
      const startedMs = Date.now();
      shutdown.abort();
      expect((await waiting).status).toBe(200);
      expect(Date.now() - startedMs).toBeLessThan(5000);
    });

    it('refuses server-sent events where responses are buffered (Lambda) with 406', async () => {
      const { call } = await setup({ app: { streaming: false } });
      const name = topicName();
      await call('POST', `/v1/topics/${name}/records`, { records: [{ value: 'a' }] });
      expect(await call('GET', `/v1/topics/${name}/partitions/0/records`, undefined, { accept: 'text/event-stream' })).toMatchObject({
        status: 406,
        body: { error: { code: 'NOT_ACCEPTABLE' } },
      });
    });

    it('answers deeply nested JSON with a 400, not a crash', async () => {
      const { call } = await setup();
      const nested = '['.repeat(100_000) + ']'.repeat(100_000);
      expect(await call('POST', '/v1/topics', nested)).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ARGUMENT' } } });
    });

    it('answers a method a path does not take with 405, Allow and a JSON error; an unknown path stays 404', async () => {
      const { call } = await setup();
      const name = topicName();
      const put = await call('PUT', `/v1/topics/${name}`, { partitions: 2 });
      expect(put).toMatchObject({ status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED', allow: ['DELETE', 'GET', 'PATCH'] } } });
      expect(put.headers.get('allow')).toBe('DELETE, GET, PATCH');
      expect(await call('DELETE', '/v1/topics')).toMatchObject({ status: 405, body: { error: { allow: ['GET', 'POST'] } } });
      expect(await call('GET', '/v1/nothing-here')).toMatchObject({ status: 404, body: { error: { code: 'ROUTE_NOT_FOUND' } } });
    });

    it('answers a long-poll on a topic deleted meanwhile with TOPIC_NOT_FOUND, and an offset beyond 2^53 naming its field', async () => {
      const { call, log } = await setup();
      const name = topicName();
      await call('POST', '/v1/topics', { name });
      const poll = call('GET', `/v1/topics/${name}/partitions/0/records?wait_ms=5000`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await log.deleteTopic(name);
      expect(await poll).toMatchObject({ status: 404, body: { error: { code: 'TOPIC_NOT_FOUND' } } });
      await call('POST', '/v1/topics', { name });
      expect(await call('GET', `/v1/topics/${name}/partitions/0/records?offset=99999999999999999999`)).toMatchObject({
        status: 400,
        body: { error: { code: 'INVALID_ARGUMENT', field: 'offset' } },
      });
    });

    it('reads with ?isolation=read_committed up to the last stable offset, long-polls there until the commit, never shows a marker', async () => {
      const { call, log } = await setup();
      const name = topicName();
      await call('POST', '/v1/topics', { name });
      const transactional = encodeRecordBatch([{ key: null, value: Buffer.from('in-txn'), timestampMs: Date.now() }], {
        producerId: 5,
        producerEpoch: 0,
        baseSequence: 0,
        isTransactional: true,
      });
      const transaction = { transactionalId: 'tx', verify: async () => {} };
      await (await log.appendBatches(name, 0, transactional, { transaction })).done;
      await call('POST', `/v1/topics/${name}/records`, { records: [{ value: 'plain', partition: 0 }] });
      const values = (body: unknown) => (body as { records: { value: string }[] }).records.map((r) => r.value);
      expect(values((await call('GET', `/v1/topics/${name}/partitions/0/records`)).body)).toEqual(['in-txn', 'plain']);
      expect(values((await call('GET', `/v1/topics/${name}/partitions/0/records?isolation=read_committed`)).body)).toEqual([]);
      const poll = call('GET', `/v1/topics/${name}/partitions/0/records?isolation=read_committed&wait_ms=10000`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await log.writeMarkers([{ topic: name, partition: 0, producerId: 5, producerEpoch: 0, commit: true, version: 1 }]);
      expect(values((await poll).body)).toEqual(['in-txn', 'plain']);
      expect(values((await call('GET', `/v1/topics/${name}/partitions/0/records?offset=2`)).body)).toEqual([]); // the marker, at 2
      expect(await call('GET', `/v1/topics/${name}/partitions/0/records?isolation=serializable`)).toMatchObject({ status: 400 });
    });

    it('refuses a Last-Event-ID that is not an offset with 400, before streaming', async () => {
      const { call } = await setup();
      const name = topicName();
      await call('POST', '/v1/topics', { name });
      const answer = await call('GET', `/v1/topics/${name}/partitions/0/records`, undefined, {
        accept: 'text/event-stream',
        'last-event-id': 'abc',
      });
      expect(answer).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ARGUMENT', field: 'Last-Event-ID' } } });
    });

    it('reads integers in queries and paths strictly', async () => {
      const { call } = await setup();
      const name = topicName();
      await call('POST', '/v1/topics', { name, partitions: 2 });
      expect(await call('POST', `/v1/topics/${name}/records?partition=`, 'a\n', { 'content-type': 'text/plain' })).toMatchObject({
        status: 400,
      });
      expect(await call('GET', `/v1/topics/${name}/partitions/0x1/records`)).toMatchObject({
        status: 400,
        body: { error: { field: 'partition' } },
      });
      expect(await call('GET', `/v1/topics/${name}/partitions/1e0/records`)).toMatchObject({ status: 400 });
      expect(await call('GET', `/v1/topics/${name}/partitions/0/records?wait_ms=`)).toMatchObject({ status: 400 });
    });

    it('skips empty text lines, but keeps a line of spaces as a value (as a console producer); skips NDJSON lines of only whitespace', async () => {
      const { call } = await setup();
      const name = topicName();
      expect(
        (await call('POST', `/v1/topics/${name}/records`, '\n\r\nonly\n  \n\n', { 'content-type': 'text/plain' })).body.offsets,
      ).toHaveLength(2);
      expect(
        (await call('POST', `/v1/topics/${name}/records`, '\n \t\r\n{"value":"only"}\n\n', { 'content-type': 'application/x-ndjson' })).body
          .offsets,
      ).toHaveLength(1);
    });

    it('describes storage failures without quoting storage', async () => {
      const { call, stores } = await setup();
      stores.objects.beforePut = () => {
        throw new SpoolError('STORAGE_UNAVAILABLE', 'PUT segments/secret-key failed: storage unavailable (InternalError)');
      };
      const response = await call('POST', `/v1/topics/${topicName()}/records`, { records: [{ value: 'a' }] });
      stores.objects.beforePut = undefined;
      expect(response.body.error).toEqual({
        code: 'STORAGE_UNAVAILABLE',
        message: 'storage is unavailable; retry after the Retry-After delay',
      });
    });
  });

  describe('http > admin', () => {
    it('runs a maintenance pass on POST /v1/admin/maintenance and reports it', async () => {
      const { call } = await setup({ log: { maintenance: { compactionTailAgeMs: 0 } } });
      const name = topicName();
      for (let i = 0; i < 4; i++) await call('POST', `/v1/topics/${name}/records`, { records: [{ value: `v${i}` }] });
      const { status, body } = await call('POST', '/v1/admin/maintenance');
      expect(status).toBe(200);
      expect(body).toMatchObject({ segments_compacted: 1, rows_merged: 4, rows_before: 4, rows_after: 1, objects_written: 3 });
      expect((await call('GET', `/v1/topics/${name}/partitions/0/records`)).body.records.map((r: any) => r.value)).toEqual([
        'v0',
        'v1',
        'v2',
        'v3',
      ]);
    });

    it('answers with a pass that began after the request, not one already under way', async () => {
      const { call, log, stores } = await setup({ log: { maintenance: { compactionTailAgeMs: 0 } } });
      // A pass (the agent's schedule) lists the topics, none yet, and is held until the request is in.
      const { listed: topicsListed, release } = holdTopicsListing(stores);
      const scheduled = log.runMaintenance();
      await topicsListed;
      const name = topicName();
      for (let i = 0; i < 4; i++) await call('POST', `/v1/topics/${name}/records`, { records: [{ value: `v${i}` }] });
      const run = log.runMaintenance.bind(log);
      let requested!: () => void;
      const requestIn = new Promise<void>((resolve) => (requested = resolve));
      log.runMaintenance = (options) => {
        const pass = run(options);
        requested();
        return pass;
      };
      const asked = call('POST', '/v1/admin/maintenance');
      await requestIn; // the request has asked for its pass while the scheduled one is held
      release();
      expect(await scheduled).toMatchObject({ segments_compacted: 0 });
      expect(await asked).toMatchObject({ status: 200, body: { segments_compacted: 1, rows_merged: 4 } });
    });

    it('cleans a compacted topic: the latest record per key stays at its offset, next_offset steps over the gaps; keyless records are refused', async () => {
      const { call } = await setup({ log: { maintenance: { compactionTailAgeMs: 0 } } });
      const name = topicName();
      expect(await call('POST', '/v1/topics', { name, config: { cleanup_policy: 'compact' } })).toMatchObject({ status: 201 });
      const keyless = await call('POST', `/v1/topics/${name}/records`, { records: [{ key: 'a', value: '1' }, { value: 'no key' }] });
      expect(keyless).toMatchObject({ status: 400, body: { error: { code: 'INVALID_RECORD', index: 1 } } });
      for (const value of ['1', '2', '3'])
        await call('POST', `/v1/topics/${name}/records`, {
          records: [
            { key: 'a', value },
            { key: `b${value}`, value },
          ],
        });
      const pass = await call('POST', '/v1/admin/maintenance');
      expect(pass.body).toMatchObject({ partitions_cleaned: 1, records_cleaned: 2 });
      const read = (await call('GET', `/v1/topics/${name}/partitions/0/records?offset=0&max_records=2`)).body;
      expect(read.records.map((r: any) => [r.offset, r.key, r.value])).toEqual([
        [1, 'b1', '1'],
        [3, 'b2', '2'],
      ]);
      const rest = (await call('GET', `/v1/topics/${name}/partitions/0/records?offset=${read.next_offset}`)).body;
      expect(rest.records.map((r: any) => [r.offset, r.key, r.value])).toEqual([
        [4, 'a', '3'],
        [5, 'b3', '3'],
      ]);
      expect(rest.next_offset).toBe(6);
    });

    it("keeps the last pass for GET /v1/cluster, and the topic list shows each topic's stored bytes from it", async () => {
      const { call, log } = await setup({ cluster: true });
      const name = topicName();
      await call('POST', '/v1/topics', { name, partitions: 2 });
      expect((await call('GET', '/v1/topics')).body.topics).toContainEqual(
        expect.objectContaining({
          name,
          partitions: 2,
          stored_bytes: null,
          config: expect.objectContaining({ retention_ms: 604_800_000 }),
        }),
      );
      for (let i = 0; i < 6; i++) await call('POST', `/v1/topics/${name}/records`, { records: [{ value: `v${i}`, partition: i % 2 }] });
      const before = await call('GET', '/v1/cluster');
      expect(before).toMatchObject({ status: 200, body: { maintenance: null, leadership: { without_leader: expect.any(Number) } } });
      const pass = (await call('POST', '/v1/admin/maintenance')).body;
      const stored = (await log.partitionSizeBytes(name, 0)) + (await log.partitionSizeBytes(name, 1));
      expect(stored).toBeGreaterThan(0);
      expect((await call('GET', '/v1/topics')).body.topics).toContainEqual(expect.objectContaining({ name, stored_bytes: stored }));
      const { body } = await call('GET', '/v1/cluster');
      expect(body.maintenance).toMatchObject({
        result: { rows_after: pass.rows_after, objects_after: pass.objects_after },
        topics_omitted: 0,
      });
      expect(body.maintenance.topic_bytes[name]).toBe(stored);
      expect(body.maintenance.ended_ms).toBeLessThanOrEqual(body.now_ms);
      expect(body.leadership.partitions).toBeGreaterThanOrEqual(2);
      expect(body.cost_last_hour).toBeNull(); // no meter: the stores here are not counted
    });
  });

  describe('http > activity', () => {
    it('answers records and bytes committed per step from the rows, the newest step last, before and after compaction', async () => {
      const { call } = await setup({ log: { maintenance: { compactionTailAgeMs: 0 } } });
      const name = topicName();
      await call('POST', '/v1/topics', { name, partitions: 2 });
      await call('POST', `/v1/topics/${name}/records`, {
        records: [
          { value: 'a', partition: 0 },
          { value: 'b', partition: 1 },
        ],
      });
      await call('POST', `/v1/topics/${name}/records`, { records: [{ value: 'c', partition: 1 }] });
      const { status, body } = await call('GET', `/v1/topics/${name}/activity?minutes=10&step_seconds=60`);
      expect(status).toBe(200);
      expect(body).toMatchObject({ step_ms: 60_000, partitions: 2, partitions_read: 2 });
      expect(body.records).toHaveLength(10);
      expect(body.records.reduce((sum: number, n: number) => sum + n, 0)).toBe(3);
      // In the newest step, or the one before if a minute began in between.
      expect(body.records.at(-1) + body.records.at(-2)).toBe(3);
      expect(body.bytes.at(-1) + body.bytes.at(-2)).toBeGreaterThan(0);
      expect(body.from_ms + 10 * 60_000).toBeGreaterThan(Date.now());
      // Compaction rewrites each partition's rows into one (partition 1's spread over its two commits): the same total.
      expect((await call('POST', '/v1/admin/maintenance')).body).toMatchObject({ rows_merged: 3, rows_after: 2 });
      const after = (await call('GET', `/v1/topics/${name}/activity?minutes=10&step_seconds=60`)).body;
      expect(after.records.reduce((sum: number, n: number) => sum + n, 0)).toBeCloseTo(3, 6);
      expect(after.bytes.reduce((sum: number, n: number) => sum + n, 0)).toBeGreaterThan(0);
    });

    it('refuses a window of too many steps or a step of nothing, and a topic that does not exist', async () => {
      const { call } = await setup();
      const name = topicName();
      await call('POST', '/v1/topics', { name, partitions: 1 });
      expect(await call('GET', `/v1/topics/${name}/activity?minutes=10080&step_seconds=1`)).toMatchObject({
        status: 400,
        body: { error: { code: 'INVALID_ARGUMENT', message: expect.stringContaining('at most 1440 steps') } },
      });
      expect((await call('GET', `/v1/topics/${name}/activity?step_seconds=0`)).status).toBe(400);
      expect((await call('GET', `/v1/topics/${name}/activity?minutes=1e3`)).status).toBe(400);
      expect((await call('GET', `/v1/topics/${topicName()}/activity`)).body.error.code).toBe('TOPIC_NOT_FOUND');
    });
  });

  describe('http > fetch', () => {
    async function withRecords(count: number) {
      const setupResult = await setup();
      const name = topicName();
      await setupResult.call('POST', '/v1/topics', { name, partitions: 1 });
      for (let i = 0; i < count; i++) {
        await setupResult.call('POST', `/v1/topics/${name}/records`, { records: [{ value: `v${i}`, timestamp: 1_000 + i * 10 }] });
      }
      return { ...setupResult, name };
    }

    it('reads from earliest, latest or a number, within max_records and max_bytes', async () => {
      const { call, name } = await withRecords(5);
      const base = `/v1/topics/${name}/partitions/0/records`;
      expect((await call('GET', `${base}?offset=earliest&max_records=2`)).body).toMatchObject({ next_offset: 2, high_watermark: 5 });
      expect((await call('GET', `${base}?offset=3`)).body.records.map((r: any) => r.offset)).toEqual([3, 4]);
      expect((await call('GET', `${base}?offset=latest`)).body).toEqual({ records: [], next_offset: 5, high_watermark: 5 });
      expect((await call('GET', `${base}?offset=0&max_bytes=1`)).body.records).toHaveLength(1);
    });

    it('answers 416 OFFSET_OUT_OF_RANGE with the valid range, and 400/404 for bad parameters', async () => {
      const { call, name } = await withRecords(2);
      const base = `/v1/topics/${name}/partitions`;
      expect(await call('GET', `${base}/0/records?offset=9`)).toMatchObject({
        status: 416,
        body: { error: { code: 'OFFSET_OUT_OF_RANGE', earliest_offset: 0, high_watermark: 2 } },
      });
      expect(await call('GET', `${base}/0/records?offset=-1`)).toMatchObject({
        status: 400,
        body: { error: { code: 'INVALID_ARGUMENT' } },
      });
      expect(await call('GET', `${base}/0/records?max_records=0`)).toMatchObject({
        status: 400,
        body: { error: { field: 'max_records' } },
      });
      expect(await call('GET', `${base}/5/records`)).toMatchObject({ status: 404, body: { error: { code: 'PARTITION_NOT_FOUND' } } });
      expect(await call('GET', `${base}/x/records`)).toMatchObject({ status: 400, body: { error: { field: 'partition' } } });
      expect(await call('GET', `/v1/topics/${topicName()}/partitions/0/records`)).toMatchObject({
        status: 404,
        body: { error: { code: 'TOPIC_NOT_FOUND' } },
      });
    });

    it('long-polls with wait_ms until a record arrives', async () => {
      const { call, name } = await withRecords(1);
      const started = Date.now();
      const waiting = call('GET', `/v1/topics/${name}/partitions/0/records?offset=1&wait_ms=10000`);
      setTimeout(() => void call('POST', `/v1/topics/${name}/records`, { records: [{ value: 'late' }] }), 100);
      const { body } = await waiting;
      expect(body.records.map((r: any) => r.value)).toEqual(['late']);
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it('streams records as server-sent events, resumable with Last-Event-ID', async () => {
      const { app, call, name } = await withRecords(3);
      const shutdown = new AbortController();
      const read = async (headers: Record<string, string>, count: number) => {
        const response = await app.request(`/v1/topics/${name}/partitions/0/records?offset=0`, {
          headers: { accept: 'text/event-stream', ...headers },
        });
        expect(response.headers.get('content-type')).toContain('text/event-stream');
        const reader = response.body!.getReader();
        let text = '';
        const events: { id: string; data: any }[] = [];
        while (events.length < count) {
          const { value, done } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
          const blocks = text.split('\n\n');
          text = blocks.pop()!;
          for (const block of blocks) {
            const id = /^id: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (id !== undefined && data !== undefined) events.push({ id, data: JSON.parse(data) });
          }
        }
        await reader.cancel();
        return events;
      };
      const first = await read({}, 3);
      expect(first.map((e) => [e.id, e.data.value])).toEqual([
        ['0', 'v0'],
        ['1', 'v1'],
        ['2', 'v2'],
      ]);
      setTimeout(() => void call('POST', `/v1/topics/${name}/records`, { records: [{ value: 'v3' }] }), 100);
      const resumed = await read({ 'last-event-id': '1' }, 2);
      expect(resumed.map((e) => [e.id, e.data.value])).toEqual([
        ['2', 'v2'],
        ['3', 'v3'],
      ]);
      shutdown.abort();
      expect(
        await call('GET', `/v1/topics/${name}/partitions/0/records?offset=99`, undefined, { accept: 'text/event-stream' }),
      ).toMatchObject({ status: 416 });
    });

    it('finds offsets by timestamp (with the record found), the max timestamp, earliest and latest', async () => {
      const { call, name } = await withRecords(4); // timestamps 1000, 1010, 1020, 1030
      const at = async (t: string) => (await call('GET', `/v1/topics/${name}/partitions/0/offsets?timestamp=${t}`)).body;
      expect(await at('1015')).toEqual({ offset: 2, timestamp: 1020 });
      expect(await at('max_timestamp')).toEqual({ offset: 3, timestamp: 1030 });
      expect(await at('earliest')).toEqual({ offset: 0, timestamp: null });
      expect(await at('latest')).toEqual({ offset: 4, timestamp: null });
      expect(await at('5000')).toEqual({ offset: null, timestamp: null });
      expect(await call('GET', `/v1/topics/${name}/partitions/0/offsets?timestamp=yesterday`)).toMatchObject({
        status: 400,
        body: { error: { field: 'timestamp' } },
      });
      expect(await call('GET', `/v1/topics/${name}/partitions/0/offsets`)).toMatchObject({ status: 400 });
    });
  });
}
