/**
 * 1 GiB/s over 1,000 partitions on N agents with 4 MiB flushes: what it costs in S3 requests and
 * DynamoDB units, priced from per-flush request counts measured on the real Log (issue 16's target:
 * ≤ $0.003 per GiB for S3 requests plus DynamoDB).
 *
 * Measured: per agent count N (1, 2, 4, 8, 16), the flushes of one agent, which leads its share of a
 * 1,000-partition topic, k = ceil(1,000 / N) partitions (the busiest agent's share), and receives its
 * share of the stream spread evenly over them. A fresh `Log` in this process over the embedded store
 * (LMDB + filesystem) with counters on both ports (support/counting.ts: write units from the items
 * as written, ceil(size / 1 KB) of the larger of old and new, doubled in TransactWriteItems,
 * ConditionChecks included; reads strongly consistent, ceil(size / 4 KB)). Its leases ride on a
 * registration, as an agent's do (Log.leaseOnRegistration). A flush: one Kafka-path append per
 * partition (Log.appendBatches as leader, one RecordBatch of 1 KiB records, ~4 MiB / k bytes, so
 * the flush holds ~4 MiB and touches all k partitions evenly), then Log.flush() (what the 4 MiB
 * `flushBytes` seal does at this rate), counted from the first append until the metadata store has
 * taken no write for 300 ms after the last acknowledgement (so writes a protocol makes after it
 * acknowledges count too), reads included. With and without idempotence: idempotent batches come from one producer id (the
 * fewest producer-state items a flush can carry: one per partition). Per case: 2 warm-up flushes
 * (leases taken, ends and producer states learnt), the store left to settle, then 5 measured
 * flushes, each checked to be exactly one flush (Log.stats); medians (the limit checks: the worst
 * flush). "MiB put" is the segment object: the batches and its JSON footer (~175 bytes per chunk).
 *
 * Modelled: 1 GiB/s / 4 MiB = 256 flushes/s across the cluster, 256 / N per agent, each touching that
 * agent's k partitions; so a GiB costs 256 flushes, priced at DESIGN.md's list prices (S3 PUT $0.005
 * per 1,000, DynamoDB $0.625 per million write units and $0.125 per million read units). The hot-key
 * check: the most write units one partition key took in a flush × the agent's flushes per second,
 * against DynamoDB's 1,000 write units/s per partition key (a key written by every agent would see
 * all 256 flushes/s: none is, today). Largest item written against DynamoDB's 400 KB.
 *
 * The script drives the public Log API and counts at the storage ports, so it measures any commit
 * protocol unchanged (a packed item per flush would show as fewer items and units, its size in the
 * largest item, its key in the hot-key column).
 *
 *   npm run bench -- flush-model
 */
import { rmSync } from 'node:fs';
import { encodeRecordBatch } from '../lib/format/index.js';
import { Log } from '../lib/log/index.js';
import { openStores } from '../lib/storage/open.js';
import type { Item, WriteOp } from '../lib/storage/ports.js';
import { tempDir } from '../test/support/stores.js';
import {
  CountingMetadataStore,
  CountingObjectStore,
  difference,
  itemBytes,
  kindOf,
  kindsBetween,
  prices,
  snapshot,
  type Counts,
} from './support/counting.js';
import { median } from './support/process.js';

const agentCounts = [1, 2, 4, 8, 16];
const totalPartitions = 1000;
const ingestBytesPerS = 2 ** 30;
const flushBytes = 4 * 2 ** 20;
/** Across the cluster: 256. */
const flushesPerS = ingestBytesPerS / flushBytes;
const recordBytes = 1024;
const warmUpFlushes = 2;
const measuredFlushes = 5;
const targetUsdPerGiB = 0.003;
const hotKeyLimitWcuPerS = 1000;
const itemLimitBytes = 400 * 1024;

/** The counting store, also tallying write units by partition key and the sizes of the items written. */
class KeyedCountingMetadataStore extends CountingMetadataStore {
  readonly writeUnitsByPk = new Map<string, number>();
  /** Largest item written (the larger of its old and new size), since `resetLargest`. */
  largestItem = { bytes: 0, kind: '' };
  /** Bytes and count of the items written, by kind (counting.ts kindOf), since `resetLargest`. */
  itemBytesByKind = new Map<string, { bytes: number; items: number }>();

