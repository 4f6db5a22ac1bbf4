/**
 * Metrics for Prometheus, served by the agent at GET /metrics (prom-client, text format 0.0.4). It is a
 * Metrics port like EMF (lib/metrics.ts): what the transports and the engine emit is mapped here onto
 * Prometheus names, labels and types (the table in README "## Metrics"); what is a state rather than an
 * event (cache, leases, maintenance, consumer lag) is read when scraped. Lambda keeps EMF: this module
 * and prom-client are imported by the agent only.
 *
 * Invariants: label values are bounded sets (routes as declared, Kafka API names, store operations,
 * topics and groups that exist); a scrape costs no store read except for consumer lag, which is read at
 * most once per `lagCacheMs` however often Prometheus scrapes, over at most `maxLagGroups` groups.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { GroupCoordinator } from './groups/coordinator.js';
import type { Log } from './log/index.js';
import type { Metrics } from './metrics.js';
import type { StoreCall } from './storage/instrumented.js';

export interface PrometheusMetrics extends Metrics {
  /** This agent's metrics (the process's are added at each scrape). */
  readonly registry: Registry;
  /** The exposition's content type: `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string;
  /** The metrics in Prometheus text format. */
  scrape(): Promise<string>;
  /** Counts one storage call (lib/storage/instrumented.ts). */
  observeStoreCall(call: StoreCall): void;
  /** Reads the engine's state (cache, flushes, leases, maintenance) and consumer lag at each scrape. */
  watch(engine: { readonly log: Log; readonly groups: Pick<GroupCoordinator, 'list' | 'describe'> }): void;
}

export interface PrometheusOptions {
  /** How long consumer lag read from the stores is reused across scrapes. @default 15000 */
  readonly lagCacheMs?: number;
  /** The most groups whose lag one refresh reads (the first, by name). @default 1000 */
  readonly maxLagGroups?: number;
  readonly now?: () => number;
}

