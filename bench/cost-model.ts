/**
 * What a GB costs in AWS requests, from request counts measured on the storage ports while the agent
 * serves real Kafka clients: S3 PUT/GET and DynamoDB write/read units per GB ingested, per GB read and
 * per GB compacted, and what an idle agent spends per hour to hold its partitions, at 1, 100 and
 * 1,000 partitions, priced at list prices (DESIGN.md, us-east-1). With packed commits (`PACKED=on`:
 * SPOOL_PACKED_COMMITS=true; the agent serves Kafka, so its leases ride on its registration and it
 * packs: checked) or without (`PACKED=off`), so the two can be put side by side; unset, the default
 * (SPOOL_PACKED_COMMITS=auto: the agent starts a new cluster, at spool.commit.version 1, and packs: checked).
 *
 * The agent runs in this process over the embedded store with counters on both ports
 * (support/counting.ts: write units from the items written, transactional writes doubled, reads
 * strongly consistent); the clients run in their own processes. GB = 10^9 bytes of record key + value.
 * Per partition count, per run, on a fresh data directory:
 *
 *   ingest, paced     spool.bench.LatencyProducer (kafka-clients 3.9.1, idempotent, acks=all,
 *                     linger.ms=0): 1,000 keyed 1 KiB records/s (1 MB/s) for 30 s — a small stream
 *   ingest, bulk      kcat -P -K: of 50,000 keyed 1 KiB records (51 MB) as fast as it goes; acks=all,
 *                     idempotent, linger 20 ms, batches ≤ 1 MiB
 *                     (keys are distinct: records spread evenly over the partitions)
 *   idle              7 s with nothing produced while a kcat consumer tails the bulk topic
 *   read, before      a fresh agent (cold cache); kcat -C -e reads the bulk topic from the start
 *   compaction        one maintenance pass over everything (tail age 0, 64 MiB segments)
 *   read, after       a fresh agent again; the same read
 * The agent's batch interval is 10 ms, the default (flushes at 4 MiB; `BATCH_INTERVAL_MS=100` sets
 * another, the cost/latency knob SPOOL_BATCH_INTERVAL_MS). Three runs; medians.
 *
 * Packed: materialisation (a packed partition's tail becoming rows) runs on a timer, every
 * SPOOL_PACKED_MATERIALIZE_MS (10 s by default), over the tails that are due: 1 MiB, or the oldest
 * commit SPOOL_PACKED_MATERIALIZE_AGE_MS old (30 s by default). Here the timer is set to its longest (1
 * hour) so that it never fires mid-phase, and each ingest phase ends with one round of every tail by
 * hand (`log.internals.packing.materialize()`), counted in the phase (and apart, "of which
 * materialisation"): for the paced phase, 30 s of stream, one round per default age (the stream's
 * tails, 30 to 300 KB per partition at 1,000 and 100 partitions, are due by age; at one partition, 1 MB/s,
 * by size every round, so the agent would make three steps where the bench makes one: two transactions
 * fewer per 30 MB); for the bulk phase, one round over its few seconds (sooner than the default, so no
 * cheaper than it).
 * After each round every tail is checked empty, and a packed phase that made no packed commit fails.
 *
 *   PACKED=on npm run bench -- cost-model
 *   PACKED=off npm run bench -- cost-model
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { loadConfig } from '../lib/config.js';
import { tempDir } from '../test/support/stores.js';
import { difference, dollars, kindsBetween, prices, snapshot, type Counts } from './support/counting.js';
import { startBenchAgent, type BenchAgent } from './support/embedded-agent.js';
import {
  createTopics,
  kafkaToolsClasspath,
  kcatBulkSettings,
  kcatConsume,
  kcatProduce,
  pacedProduce,
  writeRecords,
} from './support/kafka-tools.js';
import { median } from './support/process.js';

const runs = 3;
const partitionCounts = [1, 100, 1000];
const recordBytes = 1024;
const paced = { recordsPerS: 1000, warmUpSeconds: 0, seconds: 30 };
/** Unset: the default, `'auto'` (packedCommitsByDefault), which packs on a new cluster (it starts at spool.commit.version 1). */
const defaultPacked = true;
const packedMode = process.env.PACKED === undefined ? defaultPacked : process.env.PACKED.toLowerCase() !== 'off';
/** SPOOL_BATCH_INTERVAL_MS: the default unless BATCH_INTERVAL_MS says otherwise. */
const batchIntervalMs = process.env.BATCH_INTERVAL_MS ?? '10';
const bulkRecords = 50_000;
const idleSeconds = 7;
const kcatSettings = [...kcatBulkSettings, 'enable.idempotence=true'];

