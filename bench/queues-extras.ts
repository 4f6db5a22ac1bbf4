import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { deliverAtHeaderOf } from '../lib/queues/delay.js';
import { tempDir } from '../test/support/stores.js';
import { type Counts, difference, dollars, kindsBetween, prices, snapshot } from './support/counting.js';
import { type BenchAgent, startBenchAgent } from './support/embedded-agent.js';
import { describeModel, storageModels } from './support/latency-model.js';
import { median, percentile } from './support/process.js';
import { type AckOutcome, httpReceiver, kafkaReceivers, queueAgentConfig, type ShareReceiver } from './support/share-receivers.js';

const runs = 3;
const model = 's3';
const partitions = 4;
const recordBytes = 100;
const protocols = ['HTTP', 'Kafka'] as const;
type Protocol = (typeof protocols)[number];
const batches = [1, 100] as const;
type Batch = (typeof batches)[number];

// A. dead letters
const topic = 'jobs';
const dlqTopic = 'dlq.jobs';
const recordsPerPartition = 4000;
const producedPerCall = 200;
/** Rounds per receiver, by batch, after the warm-up. */
const roundsByBatch: Record<Batch, number> = { 1: 30, 100: 10 };
const maxWarmUpRounds = 50;
const outcomes = ['accept', 'reject, no DLQ', 'reject, DLQ', 'reject, DLQ + copy'] as const;
type Outcome = (typeof outcomes)[number];

// B. delayed delivery
const delays = ['undelayed', 'one due time', 'due time per record'] as const;
type Delay = (typeof delays)[number];
const perPartitionByBatch: Record<Batch, number> = { 1: 5, 100: 100 };
const delayMs = 4000;
const maxDeferRounds = 10;

// C. waiting
const idleRecordsPerPartition = 5;
const idleDueInMs = 25_000;
const idleWaitMs = 10_000;

const waitMs = 1000;

/** An agent without the model or counters, for writing a workload's data. */
async function withPlainAgent<T>(dataDir: string, work: (agent: BenchAgent) => Promise<T>): Promise<T> {
  const agent = await startBenchAgent({ config: queueAgentConfig(dataDir) });
  try {
    return await work(agent);
  } finally {
    await agent.close();
  }
}

/** One receiver: over Kafka, a member alone in the group, so assigned every partition. */
const receiverFor = async (
  protocol: Protocol,
  agent: BenchAgent,
  group: string,
  topicName: string,
  batch: number,
): Promise<ShareReceiver> => {
  if (protocol === 'HTTP') return httpReceiver(agent, group, topicName, batch);
  const [member] = await kafkaReceivers(agent, group, topicName, batch, 1);
  return member!;
};

type Counters = NonNullable<BenchAgent['counters']>;
type Kinds = { reads: [string, number][]; writes: [string, number][] };

/** What `work` asks of the stores: counts and items by kind. */
async function counted<T>(counters: Counters, work: () => Promise<T>): Promise<{ value: T; counts: Counts; kinds: Kinds }> {
  const before = snapshot(counters);
  const kindsBefore = { reads: new Map(counters.metadata.byKind.reads), writes: new Map(counters.metadata.byKind.writes) };
  const value = await work();
  const { reads, writes } = counters.metadata.byKind;
  return {
    value,
    counts: difference(snapshot(counters), before),
    kinds: { reads: normalised(kindsBetween(reads, kindsBefore.reads)), writes: normalised(kindsBetween(writes, kindsBefore.writes)) },
  };
}

/** Kinds with a number (a delay index entry's due time) or a workload's topic name as one kind. */
function normalised(kinds: [string, number][]): [string, number][] {
  const out = new Map<string, number>();
  for (const [kind, n] of kinds) {
    const name = kind.replace(/\/\d+$/, '/<n>').replace(/^topics\/.*/, 'topics/<name>');
    out.set(name, (out.get(name) ?? 0) + n);
  }
  return [...out].sort((a, b) => b[1] - a[1]);
}

/** Delay index items written (puts and deletes). */
const indexWrites = (kinds: Kinds) => kinds.writes.filter(([kind]) => kind.startsWith('sharedelay/')).reduce((n, [, k]) => n + k, 0);

