/**
 * The queue routes (lib/http/queues.ts) as a client with no Kafka library uses them: receive with a
 * visibility, acknowledge by receipt or range with an outcome per record, extend, describe,
 * configure and delete, redrive dead letters; bad input answered with a stable code, and permissions
 * as Kafka's.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeys } from '../../lib/auth.js';
import type { Permission } from '../../lib/permissions.js';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { createApp } from '../../lib/http/app.js';
import type { Log } from '../../lib/log/index.js';
import { silentLogger } from '../../lib/logger.js';
import { deadLetterHeaders } from '../../lib/queues/redrive.js';
import { QueueService } from '../../lib/queues/service.js';
import { closeAll, newLog, openTestStores, type TestStores } from '../support/logs.js';
import { embedded } from '../support/stores.js';

let stores: TestStores;
let log: Log;
let keys: ApiKeys;
let queues: QueueService;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  stores = await openTestStores(embedded.locations());
  log = newLog(stores);
  keys = new ApiKeys(stores.metadata, { rootToken: 'root' });
  queues = new QueueService(log, stores.metadata, { configCacheMs: 0 });
  app = createApp({
    log,
    groups: new GroupCoordinator(log, stores.metadata),
    queues,
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
          errors_deadletterqueue_topic_name: '',
          errors_deadletterqueue_copy_record_enable: false,
        },
        partitions: [
          { topic, partition: 0, start_offset: 3, end_offset: 3, log_end_offset: 3, acquired: 0, available: 0, dead: 2, delayed: 0 },
        ],
      },
    });
  });

  it('writes a rejected record to the group’s dead-letter topic, with the reason the reject gave', async () => {
    const { topic, group, base } = await queue(2);
    const dlq = `dlq.${randomUUID()}`;
    expect(
      (await call('POST', '/v1/topics', { name: dlq, partitions: 1, config: { errors_deadletterqueue_group_enable: true } })).status,
    ).toBe(201);
    const altered = await call('PATCH', `/v1/queues/${group}`, {
      config: { errors_deadletterqueue_topic_name: dlq, errors_deadletterqueue_copy_record_enable: true },
    });
    expect(altered.body.config).toMatchObject({ errors_deadletterqueue_topic_name: dlq, errors_deadletterqueue_copy_record_enable: true });
    const [m0, m1] = (await call('POST', `${base}/receive`, { max_records: 2 })).body.records;
    // Only a reject carries a reason: refused whole, nothing settled.
    const refused = await call('POST', `${base}/ack`, { acks: [{ receipt: m0.receipt, outcome: 'accept', error: 'why' }] });
    expect([refused.status, refused.body.error.code, refused.body.error.field]).toEqual([400, 'INVALID_ARGUMENT', 'acks[0].error']);
    const acked = await call('POST', `${base}/ack`, {
      acks: [
        { receipt: m0.receipt, outcome: 'reject', error: 'bad payload' },
        { receipt: m1.receipt, outcome: 'reject' },
      ],
    });
    expect(acked.body.results).toEqual([{ status: 'ok' }, { status: 'ok' }]);
    const letters = await call('GET', `/v1/topics/${dlq}/partitions/0/records?offset=0`);
    expect(
      letters.body.records.map((r: { value: string; headers: Record<string, string> }) => [r.value, r.headers['__dlq.errors.message']]),
    ).toEqual([
      ['m0', 'bad payload'],
      ['m1', 'Offset rejected by client.'],
    ]);
    expect(letters.body.records[0].headers).toMatchObject({ '__dlq.errors.topic': topic, '__dlq.errors.group': group });
  });

  it('delays a record produced with deliver_after_ms or deliver_at for receivers, not for ordinary readers', async () => {
    const { topic, base } = await queue(0);
    const produced = await call('POST', `/v1/topics/${topic}/records`, {
      records: [
        { value: 'in 500 ms', deliver_after_ms: 500 },
        { value: 'in an hour', deliver_at: new Date(Date.now() + 3_600_000).toISOString() },
        { value: 'at once', deliver_at: 0 },
      ],
    });
    expect(produced.status).toBe(200);
    // An ordinary fetch reads them all at their offsets, the time in a header.
    const fetched = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`);
    expect(fetched.body.records.map((r: { value: string }) => r.value)).toEqual(['in 500 ms', 'in an hour', 'at once']);
    expect(Number(fetched.body.records[0].headers['spool.deliver.at.ms'])).toBeGreaterThan(Date.now() - 1000);
    const first = await call('POST', `${base}/receive`, { max_records: 10 });
    expect(first.body.records.map((r: { value: string }) => r.value)).toEqual(['at once']);
    const waited = await call('POST', `${base}/receive`, { max_records: 10, wait_ms: 10_000 });
    expect(waited.body.records.map((r: { value: string; delivery_count: number }) => [r.value, r.delivery_count])).toEqual([
      ['in 500 ms', 1],
    ]);
    // Bad times are refused, nothing written.
    for (const [record, field] of [
      [{ value: 'x', deliver_at: 'tomorrow' }, 'records[0].deliver_at'],
      [{ value: 'x', deliver_at: '2026-12-07T10:00:00' }, 'records[0].deliver_at'], // no zone
      [{ value: 'x', deliver_at: 1, deliver_after_ms: 1 }, 'records[0].deliver_at'],
      [{ value: 'x', deliver_after_ms: -1 }, 'records[0].deliver_after_ms'],
    ] as const) {
      const refused = await call('POST', `/v1/topics/${topic}/records`, { records: [record] });
      expect([refused.status, refused.body.error.code, refused.body.error.field]).toEqual([400, 'INVALID_ARGUMENT', field]);
    }
    expect((await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=3`)).body.records).toEqual([]);
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

  /** A source topic with 2 partitions, a dead-letter topic with 1, and a group whose errors.deadletterqueue.topic.name is it. */
  async function deadLetters() {
    const id = randomUUID();
    const [source, dlq, group] = [`src-${id}`, `dlq.${id}`, `g-${id}`];
    await log.createTopic(source, 2);
    await log.createTopic(dlq, 1);
    await queues.alterConfig(group, { 'errors.deadletterqueue.topic.name': dlq });
    /** Dead letters as Kafka 4.4 writes them (KIP-1191's headers, UTF-8 text). */
    const letter = (of: string, partition: number, value: string | null, topic = source) =>
      log.produce(dlq, [
        {
          key: value === null ? null : Buffer.from(`k-${value}`),
          value: value === null ? null : Buffer.from(value),
          headers: [
            [deadLetterHeaders.topic, topic],
            [deadLetterHeaders.partition, String(partition)],
            [deadLetterHeaders.offset, '0'],
            [deadLetterHeaders.group, of],
            [deadLetterHeaders.deliveryCount, '1'],
            [deadLetterHeaders.message, 'Offset rejected by client.'],
          ].map(([key, v]) => ({ key: key!, value: Buffer.from(v!) })),
        },
      ]);
    const sourceRecords = async (partition: number) =>
      (await call('GET', `/v1/topics/${source}/partitions/${partition}/records?offset=earliest`)).body.records.map(
        (r: { key: string; value: string; headers: object }) => [r.key, r.value, r.headers],
      );
    return { source, dlq, group, letter, sourceRecords };
  }

  it('redrives dead letters back to their topic and partition, and the next redrive goes on from there', async () => {
    const { dlq, group, letter, sourceRecords } = await deadLetters();
    await letter(group, 1, 'a');
    await letter('another-group', 0, 'b');
    await letter(group, 0, null);
    await letter(group, 0, 'c', `deleted-${randomUUID()}`);
    const redriven = await call('POST', `/v1/queues/${group}/redrive`, { max_records: 3 });
    expect(redriven).toEqual({
      status: 200,
      body: {
        group,
        dead_letter_topic: dlq,
        redrive_group: `spool-redrive.${group}`,
        moved: 1,
        passed_over: { other_group: 1, no_value: 1, missing_topic: 0, malformed: 0 },
        positions: [{ partition: 0, offset: 3, end_offset: 4 }],
      },
    });
    expect([await sourceRecords(0), await sourceRecords(1)]).toEqual([[], [['k-a', 'a', {}]]]);
    await letter(group, 0, 'd');
    const next = await call('POST', `/v1/queues/${group}/redrive`, { dead_letter_topic: dlq });
    expect([next.body.moved, next.body.passed_over, next.body.positions]).toEqual([
      1,
      { other_group: 0, no_value: 0, missing_topic: 1, malformed: 0 },
      [{ partition: 0, offset: 5, end_offset: 5 }],
    ]);
    expect(await sourceRecords(0)).toEqual([['k-d', 'd', {}]]);
    // The position is an ordinary consumer group's committed offset on the dead-letter topic.
    const position = await call('GET', `/v1/groups/spool-redrive.${group}`);
    expect(position.body.partitions).toEqual([
      { topic: dlq, partition: 0, committed_offset: 5, high_watermark: 5, lag: 0, member_id: null },
    ]);
  });

  it('answers a redrive of bad input with a stable code', async () => {
    const { group } = await deadLetters();
    const codeOf = async (path: string, body: unknown) => {
      const answer = await call('POST', path, body);
      return [answer.status, answer.body?.error?.code, answer.body?.error?.field];
    };
    expect(await codeOf(`/v1/queues/g-${randomUUID()}/redrive`, {})).toEqual([400, 'INVALID_ARGUMENT', 'dead_letter_topic']);
    expect(await codeOf(`/v1/queues/${group}/redrive`, { max_records: 0 })).toEqual([400, 'INVALID_ARGUMENT', 'max_records']);
    expect(await codeOf(`/v1/queues/${group}/redrive`, { max_records: 10_001 })).toEqual([400, 'INVALID_ARGUMENT', 'max_records']);
    expect(await codeOf(`/v1/queues/${group}/redrive`, { max_records: 'all' })).toEqual([400, 'INVALID_ARGUMENT', 'max_records']);
    expect(await codeOf(`/v1/queues/${group}/redrive`, { dead_letter_topic: '' })).toEqual([400, 'INVALID_ARGUMENT', 'dead_letter_topic']);
    expect(await codeOf(`/v1/queues/${group}/redrive`, { unknown: 1 })).toEqual([400, 'INVALID_ARGUMENT', 'json']);
    expect(await codeOf(`/v1/queues/${group}/redrive`, { dead_letter_topic: 'missing' })).toEqual([404, 'TOPIC_NOT_FOUND', undefined]);
    expect(await codeOf(`/v1/queues/${encodeURIComponent('a group')}/redrive`, {})).toEqual([400, 'INVALID_ARGUMENT', 'group']);
  });

  it('asks read on the group, the dead-letter topic and the position group to redrive, and write on the topics it sends back to', async () => {
    const { source, dlq, group, letter, sourceRecords } = await deadLetters();
    await letter(group, 0, 'a');
    const key = async (permissions: Permission[]) => (await keys.create(`k-${randomUUID()}`, permissions)).key;
    const grants: Permission[] = [
      { groups: group, actions: ['read'] },
      { groups: `spool-redrive.${group}`, actions: ['read'] },
      { topics: dlq, actions: ['read'] },
      { topics: source, actions: ['write'] },
    ];
    const codeWith = async (token: string) => {
      const answer = await call('POST', `/v1/queues/${group}/redrive`, {}, token);
      return [answer.status, answer.body?.error?.code];
    };
    // Without any one of them: refused, and nothing sent.
    for (const grant of grants)
      expect([grant, await codeWith(await key(grants.filter((g) => g !== grant)))]).toEqual([grant, [403, 'FORBIDDEN']]);
    expect(await sourceRecords(0)).toEqual([]);
    expect(await codeWith(await key(grants))).toEqual([200, undefined]);
    expect(await sourceRecords(0)).toEqual([['k-a', 'a', {}]]);
  });
});