interface Phase {
  counts: Counts;
  /** Of `counts`, the materialisation round that ended the phase (packed ingest phases). */
  materialization: Counts | undefined;
  /** Packed commits made and chunks they held (PackingWriter.stats). */
  packed: { commits: number; chunks: number };
  /** Items read and written, by kind (counting.ts kindOf). */
  kinds: { reads: [string, number][]; writes: [string, number][] };
  /** GB of record bytes the phase moved (0 for idle). */
  gb: number;
  seconds: number;
}
type PhaseName = 'paced' | 'bulk' | 'idle' | 'read before' | 'compaction' | 'read after';
const results = new Map<number, Map<PhaseName, Phase[]>>();

async function start(dataDir: string, partitions: number): Promise<BenchAgent & { counters: NonNullable<BenchAgent['counters']> }> {
  const config = loadConfig({
    SPOOL_DATA_DIR: dataDir,
    SPOOL_HTTP_PORT: '0',
    SPOOL_KAFKA_PORT: '0',
    SPOOL_BATCH_INTERVAL_MS: batchIntervalMs,
    SPOOL_DEFAULT_PARTITIONS: String(partitions),
    SPOOL_MAINTENANCE_INTERVAL_MS: '0',
    SPOOL_COMPACTION_TAIL_AGE_MS: '0',
    // Unset: the product's default (auto), which packs because the agent starts a new cluster, at spool.commit.version 1.
    ...(process.env.PACKED === undefined ? {} : { SPOOL_PACKED_COMMITS: packedMode ? 'true' : 'false' }),
    // The timer never fires mid-phase: each ingest phase ends with a round by hand (measure).
    SPOOL_PACKED_MATERIALIZE_MS: '3600000',
  });
  const agent = await startBenchAgent({ config, count: true });
  return agent as BenchAgent & { counters: NonNullable<BenchAgent['counters']> };
}

/**
 * Counts what `work` makes the agent do; with `materialize` (the ingest phases), then one
 * materialisation round of the packed partitions' tails, after which every tail of `topics` must be empty.
 */
async function measure(
  agent: Awaited<ReturnType<typeof start>>,
  gb: number,
  work: () => Promise<unknown>,
  materialize?: { topics: string[]; partitions: number },
): Promise<Phase> {
  const before = snapshot(agent.counters);
  const byKind = agent.counters.metadata.byKind;
  const kindsBefore = { reads: new Map(byKind.reads), writes: new Map(byKind.writes) };
  const packing = agent.runtime.log.internals.packing;
  const packedBefore = { commits: packing?.stats.commits ?? 0, chunks: packing?.stats.chunks ?? 0 };
  const started = performance.now();
  await work();
  let materialization: Counts | undefined;
  if (packing && materialize) {
    const roundBefore = snapshot(agent.counters);
    await packing.materialize(); // (failures are left in the tails for the next round: checked below)
    materialization = difference(snapshot(agent.counters), roundBefore);
    for (const name of materialize.topics) {
      const topicId = (await agent.runtime.log.topic(name))!.id;
      let left = 0;
      for (let partition = 0; partition < materialize.partitions; partition++)
        left += packing.localCommits(packing.writerId, topicId, partition, 0)?.length ?? 0;
      if (left > 0) throw new Error(`${name}: ${left} chunks left in packed tails after the materialisation round`);
    }
  }
  const kinds = { reads: kindsBetween(byKind.reads, kindsBefore.reads), writes: kindsBetween(byKind.writes, kindsBefore.writes) };
  const packed = {
    commits: (packing?.stats.commits ?? 0) - packedBefore.commits,
    chunks: (packing?.stats.chunks ?? 0) - packedBefore.chunks,
  };
  if (packedMode && materialize && packed.commits === 0) throw new Error('packing is on, but the agent made no packed commit');
  if (!packedMode && packing !== undefined) throw new Error('packing is off, but the agent has a packing writer');
  return {
    counts: difference(snapshot(agent.counters), before),
    materialization,
    packed,
    kinds,
    gb,
    seconds: (performance.now() - started) / 1000,
  };
}

