/**
 * GET /metrics on the agent: the Prometheus text format, parsed by a Prometheus text-format parser
 * (parse-prometheus-text-format), with the names, labels and types README "## Metrics" documents, and
 * counters that move by what the test did over HTTP and Kafka. Also: who may scrape, what a scrape
 * reads, that the store wrappers change nothing, and that the example Grafana dashboard queries only
 * metrics the agent serves.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../lib/agent.js';
import { loadConfig } from '../lib/config.js';
import { silentLogger } from '../lib/logger.js';
import { prometheusMetrics } from '../lib/metrics-prometheus.js';
import { instrumentMetadataStore, instrumentObjectStore, type StoreCall } from '../lib/storage/instrumented.js';
import { MemoryMetadataStore, MemoryObjectStore } from '../lib/storage/memory.js';
import { ConditionFailedError, ObjectNotFoundError } from '../lib/storage/ports.js';
import { tempDir } from './support/stores.js';

interface Sample {
  readonly value?: string;
  readonly labels?: Record<string, string>;
  readonly count?: string;
  readonly sum?: string;
}
interface Family {
  readonly name: string;
  readonly type: string;
  readonly metrics: readonly Sample[];
}

/** Families by name, with the raw text kept for labelled histograms (below). Throws on a line the format does not allow. */
const parse = (text: string) =>
  Object.assign(new Map((parsePrometheusTextFormat(text) as Family[]).map((family) => [family.name, family])), { text });

/**
 * The parser merges a histogram's label sets into one sample (it keys buckets by `le` alone), so a
 * labelled histogram's series are read from the sample lines: `name_suffix{labels} value`.
 */
