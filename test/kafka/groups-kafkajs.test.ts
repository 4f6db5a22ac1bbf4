/**
 * Kafka consumer groups end to end: kafkajs's own consumer group (FindCoordinator, JoinGroup with
 * MEMBER_ID_REQUIRED, SyncGroup, Heartbeat, OffsetFetch, OffsetCommit, LeaveGroup) against an agent's
 * Kafka listener, with the offsets it commits read back through the HTTP groups.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { groupPk } from '../../lib/keys.js';
import { silentLogger } from '../../lib/logger.js';
import { useWireHarness } from './support/wire-harness.js';

const harness = await useWireHarness({
  listener: {
    logger: process.env.DEBUG_E2E ? { log: (level, message, fields) => console.log(level, message, JSON.stringify(fields)) } : silentLogger,
    groupTimeouts: { initialRebalanceDelayMs: 300, minSessionTimeoutMs: 1000 },
  },
});
const { stores, log, groups: http, listener } = harness;

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('kafka > groups > kafkajs', () => {
  it('splits a 4-partition topic between two consumers of a group, and a later consumer resumes from their commits', {
    timeout: 60_000,
  }, async () => {
    const topic = `e2e-${randomUUID().slice(0, 8)}`;
    const groupId = `group-${randomUUID().slice(0, 8)}`;
    await log.createTopic(topic, 4);
    const kafka = new Kafka({
      clientId: 'spool-e2e',
      brokers: [listener.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 8, initialRetryTime: 100 },
    });
    const producer = kafka.producer();
    await producer.connect();
    const send = (from: number, count: number) =>
      producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ partition: (from + i) % 4, value: `m${from + i}` })) });
    await send(0, 40);

    const received = new Map<string, string[]>();
    const consumer = (name: string): Consumer => {
      const c = kafka.consumer({ groupId, sessionTimeout: 6000, rebalanceTimeout: 6000, heartbeatInterval: 300, maxWaitTimeInMs: 100 });
      received.set(name, []);
      return c;
    };
    const start = async (c: Consumer, name: string) => {
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({ eachMessage: async ({ message }) => void received.get(name)!.push(message.value!.toString()) });
    };
    const [first, second] = [consumer('first'), consumer('second')];
    await Promise.all([start(first, 'first'), start(second, 'second')]);
    await until(() => received.get('first')!.length + received.get('second')!.length >= 40);

    // Both members hold partitions, and every record came once.
    const described = await http.describe(groupId);
    expect(described).toMatchObject({ kind: 'kafka', state: 'stable' });
    expect(described.members).toHaveLength(2);
    expect(described.members.every((m) => m.assignments.length === 2 && m.topics.includes(topic))).toBe(true);
    const all = [...received.get('first')!, ...received.get('second')!];
    expect(new Set(all).size).toBe(40);
    expect(received.get('first')!.length).toBeGreaterThan(0);
    expect(received.get('second')!.length).toBeGreaterThan(0);

    // Leaving commits; the group is empty, with each partition committed to its end.
    await Promise.all([first.disconnect(), second.disconnect()]);
    await until(async () => (await http.describe(groupId)).state === 'empty');
    expect((await http.offsets(groupId)).map((o) => o.committed)).toEqual([10, 10, 10, 10]);

    // A new member resumes from the commits: only what was produced since.
    await send(40, 8);
    const third = consumer('third');
    await start(third, 'third');
    await until(() => received.get('third')!.length >= 8);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(received.get('third')!.sort()).toEqual(['m40', 'm41', 'm42', 'm43', 'm44', 'm45', 'm46', 'm47']);
    await third.disconnect();
    await producer.disconnect();

    // Kafka's admin tools see the group too.
    const admin = kafka.admin();
    await admin.connect();
    const { groups } = await admin.describeGroups([groupId]);
    expect(groups[0]).toMatchObject({ groupId, state: 'Empty', protocolType: 'consumer' });
    expect((await admin.listGroups()).groups).toContainEqual({ groupId, protocolType: 'consumer' });
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(offsets[0]!.partitions.map((p) => p.offset).sort()).toEqual(['12', '12', '12', '12']);
    await admin.disconnect();
  });

  it('forgets the committed offsets of a deleted topic (as Kafka): a topic created again under its name is read whole', {
    timeout: 60_000,
  }, async () => {
    const topic = `recreated-${randomUUID().slice(0, 8)}`;
    const groupId = `group-${randomUUID().slice(0, 8)}`;
    const kafka = new Kafka({
      clientId: 'spool-e2e',
      brokers: [listener.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 8, initialRetryTime: 100 },
    });
    const admin = kafka.admin();
    await admin.connect();
    const producer = kafka.producer();
    await producer.connect();
    const consumeAll = async (count: number): Promise<string[]> => {
      const values: string[] = [];
      const consumer = kafka.consumer({
        groupId,
        sessionTimeout: 6000,
        rebalanceTimeout: 6000,
        heartbeatInterval: 300,
        maxWaitTimeInMs: 100,
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!.toString()) });
      await until(() => values.length >= count);
      await new Promise((resolve) => setTimeout(resolve, 300)); // nothing more comes
      await consumer.disconnect();
      return values;
    };

    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await producer.send({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ value: `first-${i}` })) });
    expect(await consumeAll(20)).toHaveLength(20);
    expect((await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions).toEqual([
      { partition: 0, offset: '20', metadata: null },
    ]);

    await admin.deleteTopics({ topics: [topic] });
    // The group describes normally, with no offsets of the deleted topic.
    expect(await admin.fetchOffsets({ groupId })).toEqual([]);
    expect((await admin.describeGroups([groupId])).groups[0]).toMatchObject({ groupId, state: 'Empty' });

    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await producer.send({ topic, messages: Array.from({ length: 30 }, (_, i) => ({ value: `second-${i}` })) });
    expect(await consumeAll(30)).toEqual(Array.from({ length: 30 }, (_, i) => `second-${i}`));
    await producer.disconnect();
    await admin.disconnect();
    // Deleting the group over HTTP leaves nothing of it (state, offsets of both incarnations, the
    // coordinator's vouch) but the Kafka coordinator item, which only the agent it names may delete.
    await until(async () => (await http.describe(groupId)).state === 'empty');
    const coordinator = (await stores.metadata.query(groupPk(groupId))).find((item) => item.sk === 'coordinator');
    expect(coordinator).toBeDefined();
    await http.deleteGroup(groupId);
    expect(await stores.metadata.query(groupPk(groupId))).toEqual([coordinator]);
  });
});
