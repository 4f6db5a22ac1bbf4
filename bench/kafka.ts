import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { kcatBulkSettings, kcatProduce, kcatTail, writeRecords } from './support/kafka-tools.js';
import { median, percentile, startAgent, stopAgent } from './support/process.js';

const recordBytes = 1024;
const runs = 3;
const partitions = 8;
const env = { SPOOL_DEFAULT_PARTITIONS: String(partitions), SPOOL_BATCH_INTERVAL_MS: '10', SPOOL_MAINTENANCE_INTERVAL_MS: '0' };

async function kcatThroughput(): Promise<{ mbPerS: number; rssMiB: number }> {
  const count = 200_000;
  const file = join(tmpdir(), `spool-bench-kcat-${process.pid}.txt`);
  await writeRecords(file, count, recordBytes);
  const agent = await startAgent(env);
  try {
    const { mbPerS } = await kcatProduce(agent.kafka, 'bench-kcat', { path: file, records: count, recordBytes }, kcatBulkSettings);
    return { mbPerS, rssMiB: await stopAgent(agent) };
  } catch (error) {
    await stopAgent(agent);
    throw error;
  } finally {
    rmSync(file, { force: true });
  }
}

async function kafkajsThroughput(): Promise<{ mbPerS: number }> {
  const agent = await startAgent(env);
  const kafka = new Kafka({ brokers: [agent.kafka], logLevel: logLevel.NOTHING, clientId: 'bench' });
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  try {
    await producer.connect();
    const value = Buffer.alloc(recordBytes - 16, 'x');
    const perCall = 1000;
    const calls = 50;
    const inFlight = 4;
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < calls) {
          const call = next++;
          await producer.send({
            topic: 'bench-kafkajs',
            acks: -1,
            messages: Array.from({ length: perCall }, (_, i) => ({ key: String(call * perCall + i).padStart(16, '0'), value })),
          });
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { mbPerS: (calls * perCall * recordBytes) / 1e6 / seconds };
  } finally {
    await producer.disconnect();
    await stopAgent(agent);
  }
}

async function latency(): Promise<{ produceP50: number; produceP99: number; e2eP50: number; e2eP99: number }> {
  const agent = await startAgent({ ...env, SPOOL_DEFAULT_PARTITIONS: '1' });
  const kafka = new Kafka({ brokers: [agent.kafka], logLevel: logLevel.NOTHING, clientId: 'bench' });
  const producer = kafka.producer();
  const topic = 'bench-latency';
  const produce: number[] = [];
  let tail: Awaited<ReturnType<typeof kcatTail>> | undefined;
  try {
    await producer.connect();
    await producer.send({ topic, messages: [{ value: 'create' }] }); // auto-creates the topic before kcat looks for it
    tail = await kcatTail(
      agent.kafka,
      topic,
      async () => void (await producer.send({ topic, messages: [{ value: 'warm-up', timestamp: '1' }] })),
    );
    const value = Buffer.alloc(recordBytes, 'x');
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      const sentMs = Date.now();
      await producer.send({ topic, acks: -1, messages: [{ value, timestamp: String(sentMs) }] });
      produce.push(Date.now() - sentMs);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  } finally {
    tail?.stop();
    await producer.disconnect();
    await stopAgent(agent);
  }
  const endToEnd = tail.timestampedMs.map(([, latencyMs]) => latencyMs);
  return { produceP50: median(produce), produceP99: percentile(produce, 99), e2eP50: median(endToEnd), e2eP99: percentile(endToEnd, 99) };
}

const fmt = (value: number) => value.toFixed(1);
console.log(`date ${new Date().toISOString()}, node ${process.version}, ${runs} runs each, 1 KiB records`);

const kcat: { mbPerS: number; rssMiB: number }[] = [];
for (let i = 0; i < runs; i++) kcat.push(await kcatThroughput());
console.log(
  `kcat (librdkafka) produce, acks=all: ${kcat.map((r) => fmt(r.mbPerS)).join(', ')} MB/s; median ${fmt(median(kcat.map((r) => r.mbPerS)))} MB/s (target ≥ 100); agent peak RSS ${fmt(Math.max(...kcat.map((r) => r.rssMiB)))} MiB`,
);

const kafkajs: number[] = [];
for (let i = 0; i < runs; i++) kafkajs.push((await kafkajsThroughput()).mbPerS);
console.log(`kafkajs produce, acks=all: ${kafkajs.map(fmt).join(', ')} MB/s; median ${fmt(median(kafkajs))} MB/s`);

const latencies: Awaited<ReturnType<typeof latency>>[] = [];
for (let i = 0; i < runs; i++) latencies.push(await latency());
const m = (key: keyof (typeof latencies)[number]) => fmt(median(latencies.map((l) => l[key])));
console.log(
  `latency, one record every 20 ms (median of ${runs} runs): produce p50 ${m('produceP50')} ms, p99 ${m('produceP99')} ms; end-to-end p50 ${m('e2eP50')} ms, p99 ${m('e2eP99')} ms`,
);
