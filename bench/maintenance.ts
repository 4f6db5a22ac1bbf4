/**
 * Compaction throughput, and what a catch-up consumer pays to read a partition before and after
 * compaction: object GETs per MB read, and read MB/s through the S3/DynamoDB latency model.
 * Fixed workload per run: 4 partitions × 16 MiB of 1 KiB records, written in flushes of 64 records
 * (64 KiB) each touching one partition, into the embedded store; then one maintenance pass
 * (compaction tail age 0, target 64 MiB). Then how fast shutdown stops a pass: the same backlog again
 * in a second topic, a pass over it through the S3/DynamoDB latency model, and the log closed
 * `stopAfterMs` into it (as on SIGTERM): the time from close() to the pass's end, which is the rest
 * of the step it was in (a partition's retention, one chunk read of a compaction group, a page of a
 * scan). And the worst case: close() as the pass starts uploading a compacted segment, which it must
 * then commit (uploads, commit, the rows it replaced) before it may stop.
 * Three runs; medians.
 *
 *   npm run bench -- maintenance
 */
import { Log } from '../lib/log/index.js';
import { openStores, type Stores } from '../lib/storage/open.js';
import type { ByteRange } from '../lib/storage/ports.js';
import { DelegatingObjectStore } from '../test/support/delegating.js';
import { tempDir } from '../test/support/stores.js';
import { dynamoDb, s3Standard, seededRandom, SlowMetadataStore, SlowObjectStore } from './support/latency-model.js';

const partitions = 4;
const bytesPerPartition = 16 * 1024 * 1024;
const recordBytes = 1024;
const recordsPerFlush = 64;
const runs = 3;
const stopAfterMs = 1500;

/** Counts GETs and bytes read on the way through. */
class CountingObjectStore extends DelegatingObjectStore {
  gets = 0;
  bytes = 0;
  override async get(key: string, range?: ByteRange) {
    const bytes = await super.get(key, range);
    this.gets++;
    this.bytes += bytes.length;
    return bytes;
  }
}

