/**
 * Apache Kafka's own command-line tools (kafka-tools 3.9.1: TopicCommand, GetOffsetShell,
 * ConsoleConsumer, ConsumerGroupCommand, run as `kafka-topics.sh` etc. would run them) against the
 * server, for the behaviours issue 14 checked against a real Kafka broker. The same expectations
 * hold against Apache Kafka (INTEROP_TARGET=kafka):
 *
 * - `kafka-topics --describe` shows the topic's id (Metadata v10+ carries topic ids);
 * - `kafka-get-offsets` by time answers the first offset at or after it, `--time -3` the record with
 *   the largest timestamp (ListOffsets v7+), `-1` and `-2` the end and the start, and
 *   `kafka-consumer-groups --reset-offsets --to-datetime` moves a group to the first offset at or
 *   after that time;
 * - a consumer group that read a topic reads the whole of a topic deleted and created again under
 *   that name (the deleted topic's committed offsets went with it), and `kafka-consumer-groups
 *   --describe` answers for such a group, alone and with `--all-groups`;
 * - a compacted topic (`--config cleanup.policy=compact`) keeps the latest record of each key at its
 *   offset once cleaned (Spool: a maintenance pass through the admin API; Kafka: its cleaner, within
 *   a minute), the console consumer reads across the gaps, and a record without a key is refused
 *   with INVALID_RECORD.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { useKafkaTools } from './tool-runner.js';

const bootstrap = inject('interopBootstrap');
/** Spool's HTTP API (INTEROP_TARGET=spool only). */
const httpUrl = inject('interopHttp');

/** A Kafka tool, as its shell script runs it (`kafka-run-class.sh <class> <args>`); its stdout. */
const { stdout: tool } = useKafkaTools(bootstrap);

const topics = (...args: string[]) => tool('org.apache.kafka.tools.TopicCommand', args);
const getOffsets = (...args: string[]) => tool('org.apache.kafka.tools.GetOffsetShell', args);
const consumerGroups = (...args: string[]) => tool('org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', args);
/** kafka-console-consumer in a group, from the beginning unless the group has committed offsets, until `count` records. */
const consume = async (topic: string, group: string, count: number) =>
  (
    await tool('org.apache.kafka.tools.consumer.ConsoleConsumer', [
      '--topic',
      topic,
      '--group',
      group,
      '--from-beginning',
      '--max-messages',
      String(count),
      '--timeout-ms',
      '30000',
    ])
  )
    .split('\n')
    .filter((line) => line.length > 0);

let kafka: Kafka;
let producer: Producer;

