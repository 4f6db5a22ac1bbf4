/**
 * The agent for benchmarks, in its own process: as `npm start` runs it, optionally over storage
 * slowed by a latency model (BENCH_MODEL=s3 or s3express; latency-model.ts). Prints one JSON line
 * {url, kafka, pid} once listening.
 */
import { loadConfig } from '../../lib/config.js';
import { SpoolError } from '../../lib/errors.js';
import { startBenchAgent } from './embedded-agent.js';
import { storageModels, type StorageModelName } from './latency-model.js';

const model = process.env.BENCH_MODEL || undefined;
if (model !== undefined && !(model in storageModels)) {
  throw new SpoolError(
    'INVALID_CONFIG',
    `BENCH_MODEL must be one of ${Object.keys(storageModels).join(', ')}, got ${JSON.stringify(model)}`,
  );
}
const agent = await startBenchAgent({ config: loadConfig(), model: model as StorageModelName | undefined });
process.stdout.write(`${JSON.stringify({ url: agent.httpUrl, kafka: agent.kafkaBootstrap, pid: process.pid })}\n`);
process.on('SIGTERM', () => void agent.close().then(() => process.exit(0)));
