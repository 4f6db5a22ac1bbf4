/**
 * The batch interval as a cost/latency knob (SPOOL_BATCH_INTERVAL_MS; the group commit of
 * lib/log/producer.ts): per interval, what a GB ingested costs in requests and how long a produce
 * waits, on the S3 Standard + DynamoDB latency model (support/latency-model.ts) with request counters
 * under it (support/counting.ts), priced at list prices (DESIGN.md, us-east-1).
 *
 * Per interval, per topic size, per round, a fresh agent in this process (embedded store behind the
 * model) and spool.bench.LatencyProducer (kafka-clients 3.9.1, idempotent, acks=all, linger.ms=0,
 * batch.size 1 MiB, buffer.memory 256 MiB) sending 1,000 keyed 1 KiB records/s (1 MB/s): 2 s of warm-up,
 * then 8 s measured. (With the default 32 MiB buffer.memory, 100 partitions' 1 MiB batches do not
 * fit, send() blocks, and the latency measured is the client's queue, not Spool.)
 * Produce latency is due time → acknowledgement of the measured records; cost is every request of
 * the whole run (warm-up included) over the GB it sent. Topics of 8 and of 100 partitions. Three
 * rounds, intervals alternating; medians.
 *
 * Then lone requests at the default interval (10 ms) on the embedded store, unmodelled: one HTTP
 * produce of one 1 KiB record every 50 ms (low load: each finds the last flush over an interval
 * old), 300 requests after 20 unmeasured, latency p50/p99; beside the p50 of this disk's fsync (a
 * 4 KiB write and fsync in the data directory, 300 times). A produce there makes three: the segment
 * file, its directory entry, and the LMDB commit. Where that time goes: the same lone produces
 * straight into a Log (no HTTP) over the same embedded stores, timing each object put and metadata
 * transaction beside the produce.
 *
 *   npm run bench -- batch-interval
 *   INTERVAL_PARTS=lone npm run bench -- batch-interval     # only the lone requests (or INTERVAL_PARTS=table)
 */
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../lib/config.js';
import { Log } from '../lib/log/index.js';
import { openStores } from '../lib/storage/open.js';
import type { WriteOp } from '../lib/storage/ports.js';
import { DelegatingMetadataStore, DelegatingObjectStore } from '../test/support/delegating.js';
import { tempDir } from '../test/support/stores.js';
import { difference, dollars, snapshot, type Counts } from './support/counting.js';
import { startBenchAgent } from './support/embedded-agent.js';
import { createTopics, kafkaToolsClasspath, pacedProduce } from './support/kafka-tools.js';
import { describeModel, storageModels } from './support/latency-model.js';
import { median, percentile } from './support/process.js';

const rounds = 3;
const intervalsMs = [0, 10, 50, 100, 250];
const partitionCounts = [8, 100];
const recordBytes = 1024;
const paced = { recordsPerS: 1000, warmUpSeconds: 2, seconds: 8 };
const batchBytes = 1024 * 1024;

interface Run {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly counts: Counts;
  readonly gb: number;
}

