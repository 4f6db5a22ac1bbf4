import { rmSync } from 'node:fs';
import { tempDir } from '../test/support/stores.js';
import { type Counts, difference, dollars, kindsBetween, prices, snapshot } from './support/counting.js';
import { startBenchAgent } from './support/embedded-agent.js';
import { describeModel, storageModels } from './support/latency-model.js';
import { median, percentile } from './support/process.js';
import { httpReceiver, kafkaReceivers, queueAgentConfig } from './support/share-receivers.js';

const runs = 3;
const topic = 'jobs';
const partitions = 4;
const recordsPerPartition = 4000;
const recordBytes = 100;
const producedPerCall = 200;
const batches = [1, 10, 100] as const;
const receiverCounts = [1, 4] as const;
/** Rounds per receiver, by batch: a fixed workload that keeps the whole bench near two minutes. */
const roundsByBatch: Record<(typeof batches)[number], number> = { 1: 40, 10: 30, 100: 15 };
const protocols = ['HTTP', 'Kafka'] as const;
type Protocol = (typeof protocols)[number];
const model = 's3';
const waitMs = 1000;
/** Warm-up rounds at most before records of every partition came (receives start at a random partition). */
const maxWarmUpRounds = 50;
/** Every round accepts what it received, waiting up to `waitMs` for it. */
const accepting = { waitMs, outcome: 'accept' } as const;

interface Cell {
  readonly protocol: Protocol;
  readonly batch: (typeof batches)[number];
  readonly receivers: (typeof receiverCounts)[number];
}

interface Measured {
  records: number;
  seconds: number;
  /** One receive and its acknowledgement, ms each. */
  roundsMs: number[];
  counts: Counts;
  /** What the warm-up rounds cost: the cold reads of each partition's backlog, the first receive of each share partition. */
  warmUp: Counts;
  /** Items read and written, by kind (counting.ts kindOf). */
  kinds: { reads: [string, number][]; writes: [string, number][] };
}

async function prefill(dataDir: string): Promise<void> {
  const agent = await startBenchAgent({ config: queueAgentConfig(dataDir) });
  try {
    const { log } = agent.runtime;
    await log.createTopic(topic, partitions);
    const value = Buffer.alloc(recordBytes, 'q');
    for (let sent = 0; sent < recordsPerPartition; sent += producedPerCall)
      await log.produce(
        topic,
        Array.from({ length: producedPerCall * partitions }, (_, i) => ({ key: null, value, partition: i % partitions })),
      );
  } finally {
    await agent.close();
  }
}

