/**
 * Scale: produce throughput and commit cost as a topic grows to 1,000 and 10,000 partitions, and 100
 * consumer groups reading one topic at once. Embedded store; the agent lingers 10 ms (flushes at
 * 4 MiB); 1 KiB records with distinct keys (spread evenly over the partitions); kcat -P -K: with
 * acks=all, idempotence, linger 20 ms, batches ≤ 1 MiB, and request timeouts of 5 minutes (so a slow
 * first request is measured rather than failed).
 *
 *   partitions   per configuration, on a fresh agent:
 *                  CreateTopics, timed;
 *                  cold: kcat -P of one record per partition (keys hashed: ≈ 63 % of the
 *                    partitions get one; the first write to a partition takes its lease), timed;
 *                  warm: kcat -P of 100,000 records (102 MB), MB/s from kcat's start to its exit;
 *                  Java warm (8 and 1,000 partitions): spool.bench.LatencyProducer in bulk
 *                    (kafka-clients 3.9.1, settings as kcat's) on a topic of its own: one record per
 *                    partition, then 20,000 records (20 MB) measured from first send to last ack.
 *                librdkafka puts one partition in each ProduceRequest (librdkafka issue #1700), five
 *                in flight when idempotent; the Java client puts every ready partition in one
 *                request. The two stress different paths: per-request latency, and flushes that
 *                span many partitions.
 *                Throughput runs: the agent in its own process (support/agent.ts), no counters.
 *                Then one run of the same with the agent in this process and counters on its storage
 *                ports (support/counting.ts): write units of CreateTopics; for the warm phase
 *                flushes, partitions (chunks) per flush, commit transactions and write units per flush
 *                and per GB, lease and other writes; and the graceful close (flush, release every
 *                lease), timed.
 *                Configurations: 8 and 1,000 partitions (three throughput runs each); 10,000
 *                partitions with a 1-hour lease, so no lease renewal runs while measuring (one run);
 *                10,000 partitions with the default 10 s lease: the cold phase only, cut at 4
 *                minutes, the agent then killed (one run, not counted; in trials the warm phase did
 *                not finish within 5 minutes).
 *   100 groups   a topic of 8 partitions holding 2,000 keyed records (2 MB); 100 kafkajs consumers,
 *                each in its own group, subscribe from the beginning (one process, this one, with the
 *                counted agent); time until every group has read every record, group joins, offset
 *                commits and their write units; then 10 s with all 100 groups idle and connected
 *                (heartbeats, long-polls): metadata reads and writes per hour, by kind of item.
 *   idle agent   (only when asked: SCALE_PARTS=idle) a counted agent with maintenance on (every
 *                60 s, as deployed) and a topic of 1,000 partitions; kcat writes 3,000 keyed records
 *                (the agent then leads ~95 % of the partitions), then nothing is sent: what the agent
 *                costs per day while it still leads them (5–45 s after the last write: leases held
 *                on its registration), and once they have gone idle (70–190 s: leases released after
 *                SPOOL_LEASE_IDLE_MS, 60 s; two maintenance passes), with one Metadata request for
 *                the topic every 10 s (a connected client's refresh, at 30× Kafka's 5-minute default).
 * Takes about 10 minutes, most of it the 10,000-partition runs; the groups alone about a minute, the
 * idle agent about 4.
 *
 *   npm run bench -- scale
 *   SCALE_PARTS=groups npm run bench -- scale     # only the 100 groups (or SCALE_PARTS=partitions, or idle)
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { loadConfig } from '../lib/config.js';
import { tempDir } from '../test/support/stores.js';
import { difference, dollars, kindsBetween, snapshot, type CountingMetadataStore, type Counts } from './support/counting.js';
import { startBenchAgent } from './support/embedded-agent.js';
import { createTopics, javaBulkProduce, kcatBulkSettings, kcatProduce, writeRecords } from './support/kafka-tools.js';
import { median, startAgent, stopAgent } from './support/process.js';

interface Configuration {
  readonly name: string;
  readonly partitions: number;
  /** Throughput runs (uncounted); one counted run follows unless `coldOnlyWithinMs`. */
  readonly runs: number;
  /** SPOOL_LEASE_MS. @default the agent's, 10 s (renewed every 3.3 s) */
  readonly leaseMs?: number;
  /** Only the cold phase, cut after this long; no counted run. */
  readonly coldOnlyWithinMs?: number;
  /** Also the Java client's warm phase. */
  readonly java?: boolean;
}
const configurations: readonly Configuration[] = [
  { name: '8', partitions: 8, runs: 3, java: true },
  { name: '1,000', partitions: 1000, runs: 3, java: true },
  { name: '10,000, 1 h lease', partitions: 10_000, runs: 1, leaseMs: 3_600_000 },
  { name: '10,000', partitions: 10_000, runs: 1, coldOnlyWithinMs: 240_000 },
];
const recordBytes = 1024;
const records = 100_000;
const javaRecords = 20_000;
/** The Java producer as kcat is set: acks=all, linger 20 ms, batches ≤ 1 MiB (idempotent by default). */
const javaProps = {
  acks: 'all',
  'linger.ms': 20,
  'batch.size': 1024 * 1024,
  'max.request.size': 10 * 1024 * 1024,
  'buffer.memory': 256 * 1024 * 1024,
  'request.timeout.ms': 300_000,
  'delivery.timeout.ms': 600_000,
};
const kcatSettings = [
  ...kcatBulkSettings,
  'enable.idempotence=true',
  'request.timeout.ms=300000',
  'socket.timeout.ms=300000',
  'message.timeout.ms=600000',
];
const groups = 100;
const groupRecords = 2000;
const idleSeconds = 10;
const spoolEnv = { SPOOL_BATCH_INTERVAL_MS: '10', SPOOL_MAINTENANCE_INTERVAL_MS: '0' };
const envFor = (configuration: Configuration) => ({
  ...spoolEnv,
  ...(configuration.leaseMs ? { SPOOL_LEASE_MS: String(configuration.leaseMs) } : {}),
});