/** Nothing counted yet. */
const zero = (counters: Counters): Counts => {
  const now = snapshot(counters);
  return difference(now, now);
};
function sum(a: Counts, b: Counts): Counts {
  const plus = <T extends object>(x: T, y: T): T =>
    Object.fromEntries(Object.entries(x).map(([name, value]) => [name, (value as number) + ((y[name as keyof T] as number) ?? 0)])) as T;
  return { objects: plus(a.objects, b.objects), metadata: plus(a.metadata, b.metadata) };
}
function addKinds(a: Kinds, b: Kinds): Kinds {
  const merge = (x: [string, number][], y: [string, number][]) => {
    const map = new Map(x);
    for (const [kind, n] of y) map.set(kind, (map.get(kind) ?? 0) + n);
    return [...map].sort((p, q) => q[1] - p[1]);
  };
  return { reads: merge(a.reads, b.reads), writes: merge(a.writes, b.writes) };
}

// ---- A. dead letters ---------------------------------------------------------------------------------

interface DeadCell {
  readonly protocol: Protocol;
  readonly batch: Batch;
  readonly outcome: Outcome;
}

interface DeadMeasured {
  records: number;
  seconds: number;
  roundsMs: number[];
  counts: Counts;
  kinds: Kinds;
  rounds: number;
}

async function prefillDeadLetters(dataDir: string): Promise<void> {
  await withPlainAgent(dataDir, async (agent) => {
    const { log } = agent.runtime;
    await log.createTopic(topic, partitions);
    await log.createTopic(dlqTopic, partitions, { 'errors.deadletterqueue.group.enable': true });
    const value = Buffer.alloc(recordBytes, 'q');
    for (let sent = 0; sent < recordsPerPartition; sent += producedPerCall)
      await log.produce(
        topic,
        Array.from({ length: producedPerCall * partitions }, (_, i) => ({ key: Buffer.from(`k${i}`), value, partition: i % partitions })),
      );
  });
}

async function dlqEnd(agent: BenchAgent): Promise<number> {
  let total = 0;
  for (let partition = 0; partition < partitions; partition++) total += (await agent.runtime.log.offsetRange(dlqTopic, partition)).latest;
  return total;
}

async function measureDeadLetters(dataDir: string, cell: DeadCell, run: number): Promise<DeadMeasured> {
  const agent = await startBenchAgent({ config: queueAgentConfig(dataDir), model, count: true, seed: 42 + run });
  const counters = agent.counters!;
  try {
    const group = `dead-${cell.protocol}-${cell.batch}-${cell.outcome.replace(/\W+/g, '-')}-${run}`.toLowerCase();
    const dlq = cell.outcome === 'reject, DLQ' || cell.outcome === 'reject, DLQ + copy';
    await agent.runtime.queues.alterConfig(group, {
      'share.auto.offset.reset': 'earliest',
      ...(dlq
        ? {
            'errors.deadletterqueue.topic.name': dlqTopic,
            'errors.deadletterqueue.copy.record.enable': cell.outcome === 'reject, DLQ + copy',
          }
        : {}),
    });
    const outcome: AckOutcome = cell.outcome === 'accept' ? 'accept' : 'reject';
    const letterBefore = await dlqEnd(agent);
    const receiver = await receiverFor(cell.protocol, agent, group, topic, cell.batch);
    try {
      // Warm-up: pins each share partition's start, reads each partition's backlog into the cache and,
      // rejecting, writes a first dead letter to each partition of the dead-letter topic.
      const seen = new Set<number>();
      let settled = 0;
      for (let round = 0; seen.size < partitions; round++) {
        if (round === maxWarmUpRounds) throw new Error(`${cell.protocol}: warm-up received from ${seen.size} partitions only`);
        const taken = await receiver.round({ waitMs, outcome });
        settled += taken.length;
        for (const partition of taken) seen.add(partition);
      }
      const roundsMs: number[] = [];
      let records = 0;
      const started = performance.now();
      const { counts, kinds } = await counted(counters, async () => {
        for (let round = 0; round < roundsByBatch[cell.batch]; round++) {
          const roundStarted = performance.now();
          const taken = (await receiver.round({ waitMs, outcome })).length;
          if (taken === 0) throw new Error(`${cell.protocol}: a receive of the pre-filled topic came back empty`);
          roundsMs.push(performance.now() - roundStarted);
          records += taken;
        }
      });
      const seconds = (performance.now() - started) / 1000;
      settled += records;
      const letters = (await dlqEnd(agent)) - letterBefore;
      if (letters !== (dlq ? settled : 0)) throw new Error(`${key(cell)}: ${letters} dead letters written for ${settled} records settled`);
      return { records, seconds, roundsMs, counts, kinds, rounds: roundsByBatch[cell.batch] };
    } finally {
      await receiver.close();
    }
  } finally {
    await agent.close();
  }
}

