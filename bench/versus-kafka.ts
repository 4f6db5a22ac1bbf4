/**
 * Spool beside Apache Kafka, same clients, same workload, alternating in one run: Apache Kafka 3.9.1
 * (test/interop/kafka-broker.sh: KRaft, one node acting as broker and controller, loopback, its
 * defaults: no fsync per write, data in the page cache) and Spool's agent (bench/support/agent.ts:
 * embedded store, each segment object fsynced with its directory before the commit, each LMDB commit
 * flushed; linger 10 ms). Each round starts a fresh Kafka, measures it, stops it, then does the same
 * with a fresh agent, so the two never share the machine's two cores. Topics of 8 partitions,
 * created by the same kafkajs admin call on both; 1 KiB records; no compression.
 *
 *   Java client (Apache Kafka's own perf tools, kafka-clients 3.9.1):
 *     produce   ProducerPerformance, 200,000 records (195 MiB) as fast as it can; acks=all,
 *               linger.ms=10, batch.size=1 MiB (idempotent, the 3.9 default)
 *     consume   ConsumerPerformance, a new group reading those 200,000 records; MB/s over the
 *               fetching (the tool's fetch.MB.sec; the group join is reported apart)
 *     latency   spool.bench.LatencyProducer (bench/kafka-tools/src) at 1,000 records/s: 3 s of
 *               warm-up, then 10 s measured (acks=all, linger.ms=0); produce = due time → ack;
 *               end to end = record timestamp → line printed by a kcat consumer tailing every
 *               partition. (ProducerPerformance's own percentiles include its JVM's warm-up:
 *               5 s of it at this rate gave Kafka a p99 of 107–840 ms here, against 10–24 ms
 *               measured after a warm-up.)
 *   librdkafka (kcat 2.0.2):
 *     produce   kcat -P of 200,000 records; acks=all, linger 20 ms, batches ≤ 1 MiB (as bench/kafka.ts)
 *     consume   kcat -C -e from the beginning of every partition (no group)
 *
 * Kafka with fsync: within each Kafka round, topics created with flush.messages=1 (the log is
 * fsynced after every append, as Spool syncs every segment) get the kcat produce and the latency
 * workloads again.
 *
 * Three rounds (Kafka, Spool, Kafka, Spool, …); medians, and Spool/Kafka ratios of the medians.
 *
 *   npm run bench -- versus-kafka
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  consumerPerformance,
  createTopics,
  kafkaToolsClasspath,
  kafkaToolsVersion,
  kcatBulkSettings,
  kcatConsume,
  kcatProduce,
  pacedLatency,
  peakRssMiB,
  producerPerformance,
  startKafkaBroker,
  stopKafkaBroker,
  writeRecords,
} from './support/kafka-tools.js';
import { median, startAgent, stopAgent } from './support/process.js';

const rounds = 3;
const recordBytes = 1024;
const partitions = 8;
const bulkRecords = 200_000;
const latency = { recordsPerS: 1000, warmUpSeconds: 3, seconds: 10 };
const spoolEnv = { SPOOL_BATCH_INTERVAL_MS: '10', SPOOL_MAINTENANCE_INTERVAL_MS: '0' };

/** Kafka with `flush.messages=1` on its topics: an fsync of the log after every append, as Spool syncs every segment. */
type System = 'kafka' | 'kafka-fsync' | 'spool';
const measures = [
  ['java produce MB/s', 'higher'],
  ['java consume MB/s', 'higher'],
  ['java group join ms', 'lower'],
  ['kcat produce MB/s', 'higher'],
  ['kcat consume MB/s', 'higher'],
  ['produce latency p50 ms', 'lower'],
  ['produce latency p99 ms', 'lower'],
  ['end-to-end latency p50 ms', 'lower'],
  ['end-to-end latency p99 ms', 'lower'],
  ['peak RSS MiB', 'lower'],
] as const;
type Measure = (typeof measures)[number][0];
const results: Record<System, Partial<Record<Measure, number[]>>> = { kafka: {}, 'kafka-fsync': {}, spool: {} };
const note = (system: System, measure: Measure, value: number) => (results[system][measure] ??= []).push(value);

