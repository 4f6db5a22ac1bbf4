/**
 * Consumer groups: time to a stable assignment after a join (10 members, 100 partitions), and the
 * overhead of a poll, over the embedded store behind the DynamoDB / S3 latency model.
 *
 *   join:  9 members are stable; a 10th joins; every member then heartbeats back to back (no
 *          interval: this measures the protocol, not a client's heartbeat setting) until the group
 *          is stable again. Reported: time from the join to stable, and requests made.
 *   poll:  one member of a 4-partition topic polls 100 records per request from a full log:
 *          latency per poll, and metadata-store calls per poll. Also without the model (CPU cost).
 * Three runs each; medians.
 *
 *   npm run bench -- groups
 */
import { GroupCoordinator } from '../lib/groups/coordinator.js';
import { Log } from '../lib/log/index.js';
import { openStores, type Stores } from '../lib/storage/open.js';
import type { Item, ItemKey, QueryOptions, WriteOp } from '../lib/storage/ports.js';
import { DelegatingMetadataStore } from '../test/support/delegating.js';
import { tempDir } from '../test/support/stores.js';
import { dynamoDb, s3Standard, seededRandom, SlowMetadataStore, SlowObjectStore } from './support/latency-model.js';

/** Counts every call on the way through. */
class CountingMetadataStore extends DelegatingMetadataStore {
  calls = 0;
  override get(key: ItemKey): Promise<Item | undefined> {
    this.calls++;
    return super.get(key);
  }
  override query(pk: string, options?: QueryOptions): Promise<Item[]> {
    this.calls++;
    return super.query(pk, options);
  }
  override write(op: WriteOp) {
    this.calls++;
    return super.write(op);
  }
  override transact(ops: readonly WriteOp[]) {
    this.calls++;
    return super.transact(ops);
  }
}

const runs = 3;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;

async function open(model: boolean): Promise<{ stores: Stores; counting: CountingMetadataStore; close: () => Promise<void> }> {
  const raw = await openStores({ dataDir: tempDir('spool-bench-groups-') }, { createIfMissing: true });
  const random = seededRandom(11);
  const metadata = model ? new SlowMetadataStore(raw.metadata, dynamoDb, random) : raw.metadata;
  const objects = model ? new SlowObjectStore(raw.objects, s3Standard, random) : raw.objects;
  const counting = new CountingMetadataStore(metadata);
  return {
    stores: { metadata: counting, objects },
    counting,
    close: async () => Promise.all([raw.objects.close(), raw.metadata.close()]).then(() => undefined),
  };
}

async function joinRun(): Promise<{ ms: number; requests: number }> {
  const { stores, close } = await open(true);
  const log = new Log({ stores, producer: { batchIntervalMs: 0 } });
  await log.createTopic('wide', 100);
  const groups = new GroupCoordinator(log, stores.metadata);
  const members: string[] = [];
  const stable = async () => (await groups.describe('bench')).state === 'stable';
  for (let i = 0; i < 9; i++) members.push((await groups.join('bench', { topics: ['wide'] })).memberId);
  while (!(await stable())) for (const id of members) await groups.heartbeat('bench', id);

  const started = performance.now();
  let requests = 1;
  members.push((await groups.join('bench', { topics: ['wide'] })).memberId);
  let done = false;
  await Promise.all(
    members.map(async (id) => {
      while (!done) {
        await groups.heartbeat('bench', id);
        requests++;
        if (await stable()) done = true;
      }
    }),
  );
  const ms = performance.now() - started;
  const d = await groups.describe('bench');
  if (d.members.length !== 10 || d.members.some((m) => m.assignments.length !== 10)) throw new Error('not a stable 10 × 10 assignment');
  await log.close();
  await close();
  return { ms, requests };
}

async function pollRun(model: boolean): Promise<{ p50: number; p99: number; callsPerPoll: number }> {
  const { stores, counting, close } = await open(model);
  const log = new Log({ stores, producer: { batchIntervalMs: 5 } });
  await log.createTopic('events', 4);
  const value = Buffer.alloc(1024, 1);
  for (let i = 0; i < 40; i++)
    await log.produce(
      'events',
      Array.from({ length: 100 }, (_, j) => ({ key: null, value, partition: (i + j) % 4 })),
    );
  const groups = new GroupCoordinator(log, stores.metadata);
  const id = (await groups.join('readers', { topics: ['events'], autoOffsetReset: 'earliest' })).memberId;
  const latencies: number[] = [];
  const callsBefore = counting.calls;
  let polls = 0;
  for (; polls < 35; polls++) {
    const t0 = performance.now();
    const { records } = await groups.poll('readers', id, { maxRecords: 100 });
    latencies.push(performance.now() - t0);
    if (records.length === 0) throw new Error('ran out of records');
  }
  const callsPerPoll = (counting.calls - callsBefore) / polls;
  await log.close();
  await close();
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), callsPerPoll };
}

const join: { ms: number; requests: number }[] = [];
const modelPolls: { p50: number; p99: number; callsPerPoll: number }[] = [];
const rawPolls: { p50: number; p99: number; callsPerPoll: number }[] = [];
for (let run = 0; run < runs; run++) {
  join.push(await joinRun());
  modelPolls.push(await pollRun(true));
  rawPolls.push(await pollRun(false));
}
console.log(
  `groups benchmark, ${new Date().toISOString()}, Node ${process.version}; model: DynamoDB p50 ${dynamoDb.p50Ms} / p99 ${dynamoDb.p99Ms} ms, S3 p50 ${s3Standard.p50Ms} / p99 ${s3Standard.p99Ms} ms (seed 11); median of ${runs} runs`,
);
console.log('| measure | median |');
console.log('|---|---|');
console.log(
  `| 10th member joins a 9-member group on 100 partitions: ms to stable (DynamoDB model) | ${median(join.map((r) => r.ms)).toFixed(0)} |`,
);
console.log(`| … requests made until stable (join + heartbeats) | ${median(join.map((r) => r.requests))} |`);
console.log(`| poll of 100 × 1 KiB records, p50 ms (model) | ${median(modelPolls.map((r) => r.p50)).toFixed(1)} |`);
console.log(`| poll, p99 ms (model) | ${median(modelPolls.map((r) => r.p99)).toFixed(1)} |`);
console.log(`| metadata-store calls per poll | ${median(modelPolls.map((r) => r.callsPerPoll)).toFixed(1)} |`);
console.log(`| poll, p50 ms (embedded, no model: CPU and LMDB only) | ${median(rawPolls.map((r) => r.p50)).toFixed(1)} |`);
