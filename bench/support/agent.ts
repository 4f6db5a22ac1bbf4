/**
 * The agent for benchmarks, in its own process: as `npm start` runs it, optionally over storage
 * slowed by a latency model (BENCH_MODEL=s3). Prints one JSON line {url, kafka, pid} once listening.
 */
import { startAgent } from '../../lib/agent.js';
import { loadConfig } from '../../lib/config.js';
import { Log } from '../../lib/log/index.js';
import { silentLogger } from '../../lib/logger.js';
import { noMetrics } from '../../lib/metrics.js';
import { openStores } from '../../lib/storage/open.js';
import { dynamoDb, s3Standard, seededRandom, SlowMetadataStore, SlowObjectStore } from './latency-model.js';

const config = loadConfig();
const stores = await openStores({ dataDir: config.dataDir }, { createIfMissing: true });
const random = seededRandom(42);
const modelled =
  process.env.BENCH_MODEL === 's3'
    ? { objects: new SlowObjectStore(stores.objects, s3Standard, random), metadata: new SlowMetadataStore(stores.metadata, dynamoDb, random) }
    : stores;
const log = new Log({
  stores: modelled,
  autoCreateTopics: config.autoCreateTopics,
  defaultPartitions: config.defaultPartitions,
  cacheBytes: config.cacheBytes,
  producer: { lingerMs: config.lingerMs, flushBytes: config.flushBytes, compression: config.compression },
});
const runtime = {
  config,
  stores: modelled,
  log,
  metrics: noMetrics,
  auth: undefined,
  close: async () => {
    await log.close();
    await Promise.all([stores.objects.close(), stores.metadata.close()]);
  },
};
const agent = await startAgent(config, { runtime, logger: silentLogger });
process.stdout.write(`${JSON.stringify({ url: agent.httpUrl, kafka: agent.kafkaBootstrap, pid: process.pid })}\n`);
process.on('SIGTERM', () => void agent.close().then(() => process.exit(0)));
