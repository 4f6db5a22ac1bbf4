/**
 * POST /v1/topics/{topic}/partitions/{partition}/delete-records: raises a partition's earliest
 * offset, as Kafka's DeleteRecords; records below it are gone for the HTTP readers too.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { QueueService } from '../../lib/queues/service.js';
import { createApp } from '../../lib/http/app.js';
import type { Log } from '../../lib/log/index.js';
import { silentLogger } from '../../lib/logger.js';
import { closeAll, newLog, openTestStores, type TestStores } from '../support/logs.js';
import { embedded } from '../support/stores.js';

let stores: TestStores;
let log: Log;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  stores = await openTestStores(embedded.locations());
  log = newLog(stores);
  app = createApp({
    log,
    groups: new GroupCoordinator(log, stores.metadata),
    queues: new QueueService(log, stores.metadata),
    logger: silentLogger,
  });
});

afterAll(async () => {
  await closeAll([log], [stores]);
});

async function call(method: string, path: string, body?: unknown) {
  const response = await app.request(path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

describe('http > delete records', () => {
  it('raises the earliest offset, never lowers it, and refuses offsets beyond the high watermark', async () => {
    const name = `h-${randomUUID().slice(0, 8)}`;
    await log.createTopic(name, 1);
    await log.produce(
      name,
      Array.from({ length: 5 }, (_, i) => ({ key: null, value: Buffer.from(`v${i}`), partition: 0 })),
    );
    const path = `/v1/topics/${name}/partitions/0/delete-records`;
    expect(await call('POST', path, { before_offset: 3 })).toEqual({ status: 200, body: { earliest_offset: 3 } });
    expect(await call('POST', path, { before_offset: 1 })).toEqual({ status: 200, body: { earliest_offset: 3 } });
    expect(await call('POST', path, { before_offset: 9 })).toMatchObject({
      status: 416,
      body: { error: { code: 'OFFSET_OUT_OF_RANGE' } },
    });
    expect(await call('POST', path, { before_offset: -1 })).toMatchObject({ status: 400 });
    expect(await call('GET', `/v1/topics/${name}/partitions/0/records?offset=2`)).toMatchObject({ status: 416 });
    const read = await call('GET', `/v1/topics/${name}/partitions/0/records?offset=earliest`);
    expect(read.body.records.map((r: { offset: number }) => r.offset)).toEqual([3, 4]);
    expect(await call('GET', `/v1/topics/${name}`)).toMatchObject({
      body: { partitions: [{ partition: 0, earliest_offset: 3, high_watermark: 5 }] },
    });
    expect(await call('POST', path, { before_offset: 'high_watermark' })).toEqual({ status: 200, body: { earliest_offset: 5 } });
    expect(await call('POST', `/v1/topics/${name}-missing/partitions/0/delete-records`, { before_offset: 0 })).toMatchObject({
      status: 404,
    });
  });
});
