/**
 * The queue routes (lib/http/queues.ts) as a client with no Kafka library uses them: receive with a
 * visibility, acknowledge by receipt or range with an outcome per record, extend, describe,
 * configure and delete; bad input answered with a stable code, and permissions as Kafka's.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeys } from '../../lib/auth.js';
import type { Permission } from '../../lib/permissions.js';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { createApp } from '../../lib/http/app.js';
import type { Log } from '../../lib/log/index.js';
import { silentLogger } from '../../lib/logger.js';
import { QueueService } from '../../lib/queues/service.js';
import { closeAll, newLog, openTestStores, type TestStores } from '../support/logs.js';
import { embedded } from '../support/stores.js';

let stores: TestStores;
let log: Log;
let keys: ApiKeys;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  stores = await openTestStores(embedded.locations());
  log = newLog(stores);
  keys = new ApiKeys(stores.metadata, { rootToken: 'root' });
  app = createApp({
    log,
    groups: new GroupCoordinator(log, stores.metadata),
    queues: new QueueService(log, stores.metadata, { configCacheMs: 0 }),
    logger: silentLogger,
    auth: keys,
  });
});

afterAll(async () => {
  await closeAll([log], [stores]);
});

async function call(method: string, path: string, body?: unknown, token = 'root') {
  const response = await app.request(path, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function queue(records: number) {
  const topic = `q-${randomUUID()}`;
  const group = `g-${randomUUID()}`;
  expect((await call('POST', '/v1/topics', { name: topic, partitions: 1 })).status).toBe(201);
  if (records > 0)
    await call('POST', `/v1/topics/${topic}/records`, { records: Array.from({ length: records }, (_, i) => ({ value: `m${i}` })) });
  expect((await call('PATCH', `/v1/queues/${group}`, { config: { share_auto_offset_reset: 'earliest' } })).status).toBe(200);
  const base = `/v1/queues/${group}/topics/${topic}`;
  return { topic, group, base };
}

describe('http > queues', () => {
  it('receives records with receipts, settles each with its outcome, and describes the group', async () => {
    const { topic, group, base } = await queue(3);
    const received = await call('POST', `${base}/receive`, { max_records: 2, visibility_ms: 60_000 });
    expect(received.status).toBe(200);
    expect(received.body.records).toEqual([
      {
        partition: 0,
        offset: 0,
        timestamp: expect.any(Number),
        key: null,
        value: 'm0',
        headers: {},
        delivery_count: 1,
        receipt: expect.any(String),
      },
      {
        partition: 0,
        offset: 1,
        timestamp: expect.any(Number),
        key: null,
        value: 'm1',
        headers: {},
        delivery_count: 1,
        receipt: expect.any(String),
      },
    ]);
    const [m0, m1] = received.body.records;
    const acked = await call('POST', `${base}/ack`, { acks: [{ receipt: m0.receipt }, { receipt: m1.receipt, outcome: 'release' }] });
    expect(acked).toEqual({ status: 200, body: { results: [{ status: 'ok' }, { status: 'ok' }] } });
    // The same request again, as after a lost answer: nothing more is settled, and it says so.
    const again = await call('POST', `${base}/ack`, { acks: [{ receipt: m0.receipt }] });
    expect(again.body.results).toEqual([{ status: 'already_settled', reason: expect.any(String) }]);
    // m1 comes back a second time; m2 for the first; settled by holder and range.
    const next = await call('POST', `${base}/receive`, { max_records: 5 });
    expect(next.body.records.map((r: { value: string; delivery_count: number }) => [r.value, r.delivery_count])).toEqual([
      ['m1', 2],
      ['m2', 1],
    ]);
    const byRange = await call('POST', `${base}/ack`, {
      acks: [{ holder: next.body.holder, partition: 0, first_offset: 1, last_offset: 2, outcome: 'reject' }],
    });
    expect(byRange.body.results).toEqual([{ status: 'ok' }]);
    const described = await call('GET', `/v1/queues/${group}`);
    expect(described).toEqual({
      status: 200,
      body: {
        group,
        config: {
          share_auto_offset_reset: 'earliest',
          share_record_lock_duration_ms: 30_000,
          share_delivery_count_limit: 5,
          share_isolation_level: 'read_uncommitted',
        },
        partitions: [{ topic, partition: 0, start_offset: 3, end_offset: 3, log_end_offset: 3, acquired: 0, available: 0, dead: 2 }],
      },
    });
  });

  it('extends a lock by receipt', async () => {
    const { base } = await queue(1);
    const received = await call('POST', `${base}/receive`, { visibility_ms: 1000 });
    const extended = await call('POST', `${base}/extend`, {
      records: [{ receipt: received.body.records[0].receipt }],
      visibility_ms: 60_000,
    });
    expect(extended.body.results).toEqual([{ status: 'ok' }]);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await call('POST', `${base}/receive`, {})).body.records).toEqual([]);
  });

  it('answers bad input with a stable code, and changes nothing', async () => {
    const { group, base } = await queue(1);
    const codeOf = async (method: string, path: string, body?: unknown) => {
      const answer = await call(method, path, body);
      return [answer.status, answer.body?.error?.code];
    };
    expect(await codeOf('POST', `${base}/ack`, { acks: [{ receipt: 'not-a-receipt' }] })).toEqual([400, 'INVALID_ARGUMENT']);
    expect(await codeOf('POST', `${base}/ack`, { acks: [] })).toEqual([400, 'INVALID_ARGUMENT']);
    expect(await codeOf('POST', `${base}/receive`, { visibility_ms: 5 })).toEqual([400, 'INVALID_ARGUMENT']);
    expect(await codeOf('POST', `${base}/receive`, { max_records: 0 })).toEqual([400, 'INVALID_ARGUMENT']);
    expect(await codeOf('POST', `${base}/receive`, { unknown: 1 })).toEqual([400, 'INVALID_ARGUMENT']);
    expect(await codeOf('POST', `/v1/queues/${group}/topics/missing/receive`, {})).toEqual([404, 'TOPIC_NOT_FOUND']);
    expect(await codeOf('PATCH', `/v1/queues/${group}`, { config: { share_delivery_count_limit: 1 } })).toEqual([400, 'INVALID_CONFIG']);
    expect(await codeOf('GET', `/v1/queues/g-${randomUUID()}`)).toEqual([404, 'GROUP_NOT_FOUND']);
    const held = await call('POST', `${base}/receive`, {});
    expect(held.body.records).toHaveLength(1);
    expect(await codeOf('DELETE', `/v1/queues/${group}`)).toEqual([409, 'GROUP_NOT_EMPTY']);
    expect((await call('POST', `${base}/ack`, { acks: [{ receipt: held.body.records[0].receipt }] })).body.results).toEqual([
      { status: 'ok' },
    ]);
    expect((await call('DELETE', `/v1/queues/${group}`)).status).toBe(204);
  });

  it('asks read on the group and the topic to receive and settle, describe to describe, admin to configure', async () => {
    const { topic, group, base } = await queue(1);
    const key = async (permissions: Permission[]) => (await keys.create(`k-${randomUUID()}`, permissions)).key;
    const reader = await key([
      { topics: topic, actions: ['read'] },
      { groups: group, actions: ['read', 'describe'] },
    ]);
    const noTopic = await key([{ groups: group, actions: ['read'] }]);
    const noGroup = await key([{ topics: topic, actions: ['read'] }]);
    expect((await call('POST', `${base}/receive`, {}, noTopic)).status).toBe(403);
    expect((await call('POST', `${base}/receive`, {}, noGroup)).status).toBe(403);
    const received = await call('POST', `${base}/receive`, {}, reader);
    expect(received.body.records).toHaveLength(1);
    expect((await call('POST', `${base}/ack`, { acks: [{ receipt: received.body.records[0].receipt }] }, noTopic)).status).toBe(403);
    expect((await call('POST', `${base}/ack`, { acks: [{ receipt: received.body.records[0].receipt }] }, reader)).status).toBe(200);
    expect((await call('GET', `/v1/queues/${group}`, undefined, reader)).status).toBe(200);
    expect((await call('PATCH', `/v1/queues/${group}`, { config: { share_delivery_count_limit: 3 } }, reader)).status).toBe(403);
    expect((await call('DELETE', `/v1/queues/${group}`, undefined, reader)).status).toBe(403);
  });
});
