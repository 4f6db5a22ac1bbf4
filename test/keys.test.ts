/**
 * lib/keys.ts is the whole map of the MetadataStore: a full scenario (HTTP produce, fetch and groups,
 * a kafkajs idempotent producer, transactional producer and consumer group, maintenance compacting and collecting, an API key,
 * deleting a topic and groups, a transactional id's state) records every key it writes, and each must be of a kind the table
 * names, and each kind in the table must be written by something.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../lib/agent.js';
import { ApiKeys } from '../lib/auth.js';
import { GroupCoordinator } from '../lib/groups/coordinator.js';
import { QueueService } from '../lib/queues/service.js';
import { loadConfig } from '../lib/config.js';
import { itemKinds, kindOf } from '../lib/keys.js';
import { ShareGroupHeartbeat } from '../lib/kafka/protocol/messages/share-group-heartbeat.js';
import { WireClient } from './kafka/support/wire-client.js';
import { Log, commitVersionFeature } from '../lib/log/index.js';
import { noMetrics } from '../lib/metrics.js';
import { silentLogger } from '../lib/logger.js';
import type { Runtime } from '../lib/runtime.js';
import { openStores } from '../lib/storage/open.js';
import type { ItemKey, WriteOp } from '../lib/storage/ports.js';
import { DelegatingMetadataStore } from './support/delegating.js';
import { WriterLog } from '../lib/log/writer-log.js';
import { tempDir } from './support/stores.js';

/** Every key written (put, update or delete), whether or not the write's condition held. */
class RecordingMetadataStore extends DelegatingMetadataStore {
  readonly written: ItemKey[] = [];
  override write(op: WriteOp): Promise<void> {
    this.record([op]);
    return super.write(op);
  }
  override transact(ops: readonly WriteOp[]): Promise<void> {
    this.record(ops);
    return super.transact(ops);
  }
  private record(ops: readonly WriteOp[]): void {
    for (const op of ops) if (op.kind !== 'check') this.written.push(op.key);
  }
}

/** Short, so a later pass collects what compaction replaced; a commit must finish within it. */
const gcGraceMs = 2000;

let metadata: RecordingMetadataStore;
let agent: Agent;

beforeAll(async () => {
  const dataDir = tempDir();
  const config = loadConfig({
    SPOOL_DATA_DIR: dataDir,
    SPOOL_HTTP_PORT: '0',
    SPOOL_KAFKA_PORT: '0',
    SPOOL_BATCH_INTERVAL_MS: '2',
    SPOOL_MAINTENANCE_INTERVAL_MS: '0',
  });
  const opened = await openStores({ dataDir }, { createIfMissing: true });
  metadata = new RecordingMetadataStore(opened.metadata);
  const stores = { objects: opened.objects, metadata };
  const log = new Log({
    stores,
    pollIntervalMs: 20,
    topicCacheMs: 0,
    producer: { batchIntervalMs: 2 },
    maintenance: { compactionTailAgeMs: 0, gcGraceMs: gcGraceMs },
  });
  const runtime: Runtime = {
    config,
    stores,
    log,
    groups: new GroupCoordinator(log, metadata),
    queues: new QueueService(log, metadata),
    metrics: noMetrics,
    auth: undefined,
    close: async () => {
      await log.close();
      await Promise.all([opened.objects.close(), opened.metadata.close()]);
    },
  };
  agent = await startAgent(config, { logger: silentLogger, runtime });
});

afterAll(async () => {
  await agent?.close();
});