beforeAll(async () => {
  kafka = new Kafka({ clientId: 'interop-kafka-tools', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  producer = kafka.producer();
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect();
});

describe('interop > Apache Kafka command-line tools', () => {
  it('kafka-topics --describe shows the topic id', async () => {
    const topic = `tools-${randomUUID().slice(0, 8)}`;
    await topics('--create', '--topic', topic, '--partitions', '2', '--replication-factor', '1');
    const described = await topics('--describe', '--topic', topic);
    const id = /TopicId:\s*(\S+)/.exec(described)?.[1];
    expect(id, described).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(id).not.toBe('AAAAAAAAAAAAAAAAAAAAAA'); // Uuid.ZERO_UUID: a server without topic ids
    expect(described).toMatch(new RegExp(`Topic: ${topic}\\s+Partition: 1\\s+Leader: \\d+`));
  });

  it('kafka-get-offsets answers by time, the max timestamp (-3), the end (-1) and the start (-2); --reset-offsets --to-datetime follows', async () => {
    const topic = `tools-${randomUUID().slice(0, 8)}`;
    await topics('--create', '--topic', topic, '--partitions', '1', '--replication-factor', '1');
    const baseMs = Date.now() - 60_000;
    // Timestamps out of order: the largest is at offset 3, not at the end.
    const times = [0, 1000, 2000, 9000, 3000, 4000].map((delta) => baseMs + delta);
    await producer.send({ topic, messages: times.map((timestamp, i) => ({ value: `r${i}`, timestamp: String(timestamp) })) });
    const at = async (time: string) => (await getOffsets('--topic', topic, '--time', time)).trim();
    expect(await at(String(baseMs + 1500))).toBe(`${topic}:0:2`);
    expect(await at(String(baseMs + 3500))).toBe(`${topic}:0:3`);
    expect(await at(String(baseMs))).toBe(`${topic}:0:0`);
    expect(await at('-3')).toBe(`${topic}:0:3`);
    expect(await at('-1')).toBe(`${topic}:0:6`);
    expect(await at('-2')).toBe(`${topic}:0:0`);

    // kafka-consumer-groups --reset-offsets --to-datetime: the first record at or after that time.
    const group = `tools-reset-${randomUUID().slice(0, 8)}`;
    const datetime = new Date(baseMs + 2500).toISOString().replace('Z', '+00:00');
    await consumerGroups('--reset-offsets', '--group', group, '--topic', topic, '--to-datetime', datetime, '--execute');
    expect(await consumerGroups('--describe', '--group', group)).toMatch(new RegExp(`${group}\\s+${topic}\\s+0\\s+3\\s+6\\s+3`));
  });

  it('a group reads the whole of a topic deleted and created again under its name, and kafka-consumer-groups describes it throughout', async () => {
    const topic = `tools-${randomUUID().slice(0, 8)}`;
    const group = `tools-group-${randomUUID().slice(0, 8)}`;
    await topics('--create', '--topic', topic, '--partitions', '1', '--replication-factor', '1');
    await producer.send({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ value: `first-${i}` })) });
    expect(await consume(topic, group, 20)).toEqual(Array.from({ length: 20 }, (_, i) => `first-${i}`));
    expect(await consumerGroups('--describe', '--group', group)).toMatch(new RegExp(`${group}\\s+${topic}\\s+0\\s+20\\s+20\\s+0`));

    await topics('--delete', '--topic', topic);
    // The group still describes (Kafka: no offsets left, "has no active members"), alone and among all groups.
    await consumerGroups('--describe', '--group', group);
    await consumerGroups('--describe', '--all-groups');

    await topics('--create', '--topic', topic, '--partitions', '1', '--replication-factor', '1');
    await producer.send({ topic, messages: Array.from({ length: 30 }, (_, i) => ({ value: `second-${i}` })) });
    expect(await consume(topic, group, 30)).toEqual(Array.from({ length: 30 }, (_, i) => `second-${i}`));
    expect(await consumerGroups('--describe', '--group', group)).toMatch(new RegExp(`${group}\\s+${topic}\\s+0\\s+30\\s+30\\s+0`));
  });

  it('a compacted topic keeps the latest record of each key at its offset; the console consumer reads across the gaps; a keyless record is refused', async () => {
    const topic = `tools-compacted-${randomUUID().slice(0, 8)}`;
    // segment.ms: Kafka rolls its active segment (Spool merges the flushes into a segment) 100 ms on.
    const config = ['cleanup.policy=compact', 'segment.ms=100', 'min.cleanable.dirty.ratio=0.01'];
    await topics('--create', '--topic', topic, '--partitions', '1', '--replication-factor', '1', ...config.flatMap((c) => ['--config', c]));
    for (let round = 0; round < 4; round++)
      await producer.send({ topic, messages: ['a', 'b', 'c'].map((key) => ({ key, value: `${key}${round}` })) });
    await sleep(300);
    await producer.send({ topic, messages: [{ key: 'end', value: 'end' }] }); // Kafka: in a segment of its own, never cleaned
    await expect(producer.send({ topic, messages: [{ key: null, value: 'keyless' }] })).rejects.toMatchObject({ type: 'INVALID_RECORD' });

    const read = async () =>
      (
        await tool('org.apache.kafka.tools.consumer.ConsoleConsumer', [
          ...['--topic', topic, '--from-beginning', '--max-messages', '4', '--timeout-ms', '10000'],
          ...['--property', 'print.offset=true', '--property', 'print.key=true'],
        ])
      )
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => line.split('\t').join(' '));
    const cleaned = ['Offset:9 a a3', 'Offset:10 b b3', 'Offset:11 c c3', 'Offset:12 end end'];
    if (httpUrl) {
      await sleep(300);
      const response = await fetch(`${httpUrl}/v1/admin/maintenance`, { method: 'POST' });
      // The pass cleans every compacted topic of the suite's agent (connect.test.ts and streams.test.ts leave theirs): 9 of them are this topic's.
      expect(((await response.json()) as { records_cleaned: number }).records_cleaned).toBeGreaterThanOrEqual(9);
    }
    let seen = await read();
    for (const deadline = Date.now() + 60_000; seen.join() !== cleaned.join() && Date.now() < deadline; ) {
      await sleep(2000); // Kafka's cleaner looks every 15 s (log.cleaner.backoff.ms)
      seen = await read();
    }
    expect(seen).toEqual(cleaned);
    expect((await getOffsets('--topic', topic, '--time', '-1')).trim()).toBe(`${topic}:0:13`);
  });
});