// ---- B. delayed delivery -----------------------------------------------------------------------------

interface DelayCell {
  readonly protocol: Protocol;
  readonly batch: Batch;
  readonly delay: Delay;
}

interface DelayMeasured {
  records: number;
  defer: Counts;
  deferReceives: number;
  idle: Counts;
  idleSeconds: number;
  deliver: Counts;
  deliverRounds: number;
  deferKinds: Kinds;
  deliverKinds: Kinds;
}

/** Creates the topic, pins the group's share partitions at 0, and produces the records (due `dueMs`, per `delay`). */
async function prepareDelayed(dataDir: string, topicName: string, group: string, perPartition: number, delay: Delay): Promise<number> {
  return withPlainAgent(dataDir, async (agent) => {
    const { log, queues } = agent.runtime;
    await log.createTopic(topicName, partitions);
    await queues.alterConfig(group, { 'share.auto.offset.reset': 'earliest' });
    if ((await queues.receive(group, topicName, { maxRecords: 1 })).records.length !== 0)
      throw new Error('an empty topic handed out records');
    const value = Buffer.alloc(recordBytes, 'd');
    const dueMs = Date.now() + delayMs;
    await log.produce(
      topicName,
      Array.from({ length: perPartition * partitions }, (_, i) => ({
        key: null,
        value,
        partition: i % partitions,
        ...(delay === 'undelayed' ? {} : { headers: [deliverAtHeaderOf(delay === 'one due time' ? dueMs : dueMs + i)] }),
      })),
    );
    return dueMs;
  });
}

async function delayedCount(agent: BenchAgent, group: string, topicName: string): Promise<number> {
  const described = await agent.runtime.queues.describe(group, topicName);
  return described.partitions.reduce((n, p) => n + p.delayed, 0);
}

async function measureDelayed(dataDir: string, cell: DelayCell, run: number): Promise<DelayMeasured> {
  const topicName = `delay-${cell.protocol}-${cell.batch}-${cell.delay.replace(/\W+/g, '-')}-${run}`.toLowerCase();
  const group = `g-${topicName}`;
  const perPartition = perPartitionByBatch[cell.batch];
  const total = perPartition * partitions;
  const dueMs = await prepareDelayed(dataDir, topicName, group, perPartition, cell.delay);
  const agent = await startBenchAgent({ config: queueAgentConfig(dataDir), model, count: true, seed: 42 + run });
  const counters = agent.counters!;
  try {
    const receiver = await receiverFor(cell.protocol, agent, group, topicName, cell.batch);
    try {
      let defer = zero(counters);
      let deferKinds: Kinds = { reads: [], writes: [] };
      let deferReceives = 0;
      if (cell.delay !== 'undelayed') {
        while ((await delayedCount(agent, group, topicName)) < total) {
          if (deferReceives === maxDeferRounds) throw new Error(`${key(cell)}: not every record deferred after ${deferReceives} receives`);
          const round = await counted(counters, () => receiver.round({ waitMs: 0, outcome: 'accept' }));
          if (round.value.length > 0) throw new Error(`${key(cell)}: ${round.value.length} records handed out before they were due`);
          defer = sum(defer, round.counts);
          deferKinds = addKinds(deferKinds, round.kinds);
          deferReceives++;
        }
        if (Date.now() >= dueMs) throw new Error(`${key(cell)}: deferring took past the due time; lengthen delayMs`);
      }
      const idleStarted = performance.now();
      const idle = await counted(counters, () => sleep(cell.delay === 'undelayed' ? 0 : Math.max(0, dueMs + 50 - Date.now())));
      const idleSeconds = (performance.now() - idleStarted) / 1000;
      let deliverRounds = 0;
      const deliver = await counted(counters, async () => {
        let settled = 0;
        while (settled < total) {
          if (deliverRounds === 4 * total) throw new Error(`${key(cell)}: ${settled} of ${total} records delivered`);
          settled += (await receiver.round({ waitMs, outcome: 'accept' })).length;
          deliverRounds++;
        }
        if (settled !== total) throw new Error(`${key(cell)}: ${settled} records settled of ${total}`);
      });
      const left = await agent.runtime.queues.describe(group, topicName);
      if (left.partitions.some((p) => p.delayed + p.acquired + p.available > 0 || p.startOffset !== perPartition))
        throw new Error(`${key(cell)}: records left after the deliver phase: ${JSON.stringify(left.partitions)}`);
      return {
        records: total,
        defer,
        deferReceives,
        idle: idle.counts,
        idleSeconds,
        deliver: deliver.counts,
        deliverRounds,
        deferKinds,
        deliverKinds: deliver.kinds,
      };
    } finally {
      await receiver.close();
    }
  } finally {
    await agent.close();
  }
}