async function http(method: string, path: string, body?: unknown): Promise<Response> {
  const response = await fetch(`${agent.httpUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status >= 400) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response;
}

describe('keys', () => {
  it('names every item a full scenario writes, and every kind it names is written', { timeout: 60_000 }, async () => {
    const topic = `keys-${randomUUID().slice(0, 8)}`;
    const httpGroup = `http-${randomUUID().slice(0, 8)}`;
    const kafkaGroup = `kafka-${randomUUID().slice(0, 8)}`;

    // The log over HTTP: a topic, several small commits (so maintenance has segments to compact).
    await http('POST', '/v1/topics', { name: topic, partitions: 2 });
    for (let i = 0; i < 6; i++) await http('POST', `/v1/topics/${topic}/records`, { records: [{ value: `http-${i}`, partition: i % 2 }] });

    // A Kafka idempotent producer and a Kafka consumer group that commits.
    const kafka = new Kafka({
      clientId: 'keys',
      brokers: [agent.kafkaBootstrap!],
      logLevel: logLevel.NOTHING,
      retry: { retries: 8, initialRetryTime: 100 },
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        { value: 'kafka-0', partition: 0 },
        { value: 'kafka-1', partition: 1 },
      ],
    });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: kafkaGroup, sessionTimeout: 6000, heartbeatInterval: 300, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let consumed = 0;
    await consumer.run({ autoCommitInterval: 50, eachMessage: async () => void consumed++ });
    const deadline = Date.now() + 30_000;
    while (consumed < 8 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(consumed).toBe(8);
    await consumer.disconnect();

    // An HTTP group member that reads and commits, then leaves.
    const joined = (await (
      await http('POST', `/v1/groups/${httpGroup}/members`, { topics: [topic], auto_offset_reset: 'earliest' })
    ).json()) as { member_id: string };
    await http('GET', `/v1/groups/${httpGroup}/members/${joined.member_id}/records?max_records=100`);
    await http('POST', `/v1/groups/${httpGroup}/members/${joined.member_id}/heartbeat`);
    await http('DELETE', `/v1/groups/${httpGroup}/members/${joined.member_id}`);
    await http('POST', `/v1/groups/${httpGroup}/offsets`, { offsets: [{ topic, partition: 0, offset: 1 }] });

    // A compacted topic, whose cleaning keeps a checkpoint.
    const compacted = `keys-compact-${randomUUID().slice(0, 8)}`;
    await http('POST', '/v1/topics', { name: compacted, partitions: 1, config: { cleanup_policy: 'compact' } });
    for (const value of ['v1', 'v2', 'v3']) await http('POST', `/v1/topics/${compacted}/records`, { records: [{ key: 'k', value }] });

    // Maintenance: compaction rewrites the rows and ledgers the replaced objects, collection removes them.
    expect((await agent.runtime.log.runMaintenance()).segments_compacted).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, gcGraceMs + 100));
    expect((await agent.runtime.log.runMaintenance()).objects_deleted).toBeGreaterThan(0);

    // A kafkajs transactional producer whose transaction is aborted (its id's state, markers, an aborted-transaction entry).
    const transactional = kafka.producer({ transactionalId: `keys-${randomUUID().slice(0, 8)}`, idempotent: true, maxInFlightRequests: 1 });
    await transactional.connect();
    const transaction = await transactional.transaction();
    await transaction.send({ topic, messages: [{ value: 'aborted', partition: 0 }] });
    await transaction.abort();
    await transactional.disconnect();

    // A share group: its settings, records received and acknowledged over HTTP, and a Kafka member's heartbeat.
    const shareGroup = `share-${randomUUID().slice(0, 8)}`;
    await http('PATCH', `/v1/queues/${shareGroup}`, { config: { share_auto_offset_reset: 'earliest' } });
    const received = (await (await http('POST', `/v1/queues/${shareGroup}/topics/${topic}/receive`, { max_records: 2 })).json()) as {
      records: { receipt: string }[];
    };
    await http('POST', `/v1/queues/${shareGroup}/topics/${topic}/ack`, { acks: received.records.map((r) => ({ receipt: r.receipt })) });
    // A record delayed an hour: a receive defers it to the share partition's delay index.
    const delayedTopic = `keys-delayed-${randomUUID().slice(0, 8)}`;
    await http('POST', `/v1/topics/${delayedTopic}/records`, {
      records: [{ value: 'later', headers: { 'spool.deliver.at.ms': String(Date.now() + 3_600_000) } }],
    });
    await http('POST', `/v1/queues/${shareGroup}/topics/${delayedTopic}/receive`, {});
    const wire = await WireClient.open(agent.kafkaBootstrap!);
    const beat = await wire.callGenerated(ShareGroupHeartbeat, 1, {
      groupId: shareGroup,
      memberId: randomUUID(),
      memberEpoch: 0,
      rackId: null,
      subscribedTopicNames: [topic],
    });
    expect(beat.errorCode).toBe(0);
    wire.close();

    // An API key, then deleting the groups and the topic.
    await new ApiKeys(metadata).create('keys-test', [{ topics: topic, actions: ['read'] }]);
    // A packing writer's fence and commit (lib/log/writer-log.ts), written directly until the produce path packs.
    const writerLog = new WriterLog(metadata, `keys-${randomUUID().slice(0, 8)}`);
    await writerLog.open(null);
    await writerLog.commit(1, []);
    // The feature levels (lib/log/features.ts), as kafka-features.sh upgrade raises them.
    await agent.runtime.log.features.update([{ feature: commitVersionFeature, level: 1, kind: 'upgrade' }]);
    await http('DELETE', `/v1/groups/${httpGroup}`);
    await http('DELETE', `/v1/groups/${kafkaGroup}`);
    await http('DELETE', `/v1/topics/${topic}`);
    await http('DELETE', `/v1/topics/${compacted}`);
    await agent.runtime.log.runMaintenance();

    const unnamed = metadata.written.filter((key) => kindOf(key) === undefined);
    expect(unnamed).toEqual([]);
    const writtenKinds = new Set(metadata.written.map((key) => kindOf(key)!.kind));
    expect([...writtenKinds].sort()).toEqual(itemKinds.map((kind) => kind.kind).sort());
  });

  it('matches each key to at most one kind', () => {
    const samples: ItemKey[] = metadata.written;
    for (const key of samples) expect(itemKinds.filter((kind) => kind.matches(key)).map((kind) => kind.kind)).toHaveLength(1);
  });
});