function histogramSeries(scraped: { text: string }, name: string, suffix: string, labels: Record<string, string>): number[] {
  return scraped.text.split('\n').flatMap((line) => {
    const match = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== `${name}_${suffix}`) return [];
    const found = Object.fromEntries([...match[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    return Object.entries(labels).every(([label, value]) => found[label] === value) ? [Number(match[3])] : [];
  });
}

/** The sample of `name` whose labels include `labels`; its value as a number (histograms: the count). */
function sampleValue(families: ReadonlyMap<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const sample = families.get(name)?.metrics.find((m) => Object.entries(labels).every(([label, value]) => m.labels?.[label] === value));
  if (!sample) return undefined;
  return Number(sample.value ?? sample.count);
}

/** Each documented family and its type (README "## Metrics"). */
const documented: Record<string, string> = {
  spool_http_requests_total: 'COUNTER',
  spool_http_request_duration_seconds: 'HISTOGRAM',
  spool_kafka_requests_total: 'COUNTER',
  spool_kafka_request_duration_seconds: 'HISTOGRAM',
  spool_kafka_response_bytes_total: 'COUNTER',
  spool_produced_records_total: 'COUNTER',
  spool_produced_bytes_total: 'COUNTER',
  spool_fetched_records_total: 'COUNTER',
  spool_fetched_bytes_total: 'COUNTER',
  spool_commits_total: 'COUNTER',
  spool_commit_conflicts_total: 'COUNTER',
  spool_flushes_total: 'COUNTER',
  spool_flushed_bytes_total: 'COUNTER',
  spool_committed_records_total: 'COUNTER',
  spool_cache_hits_total: 'COUNTER',
  spool_cache_misses_total: 'COUNTER',
  spool_cache_hit_ratio: 'GAUGE',
  spool_leases_held: 'GAUGE',
  spool_maintenance_passes_total: 'COUNTER',
  spool_maintenance_last_end_timestamp_seconds: 'GAUGE',
  spool_maintenance_last_duration_seconds: 'GAUGE',
  spool_maintenance_last_segments_compacted: 'GAUGE',
  spool_maintenance_last_records_expired: 'GAUGE',
  spool_maintenance_last_records_cleaned: 'GAUGE',
  spool_maintenance_last_objects_deleted: 'GAUGE',
  spool_maintenance_last_bytes_deleted: 'GAUGE',
  spool_maintenance_last_objects: 'GAUGE',
  spool_maintenance_last_bytes: 'GAUGE',
  spool_maintenance_last_rows: 'GAUGE',
  spool_consumer_group_lag_records: 'GAUGE',
  spool_object_store_requests_total: 'COUNTER',
  spool_object_store_request_duration_seconds: 'HISTOGRAM',
  spool_metadata_store_requests_total: 'COUNTER',
  spool_metadata_store_request_duration_seconds: 'HISTOGRAM',
};

describe('metrics > prometheus', () => {
  const agents: Agent[] = [];
  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.close();
  });

  async function start(env: Record<string, string> = {}) {
    const config = loadConfig({
      SPOOL_DATA_DIR: tempDir(),
      SPOOL_HTTP_PORT: '0',
      SPOOL_KAFKA_PORT: '0',
      SPOOL_BATCH_INTERVAL_MS: '5',
      SPOOL_MAINTENANCE_INTERVAL_MS: '0',
      SPOOL_METRICS_LAG_CACHE_MS: '0', // lag as of each scrape (the cache itself is tested below)
      ...env,
    });
    const agent = await startAgent(config, { logger: silentLogger });
    agents.push(agent);
    return agent;
  }

  async function scrape(agent: Agent, token?: string) {
    const response = await fetch(`${agent.httpUrl}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    return parse(await response.text());
  }

  it('counts HTTP and Kafka requests, records, bytes, commits, store calls, lag and maintenance, by documented names and types', {
    timeout: 60_000,
  }, async () => {
    const agent = await start();
    const url = agent.httpUrl;
    const before = await scrape(agent);
    expect(sampleValue(before, 'spool_produced_records_total', { topic: 'web' })).toBeUndefined();

    // HTTP: 3 records produced, then fetched.
    const produced = await fetch(`${url}/v1/topics/web/records`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'a\nbb\nccc\n',
    });
    expect(produced.status).toBe(200);
    const fetched = (await (await fetch(`${url}/v1/topics/web/partitions/0/records`)).json()) as { records: unknown[] };
    expect(fetched.records).toHaveLength(3);
    // Kafka: 2 more records to the same partition.
    const kafka = new Kafka({ clientId: 'metrics', brokers: [agent.kafkaBootstrap!], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: 'web',
      messages: [
        { partition: 0, value: 'k1' },
        { partition: 0, value: 'k2' },
      ],
    });
    await producer.disconnect();
    // A group that has read 1 of the 5: lag 4.
    const committed = await fetch(`${url}/v1/groups/readers/offsets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ offsets: [{ topic: 'web', partition: 0, offset: 1 }] }),
    });
    expect(committed.status).toBe(204);
    expect((await fetch(`${url}/v1/admin/maintenance`, { method: 'POST' })).status).toBe(200);

    const after = await scrape(agent);
    for (const [name, type] of Object.entries(documented)) expect({ name, type: after.get(name)?.type }).toEqual({ name, type });

    const route = 'POST /v1/topics/:topic/records';
    expect(sampleValue(after, 'spool_http_requests_total', { route, status: '200' })).toBe(1);
    expect(histogramSeries(after, 'spool_http_request_duration_seconds', 'count', { route })).toEqual([1]);
    expect(histogramSeries(after, 'spool_http_request_duration_seconds', 'bucket', { route, le: '+Inf' })).toEqual([1]);
    expect(histogramSeries(after, 'spool_http_request_duration_seconds', 'bucket', { route, le: '0.005' })).toHaveLength(1);
    expect(histogramSeries(after, 'spool_http_request_duration_seconds', 'sum', { route })[0]).toBeGreaterThan(0);
    expect(sampleValue(after, 'spool_http_requests_total', { route: 'POST /v1/groups/:group/offsets', status: '204' })).toBe(1);

    expect(sampleValue(after, 'spool_kafka_requests_total', { api: 'Produce', outcome: 'ok' })).toBe(1);
    expect(sampleValue(after, 'spool_kafka_requests_total', { api: 'Metadata', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(histogramSeries(after, 'spool_kafka_request_duration_seconds', 'count', { api: 'Produce' })).toEqual([1]);
    expect(sampleValue(after, 'spool_kafka_response_bytes_total', { api: 'Produce' })).toBeGreaterThan(0);

    expect(sampleValue(after, 'spool_produced_records_total', { topic: 'web' })).toBe(5);
    expect(sampleValue(after, 'spool_produced_bytes_total', { topic: 'web' })).toBeGreaterThanOrEqual(6);
    expect(sampleValue(after, 'spool_fetched_records_total', { topic: 'web' })).toBe(3);
    expect(sampleValue(after, 'spool_fetched_bytes_total', { topic: 'web' })).toBe(6);

    expect(sampleValue(after, 'spool_commits_total')).toBeGreaterThanOrEqual(2);
    expect(sampleValue(after, 'spool_commit_conflicts_total')).toBe(0);
    expect(sampleValue(after, 'spool_flushes_total')).toBeGreaterThanOrEqual(2);
    expect(sampleValue(after, 'spool_committed_records_total')).toBe(5);
    expect(sampleValue(after, 'spool_object_store_requests_total', { op: 'put', outcome: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(sampleValue(after, 'spool_metadata_store_requests_total', { op: 'transact', outcome: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(histogramSeries(after, 'spool_metadata_store_request_duration_seconds', 'count', { op: 'transact' })[0]).toBeGreaterThanOrEqual(
      2,
    );
    expect(histogramSeries(after, 'spool_object_store_request_duration_seconds', 'count', { op: 'put' })[0]).toBeGreaterThanOrEqual(2);

    const hits = sampleValue(after, 'spool_cache_hits_total')!;
    const misses = sampleValue(after, 'spool_cache_misses_total')!;
    expect(hits + misses).toBeGreaterThan(0);
    expect(sampleValue(after, 'spool_cache_hit_ratio')).toBeCloseTo(hits / (hits + misses));
    expect(sampleValue(after, 'spool_leases_held')).toBeGreaterThanOrEqual(1); // the Kafka produce wrote as the partition's leader

    expect(sampleValue(after, 'spool_consumer_group_lag_records', { group: 'readers', topic: 'web', partition: '0' })).toBe(4);
    expect(sampleValue(after, 'spool_maintenance_passes_total')).toBe(1);
    expect(sampleValue(after, 'spool_maintenance_last_end_timestamp_seconds')! * 1000).toBeGreaterThan(Date.now() - 60_000);
    expect(sampleValue(after, 'spool_maintenance_last_rows')).toBeGreaterThanOrEqual(1);
    expect(after.get('process_cpu_user_seconds_total')?.type).toBe('COUNTER');
  });

  it('asks Prometheus for a key with read on every topic when keys are on', async () => {
    const agent = await start({ SPOOL_AUTH_TOKEN: 'root-token' });
    const keys = agent.runtime.auth!;
    const reader = await keys.create('prometheus', [{ topics: '*', actions: ['read'] }]);
    const scoped = await keys.create('one-topic', [{ topics: 'web', actions: ['read'] }]);
    const status = async (token?: string) =>
      (await fetch(`${agent.httpUrl}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} })).status;
    expect(await status()).toBe(401);
    expect(await status(scoped.key)).toBe(403);
    expect(await status(reader.key)).toBe(200);
    expect(await status('root-token')).toBe(200);
  });

  it('reads consumer lag from the stores at most once per cache period, however often it is scraped', async () => {
    let nowMs = 0;
    let lists = 0;
    let lag = 7;
    const groups = {
      list: async () => {
        lists++;
        return [{ group: 'g', state: 'Empty' as const, generation: 0, members: 0 }];
      },
      describe: async () => ({ partitions: [{ topic: 't', partition: 2, lag }] }),
    };
    const metrics = prometheusMetrics({ lagCacheMs: 10_000, now: () => nowMs });
    const log = {
      stats: {
        cacheHits: 0,
        cacheMisses: 0,
        flushes: 0,
        objectsPut: 0,
        bytesPut: 0,
        recordsCommitted: 0,
        leasesHeld: 0,
        maintenancePasses: 0,
      },
    };
    metrics.watch({ log, groups } as unknown as Parameters<typeof metrics.watch>[0]);
    const lagNow = async () =>
      sampleValue(parse(await metrics.scrape()), 'spool_consumer_group_lag_records', { group: 'g', partition: '2' });
    expect(await lagNow()).toBe(7);
    lag = 9;
    nowMs = 9_999;
    expect(await Promise.all([lagNow(), lagNow()])).toEqual([7, 7]);
    expect(lists).toBe(1);
    nowMs = 10_000;
    expect(await lagNow()).toBe(9);
    expect(lists).toBe(2);
    // Before any read: no ratio (NaN, as Prometheus writes an undefined value), and no maintenance pass yet (0).
    const idle = parse(await metrics.scrape());
    expect(sampleValue(idle, 'spool_cache_hit_ratio')).toBeNaN();
    expect(sampleValue(idle, 'spool_maintenance_passes_total')).toBe(0);
    expect(sampleValue(idle, 'spool_maintenance_last_end_timestamp_seconds')).toBe(0);
  });

  it('wraps the stores without changing results or errors, and tells conflicts from errors', async () => {
    const calls: StoreCall[] = [];
    const metadata = instrumentMetadataStore(new MemoryMetadataStore(), (call) => calls.push(call));
    const objects = instrumentObjectStore(new MemoryObjectStore(), (call) => calls.push(call));
    const key = { pk: 'p', sk: 's' };
    await metadata.write({ kind: 'put', key, attrs: { n: 1 }, condition: { kind: 'absent' } });
    const conflict = await metadata.write({ kind: 'put', key, attrs: { n: 2 }, condition: { kind: 'absent' } }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ConditionFailedError);
    expect((conflict as ConditionFailedError).current?.attrs).toEqual({ n: 1 });
    expect((await metadata.get(key))?.attrs).toEqual({ n: 1 });
    await objects.put('a/1', Buffer.from('one'));
    await objects.put('a/2', Buffer.from('two'));
    expect((await objects.get('a/2', { offset: 1, length: 2 })).toString()).toBe('wo');
    expect(await objects.get('missing').catch((e: unknown) => e)).toBeInstanceOf(ObjectNotFoundError);
    const listed: string[] = [];
    for await (const info of objects.list('a/')) listed.push(info.key);
    expect(listed).toEqual(['a/1', 'a/2']);
    expect(calls.map(({ store, op, outcome }) => `${store} ${op} ${outcome}`)).toEqual([
      'metadata put ok',
      'metadata put conflict',
      'metadata get ok',
      'object put ok',
      'object put ok',
      'object get ok',
      'object get error',
      'object list ok',
    ]);
    expect(calls.every((call) => call.seconds >= 0)).toBe(true);
  });

  it('has an example Grafana dashboard that queries only metrics the agent serves', async () => {
    const dashboard = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'docs', 'grafana', 'spool.json'), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const exprs = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));
    expect(exprs.length).toBeGreaterThan(8);
    // Series names in PromQL: identifiers followed by { or a space/paren, minus functions and keywords.
    const queried = new Set(
      exprs.flatMap((expr) => [...expr.matchAll(/\b(spool_[a-z_]+|process_[a-z_]+|nodejs_[a-z_]+)\b/g)].map((m) => m[1]!)),
    );
    const agent = await start();
    const served = await scrape(agent);
    const servedSeries = new Set(
      [...served.values()].flatMap((family) =>
        family.type === 'HISTOGRAM' ? [`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`] : [family.name],
      ),
    );
    expect([...queried].filter((name) => !servedSeries.has(name))).toEqual([]);
    expect(queried.size).toBeGreaterThan(10);
  });
});
