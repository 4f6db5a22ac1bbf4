/** Metrics in CloudWatch's Embedded Metric Format, from the HTTP app, the engine and the groups. */
import { describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../lib/groups/coordinator.js';
import { QueueService } from '../lib/queues/service.js';
import { emitGroupLag } from '../lib/groups/metrics.js';
import { createApp } from '../lib/http/app.js';
import { Log } from '../lib/log/index.js';
import { silentLogger } from '../lib/logger.js';
import { emfMetrics } from '../lib/metrics.js';
import { MemoryMetadataStore, MemoryObjectStore } from '../lib/storage/memory.js';

function capture() {
  const lines: Record<string, any>[] = [];
  return {
    lines,
    metrics: emfMetrics(
      (line) => lines.push(JSON.parse(line)),
      () => 1_700_000_000_000,
    ),
  };
}

describe('metrics > embedded metric format', () => {
  it('writes one JSON line per emit, declaring its metrics, units and dimensions under _aws', () => {
    const lines: string[] = [];
    emfMetrics(
      (line) => lines.push(line),
      () => 1_700_000_000_000,
    ).emit({ Latency: [12.5, 'Milliseconds'], Requests: [1, 'Count'] }, { Route: 'GET /x' }, { request_id: 'r1' });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    expect(JSON.parse(lines[0]!)).toEqual({
      _aws: {
        Timestamp: 1_700_000_000_000,
        CloudWatchMetrics: [
          {
            Namespace: 'Spool',
            Dimensions: [['Route'], []],
            Metrics: [
              { Name: 'Latency', Unit: 'Milliseconds' },
              { Name: 'Requests', Unit: 'Count' },
            ],
          },
        ],
      },
      Route: 'GET /x',
      Latency: 12.5,
      Requests: 1,
      request_id: 'r1',
    });
  });

  it('reports requests by route, records produced and fetched, and commits', async () => {
    const { lines, metrics } = capture();
    const metadata = new MemoryMetadataStore();
    const log = new Log({ stores: { metadata, objects: new MemoryObjectStore() }, producer: { batchIntervalMs: 0 }, metrics });
    const app = createApp({
      log,
      groups: new GroupCoordinator(log, metadata),
      queues: new QueueService(log, metadata),
      logger: silentLogger,
      metrics,
    });
    await app.request('/v1/topics/m/records', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records: [{ value: 'abc' }, { key: 'k', value: 'de' }] }),
    });
    await app.request('/v1/topics/m/partitions/0/records');
    await app.request('/v1/topics/m/partitions/0/records?offset=99');
    const requests = lines.filter((l) => 'Requests' in l);
    expect(requests.map((l) => [l.Route, l.status, l.Errors, l.ClientErrors])).toEqual([
      ['POST /v1/topics/:topic/records', 200, 0, 0],
      ['GET /v1/topics/:topic/partitions/:partition/records', 200, 0, 0],
      ['GET /v1/topics/:topic/partitions/:partition/records', 416, 0, 1],
    ]);
    expect(lines.find((l) => 'RecordsProduced' in l)).toMatchObject({ RecordsProduced: 2, BytesProduced: 6, topic: 'm' });
    expect(lines.find((l) => 'RecordsFetched' in l)).toMatchObject({ RecordsFetched: 2 });
    expect(lines.find((l) => 'Commits' in l)).toMatchObject({ Commits: 1, CommitConflicts: 0 });
  });

  it('reports each consumer group’s lag', async () => {
    const { lines, metrics } = capture();
    const stores = { metadata: new MemoryMetadataStore(), objects: new MemoryObjectStore() };
    const log = new Log({ stores, producer: { batchIntervalMs: 0 } });
    await log.createTopic('lagging', 1);
    for (let i = 0; i < 5; i++) await log.produce('lagging', [{ key: null, value: Buffer.from(`v${i}`) }]);
    const groups = new GroupCoordinator(log, stores.metadata);
    await groups.commit('readers', { offsets: [{ topic: 'lagging', partition: 0, offset: 2 }] });
    await emitGroupLag(groups, metrics);
    expect(lines).toEqual([expect.objectContaining({ Group: 'readers', ConsumerLag: 3 })]);
  });
});

describe('logs > request log', () => {
  it('logs each request as a JSON line with its request id at debug level', async () => {
    const { jsonLogger } = await import('../lib/logger.js');
    const lines: Record<string, unknown>[] = [];
    const metadata = new MemoryMetadataStore();
    const log = new Log({ stores: { metadata, objects: new MemoryObjectStore() } });
    const app = createApp({
      log,
      groups: new GroupCoordinator(log, metadata),
      queues: new QueueService(log, metadata),
      logger: jsonLogger('debug', (line) => lines.push(JSON.parse(line))),
    });
    const response = await app.request('/v1/topics');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'debug',
        message: 'request',
        method: 'GET',
        route: '/v1/topics',
        status: 200,
        request_id: response.headers.get('x-request-id'),
      }),
    ]);
  });
});
