/**
 * Builds a running engine from configuration: opens the stores the URLs name (creating them when
 * allowed) and the Log over them. The server, the Lambda handlers and the benchmarks all start here,
 * so they cannot drift apart in how they read configuration.
 */
import type { SpoolConfig } from './config.js';
import { Log, type LogOptions } from './log/index.js';
import { openStores, type StoreLocations, type Stores } from './storage/open.js';
import { emfMetrics, noMetrics, teeMetrics, type Metrics } from './metrics.js';
import { ApiKeys } from './auth.js';
import { GroupCoordinator } from './groups/coordinator.js';
import { QueueService } from './queues/service.js';
import { SpoolError } from './errors.js';
import { compressionReady, isCompressionSupported, supportedCompressions } from './format/index.js';

export interface Runtime {
  readonly config: SpoolConfig;
  readonly stores: Stores;
  readonly log: Log;
  /** Consumer groups (HTTP members, and the offsets Kafka groups share with them) over the same stores. */
  readonly groups: GroupCoordinator;
  readonly queues: QueueService;
  readonly metrics: Metrics;
  /** API keys, when the configuration asks for them. */
  readonly auth: ApiKeys | undefined;
  /** Flushes and commits what was accepted, releases leases, closes the stores. */
  close(): Promise<void>;
}

export async function openRuntime(
  config: SpoolConfig,
  overrides: {
    locations?: Partial<StoreLocations>;
    log?: Partial<LogOptions>;
    /** Where metrics go besides EMF (when SPOOL_METRICS=emf): the agent's Prometheus registry. */
    metrics?: Metrics;
    /** Wraps the stores once opened (the agent counts their calls: lib/storage/instrumented.ts). */
    stores?: (stores: Stores) => Stores;
  } = {},
): Promise<Runtime> {
  // zstd's encoder may load asynchronously (WASM on Node < 22.15); refuse a codec this process cannot encode.
  await compressionReady();
  if (!isCompressionSupported(config.compression)) {
    throw new SpoolError(
      'INVALID_CONFIG',
      `SPOOL_COMPRESSION=${config.compression} cannot be encoded by this process (Node ${process.version}); choose one of ${supportedCompressions.join(', ')}`,
    );
  }
  const opened = await openStores(
    { dataDir: config.dataDir, objectStoreUrl: config.objectStoreUrl, metadataStoreUrl: config.metadataStoreUrl, ...overrides.locations },
    { createIfMissing: config.createStores },
  );
  const stores = overrides.stores ? overrides.stores(opened) : opened;
  const metrics = teeMetrics(config.metrics === 'emf' ? emfMetrics() : noMetrics, overrides.metrics ?? noMetrics);
  const log = new Log({
    stores,
    metrics,
    autoCreateTopics: config.autoCreateTopics,
    defaultPartitions: config.defaultPartitions,
    cacheBytes: config.cacheBytes,
    leaseMs: config.leaseMs,
    leaseIdleMs: config.leaseIdleMs,
    packedCommits: config.packedCommits,
    packedMaterializeMs: config.packedMaterializeMs,
    packedMaterializeAgeMs: config.packedMaterializeAgeMs,
    pollIntervalMs: config.pollIntervalMs,
    producerIdExpirationMs: config.producerIdExpirationMs,
    maintenance: {
      compactionTargetBytes: config.compactionTargetBytes,
      compactionTailAgeMs: config.compactionTailAgeMs,
      gcGraceMs: config.gcGraceMs,
    },
    ...overrides.log,
    producer: {
      batchIntervalMs: config.batchIntervalMs,
      flushBytes: config.flushBytes,
      compression: config.compression,
      ...overrides.log?.producer,
    },
  });
  let closing: Promise<void> | undefined;
  return {
    config,
    stores,
    log,
    groups: new GroupCoordinator(log, stores.metadata),
    queues: new QueueService(log, stores.metadata, {
      deadLetterTopicPrefix: config.deadLetterTopicPrefix,
      autoCreateDeadLetterTopics: config.autoCreateDeadLetterTopics,
      logger: overrides.log?.logger,
    }),
    metrics,
    auth: config.auth ? new ApiKeys(stores.metadata, { rootToken: config.authToken }) : undefined,
    close: () =>
      (closing ??= (async () => {
        await log.close();
        await Promise.all([stores.objects.close(), stores.metadata.close()]);
      })()),
  };
}
