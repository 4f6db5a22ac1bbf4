/**
 * 1 GiB/s over 1,000 partitions on N agents with 4 MiB flushes: what it costs in S3 requests and
 * DynamoDB units, priced from request counts measured on the real Log (issue 16's target:
 * ≤ $0.003 per GiB for S3 requests plus DynamoDB), with packed commits (`PACKED=on`: the Log option
 * `packedCommits: true`) or without (`PACKED=off`: the per-partition commit), so the two can be put side
 * by side; unset, the Log's default (packedCommitsByDefault, SPOOL_PACKED_COMMITS).
 *
 * Measured: per agent count N (1, 2, 4, 8, 16), the flushes of one agent, which leads its share of a
 * 1,000-partition topic, k = ceil(1,000 / N) partitions (the busiest agent's share), and receives its
 * share of the stream spread evenly over them. A fresh `Log` in this process over the embedded store
 * (LMDB + filesystem) with counters on both ports (support/counting.ts: write units from the items
 * as written, ceil(size / 1 KB) of the larger of old and new, doubled in TransactWriteItems,
 * ConditionChecks included, a delete billed on the item deleted; reads strongly consistent,
 * ceil(size / 4 KB)). Its leases ride on a registration, as an agent's do (Log.leaseOnRegistration),
 * so with packing on it packs every partition it leads (checked). A flush: one Kafka-path append per
 * partition (Log.appendBatches as leader, one RecordBatch of 1 KiB records, ~4 MiB / k bytes, so
 * the flush holds ~4 MiB and touches all k partitions evenly), then Log.flush() (what the 4 MiB
 * `flushBytes` seal does at this rate), counted from the first append until the metadata store has
 * taken no write for 300 ms after the last acknowledgement (so writes a protocol makes after it
 * acknowledges count too), reads included. With and without idempotence: idempotent batches come from
 * one producer id (the fewest producer-state items a flush can carry: one per partition). Per case: 2
 * warm-up flushes (leases taken, ends and producer states learnt), the store left to settle, then 5
 * measured flushes, each checked to be exactly one flush (Log.stats); medians (the limit checks: the
 * worst flush). "MiB put" is the segment object: the batches and its JSON footer (~175 bytes per chunk).
 *
 * Materialisation (packed only). The Log runs with `packedMaterializeMs: 0` (no timer), so rounds run
 * only by hand (`log.internals.packing.materialize()`) and are counted apart from the flushes: round A
 * after the 7 flushes above (each partition's tail: 7 chunks), then `MAT_FLUSHES` (default 49) more
 * flushes and round B (tails of 49 chunks: more than the 64 MiB chunk cache holds at one agent, so
 * the copy GETs the evicted chunks). Each round is counted until the store
 * is quiet: the copy's PUT and the GETs of chunks not in the cache, the rows, partition items and
 * producer states written (transactions), the reads (the partition item, the writer's log, producer
 * states) and the deletes of commits below the horizon; then checked: every partition's tail empty.
 * The Log's chunk cache is its default, 64 MiB.
 *
 * Modelled: 1 GiB/s / 4 MiB = 256 flushes/s across the cluster, 256 / N per agent, each touching that
 * agent's k partitions; so a GiB costs 256 flushes, priced at DESIGN.md's list prices (S3 PUT $0.005
 * per 1,000, GET $0.0004 per 1,000, DynamoDB $0.625 per million write units and $0.125 per million read
 * units). Materialisation every T (10 s, the default, and 60 s): a round per agent per T covers
 * F = 256 / N × T flushes, so each of its k partitions has F chunks of the measured chunk size. The
 * round's counts at F come from the rules of packing.ts and packed.ts (runs of ≥ 2 chunks up to 1 MiB
 * copied into objects of up to 64 MiB, each run one row; steps of up to 48 whole rows, each reading
 * the partition item twice, the packer's own commits coming from memory; one read of the writer's
 * fence per round; one delete per commit; chunks older than the newest 64 MiB of flushes are not in
 * the cache and are read back), with the sizes measured here (chunks; commits and their deletes as in
 * the flushes before round B; PUTs per copy object as in round B, hedged); the script prints that model beside rounds A and B so it
 * is checked against measured counts before it is used at F. Not modelled: flushes committing while a
 * round runs (each makes the round's log reads longer), and the time a round takes.
 *
 * Hot keys: the most write units one partition key took over a window of flushes ÷ the window's
 * flushes × the agent's flushes per second, against DynamoDB's 1,000 write units/s per partition key.
 * The window: the 5 measured flushes (per-partition mode: every key is written every flush), or the
 * `MAT_FLUSHES` flushes before round B (packed: the commits rotate over 8 keys per writer).
 * Largest item written against DynamoDB's 400 KB.
 *
 *   PACKED=on npm run bench -- flush-model       (packed commits)
 *   PACKED=off npm run bench -- flush-model      (per-partition commits)
 */