/** Seconds: from a cached fetch (~1 ms) to a long-poll (its wait, up to 30 s). */
const requestBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Seconds: S3 and DynamoDB calls (a few ms) to a throttled retry. */
const storeBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Node's process metrics (CPU, memory, event-loop delay, GC): one registry per process, since their
 * collectors install observers that live as long as the process; every agent's scrape includes it.
 */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export function prometheusMetrics(options: PrometheusOptions = {}): PrometheusMetrics {
  const registry = new Registry();
  const registers = [registry];

  const httpRequests = new Counter({
    name: 'spool_http_requests_total',
    help: 'HTTP requests by route and status code.',
    labelNames: ['route', 'status'] as const,
    registers,
  });
  const httpDuration = new Histogram({
    name: 'spool_http_request_duration_seconds',
    help: 'HTTP request latency by route, from the first middleware to the response.',
    labelNames: ['route'] as const,
    buckets: requestBuckets,
    registers,
  });
  const kafkaRequests = new Counter({
    name: 'spool_kafka_requests_total',
    help: 'Kafka protocol requests by API and outcome (error: an unexpected failure, or no answer).',
    labelNames: ['api', 'outcome'] as const,
    registers,
  });
  const kafkaDuration = new Histogram({
    name: 'spool_kafka_request_duration_seconds',
    help: 'Kafka request latency by API, from the decoded request to the encoded response.',
    labelNames: ['api'] as const,
    buckets: requestBuckets,
    registers,
  });
  const kafkaResponseBytes = new Counter({
    name: 'spool_kafka_response_bytes_total',
    help: 'Bytes of Kafka responses by API (Fetch: the bytes fetched by Kafka clients).',
    labelNames: ['api'] as const,
    registers,
  });
  const byTopic = (name: string, help: string) => new Counter({ name, help, labelNames: ['topic'] as const, registers });
  const producedRecords = byTopic('spool_produced_records_total', 'Records accepted by produce (HTTP and Kafka), by topic.');
  const producedBytes = byTopic(
    'spool_produced_bytes_total',
    'Bytes of keys and values produced (HTTP; Kafka: record batches as sent), by topic.',
  );
  const fetchedRecords = byTopic('spool_fetched_records_total', 'Records answered to fetches (HTTP and Kafka), by topic.');
  const fetchedBytes = byTopic('spool_fetched_bytes_total', 'Bytes of keys and values answered to HTTP fetches, by topic.');
  const commits = new Counter({ name: 'spool_commits_total', help: 'Commit transactions of flushed data.', registers });
  const commitConflicts = new Counter({
    name: 'spool_commit_conflicts_total',
    help: 'Conditional-write conflicts met by commits (another writer moved the partition first).',
    registers,
  });
  const storeRequests = {
    object: new Counter({
      name: 'spool_object_store_requests_total',
      help: 'Object store calls by operation and outcome (list: once per listing, whatever its pages).',
      labelNames: ['op', 'outcome'] as const,
      registers,
    }),
    metadata: new Counter({
      name: 'spool_metadata_store_requests_total',
      help: 'Metadata store calls by operation (get, query, put, update, delete, check, transact) and outcome (ok, conflict, error).',
      labelNames: ['op', 'outcome'] as const,
      registers,
    }),
  };
  const storeDuration = {
    object: new Histogram({
      name: 'spool_object_store_request_duration_seconds',
      help: 'Object store call latency by operation.',
      labelNames: ['op'] as const,
      buckets: storeBuckets,
      registers,
    }),
    metadata: new Histogram({
      name: 'spool_metadata_store_request_duration_seconds',
      help: 'Metadata store call latency by operation.',
      labelNames: ['op'] as const,
      buckets: storeBuckets,
      registers,
    }),
  };

  /** Emitted names → counters by topic; the others are requests (by Route) or read at scrape time. */
  const topicCounters: Readonly<Record<string, Counter<'topic'>>> = {
    RecordsProduced: producedRecords,
    BytesProduced: producedBytes,
    RecordsFetched: fetchedRecords,
    BytesFetched: fetchedBytes,
  };

  let watching = false;
  return {
    registry,
    contentType: registry.contentType,
    // Merged per scrape: the engine's collectors register after this (watch).
    scrape: () => Registry.merge([processMetrics(), registry]).metrics(),
    emit(values, dimensions = {}, properties = {}) {
      const route = dimensions.Route;
      if (route !== undefined && values.Requests !== undefined) {
        const seconds = (values.Latency?.[0] ?? 0) / 1000;
        if (route.startsWith('Kafka ')) {
          const api = route.slice('Kafka '.length);
          kafkaRequests.inc({ api, outcome: (values.Errors?.[0] ?? 0) > 0 ? 'error' : 'ok' }, values.Requests[0]);
          kafkaDuration.observe({ api }, seconds);
          if (values.ResponseBytes) kafkaResponseBytes.inc({ api }, values.ResponseBytes[0]);
        } else {
          httpRequests.inc({ route, status: String(properties.status ?? 'unknown') }, values.Requests[0]);
          httpDuration.observe({ route }, seconds);
        }
        return;
      }
      for (const [name, [value]] of Object.entries(values)) {
        if (name === 'Commits') commits.inc(value);
        else if (name === 'CommitConflicts') commitConflicts.inc(value);
        else topicCounters[name]?.inc({ topic: String(properties.topic ?? '') }, value);
      }
    },
    observeStoreCall({ store, op, outcome, seconds }) {
      storeRequests[store].inc({ op, outcome });
      storeDuration[store].observe({ op }, seconds);
    },
    watch(engine) {
      if (watching) throw new Error('prometheusMetrics: watch() once');
      watching = true;
      watchEngine(registry, engine, options);
    },
  };
}

