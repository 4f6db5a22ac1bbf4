/**
 * Storage faults, in one process: several writers (Log instances over one pair of stores, as agents
 * or Lambdas sharing S3 and DynamoDB) take sequence-numbered keyed records from producers of every
 * kind while a FaultPlan (test/support/fault-plan.ts) fails, delays and half-completes their storage
 * calls, a writer on the bare stores races them for the same partitions (real conditional-check
 * conflicts), maintenance compacts and collects garbage throughout, and a reader tails every
 * partition. With `compacted`, the topic is a compacted one (cleanup.policy=compact): producers send
 * keyed records and tombstones over 20 keys, the log cleaner works on it in every pass, and the
 * checker holds it to a compacted topic's promises (checkCompacted) instead; once the faults stop,
 * fault-free passes run on, and the cleaning must have converged: one record per key.
 * Producers retry failed requests as clients do: an idempotent producer resends the same
 * batch (same producer id, epoch and sequence), to whichever writer it picks.
 *
 * At the end the log is read back from the bare stores and handed to the checker (checker.ts).
 *
 * As a script (a longer run than CI's):
 *   node --import tsx test/reliability/storage-faults.ts --requests 400 --seed 7 [--memory 1]
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { SpoolError } from '../../lib/errors.js';
import { encodeRecordBatch, partitionForKey } from '../../lib/format/index.js';
import { Log, type LogOptions } from '../../lib/log/index.js';
import { batchRowFromItem, effectiveRows, topicFromItem } from '../../lib/log/layout.js';
import { rowsPk, topicsPk } from '../../lib/keys.js';
import { openStores, type Stores } from '../../lib/storage/open.js';
import type { MetadataStore } from '../../lib/storage/ports.js';
import { FaultPlan, faultKinds, withFaults, type FaultKind, type FaultRates } from '../support/fault-plan.js';
import { text } from '../support/logs.js';
import { embedded, memory, type StoreKind } from '../support/stores.js';
import { checkCompacted, checkLog, type Acknowledged, type CompactedAck, type LogFigures } from './checker.js';
import { choices, numberFlags, readPartitions, retrying, sleep } from './support.js';

export const defaultRates: FaultRates = {
  's3.slowDown': 0.04,
  's3.internalError': 0.03,
  's3.timeoutAfterWrite': 0.04,
  's3.slow': 0.15,
  'dynamo.throttled': 0.03,
  'dynamo.unavailable': 0.02,
  'dynamo.transactionConflict': 0.03,
  'dynamo.lostResponse': 0.05,
  'dynamo.slow': 0.1,
};

export interface StorageFaultsOptions {
  readonly kind: StoreKind;
  readonly seed: number;
  /** Requests each producer sends (each of 1 to 3 records). */
  readonly requestsPerProducer: number;
  readonly rates?: FaultRates;
  /** The topic is compacted (see the module comment). @default false */
  readonly compacted?: boolean;
}

export interface StorageFaultsReport {
  readonly store: string;
  readonly seed: number;
  readonly faults: Record<FaultKind, number>;
  readonly faultsTotal: number;
  /** Commit transactions refused because another writer got there first (real, not injected). */
  readonly commitConflicts: number;
  /** Client retries, by the error code that caused them. */
  readonly retries: Record<string, number>;
  /** The log's figures (not `compacted`). */
  readonly figures?: LogFigures;
  /** Records the tailing reader saw and checked while the run went on (not `compacted`). */
  readonly tailed: number;
  /**
   * `passes` completed and `failed` (stopped at a fault, to run again); `segmentsCompacted`: compacted
   * segments in the log at the end, whether or not the pass that made each went on to complete.
   */
  readonly maintenance: { passes: number; failed: number; segmentsCompacted: number; objectsDeleted: number };
  /** With `compacted`: records acknowledged, and records kept at the end (fewer once cleaned). */
  readonly compacted?: { acknowledged: number; kept: number };
  readonly violations: string[];
}

