/**
 * Topic administration through the wire, with the generated codecs: CreateTopics (v0-7),
 * DeleteTopics (v0-6), CreatePartitions, DeleteRecords, DescribeLogDirs, DescribeCluster and
 * DescribeTopicPartitions, as Kafka's admin client and CLI tools send them.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import { ConfigSource } from '../../lib/kafka/handlers/configs.js';
import { CreatePartitions } from '../../lib/kafka/protocol/messages/create-partitions.js';
import { CreateTopics } from '../../lib/kafka/protocol/messages/create-topics.js';
import { DeleteRecords } from '../../lib/kafka/protocol/messages/delete-records.js';
import { DeleteTopics } from '../../lib/kafka/protocol/messages/delete-topics.js';
import { DescribeCluster } from '../../lib/kafka/protocol/messages/describe-cluster.js';
import { DescribeLogDirs } from '../../lib/kafka/protocol/messages/describe-log-dirs.js';
import { DescribeTopicPartitions } from '../../lib/kafka/protocol/messages/describe-topic-partitions.js';
import { Fetch } from '../../lib/kafka/protocol/messages/fetch.js';
import { ListOffsets } from '../../lib/kafka/protocol/messages/list-offsets.js';
import { ZERO_UUID } from '../../lib/kafka/protocol/runtime.js';
import { useWireHarness } from './support/wire-harness.js';

const { log, listener, withClient, withKey } = await useWireHarness({ log: { topicDefaults: { 'retention.bytes': 1_000_000_000 } } });

const newTopic = () => `admin-${randomUUID().slice(0, 8)}`;

const createTopic = (
  name: string,
  numPartitions: number,
  version = 7,
  validateOnly = false,
  configs: { name: string; value: string }[] = [],
) =>
  withClient((c) =>
    c.callGenerated(CreateTopics, version, {
      topics: [{ name, numPartitions, replicationFactor: 3, assignments: [], configs }],
      timeoutMs: 1000,
      validateOnly,
    }),
  );

const produce = (topic: string, count: number, partition = 0) =>
  log.produce(
    topic,
    Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`v${i}`), partition })),
  );

describe('kafka > CreateTopics', () => {
  it.each([0, 1, 4])('v%i creates the topic with the partitions asked, ignoring the replication factor', async (version) => {
    const name = newTopic();
    const response = await createTopic(name, 3, version);
    expect(response.topics).toMatchObject([{ name, errorCode: KafkaErrors.NONE }]);
    expect((await log.requireTopic(name)).partitions).toBe(3);
  });

  it('v5+ answers the partitions, replication factor and configs of the created topic; v7 its id', async () => {
    const name = newTopic();
    const response = await createTopic(name, 2, 7, false, [{ name: 'retention.ms', value: '3600000' }]);
    const [result] = response.topics;
    expect(result).toMatchObject({ name, errorCode: KafkaErrors.NONE, numPartitions: 2, replicationFactor: 1 });
    expect(result!.topicId).toBe((await log.requireTopic(name)).id);
    const configs = Object.fromEntries(result!.configs!.map((c) => [c.name, c]));
    expect(configs['retention.ms']).toMatchObject({ value: '3600000', configSource: ConfigSource.TOPIC_CONFIG });
    expect(configs['retention.bytes']).toMatchObject({ value: '1000000000', configSource: ConfigSource.STATIC_BROKER_CONFIG });
    expect(configs['cleanup.policy']).toMatchObject({ value: 'delete', configSource: ConfigSource.DEFAULT_CONFIG });

    const v5 = await createTopic(newTopic(), 4, 5);
    expect(v5.topics[0]).toMatchObject({ errorCode: KafkaErrors.NONE, numPartitions: 4 });
  });

  it('validate_only creates nothing, answers as if it had, and still refuses what creating would', async () => {
    const name = newTopic();
    const response = await createTopic(name, 2, 7, true);
    expect(response.topics[0]).toMatchObject({ errorCode: KafkaErrors.NONE, numPartitions: 2, topicId: ZERO_UUID });
    expect(await log.topic(name)).toBeUndefined();

    await createTopic(name, 1);
    expect((await createTopic(name, 2, 7, true)).topics[0]!.errorCode).toBe(KafkaErrors.TOPIC_ALREADY_EXISTS);
    expect((await createTopic(newTopic(), 0, 7, true)).topics[0]!.errorCode).toBe(KafkaErrors.INVALID_PARTITIONS);
  });

  it('refuses an existing topic, a bad config, and a name given twice in one request', async () => {
    const name = newTopic();
    await createTopic(name, 1);
    expect((await createTopic(name, 1)).topics[0]).toMatchObject({ errorCode: KafkaErrors.TOPIC_ALREADY_EXISTS });
    const badConfig = await createTopic(newTopic(), 1, 7, false, [{ name: 'retention.ms', value: 'soon' }]);
    expect(badConfig.topics[0]!.errorCode).toBe(KafkaErrors.INVALID_CONFIG);
    const twice = newTopic();
    const response = await withClient((c) =>
      c.callGenerated(CreateTopics, 7, {
        topics: [
          { name: twice, numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] },
          { name: twice, numPartitions: 2, replicationFactor: -1, assignments: [], configs: [] },
        ],
      }),
    );
    expect(response.topics.map((t) => t.errorCode)).toEqual([KafkaErrors.INVALID_REQUEST, KafkaErrors.INVALID_REQUEST]);
    expect(await log.topic(twice)).toBeUndefined();
  });

  it('takes the partition count from manual assignments (their brokers ignored), which exclude the counts', async () => {
    const assigned = newTopic();
    const assignments = [0, 1, 2].map((partitionIndex) => ({ partitionIndex, brokerIds: [7, 8] }));
    const response = await withClient((c) =>
      c.callGenerated(CreateTopics, 7, {
        topics: [
          { name: assigned, numPartitions: -1, replicationFactor: -1, assignments, configs: [] },
          { name: newTopic(), numPartitions: 3, replicationFactor: -1, assignments, configs: [] },
        ],
      }),
    );
    expect(response.topics.map((t) => [t.errorCode, t.numPartitions])).toEqual([
      [KafkaErrors.NONE, 3],
      [KafkaErrors.INVALID_REQUEST, -1],
    ]);
    expect((await log.requireTopic(assigned)).partitions).toBe(3);
  });
});

describe('kafka > DeleteTopics', () => {
  it.each([0, 3, 5])('v%i deletes topics by name; an unknown one is UNKNOWN_TOPIC_OR_PARTITION', async (version) => {
    const name = newTopic();
    await createTopic(name, 1);
    const missing = newTopic();
    const response = await withClient((c) => c.callGenerated(DeleteTopics, version, { topicNames: [name, missing], timeoutMs: 1000 }));
    expect(response.responses.map((r) => [r.name, r.errorCode])).toEqual([
      [name, KafkaErrors.NONE],
      [missing, KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION],
    ]);
    expect(await log.topic(name)).toBeUndefined();
  });

  it('v6 deletes by name or by id, answers UNKNOWN_TOPIC_ID for an id no topic has, and refuses both at once', async () => {
    const byName = newTopic();
    const byId = newTopic();
    const both = newTopic();
    await createTopic(byName, 1);
    const id = (await createTopic(byId, 1)).topics[0]!.topicId;
    const bothId = (await createTopic(both, 1)).topics[0]!.topicId;
    const unknownId = randomUUID();
    const response = await withClient((c) =>
      c.callGenerated(DeleteTopics, 6, {
        topics: [
          { name: byName, topicId: ZERO_UUID },
          { name: null, topicId: id },
          { name: null, topicId: unknownId },
          { name: both, topicId: bothId },
        ],
        timeoutMs: 1000,
      }),
    );
    expect(response.responses.map((r) => [r.name, r.topicId, r.errorCode])).toEqual([
      [byName, expect.any(String), KafkaErrors.NONE],
      [byId, id, KafkaErrors.NONE],
      [null, unknownId, KafkaErrors.UNKNOWN_TOPIC_ID],
      [both, bothId, KafkaErrors.INVALID_REQUEST],
    ]);
    expect(await log.topic(byName)).toBeUndefined();
    expect(await log.topic(byId)).toBeUndefined();
    expect(await log.topic(both)).toBeDefined();
  });
});

describe('kafka > CreatePartitions', () => {
  const grow = (name: string, count: number, version = 3, validateOnly = false) =>
    withClient((c) =>
      c.callGenerated(CreatePartitions, version, {
        topics: [{ name, count, assignments: null }],
        timeoutMs: 1000,
        validateOnly,
      }),
    );

  it.each([0, 1, 2, 3])('v%i grows the partition count; the new partitions take records', async (version) => {
    const name = newTopic();
    await createTopic(name, 2);
    expect((await grow(name, 5, version)).results).toEqual([{ name, errorCode: KafkaErrors.NONE, errorMessage: null }]);
    expect((await log.requireTopic(name)).partitions).toBe(5);
    const [produced] = await produce(name, 1, 4);
    expect(produced).toMatchObject({ partition: 4, offset: 0 });
  });

  it('refuses a count not larger than the current one with INVALID_PARTITIONS, and validate_only changes nothing', async () => {
    const name = newTopic();
    await createTopic(name, 3);
    expect((await grow(name, 3)).results[0]).toMatchObject({
      errorCode: KafkaErrors.INVALID_PARTITIONS,
      errorMessage: 'Topic already has 3 partition(s).',
    });
    expect((await grow(name, 2)).results[0]).toMatchObject({
      errorCode: KafkaErrors.INVALID_PARTITIONS,
      errorMessage: `The topic ${name} currently has 3 partition(s); 2 would not be an increase.`,
    });
    expect((await grow(name, 6, 3, true)).results[0]!.errorCode).toBe(KafkaErrors.NONE);
    expect((await log.requireTopic(name)).partitions).toBe(3);
    expect((await grow(newTopic(), 4)).results[0]!.errorCode).toBe(KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION);
  });
});

describe('kafka > DeleteRecords', () => {
  const deleteRecords = (name: string, partitions: { partitionIndex: number; offset: number }[], version = 2) =>
    withClient((c) => c.callGenerated(DeleteRecords, version, { topics: [{ name, partitions }], timeoutMs: 1000 }));

  it.each([0, 1, 2])('v%i raises the low watermark; earlier offsets are gone for Fetch and ListOffsets', async (version) => {
    const name = newTopic();
    await createTopic(name, 1);
    await produce(name, 10);
    const response = await deleteRecords(name, [{ partitionIndex: 0, offset: 4 }], version);
    expect(response.topics[0]!.partitions).toEqual([{ partitionIndex: 0, lowWatermark: 4, errorCode: KafkaErrors.NONE }]);

    const earliest = await withClient((c) =>
      c.callGenerated(ListOffsets, 7, {
        replicaId: -1,
        topics: [{ name, partitions: [{ partitionIndex: 0, timestamp: -2 }] }],
      }),
    );
    expect(earliest.topics[0]!.partitions[0]).toMatchObject({ errorCode: KafkaErrors.NONE, offset: 4 });

    const fetch = (offset: number) =>
      withClient((c) =>
        c.callGenerated(Fetch, 12, {
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 0,
          maxBytes: 1_000_000,
          topics: [{ topic: name, partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes: 1_000_000 }] }],
        }),
      );
    const below = (await fetch(3)).responses[0]!.partitions[0]!;
    expect(below).toMatchObject({ errorCode: KafkaErrors.OFFSET_OUT_OF_RANGE, logStartOffset: 4 });
    const from = (await fetch(4)).responses[0]!.partitions[0]!;
    expect(from).toMatchObject({ errorCode: KafkaErrors.NONE, logStartOffset: 4, highWatermark: 10 });
  });

  it('never lowers the low watermark; -1 means the high watermark; beyond it is OFFSET_OUT_OF_RANGE', async () => {
    const name = newTopic();
    await createTopic(name, 2);
    await produce(name, 6);
    await deleteRecords(name, [{ partitionIndex: 0, offset: 5 }]);
    const lower = await deleteRecords(name, [{ partitionIndex: 0, offset: 2 }]);
    expect(lower.topics[0]!.partitions[0]).toMatchObject({ lowWatermark: 5, errorCode: KafkaErrors.NONE });
    const beyond = await deleteRecords(name, [{ partitionIndex: 0, offset: 7 }]);
    expect(beyond.topics[0]!.partitions[0]).toMatchObject({ lowWatermark: -1, errorCode: KafkaErrors.OFFSET_OUT_OF_RANGE });
    const all = await deleteRecords(name, [
      { partitionIndex: 0, offset: -1 },
      { partitionIndex: 1, offset: 0 },
      { partitionIndex: 2, offset: 0 },
    ]);
    expect(all.topics[0]!.partitions.map((p) => [p.partitionIndex, p.lowWatermark, p.errorCode])).toEqual([
      [0, 6, KafkaErrors.NONE],
      [1, 0, KafkaErrors.NONE],
      [2, -1, KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION],
    ]);
    // Offsets go on from the high watermark: none is assigned again.
    const [next] = await produce(name, 1);
    expect(next).toMatchObject({ partition: 0, offset: 6 });
  });
});

describe('kafka > DescribeLogDirs', () => {
  it.each([0, 1, 2, 3, 4])('v%i answers one log dir, the object store, with partition sizes and unknown capacity', async (version) => {
    const name = newTopic();
    await createTopic(name, 2);
    await produce(name, 3);
    await log.flush();
    const response = await withClient((c) =>
      c.callGenerated(DescribeLogDirs, version, { topics: [{ topic: name, partitions: [0, 1, 7] }] }),
    );
    expect(response.results).toHaveLength(1);
    const [dir] = response.results;
    expect(dir!.logDir).toBe(log.storageUrl);
    expect(dir!.errorCode).toBe(KafkaErrors.NONE);
    expect(dir!.topics).toHaveLength(1);
    const [p0, p1] = dir!.topics[0]!.partitions;
    expect(dir!.topics[0]!.partitions).toHaveLength(2);
    expect(p0).toMatchObject({ partitionIndex: 0, offsetLag: 0, isFutureKey: false });
    expect(p0!.partitionSize).toBeGreaterThan(0);
    expect(p1).toMatchObject({ partitionIndex: 1, partitionSize: 0 });
    if (version >= 4) expect([dir!.totalBytes, dir!.usableBytes]).toEqual([-1, -1]);
  });
});

describe('kafka > DescribeCluster', () => {
  it.each([0, 1, 2])('v%i answers the cluster id, this agent as controller, and the live brokers', async (version) => {
    const response = await withClient((c) => c.callGenerated(DescribeCluster, version, { includeClusterAuthorizedOperations: false }));
    expect(response.errorCode).toBe(KafkaErrors.NONE);
    expect(response.clusterId).toMatch(/^.{22}$/);
    const [host, port] = listener.bootstrap.split(':');
    expect(response.brokers).toHaveLength(1);
    expect(response.brokers[0]).toMatchObject({ host, port: Number(port), isFenced: false });
    expect(response.controllerId).toBe(response.brokers[0]!.brokerId);
    if (version >= 1) expect(response.endpointType).toBe(1);
  });

  it('refuses the controllers endpoint type with UNSUPPORTED_ENDPOINT_TYPE', async () => {
    const response = await withClient((c) => c.callGenerated(DescribeCluster, 1, { endpointType: 2 }));
    expect(response.errorCode).toBe(KafkaErrors.UNSUPPORTED_ENDPOINT_TYPE);
    expect(response.brokers).toEqual([]);
  });
});

describe('kafka > DescribeTopicPartitions', () => {
  const describeTopics = (names: string[], limit: number, cursor: { topicName: string; partitionIndex: number } | null = null) =>
    withClient((c) =>
      c.callGenerated(DescribeTopicPartitions, 0, { topics: names.map((name) => ({ name })), responsePartitionLimit: limit, cursor }),
    );

  it('describes topics with ids and leaders, and pages through partitions with the cursor', async () => {
    const [a, b] = [newTopic(), newTopic()].sort() as [string, string];
    await createTopic(a, 3);
    await createTopic(b, 2);
    const missing = `${b}-missing`;

    const first = await describeTopics([b, a, missing], 2);
    expect(first.topics.map((t) => [t.name, t.partitions.map((p) => p.partitionIndex)])).toEqual([[a, [0, 1]]]);
    expect(first.topics[0]!.topicId).toBe((await log.requireTopic(a)).id);
    expect(first.nextCursor).toEqual({ topicName: a, partitionIndex: 2 });
    const partition = first.topics[0]!.partitions[0]!;
    expect(partition.replicaNodes).toEqual([partition.leaderId]);
    expect(partition.isrNodes).toEqual([partition.leaderId]);
    // Kafka's 3.9 admin client reads these without a null check.
    expect([partition.eligibleLeaderReplicas, partition.lastKnownElr, partition.offlineReplicas]).toEqual([[], [], []]);

    const second = await describeTopics([b, a, missing], 2, first.nextCursor);
    expect(second.topics.map((t) => [t.name, t.partitions.map((p) => p.partitionIndex)])).toEqual([
      [a, [2]],
      [b, [0]],
    ]);
    expect(second.nextCursor).toEqual({ topicName: b, partitionIndex: 1 });

    const third = await describeTopics([b, a, missing], 2, second.nextCursor);
    expect(third.topics.map((t) => [t.name, t.errorCode, t.partitions.length])).toEqual([
      [b, KafkaErrors.NONE, 1],
      [missing, KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION, 0],
    ]);
    expect(third.nextCursor).toBeNull();
  });

  it('describes every topic when none are named', async () => {
    const name = newTopic();
    await createTopic(name, 1);
    const response = await describeTopics([], 2000);
    expect(response.topics.map((t) => t.name)).toContain(name);
  });
});

describe('kafka > topic administration permissions', () => {
  it('a key that may only read gets TOPIC_AUTHORIZATION_FAILED / CLUSTER_AUTHORIZATION_FAILED, and nothing changes', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    await produce(topic, 3);
    await withKey('reader', [{ topics: 'admin-*', actions: ['read'] }], async (c) => {
      const grown = await c.callGenerated(CreatePartitions, 3, { topics: [{ name: topic, count: 2, assignments: null }] });
      expect(grown.results[0]!.errorCode).toBe(KafkaErrors.TOPIC_AUTHORIZATION_FAILED);
      const deleted = await c.callGenerated(DeleteRecords, 2, {
        topics: [{ name: topic, partitions: [{ partitionIndex: 0, offset: 2 }] }],
      });
      expect(deleted.topics[0]!.partitions[0]).toMatchObject({ errorCode: KafkaErrors.TOPIC_AUTHORIZATION_FAILED, lowWatermark: -1 });
      const dirs = await c.callGenerated(DescribeLogDirs, 4, { topics: null });
      expect(dirs).toMatchObject({ errorCode: KafkaErrors.CLUSTER_AUTHORIZATION_FAILED, results: [] });
      const removed = await c.callGenerated(DeleteTopics, 6, { topics: [{ name: topic, topicId: ZERO_UUID }] });
      expect(removed.responses[0]!.errorCode).toBe(KafkaErrors.TOPIC_AUTHORIZATION_FAILED);
      // Describing needs only read.
      const described = await c.callGenerated(DescribeTopicPartitions, 0, { topics: [{ name: topic }] });
      expect(described.topics[0]).toMatchObject({ name: topic, errorCode: KafkaErrors.NONE });
      expect((await log.requireTopic(topic)).partitions).toBe(1);
      expect(await log.offsetRange(topic, 0)).toEqual({ earliest: 0, latest: 3, lastStable: 3 });
    });
  });
});
