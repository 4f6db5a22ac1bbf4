/**
 * The transaction APIs over the wire (lib/kafka/handlers/transactions.ts), version by version where
 * the answer changes: AddPartitionsToTxn's per-partition errors, the fenced producer's error as each
 * version says it, TxnOffsetCommit's offsets held until EndTxn (OffsetFetch require_stable answers
 * UNSTABLE_OFFSET_COMMIT meanwhile), DescribeTransactions and ListTransactions, and Fetch's
 * aborted-transaction list (null under read_uncommitted, as Kafka's).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../lib/format/index.js';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import { AddOffsetsToTxn } from '../../lib/kafka/protocol/messages/add-offsets-to-txn.js';
import { AddPartitionsToTxn } from '../../lib/kafka/protocol/messages/add-partitions-to-txn.js';
import { DescribeTransactions } from '../../lib/kafka/protocol/messages/describe-transactions.js';
import { EndTxn } from '../../lib/kafka/protocol/messages/end-txn.js';
import { Fetch } from '../../lib/kafka/protocol/messages/fetch.js';
import { InitProducerId } from '../../lib/kafka/protocol/messages/init-producer-id.js';
import { ListTransactions } from '../../lib/kafka/protocol/messages/list-transactions.js';
import { OffsetFetch } from '../../lib/kafka/protocol/messages/offset-fetch.js';
import { Produce } from '../../lib/kafka/protocol/messages/produce.js';
import { TxnOffsetCommit } from '../../lib/kafka/protocol/messages/txn-offset-commit.js';
import { offsetsPartitionOf } from '../../lib/kafka/handlers/transactions.js';
import { stableClassicMember, useWireHarness } from './support/wire-harness.js';
import { OffsetCommit } from '../../lib/kafka/protocol/messages/offset-commit.js';

const kafka = await useWireHarness({ log: { defaultPartitions: 2 } });
const { log } = kafka;
const client = await kafka.connect();
const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

/** InitProducerId as a client sends it: again while the open transaction it fenced is being aborted (CONCURRENT_TRANSACTIONS). */
async function producer(transactionalId: string, expectFencing = false) {
  const init = () =>
    client.callGenerated(InitProducerId, 5, { transactionalId, transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
  let answer = await init();
  if (expectFencing) {
    expect(answer.errorCode).toBe(KafkaErrors.CONCURRENT_TRANSACTIONS);
    answer = await init(); // the abort was carried out before the first answer
  }
  expect(answer.errorCode).toBe(KafkaErrors.NONE);
  return { producerId: answer.producerId, producerEpoch: answer.producerEpoch };
}

const addPartitions = (
  transactionalId: string,
  id: { producerId: number; producerEpoch: number },
  topic: string,
  partitions: number[],
  version = 3,
) =>
  client.callGenerated(AddPartitionsToTxn, version, {
    v3AndBelowTransactionalId: transactionalId,
    v3AndBelowProducerId: id.producerId,
    v3AndBelowProducerEpoch: id.producerEpoch,
    v3AndBelowTopics: [{ name: topic, partitions }],
  });

const fetchOffsets = async (group: string, topic: string, requireStable: boolean) =>
  (
    await client.callGenerated(OffsetFetch, 8, {
      groups: [{ groupId: group, topics: [{ name: topic, partitionIndexes: [0] }] }],
      requireStable,
    })
  ).groups[0]!.topics[0]!.partitions[0]!;

describe('kafka > transactions', () => {
  it('AddPartitionsToTxn answers per partition, and a fenced producer as its version can say it', async () => {
    const topic = unique('t');
    await log.createTopic(topic, 2);
    const id = unique('tx');
    const first = await producer(id);
    const added = await addPartitions(id, first, topic, [0, 1]);
    expect(added.resultsByTopicV3AndBelow[0]!.resultsByPartition.map((p) => p.partitionErrorCode)).toEqual([0, 0]);
    expect((await producer(id, true)).producerEpoch).toBe(first.producerEpoch + 2); // a new instance: the open transaction aborted under a bump, then its own
    expect((await addPartitions(id, first, topic, [0])).resultsByTopicV3AndBelow[0]!.resultsByPartition[0]!.partitionErrorCode).toBe(
      KafkaErrors.PRODUCER_FENCED,
    );
    expect((await addPartitions(id, first, topic, [0], 1)).resultsByTopicV3AndBelow[0]!.resultsByPartition[0]!.partitionErrorCode).toBe(
      KafkaErrors.INVALID_PRODUCER_EPOCH,
    );
    const ended = await client.callGenerated(EndTxn, 1, { transactionalId: id, ...first, committed: true });
    expect(ended.errorCode).toBe(KafkaErrors.INVALID_PRODUCER_EPOCH);
    const unknown = await addPartitions(unique('tx'), first, topic, [0]);
    expect(unknown.resultsByTopicV3AndBelow[0]!.resultsByPartition[0]!.partitionErrorCode).toBe(KafkaErrors.INVALID_PRODUCER_ID_MAPPING);
  });

  it("refuses as Kafka's ACLs would: transactional ids to a key that may not write every topic, a group to one that may not read it", async () => {
    const suffix = randomUUID().slice(0, 6);
    const mine = `mine${suffix}-t`;
    await log.createTopic(mine, 1);
    const id = unique('tx');
    const identity = await producer(id);
    const body = { transactionalId: id, ...identity };
    const offsetCommit = (groupId: string) => ({
      ...body,
      groupId,
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      topics: [{ name: mine, partitions: [{ partitionIndex: 0, committedOffset: 1, committedLeaderEpoch: -1, committedMetadata: null }] }],
    });
    // Write on its own topics only: no transactional id (it could end or fence another key's transactions).
    const scoped = [
      { topics: `mine${suffix}-*`, actions: ['read', 'write'] },
      { groups: '*', actions: ['read'] },
    ] as const;
    await kafka.withKey(`scoped${suffix}`, scoped, async (c) => {
      const refused = KafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
      const init = await c.callGenerated(InitProducerId, 5, {
        transactionalId: id,
        transactionTimeoutMs: 60_000,
        producerId: -1,
        producerEpoch: -1,
      });
      expect(init.errorCode).toBe(refused);
      const added = await c.callGenerated(AddPartitionsToTxn, 3, {
        v3AndBelowTransactionalId: id,
        v3AndBelowProducerId: identity.producerId,
        v3AndBelowProducerEpoch: identity.producerEpoch,
        v3AndBelowTopics: [{ name: mine, partitions: [0] }],
      });
      expect(added.resultsByTopicV3AndBelow[0]!.resultsByPartition[0]!.partitionErrorCode).toBe(refused);
      expect((await c.callGenerated(AddOffsetsToTxn, 3, { ...body, groupId: 'g' })).errorCode).toBe(refused);
      expect(await c.callGenerated(EndTxn, 3, { ...body, committed: false })).toMatchObject({ errorCode: refused, producerId: -1 });
      expect((await c.callGenerated(TxnOffsetCommit, 3, offsetCommit('g'))).topics[0]!.partitions[0]!.errorCode).toBe(refused);
      const described = await c.callGenerated(DescribeTransactions, 0, { transactionalIds: [id] });
      expect(described.transactionStates[0]!.errorCode).toBe(refused);
    });
    // Write on every topic, read on its own groups only.
    const writer = [
      { topics: '*', actions: ['read', 'write'] },
      { groups: `mine${suffix}-*`, actions: ['read'] },
    ] as const;
    await kafka.withKey(`writer${suffix}`, writer, async (c) => {
      const addedGroup = await c.callGenerated(AddOffsetsToTxn, 3, { ...body, groupId: `theirs${suffix}-g` });
      expect(addedGroup.errorCode).toBe(KafkaErrors.GROUP_AUTHORIZATION_FAILED);
      const staged = await c.callGenerated(TxnOffsetCommit, 3, offsetCommit(`theirs${suffix}-g`));
      expect(staged.topics[0]!.partitions[0]!.errorCode).toBe(KafkaErrors.GROUP_AUTHORIZATION_FAILED);
    });
    // Nothing refused changed the transaction: still empty, at the epoch it had.
    expect((await client.callGenerated(DescribeTransactions, 0, { transactionalIds: [id] })).transactionStates[0]).toMatchObject({
      transactionState: 'Empty',
      producerEpoch: identity.producerEpoch,
      topics: [],
    });
  });

  it("holds a transaction's offsets until it commits: require_stable reads UNSTABLE_OFFSET_COMMIT meanwhile; an abort drops them", async () => {
    const topic = unique('t');
    await log.createTopic(topic, 1);
    const group = unique('g');
    const id = unique('tx');
    const identity = await producer(id);
    const stage = async (offset: number) => {
      expect((await client.callGenerated(AddOffsetsToTxn, 3, { transactionalId: id, ...identity, groupId: group })).errorCode).toBe(0);
      const staged = await client.callGenerated(TxnOffsetCommit, 3, {
        transactionalId: id,
        groupId: group,
        ...identity,
        generationIdOrMemberEpoch: -1,
        memberId: '',
        groupInstanceId: null,
        topics: [
          { name: topic, partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null }] },
        ],
      });
      expect(staged.topics[0]!.partitions[0]!.errorCode).toBe(KafkaErrors.NONE);
    };
    await stage(5);
    expect(await fetchOffsets(group, topic, true)).toMatchObject({ errorCode: KafkaErrors.UNSTABLE_OFFSET_COMMIT, committedOffset: -1 });
    expect(await fetchOffsets(group, topic, false)).toMatchObject({ errorCode: KafkaErrors.NONE, committedOffset: -1 });
    const described = await client.callGenerated(DescribeTransactions, 0, { transactionalIds: [id, unique('tx')] });
    expect(described.transactionStates[0]).toMatchObject({
      errorCode: 0,
      transactionState: 'Ongoing',
      topics: [{ topic: '__consumer_offsets', partitions: [offsetsPartitionOf(group)] }],
    });
    expect(described.transactionStates[1]!.errorCode).toBe(KafkaErrors.TRANSACTIONAL_ID_NOT_FOUND);
    const listed = await client.callGenerated(ListTransactions, 1, {
      stateFilters: ['Ongoing'],
      producerIdFilters: [],
      durationFilter: -1,
    });
    expect(listed.transactionStates).toContainEqual({ transactionalId: id, producerId: identity.producerId, transactionState: 'Ongoing' });

    expect((await client.callGenerated(EndTxn, 3, { transactionalId: id, ...identity, committed: true })).errorCode).toBe(0);
    expect(await fetchOffsets(group, topic, true)).toMatchObject({ errorCode: KafkaErrors.NONE, committedOffset: 5 });

    await stage(9);
    expect((await client.callGenerated(EndTxn, 3, { transactionalId: id, ...identity, committed: false })).errorCode).toBe(0);
    expect(await fetchOffsets(group, topic, true)).toMatchObject({ errorCode: KafkaErrors.NONE, committedOffset: 5 });
    // v2's id pattern matches whole ids; one that would not compile, or would backtrack for ever, is INVALID_REGULAR_EXPRESSION.
    const byPattern = (transactionalIdPattern: string) =>
      client.callGenerated(ListTransactions, 2, { stateFilters: [], producerIdFilters: [], durationFilter: -1, transactionalIdPattern });
    expect((await byPattern(`${id.slice(0, 5)}.*`)).transactionStates.map((t) => t.transactionalId)).toContain(id);
    expect((await byPattern(id.slice(0, 5))).transactionStates).toEqual([]);
    expect((await byPattern('(')).errorCode).toBe(KafkaErrors.INVALID_REGULAR_EXPRESSION);
    expect((await byPattern('(a+)+')).errorCode).toBe(KafkaErrors.INVALID_REGULAR_EXPRESSION);
    // (An unknown state name is listed back.)
    const filtered = await client.callGenerated(ListTransactions, 0, {
      stateFilters: ['Nonsense'],
      producerIdFilters: [],
      durationFilter: -1,
    });
    expect(filtered.unknownStateFilters).toEqual(['Nonsense']);
  });

  it("writes a member's later plain commit of the offset it committed before a transaction's, not skipping it as unchanged", async () => {
    const topic = unique('t');
    await log.createTopic(topic, 1);
    const group = unique('g');
    const member = await stableClassicMember(client, group, topic, 1);
    const commit = async (offset: number) =>
      (
        await client.callGenerated(OffsetCommit, 9, {
          groupId: group,
          generationIdOrMemberEpoch: member.generationId,
          memberId: member.memberId,
          topics: [{ name: topic, partitions: [{ partitionIndex: 0, committedOffset: offset, committedMetadata: null }] }],
        })
      ).topics[0]!.partitions[0]!.errorCode;
    expect(await commit(100)).toBe(0);
    const id = unique('tx');
    const identity = await producer(id);
    await client.callGenerated(AddOffsetsToTxn, 3, { transactionalId: id, ...identity, groupId: group });
    const staged = await client.callGenerated(TxnOffsetCommit, 3, {
      transactionalId: id,
      groupId: group,
      ...identity,
      generationIdOrMemberEpoch: member.generationId,
      memberId: member.memberId,
      groupInstanceId: null,
      topics: [
        { name: topic, partitions: [{ partitionIndex: 0, committedOffset: 150, committedLeaderEpoch: -1, committedMetadata: null }] },
      ],
    });
    expect(staged.topics[0]!.partitions[0]!.errorCode).toBe(0);
    await client.callGenerated(EndTxn, 3, { transactionalId: id, ...identity, committed: true });
    expect((await fetchOffsets(group, topic, true)).committedOffset).toBe(150);
    expect(await commit(100)).toBe(0);
    expect((await fetchOffsets(group, topic, true)).committedOffset).toBe(100);
  });

  it('answers read_committed fetches with the last stable offset and the aborted transactions, read_uncommitted ones with null', async () => {
    const topic = unique('t');
    await log.createTopic(topic, 1);
    const id = unique('tx');
    const identity = await producer(id);
    await addPartitions(id, identity, topic, [0]);
    const records = encodeRecordBatch([{ key: null, value: Buffer.from('aborted') }], {
      producerId: identity.producerId,
      producerEpoch: identity.producerEpoch,
      baseSequence: 0,
      isTransactional: true,
    });
    const produced = await client.callGenerated(Produce, 11, {
      transactionalId: id,
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
    });
    expect(produced.responses[0]!.partitionResponses[0]!.errorCode).toBe(0);
    const fetchAt = async (isolationLevel: number) =>
      (
        await client.callGenerated(Fetch, 11, {
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 0,
          maxBytes: 1 << 20,
          isolationLevel,
          topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
        })
      ).responses[0]!.partitions[0]!;
    expect(await fetchAt(1)).toMatchObject({ highWatermark: 1, lastStableOffset: 0, abortedTransactions: [] });
    await client.callGenerated(EndTxn, 3, { transactionalId: id, ...identity, committed: false });
    expect(await fetchAt(1)).toMatchObject({
      highWatermark: 2,
      lastStableOffset: 2,
      abortedTransactions: [{ producerId: identity.producerId, firstOffset: 0 }],
    });
    expect(await fetchAt(0)).toMatchObject({ highWatermark: 2, lastStableOffset: 2, abortedTransactions: null });
  });
});