// ---- C. waiting while records are delayed --------------------------------------------------------------

interface IdleMeasured {
  /** The long poll of the group whose records are delayed: what it cost, how long it took, records it got. */
  delayedPoll: Counts;
  delayedPollSeconds: number;
  emptyPoll: Counts;
  emptyPollSeconds: number;
  /** The long poll that got the records when due: ms after the due time it returned them, and its cost. */
  dueLateMs: number;
  duePoll: Counts;
  duePollSeconds: number;
  defer: Counts;
  deferSeconds: number;
}

async function measureIdle(dataDir: string, run: number): Promise<IdleMeasured> {
  const delayedTopic = `idle-delayed-${run}`;
  const emptyTopic = `idle-empty-${run}`;
  const [delayedGroup, emptyGroup] = [`g-${delayedTopic}`, `g-${emptyTopic}`];
  const total = idleRecordsPerPartition * partitions;
  const dueMs = await withPlainAgent(dataDir, async (agent) => {
    const { log, queues } = agent.runtime;
    for (const [name, group] of [
      [delayedTopic, delayedGroup],
      [emptyTopic, emptyGroup],
    ] as const) {
      await log.createTopic(name, partitions);
      await queues.alterConfig(group, { 'share.auto.offset.reset': 'earliest' });
      await queues.receive(group, name, { maxRecords: 1 });
    }
    const due = Date.now() + idleDueInMs;
    const value = Buffer.alloc(recordBytes, 'i');
    await log.produce(
      delayedTopic,
      Array.from({ length: total }, (_, i) => ({ key: null, value, partition: i % partitions, headers: [deliverAtHeaderOf(due)] })),
    );
    return due;
  });
  const agent = await startBenchAgent({ config: queueAgentConfig(dataDir), model, count: true, seed: 42 + run });
  const counters = agent.counters!;
  try {
    const delayed = httpReceiver(agent, delayedGroup, delayedTopic, 100);
    const empty = httpReceiver(agent, emptyGroup, emptyTopic, 100);
    const deferStarted = performance.now();
    const defer = await counted(counters, () => delayed.round({ waitMs: 0, outcome: 'accept' }));
    const deferSeconds = (performance.now() - deferStarted) / 1000;
    if (defer.value.length > 0 || (await delayedCount(agent, delayedGroup, delayedTopic)) !== total)
      throw new Error('idle: the records were not all deferred by one receive');
    const poll = async (receiver: ShareReceiver, wait: number) => {
      const started = performance.now();
      const { value, counts } = await counted(counters, () => receiver.round({ waitMs: wait, outcome: 'accept' }));
      return { taken: value.length, counts, seconds: (performance.now() - started) / 1000 };
    };
    const delayedPoll = await poll(delayed, idleWaitMs);
    const emptyPoll = await poll(empty, idleWaitMs);
    if (delayedPoll.taken + emptyPoll.taken > 0) throw new Error('idle: a long poll got records before they were due');
    if (Date.now() >= dueMs - 1000) throw new Error('idle: the records came due before the long polls ended; lengthen idleDueInMs');
    // Received and accepted in one round: the receive's share is what it asked until it returned.
    const received = await counted(counters, async () => {
      const got = await poll(delayed, 60_000);
      return { ...got, lateMs: Date.now() - dueMs };
    });
    if (received.value.taken !== total) throw new Error(`idle: the long poll got ${received.value.taken} of ${total} records when due`);
    return {
      delayedPoll: delayedPoll.counts,
      delayedPollSeconds: delayedPoll.seconds,
      emptyPoll: emptyPoll.counts,
      emptyPollSeconds: emptyPoll.seconds,
      dueLateMs: received.value.lateMs,
      duePoll: received.counts,
      duePollSeconds: received.value.seconds,
      defer: defer.counts,
      deferSeconds,
    };
  } finally {
    await agent.close();
  }
}

