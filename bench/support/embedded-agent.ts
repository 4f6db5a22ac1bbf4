/**
 * The agent as `npm start` runs it, over the embedded stores, optionally behind a latency model
 * (latency-model.ts) and with request counters (counting.ts) on the storage ports. The counters sit
 * next to the real stores, under the model's delays, so counting never adds modelled latency.
 * bench/support/agent.ts runs it in its own process; cost benchmarks run it in theirs, to read the
 * counters.
 */
import { startAgent, type Agent } from '../../lib/agent.js';
import type { SpoolConfig } from '../../lib/config.js';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { QueueService } from '../../lib/queues/service.js';
import { Log } from '../../lib/log/index.js';
import { silentLogger } from '../../lib/logger.js';
import { noMetrics } from '../../lib/metrics.js';
import { openStores } from '../../lib/storage/open.js';
import { counting, type CountingMetadataStore, type CountingObjectStore } from './counting.js';
import { modelledStores, type StorageModelName } from './latency-model.js';

export interface BenchAgentOptions {
  readonly config: SpoolConfig;
  /** Storage latency model. @default none: the embedded stores as they are */
  readonly model?: StorageModelName;
  /** Seed of the model's delays. @default 42 */
  readonly seed?: number;
  /** Count requests and capacity units on the ports. @default false */
  readonly count?: boolean;
}

export interface BenchAgent extends Agent {
  /** Set when `count` was asked for. */
  readonly counters: { readonly objects: CountingObjectStore; readonly metadata: CountingMetadataStore } | undefined;
}

export async function startBenchAgent(options: BenchAgentOptions): Promise<BenchAgent> {
  const { config } = options;
  const raw = await openStores({ dataDir: config.dataDir }, { createIfMissing: true });
  const counters = options.count ? counting(raw) : undefined;
  const counted = counters ?? raw;
  const stores = options.model ? modelledStores(counted, options.model, options.seed ?? 42) : counted;
  const log = new Log({
    stores,
    autoCreateTopics: config.autoCreateTopics,
    defaultPartitions: config.defaultPartitions,
    cacheBytes: config.cacheBytes,
    leaseMs: config.leaseMs,
    // As lib/runtime.ts passes them: SPOOL_PACKED_COMMITS and SPOOL_PACKED_MATERIALIZE_MS (and _AGE_MS) reach the bench's agent too.
    packedCommits: config.packedCommits,
    packedMaterializeMs: config.packedMaterializeMs,
    packedMaterializeAgeMs: config.packedMaterializeAgeMs,
    maintenance: {
      compactionTargetBytes: config.compactionTargetBytes,
      compactionTailAgeMs: config.compactionTailAgeMs,
      gcGraceMs: config.gcGraceMs,
    },
    producer: { batchIntervalMs: config.batchIntervalMs, flushBytes: config.flushBytes, compression: config.compression },
  });
  const runtime = {
    config,
    stores,
    log,
    groups: new GroupCoordinator(log, stores.metadata),
    queues: new QueueService(log, stores.metadata),
    metrics: noMetrics,
    auth: undefined,
    close: async () => {
      await log.close();
      await Promise.all([raw.objects.close(), raw.metadata.close()]);
    },
  };
  const agent = await startAgent(config, { runtime, logger: silentLogger });
  const close = agent.close;
  return Object.assign(agent, {
    counters,
    // While a Kafka client is still connected, shutdown waits on its paused socket and an unref'd
    // timer, which do not hold the event loop: hold it, or this process could end mid-close.
    close: async () => {
      const hold = setInterval(() => undefined, 1000);
      try {
        await close();
      } finally {
        clearInterval(hold);
      }
    },
  });
}