async function runOnce(intervalMs: number, partitions: number): Promise<Run> {
  const dataDir = tempDir('spool-bench-interval-');
  const config = loadConfig({
    SPOOL_DATA_DIR: dataDir,
    SPOOL_HTTP_PORT: '0',
    SPOOL_KAFKA_PORT: '0',
    SPOOL_BATCH_INTERVAL_MS: String(intervalMs),
    SPOOL_MAINTENANCE_INTERVAL_MS: '0',
  });
  const agent = await startBenchAgent({ config, model: 's3', count: true });
  try {
    const bootstrap = agent.kafkaBootstrap!;
    await createTopics(bootstrap, ['paced'], partitions);
    const before = snapshot(agent.counters!);
    const produced = await pacedProduce(bootstrap, 'paced', {
      ...paced,
      recordBytes,
      keyed: true,
      props: { 'batch.size': batchBytes, 'buffer.memory': 256 * 1024 * 1024 },
    });
    const counts = difference(snapshot(agent.counters!), before);
    const gb = (paced.recordsPerS * (paced.warmUpSeconds + paced.seconds) * recordBytes) / 1e9;
    return { p50Ms: produced.p50Ms, p99Ms: produced.p99Ms, counts, gb };
  } finally {
    await agent.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const parts = process.env.INTERVAL_PARTS ?? 'table,lone';
const f = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

if (parts.includes('table')) {
  console.log(
    `batch interval, ${new Date().toISOString()}, Node ${process.version}; ${rounds} rounds, intervals alternating; Java producer at 1 MB/s (1 KiB keyed records), batch.size ${batchBytes} B, buffer.memory 256 MiB`,
  );
  console.log(`model: ${describeModel(storageModels.s3.objects)}; ${describeModel(storageModels.s3.metadata)}; log-normal, seed 42`);
  kafkaToolsClasspath();
  const results = new Map<string, Run[]>();
  for (let round = 0; round < rounds; round++) {
    for (const partitions of partitionCounts) {
      for (const intervalMs of intervalsMs) {
        const key = `${partitions} ${intervalMs}`;
        results.set(key, [...(results.get(key) ?? []), await runOnce(intervalMs, partitions)]);
      }
    }
    console.log(`round ${round + 1} of ${rounds} done`);
  }

  const usd = (value: number) => `$${value.toFixed(3)}`;
  console.log('\n| partitions | batch interval ms | flushes/s | produce p50 ms | produce p99 ms | S3 $/GB | DynamoDB $/GB | total $/GB |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const partitions of partitionCounts) {
    for (const intervalMs of intervalsMs) {
      const runs = results.get(`${partitions} ${intervalMs}`)!;
      const m = (value: (run: Run) => number) => median(runs.map(value));
      const seconds = paced.warmUpSeconds + paced.seconds;
      const s3 = m((run) => dollars(run.counts).s3 / run.gb);
      const dynamo = m((run) => dollars(run.counts).dynamo / run.gb);
      console.log(
        `| ${partitions} | ${intervalMs} | ${f(
          m((run) => run.counts.objects.puts / seconds),
          1,
        )} | ${f(
          m((run) => run.p50Ms),
          1,
        )} | ${f(
          m((run) => run.p99Ms),
          1,
        )} | ${usd(s3)} | ${usd(dynamo)} | ${usd(m((run) => dollars(run.counts).total / run.gb))} |`,
      );
    }
  }
}

/** Lone HTTP produces on the embedded store at the default interval, and this disk's fsync, in ms. */
async function loneRequests(): Promise<{ p50Ms: number; p99Ms: number; fsyncP50Ms: number }> {
  const dataDir = tempDir('spool-bench-lone-');
  const agent = await startBenchAgent({
    config: loadConfig({ SPOOL_DATA_DIR: dataDir, SPOOL_HTTP_PORT: '0', SPOOL_KAFKA_PORT: '-1', SPOOL_MAINTENANCE_INTERVAL_MS: '0' }),
  });
  try {
    const body = JSON.stringify({ records: [{ value: 'x'.repeat(recordBytes) }] });
    const latenciesMs: number[] = [];
    for (let i = 0; i < 320; i++) {
      const startMs = performance.now();
      const response = await fetch(`${agent.httpUrl}/v1/topics/lone/records`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      if (response.status !== 200) throw new Error(`produce answered ${response.status}: ${await response.text()}`);
      await response.arrayBuffer();
      if (i >= 20) latenciesMs.push(performance.now() - startMs);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const fsyncsMs: number[] = [];
    const file = openSync(join(dataDir, 'fsync-probe'), 'w');
    try {
      for (let i = 0; i < 300; i++) {
        const startMs = performance.now();
        writeSync(file, Buffer.alloc(4096, i % 256), 0, 4096, 0);
        fsyncSync(file);
        fsyncsMs.push(performance.now() - startMs);
      }
    } finally {
      closeSync(file);
    }
    return { p50Ms: percentile(latenciesMs, 50), p99Ms: percentile(latenciesMs, 99), fsyncP50Ms: percentile(fsyncsMs, 50) };
  } finally {
    await agent.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Lone produces straight into a Log on the embedded store: p50 of the produce, of its object put and of its commit transaction, in ms. */
async function loneBreakdown(): Promise<{ produceP50Ms: number; putP50Ms: number; transactP50Ms: number }> {
  const dataDir = tempDir('spool-bench-lone-log-');
  const raw = await openStores({ dataDir }, { createIfMissing: true });
  const putsMs: number[] = [];
  const transactsMs: number[] = [];
  const timed = async (into: number[], call: () => Promise<void>) => {
    const startMs = performance.now();
    await call();
    into.push(performance.now() - startMs);
  };
  const objects = new (class extends DelegatingObjectStore {
    override put(key: string, body: Uint8Array) {
      return timed(putsMs, () => super.put(key, body));
    }
  })(raw.objects);
  const metadata = new (class extends DelegatingMetadataStore {
    override transact(ops: readonly WriteOp[]) {
      return timed(transactsMs, () => super.transact(ops));
    }
  })(raw.metadata);
  const log = new Log({ stores: { objects, metadata }, producer: { batchIntervalMs: 10 } });
  try {
    await log.createTopic('lone', 1);
    const value = Buffer.alloc(recordBytes, 'x');
    const producesMs: number[] = [];
    for (let i = 0; i < 320; i++) {
      if (i === 20) for (const samples of [putsMs, transactsMs]) samples.length = 0;
      const startMs = performance.now();
      await log.produce('lone', [{ key: null, value }]);
      if (i >= 20) producesMs.push(performance.now() - startMs);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return { produceP50Ms: percentile(producesMs, 50), putP50Ms: percentile(putsMs, 50), transactP50Ms: percentile(transactsMs, 50) };
  } finally {
    await log.close();
    await Promise.all([raw.objects.close(), raw.metadata.close()]);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (parts.includes('lone')) {
  const lone = await loneRequests();
  console.log(
    `\nlone requests, embedded store, batch interval 10 ms: produce p50 ${f(lone.p50Ms, 1)} ms, p99 ${f(lone.p99Ms, 1)} ms; this disk's fsync p50 ${f(lone.fsyncP50Ms, 2)} ms`,
  );
  const breakdown = await loneBreakdown();
  console.log(
    `lone produces into the Log (no HTTP): produce p50 ${f(breakdown.produceP50Ms, 1)} ms, of which object put p50 ${f(breakdown.putP50Ms, 1)} ms and commit transaction p50 ${f(breakdown.transactP50Ms, 1)} ms`,
  );
}