  override async write(op: WriteOp) {
    await this.keyed([op], 1, () => super.write(op));
  }
  override async transact(ops: readonly WriteOp[]) {
    await this.keyed(ops, 2, () => super.transact(ops));
  }
  resetLargest(): void {
    this.largestItem = { bytes: 0, kind: '' };
    this.itemBytesByKind = new Map();
  }

  /** Runs the write, then tallies its units by pk as counting.ts bills them (a refused write is left to the counting store). */
  private async keyed(ops: readonly WriteOp[], factor: number, run: () => Promise<void>): Promise<void> {
    const read = (): Promise<(Item | undefined)[]> => Promise.all(ops.map((op) => this.inner.get(op.key)));
    const olds = await read();
    await run();
    const news = await read();
    ops.forEach((op, i) => {
      const bytes = Math.max(itemBytes(op.key, olds[i]?.attrs), itemBytes(op.key, news[i]?.attrs));
      const units = factor * Math.max(1, Math.ceil(bytes / 1024));
      this.writeUnitsByPk.set(op.key.pk, (this.writeUnitsByPk.get(op.key.pk) ?? 0) + units);
      const kind = kindOf(op.key);
      if (bytes > this.largestItem.bytes) this.largestItem = { bytes, kind };
      const sized = this.itemBytesByKind.get(kind) ?? { bytes: 0, items: 0 };
      this.itemBytesByKind.set(kind, { bytes: sized.bytes + bytes, items: sized.items + 1 });
    });
  }
}

/** What one flush cost, as counted at the ports. */
interface Flush {
  readonly counts: Counts;
  /** Flushes the Log started for it (must be 1). */
  readonly flushes: number;
  /** Most write units one partition key took. */
  readonly busiestKeyWriteUnits: number;
  readonly largestItem: { bytes: number; kind: string };
  readonly itemsByKind: [string, number][];
  readonly itemBytesByKind: Map<string, { bytes: number; items: number }>;
}

interface Case {
  readonly agents: number;
  readonly partitions: number;
  /** Record-batch bytes appended per flush (k batches). */
  readonly appendedBytes: number;
  readonly idempotent: boolean;
  readonly flushes: Flush[];
}

const dataDir = tempDir('spool-bench-flush-model-');
const raw = await openStores({ dataDir }, { createIfMissing: true });
const stores = { objects: new CountingObjectStore(raw.objects), metadata: new KeyedCountingMetadataStore(raw.metadata) };

/** Resolves once the metadata store has taken no write for `quietMs` (lease hand-overs bump the topic item shortly after). */
async function settled(quietMs = 300): Promise<void> {
  let last = -1;
  for (;;) {
    const { writes, transactions } = stores.metadata.counts;
    if (writes + transactions === last) return;
    last = writes + transactions;
    await new Promise((resolve) => setTimeout(resolve, quietMs));
  }
}

/** How many records of about 1 KiB, with values how long, make a RecordBatch of `bytes` bytes, give or take a few. */
function batchShape(bytes: number): { records: number; valueBytes: number } {
  const records = Math.max(1, Math.round(bytes / recordBytes));
  const trial = Math.floor(bytes / records);
  const encoded = encodeRecordBatch(
    Array.from({ length: records }, () => ({ key: null, value: Buffer.alloc(trial) })),
    {
      producerId: 1,
      producerEpoch: 0,
      baseSequence: 0,
    },
  ).length;
  return { records, valueBytes: Math.max(1, trial - Math.ceil((encoded - bytes) / records)) };
}