async function measure(dataDir: string, cell: Cell, run: number): Promise<Measured> {
  const agent = await startBenchAgent({ config: queueAgentConfig(dataDir), model, count: true, seed: 42 + run });
  const counters = agent.counters!;
  try {
    const group = `bench-${cell.protocol}-${cell.batch}-${cell.receivers}-${run}`.toLowerCase();
    await agent.runtime.queues.alterConfig(group, { 'share.auto.offset.reset': 'earliest' });
    const receivers =
      cell.protocol === 'HTTP'
        ? Array.from({ length: cell.receivers }, () => httpReceiver(agent, group, topic, cell.batch))
        : await kafkaReceivers(agent, group, topic, cell.batch, cell.receivers);
    try {
      // Warm-up, until records of every partition were received: pins each share partition's start
      // and reads each partition's backlog into the cache once, so the rounds measure the steady state.
      const warmUpBefore = snapshot(counters);
      const seen = new Set<number>();
      for (let round = 0; seen.size < partitions; round++) {
        if (round === maxWarmUpRounds) throw new Error(`${cell.protocol}: warm-up received from ${seen.size} partitions only`);
        for (const taken of await Promise.all(receivers.map((r) => r.round(accepting)))) for (const partition of taken) seen.add(partition);
      }
      const warmUp = difference(snapshot(counters), warmUpBefore);
      const before = snapshot(counters);
      const kindsBefore = { reads: new Map(counters.metadata.byKind.reads), writes: new Map(counters.metadata.byKind.writes) };
      const roundsMs: number[] = [];
      let records = 0;
      const started = performance.now();
      await Promise.all(
        receivers.map(async (receiver) => {
          for (let round = 0; round < roundsByBatch[cell.batch]; round++) {
            const roundStarted = performance.now();
            const settled = (await receiver.round(accepting)).length;
            if (settled === 0) throw new Error(`${cell.protocol}: a receive of the pre-filled topic came back empty`);
            roundsMs.push(performance.now() - roundStarted);
            records += settled;
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const { reads, writes } = counters.metadata.byKind;
      return {
        records,
        seconds,
        roundsMs,
        counts: difference(snapshot(counters), before),
        warmUp,
        kinds: { reads: kindsBetween(reads, kindsBefore.reads), writes: kindsBetween(writes, kindsBefore.writes) },
      };
    } finally {
      for (const receiver of receivers) await receiver.close();
    }
  } finally {
    await agent.close();
  }
}

const { objects, metadata } = storageModels[model];
console.log(
  `queues, ${new Date().toISOString()}, Node ${process.version}; ${runs} runs, medians; topic of ${partitions} partitions × ${recordsPerPartition} records of ${recordBytes} B; rounds per receiver by batch ${JSON.stringify(roundsByBatch)}`,
);
console.log(`model ${model}: ${describeModel(objects)}; ${describeModel(metadata)}; log-normal, seeds 42…${42 + runs - 1}`);
console.log(
  `prices: S3 GET $${prices.s3GetUsd * 1000}/1,000, PUT $${prices.s3PutUsd * 1000}/1,000; DynamoDB on demand $${prices.dynamoWriteUnitUsd * 1e6}/million WRU, $${prices.dynamoReadUnitUsd * 1e6}/million RRU`,
);

const cells: Cell[] = protocols.flatMap((protocol) =>
  batches.flatMap((batch) => receiverCounts.map((receivers) => ({ protocol, batch, receivers }))),
);
const key = (cell: Cell) => `${cell.protocol}/${cell.batch}/${cell.receivers}`;
const results = new Map<string, Measured[]>();
const dataDir = tempDir('spool-bench-queues-');
const benchStarted = performance.now();
try {
  await prefill(dataDir);
  for (let run = 0; run < runs; run++) {
    for (const cell of cells) results.set(key(cell), [...(results.get(key(cell)) ?? []), await measure(dataDir, cell, run)]);
    console.log(`run ${run + 1} of ${runs} done (${((performance.now() - benchStarted) / 1000).toFixed(0)} s)`);
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

/** Median over the runs of a cell. */
const med = (cell: Cell, value: (m: Measured) => number) => median(results.get(key(cell))!.map(value));
const perRecord = (count: (c: Counts) => number) => (m: Measured) => count(m.counts) / m.records;
const recordsPerS = (m: Measured) => m.records / m.seconds;
const usdPerMillion = (m: Measured) => (dollars(m.counts).total / m.records) * 1e6;
const f = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const cellOf = (protocol: Protocol, batch: Cell['batch'], receivers: Cell['receivers']): Cell => ({ protocol, batch, receivers });

/** A markdown table row. */
const row = (cells: readonly (string | number)[]) => console.log(`| ${cells.join(' | ')} |`);
const header = (names: readonly string[]) => {
  row(names);
  row(names.map(() => '---'));
};

console.log('\nstore figures per record acknowledged; dollars per million records acknowledged');
header([
  'protocol',
  'records per receive',
  'receivers',
  'records/s',
  'receive→ack p50 / p99 ms',
  'DynamoDB reads',
  'DynamoDB writes',
  'conflicts',
  'RCU',
  'WCU',
  'S3 GETs',
  'S3 $',
  'DynamoDB $',
  '**$ per million acked**',
]);
for (const cell of cells) {
  const digits = cell.batch === 1 ? 2 : 3;
  const p = (count: (c: Counts) => number) => f(med(cell, perRecord(count)), digits);
  const perMillion = (part: 's3' | 'dynamo' | 'total') =>
    f(
      med(cell, (m) => (dollars(m.counts)[part] / m.records) * 1e6),
      3,
    );
  const roundMs = (p: number) =>
    f(
      med(cell, (m) => percentile(m.roundsMs, p)),
      1,
    );
  row([
    cell.protocol,
    cell.batch,
    cell.receivers,
    f(med(cell, recordsPerS)),
    `${roundMs(50)} / ${roundMs(99)}`,
    p((c) => c.metadata.gets + c.metadata.queries),
    p((c) => c.metadata.writes + c.metadata.transactions),
    p((c) => c.metadata.conflicts),
    p((c) => c.metadata.readUnits),
    p((c) => c.metadata.writeUnits),
    p((c) => c.objects.gets),
    perMillion('s3'),
    perMillion('dynamo'),
    `**${perMillion('total')}**`,
  ]);
}

const ratio = (a: Cell, b: Cell, value: (m: Measured) => number, digits: number) => f(med(a, value) / med(b, value), digits);
console.log('\nratios of medians: Kafka against HTTP');
header(['records per receive', 'receivers', 'Kafka / HTTP records/s', 'Kafka / HTTP $ per million']);
for (const batch of batches)
  for (const receivers of receiverCounts) {
    const [http, kafka] = [cellOf('HTTP', batch, receivers), cellOf('Kafka', batch, receivers)];
    row([batch, receivers, ratio(kafka, http, recordsPerS, 2), ratio(kafka, http, usdPerMillion, 2)]);
  }
console.log('\nratios of medians: batch 100 against batch 1, 4 receivers against 1');
header(['protocol', 'receivers', 'batch 100 / batch 1 records/s', 'batch 1 / batch 100 $ per million']);
for (const protocol of protocols)
  for (const receivers of receiverCounts) {
    const [one, hundred] = [cellOf(protocol, 1, receivers), cellOf(protocol, 100, receivers)];
    row([protocol, receivers, ratio(hundred, one, recordsPerS, 1), ratio(one, hundred, usdPerMillion, 1)]);
  }
header(['protocol', 'records per receive', '4 / 1 receivers records/s']);
for (const protocol of protocols)
  for (const batch of batches) row([protocol, batch, ratio(cellOf(protocol, batch, 4), cellOf(protocol, batch, 1), recordsPerS, 2)]);

console.log('\nper receive→ack round, items read and written by kind (last run; counting.ts kindOf)');
for (const cell of cells) {
  const last = results.get(key(cell))!.at(-1)!;
  const rounds = roundsByBatch[cell.batch] * cell.receivers;
  const kinds = (list: [string, number][]) => list.map(([kind, n]) => `${kind} ${f(n / rounds, 2)}`).join(', ');
  console.log(`${key(cell)}: reads ${kinds(last.kinds.reads)}; writes ${kinds(last.kinds.writes)}`);
}
console.log('\nwarm-up (cold cache, first receive of each share partition), medians');
for (const cell of cells)
  console.log(
    `${key(cell)}: S3 GETs ${med(cell, (m) => m.warmUp.objects.gets)}, DynamoDB writes ${med(cell, (m) => m.warmUp.metadata.writes + m.warmUp.metadata.transactions)}`,
  );
console.log(`\ntotal ${((performance.now() - benchStarted) / 1000).toFixed(0)} s`);
