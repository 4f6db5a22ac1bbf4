/**
 * Produce and end-to-end latency through the agent's Kafka listener over modelled object stores:
 * S3 Standard and S3 Express One Zone (both with DynamoDB for the commits; bench/support/latency-
 * model.ts, parameters printed), and the embedded store unmodelled as the floor. The agent runs in
 * its own process (BENCH_MODEL), linger 10 ms, topics of 8 partitions, 1 KiB records.
 *
 * Workload per model, per round: spool.bench.LatencyProducer (kafka-clients 3.9.1, acks=all,
 * linger.ms=0, batch.size 1 MiB, idempotent; bench/kafka-tools/src) sends 1,000 records/s (1 MB/s): 2 s of warm-up, then 8 s
 * measured; then 10,000 records/s (10 MB/s): 2 s warm-up, 4 s measured. Produce latency is due
 * time → ack; end to end is record timestamp → printed by a kcat consumer tailing every partition (a tailing read is served by the agent's chunk cache, as a leader's would be: no
 * GET). Three rounds, models alternating; medians. Compared with WarpStream's published produce
 * latency on S3 Standard, p50 250 / p99 500 ms.
 *
 *   npm run bench -- latency-models
 */
import { describeModel, storageModels, type StorageModelName } from './support/latency-model.js';
import { createTopics, kafkaToolsClasspath, pacedLatency, type LatencyResult } from './support/kafka-tools.js';
import { median, startAgent, stopAgent } from './support/process.js';

const rounds = 3;
const recordBytes = 1024;
const partitions = 8;
const batchIntervalMs = 10;
const rates = [
  { name: '1 MB/s', recordsPerS: 1000, warmUpSeconds: 2, seconds: 8 },
  { name: '10 MB/s', recordsPerS: 10_000, warmUpSeconds: 2, seconds: 4 },
] as const;
const models: readonly (StorageModelName | 'embedded')[] = ['embedded', 's3express', 's3'];
const warpStream = { p50Ms: 250, p99Ms: 500 };
/**
 * The producer's batch.size. With the 16 KiB default a partition carries at most 5 in-flight batches
 * of 16 KiB per round trip; at S3 Standard's round trip that caps it near 1.2 MB/s, and 10 MB/s over
 * 8 partitions queued up to a p50 of 1,076 ms (p99 1,520 ms) in a trial run, against 104 / 220 ms
 * with 1 MiB batches. Object-store-backed brokers ask their clients for large batches for this reason.
 */
const batchBytes = 1024 * 1024;

const results = new Map<string, LatencyResult[]>();

console.log(
  `latency models, ${new Date().toISOString()}, Node ${process.version}; ${rounds} rounds, models alternating; agent linger ${batchIntervalMs} ms, ${partitions} partitions, ${recordBytes} B records, producer batch.size ${batchBytes} B`,
);
for (const [name, model] of Object.entries(storageModels))
  console.log(`model ${name}: ${describeModel(model.objects)}; ${describeModel(model.metadata)}; log-normal, seed 42`);
kafkaToolsClasspath();
for (let round = 0; round < rounds; round++) {
  for (const model of models) {
    const agent = await startAgent({
      SPOOL_BATCH_INTERVAL_MS: String(batchIntervalMs),
      SPOOL_MAINTENANCE_INTERVAL_MS: '0',
      ...(model === 'embedded' ? {} : { BENCH_MODEL: model }),
    });
    try {
      await createTopics(
        agent.kafka,
        rates.map((rate) => `latency-${rate.recordsPerS}`),
        partitions,
      );
      for (const rate of rates) {
        const result = await pacedLatency(agent.kafka, `latency-${rate.recordsPerS}`, {
          ...rate,
          recordBytes,
          props: { 'batch.size': batchBytes },
        });
        const key = `${model} ${rate.name}`;
        results.set(key, [...(results.get(key) ?? []), result]);
      }
    } finally {
      await stopAgent(agent);
    }
  }
  console.log(`round ${round + 1} of ${rounds} done`);
}

const m = (runs: LatencyResult[], field: keyof LatencyResult) => median(runs.map((run) => run[field]));
console.log(
  '| store | rate | produce p50 ms | produce p99 ms | end-to-end p50 ms | end-to-end p99 ms | produce p50 / WarpStream | produce p99 / WarpStream |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const model of models) {
  for (const rate of rates) {
    const runs = results.get(`${model} ${rate.name}`)!;
    const p50 = m(runs, 'produceP50Ms');
    const p99 = m(runs, 'produceP99Ms');
    const label = model === 'embedded' ? 'embedded (no model)' : `${storageModels[model].objects.name.replace(' PUT/GET', '')} + DynamoDB`;
    console.log(
      `| ${label} | ${rate.name} | ${p50} | ${p99} | ${m(runs, 'endToEndP50Ms')} | ${m(runs, 'endToEndP99Ms')} | ${(p50 / warpStream.p50Ms).toFixed(2)} | ${(p99 / warpStream.p99Ms).toFixed(2)} |`,
    );
  }
}
console.log(`WarpStream (published, S3 Standard): produce p50 ${warpStream.p50Ms} ms, p99 ${warpStream.p99Ms} ms`);