async function measureCase(agents: number, idempotent: boolean): Promise<Case> {
  const partitions = Math.ceil(totalPartitions / agents);
  const log = new Log({
    stores,
    autoCreateTopics: false,
    leaseIdleMs: 3_600_000,
    // Flushes are cut by Log.flush() below, once the ~4 MiB are buffered.
    producer: { batchIntervalMs: 3_600_000, flushBytes: 2 * flushBytes },
  });
  log.leaseOnRegistration(() => ({ nodeId: agents, owner: log.writerId, expiresMs: Number.MAX_SAFE_INTEGER }));
  const topic = `flush-model-${agents}-${idempotent ? 'idempotent' : 'plain'}`;
  await log.createTopic(topic, totalPartitions);
  const producerId = idempotent ? await log.allocateProducerId() : -1;
  const { records, valueBytes } = batchShape(Math.floor(flushBytes / partitions));
  const value = Buffer.alloc(valueBytes, 'x');
  let appendedBytes = 0;
  const sequences = new Array<number>(partitions).fill(0);
  const flushOnce = async (): Promise<void> => {
    const nowMs = Date.now();
    const acknowledged: Promise<unknown>[] = [];
    for (let partition = 0; partition < partitions; partition++) {
      const batch = encodeRecordBatch(
        Array.from({ length: records }, () => ({ key: null, value, timestampMs: nowMs })),
        idempotent ? { producerId, producerEpoch: 0, baseSequence: sequences[partition] } : {},
      );
      sequences[partition]! += records;
      appendedBytes = partition === 0 ? batch.length : appendedBytes + batch.length;
      acknowledged.push((await log.appendBatches(topic, partition, batch, { asLeader: true })).done);
    }
    await log.flush();
    await Promise.all(acknowledged);
  };
  for (let i = 0; i < warmUpFlushes; i++) await flushOnce();
  await settled();
  const flushes: Flush[] = [];
  for (let i = 0; i < measuredFlushes; i++) {
    const before = snapshot(stores);
    const kindsBefore = new Map(stores.metadata.byKind.writes);
    const unitsBefore = new Map(stores.metadata.writeUnitsByPk);
    const flushesBefore = log.stats.flushes;
    stores.metadata.resetLargest();
    await flushOnce();
    await settled(); // writes a protocol makes after acknowledging (folding, say) belong to the flush
    let busiestKeyWriteUnits = 0;
    for (const [pk, units] of stores.metadata.writeUnitsByPk)
      busiestKeyWriteUnits = Math.max(busiestKeyWriteUnits, units - (unitsBefore.get(pk) ?? 0));
    flushes.push({
      counts: difference(snapshot(stores), before),
      flushes: log.stats.flushes - flushesBefore,
      busiestKeyWriteUnits,
      largestItem: stores.metadata.largestItem,
      itemsByKind: kindsBetween(stores.metadata.byKind.writes, kindsBefore),
      itemBytesByKind: new Map(stores.metadata.itemBytesByKind),
    });
  }
  await log.close();
  const notOne = flushes.filter((flush) => flush.flushes !== 1).length;
  if (notOne > 0) throw new Error(`${agents} agents: ${notOne} measured rounds were not exactly one flush`);
  return { agents, partitions, appendedBytes, idempotent, flushes };
}

