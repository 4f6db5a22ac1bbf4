/**
 * Kafka's own `kafka-consumer-groups` (ConsumerGroupCommand, kafka-tools 3.9.1) on the group admin
 * APIs: listing groups by state (ListGroups v4+), deleting a group's offsets for a topic
 * (OffsetDelete) and deleting the group (DeleteGroups). The same expectations hold against Apache
 * Kafka (INTEROP_TARGET=kafka).
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { useKafkaTools } from './tool-runner.js';

const bootstrap = inject('interopBootstrap');

/** A Kafka tool, as its shell script runs it (`kafka-run-class.sh <class> <args>`); its stdout. */
const { stdout: tool } = useKafkaTools(bootstrap);

const consumerGroups = (...args: string[]) => tool('org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', args);

let kafka: Kafka;

beforeAll(() => {
  kafka = new Kafka({ clientId: 'interop-group-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING });
});

describe('interop > kafka-consumer-groups on the group admin APIs', () => {
  it('--list --state shows real states; --delete-offsets and --delete remove what they name', async () => {
    const [topic, other, group] = ['ga', 'gb', 'gg'].map((prefix) => `${prefix}-${randomUUID().slice(0, 8)}`) as [string, string, string];
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [topic, other].map((name) => ({ topic: name, numPartitions: 1 })) });
      await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '0' }] });
      await admin.setOffsets({ groupId: group, topic: other, partitions: [{ partition: 0, offset: '0' }] });

      expect(await consumerGroups('--list', '--state', 'Empty')).toMatch(new RegExp(`${group}\\s+Empty`));
      expect(await consumerGroups('--list', '--state', 'Stable')).not.toContain(group);

      const deletedOffsets = await consumerGroups('--delete-offsets', '--group', group, '--topic', other);
      expect(deletedOffsets).toMatch(new RegExp(`${other}\\s+0\\s+Successful`));
      const remaining = await admin.fetchOffsets({ groupId: group, topics: [topic, other] });
      expect(remaining.map((t) => [t.topic, t.partitions[0]!.offset])).toEqual([
        [topic, '0'],
        [other, '-1'],
      ]);

      expect(await consumerGroups('--delete', '--group', group)).toMatch(/successful/i);
      expect(await consumerGroups('--list')).not.toContain(group);
      const gone = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      expect(gone[0]!.partitions[0]!.offset).toBe('-1');
    } finally {
      await admin.disconnect();
    }
  });
});
