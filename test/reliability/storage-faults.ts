/**
 * Storage faults, in one process: several writers (Log instances over one pair of stores, as agents
 * or Lambdas sharing S3 and DynamoDB) take sequence-numbered keyed records from producers of every
 * kind while a FaultPlan (test/support/fault-plan.ts) fails, delays and half-completes their storage
 * calls, a writer on the bare stores races them for the same partitions (real conditional-check
 * conflicts), maintenance compacts and collects garbage throughout, and a reader tails every
 * partition. Two transactional producers (each its own transactional id, with a transaction
 * coordinator per writer, as every agent has one, and their sweeps running throughout) send
 * transactions of 1 to 3 partitions that they commit or abort, and a third opens one and drops it
 * (its timeout and a sweep must abort it); a second reader tails read_committed. With `compacted`, the topic is a compacted one (cleanup.policy=compact): producers send
 * keyed records and tombstones over 20 keys, the log cleaner works on it in every pass, and the
 * checker holds it to a compacted topic's promises (checkCompacted) instead; once the faults stop,
 * fault-free passes run on, and the cleaning must have converged: one record per key.
 * Producers retry failed requests as clients do: an idempotent producer resends the same
 * batch (same producer id, epoch and sequence), to whichever writer it picks.
 *
 * At the end every transactional id gets a last InitProducerId (which ends whatever its producer left
 * open), the last stable offset must be at the high watermark, and the log is read back from the bare
 * stores with its markers, and read_committed, and handed to the checker (checker.ts): the log's
 * promises, and each transaction all or nothing, as its producer was told.
 *
 * As a script (a longer run than CI's):
 *   node --import tsx test/reliability/storage-faults.ts --requests 400 --seed 7 [--memory 1]
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { SpoolError } from '../../lib/errors.js';
import { encodeRecordBatch, partitionForKey } from '../../lib/format/index.js';
import { Log, type LogOptions, type TransactionalAppend } from '../../lib/log/index.js';
import { batchRowFromItem, effectiveRows, topicFromItem } from '../../lib/log/layout.js';
import { rowsPk, topicsPk } from '../../lib/keys.js';
import { openStores, type Stores } from '../../lib/storage/open.js';
import type { MetadataStore } from '../../lib/storage/ports.js';
import { type OffsetWriter, TransactionCoordinator } from '../../lib/transactions/coordinator.js';
import type { ProducerIdentity } from '../../lib/transactions/state.js';
import { TransactionStore } from '../../lib/transactions/store.js';
import { FaultPlan, faultKinds, withFaults, type FaultKind, type FaultRates } from '../support/fault-plan.js';
import { text } from '../support/logs.js';
import { embedded, memory, type StoreKind } from '../support/stores.js';
import {
  checkCompacted,
  checkLog,
  checkReadCommitted,
  checkTransactions,
  type Acknowledged,
  type ClientTransaction,
  type CompactedAck,
  type LogFigures,
  type ReadRecord,
  type StoredRecord,
  type TransactionFigures,
} from './checker.js';
import { choices, numberFlags, readCommitted, readPartitions, readPartitionsWithMarkers, retrying, sleep } from './support.js';

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
  /** Records the tailing readers saw and checked while the run went on (not `compacted`), read_uncommitted and read_committed. */
  readonly tailed: number;
  readonly tailedCommitted: number;
  /**
   * The transactions (not `compacted`), by what their producers were told; `failed`: transactions
   * given up on, by the error; `droppedSent`: the dropped transaction's records were acknowledged
   * (its timeout had not struck first); `droppedAborted`: the sweeps under faults aborted it.
   */
  readonly transactions?: TransactionFigures & {
    readonly failed: Record<string, number>;
    readonly droppedSent: boolean;
    /** Why its records were not acknowledged. */
    readonly droppedError?: string;
    readonly droppedAborted: boolean;
  };
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
/** The transactional producers' ids, and the one whose transaction is dropped (only its timeout ends it). */
const transactionalIds = ['txn-0', 'txn-1'];
const droppedId = 'txn-dropped';
const droppedTimeoutMs = 8000;
/** The sweeps under faults must have aborted the dropped transaction within this of its timeout. */
const droppedAbortedWithinMs = 10_000;
/** The run stages no consumer-group offsets in its transactions. */
const noOffsets: OffsetWriter = {
  commitTransactionalOffsets: async () => {
    throw new Error('the storage-faults run stages no offsets');
  },
  abortTransactionalOffsets: async () => {},
};

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

  // Transactions: a coordinator per writer (as every agent has one), each over the faulty stores.
  const coordinators = logs.map(
    (log) =>
      new TransactionCoordinator(new TransactionStore(faulty.metadata, () => log.allocateProducerId()), log, noOffsets, {
        stalledAfterMs: 200,
      }),
  );
  const coordinator = () => random.pick(coordinators);
  type Transaction = { -readonly [K in keyof ClientTransaction]: ClientTransaction[K] } & {
    records: ClientTransaction['records'][number][];
  };
  const transactions: Transaction[] = [];
  const transactionFailures: Record<string, number> = {};
  /** How a transport that serves transactions checks a batch: TV1, the partition must be in the open transaction. */
  const checkedBy = (transactionalId: string): TransactionalAppend => ({
    transactionalId,
    verify: (topicName, partition, producerId, epoch) =>
      coordinator().verify(transactionalId, { producerId, epoch }, { topic: topicName, partition }, 'check'),
  });
  const initProducerId = (transactionalId: string, timeoutMs: number) =>
    client(() => coordinator().initProducerId(transactionalId, { timeoutMs, producerId: -1, epoch: -1 }));
  /** Opens transaction `txn` on its partitions and sends its records, one transactional batch per partition. */
  const sendTransaction = async (
    transactionalId: string,
    identity: ProducerIdentity,
    sequences: number[],
    txn: Transaction,
    values: { partition: number; values: string[] }[],
  ) => {
    await client(() => coordinator().add(transactionalId, identity, { partitions: values.map(({ partition }) => ({ topic, partition })) }));
    for (const { partition, values: batchValues } of values) {
      for (const value of batchValues) {
        sent.add(value);
        txn.records.push({ partition, value });
      }
      const batch = encodeRecordBatch(
        batchValues.map((value) => ({ key: text(`key-${random.int(0, 49)}`), value: text(value) })),
        { producerId: identity.producerId, producerEpoch: identity.epoch, baseSequence: sequences[partition]!, isTransactional: true },
      );
      sequences[partition]! += batchValues.length;
      const transaction = checkedBy(transactionalId);
      const { baseOffset } = await client(
        async () => (await random.pick(logs).appendBatches(topic, partition, batch, { transaction })).done,
      );
      for (const [j, value] of batchValues.entries())
        acks.push({ producer: transactionalId, idempotent: true, value, partition, offset: baseOffset + j });
    }
  };
  /**
   * A transactional producer: transactions of 1 to 3 partitions, one in four aborted. A transaction
   * that fails (a request not retriable, or retried in vain) is given up on as a client gives up on
   * its producer: a new InitProducerId, which ends whatever the last one left open.
   */
  const transactionalProducer = async (transactionalId: string) => {
    const counter = { next: 0 };
    let identity = await initProducerId(transactionalId, 60_000);
    let sequences = new Array<number>(partitions).fill(0);
    for (let n = 0; n < options.requestsPerProducer / 3; n++) {
      const txn: Transaction = { id: `${transactionalId}#${n}`, records: [], asked: 'none', told: 'unknown' };
      transactions.push(txn);
      const chosen = [...new Set(Array.from({ length: random.int(1, 3) }, () => random.int(0, partitions - 1)))];
      try {
        await sendTransaction(
          transactionalId,
          identity,
          sequences,
          txn,
          chosen.map((partition) => ({ partition, values: newValues(transactionalId, counter) })),
        );
        txn.asked = random.int(0, 3) === 0 ? 'abort' : 'commit';
        await client(() => coordinator().end(transactionalId, { ...identity, commit: txn.asked === 'commit', tv2: false }));
        txn.told = txn.asked === 'commit' ? 'committed' : 'aborted';
      } catch (error) {
        if (!(error instanceof SpoolError)) throw error;
        transactionFailures[error.code] = (transactionFailures[error.code] ?? 0) + 1;
        identity = await initProducerId(transactionalId, 60_000);
        sequences = new Array<number>(partitions).fill(0);
      }
    }
  };
  /**
   * Opens a transaction on two partitions and drops it (no EndTxn): only its timeout and a sweep end
   * it. Waits (through the faults) until a sweep has aborted it, or `droppedAbortedWithinMs` after its
   * timeout.
   */
  let droppedSent = false;
  let droppedError: string | undefined;
  let droppedAborted = false;
  const droppingProducer = async () => {
    const identity = await initProducerId(droppedId, droppedTimeoutMs);
    const openedMs = Date.now();
    const txn: Transaction = { id: `${droppedId}#0`, records: [], asked: 'none', told: 'unknown' };
    transactions.push(txn);
    const values = [0, 1].map((partition) => ({ partition, values: [`${droppedId}:${partition}`] }));
    // Its timeout may strike before its records land: they are then refused, as a fenced producer's are (reported: `droppedSent`).
    await sendTransaction(droppedId, identity, [0, 0, 0, 0], txn, values).then(
      () => {
        droppedSent = true;
      },
      (error: unknown) => {
        if (!(error instanceof SpoolError)) throw error;
        droppedError = `${error.code}: ${error.message}`;
      },
    );
    while (!droppedAborted && Date.now() - openedMs < droppedTimeoutMs + droppedAbortedWithinMs) {
      await sleep(100);
      const state = await coordinator()
        .describe(droppedId)
        .catch(() => undefined);
      droppedAborted = state?.phase === 'CompleteAbort';
    }
  };
  /** Every agent sweeps (timeouts, stalled ends); here a random writer's coordinator, every 50 ms. */
  const sweeping = async () => {
    while (running) {
      await coordinator()
        .sweep()
        .catch((error: unknown) => {
          if (!(error instanceof SpoolError && error.retriable)) violations.push(`sweep failed: ${String(error)}`);
        });
      await sleep(50);
    }
  };

  /**
   * Follows every partition under faults: what it sees must be only what was sent, in offset order,
   * and each offset it skipped must hold a transaction marker in the end (a read skips markers).
   * A second reader follows read_committed: checked against the log's markers at the end.
   */
  let tailed = 0;
  const skipped: { partition: number; from: number; to: number }[] = [];
  const tailing = async () => {
    const next = new Array<number>(partitions).fill(0);
    while (running) {
      for (let partition = 0; partition < partitions; partition++) {
        try {
          const fetched = await reader.fetch(topic, partition, next[partition]!, { maxRecords: 500 });
          for (const record of fetched.records) {
            const value = record.value?.toString('utf8') ?? '<null>';
            if (record.offset < next[partition]!)
              violations.push(`reader: partition ${partition} went back from ${next[partition]} to ${record.offset}`);
            else if (record.offset > next[partition]!) skipped.push({ partition, from: next[partition]!, to: record.offset });
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
  const tailView: ReadRecord[] = [];
  const tailingCommitted = async () => {
    const next = new Array<number>(partitions).fill(0);
    while (running) {
      for (let partition = 0; partition < partitions; partition++) {
        try {
          const fetched = await reader.fetch(topic, partition, next[partition]!, { maxRecords: 500, isolation: 'read_committed' });
          for (const record of fetched.records)
            tailView.push({ partition, offset: record.offset, value: record.value?.toString('utf8') ?? null });
          next[partition] = fetched.nextOffset;
        } catch (error) {
          if (!(error instanceof SpoolError && error.retriable)) violations.push(`read_committed reader: ${String(error)}`);
        }
      }
      await sleep(5);
    }
  };

  // A compacted topic's offsets have gaps once cleaned: the tailing readers' checks are the plain log's.
  const background = options.compacted ? [racing(), maintaining()] : [racing(), maintaining(), tailing(), tailingCommitted(), sweeping()];
  const producers = options.compacted
    ? ['compacted-0', 'compacted-1', 'compacted-2'].map((name) => compactedProducer(name))
    : [
        ...['records-0', 'records-1', 'records-2'].map((name) => recordsProducer(name)),
        batchProducer('idempotent-0', true),
        batchProducer('idempotent-1', true),
        batchProducer('idempotent-2', true),
        batchProducer('batches-0', false),
        ...transactionalIds.map((id) => transactionalProducer(id)),
        droppingProducer(),
      ];
  const outcome = await Promise.allSettled(producers);
  running = false;
  await Promise.allSettled(background);
  for (const result of outcome) if (result.status === 'rejected') violations.push(`a producer gave up: ${String(result.reason)}`);

  for (const each of plans) each.active = false;
  for (const log of [...logs, racer, reader, maintainer]) await log.close();
  if (!options.compacted) await endTransactions(bare, topic, violations);
  // What the faults left, checked and counted before anything else runs.
  maintenance.segmentsCompacted = await compactedSegments(bare.metadata, topic, partitions);
  /** The log read back with its markers, and read_committed, against what producers were told and readers saw. */
  const checkTransactionalLog = async () => {
    const readBack = new Log({ stores: bare });
    const stored = await readPartitionsWithMarkers(readBack, topic, partitions);
    const view = await readCommitted(readBack, topic, partitions);
    const log = checkLog(acks, stored, sent, new Set(['idempotent-0', 'idempotent-1', 'idempotent-2', ...transactionalIds, droppedId]));
    const transactionsChecked = checkTransactions('the read_committed reader', transactions, view, stored);
    return {
      log: log.figures,
      transactions: transactionsChecked.figures,
      violations: [
        ...log.violations,
        ...transactionsChecked.violations,
        ...checkReadCommitted('the read_committed reader', view, stored, { complete: true }),
        ...checkReadCommitted('the tailing read_committed reader', tailView, stored),
        ...checkSkipped(skipped, stored),
      ],
    };
  };
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
  const checked: {
    log?: LogFigures;
    compacted?: StorageFaultsReport['compacted'];
    transactions?: TransactionFigures;
    violations: string[];
  } = underFaults
    ? { compacted: underFaults.figures, violations: [...underFaults.violations, ...settled!.violations] }
    : await checkTransactionalLog();
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
    figures: checked.log,
    tailed,
    tailedCommitted: tailView.length,
    transactions: checked.transactions && {
      ...checked.transactions,
      failed: transactionFailures,
      droppedSent,
      ...(droppedError === undefined ? {} : { droppedError }),
      droppedAborted,
    },
    maintenance,
    compacted: checked.compacted,
    violations: [...violations, ...checked.violations],
  };
}

/**
 * Once the faults are over, every transactional id gets a last InitProducerId (which aborts what
 * its producer left open and carries on an end cut short) and a sweep runs: the last stable offset
 * must then be at the high watermark.
 */
async function endTransactions(bare: Stores, topic: string, violations: string[]): Promise<void> {
  const log = new Log({ stores: bare });
  const coordinator = new TransactionCoordinator(new TransactionStore(bare.metadata, () => log.allocateProducerId()), log, noOffsets, {
    stalledAfterMs: 0,
  });
  for (const id of transactionalIds)
    await retrying({}, Math.random, () => coordinator.initProducerId(id, { timeoutMs: 60_000, producerId: -1, epoch: -1 }));
  await coordinator.sweep();
  for (let partition = 0; partition < partitions; partition++) {
    const { lastStable, latest } = await log.offsetRange(topic, partition);
    if (lastStable !== latest)
      violations.push(
        `partition ${partition}: the last stable offset is ${lastStable}, not the high watermark ${latest}, with every transaction ended`,
      );
  }
  await log.close();
}

/** Each offset the tailing reader skipped must hold a transaction marker in the log as read back. */
function checkSkipped(skipped: readonly { partition: number; from: number; to: number }[], stored: readonly (readonly StoredRecord[])[]) {
  const violations: string[] = [];
  for (const { partition, from, to } of skipped) {
    for (let offset = from; offset < to; offset++) {
      const record = stored[partition]?.[offset];
      if (record?.control === undefined)
        violations.push(
          `reader: skipped ${partition}/${offset}, which holds ${record === undefined ? 'nothing' : record.value}, not a marker`,
        );
    }
  }
  return violations.slice(0, 25);
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
