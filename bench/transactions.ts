/**
 * What a Kafka transaction costs and how long it takes, through the modelled stores (S3 Standard and
 * S3 Express One Zone, each with DynamoDB: bench/support/latency-model.ts) and the embedded store
 * unmodelled as the floor. The engine's own steps, as the Kafka listener runs them for a transactional
 * producer (lib/kafka/handlers/transactions.ts): AddPartitionsToTxn, one transactional batch of 10
 * records of 1 KiB per partition (its first-batch check against the coordinator, its commit), a
 * TxnOffsetCommit of one group offset, EndTxn (the decision, a marker per partition, the offsets, the
 * completion). One producer, transactions one after another, 1, 4 and 16 partitions each; 30
 * transactions per row after 3 of warm-up. Reported: the whole transaction and EndTxn alone (p50,
 * p99), requests and write units per transaction, and dollars per million transactions at list prices
 * (lib/cost.ts). Network time to the agent is not included.
 *
 *   npm run bench -- transactions
 */
import { randomUUID } from 'node:crypto';
import { encodeRecordBatch } from '../lib/format/index.js';
import { commitTransactionalOffsets } from '../lib/groups/classic.js';
import { transactionKey } from '../lib/keys.js';
import { Log } from '../lib/log/index.js';
import { openStores } from '../lib/storage/open.js';
import { TransactionCoordinator } from '../lib/transactions/coordinator.js';
import { TransactionStore } from '../lib/transactions/store.js';
import { tempDir } from '../test/support/stores.js';
import { counting, difference, dollars, snapshot, type Counts } from './support/counting.js';
import { describeModel, modelledStores, storageModels, type StorageModelName } from './support/latency-model.js';

const partitionCounts = [1, 4, 16];
const transactions = 30;
const warmUp = 3;
const recordsPerBatch = 10;
const recordBytes = 1024;
const models: readonly (StorageModelName | 'embedded')[] = ['embedded', 's3express', 's3'];

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

console.log(
  `transactions, ${new Date().toISOString()}, Node ${process.version}; ${transactions} transactions per row after ${warmUp} of warm-up; ${recordsPerBatch} records of ${recordBytes} B per partition; one group offset each`,
);
for (const [name, model] of Object.entries(storageModels))
  console.log(`model ${name}: ${describeModel(model.objects)}; ${describeModel(model.metadata)}; log-normal, seed 42`);
console.log(
  '| model | partitions | transaction p50 / p99 ms | EndTxn p50 / p99 ms | S3 PUTs | DynamoDB calls | RCU | WCU | $ per million transactions |',
);
console.log('|---|---|---|---|---|---|---|---|---|');

for (const model of models) {
  for (const partitions of partitionCounts) {
    const dir = tempDir('spool-bench-txn-');
    const opened = await openStores({ dataDir: dir }, { createIfMissing: true });
    const stores = counting(model === 'embedded' ? opened : modelledStores(opened, model, 42));
    const log = new Log({ stores, producer: { batchIntervalMs: 10 } });
    const coordinator = new TransactionCoordinator(new TransactionStore(stores.metadata, () => log.allocateProducerId()), log, {
      commitTransactionalOffsets: (group, offsets, decision) =>
        commitTransactionalOffsets(
          stores.metadata,
          group,
          offsets.map((o) => ({ key: `${o.topic}/${o.partition}`, topicId: o.topicId, offset: o.offset, metadata: o.metadata })),
          Date.now(),
          { key: transactionKey(decision.transactionalId), version: decision.version },
        ),
      abortTransactionalOffsets: async () => {},
    });
    const topic = `txn-${randomUUID().slice(0, 8)}`;
    const { id: topicId } = await log.createTopic(topic, partitions);
    const transactionalId = `bench-${randomUUID()}`;
    let identity = await coordinator.initProducerId(transactionalId, { timeoutMs: 60_000, producerId: -1, epoch: -1 });
    const sequences = new Array<number>(partitions).fill(0);
    const value = Buffer.alloc(recordBytes, 'x');
    const whole: number[] = [];
    const ends: number[] = [];
    let measured: Counts | undefined;
    for (let n = 0; n < warmUp + transactions; n++) {
      if (n === warmUp) measured = snapshot(stores);
      const startedMs = performance.now();
      await coordinator.add(transactionalId, identity, {
        partitions: Array.from({ length: partitions }, (_, partition) => ({ topic, partition })),
        groups: ['bench'],
      });
      await Promise.all(
        Array.from({ length: partitions }, async (_, partition) => {
          const batch = encodeRecordBatch(
            Array.from({ length: recordsPerBatch }, () => ({ key: null, value, timestampMs: Date.now() })),
            { producerId: identity.producerId, producerEpoch: identity.epoch, baseSequence: sequences[partition]!, isTransactional: true },
          );
          sequences[partition]! += recordsPerBatch;
          const { done } = await log.appendBatches(topic, partition, batch, {
            transaction: {
              transactionalId,
              verify: (t, p, producerId, epoch) =>
                coordinator.verify(transactionalId, { producerId, epoch }, { topic: t, partition: p }, 'check'),
            },
          });
          await done;
        }),
      );
      await coordinator.stageOffsets(
        transactionalId,
        identity,
        'bench',
        [{ group: 'bench', topic, partition: 0, topicId, offset: n, metadata: null }],
        false,
      );
      const endingMs = performance.now();
      identity = await coordinator.end(transactionalId, { ...identity, commit: true, tv2: false });
      const endedMs = performance.now();
      if (n >= warmUp) {
        whole.push(endedMs - startedMs);
        ends.push(endedMs - endingMs);
      }
    }
    const counts = difference(snapshot(stores), measured!);
    const per = (value: number) => (value / transactions).toFixed(1);
    const usd = dollars(counts).total / transactions;
    const calls = counts.metadata.gets + counts.metadata.queries + counts.metadata.writes + counts.metadata.transactions;
    console.log(
      `| ${model} | ${partitions} | ${percentile(whole, 50).toFixed(0)} / ${percentile(whole, 99).toFixed(0)} | ${percentile(ends, 50).toFixed(0)} / ${percentile(ends, 99).toFixed(0)} | ${per(counts.objects.puts)} | ${per(calls)} | ${per(counts.metadata.readUnits)} | ${per(counts.metadata.writeUnits)} | ${(usd * 1e6).toFixed(2)} |`,
    );
    await log.close();
    await opened.objects.close();
    await opened.metadata.close();
  }
}
