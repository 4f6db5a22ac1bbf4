/**
 * WriteTxnMarkers over the wire (lib/kafka/handlers/write-txn-markers.ts, Log.abortTransaction): an
 * operator's abort of one partition of an open transaction, as `kafka-transactions.sh abort` sends
 * it, answered as Apache Kafka 3.9.1 and 4.4.0 answer it (test/interop/kafka-tools.test.ts runs the
 * tool itself against both): the abort and what the producer's transaction does after it, a repeat,
 * stale epochs, unknown partitions, refused input and a principal without the cluster's admin
 * permission, each leaving the partition as it was when refused. Also the marker version an abort
 * is written at (`operatorAbortVersion`), which must sit between the coordinator's.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../lib/format/index.js';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import { AddPartitionsToTxn } from '../../lib/kafka/protocol/messages/add-partitions-to-txn.js';
import { DescribeProducers } from '../../lib/kafka/protocol/messages/describe-producers.js';
import { EndTxn } from '../../lib/kafka/protocol/messages/end-txn.js';
import { Fetch } from '../../lib/kafka/protocol/messages/fetch.js';
import { InitProducerId } from '../../lib/kafka/protocol/messages/init-producer-id.js';
import { Produce } from '../../lib/kafka/protocol/messages/produce.js';
import { WriteTxnMarkers, type WritableTxnMarker } from '../../lib/kafka/protocol/messages/write-txn-markers.js';
import type { Encodable } from '../../lib/kafka/protocol/runtime.js';
import { operatorAbortVersion } from '../../lib/log/index.js';
import { useWireHarness } from './support/wire-harness.js';

const kafka = await useWireHarness({ log: { defaultPartitions: 2 } });
const { log, withKey } = kafka;
const client = await kafka.connect();
const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

interface Producer {
  readonly transactionalId: string;
  readonly producerId: number;
  readonly producerEpoch: number;
  /** The next sequence number, by topic and partition. */
  readonly sequences: Map<string, number>;
}

/** A transactional producer at epoch `epoch` (InitProducerId again bumps it). */
async function transactionalProducer(epoch = 0): Promise<Producer> {
  const transactionalId = unique('tx');
  for (;;) {
    const init = await client.callGenerated(InitProducerId, 4, {
      transactionalId,
      transactionTimeoutMs: 60_000,
      producerId: -1,
      producerEpoch: -1,
    });
    expect(init.errorCode).toBe(KafkaErrors.NONE);
    if (init.producerEpoch === epoch) return { transactionalId, producerId: init.producerId, producerEpoch: epoch, sequences: new Map() };
  }
}

/** Adds the partition to the producer's transaction (TV1), then produces `values` into it. */
async function produceInTransaction(producer: Producer, topic: string, partition: number, values: readonly string[]): Promise<void> {
  const added = await client.callGenerated(AddPartitionsToTxn, 3, {
    v3AndBelowTransactionalId: producer.transactionalId,
    v3AndBelowProducerId: producer.producerId,
    v3AndBelowProducerEpoch: producer.producerEpoch,
    v3AndBelowTopics: [{ name: topic, partitions: [partition] }],
  });
  expect(added.resultsByTopicV3AndBelow[0]!.resultsByPartition[0]!.partitionErrorCode).toBe(KafkaErrors.NONE);
  const records = encodeRecordBatch(
    values.map((value) => ({ key: null, value: Buffer.from(value) })),
    {
      producerId: producer.producerId,
      producerEpoch: producer.producerEpoch,
      baseSequence: producer.sequences.get(`${topic}/${partition}`) ?? 0,
      isTransactional: true,
    },
  );
  const produced = await client.callGenerated(Produce, 11, {
    transactionalId: producer.transactionalId,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
  });
  expect(produced.responses[0]!.partitionResponses[0]!.errorCode).toBe(KafkaErrors.NONE);
  producer.sequences.set(`${topic}/${partition}`, (producer.sequences.get(`${topic}/${partition}`) ?? 0) + values.length);
}

