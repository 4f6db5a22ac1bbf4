/**
 * What the log cleaner (cleanup.policy=compact) costs per GB ingested, against the same workload on a
 * delete topic (whose maintenance is compaction alone): object GETs and PUTs, bytes read and
 * written, DynamoDB units and dollars at list prices (lib/cost.ts), counted under maintenance only;
 * and what it keeps: stored bytes at the end against the bytes of each key's latest record.
 * Fixed workload per run: one partition, 64 MiB of 1 KiB records with keys drawn uniformly from
 * 10,000 (so the live set is ~10 MiB), produced in flushes of 64 records, with a maintenance pass
 * (compaction tail age 0, the topic's defaults: min.cleanable.dirty.ratio 0.5) after every 4 MiB, into
 * the embedded store. Three runs; medians.
 *
 *   npm run bench -- cleaner
 */
import { Log } from '../lib/log/index.js';
import { readMaintenanceReport } from '../lib/log/maintenance/index.js';
import type { TopicConfig } from '../lib/log/topic-config.js';
import { openStores } from '../lib/storage/open.js';
import { tempDir } from '../test/support/stores.js';
import { counting, dollars, snapshot } from './support/counting.js';
import { seededRandom } from './support/latency-model.js';

const ingestBytes = 64 * 1024 * 1024;
const recordBytes = 1024;
const recordsPerFlush = 64;
const keys = 10_000;
const passEveryBytes = 4 * 1024 * 1024;
const runs = 3;

interface Measured {
  readonly perGb: Record<string, number>;
  readonly storedMiB: number;
  readonly liveMiB: number;
  readonly passSeconds: number;
}

async function measure(run: number, config: Partial<TopicConfig>): Promise<Measured> {
  const stores = await openStores({ dataDir: tempDir('spool-bench-cleaner-') }, { createIfMissing: true });
  const counted = counting(stores);
  const writer = new Log({ stores, producer: { batchIntervalMs: 0 } });
  const maintainer = new Log({ stores: counted, maintenance: { compactionTailAgeMs: 0 } });
  const topic = `cleaner-${run}`;
  await writer.createTopic(topic, 1, config);
  const random = seededRandom(run + 1);
  const value = Buffer.alloc(recordBytes - 8, 7);
  const latest = new Map<number, number>();
  let passMs = 0;
  for (let written = 0; written < ingestBytes; ) {
    const records = Array.from({ length: recordsPerFlush }, () => {
      const key = Math.floor(random() * keys);
      latest.set(key, recordBytes);
      return { key: Buffer.from(String(key).padStart(8, '0')), value, partition: 0 };
    });
    await writer.produce(topic, records);
    written += recordsPerFlush * recordBytes;
    if (written % passEveryBytes === 0) {
      const started = performance.now();
      await maintainer.runMaintenance();
      passMs += performance.now() - started;
    }
  }
  await maintainer.runMaintenance(); // what the last 4 MiB leave to do
  const counts = snapshot(counted);
  // What the partition's rows point at after the last pass (objects they no longer name wait out the collector's grace period).
  const storedBytes = (await readMaintenanceReport(stores.metadata))!.topicBytes[topic]!;
  await writer.close();
  await maintainer.close();
  const gb = ingestBytes / 1e9;
  const price = dollars(counts);
  await Promise.all([stores.objects.close(), stores.metadata.close()]);
  return {
    perGb: {
      'GETs / GB': counts.objects.gets / gb,
      'PUTs / GB': counts.objects.puts / gb,
      'GB read / GB': counts.objects.bytesGot / 1e9 / gb,
      'GB written / GB': counts.objects.bytesPut / 1e9 / gb,
      'DynamoDB write units / GB': counts.metadata.writeUnits / gb,
      'DynamoDB read units / GB': counts.metadata.readUnits / gb,
      '$ S3 requests / GB': price.s3 / gb,
      '$ DynamoDB / GB': price.dynamo / gb,
    },
    storedMiB: storedBytes / 1024 / 1024,
    liveMiB: [...latest.values()].reduce((sum, bytes) => sum + bytes, 0) / 1024 / 1024,
    passSeconds: passMs / 1000,
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const policies: [string, Partial<TopicConfig>][] = [
  ['delete (compaction only)', {}],
  ['compact', { 'cleanup.policy': 'compact' }],
];
const results = new Map<string, Measured[]>();
for (let run = 0; run < runs; run++)
  for (const [name, config] of policies) results.set(name, [...(results.get(name) ?? []), await measure(run, config)]);

console.log(
  `log cleaner benchmark, ${new Date().toISOString()}, Node ${process.version}, 1 partition, ${ingestBytes / 1024 / 1024} MiB of ${recordBytes} B records over ${keys} keys, flushes of ${recordsPerFlush}, a pass every ${passEveryBytes / 1024 / 1024} MiB, embedded store, median of ${runs} runs; maintenance's requests only`,
);
const names = policies.map(([name]) => name);
console.log(`| per GB ingested | ${names.join(' | ')} |`);
console.log(`|---|${names.map(() => '---:').join('|')}|`);
for (const measure of Object.keys(results.get(names[0]!)![0]!.perGb))
  console.log(
    `| ${measure} | ${names.map((name) => median(results.get(name)!.map((m) => m.perGb[measure]!)).toFixed(measure.startsWith('$') ? 4 : 2)).join(' | ')} |`,
  );
for (const [label, pick] of [
  ['MiB the rows point at after the last pass', (m: Measured) => m.storedMiB],
  ['MiB of latest records (live set)', (m: Measured) => m.liveMiB],
  ['seconds in maintenance passes', (m: Measured) => m.passSeconds],
] as const)
  console.log(`| ${label} | ${names.map((name) => median(results.get(name)!.map(pick)).toFixed(1)).join(' | ')} |`);
