/**
 * What one flush costs in AWS requests: object PUTs, DynamoDB calls and write units, per flush and per
 * partition touched, against DynamoDB Local and s3rver. Fixed workload: for each partition count, 20
 * flushes each touching every partition once (1 KiB records), after one warm-up flush (the first
 * commit of a partition reads its state once).
 *
 * DynamoDB Local reports no consumed capacity for TransactWriteItems, so write units are computed
 * from the items actually written, by DynamoDB's published rules: an item costs ceil(size / 1 KB)
 * units, the larger of its old and new size for an update, doubled inside a transaction. Item sizes
 * are the sum of attribute-name and value bytes (numbers: 1 byte per 2 significant digits + 1).
 *
 *   npm run bench -- commit-cost
 */
import { loadConfig } from '../lib/config.js';
import { openRuntime } from '../lib/runtime.js';
import type { WriteOp } from '../lib/storage/ports.js';
import { startLocalAws } from '../test/support/services.js';
import { itemBytes } from './support/counting.js';

const flushes = 20;
const partitionCounts = [1, 4, 16, 50];

const aws = await startLocalAws();
try {
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const runtime = await openRuntime(
    { ...loadConfig({}), objectStoreUrl: 's3://spool-bench/data', metadataStoreUrl: 'dynamodb://spool-bench', batchIntervalMs: 1000 },
    {
      locations: {
        s3ClientConfig: { endpoint: aws.s3Endpoint, region: 'us-east-1', credentials, forcePathStyle: true },
        dynamoClientConfig: { endpoint: aws.dynamoEndpoint, region: 'us-east-1', credentials },
      },
    },
  );
  const metadata = runtime.stores.metadata;
  const log = runtime.log;
  const written = { transactions: 0, items: 0, writeUnits: 0 };
  const transact = metadata.transact.bind(metadata);
  metadata.transact = async (ops: readonly WriteOp[]) => {
    const olds = await Promise.all(ops.map((op) => metadata.get(op.key)));
    await transact(ops);
    const news = await Promise.all(ops.map((op) => metadata.get(op.key)));
    written.transactions++;
    written.items += ops.length;
    ops.forEach((op, i) => {
      const bytes = Math.max(itemBytes(op.key, olds[i]?.attrs), itemBytes(op.key, news[i]?.attrs));
      written.writeUnits += 2 * Math.ceil(bytes / 1024);
    });
  };
  console.log(`commit cost, ${flushes} flushes per row, DynamoDB Local + s3rver, ${new Date().toISOString()}`);
  console.log(
    '| partitions per flush | object PUTs | TransactWriteItems | items written | WCU | WCU per partition | reads on commit path |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const partitions of partitionCounts) {
    const topic = `cost-${partitions}`;
    await log.createTopic(topic, partitions);
    const flushOnce = async () => {
      await log.produce(
        topic,
        Array.from({ length: partitions }, (_, partition) => ({ key: null, value: Buffer.alloc(1024, 1), partition })),
      );
    };
    await flushOnce(); // warm-up: learns each partition's end offset
    const before = { ...written, puts: log.internals.producer.stats.objectsPut, reads: log.internals.committer.stats.partitionReads };
    for (let i = 0; i < flushes; i++) await flushOnce();
    const puts = (log.internals.producer.stats.objectsPut - before.puts) / flushes;
    const tx = (written.transactions - before.transactions) / flushes;
    const items = (written.items - before.items) / flushes;
    const wcu = (written.writeUnits - before.writeUnits) / flushes;
    const reads = (log.internals.committer.stats.partitionReads - before.reads) / flushes;
    console.log(`| ${partitions} | ${puts} | ${tx} | ${items} | ${wcu} | ${wcu / partitions} | ${reads} |`);
  }
  await runtime.close();
} finally {
  await aws.stop();
}
