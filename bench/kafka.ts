/**
 * Kafka clients against the agent's Kafka listener, embedded store, the agent in its own process and
 * the clients in others (all on this machine's 2 cores). Three runs per workload; medians reported.
 *
 *   throughput, librdkafka:  kcat -P, 1 KiB records, 200,000 of them (195 MiB), acks=all, no
 *                            compression, linger 20 ms, batches up to 1 MiB, topic of 8 partitions
 *   throughput, kafkajs:     producer.send of 1,000 records (1 MiB) per call, 4 calls in flight,
 *                            acks=all, 50,000 records
 *   latency:                 kafkajs producer sends one 1 KiB record every 20 ms (acks=all) for
 *                            10 s; produce latency = send → ack; end-to-end = record timestamp →
 *                            line printed by a kcat consumer tailing the partition
 *
 *   npm run bench -- kafka
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Kafka, logLevel } from 'kafkajs';
import { run, writeRecords } from './support/kafka-tools.js';
import { median, percentile, startAgent, stopAgent } from './support/process.js';

const recordBytes = 1024;
const runs = 3;
const partitions = 8;
const env = { SPOOL_DEFAULT_PARTITIONS: String(partitions), SPOOL_LINGER_MS: '10', SPOOL_MAINTENANCE_INTERVAL_MS: '0' };

async function kcatThroughput(): Promise<{ mbPerS: number; rssMiB: number }> {
  const count = 200_000;
  const file = join(tmpdir(), `spool-bench-kcat-${process.pid}.txt`);
  await writeRecords(file, count, recordBytes);
  const agent = await startAgent(env);
  try {
    const started = performance.now();
    await run('kcat', ['-P', '-b', agent.kafka, '-t', 'bench-kcat', '-X', 'acks=all', '-X', 'linger.ms=20', '-X', 'batch.size=1048576', '-X', 'batch.num.messages=100000', '-X', 'queue.buffering.max.kbytes=2097151', '-X', 'message.max.bytes=10000000'], { stdinPath: file });
    const seconds = (performance.now() - started) / 1000;
    return { mbPerS: (count * recordBytes) / 1e6 / seconds, rssMiB: await stopAgent(agent) };
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
          await producer.send({ topic: 'bench-kafkajs', acks: -1, messages: Array.from({ length: perCall }, (_, i) => ({ key: String(call * perCall + i).padStart(16, '0'), value })) });
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
  const consumer = spawn('kcat', ['-C', '-b', agent.kafka, '-t', topic, '-p', '0', '-o', 'end', '-u', '-f', '%T\\n', '-X', 'fetch.wait.max.ms=5000', '-X', 'fetch.error.backoff.ms=10'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const endToEnd: number[] = [];
  createInterface({ input: consumer.stdout! }).on('line', (line) => {
    const sentMs = Number(line.trim());
    if (Number.isFinite(sentMs) && sentMs > 0) endToEnd.push(Date.now() - sentMs);
  });
  const produce: number[] = [];
  try {
    await producer.connect();
    await producer.send({ topic, messages: [{ value: 'warm-up', timestamp: '0' }] });
    await new Promise((resolve) => setTimeout(resolve, 1500)); // the consumer is at the end
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
    consumer.kill();
    await producer.disconnect();
    await stopAgent(agent);
  }
  return { produceP50: median(produce), produceP99: percentile(produce, 99), e2eP50: median(endToEnd), e2eP99: percentile(endToEnd, 99) };
}

const fmt = (value: number) => value.toFixed(1);
console.log(`date ${new Date().toISOString()}, node ${process.version}, ${runs} runs each, 1 KiB records`);

const kcat: { mbPerS: number; rssMiB: number }[] = [];
for (let i = 0; i < runs; i++) kcat.push(await kcatThroughput());
console.log(`kcat (librdkafka) produce, acks=all: ${kcat.map((r) => fmt(r.mbPerS)).join(', ')} MB/s; median ${fmt(median(kcat.map((r) => r.mbPerS)))} MB/s (target ≥ 100); agent peak RSS ${fmt(Math.max(...kcat.map((r) => r.rssMiB)))} MiB`);

const kafkajs: number[] = [];
for (let i = 0; i < runs; i++) kafkajs.push((await kafkajsThroughput()).mbPerS);
console.log(`kafkajs produce, acks=all: ${kafkajs.map(fmt).join(', ')} MB/s; median ${fmt(median(kafkajs))} MB/s`);

const latencies: Awaited<ReturnType<typeof latency>>[] = [];
for (let i = 0; i < runs; i++) latencies.push(await latency());
const m = (key: keyof (typeof latencies)[number]) => fmt(median(latencies.map((l) => l[key])));
console.log(`latency, one record every 20 ms (median of ${runs} runs): produce p50 ${m('produceP50')} ms, p99 ${m('produceP99')} ms; end-to-end p50 ${m('e2eP50')} ms, p99 ${m('e2eP99')} ms`);