async function runOnce(partitions: number, bulkFile: string): Promise<Map<PhaseName, Phase>> {
  const phases = new Map<PhaseName, Phase>();
  const dataDir = tempDir('spool-bench-cost-');
  try {
    let agent = await start(dataDir, partitions);
    const bootstrap = () => agent.kafkaBootstrap!;
    try {
      await createTopics(bootstrap(), ['paced', 'bulk'], partitions);
      const pacedGb = (paced.recordsPerS * paced.seconds * recordBytes) / 1e9;
      const ingested = { topics: ['paced', 'bulk'], partitions };
      phases.set(
        'paced',
        await measure(agent, pacedGb, () => pacedProduce(bootstrap(), 'paced', { ...paced, recordBytes, keyed: true }), ingested),
      );
      const bulkGb = (bulkRecords * recordBytes) / 1e9;
      phases.set(
        'bulk',
        await measure(
          agent,
          bulkGb,
          () => kcatProduce(bootstrap(), 'bulk', { path: bulkFile, records: bulkRecords, recordBytes, keyed: true }, kcatSettings),
          ingested,
        ),
      );
      const tail = spawn('kcat', ['-C', '-b', bootstrap(), '-t', 'bulk', '-o', 'end', '-u', '-q'], { stdio: 'ignore' });
      await new Promise((resolve) => setTimeout(resolve, 1500)); // the consumer is at the end
      phases.set('idle', await measure(agent, 0, () => new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000))));
      const exited = new Promise((resolve) => tail.once('exit', resolve));
      tail.kill();
      await exited;
    } finally {
      await agent.close();
    }
    const totalGb = phases.get('paced')!.gb + phases.get('bulk')!.gb;
    const bulkGb = phases.get('bulk')!.gb;
    agent = await start(dataDir, partitions);
    try {
      phases.set('read before', await measure(agent, bulkGb, () => kcatConsume(bootstrap(), 'bulk', bulkRecords)));
      phases.set('compaction', await measure(agent, totalGb, () => agent.runtime.log.runMaintenance()));
    } finally {
      await agent.close();
    }
    agent = await start(dataDir, partitions);
    try {
      phases.set('read after', await measure(agent, bulkGb, () => kcatConsume(bootstrap(), 'bulk', bulkRecords)));
    } finally {
      await agent.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  return phases;
}