/** The same measurements, in the same order, against whichever system listens at `bootstrap`. */
async function measure(system: System, bootstrap: string, kcatFile: string): Promise<void> {
  await createTopics(bootstrap, ['java', 'kcat', 'latency'], partitions);

  const produced = await producerPerformance(bootstrap, 'java', {
    records: bulkRecords,
    recordBytes,
    recordsPerS: -1,
    props: { acks: 'all', 'linger.ms': 10, 'batch.size': 1024 * 1024, 'max.request.size': 10 * 1024 * 1024, 'compression.type': 'none' },
  });
  note(system, 'java produce MB/s', produced.mbPerS);
  const consumed = await consumerPerformance(bootstrap, 'java', {
    records: bulkRecords,
    recordBytes,
    group: `perf-${system}-${Date.now()}`,
  });
  note(system, 'java consume MB/s', consumed.fetchMbPerS);
  note(system, 'java group join ms', consumed.rebalanceMs);

  note(
    system,
    'kcat produce MB/s',
    (await kcatProduce(bootstrap, 'kcat', { path: kcatFile, records: bulkRecords, recordBytes }, kcatBulkSettings)).mbPerS,
  );
  note(system, 'kcat consume MB/s', (await kcatConsume(bootstrap, 'kcat', bulkRecords)).mbPerS);
  await measureLatency(system, bootstrap, 'latency');
}

/** kcat produce and latency alone, on topics created with `configs`. */
async function measureProduce(system: System, bootstrap: string, kcatFile: string, configs: Record<string, string>): Promise<void> {
  await createTopics(bootstrap, [`kcat-${system}`, `latency-${system}`], partitions, configs);
  note(
    system,
    'kcat produce MB/s',
    (await kcatProduce(bootstrap, `kcat-${system}`, { path: kcatFile, records: bulkRecords, recordBytes }, kcatBulkSettings)).mbPerS,
  );
  await measureLatency(system, bootstrap, `latency-${system}`);
}

async function measureLatency(system: System, bootstrap: string, topic: string): Promise<void> {
  const paced = await pacedLatency(bootstrap, topic, { ...latency, recordBytes });
  note(system, 'produce latency p50 ms', paced.produceP50Ms);
  note(system, 'produce latency p99 ms', paced.produceP99Ms);
  note(system, 'end-to-end latency p50 ms', paced.endToEndP50Ms);
  note(system, 'end-to-end latency p99 ms', paced.endToEndP99Ms);
}

console.log(
  `Spool vs Apache Kafka ${kafkaToolsVersion}, ${new Date().toISOString()}, Node ${process.version}; ${rounds} rounds, alternating; ${partitions} partitions, ${recordBytes} B records`,
);
kafkaToolsClasspath(); // resolved before the first round, so Maven's time is not measured
const kcatFile = join(tmpdir(), `spool-bench-versus-${process.pid}.txt`);
await writeRecords(kcatFile, bulkRecords, recordBytes);
const brokerDir = join(tmpdir(), `spool-bench-kafka-${process.pid}`);
try {
  for (let round = 0; round < rounds; round++) {
    const broker = await startKafkaBroker(brokerDir);
    try {
      await measure('kafka', broker.bootstrap, kcatFile);
      await measureProduce('kafka-fsync', broker.bootstrap, kcatFile, { 'flush.messages': '1' });
      note('kafka', 'peak RSS MiB', peakRssMiB(broker.pid));
    } finally {
      await stopKafkaBroker(broker);
    }
    const agent = await startAgent(spoolEnv);
    try {
      await measure('spool', agent.kafka, kcatFile);
    } finally {
      note('spool', 'peak RSS MiB', await stopAgent(agent));
    }
    console.log(`round ${round + 1} of ${rounds} done`);
  }
} finally {
  rmSync(kcatFile, { force: true });
  rmSync(brokerDir, { recursive: true, force: true });
}

const fmt = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(1));
const runsOf = (system: System, name: Measure) => results[system][name] ?? [];
const cell = (values: number[]) => (values.length === 0 ? '–' : fmt(median(values)));
console.log(
  '| measure | Kafka runs | Spool runs | Kafka median | Spool median | Spool / Kafka | Kafka, flush.messages=1: median | Spool / that |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const [name, better] of measures) {
  const kafka = runsOf('kafka', name);
  const spool = runsOf('spool', name);
  const fsync = runsOf('kafka-fsync', name);
  const versusFsync = fsync.length === 0 ? '–' : (median(spool) / median(fsync)).toFixed(2);
  console.log(
    `| ${name} (${better} is better) | ${kafka.map(fmt).join(', ')} | ${spool.map(fmt).join(', ')} | ${cell(kafka)} | ${cell(spool)} | ${(median(spool) / median(kafka)).toFixed(2)} | ${cell(fsync)} | ${versusFsync} |`,
  );
}