const partitions = 4;
const writers = 3;

export async function runStorageFaults(options: StorageFaultsOptions): Promise<StorageFaultsReport> {
  const bare = await openStores(options.kind.locations(), { createIfMissing: true });
  const rates = options.rates ?? defaultRates;
  const plan = new FaultPlan(options.seed, rates);
  const faulty: Stores = withFaults(bare, plan);
  // A maintenance pass makes hundreds of calls and stops at the first failure (to run again later):
  // it gets a tenth of the faults, or it would never finish one.
  const maintenancePlan = new FaultPlan(
    options.seed + 1,
    Object.fromEntries(Object.entries(rates).map(([kind, rate]) => [kind, rate / 10])),
  );
  const plans = [plan, maintenancePlan];
  const random = choices(options.seed ^ 0x5eed);
  // Every writer commits within half the collector's grace period: garbage collection runs throughout.
  const logOptions: Omit<LogOptions, 'stores'> = {
    topicCacheMs: 0,
    pollIntervalMs: 20,
    producer: { batchIntervalMs: 2 },
    maintenance: { gcGraceMs: 4000, compactionTailAgeMs: 0, compactionTargetBytes: 16 * 1024 },
  };
  const logs = Array.from({ length: writers }, () => new Log({ stores: faulty, ...logOptions }));
  const racer = new Log({ stores: bare, ...logOptions });
  const reader = new Log({ stores: faulty, ...logOptions, cacheBytes: 0 });
  const maintainer = new Log({ stores: withFaults(bare, maintenancePlan), ...logOptions });
  const topic = `faults-${randomUUID().slice(0, 8)}`;
  // Compacted: cleaned whenever anything is new, and tombstones go 300 ms after the cleaner reaches them.
  const compactedConfig = { 'cleanup.policy': 'compact', 'min.cleanable.dirty.ratio': 0, 'delete.retention.ms': 300 } as const;
  await racer.createTopic(topic, partitions, options.compacted ? compactedConfig : {});

  const acks: Acknowledged[] = [];
  const sent = new Set<string>();
  const retries: Record<string, number> = {};
  const violations: string[] = [];
  const client = <T>(attempt: () => Promise<T>) => retrying(retries, random.next, attempt);
  const newValues = (name: string, counter: { next: number }) =>
    Array.from({ length: random.int(1, 3) }, () => `${name}:${counter.next++}`);

  /** Log.produce: keyed records, partitioned by the writer; not idempotent, so a retry may duplicate. */
  const recordsProducer = async (name: string) => {
    const counter = { next: 0 };
    for (let i = 0; i < options.requestsPerProducer; i++) {
      const values = newValues(name, counter);
      for (const value of values) sent.add(value);
      const records = values.map((value) => ({ key: text(`key-${random.int(0, 49)}`), value: text(value) }));
      const offsets = await client(() => random.pick(logs).produce(topic, records));
      for (const [j, { partition, offset }] of offsets.entries())
        acks.push({ producer: name, idempotent: false, value: values[j]!, partition, offset });
    }
  };

  /** Log.appendBatches: one client batch per request, partitioned by key as a Kafka client does. */
  const batchProducer = async (name: string, idempotent: boolean) => {
    const counter = { next: 0 };
    const producerId = idempotent ? await client(() => random.pick(logs).internals.producerIds.allocate()) : -1;
    const sequences = new Array<number>(partitions).fill(0);
    for (let i = 0; i < options.requestsPerProducer; i++) {
      const key = `key-${random.int(0, 49)}`;
      const partition = partitionForKey(text(key), partitions);
      const values = newValues(name, counter);
      for (const value of values) sent.add(value);
      const batch = encodeRecordBatch(
        values.map((value) => ({ key: text(key), value: text(value) })),
        idempotent ? { producerId, producerEpoch: 0, baseSequence: sequences[partition]! } : {},
      );
      sequences[partition]! += values.length;
      // The same bytes on every attempt: a retry is recognised by its sequence.
      const { baseOffset } = await client(async () => (await random.pick(logs).appendBatches(topic, partition, batch)).done);
      for (const [j, value] of values.entries()) acks.push({ producer: name, idempotent, value, partition, offset: baseOffset + j });
    }
  };

  const compactedAcks: CompactedAck[] = [];
  const compactedSent = new Map<string, string>();
  const tombstonedKeys = new Set<string>();
  /** Log.produce to a compacted topic: 20 keys, one record in 8 a tombstone; not idempotent, so a retry may duplicate. */
  const compactedProducer = async (name: string) => {
    const counter = { next: 0 };
    for (let i = 0; i < options.requestsPerProducer; i++) {
      const records = Array.from({ length: random.int(1, 3) }, () => {
        const key = `key-${random.int(0, 19)}`;
        const value = random.int(0, 7) === 0 ? null : `${name}:${counter.next++}`;
        if (value === null) tombstonedKeys.add(key);
        else compactedSent.set(value, key);
        return { key, value };
      });
      const produced = records.map(({ key, value }) => ({ key: text(key), value: value === null ? null : text(value) }));
      const offsets = await client(() => random.pick(logs).produce(topic, produced));
      for (const [j, { partition, offset }] of offsets.entries()) compactedAcks.push({ ...records[j]!, partition, offset });
    }
  };

  let running = true;
  /** A writer on the bare stores, racing the others for the same partitions: real commit conflicts. */
  const racing = async () => {
    const counter = { next: 0 };
    while (running) {
      const value = `racer:${counter.next++}`;
      sent.add(value);
      const key = options.compacted ? `key-${random.int(0, 19)}` : null; // a compacted topic refuses keyless records
      if (key !== null) compactedSent.set(value, key);
      const record = { key: key === null ? null : text(key), value: text(value), partition: random.int(0, partitions - 1) };
      const [ack] = await client(() => racer.produce(topic, [record]));
      acks.push({ producer: 'racer', idempotent: false, value, partition: ack!.partition, offset: ack!.offset });
      if (key !== null) compactedAcks.push({ key, value, partition: ack!.partition, offset: ack!.offset });
      await sleep(random.int(0, 10));
    }
  };

  const maintenance = { passes: 0, failed: 0, segmentsCompacted: 0, objectsDeleted: 0 };
  const maintaining = async () => {
    while (running) {
      try {
        const result = await maintainer.runMaintenance();
        maintenance.passes++;
        maintenance.objectsDeleted += result.objects_deleted;
      } catch (error) {
        if (!(error instanceof SpoolError && error.retriable)) violations.push(`maintenance failed: ${String(error)}`);
        maintenance.failed++;
      }
      await sleep(20);
    }
  };

  /** Follows every partition under faults: what it sees must be dense and only what was sent. */
  let tailed = 0;
  const tailing = async () => {
    const next = new Array<number>(partitions).fill(0);
    while (running) {
      for (let partition = 0; partition < partitions; partition++) {
        try {
          const fetched = await reader.fetch(topic, partition, next[partition]!, { maxRecords: 500 });
          for (const record of fetched.records) {
            const value = record.value?.toString('utf8') ?? '<null>';
            if (record.offset !== next[partition])
              violations.push(`reader: partition ${partition} jumped from ${next[partition]} to ${record.offset}`);
            if (!sent.has(value)) violations.push(`reader: ${partition}/${record.offset} holds ${value}, never sent`);
            next[partition] = record.offset + 1;
            tailed++;
          }
        } catch (error) {
          if (!(error instanceof SpoolError && error.retriable)) violations.push(`reader: ${String(error)}`);
        }
      }
      await sleep(5);
    }
  };

  // A compacted topic's offsets have gaps once cleaned: the tailing reader's density checks are the plain log's.
  const background = options.compacted ? [racing(), maintaining()] : [racing(), maintaining(), tailing()];
  const producers = options.compacted
    ? ['compacted-0', 'compacted-1', 'compacted-2'].map((name) => compactedProducer(name))
    : [
        ...['records-0', 'records-1', 'records-2'].map((name) => recordsProducer(name)),
        batchProducer('idempotent-0', true),
        batchProducer('idempotent-1', true),
        batchProducer('idempotent-2', true),
        batchProducer('batches-0', false),
      ];
  const outcome = await Promise.allSettled(producers);
  running = false;
  await Promise.allSettled(background);
  for (const result of outcome) if (result.status === 'rejected') violations.push(`a producer gave up: ${String(result.reason)}`);

  for (const each of plans) each.active = false;
  for (const log of [...logs, racer, reader, maintainer]) await log.close();
  // What the faults left, checked and counted before anything else runs.
  maintenance.segmentsCompacted = await compactedSegments(bare.metadata, topic, partitions);
  const compactedCheck = async (settled: boolean) =>
    checkCompacted(compactedAcks, await readPartitions(new Log({ stores: bare }), topic, partitions), compactedSent, tombstonedKeys, {
      settled,
    });
  const underFaults = options.compacted ? await compactedCheck(false) : undefined;
  if (options.compacted) {
    // Faults over, passes go on as a cluster's would: whatever the faults cut short, cleaning must converge.
    const settler = new Log({ stores: bare, ...logOptions });
    for (let pass = 0; pass < 4; pass++) {
      await sleep(compactedConfig['delete.retention.ms'] + 50);
      await settler.runMaintenance();
    }
    await settler.close();
  }
  const settled = options.compacted ? await compactedCheck(true) : undefined;
  const checked = underFaults
    ? { compacted: { figures: underFaults.figures, violations: [...underFaults.violations, ...settled!.violations] } }
    : {
        log: checkLog(
          acks,
          await readPartitions(new Log({ stores: bare }), topic, partitions),
          sent,
          new Set(['idempotent-0', 'idempotent-1', 'idempotent-2']),
        ),
      };
  await bare.objects.close();
  await bare.metadata.close();
  return {
    store: options.kind.name,
    seed: options.seed,
    faults: Object.fromEntries(faultKinds.map((kind) => [kind, plan.counts[kind] + maintenancePlan.counts[kind]])) as Record<
      FaultKind,
      number
    >,
    faultsTotal: plan.total() + maintenancePlan.total(),
    commitConflicts: logs.reduce((sum, log) => sum + log.internals.committer.stats.conflicts, racer.internals.committer.stats.conflicts),
    retries,
    figures: checked.log?.figures,
    tailed,
    maintenance,
    compacted: checked.compacted?.figures,
    violations: [...violations, ...(checked.log ?? checked.compacted)!.violations],
  };
}

/**
 * The per-partition segments compaction left in the topic's log. Counted from the store, not from
 * pass results: a pass stops at its first fault and most do (over HTTP to DynamoDB Local and s3rver
 * nearly all), yet every compaction it committed before that stays.
 */
async function compactedSegments(metadata: MetadataStore, topic: string, partitions: number): Promise<number> {
  const item = await metadata.get({ pk: topicsPk, sk: topic });
  if (item === undefined) return 0;
  const { id } = topicFromItem(item);
  let count = 0;
  for (let partition = 0; partition < partitions; partition++) {
    const rows = (await metadata.query(rowsPk(id, partition))).map(batchRowFromItem);
    count += effectiveRows(rows).live.filter((row) => row.indexKey !== undefined).length;
  }
  return count;
}

// As a script: a longer run, on the embedded store (or the memory store with --memory 1).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const flags = numberFlags(process.argv.slice(2), { requests: 400, seed: 20261121, memory: 0 });
  const report = await runStorageFaults({ kind: flags.memory ? memory : embedded, seed: flags.seed, requestsPerProducer: flags.requests });
  console.log(JSON.stringify(report, null, 2));
  process.exitCode = report.violations.length === 0 ? 0 : 1;
}