const fmt = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/**
 * The kinds of item `metadata` reads and writes from now on, for a table cell: `cell(which, top,
 * scale)` names the `top` kinds since this call, most first, each count scaled (per hour, per day).
 */
function kindsFrom(metadata: CountingMetadataStore) {
  const before = { reads: new Map(metadata.byKind.reads), writes: new Map(metadata.byKind.writes) };
  return (which: 'reads' | 'writes', top: number, scale: (n: number) => number) =>
    kindsBetween(metadata.byKind[which], before[which])
      .slice(0, top)
      .map(([kind, n]) => `${kind} ${fmt(scale(n))}`)
      .join(', ');
}

/** An agent in this process, with counters, on a fresh data directory. */
async function countedAgent(env: Record<string, string>) {
  const dataDir = tempDir('spool-bench-scale-');
  const config = loadConfig({ ...env, SPOOL_DATA_DIR: dataDir, SPOOL_HTTP_PORT: '0', SPOOL_KAFKA_PORT: '0' });
  const agent = await startBenchAgent({ config, count: true });
  const counters = agent.counters!;
  return {
    bootstrap: agent.kafkaBootstrap!,
    log: agent.runtime.log,
    metadata: counters.metadata,
    counts: () => snapshot(counters),
    close: async () => {
      await agent.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface Files {
  readonly cold: string;
  readonly warm: string;
}

interface ThroughputRun {
  createMs: number;
  /** Infinity: not done within the configuration's cut. */
  coldMs: number;
  /** Unset when the configuration measures the cold phase only. */
  mbPerS?: number;
  /** The Java client's warm phase, when the configuration has it. */
  javaMbPerS?: number;
}

/** The Java client on a topic of its own: one record per partition (cold); returns the measured bulk, to run. */
async function javaWarm(bootstrap: string, partitions: number): Promise<() => Promise<{ mbPerS: number }>> {
  await createTopics(bootstrap, ['scale-java'], partitions);
  await javaBulkProduce(bootstrap, 'scale-java', { records: partitions, recordBytes, keyed: true, props: javaProps });
  return () => javaBulkProduce(bootstrap, 'scale-java', { records: javaRecords, recordBytes, keyed: true, props: javaProps });
}

/** The agent in its own process, no counters. */
async function throughputRun(configuration: Configuration, files: Files): Promise<ThroughputRun> {
  const agent = await startAgent(envFor(configuration));
  let killed = false;
  try {
    const started = performance.now();
    await createTopics(agent.kafka, ['scale'], configuration.partitions);
    const createMs = performance.now() - started;
    const cold = { path: files.cold, records: configuration.partitions, recordBytes, keyed: true };
    const coldStarted = performance.now();
    const within = configuration.coldOnlyWithinMs;
    const coldDone = await kcatProduce(agent.kafka, 'scale', cold, kcatSettings, { timeoutMs: within }).then(
      () => true,
      (error: unknown) => {
        if (within === undefined) throw error;
        return false;
      },
    );
    const coldMs = coldDone ? performance.now() - coldStarted : Infinity;
    if (within !== undefined) {
      // Its shutdown would release every lease one by one: not part of the measurement.
      const exited = new Promise((resolve) => agent.child.once('exit', resolve));
      agent.child.kill('SIGKILL');
      await exited;
      killed = true;
      return { createMs, coldMs };
    }
    const { mbPerS } = await kcatProduce(agent.kafka, 'scale', { path: files.warm, records, recordBytes, keyed: true }, kcatSettings);
    const javaMbPerS = configuration.java ? (await (await javaWarm(agent.kafka, configuration.partitions))()).mbPerS : undefined;
    return { createMs, coldMs, mbPerS, javaMbPerS };
  } finally {
    if (killed) rmSync(agent.dataDir, { recursive: true, force: true });
    else await stopAgent(agent);
  }
}

interface WarmCounts {
  counts: Counts;
  mbPerS: number;
  flushes: number;
  chunks: number;
}

interface CountedRun extends WarmCounts {
  create: Counts;
  /** The Java client's warm phase, when the configuration has it. */
  java?: WarmCounts;
  /** Graceful shutdown: flush, release every lease, close the stores. */
  closeMs: number;
}

/** The agent in this process, with counters. */
async function countedRun(configuration: Configuration, files: Files): Promise<CountedRun> {
  const agent = await countedAgent(envFor(configuration));
  let result: Omit<CountedRun, 'closeMs'> | undefined;
  const warmCounts = async (produce: () => Promise<{ mbPerS: number }>): Promise<WarmCounts> => {
    const before = agent.counts();
    const stats = { ...agent.log.internals.producer.stats };
    const { mbPerS } = await produce();
    const after = agent.log.internals.producer.stats;
    return {
      counts: difference(agent.counts(), before),
      mbPerS,
      flushes: after.flushes - stats.flushes,
      chunks: after.chunksCommitted - stats.chunksCommitted,
    };
  };
  let closeMs = 0;
  try {
    const beforeCreate = agent.counts();
    await createTopics(agent.bootstrap, ['scale'], configuration.partitions);
    const create = difference(agent.counts(), beforeCreate);
    await kcatProduce(
      agent.bootstrap,
      'scale',
      { path: files.cold, records: configuration.partitions, recordBytes, keyed: true },
      kcatSettings,
    );
    const kcat = await warmCounts(() =>
      kcatProduce(agent.bootstrap, 'scale', { path: files.warm, records, recordBytes, keyed: true }, kcatSettings),
    );
    const java = configuration.java ? await warmCounts(await javaWarm(agent.bootstrap, configuration.partitions)) : undefined;
    result = { create, ...kcat, java };
  } finally {
    const closing = performance.now();
    await agent.close();
    closeMs = performance.now() - closing;
  }
  return { ...result, closeMs };
}

/** SCALE_PARTS: which parts run, comma-separated (partitions, groups, idle); the first two by default. */
const parts = new Set((process.env.SCALE_PARTS ?? 'partitions,groups').split(','));
console.log(`scale benchmark, ${new Date().toISOString()}, Node ${process.version}; medians; ${recordBytes} B keyed records`);
if (parts.has('partitions')) {
  const files: Files = {
    cold: join(tmpdir(), `spool-bench-scale-cold-${process.pid}.txt`),
    warm: join(tmpdir(), `spool-bench-scale-${process.pid}.txt`),
  };
  await writeRecords(files.warm, records, recordBytes, { keyed: true });
  const throughput = new Map<Configuration, ThroughputRun[]>();
  const counted = new Map<Configuration, CountedRun>();
  try {
    for (const configuration of configurations) {
      await writeRecords(files.cold, configuration.partitions, recordBytes, { keyed: true });
      for (let run = 0; run < configuration.runs; run++)
        throughput.set(configuration, [...(throughput.get(configuration) ?? []), await throughputRun(configuration, files)]);
      if (configuration.coldOnlyWithinMs === undefined) counted.set(configuration, await countedRun(configuration, files));
      console.log(`${configuration.name} partitions done`);
    }
  } finally {
    rmSync(files.warm, { force: true });
    rmSync(files.cold, { force: true });
  }

  const seconds = (ms: number, cutMs?: number) => (Number.isFinite(ms) ? fmt(ms / 1000, 1) : `> ${fmt((cutMs ?? 0) / 1000)} (cut)`);
  console.log('\nproduce as partitions grow (throughput: agent in its own process, no counters; medians)');
  console.log(
    '| partitions | runs | CreateTopics ms (WCU) | cold: one record per partition, s | kcat warm: runs MB/s | kcat warm: median MB/s | vs 8 partitions | Java warm: runs MB/s | Java warm: median MB/s | vs 8 partitions | graceful close of the counted run, s |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  const medianOf = (configuration: Configuration, value: (run: ThroughputRun) => number | undefined) =>
    median(throughput.get(configuration)!.map((r) => value(r) ?? NaN));
  const runsOf = (configuration: Configuration, value: (run: ThroughputRun) => number | undefined) =>
    throughput
      .get(configuration)!
      .map((r) => value(r))
      .filter((v): v is number => v !== undefined);
  const kcatBase = medianOf(configurations[0]!, (r) => r.mbPerS);
  const javaBase = medianOf(configurations[0]!, (r) => r.javaMbPerS);
  for (const configuration of configurations) {
    const rows = throughput.get(configuration)!;
    const c = counted.get(configuration);
    const cells = (value: (run: ThroughputRun) => number | undefined, base: number) => {
      const runs = runsOf(configuration, value);
      if (runs.length === 0) return ['not run', '–', '–'];
      const mid = median(runs);
      return [runs.map((v) => fmt(v, 1)).join(', '), fmt(mid, 1), (mid / base).toFixed(2)];
    };
    console.log(
      `| ${configuration.name} | ${rows.length} | ${fmt(median(rows.map((r) => r.createMs)))} (${c ? fmt(c.create.metadata.writeUnits) : 'not counted'}) | ${seconds(median(rows.map((r) => r.coldMs)), configuration.coldOnlyWithinMs)} | ${cells((r) => r.mbPerS, kcatBase).join(' | ')} | ${cells((r) => r.javaMbPerS, javaBase).join(' | ')} | ${c ? fmt(c.closeMs / 1000, 1) : 'killed'} |`,
    );
  }

  console.log('\ncommit cost of the warm phase (the counted run, agent in this process)');
  console.log(
    '| partitions | client | MB/s (counted) | flushes | partitions per flush | commit transactions per flush | commit WCU per flush | commit WCU per GB | other WCU per GB (leases, producer ids) | PUT per GB | $ per GB (S3 + DynamoDB) | DynamoDB / S3 |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [configuration, c] of counted) {
    for (const [client, warm, count] of [
      ['kcat', c, records],
      ['Java', c.java, javaRecords],
    ] as const) {
      if (warm === undefined) continue;
      const gb = (count * recordBytes) / 1e9;
      const price = dollars(warm.counts);
      const meta = warm.counts.metadata;
      console.log(
        `| ${configuration.name} | ${client} | ${fmt(warm.mbPerS, 1)} | ${fmt(warm.flushes)} | ${fmt(warm.chunks / warm.flushes, 1)} | ${fmt(meta.transactions / warm.flushes, 1)} | ${fmt(meta.transactWriteUnits / warm.flushes)} | ${fmt(meta.transactWriteUnits / gb)} | ${fmt((meta.writeUnits - meta.transactWriteUnits) / gb)} | ${fmt(warm.counts.objects.puts / gb)} | $${(price.total / gb).toFixed(3)} | ${(price.dynamo / price.s3).toFixed(1)} |`,
      );
    }
  }
}

// ---- 100 consumer groups ------------------------------------------------------------------------------
if (parts.has('groups')) {
  const agent = await countedAgent(spoolEnv);
  const consumers: Consumer[] = [];
  try {
    await createTopics(agent.bootstrap, ['shared'], 8);
    const groupFile = join(tmpdir(), `spool-bench-groups-${process.pid}.txt`);
    await writeRecords(groupFile, groupRecords, recordBytes, { keyed: true });
    await kcatProduce(
      agent.bootstrap,
      'shared',
      { path: groupFile, records: groupRecords, recordBytes, keyed: true },
      kcatSettings,
    ).finally(() => rmSync(groupFile, { force: true }));

    const before = agent.counts();
    const started = performance.now();
    const firstRecordMs: number[] = [];
    await Promise.all(
      Array.from({ length: groups }, async (_, i) => {
        const kafka = new Kafka({ brokers: [agent.bootstrap], logLevel: logLevel.NOTHING, clientId: `bench-group-${i}` });
        const consumer = kafka.consumer({ groupId: `group-${i}` });
        consumers.push(consumer);
        await consumer.connect();
        await consumer.subscribe({ topic: 'shared', fromBeginning: true });
        let seen = 0;
        await new Promise<void>((resolve, reject) => {
          consumer
            .run({
              eachBatch: async ({ batch }) => {
                if (seen === 0) firstRecordMs.push(performance.now() - started);
                seen += batch.messages.length;
                if (seen >= groupRecords) resolve();
              },
            })
            .catch(reject);
        });
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const read = difference(agent.counts(), before);
    // Let the last auto-commits land, then measure an idle period with every group connected.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const idleBefore = agent.counts();
    const kindsSince = kindsFrom(agent.metadata);
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
    const idle = difference(agent.counts(), idleBefore);
    const kinds = (which: 'reads' | 'writes') => kindsSince(which, 4, perHour);
    const perHour = (value: number) => (value / idleSeconds) * 3600;
    const offsetCommits = read.metadata.transactions;
    console.log(
      `\n${groups} consumer groups (kafkajs 2.2.4, one member each, auto-commit) reading one 8-partition topic of ${groupRecords} × ${recordBytes} B records`,
    );
    console.log('| measure | value |');
    console.log('|---|---|');
    console.log(`| all ${groups} groups have read every record, s | ${fmt(seconds, 1)} |`);
    console.log(
      `| aggregate read MB/s (${groups} × ${fmt((groupRecords * recordBytes) / 1e6, 1)} MB) | ${fmt((groups * groupRecords * recordBytes) / 1e6 / seconds, 1)} |`,
    );
    console.log(
      `| first batch reached a group, median / max s (group join included) | ${fmt(median(firstRecordMs) / 1000, 1)} / ${fmt(Math.max(...firstRecordMs) / 1000, 1)} |`,
    );
    console.log(`| offset-commit transactions, per group | ${fmt(offsetCommits / groups, 1)} |`);
    console.log(`| write units while reading, per group (offset commits, group state) | ${fmt(read.metadata.writeUnits / groups, 1)} |`);
    console.log(
      `| read units while reading, per MB read | ${fmt(read.metadata.readUnits / ((groups * groupRecords * recordBytes) / 1e6), 1)} |`,
    );
    console.log(
      `| idle, ${groups} groups connected: metadata writes per hour | ${fmt(perHour(idle.metadata.writes + idle.metadata.transactions))} |`,
    );
    console.log(`| idle: WCU / RCU per hour | ${fmt(perHour(idle.metadata.writeUnits))} / ${fmt(perHour(idle.metadata.readUnits))} |`);
    console.log(`| idle: DynamoDB $ per day for the ${groups} groups | $${(perHour(dollars(idle).dynamo) * 24).toFixed(2)} |`);
    console.log(`| idle: items written per hour, by kind | ${kinds('writes')} |`);
    console.log(`| idle: items read per hour, by kind | ${kinds('reads')} |`);
  } finally {
    await Promise.all(consumers.map((consumer) => consumer.disconnect().catch(() => undefined)));
    await agent.close();
  }
}

// ---- an idle agent leading 1,000 partitions -----------------------------------------------------------
if (parts.has('idle')) {
  const partitions = 1000;
  const agent = await countedAgent({ SPOOL_BATCH_INTERVAL_MS: '10' });
  const file = join(tmpdir(), `spool-bench-idle-${process.pid}.txt`);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const kafka = new Kafka({ brokers: [agent.bootstrap], logLevel: logLevel.NOTHING, clientId: 'bench-idle' });
  const admin = kafka.admin();
  try {
    await createTopics(agent.bootstrap, ['idle'], partitions);
    await writeRecords(file, 3 * partitions, recordBytes, { keyed: true });
    await kcatProduce(agent.bootstrap, 'idle', { path: file, records: 3 * partitions, recordBytes, keyed: true }, kcatSettings);
    const lastWriteMs = performance.now();
    await admin.connect();
    let metadataRequests = 0;
    const refreshing = setInterval(() => {
      metadataRequests++;
      void admin.fetchTopicMetadata({ topics: ['idle'] }).catch(() => undefined);
    }, 10_000);
    const window = async (fromS: number, toS: number) => {
      await sleep(lastWriteMs + fromS * 1000 - performance.now());
      const before = agent.counts();
      const kindsSince = kindsFrom(agent.metadata);
      const leasesHeld = agent.log.stats.leasesHeld;
      await sleep(lastWriteMs + toS * 1000 - performance.now());
      const counts = difference(agent.counts(), before);
      const perDay = (value: number) => (value / (toS - fromS)) * 86_400;
      const kinds = (which: 'reads' | 'writes') => kindsSince(which, 5, perDay);
      const price = dollars(counts);
      return {
        label: `${fromS}–${toS} s after the last write (${fmt(leasesHeld)} leases held at its start)`,
        cells: [
          fmt(perDay(counts.metadata.writes + counts.metadata.transactions)),
          fmt(perDay(counts.metadata.gets + counts.metadata.queries)),
          fmt(perDay(counts.metadata.writeUnits)),
          fmt(perDay(counts.metadata.readUnits)),
          fmt(perDay(counts.objects.puts + counts.objects.gets + counts.objects.lists + counts.objects.deletes)),
          `$${perDay(price.total).toFixed(3)}`,
          kinds('writes'),
          kinds('reads'),
        ],
      };
    };
    const leading = await window(5, 45);
    const idle = await window(70, 190);
    clearInterval(refreshing);
    console.log(
      `\nan agent with a topic of ${fmt(partitions)} partitions after ${fmt(3 * partitions)} keyed records, then idle (maintenance every 60 s; a Metadata request for the topic every 10 s; ${metadataRequests} sent); per day`,
    );
    console.log(
      '| window | metadata writes | metadata reads | WCU | RCU | S3 requests | $ per day (S3 + DynamoDB) | items written, by kind | items read, by kind |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const { label, cells } of [leading, idle]) console.log(`| ${label} | ${cells.join(' | ')} |`);
  } finally {
    rmSync(file, { force: true });
    await admin.disconnect().catch(() => undefined);
    await agent.close();
  }
}