/** A counter whose total the engine keeps: set from it at each scrape. */
function counterOf(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

function gaugeOf(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

function watchEngine(
  registry: Registry,
  { log, groups }: { readonly log: Log; readonly groups: Pick<GroupCoordinator, 'list' | 'describe'> },
  options: PrometheusOptions,
): void {
  const stats = () => log.stats;
  counterOf(registry, 'spool_cache_hits_total', 'Chunk reads answered from the in-memory cache.', () => stats().cacheHits);
  counterOf(registry, 'spool_cache_misses_total', 'Chunk reads that went to the object store.', () => stats().cacheMisses);
  gaugeOf(registry, 'spool_cache_hit_ratio', 'Cache hits over chunk reads since start (NaN before the first read).', () => {
    const { cacheHits, cacheMisses } = stats();
    return cacheHits / (cacheHits + cacheMisses);
  });
  counterOf(registry, 'spool_flushes_total', 'Producer flushes (one object put and one commit each).', () => stats().flushes);
  counterOf(registry, 'spool_flushed_bytes_total', 'Bytes of objects written by flushes.', () => stats().bytesPut);
  counterOf(registry, 'spool_committed_records_total', 'Records made durable and visible by commits.', () => stats().recordsCommitted);
  gaugeOf(
    registry,
    'spool_leases_held',
    'Partition leases this agent holds (it is the writer of those partitions).',
    () => stats().leasesHeld,
  );
  counterOf(registry, 'spool_maintenance_passes_total', 'Maintenance passes this agent ran.', () => stats().maintenancePasses);
  const last = (read: (result: NonNullable<ReturnType<typeof stats>['lastMaintenance']>) => number) => () => {
    const pass = stats().lastMaintenance;
    return pass === undefined ? 0 : read(pass);
  };
  const lastPass = (name: string, help: string, read: Parameters<typeof last>[0]) =>
    gaugeOf(registry, `spool_maintenance_last_${name}`, `The last maintenance pass (0 before the first): ${help}`, last(read));
  lastPass('end_timestamp_seconds', 'when it ended (Unix time).', (p) => p.endedMs / 1000);
  lastPass('duration_seconds', 'how long it took.', (p) => p.result.duration_ms / 1000);
  lastPass('segments_compacted', 'segments compacted.', (p) => p.result.segments_compacted);
  lastPass('records_expired', 'records past retention.', (p) => p.result.records_expired);
  lastPass('records_cleaned', 'records the log cleaner removed (compacted topics).', (p) => p.result.records_cleaned);
  lastPass('objects_deleted', 'objects deleted.', (p) => p.result.objects_deleted);
  lastPass('bytes_deleted', 'bytes of objects deleted.', (p) => p.result.bytes_deleted);
  lastPass('objects', 'objects stored after it.', (p) => p.result.objects_after);
  lastPass('bytes', 'bytes stored after it.', (p) => p.result.bytes_after);
  lastPass('rows', 'index rows after it.', (p) => p.result.rows_after);

  const lag = cachedLag(groups, options);
  new Gauge({
    name: 'spool_consumer_group_lag_records',
    help: 'Per group and partition: high watermark minus committed offset (read at most once per lag cache period).',
    labelNames: ['group', 'topic', 'partition'] as const,
    registers: [registry],
    async collect() {
      const rows = await lag();
      this.reset();
      for (const row of rows) this.set({ group: row.group, topic: row.topic, partition: String(row.partition) }, row.lag);
    },
  });
}

interface LagRow {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly lag: number;
}

/**
 * Lag as of at most `lagCacheMs` ago. A refresh costs one query of the groups, two reads of each group's
 * items (its state and its offsets) and one partition read per committed partition; concurrent scrapes
 * share one refresh, and a failed refresh keeps the previous answer.
 */
function cachedLag(groups: Pick<GroupCoordinator, 'list' | 'describe'>, options: PrometheusOptions): () => Promise<readonly LagRow[]> {
  const cacheMs = options.lagCacheMs ?? 15_000;
  const maxGroups = options.maxLagGroups ?? 1000;
  const now = options.now ?? Date.now;
  let cached: { readonly atMs: number; readonly rows: readonly LagRow[] } | undefined;
  let refreshing: Promise<readonly LagRow[]> | undefined;
  const refresh = async (): Promise<readonly LagRow[]> => {
    const names = (await groups.list())
      .map(({ group }) => group)
      .sort()
      .slice(0, maxGroups);
    const described = await Promise.all(
      names.map((group) =>
        groups.describe(group).then(
          (d) => ({ group, d }),
          () => undefined,
        ),
      ),
    );
    return described.flatMap((entry) =>
      entry === undefined
        ? []
        : entry.d.partitions.flatMap(({ topic, partition, lag }) => (lag === null ? [] : [{ group: entry.group, topic, partition, lag }])),
    );
  };
  return () => {
    if (cached && now() - cached.atMs < cacheMs) return Promise.resolve(cached.rows);
    refreshing ??= refresh()
      .then(
        (rows) => {
          cached = { atMs: now(), rows };
          return rows;
        },
        () => cached?.rows ?? [],
      )
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };
}