console.log(
  `flush model, ${new Date().toISOString()}, Node ${process.version}; 1 GiB/s over ${totalPartitions.toLocaleString('en-US')} partitions, ${flushBytes / 2 ** 20} MiB flushes (${flushesPerS} flushes/s across the cluster); per case ${warmUpFlushes} warm-up + ${measuredFlushes} measured flushes, medians; embedded store with counters`,
);
const cases: Case[] = [];
try {
  for (const idempotent of [false, true]) {
    for (const agents of agentCounts) {
      const started = performance.now();
      cases.push(await measureCase(agents, idempotent));
      console.log(
        `measured ${agents} agent(s), idempotent ${idempotent ? 'on' : 'off'} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
      );
    }
  }
} finally {
  await Promise.all([raw.objects.close(), raw.metadata.close()]);
  rmSync(dataDir, { recursive: true, force: true });
}

const f = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const usd = (value: number) => `$${value < 0.01 ? value.toFixed(4) : value.toFixed(3)}`;
/** Median over a case's measured flushes. */
const med = (c: Case, value: (flush: Flush) => number) => median(c.flushes.map(value));
const perFlush = (c: Case) => ({
  puts: med(c, (x) => x.counts.objects.puts),
  mibPut: med(c, (x) => x.counts.objects.bytesPut / 2 ** 20),
  transactions: med(c, (x) => x.counts.metadata.transactions),
  items: med(c, (x) => x.counts.metadata.transactItems + x.counts.metadata.writes),
  writeUnits: med(c, (x) => x.counts.metadata.writeUnits),
  reads: med(c, (x) => x.counts.metadata.gets + x.counts.metadata.queries),
  readUnits: med(c, (x) => x.counts.metadata.readUnits),
  conflicts: med(c, (x) => x.counts.metadata.conflicts),
  // Limits are checked against the worst flush, not the median.
  busiestKeyWriteUnits: Math.max(...c.flushes.map((x) => x.busiestKeyWriteUnits)),
  largestItemBytes: Math.max(...c.flushes.map((x) => x.largestItem.bytes)),
});
const idem = (c: Case) => (c.idempotent ? 'on' : 'off');

console.log('\nmeasured, per flush of one agent (medians)');
console.log(
  '| agents N | partitions per flush (k) | idempotent | MiB appended | MiB put | object PUTs | TransactWriteItems | items written | WCU | WCU per partition | metadata reads | RCU | conflicts | busiest key WCU (worst) | largest item, bytes (worst) |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const c of cases) {
  const x = perFlush(c);
  console.log(
    `| ${c.agents} | ${f(c.partitions)} | ${idem(c)} | ${f(c.appendedBytes / 2 ** 20, 2)} | ${f(x.mibPut, 2)} | ${f(x.puts)} | ${f(x.transactions)} | ${f(x.items)} | ${f(x.writeUnits)} | ${f(x.writeUnits / c.partitions, 2)} | ${f(x.reads)} | ${f(x.readUnits)} | ${f(x.conflicts)} | ${f(x.busiestKeyWriteUnits)} | ${f(x.largestItemBytes)} |`,
  );
}

console.log(`\nmodelled: 1 GiB/s over ${f(totalPartitions)} partitions, ${flushesPerS} flushes/s across the cluster, list prices`);
console.log(
  '| agents N | idempotent | flushes/s per agent | PUT/s | WCU/s | RCU/s | S3 $/GiB | DynamoDB $/GiB | **total $/GiB** | vs $0.003 target | busiest key WCU/s (limit 1,000) | largest item (limit 400 KB) |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const c of cases) {
  const x = perFlush(c);
  const s3 = flushesPerS * x.puts * prices.s3PutUsd;
  const dynamo = flushesPerS * (x.writeUnits * prices.dynamoWriteUnitUsd + x.readUnits * prices.dynamoReadUnitUsd);
  const total = s3 + dynamo;
  const hotKey = (x.busiestKeyWriteUnits * flushesPerS) / c.agents;
  console.log(
    `| ${c.agents} | ${idem(c)} | ${f(flushesPerS / c.agents, 1)} | ${f(flushesPerS * x.puts)} | ${f(flushesPerS * x.writeUnits)} | ${f(flushesPerS * x.readUnits)} | ${usd(s3)} | ${usd(dynamo)} | **${usd(total)}** | ${f(total / targetUsdPerGiB, 1)}× ${total <= targetUsdPerGiB ? '(met)' : '(missed)'} | ${f(hotKey)} ${hotKey <= hotKeyLimitWcuPerS ? '(within)' : '(over)'} | ${f(x.largestItemBytes)} B ${x.largestItemBytes <= itemLimitBytes ? '(within)' : '(over)'} |`,
  );
}

const putUsdPerGiB = flushesPerS * prices.s3PutUsd;
/** Whole write units per flush that the target leaves DynamoDB once the flush's PUT is paid (no reads). */
const writeUnitsBudget = Math.floor((targetUsdPerGiB - putUsdPerGiB) / flushesPerS / prices.dynamoWriteUnitUsd);
console.log(
  `\nthe target's budget: 1 PUT per flush is ${usd(putUsdPerGiB)}/GiB, which leaves ${usd(targetUsdPerGiB - putUsdPerGiB)}/GiB for DynamoDB: ${writeUnitsBudget} write units per flush (no reads), i.e. one item of ≤ ${Math.floor(writeUnitsBudget / 2)} KB in a transaction or ≤ ${writeUnitsBudget} KB in a plain conditional write; per partition of the flush, that is:`,
);
console.log('| agents N | partitions per flush (k) | bytes per partition, transactional item | bytes per partition, plain write |');
console.log('|---|---|---|---|');
for (const agents of agentCounts) {
  const partitions = Math.ceil(totalPartitions / agents);
  const perPartition = (kb: number) => f((kb * 1024) / partitions);
  console.log(`| ${agents} | ${f(partitions)} | ${perPartition(Math.floor(writeUnitsBudget / 2))} | ${perPartition(writeUnitsBudget)} |`);
}

console.log('\nitems written per flush, by kind, and their mean size (last measured flush)');
console.log('| agents N | idempotent | items by kind | mean bytes by kind |');
console.log('|---|---|---|---|');
for (const c of cases) {
  const last = c.flushes.at(-1)!;
  const sizes = [...last.itemBytesByKind].map(([kind, { bytes, items }]) => `${kind} ${f(bytes / items)}`).join(', ');
  console.log(`| ${c.agents} | ${idem(c)} | ${last.itemsByKind.map(([kind, n]) => `${kind} ${f(n)}`).join(', ')} | ${sizes} |`);
}
