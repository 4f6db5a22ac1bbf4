/**
 * Queues (share groups, KIP-932): receive→ack throughput and what each record acknowledged costs in
 * S3 and DynamoDB requests, over HTTP and over the Kafka protocol, through the S3 Standard and
 * DynamoDB latency models (support/latency-model.ts) with the request counters under them
 * (support/counting.ts: capacity units from the items read and written, priced as lib/cost.ts).
 *
 * Workload: a topic of 4 partitions pre-filled with 4 × 4,000 records of 100 B (produced 200 per
 * partition per call, on an agent without the model). Each cell starts a fresh agent on that data
 * (cold cache, as a Lambda or another agent would be) and a fresh share group reading from the
 * earliest offset; its receivers run at once, each in a loop of rounds: receive up to `batch`
 * records, then accept every one of them:
 *   HTTP   POST /v1/queues/{group}/topics/{topic}/receive {max_records}, then .../ack with one entry
 *          per receipt, through the real hono app in process (app.request: routing, validation and
 *          JSON as served, no socket).
 *   Kafka  ShareFetch, then ShareAcknowledge with one ACCEPT batch per acquired range, as
 *          KafkaShareConsumer's commitSync sends them, over a socket to the agent's Kafka listener
 *          (test/kafka/support/wire-client.ts, with the generated codecs). Each receiver is a member
 *          that joined with ShareGroupHeartbeat and fetches the partitions it was assigned (with 4
 *          receivers, one each); no heartbeats during the measured rounds.
 * Batches of 1, 10 and 100 records per receive; 1 and 4 receivers; a fixed number of rounds per
 * receiver after a warm-up (not counted) that lasts until records of every partition were received:
 * it pins each share partition's start and reads each partition's backlog into the agent's cache,
 * whose S3 GETs are reported apart. Three runs; medians of each figure.
 *
 * Counted: every store call the agent makes while the rounds run (lease and registration upkeep
 * included, none of the warm-up), per record acknowledged. Network time between the client and the
 * agent is not modelled.
 *
 *   npm run bench -- queues
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { loadConfig } from '../lib/config.js';
import { createApp } from '../lib/http/app.js';
import { ShareAcknowledge } from '../lib/kafka/protocol/messages/share-acknowledge.js';
import { ShareFetch, type ShareFetchResponse } from '../lib/kafka/protocol/messages/share-fetch.js';
import { ShareGroupHeartbeat } from '../lib/kafka/protocol/messages/share-group-heartbeat.js';
import { silentLogger } from '../lib/logger.js';
import { WireClient } from '../test/kafka/support/wire-client.js';
import { tempDir } from '../test/support/stores.js';
import { type Counts, difference, dollars, kindsBetween, prices, snapshot } from './support/counting.js';
import { type BenchAgent, startBenchAgent } from './support/embedded-agent.js';
import { describeModel, storageModels } from './support/latency-model.js';
import { median, percentile } from './support/process.js';

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

/** One receive of up to `batch` records and their acknowledgement: the partitions of the records settled. */
type Receiver = { round(): Promise<number[]>; close(): void | Promise<void> };

function agentConfig(dataDir: string) {
  return loadConfig({
    SPOOL_DATA_DIR: dataDir,
    SPOOL_HTTP_PORT: '0',
    SPOOL_KAFKA_PORT: '0',
    SPOOL_BATCH_INTERVAL_MS: '10',
    SPOOL_MAINTENANCE_INTERVAL_MS: '0',
  });
}