// ---- the runs ------------------------------------------------------------------------------------------

const { objects, metadata } = storageModels[model];
console.log(
  `queues-extras, ${new Date().toISOString()}, Node ${process.version}; ${runs} runs, medians; ${partitions} partitions, records of ${recordBytes} B`,
);
console.log(`model ${model}: ${describeModel(objects)}; ${describeModel(metadata)}; log-normal, seeds 42…${42 + runs - 1}`);
console.log(
  `prices: S3 GET $${prices.s3GetUsd * 1000}/1,000, PUT $${prices.s3PutUsd * 1000}/1,000; DynamoDB on demand $${prices.dynamoWriteUnitUsd * 1e6}/million WRU, $${prices.dynamoReadUnitUsd * 1e6}/million RRU; TransactWriteItems: 2 WRU per KB per item`,
);

const deadCells: DeadCell[] = protocols.flatMap((protocol) =>
  batches.flatMap((batch) => outcomes.map((outcome) => ({ protocol, batch, outcome }))),
);
const delayCells: DelayCell[] = protocols.flatMap((protocol) =>
  batches.flatMap((batch) => delays.map((delay) => ({ protocol, batch, delay }))),
);
function key(cell: DeadCell | DelayCell): string {
  return `${cell.protocol}/${cell.batch}/${'outcome' in cell ? cell.outcome : cell.delay}`;
}
const deadResults = new Map<string, DeadMeasured[]>();
const delayResults = new Map<string, DelayMeasured[]>();
const idleResults: IdleMeasured[] = [];
const push = <T>(map: Map<string, T[]>, k: string, value: T) => map.set(k, [...(map.get(k) ?? []), value]);
const benchStarted = performance.now();
const elapsed = () => `${((performance.now() - benchStarted) / 1000).toFixed(0)} s`;
const dataDir = tempDir('spool-bench-queues-extras-');
try {
  await prefillDeadLetters(dataDir);
  for (let run = 0; run < runs; run++) {
    for (const cell of deadCells) push(deadResults, key(cell), await measureDeadLetters(dataDir, cell, run));
    console.log(`A. dead letters: run ${run + 1} of ${runs} done (${elapsed()})`);
    for (const cell of delayCells) push(delayResults, key(cell), await measureDelayed(dataDir, cell, run));
    console.log(`B. delayed delivery: run ${run + 1} of ${runs} done (${elapsed()})`);
    idleResults.push(await measureIdle(dataDir, run));
    console.log(`C. waiting: run ${run + 1} of ${runs} done (${elapsed()})`);
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

// ---- the tables ------------------------------------------------------------------------------------------

const f = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const row = (cells: readonly (string | number)[]) => console.log(`| ${cells.join(' | ')} |`);
const header = (names: readonly string[]) => {
  row(names);
  row(names.map(() => '---'));
};
/** The figures of a count, per `per` (records, or 1). */
const figures = {
  reads: (c: Counts) => c.metadata.gets + c.metadata.queries,
  writes: (c: Counts) => c.metadata.writes + c.metadata.transactions,
  transactions: (c: Counts) => c.metadata.transactions,
  conflicts: (c: Counts) => c.metadata.conflicts,
  rcu: (c: Counts) => c.metadata.readUnits,
  wcu: (c: Counts) => c.metadata.writeUnits,
  transactWcu: (c: Counts) => c.metadata.transactWriteUnits,
  s3Puts: (c: Counts) => c.objects.puts,
  s3Gets: (c: Counts) => c.objects.gets + c.objects.heads,
  s3Usd: (c: Counts) => dollars(c).s3,
  dynamoUsd: (c: Counts) => dollars(c).dynamo,
  usd: (c: Counts) => dollars(c).total,
} as const;
type Figure = keyof typeof figures;
const cellsOf = (names: readonly Figure[], per: (name: Figure) => number, digits: number) => names.map((name) => f(per(name), digits));
const storeNames = ['reads', 'rcu', 'writes', 'transactions', 'wcu', 'transactWcu', 's3Puts', 's3Gets'] as const satisfies Figure[];
const storeHeader = [
  'DynamoDB reads',
  'RCU',
  'DynamoDB writes',
  'of which TransactWriteItems',
  'WCU',
  'WCU of transactions',
  'S3 PUTs',
  'S3 GETs',
];

// A.
const deadMed = (cell: DeadCell, value: (m: DeadMeasured) => number) => median(deadResults.get(key(cell))!.map(value));
const deadPer = (cell: DeadCell) => (name: Figure) => deadMed(cell, (m) => figures[name](m.counts) / m.records);
console.log('\nA. dead letters: store figures per record settled; dollars per million records settled');
header([
  'protocol',
  'records per receive',
  'settled as',
  'records/s',
  'receive→ack p50 / p99 ms',
  ...storeHeader,
  'S3 $',
  'DynamoDB $',
  '**$ per million**',
  '× accept',
]);
for (const cell of deadCells) {
  const per = deadPer(cell);
  const accept = deadPer({ ...cell, outcome: 'accept' });
  const roundMs = (p: number) =>
    f(
      deadMed(cell, (m) => percentile(m.roundsMs, p)),
      1,
    );
  row([
    cell.protocol,
    cell.batch,
    cell.outcome,
    f(deadMed(cell, (m) => m.records / m.seconds)),
    `${roundMs(50)} / ${roundMs(99)}`,
    ...cellsOf(storeNames, per, cell.batch === 1 ? 2 : 3),
    f(per('s3Usd') * 1e6, 3),
    f(per('dynamoUsd') * 1e6, 3),
    `**${f(per('usd') * 1e6, 3)}**`,
    f(per('usd') / accept('usd'), 2),
  ]);
}
console.log('\nA. what a dead letter adds: per record rejected with a dead-letter topic, minus an accept of the same cell');
header(['protocol', 'records per receive', 'settled as', ...storeHeader, '$ per million']);
for (const cell of deadCells.filter((c) => c.outcome !== 'accept')) {
  const per = deadPer(cell);
  const accept = deadPer({ ...cell, outcome: 'accept' });
  const extra = (name: Figure) => per(name) - accept(name);
  row([cell.protocol, cell.batch, cell.outcome, ...cellsOf(storeNames, extra, cell.batch === 1 ? 2 : 3), f(extra('usd') * 1e6, 3)]);
}
console.log('\nA. per receive→ack round, items read and written by kind (last run; counting.ts kindOf)');
for (const cell of deadCells) {
  const last = deadResults.get(key(cell))!.at(-1)!;
  const kinds = (list: [string, number][]) => list.map(([kind, n]) => `${kind} ${f(n / last.rounds, 2)}`).join(', ');
  console.log(`${key(cell)}: reads ${kinds(last.kinds.reads)}; writes ${kinds(last.kinds.writes)}`);
}

// B.
const delayMed = (cell: DelayCell, value: (m: DelayMeasured) => number) => median(delayResults.get(key(cell))!.map(value));
const phasePer = (cell: DelayCell, phase: (m: DelayMeasured) => Counts) => (name: Figure) =>
  delayMed(cell, (m) => figures[name](phase(m)) / m.records);
const both = (m: DelayMeasured) => sum(m.defer, m.deliver);
console.log(
  `\nB. delayed delivery (${f(delayMs / 1000)} s): store figures per record, deferring and delivering (the wait between not included); dollars per million records`,
);
header([
  'protocol',
  'records per receive',
  'records',
  'delay',
  'phase',
  'index items written',
  ...storeHeader,
  'S3 $',
  'DynamoDB $',
  '**$ per million**',
  '× undelayed',
]);
for (const cell of delayCells) {
  const phases: [string, (m: DelayMeasured) => Counts, (m: DelayMeasured) => Kinds][] =
    cell.delay === 'undelayed'
      ? [['deliver', (m) => m.deliver, (m) => m.deliverKinds]]
      : [
          ['defer', (m) => m.defer, (m) => m.deferKinds],
          ['deliver', (m) => m.deliver, (m) => m.deliverKinds],
          ['**both**', both, (m) => addKinds(m.deferKinds, m.deliverKinds)],
        ];
  const baseline = phasePer({ ...cell, delay: 'undelayed' }, (m) => m.deliver);
  for (const [name, phase, kinds] of phases) {
    const per = phasePer(cell, phase);
    const digits = cell.batch === 1 ? 2 : 3;
    row([
      cell.protocol,
      cell.batch,
      delayMed(cell, (m) => m.records),
      cell.delay,
      name,
      f(
        delayMed(cell, (m) => indexWrites(kinds(m)) / m.records),
        digits,
      ),
      ...cellsOf(storeNames, per, digits),
      f(per('s3Usd') * 1e6, 3),
      f(per('dynamoUsd') * 1e6, 3),
      `**${f(per('usd') * 1e6, 3)}**`,
      name === 'defer' ? '' : f(per('usd') / baseline('usd'), 2),
    ]);
  }
}
console.log('\nB. what a delay adds: per record delayed (defer + deliver) minus an undelayed record of the same cell');
header(['protocol', 'records per receive', 'delay', ...storeHeader, '$ per million']);
for (const cell of delayCells.filter((c) => c.delay !== 'undelayed')) {
  const per = phasePer(cell, both);
  const baseline = phasePer({ ...cell, delay: 'undelayed' }, (m) => m.deliver);
  const extra = (name: Figure) => per(name) - baseline(name);
  row([cell.protocol, cell.batch, cell.delay, ...cellsOf(storeNames, extra, cell.batch === 1 ? 2 : 3), f(extra('usd') * 1e6, 3)]);
}
console.log(
  '\nB. receives to defer everything, rounds to deliver, and what the agent asked alone while waiting for the due time (medians)',
);
for (const cell of delayCells)
  console.log(
    `${key(cell)}: defer receives ${delayMed(cell, (m) => m.deferReceives)}, deliver rounds ${delayMed(cell, (m) => m.deliverRounds)}; ` +
      `idle ${f(
        delayMed(cell, (m) => m.idleSeconds),
        1,
      )} s: DynamoDB reads ${delayMed(cell, (m) => figures.reads(m.idle))}, writes ${delayMed(cell, (m) => figures.writes(m.idle))}, S3 ${delayMed(cell, (m) => m.idle.objects.gets + m.idle.objects.puts)}`,
  );
console.log('\nB. items read and written by kind, per record (last run; counting.ts kindOf)');
for (const cell of delayCells) {
  const last = delayResults.get(key(cell))!.at(-1)!;
  const kinds = (list: [string, number][]) => list.map(([kind, n]) => `${kind} ${f(n / last.records, 3)}`).join(', ');
  for (const [phase, of] of [
    ['defer', last.deferKinds],
    ['deliver', last.deliverKinds],
  ] as const)
    if (of.reads.length + of.writes.length > 0) console.log(`${key(cell)} ${phase}: reads ${kinds(of.reads)}; writes ${kinds(of.writes)}`);
}

// C.
const idleMed = (value: (m: IdleMeasured) => number) => median(idleResults.map(value));
console.log(
  `\nC. waiting (HTTP, ${partitions} partitions): one long-poll receive of ${f(idleWaitMs / 1000)} s, ${idleRecordsPerPartition * partitions} records delayed vs an empty topic; the long poll that gets them when due`,
);
header(['long poll', 'seconds', 'DynamoDB reads', 'RCU', 'DynamoDB writes', 'WCU', 'S3 requests', '$ per million such polls']);
const idleRow = (name: string, counts: (m: IdleMeasured) => Counts, seconds: (m: IdleMeasured) => number) =>
  row([
    name,
    f(idleMed(seconds), 2),
    f(idleMed((m) => figures.reads(counts(m)))),
    f(idleMed((m) => figures.rcu(counts(m)))),
    f(idleMed((m) => figures.writes(counts(m)))),
    f(idleMed((m) => figures.wcu(counts(m)))),
    f(idleMed((m) => counts(m).objects.gets + counts(m).objects.puts + counts(m).objects.heads + counts(m).objects.lists)),
    f(
      idleMed((m) => dollars(counts(m)).total * 1e6),
      2,
    ),
  ]);
idleRow(
  'records delayed, none due',
  (m) => m.delayedPoll,
  (m) => m.delayedPollSeconds,
);
idleRow(
  'empty topic',
  (m) => m.emptyPoll,
  (m) => m.emptyPollSeconds,
);
idleRow(
  'deferring them (wait_ms 0)',
  (m) => m.defer,
  (m) => m.deferSeconds,
);
idleRow(
  'until they come due and are handed out, + their ack',
  (m) => m.duePoll,
  (m) => m.duePollSeconds,
);
console.log(
  `returned ${f(idleMed((m) => m.dueLateMs))} ms after the due time (median; runs: ${idleResults.map((m) => m.dueLateMs).join(', ')})`,
);
console.log(`\ntotal ${elapsed()}`);