console.log(
  `cost model, ${new Date().toISOString()}, Node ${process.version}; commits ${packedMode ? `packed (SPOOL_PACKED_COMMITS=${process.env.PACKED === undefined ? 'auto, a new cluster' : 'true'}; materialisation: a round at the end of each ingest phase` : 'per partition (SPOOL_PACKED_COMMITS=false'}${packedMode === defaultPacked ? ', the default)' : ')'}; batch interval ${batchIntervalMs} ms; ${runs} runs, medians; prices: S3 PUT $${prices.s3PutUsd * 1000}/1,000, GET $${prices.s3GetUsd * 1000}/1,000; DynamoDB on demand $${prices.dynamoWriteUnitUsd * 1e6}/million WRU, $${prices.dynamoReadUnitUsd * 1e6}/million RRU`,
);
kafkaToolsClasspath();
const bulkFile = join(tmpdir(), `spool-bench-cost-${process.pid}.txt`);
await writeRecords(bulkFile, bulkRecords, recordBytes, { keyed: true });
try {
  for (let run = 0; run < runs; run++) {
    for (const partitions of partitionCounts) {
      const phases = await runOnce(partitions, bulkFile);
      const byPhase = results.get(partitions) ?? new Map<PhaseName, Phase[]>();
      for (const [name, phase] of phases) byPhase.set(name, [...(byPhase.get(name) ?? []), phase]);
      results.set(partitions, byPhase);
    }
    console.log(`run ${run + 1} of ${runs} done`);
  }
} finally {
  rmSync(bulkFile, { force: true });
}

/** Median over runs of `value` of a phase. */
function med(partitions: number, phase: PhaseName, value: (phase: Phase) => number): number {
  return median(results.get(partitions)!.get(phase)!.map(value));
}
const perGb = (value: (counts: Counts) => number) => (phase: Phase) => value(phase.counts) / phase.gb;
const perHour = (value: (counts: Counts) => number) => (phase: Phase) => (value(phase.counts) / phase.seconds) * 3600;
const f = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const usd = (value: number) => `$${value < 0.01 ? value.toFixed(4) : value.toFixed(3)}`;

console.log(`\ningest, per GB, commits ${packedMode ? 'packed' : 'per partition'}`);
console.log(
  '| partitions | workload | packed commits | PUT | GET | commit transactions | items per transaction | commit WCU | other WCU | RCU | S3 $ | DynamoDB $ | total $ | DynamoDB / S3 |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const partitions of partitionCounts) {
  for (const phase of ['paced', 'bulk'] as const) {
    const s3 = med(partitions, phase, (p) => dollars(p.counts).s3 / p.gb);
    const dynamo = med(partitions, phase, (p) => dollars(p.counts).dynamo / p.gb);
    const name = phase === 'paced' ? 'Java, 1 MB/s' : 'kcat, bulk';
    const gb = (count: (counts: Counts) => number) => f(med(partitions, phase, perGb(count)));
    const itemsPerTransaction = med(
      partitions,
      phase,
      (p) => p.counts.metadata.transactItems / Math.max(1, p.counts.metadata.transactions),
    );
    const cells = [
      f(med(partitions, phase, (p) => p.packed.commits / p.gb)),
      gb((c) => c.objects.puts),
      gb((c) => c.objects.gets),
      gb((c) => c.metadata.transactions),
      f(itemsPerTransaction, 1),
      gb((c) => c.metadata.transactWriteUnits),
      gb((c) => c.metadata.writeUnits - c.metadata.transactWriteUnits),
      gb((c) => c.metadata.readUnits),
    ];
    console.log(
      `| ${f(partitions)} | ${name} | ${cells.join(' | ')} | ${usd(s3)} | ${usd(dynamo)} | ${usd(s3 + dynamo)} | ${(dynamo / s3).toFixed(1)} |`,
    );
  }
}

if (packedMode) {
  console.log('\nof which the materialisation round ending each ingest phase, per GB');
  console.log(
    '| partitions | workload | PUT | GET | TransactWriteItems | WCU | RCU | S3 $ | DynamoDB $ | total $ | share of the phase total |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const partitions of partitionCounts) {
    for (const phase of ['paced', 'bulk'] as const) {
      const round = (value: (counts: Counts) => number) => (p: Phase) => (p.materialization ? value(p.materialization) / p.gb : 0);
      const gb = (count: (counts: Counts) => number) => f(med(partitions, phase, round(count)));
      const s3 = med(
        partitions,
        phase,
        round((c) => dollars(c).s3),
      );
      const dynamo = med(
        partitions,
        phase,
        round((c) => dollars(c).dynamo),
      );
      const share = med(partitions, phase, (p) => (p.materialization ? dollars(p.materialization).total / dollars(p.counts).total : 0));
      const cells = [
        gb((c) => c.objects.puts),
        gb((c) => c.objects.gets),
        gb((c) => c.metadata.transactions),
        gb((c) => c.metadata.writeUnits),
        gb((c) => c.metadata.readUnits),
      ];
      console.log(
        `| ${f(partitions)} | ${phase === 'paced' ? 'Java, 1 MB/s' : 'kcat, bulk'} | ${cells.join(' | ')} | ${usd(s3)} | ${usd(dynamo)} | ${usd(s3 + dynamo)} | ${f(share * 100)} % |`,
      );
    }
  }
}

console.log('\nread (kcat -C -e from the start, cold agent) and compaction, per GB');
console.log('| partitions | phase | GET | PUT | WCU | RCU | S3 $ | DynamoDB $ | total $ |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const partitions of partitionCounts) {
  for (const phase of ['read before', 'compaction', 'read after'] as const) {
    const s3 = med(partitions, phase, (p) => dollars(p.counts).s3 / p.gb);
    const dynamo = med(partitions, phase, (p) => dollars(p.counts).dynamo / p.gb);
    const name = {
      'read before': 'read, before compaction',
      compaction: 'compaction pass (per GB compacted)',
      'read after': 'read, after compaction',
    }[phase];
    const gb = (count: (counts: Counts) => number) => f(med(partitions, phase, perGb(count)));
    const cells = [gb((c) => c.objects.gets), gb((c) => c.objects.puts), gb((c) => c.metadata.writeUnits), gb((c) => c.metadata.readUnits)];
    console.log(`| ${f(partitions)} | ${name} | ${cells.join(' | ')} | ${usd(s3)} | ${usd(dynamo)} | ${usd(s3 + dynamo)} |`);
  }
}

console.log(`\nidle agent (leases held on every partition written, one kcat consumer tailing the bulk topic), per hour`);
console.log(
  '| partitions | metadata writes | WCU | RCU | DynamoDB $ per hour | $ per day | items written, by kind (last run) | items read, by kind (last run) |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const partitions of partitionCounts) {
  const dynamo = med(
    partitions,
    'idle',
    perHour((c) => dollars(c).dynamo),
  );
  const last = results.get(partitions)!.get('idle')!.at(-1)!;
  const kinds = (list: [string, number][]) =>
    list
      .slice(0, 3)
      .map(([kind, n]) => `${kind} ${f((n / last.seconds) * 3600)}`)
      .join(', ');
  console.log(
    `| ${f(partitions)} | ${f(
      med(
        partitions,
        'idle',
        perHour((c) => c.metadata.writes + c.metadata.transactions),
      ),
    )} | ${f(
      med(
        partitions,
        'idle',
        perHour((c) => c.metadata.writeUnits),
      ),
    )} | ${f(
      med(
        partitions,
        'idle',
        perHour((c) => c.metadata.readUnits),
      ),
    )} | ${usd(dynamo)} | ${usd(dynamo * 24)} | ${kinds(last.kinds.writes)} | ${kinds(last.kinds.reads)} |`,
  );
}