import { rmSync } from 'node:fs';
import { encodeRecordBatch } from '../lib/format/index.js';
import { Log } from '../lib/log/index.js';
import { maxRowsPerStep } from '../lib/log/packed.js';
import { maxCopyBytes, maxMergedBytes } from '../lib/log/packing.js';
import { openStores } from '../lib/storage/open.js';
import type { Item, ItemKey, QueryOptions, WriteOp } from '../lib/storage/ports.js';
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

/** Unset: the default, `'auto'` (packedCommitsByDefault), which packs on a new cluster (it starts at spool.commit.version 1). */
const defaultPacked = true;
const packedMode = process.env.PACKED === undefined ? defaultPacked : process.env.PACKED.toLowerCase() !== 'off';
const roundBFlushes = Number(process.env.MAT_FLUSHES ?? 49);
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
/** The Log's default chunk cache. */
const cacheBytes = 64 * 2 ** 20;
/** Materialisation intervals modelled (the default, SPOOL_PACKED_MATERIALIZE_MS, and a longer one). */
const intervalsS = [10, 60];

/** The counting store, also tallying write units by partition key and kind, read units by kind, deletes, and the sizes of the items written. */
class KeyedCountingMetadataStore extends CountingMetadataStore {
  readonly writeUnitsByPk = new Map<string, number>();
  /** The kind (counting.ts kindOf) of the items under each partition key seen. */
  readonly kindOfPk = new Map<string, string>();
  readonly writeUnitsByKind = new Map<string, number>();
  readonly readUnitsByKind = new Map<string, number>();
  readonly deletes = { items: 0, units: 0 };
  /** Largest item written (the larger of its old and new size), since `resetLargest`. */
  largestItem = { bytes: 0, kind: '' };
  /** Bytes and count of the items written, by kind (counting.ts kindOf), since `resetLargest`. */
  itemBytesByKind = new Map<string, { bytes: number; items: number }>();

  override async get(key: ItemKey): Promise<Item | undefined> {
    const item = await super.get(key);
    add(this.readUnitsByKind, kindOf(key), Math.max(1, Math.ceil(itemBytes(key, item?.attrs) / 4096)));
    return item;
  }
  override async query(pk: string, options?: QueryOptions): Promise<Item[]> {
    const items = await super.query(pk, options);
    const bytes = items.reduce((sum, item) => sum + itemBytes(item, item.attrs), 0);
    add(this.readUnitsByKind, kindOf({ pk, sk: options?.from ?? '' }), Math.max(1, Math.ceil(bytes / 4096)));
    return items;
  }
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
      const kind = kindOf(op.key);
      add(this.writeUnitsByPk, op.key.pk, units);
      add(this.writeUnitsByKind, kind, units);
      this.kindOfPk.set(op.key.pk, kind);
      if (op.kind === 'delete') {
        this.deletes.items++;
        this.deletes.units += units;
      }
      if (bytes > this.largestItem.bytes) this.largestItem = { bytes, kind };
      const sized = this.itemBytesByKind.get(kind) ?? { bytes: 0, items: 0 };
      this.itemBytesByKind.set(kind, { bytes: sized.bytes + bytes, items: sized.items + 1 });
    });
  }
}