async function prefill(dataDir: string): Promise<void> {
  const agent = await startBenchAgent({ config: agentConfig(dataDir) });
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

function httpReceivers(agent: BenchAgent, group: string, cell: Cell): Receiver[] {
  const { log, groups, queues } = agent.runtime;
  const app = createApp({ log, groups, queues, logger: silentLogger });
  const post = async (path: string, body: unknown) => {
    const response = await app.request(`/v1/queues/${group}/topics/${topic}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  return Array.from({ length: cell.receivers }, () => ({
    async round() {
      const received = (await post('receive', { max_records: cell.batch, wait_ms: waitMs })) as {
        records: { partition: number; receipt: string }[];
      };
      if (received.records.length === 0) return [];
      const acked = (await post('ack', { acks: received.records.map((r) => ({ receipt: r.receipt })) })) as {
        results: { status: string }[];
      };
      const settled = acked.results.filter((r) => r.status === 'ok').length;
      if (settled !== received.records.length) throw new Error(`HTTP ack settled ${settled} of ${received.records.length}`);
      return received.records.map((r) => r.partition);
    },
    close() {},
  }));
}

/** Members that joined the group and were assigned its partitions, each with a share session of its own. */
async function kafkaReceivers(agent: BenchAgent, group: string, cell: Cell): Promise<Receiver[]> {
  const topicId = (await agent.runtime.log.requireTopic(topic)).id;
  const members = await Promise.all(
    Array.from({ length: cell.receivers }, async () => ({
      client: await WireClient.open(agent.kafkaBootstrap!),
      memberId: randomUUID().replaceAll('-', '').slice(0, 22),
      memberEpoch: 0,
      assigned: [] as number[],
    })),
  );
  const beat = async (member: (typeof members)[number], topics: string[] | null) => {
    const answer = await member.client.callGenerated(ShareGroupHeartbeat, 1, {
      groupId: group,
      memberId: member.memberId,
      memberEpoch: member.memberEpoch,
      rackId: null,
      subscribedTopicNames: topics,
    });
    if (answer.errorCode !== 0) throw new Error(`ShareGroupHeartbeat: error ${answer.errorCode} ${answer.errorMessage}`);
    member.memberEpoch = answer.memberEpoch;
    if (answer.assignment) member.assigned = answer.assignment.topicPartitions.flatMap((t) => t.partitions);
  };
  for (const member of members) await beat(member, [topic]);
  for (const member of members) await beat(member, null); // every member hears the final assignment
  return members.map((member) => {
    let epoch = 0;
    return {
      async round() {
        const fetched = await member.client.callGenerated(ShareFetch, 2, {
          groupId: group,
          memberId: member.memberId,
          shareSessionEpoch: epoch,
          maxWaitMs: waitMs,
          minBytes: 1,
          maxBytes: 1 << 20,
          maxRecords: cell.batch,
          batchSize: cell.batch,
          // The session remembers its partitions: only the opening request names them.
          topics:
            epoch === 0 ? [{ topicId, partitions: member.assigned.map((p) => ({ partitionIndex: p, acknowledgementBatches: [] })) }] : [],
          forgottenTopicsData: [],
        });
        if (fetched.errorCode !== 0) throw new Error(`ShareFetch: error ${fetched.errorCode} ${fetched.errorMessage}`);
        epoch++;
        const acquired = acquiredRanges(fetched);
        if (acquired.length === 0) return [];
        const acked = await member.client.callGenerated(ShareAcknowledge, 2, {
          groupId: group,
          memberId: member.memberId,
          shareSessionEpoch: epoch,
          isRenewAck: false,
          topics: [
            {
              topicId,
              partitions: [...new Set(acquired.map((r) => r.partition))].map((partitionIndex) => ({
                partitionIndex,
                acknowledgementBatches: acquired
                  .filter((r) => r.partition === partitionIndex)
                  .map((r) => ({ firstOffset: r.first, lastOffset: r.last, acknowledgeTypes: [1] })),
              })),
            },
          ],
        });
        epoch++;
        const refused = acked.responses.flatMap((t) => t.partitions).filter((p) => p.errorCode !== 0);
        if (acked.errorCode !== 0 || refused.length > 0)
          throw new Error(`ShareAcknowledge: error ${acked.errorCode || refused[0]!.errorCode} ${refused[0]?.errorMessage ?? ''}`);
        return acquired.flatMap((r) => Array.from({ length: r.last - r.first + 1 }, () => r.partition));
      },
      close: () => member.client.close(),
    };
  });
}

function acquiredRanges(answer: ShareFetchResponse): { partition: number; first: number; last: number }[] {
  const refused = answer.responses.flatMap((t) => t.partitions).filter((p) => p.errorCode !== 0);
  if (refused.length > 0) throw new Error(`ShareFetch partition ${refused[0]!.partitionIndex}: error ${refused[0]!.errorCode}`);
  return answer.responses.flatMap((t) =>
    t.partitions.flatMap((p) => p.acquiredRecords.map((r) => ({ partition: p.partitionIndex, first: r.firstOffset, last: r.lastOffset }))),
  );
}

async function measure(dataDir: string, cell: Cell, run: number): Promise<Measured> {
  const agent = await startBenchAgent({ config: agentConfig(dataDir), model, count: true, seed: 42 + run });
  const counters = agent.counters!;
  try {
    const group = `bench-${cell.protocol}-${cell.batch}-${cell.receivers}-${run}`.toLowerCase();
    await agent.runtime.queues.alterConfig(group, { 'share.auto.offset.reset': 'earliest' });
    const receivers = cell.protocol === 'HTTP' ? httpReceivers(agent, group, cell) : await kafkaReceivers(agent, group, cell);
    try {
      // Warm-up, until records of every partition were received: pins each share partition's start
      // and reads each partition's backlog into the cache once, so the rounds measure the steady state.
      const warmUpBefore = snapshot(counters);
      const seen = new Set<number>();
      for (let round = 0; seen.size < partitions; round++) {
        if (round === maxWarmUpRounds) throw new Error(`${cell.protocol}: warm-up received from ${seen.size} partitions only`);
        for (const taken of await Promise.all(receivers.map((r) => r.round()))) for (const partition of taken) seen.add(partition);
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
            const settled = (await receiver.round()).length;
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