/** Reads every partition from offset 0 with a cold cache, as a consumer catching up would. */
async function catchUp(stores: Stores, topic: string): Promise<{ getsPerMb: number; mbPerS: number }> {
  const counting = new CountingObjectStore(stores.objects);
  const reader = new Log({ stores: { metadata: stores.metadata, objects: counting }, cacheBytes: 0 });
  const started = performance.now();
  let recordBytesRead = 0;
  for (let partition = 0; partition < partitions; partition++) {
    let offset = 0;
    for (;;) {
      const fetched = await reader.fetch(topic, partition, offset, { maxBytes: 4 * 1024 * 1024, maxRecords: 100_000 });
      for (const record of fetched.records) recordBytesRead += record.value!.length;
      offset = fetched.nextOffset;
      if (offset >= fetched.highWatermark) break;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return { getsPerMb: counting.gets / (recordBytesRead / 1e6), mbPerS: recordBytesRead / 1e6 / seconds };
}

function modelled(stores: Stores): Stores {
  const random = seededRandom(7);
  return {
    objects: new SlowObjectStore(stores.objects, s3Standard, random),
    metadata: new SlowMetadataStore(stores.metadata, dynamoDb, random),
  };
}

/** `partitions` × `bytesPerPartition` of records in flushes of `recordsPerFlush`, each to one partition. */
async function backlog(log: Log, topic: string): Promise<void> {
  await log.createTopic(topic, partitions);
  const value = Buffer.alloc(recordBytes, 7);
  const flushes = (partitions * bytesPerPartition) / (recordBytes * recordsPerFlush);
  for (let i = 0; i < flushes; i++) {
    await log.produce(
      topic,
      Array.from({ length: recordsPerFlush }, () => ({ key: null, value, partition: i % partitions })),
    );
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const results: Record<string, number[]> = {};
const note = (name: string, value: number) => (results[name] ??= []).push(value);

for (let run = 0; run < runs; run++) {
  const stores = await openStores({ dataDir: tempDir('spool-bench-maint-') }, { createIfMissing: true });
  const log = new Log({ stores, producer: { batchIntervalMs: 0 }, maintenance: { compactionTailAgeMs: 0 } });
  const topic = `catchup-${run}`;
  await backlog(log, topic);
  const before = await catchUp(stores, topic);
  const beforeModel = await catchUp(modelled(stores), topic);
  const started = performance.now();
  const pass = await log.runMaintenance();
  const seconds = (performance.now() - started) / 1000;
  const after = await catchUp(stores, topic);
  const afterModel = await catchUp(modelled(stores), topic);
  note('compaction MB/s', pass.bytes_written / 1e6 / seconds);
  note('rows before', pass.rows_before);
  note('rows after', pass.rows_after);
  note('segments', pass.segments_compacted);
  note('GETs/MB before', before.getsPerMb);
  note('GETs/MB after', after.getsPerMb);
  note('S3 model catch-up MB/s before', beforeModel.mbPerS);
  note('S3 model catch-up MB/s after', afterModel.mbPerS);

  await backlog(log, `stop-${run}`);
  const stopping = new Log({ stores: modelled(stores), producer: { batchIntervalMs: 0 }, maintenance: { compactionTailAgeMs: 0 } });
  const stoppedPass = stopping.runMaintenance();
  await new Promise((resolve) => setTimeout(resolve, stopAfterMs));
  const closeAsked = performance.now();
  await stopping.close();
  const stopped = await stoppedPass;
  if (!stopped.stopped) throw new Error(`the pass ended before it was stopped (${stopped.duration_ms} ms): raise the backlog`);
  note(`shutdown: ms from close() ${stopAfterMs} ms into a pass to its end (S3 model)`, performance.now() - closeAsked);
  note('shutdown: segments compacted before the stop', stopped.segments_compacted);

  // Worst case: the stop arrives as a compacted segment's upload starts.
  await backlog(log, `stop-late-${run}`);
  const slow = modelled(stores);
  let lateAsked: number | undefined;
  let lateClosing: Promise<void> | undefined;
  const late: Log = new Log({
    stores: {
      metadata: slow.metadata,
      objects: new (class extends DelegatingObjectStore {
        override async put(key: string, body: Uint8Array) {
          if (key.startsWith('partitions/') && lateAsked === undefined) {
            lateAsked = performance.now();
            lateClosing = late.close();
          }
          return super.put(key, body);
        }
      })(slow.objects),
    },
    producer: { batchIntervalMs: 0 },
    maintenance: { compactionTailAgeMs: 0 },
  });
  const latePass = await late.runMaintenance();
  await lateClosing;
  if (!latePass.stopped || lateAsked === undefined) throw new Error('the late stop did not happen during an upload');
  note('shutdown: ms from close() at a segment upload to the end (S3 model)', performance.now() - lateAsked);
  await log.close();
  await Promise.all([stores.objects.close(), stores.metadata.close()]);
}

console.log(
  `maintenance benchmark, ${new Date().toISOString()}, Node ${process.version}, ${partitions} partitions × ${bytesPerPartition / 1024 / 1024} MiB, flushes of ${recordsPerFlush} × ${recordBytes} B, median of ${runs} runs`,
);
console.log('| measure | median |');
console.log('|---|---|');
for (const [name, values] of Object.entries(results)) console.log(`| ${name} | ${median(values).toFixed(2)} |`);
const g = (name: string) => median(results[name]!);
console.log(
  `catch-up GETs per MB fell ${(g('GETs/MB before') / g('GETs/MB after')).toFixed(1)}×; S3-model catch-up read rose ${(g('S3 model catch-up MB/s after') / g('S3 model catch-up MB/s before')).toFixed(1)}×`,
);