function add(map: Map<string, number>, key: string, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
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

/** What one materialisation round cost, as counted at the ports. */
interface Round {
  /** Chunks in each partition's tail when it ran (one per flush since the last round). */
  readonly tailChunks: number;
  readonly counts: Counts;
  readonly itemsByKind: [string, number][];
  readonly writeUnitsByKind: [string, number][];
  readonly readUnitsByKind: [string, number][];
  readonly deletes: { items: number; units: number };
  /** Partitions unpacked and commits deleted (PackingWriter.stats). */
  readonly unpacked: number;
  readonly commitsDeleted: number;
  /** Chunks left in the tails after the round (0: it turned every tail into rows). */
  readonly leftInTails: number;
  readonly busiestKey: { kind: string; units: number };
  readonly seconds: number;
}

interface Case {
  readonly agents: number;
  readonly partitions: number;
  /** Record-batch bytes appended per flush (k batches). */
  readonly appendedBytes: number;
  readonly idempotent: boolean;
  readonly flushes: Flush[];
  /** A partition's chunk per flush, as committed (median of partition 0's tail; per-partition mode: appended / k). */
  readonly chunkBytes: number;
  /** Mean size of a packed commit item, as billed, over the flushes before round B (0: per-partition mode). */
  readonly commitItemBytes: number;
  /** Write units of a packed commit's delete, as billed in round B; PUTs per copy object in round B (hedging included). */
  readonly deleteUnitsPerCommit: number;
  readonly putsPerCopy: number;
  /** The busiest partition keys over the hot-key window: kind and write units per flush. */
  readonly hotKeys: { kind: string; unitsPerFlush: number }[];
  readonly hotWindowFlushes: number;
  readonly rounds: Round[];
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

/** The busiest partition keys whose units grew since `before`: kind and units, most first. */
function busiestKeys(before: ReadonlyMap<string, number>, top = 3): { kind: string; units: number }[] {
  return [...stores.metadata.writeUnitsByPk]
    .map(([pk, units]) => ({ kind: stores.metadata.kindOfPk.get(pk) ?? pk, units: units - (before.get(pk) ?? 0) }))
    .filter((key) => key.units > 0)
    .sort((a, b) => b.units - a.units)
    .slice(0, top);
}

async function measureCase(agents: number, idempotent: boolean): Promise<Case> {
  const partitions = Math.ceil(totalPartitions / agents);
  const log = new Log({
    stores,
    autoCreateTopics: false,
    leaseIdleMs: 3_600_000,
    cacheBytes,
    packedCommits: packedMode,
    // No timer: materialisation rounds run by hand below, counted apart from the flushes.
    packedMaterializeMs: 0,
    // Flushes are cut by Log.flush() below, once the ~4 MiB are buffered.
    producer: { batchIntervalMs: 3_600_000, flushBytes: 2 * flushBytes },
  });
  log.leaseOnRegistration(() => ({ nodeId: agents, owner: log.writerId, expiresMs: Number.MAX_SAFE_INTEGER }));
  const topic = `flush-model-${agents}-${idempotent ? 'idempotent' : 'plain'}`;
  await log.createTopic(topic, totalPartitions);
  const topicId = (await log.topic(topic))!.id;
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
  const packing = log.internals.packing;
  if (packedMode && packing?.packedCount !== partitions)
    throw new Error(`${agents} agents: packing on, but ${packing?.packedCount ?? 0} of ${partitions} partitions are packed`);
  if (!packedMode && packing !== undefined) throw new Error(`${agents} agents: packing off, but the Log has a packing writer`);
  const flushes: Flush[] = [];
  const windowBefore = new Map(stores.metadata.writeUnitsByPk);
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
  const notOne = flushes.filter((flush) => flush.flushes !== 1).length;
  if (notOne > 0) throw new Error(`${agents} agents: ${notOne} measured rounds were not exactly one flush`);
  let commitItemBytes = 0;

  let hotWindowFlushes = measuredFlushes;
  let hot = busiestKeys(windowBefore);
  let chunkBytes = appendedBytes / partitions;
  const rounds: Round[] = [];
  if (packing) {
    const tail = packing.localCommits(packing.writerId, topicId, 0, 0) ?? [];
    chunkBytes = median(tail.flatMap((commit) => commit.chunks.map((chunk) => chunk.sizeBytes)));
    /** One materialisation round, counted until the store is quiet. */
    const round = async (): Promise<Round> => {
      const tailChunks = packing.localCommits(packing.writerId, topicId, 0, 0)?.length ?? 0;
      const before = snapshot(stores);
      const kindsBefore = new Map(stores.metadata.byKind.writes);
      const writeUnitsBefore = new Map(stores.metadata.writeUnitsByKind);
      const readUnitsBefore = new Map(stores.metadata.readUnitsByKind);
      const pksBefore = new Map(stores.metadata.writeUnitsByPk);
      const deletesBefore = { ...stores.metadata.deletes };
      const statsBefore = { ...packing.stats };
      const started = performance.now();
      await packing.materialize();
      const seconds = (performance.now() - started) / 1000;
      await settled();
      let leftInTails = 0;
      for (let partition = 0; partition < partitions; partition++)
        leftInTails += packing.localCommits(packing.writerId, topicId, partition, 0)?.length ?? 0;
      return {
        tailChunks,
        counts: difference(snapshot(stores), before),
        itemsByKind: kindsBetween(stores.metadata.byKind.writes, kindsBefore),
        writeUnitsByKind: kindsBetween(stores.metadata.writeUnitsByKind, writeUnitsBefore),
        readUnitsByKind: kindsBetween(stores.metadata.readUnitsByKind, readUnitsBefore),
        deletes: { items: stores.metadata.deletes.items - deletesBefore.items, units: stores.metadata.deletes.units - deletesBefore.units },
        unpacked: packing.stats.unpacks - statsBefore.unpacks,
        commitsDeleted: packing.stats.deleted - statsBefore.deleted,
        leftInTails,
        busiestKey: busiestKeys(pksBefore, 1)[0] ?? { kind: '', units: 0 },
        seconds,
      };
    };
    rounds.push(await round());
    const before = new Map(stores.metadata.writeUnitsByPk);
    stores.metadata.resetLargest();
    for (let i = 0; i < roundBFlushes; i++) await flushOnce();
    await settled();
    const commits = stores.metadata.itemBytesByKind.get('writer/c');
    commitItemBytes = commits ? commits.bytes / commits.items : 0;
    hotWindowFlushes = roundBFlushes;
    hot = busiestKeys(before);
    rounds.push(await round());
    for (const r of rounds)
      if (r.leftInTails > 0 || r.unpacked !== partitions)
        throw new Error(
          `${agents} agents: a round left ${r.leftInTails} chunks in tails, unpacked ${r.unpacked} of ${partitions} partitions`,
        );
  }
  await log.close();
  return {
    agents,
    partitions,
    appendedBytes,
    idempotent,
    flushes,
    chunkBytes,
    commitItemBytes,
    deleteUnitsPerCommit: rounds[1] ? rounds[1].deletes.units / Math.max(1, rounds[1].deletes.items) : 0,
    putsPerCopy: rounds[1]
      ? rounds[1].counts.objects.puts /
        Math.max(1, copyObjects(partitions * tiling(rounds[1].tailChunks, chunkBytes).chunksInRuns * chunkBytes))
      : 0,
    hotKeys: hot.map(({ kind, units }) => ({ kind, unitsPerFlush: units / hotWindowFlushes })),
    hotWindowFlushes,
    rounds,
  };
}

/**
 * A partition's tail of `chunks` chunks of `chunkBytes` each, as a round turns it into rows (packing.ts
 * copyTails: runs of ≥ 2 chunks, up to maxMergedBytes, each one row; a chunk in no run, its own row;
 * packed.ts unpackPartition: steps of whole rows, up to maxRowsPerStep).
 */
function tiling(chunks: number, chunkBytes: number): { rows: number; steps: number; runs: number; chunksInRuns: number } {
  /** Run length by the index of its first chunk. */
  const runAt = new Map<number, number>();
  let start = 0;
  let length = 0;
  let bytes = 0;
  const close = () => {
    if (length >= 2) runAt.set(start, length);
    length = 0;
    bytes = 0;
  };
  for (let i = 0; i < chunks; i++) {
    if (bytes + chunkBytes > maxMergedBytes) close();
    if (length === 0) start = i;
    length++;
    bytes += chunkBytes;
  }
  close();
  const chunksInRuns = [...runAt.values()].reduce((sum, n) => sum + n, 0);
  const rows = runAt.size + (chunks - chunksInRuns);
  const steps = Math.ceil(rows / maxRowsPerStep);
  return { rows, steps, runs: runAt.size, chunksInRuns };
}

/** What a round over tails of `chunks` chunks costs one agent, by the rules above and the sizes measured in `c`. */
function modelRound(c: Case, chunks: number, cachedChunks: number) {
  const k = c.partitions;
  const producers = c.idempotent ? 1 : 0;
  const { rows, steps, runs, chunksInRuns } = tiling(chunks, c.chunkBytes);
  // The newest `cachedChunks` chunks of each partition are in the cache; the copy reads the others.
  const gets = k * Math.max(0, chunksInRuns - cachedChunks);
  const copyBytes = k * chunksInRuns * c.chunkBytes;
  // Copies of up to maxCopyBytes each, PUT as round B's were (hedging included).
  const puts = runs > 0 ? copyObjects(copyBytes) * c.putsPerCopy : 0;
  // Per partition: per step the rows (2 units each in the transaction), the item and each producer state (2 each).
  const writeUnits = 2 * k * (rows + steps * (1 + producers));
  const deleteUnits = chunks * c.deleteUnitsPerCommit;
  // Per partition: per step the item twice (packed.ts readPackedPartition; the packer's own commits come
  // from memory) and each producer state (1); then the item once more after the last step. Per round,
  // the writer's fence (leave requests: packing.ts materialize).
  const readUnits = k * (steps * (2 + producers) + 1) + 1;
  const usd =
    puts * prices.s3PutUsd +
    gets * prices.s3GetUsd +
    (writeUnits + deleteUnits) * prices.dynamoWriteUnitUsd +
    readUnits * prices.dynamoReadUnitUsd;
  return { rows, steps, puts, gets, copyBytes, writeUnits, deleteUnits, readUnits, usd };
}

/** Objects a round's copy of `bytes` takes (packing.ts copyTails). */
const copyObjects = (bytes: number) => Math.ceil(bytes / maxCopyBytes);

/** Chunks of a partition the cache holds: the newest 64 MiB of the agent's flushes. */
const cachedChunksOf = (c: Case) => Math.floor(cacheBytes / (c.partitions * c.chunkBytes));

console.log(
  `flush model, ${new Date().toISOString()}, Node ${process.version}; commits ${packedMode ? 'packed (packedCommits: true' : 'per partition (packedCommits: false'}${packedMode === defaultPacked ? ', the default)' : ')'}; 1 GiB/s over ${totalPartitions.toLocaleString('en-US')} partitions, ${flushBytes / 2 ** 20} MiB flushes (${flushesPerS} flushes/s across the cluster); per case ${warmUpFlushes} warm-up + ${measuredFlushes} measured flushes, medians${packedMode ? `; materialisation rounds after ${warmUpFlushes + measuredFlushes} and ${roundBFlushes} more flushes` : ''}; embedded store with counters`,
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
const mode = packedMode ? 'packed' : 'per partition';
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
  largestItemKind: c.flushes.reduce((a, b) => (b.largestItem.bytes > a.largestItem.bytes ? b : a)).largestItem.kind,
});
const flushUsdPerGiB = (c: Case) => {
  const x = perFlush(c);
  const s3 = flushesPerS * x.puts * prices.s3PutUsd;
  const dynamo = flushesPerS * (x.writeUnits * prices.dynamoWriteUnitUsd + x.readUnits * prices.dynamoReadUnitUsd);
  return { s3, dynamo, total: s3 + dynamo };
};
const idem = (c: Case) => (c.idempotent ? 'on' : 'off');
const units = (list: [string, number][]) => list.map(([kind, n]) => `${kind} ${f(n)}`).join(', ');

console.log(`\nmeasured, per flush of one agent (medians), commits ${mode}`);
console.log(
  '| agents N | partitions per flush (k) | idempotent | MiB appended | MiB put | object PUTs | TransactWriteItems | items written | WCU | WCU per partition | metadata reads | RCU | conflicts | busiest key WCU (worst) | largest item, bytes (worst) |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const c of cases) {
  const x = perFlush(c);
  console.log(
    `| ${c.agents} | ${f(c.partitions)} | ${idem(c)} | ${f(c.appendedBytes / 2 ** 20, 2)} | ${f(x.mibPut, 2)} | ${f(x.puts)} | ${f(x.transactions)} | ${f(x.items)} | ${f(x.writeUnits)} | ${f(x.writeUnits / c.partitions, 2)} | ${f(x.reads)} | ${f(x.readUnits)} | ${f(x.conflicts)} | ${f(x.busiestKeyWriteUnits)} | ${f(x.largestItemBytes)} (${x.largestItemKind}) |`,
  );
}

console.log(
  `\nmodelled: 1 GiB/s over ${f(totalPartitions)} partitions, ${flushesPerS} flushes/s across the cluster, list prices; the flushes alone`,
);
console.log(
  `| agents N | idempotent | flushes/s per agent | PUT/s | WCU/s | RCU/s | S3 $/GiB | DynamoDB $/GiB | **total $/GiB** | vs $0.003 target | busiest key WCU/s (limit 1,000; over ${packedMode ? `${roundBFlushes}` : `${measuredFlushes}`} flushes) | largest item (limit 400 KB) |`,
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const c of cases) {
  const x = perFlush(c);
  const { s3, dynamo, total } = flushUsdPerGiB(c);
  const hotKey = (c.hotKeys[0]?.unitsPerFlush ?? 0) * (flushesPerS / c.agents);
  console.log(
    `| ${c.agents} | ${idem(c)} | ${f(flushesPerS / c.agents, 1)} | ${f(flushesPerS * x.puts)} | ${f(flushesPerS * x.writeUnits)} | ${f(flushesPerS * x.readUnits)} | ${usd(s3)} | ${usd(dynamo)} | **${usd(total)}** | ${f(total / targetUsdPerGiB, 1)}× ${total <= targetUsdPerGiB ? '(met)' : '(missed)'} | ${f(hotKey)} ${hotKey <= hotKeyLimitWcuPerS ? '(within)' : '(over)'} (${c.hotKeys[0]?.kind ?? '-'}) | ${f(x.largestItemBytes)} B ${x.largestItemBytes <= itemLimitBytes ? '(within)' : '(over)'} |`,
  );
}

console.log(
  `\nhot keys: the three busiest partition keys, write units per second at 1 GiB/s (units over the window ÷ its flushes × flushes/s per agent)`,
);
console.log('| agents N | idempotent | window, flushes | busiest keys: kind WCU/s |');
console.log('|---|---|---|---|');
for (const c of cases)
  console.log(
    `| ${c.agents} | ${idem(c)} | ${c.hotWindowFlushes} | ${c.hotKeys.map((key) => `${key.kind} ${f(key.unitsPerFlush * (flushesPerS / c.agents))}`).join(', ')} |`,
  );

if (packedMode) {
  console.log('\nmeasured materialisation rounds, one agent (round A: tails of 7 chunks; round B: tails of the flushes after A)');
  console.log(
    '| agents N | idempotent | tail chunks per partition | chunk bytes | PUT | MiB put | GET | TransactWriteItems | items written, by kind | WCU, by kind | deletes (WCU) | RCU, by kind | conflicts | busiest key WCU | seconds |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const c of cases)
    for (const r of c.rounds)
      console.log(
        `| ${c.agents} | ${idem(c)} | ${r.tailChunks} | ${f(c.chunkBytes)} | ${f(r.counts.objects.puts)} | ${f(r.counts.objects.bytesPut / 2 ** 20, 1)} | ${f(r.counts.objects.gets)} | ${f(r.counts.metadata.transactions)} | ${units(r.itemsByKind)} | ${units(r.writeUnitsByKind)} | ${f(r.deletes.items)} (${f(r.deletes.units)}) | ${units(r.readUnitsByKind)} | ${f(r.counts.metadata.conflicts)} | ${f(r.busiestKey.units)} (${r.busiestKey.kind}) | ${f(r.seconds, 1)} |`,
      );

  console.log('\nthe round model beside the measured rounds (model / measured)');
  console.log('| agents N | idempotent | tail chunks | GET | TransactWriteItems | rows | WCU without deletes | delete WCU | RCU |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const c of cases)
    for (const r of c.rounds) {
      // Round A's chunks were all cached (7 flushes); round B's: the newest the cache holds.
      const m = modelRound(c, r.tailChunks, cachedChunksOf(c));
      const rows = r.itemsByKind.find(([kind]) => kind === 'rows/<n>')?.[1] ?? 0;
      const pair = (model: number, measured: number) => `${f(model)} / ${f(measured)}${model === measured ? '' : ' ≠'}`;
      console.log(
        `| ${c.agents} | ${idem(c)} | ${r.tailChunks} | ${pair(m.gets, r.counts.objects.gets)} | ${pair(m.steps * c.partitions, r.counts.metadata.transactions)} | ${pair(m.rows * c.partitions, rows)} | ${pair(m.writeUnits, r.counts.metadata.writeUnits - r.deletes.units)} | ${pair(m.deleteUnits, r.deletes.units)} | ${pair(m.readUnits, r.counts.metadata.readUnits)} |`,
      );
    }

  console.log(
    `\nmodelled: materialisation every T at 1 GiB/s (a round per agent per T over F = ${flushesPerS} / N × T flushes; chunks older than the newest 64 MiB of flushes read back from S3), added to the flushes' measured cost`,
  );
  console.log(
    '| agents N | idempotent | T | F (chunks per partition per round) | copy per round | PUT per round | rows per partition | steps per partition | GET per round | WCU per round (+ deletes) | RCU per round | materialisation $/GiB | flushes $/GiB | **total $/GiB** | vs $0.003 target |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const c of cases)
    for (const t of intervalsS) {
      const chunks = (flushesPerS / c.agents) * t;
      const m = modelRound(c, chunks, cachedChunksOf(c));
      // A round per T per agent, N agents: per second N × round / T, per GiB the same at 1 GiB/s.
      const materialization = (c.agents * m.usd) / t;
      const total = flushUsdPerGiB(c).total + materialization;
      const copy = `${f(m.copyBytes / 2 ** 30, 2)} GiB in ${f(copyObjects(m.copyBytes))} objects`;
      console.log(
        `| ${c.agents} | ${idem(c)} | ${t} s | ${f(chunks)} | ${copy} | ${f(m.puts)} | ${f(m.rows)} | ${f(m.steps)} | ${f(m.gets)} | ${f(m.writeUnits)} (+ ${f(m.deleteUnits)}) | ${f(m.readUnits)} | ${usd(materialization)} | ${usd(flushUsdPerGiB(c).total)} | **${usd(total)}** | ${f(total / targetUsdPerGiB, 1)}× ${total <= targetUsdPerGiB ? '(met)' : '(missed)'} |`,
      );
    }
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
