/**
 * Serverless scale-out: many lease-less writers, as Lambda containers are, producing to the same
 * partitions at once. Each writer is its own Log (its own committer and cached end offsets, batch
 * interval 0 as in Lambda) serving one request at a time, behind its own draw of the S3 Standard +
 * DynamoDB latency model (support/latency-model.ts), over one shared embedded store with request
 * counters (support/counting.ts). Every commit is the per-partition compare-and-set of commit.ts,
 * so writers racing for one partition conflict; this measures what that costs.
 *
 * Per topic size (1 and 10 partitions), per writer count (1, 10, 50, 200), per round: a fresh topic;
 * every writer sends requests of 10 records of 1 KiB, each to one partition drawn at random (seeded),
 * back to back for 8 s; the last 6 s are measured. Throughput is
 * records acknowledged per second; p50/p99 are request latencies; conflicts are commit transactions
 * refused by their condition, per commit that landed; reads are metadata reads per commit (a lost
 * race reads its partition's end again before retrying); failures are requests answered with an error.
 * All writers share this process (2 cores here): at 200 writers its CPU, not the model, may bound
 * throughput, which the output says. Three rounds; medians.
 *
 *   npm run bench -- scale-out
 *   SCALE_OUT_PARTITIONS=1 npm run bench -- scale-out    # one topic size only
 */
import { rmSync } from 'node:fs';
import { Log } from '../lib/log/index.js';
import { openStores } from '../lib/storage/open.js';
import { tempDir } from '../test/support/stores.js';
import { counting, difference, snapshot, type Counts } from './support/counting.js';
import { describeModel, modelledStores, seededRandom, storageModels } from './support/latency-model.js';
import { median, percentile } from './support/process.js';

const rounds = 3;
const writerCounts = [1, 10, 50, 200];
const partitionCounts = (process.env.SCALE_OUT_PARTITIONS ?? '1,10').split(',').map(Number);
const recordsPerRequest = 10;
const recordBytes = 1024;
const warmUpMs = 2000;
const measuredMs = 6000;

interface Run {
  readonly recordsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly commits: number;
  readonly conflicts: number;
  /** Metadata reads (a lost race reads its partition's end again before retrying). */
  readonly reads: number;
  readonly failures: number;
  /** Busy fraction of this process's event loop over the measured window (1: CPU-bound). */
  readonly loopUtilization: number;
}

async function runOnce(stores: ReturnType<typeof counting>, writers: number, partitions: number, round: number): Promise<Run> {
  const logs = Array.from(
    { length: writers },
    (_, w) =>
      new Log({
        stores: modelledStores(stores, 's3', 1000 * round + w + 1),
        autoCreateTopics: false,
        cacheBytes: 1024 * 1024,
        producer: { batchIntervalMs: 0 },
      }),
  );
  const topic = `scale-out-${writers}-${partitions}-${round}`;
  await logs[0]!.createTopic(topic, partitions);
  const value = Buffer.alloc(recordBytes, 'x');
  const records = (partition: number) => Array.from({ length: recordsPerRequest }, () => ({ key: null, value, partition }));
  const startMs = performance.now();
  const measureFromMs = startMs + warmUpMs;
  const endMs = measureFromMs + measuredMs;
  const latenciesMs: number[] = [];
  let acknowledged = 0;
  let failures = 0;
  let before: Counts | undefined;
  let loopBefore: ReturnType<typeof performance.eventLoopUtilization> | undefined;
  const marker = setTimeout(() => {
    before = snapshot(stores);
    loopBefore = performance.eventLoopUtilization();
  }, warmUpMs);
  await Promise.all(
    logs.map(async (log, w) => {
      const random = seededRandom(7919 * (w + 1) + round);
      while (performance.now() < endMs) {
        const sentMs = performance.now();
        const ok = await log.produce(topic, records(Math.floor(random() * partitions))).then(
          () => true,
          () => false,
        );
        if (sentMs < measureFromMs) continue;
        if (ok) {
          latenciesMs.push(performance.now() - sentMs);
          acknowledged += recordsPerRequest;
        } else failures++;
      }
    }),
  );
  clearTimeout(marker);
  const counts = difference(snapshot(stores), before!);
  const loopUtilization = performance.eventLoopUtilization(loopBefore).utilization;
  await Promise.all(logs.map((log) => log.close()));
  const commits = counts.metadata.transactions - counts.metadata.conflicts;
  return {
    recordsPerS: acknowledged / ((performance.now() - measureFromMs) / 1000),
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
    commits,
    conflicts: counts.metadata.conflicts,
    reads: counts.metadata.gets,
    failures,
    loopUtilization,
  };
}

console.log(
  `scale-out, ${new Date().toISOString()}, Node ${process.version}; ${rounds} rounds, medians; requests of ${recordsPerRequest} × ${recordBytes} B records, back to back per writer, ${measuredMs / 1000} s measured after ${warmUpMs / 1000} s`,
);
console.log(
  `model: ${describeModel(storageModels.s3.objects)}; ${describeModel(storageModels.s3.metadata)}; log-normal, a seed per writer`,
);
const results = new Map<string, Run[]>();
const dataDir = tempDir('spool-bench-scale-out-');
const raw = await openStores({ dataDir }, { createIfMissing: true });
const stores = counting(raw);
try {
  for (let round = 0; round < rounds; round++) {
    for (const partitions of partitionCounts) {
      for (const writers of writerCounts) {
        const key = `${partitions} ${writers}`;
        results.set(key, [...(results.get(key) ?? []), await runOnce(stores, writers, partitions, round)]);
      }
    }
    console.log(`round ${round + 1} of ${rounds} done`);
  }
} finally {
  await Promise.all([raw.objects.close(), raw.metadata.close()]);
  rmSync(dataDir, { recursive: true, force: true });
}

const f = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
console.log(
  '\n| partitions | writers | records/s | vs 1 writer | request p50 ms | request p99 ms | p99 vs 1 writer | conflicts per commit | reads per commit | failed requests | event loop busy |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const partitions of partitionCounts) {
  const m = (writers: number, value: (run: Run) => number) => median(results.get(`${partitions} ${writers}`)!.map(value));
  const single = { recordsPerS: m(1, (run) => run.recordsPerS), p99Ms: m(1, (run) => run.p99Ms) };
  for (const writers of writerCounts) {
    const recordsPerS = m(writers, (run) => run.recordsPerS);
    const p99Ms = m(writers, (run) => run.p99Ms);
    console.log(
      `| ${partitions} | ${writers} | ${f(recordsPerS)} | ${f(recordsPerS / single.recordsPerS, 2)}× | ${f(
        m(writers, (run) => run.p50Ms),
        1,
      )} | ${f(p99Ms, 1)} | ${f(p99Ms / single.p99Ms, 2)}× | ${f(
        m(writers, (run) => run.conflicts / Math.max(1, run.commits)),
        2,
      )} | ${f(
        m(writers, (run) => run.reads / Math.max(1, run.commits)),
        2,
      )} | ${f(m(writers, (run) => run.failures))} | ${f(100 * m(writers, (run) => run.loopUtilization))} % |`,
    );
  }
}