/** The partition as a read_committed reader sees it: high watermark, last stable offset, aborted transactions. */
async function committedView(topic: string, partition: number) {
  const answer = await client.callGenerated(Fetch, 11, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    isolationLevel: 1,
    topics: [{ topic, partitions: [{ partition, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
  });
  const { highWatermark, lastStableOffset, abortedTransactions } = answer.responses[0]!.partitions[0]!;
  return { highWatermark, lastStableOffset, abortedTransactions };
}

/** The producer's row of DescribeProducers: epoch, coordinator epoch, open transaction's first offset. */
async function producerRow(topic: string, partition: number, producerId: number) {
  const answer = await client.callGenerated(DescribeProducers, 0, { topics: [{ name: topic, partitionIndexes: [partition] }] });
  const row = answer.topics[0]!.partitions[0]!.activeProducers.find((p) => p.producerId === producerId);
  return (
    row && { producerEpoch: row.producerEpoch, coordinatorEpoch: row.coordinatorEpoch, currentTxnStartOffset: row.currentTxnStartOffset }
  );
}

/** One marker, as AbortTransactionHandler builds it (v2: transaction version 0 unless given); the error of each partition named. */
async function writeMarker(
  marker: Partial<Encodable<WritableTxnMarker>> & { readonly producerId: number; readonly producerEpoch: number },
  topic: string,
  partitions: readonly number[],
  version = 1,
  via = client,
): Promise<number[]> {
  const answer = await via.callGenerated(WriteTxnMarkers, version, {
    markers: [{ transactionResult: false, coordinatorEpoch: 0, ...marker, topics: [{ name: topic, partitionIndexes: partitions }] }],
  });
  expect(answer.markers).toHaveLength(1);
  expect(answer.markers[0]!.producerId).toBe(marker.producerId);
  expect(answer.markers[0]!.topics.map((t) => t.name)).toEqual([topic]);
  const answered = answer.markers[0]!.topics[0]!.partitions;
  expect(answered.map((p) => p.partitionIndex)).toEqual(partitions);
  return answered.map((p) => p.errorCode);
}

/** A topic of two partitions with the producer's transaction open on partition 0 (records 0-2) and partition 1 (record 0). */
async function openTransaction(epoch = 0) {
  const topic = unique('t');
  await log.createTopic(topic, 2);
  const producer = await transactionalProducer(epoch);
  await produceInTransaction(producer, topic, 0, ['a0', 'a1', 'a2']);
  await produceInTransaction(producer, topic, 1, ['b0']);
  return { topic, producer };
}

describe('kafka > WriteTxnMarkers', () => {
  it("aborts one partition's part of an open transaction; the producer goes on and its commit closes what it wrote since", async () => {
    const { topic, producer } = await openTransaction();
    const { producerId, producerEpoch } = producer;
    expect(await committedView(topic, 0)).toEqual({ highWatermark: 3, lastStableOffset: 0, abortedTransactions: [] });
    expect(await producerRow(topic, 0, producerId)).toEqual({ producerEpoch, coordinatorEpoch: -1, currentTxnStartOffset: 0 });

    // The coordinator epoch is -1 in the request: Kafka's tool sends 0 for a producer with no marker yet, Kafka accepts -1 then too.
    expect(await writeMarker({ producerId, producerEpoch, coordinatorEpoch: -1 }, topic, [0])).toEqual([KafkaErrors.NONE]);
    // The marker at 3 closed the transaction there: its records are aborted, the last stable offset is past them.
    const abortedView = { highWatermark: 4, lastStableOffset: 4, abortedTransactions: [{ producerId, firstOffset: 0 }] };
    expect(await committedView(topic, 0)).toEqual(abortedView);
    expect(await producerRow(topic, 0, producerId)).toEqual({ producerEpoch, coordinatorEpoch: 0, currentTxnStartOffset: -1 });
    // Partition 1 is untouched: still open.
    expect(await committedView(topic, 1)).toEqual({ highWatermark: 1, lastStableOffset: 0, abortedTransactions: [] });

    // The coordinator still has the transaction open: the producer writes to partition 0 again, then commits.
    await produceInTransaction(producer, topic, 0, ['after']);
    expect(await producerRow(topic, 0, producerId)).toMatchObject({ currentTxnStartOffset: 4 });
    const ended = await client.callGenerated(EndTxn, 3, {
      transactionalId: producer.transactionalId,
      producerId,
      producerEpoch,
      committed: true,
    });
    expect(ended.errorCode).toBe(KafkaErrors.NONE);
    // The coordinator's COMMIT marker (at 5) was written, not skipped against the abort's: the record after the abort is committed.
    expect(await committedView(topic, 0)).toEqual({ ...abortedView, highWatermark: 6, lastStableOffset: 6 });
    expect(await committedView(topic, 1)).toEqual({ highWatermark: 2, lastStableOffset: 2, abortedTransactions: [] });
    const read = await log.fetch(topic, 0, 0, { isolation: 'read_committed' });
    expect(read.records.map((r) => [r.offset, r.value?.toString()])).toEqual([[4, 'after']]);
  });

  it('answers a repeat, and an abort with nothing open, as Kafka does: a marker that closes nothing', async () => {
    const { topic, producer } = await openTransaction();
    const { producerId, producerEpoch } = producer;
    expect(await writeMarker({ producerId, producerEpoch }, topic, [0])).toEqual([KafkaErrors.NONE]);
    const once = await committedView(topic, 0);
    expect(once).toEqual({ highWatermark: 4, lastStableOffset: 4, abortedTransactions: [{ producerId, firstOffset: 0 }] });
    for (const highWatermark of [5, 6]) {
      expect(await writeMarker({ producerId, producerEpoch }, topic, [0])).toEqual([KafkaErrors.NONE]);
      // One more marker (Kafka's offsets), no new aborted transaction, still nothing open.
      expect(await committedView(topic, 0)).toEqual({ ...once, highWatermark, lastStableOffset: highWatermark });
      expect(await producerRow(topic, 0, producerId)).toEqual({ producerEpoch, coordinatorEpoch: 0, currentTxnStartOffset: -1 });
    }
    // A producer the partition has never seen: Kafka writes the marker too, and describes the producer after it.
    expect(await writeMarker({ producerId: 987_654, producerEpoch: 2 }, topic, [1])).toEqual([KafkaErrors.NONE]);
    expect(await producerRow(topic, 1, 987_654)).toEqual({ producerEpoch: 2, coordinatorEpoch: 0, currentTxnStartOffset: -1 });
    expect(await committedView(topic, 1)).toEqual({ highWatermark: 2, lastStableOffset: 0, abortedTransactions: [] });
  });

  it('refuses a stale producer epoch (INVALID_PRODUCER_EPOCH; TV2: one not newer) and an older coordinator epoch, changing nothing', async () => {
    const { topic, producer } = await openTransaction(1);
    const { producerId } = producer;
    const before = await committedView(topic, 0);
    const unchanged = async () => {
      expect(await committedView(topic, 0)).toEqual(before);
      expect(await producerRow(topic, 0, producerId)).toEqual({ producerEpoch: 1, coordinatorEpoch: -1, currentTxnStartOffset: 0 });
    };
    expect(await writeMarker({ producerId, producerEpoch: 0 }, topic, [0])).toEqual([KafkaErrors.INVALID_PRODUCER_EPOCH]);
    await unchanged();
    // v2 with transaction version 2: a TV2 marker must carry a newer epoch than the producer's (KIP-1228), as Kafka 4.x checks.
    expect(await writeMarker({ producerId, producerEpoch: 1, transactionVersion: 2 }, topic, [0], 2)).toEqual([
      KafkaErrors.INVALID_PRODUCER_EPOCH,
    ]);
    await unchanged();
    // (v2 with the transaction version the admin client sends, 0: the same epoch is accepted.)
    expect(await writeMarker({ producerId, producerEpoch: 1 }, topic, [0], 2)).toEqual([KafkaErrors.NONE]);
    expect(await producerRow(topic, 0, producerId)).toEqual({ producerEpoch: 1, coordinatorEpoch: 0, currentTxnStartOffset: -1 });
    // Once a marker is there (coordinator epoch 0), an older coordinator epoch is fenced.
    const after = await committedView(topic, 0);
    expect(await writeMarker({ producerId, producerEpoch: 1, coordinatorEpoch: -1 }, topic, [0])).toEqual([
      KafkaErrors.TRANSACTION_COORDINATOR_FENCED,
    ]);
    expect(await committedView(topic, 0)).toEqual(after);
    // A newer epoch is taken, as Kafka's leader takes it: the producer's older one is then stale there.
    expect(await writeMarker({ producerId, producerEpoch: 4 }, topic, [0])).toEqual([KafkaErrors.NONE]);
    expect(await producerRow(topic, 0, producerId)).toMatchObject({ producerEpoch: 4 });
    expect(await writeMarker({ producerId, producerEpoch: 1 }, topic, [0])).toEqual([KafkaErrors.INVALID_PRODUCER_EPOCH]);
  });

  it('answers UNKNOWN_TOPIC_OR_PARTITION for a topic or partition that does not exist, each partition on its own', async () => {
    const { topic, producer } = await openTransaction();
    const { producerId, producerEpoch } = producer;
    expect(await writeMarker({ producerId, producerEpoch }, unique('missing'), [0])).toEqual([KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION]);
    const before = await committedView(topic, 1);
    expect(await writeMarker({ producerId, producerEpoch }, topic, [2, -1, 0])).toEqual([
      KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION,
      KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION,
      KafkaErrors.NONE,
    ]);
    expect(await producerRow(topic, 0, producerId)).toMatchObject({ currentTxnStartOffset: -1 });
    expect(await committedView(topic, 1)).toEqual(before);
  });

  it('refuses a COMMIT marker, a negative producer id or epoch (INVALID_REQUEST) and a principal without admin, changing nothing', async () => {
    const { topic, producer } = await openTransaction();
    const { producerId, producerEpoch } = producer;
    const before = await committedView(topic, 0);
    const unchanged = async () => {
      expect(await committedView(topic, 0)).toEqual(before);
      expect(await producerRow(topic, 0, producerId)).toEqual({ producerEpoch, coordinatorEpoch: -1, currentTxnStartOffset: 0 });
    };
    // A COMMIT would make the records visible without the coordinator's decision: Spool's coordinator writes its own markers.
    expect(await writeMarker({ producerId, producerEpoch, transactionResult: true }, topic, [0])).toEqual([KafkaErrors.INVALID_REQUEST]);
    await unchanged();
    expect(await writeMarker({ producerId: -1, producerEpoch }, topic, [0])).toEqual([KafkaErrors.INVALID_REQUEST]);
    expect(await writeMarker({ producerId, producerEpoch: -1 }, topic, [0])).toEqual([KafkaErrors.INVALID_REQUEST]);
    await unchanged();
    await expect(log.abortTransaction(topic, 0, { producerId: -1, producerEpoch, coordinatorEpoch: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'the producer id must be an integer >= 0, got -1',
    });
    await expect(log.abortTransaction(topic, 0, { producerId, producerEpoch: -1, coordinatorEpoch: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'the producer epoch must be an integer in [0, 32767], got -1',
    });
    // Kafka requires CLUSTER_ACTION: every partition answers CLUSTER_AUTHORIZATION_FAILED, under its producer id.
    await withKey('topic-admin', [{ topics: `${topic.split('-')[0]}-*`, actions: ['admin'] }], async (c) => {
      expect(await writeMarker({ producerId, producerEpoch }, topic, [0, 1], 1, c)).toEqual([
        KafkaErrors.CLUSTER_AUTHORIZATION_FAILED,
        KafkaErrors.CLUSTER_AUTHORIZATION_FAILED,
      ]);
    });
    await unchanged();
    await withKey('service-admin', [{ topics: '*', actions: ['admin'] }], async (c) => {
      expect(await writeMarker({ producerId, producerEpoch }, topic, [0], 1, c)).toEqual([KafkaErrors.NONE]);
    });
  });

  it('writes an abort at a version strictly between the stored one and the next coordinator version, never the same one twice', () => {
    expect(operatorAbortVersion(-1)).toBe(-0.5); // no marker yet: below the coordinator's first (>= 0)
    expect(operatorAbortVersion(7)).toBe(7.5);
    const versions: number[] = [];
    for (let stored: number | undefined = 7; stored !== undefined; stored = operatorAbortVersion(stored)) versions.push(stored);
    expect(versions.length).toBeGreaterThan(40); // that many aborts of one partition between two coordinator markers
    for (let i = 1; i < versions.length; i++) {
      expect(versions[i]).toBeGreaterThan(versions[i - 1]!);
      expect(versions[i]).toBeLessThan(8);
    }
    expect(operatorAbortVersion(versions.at(-1)!)).toBeUndefined();
  });
});
