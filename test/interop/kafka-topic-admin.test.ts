/**
 * Topic administration with Apache Kafka's own command-line tools (kafka-tools 3.9.1):
 * `kafka-topics --alter --partitions` (CreatePartitions), `kafka-topics --describe` (3.9 admin
 * clients describe through DescribeTopicPartitions when the broker has it), `kafka-delete-records`
 * (DeleteRecords) and `kafka-log-dirs --describe` (DescribeCluster, then DescribeLogDirs).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { useKafkaTools } from './tool-runner.js';

const bootstrap = inject('interopBootstrap');

/** A Kafka tool, as its shell script runs it (`kafka-run-class.sh <class> <args>`); its stdout. */
const { stdout: tool } = useKafkaTools(bootstrap);

const topics = (...args: string[]) => tool('org.apache.kafka.tools.TopicCommand', args);
const getOffsets = (...args: string[]) => tool('org.apache.kafka.tools.GetOffsetShell', args);
const deleteRecords = (...args: string[]) => tool('org.apache.kafka.tools.DeleteRecordsCommand', args);
const logDirs = (...args: string[]) => tool('org.apache.kafka.tools.LogDirsCommand', args);

let kafka: Kafka;
let producer: Producer;

beforeAll(async () => {
  kafka = new Kafka({ clientId: 'interop-topic-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  producer = kafka.producer();
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect();
});

describe('interop > topic administration with the Kafka tools', () => {
  it('kafka-topics --alter --partitions grows a topic, and --describe shows the new partitions with leaders', async () => {
    const topic = `admin-${randomUUID().slice(0, 8)}`;
    await topics('--create', '--topic', topic, '--partitions', '2', '--replication-factor', '1');
    await topics('--alter', '--topic', topic, '--partitions', '4');
    const described = await topics('--describe', '--topic', topic);
    expect(described).toMatch(/PartitionCount:\s*4/);
    expect(described).toMatch(new RegExp(`Topic: ${topic}\\s+Partition: 3\\s+Leader: \\d+`));
    await expect(topics('--alter', '--topic', topic, '--partitions', '3')).rejects.toThrow(/partitions/i);
  });

  it('kafka-delete-records raises the start offset, and kafka-log-dirs --describe lists the partition', async () => {
    const topic = `admin-${randomUUID().slice(0, 8)}`;
    await topics('--create', '--topic', topic, '--partitions', '1', '--replication-factor', '1');
    await producer.send({ topic, messages: Array.from({ length: 6 }, (_, i) => ({ value: `r${i}` })) });
    const file = join(mkdtempSync(join(tmpdir(), 'spool-delete-records-')), 'offsets.json');
    writeFileSync(file, JSON.stringify({ partitions: [{ topic, partition: 0, offset: 4 }], version: 1 }));
    expect(await deleteRecords('--offset-json-file', file)).toMatch(new RegExp(`partition: ${topic}-0\\s+low_watermark: 4`));
    expect((await getOffsets('--topic', topic, '--time', '-2')).trim()).toBe(`${topic}:0:4`);

    const described = await logDirs('--describe', '--topic-list', topic);
    const json = JSON.parse(described.split('\n').find((line) => line.startsWith('{'))!) as {
      brokers: { logDirs: { logDir: string; error: string | null; partitions: { partition: string; size: number }[] }[] }[];
    };
    const partitions = json.brokers.flatMap((broker) => broker.logDirs.flatMap((dir) => dir.partitions));
    expect(partitions.map((p) => p.partition)).toContain(`${topic}-0`);
  });
});
