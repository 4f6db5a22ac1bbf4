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
 *   with INVALID_RECORD;
 * - `kafka-transactions` (TransactionsCommand) with a kafkajs transaction open: `list`, `describe`,
 *   `describe-producers` (epoch, last marker's coordinator epoch, last sequence, the open
 *   transaction's start offset), `find-hanging` (none: the coordinator has every open partition),
 *   and `abort` (WriteTxnMarkers): its client-side refusal of an offset where no transaction starts,
 *   INVALID_PRODUCER_EPOCH for a stale epoch, then the abort of one partition's part of the open
 *   transaction, which the producer carries on and commits: read_committed skips only the aborted
 *   records, at the offsets Kafka gives them; a repeat succeeds and writes a marker that closes nothing.
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
const { stdout: tool, result: toolResult } = useKafkaTools(bootstrap);

const topics = (...args: string[]) => tool('org.apache.kafka.tools.TopicCommand', args);
const getOffsets = (...args: string[]) => tool('org.apache.kafka.tools.GetOffsetShell', args);
const consumerGroups = (...args: string[]) => tool('org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', args);
const transactionsTool = 'org.apache.kafka.tools.TransactionsCommand';
/** kafka-transactions' table (tab-separated, cells padded): its rows of cells, the header first. */
const transactions = async (...args: string[]) =>
  (await tool(transactionsTool, args))
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) =>
      line
        .replace(/\t$/, '')
        .split('\t')
        .map((cell) => cell.trim()),
    );
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

  it('kafka-transactions lists, describes and finds no hanging transaction; abort ends one partition of it, as Kafka does', async () => {
    const topic = `tools-txn-${randomUUID().slice(0, 8)}`;
    const transactionalId = `tools-txn-${randomUUID().slice(0, 8)}`;
    await topics('--create', '--topic', topic, '--partitions', '2', '--replication-factor', '1');
    const transactional = () => kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
    // A first instance commits a transaction on partition 0 (records 0-1, its marker at 2): the producer's last marker there.
    const first = transactional();
    await first.connect();
    const committed = await first.transaction();
    await committed.send({ topic, messages: ['c0', 'c1'].map((value) => ({ value, partition: 0 })) });
    await committed.commit();
    await first.disconnect();
    // A second instance (epoch 1) leaves one open: records 3-5 on partition 0, 0 on partition 1.
    const second = transactional();
    await second.connect();
    try {
      const open = await second.transaction();
      await open.send({ topic, messages: ['a0', 'a1', 'a2'].map((value) => ({ value, partition: 0 })) });
      await open.send({ topic, messages: [{ value: 'b0', partition: 1 }] });

      const listed = await transactions('list');
      expect(listed[0]).toEqual(['TransactionalId', 'Coordinator', 'ProducerId', 'TransactionState']);
      const row = listed.find((cells) => cells[0] === transactionalId);
      expect(row, JSON.stringify(listed)).toEqual([
        transactionalId,
        expect.stringMatching(/^\d+$/),
        expect.stringMatching(/^\d+$/),
        'Ongoing',
      ]);
      const [, coordinator, producerId] = row as [string, string, string, string];

      const describe = async () => {
        const [header, described, ...more] = await transactions('describe', '--transactional-id', transactionalId);
        expect(header).toEqual([
          'CoordinatorId',
          'TransactionalId',
          'ProducerId',
          'ProducerEpoch',
          'TransactionState',
          'TransactionTimeoutMs',
          'CurrentTransactionStartTimeMs',
          'TransactionDurationMs',
          'TopicPartitions',
        ]);
        expect(more).toEqual([]);
        return { fields: described!.slice(0, 6), times: described!.slice(6, 8), partitions: described![8]!.split(',').sort() };
      };
      const ongoing = await describe();
      expect(ongoing.fields).toEqual([coordinator, transactionalId, producerId, '1', 'Ongoing', '60000']);
      expect(ongoing.partitions).toEqual([`${topic}-0`, `${topic}-1`]);
      expect(Number(ongoing.times[0])).toBeGreaterThan(Date.now() - 120_000); // the start, and the duration the tool computes from it
      expect(Number(ongoing.times[1])).toBeGreaterThanOrEqual(0);

      // ProducerId, ProducerEpoch, LatestCoordinatorEpoch (its last marker's there; -1: none), LastSequence, [LastTimestamp], CurrentTransactionStartOffset.
      const producers = async (partition: number) => {
        const [header, ...rows] = await transactions('describe-producers', '--topic', topic, '--partition', String(partition));
        expect(header).toEqual([
          'ProducerId',
          'ProducerEpoch',
          'LatestCoordinatorEpoch',
          'LastSequence',
          'LastTimestamp',
          'CurrentTransactionStartOffset',
        ]);
        for (const cells of rows) expect(Number(cells[4])).toBeGreaterThan(Date.now() - 120_000);
        return rows.map((cells) => [...cells.slice(0, 4), cells[5]]);
      };
      expect(await producers(0)).toEqual([[producerId, '1', '0', '2', '3']]);
      expect(await producers(1)).toEqual([[producerId, '1', '-1', '0', '0']]);

      // Candidates: open transactions older than 0 minutes; none hangs, since the coordinator lists each one's partition.
      const noneHanging = [
        ['Topic', 'Partition', 'ProducerId', 'ProducerEpoch', 'CoordinatorEpoch', 'StartOffset', 'LastTimestamp', 'Duration(min)'],
      ];
      expect(await transactions('find-hanging', '--broker-id', coordinator, '--max-transaction-timeout', '0')).toEqual(noneHanging);
      expect(await transactions('find-hanging', '--topic', topic, '--max-transaction-timeout', '0')).toEqual(noneHanging);

      const abort = (partition: number, ...how: string[]) =>
        toolResult(transactionsTool, ['abort', '--topic', topic, '--partition', String(partition), ...how]);
      const nowhere = await abort(0, '--start-offset', '4');
      expect(nowhere.exit).toBe(1);
      expect(nowhere.stderr).toContain(`Could not find any open transactions starting at offset 4 on partition ${topic}-0`);
      const stale = await abort(1, '--producer-id', producerId, '--producer-epoch', '0', '--coordinator-epoch', '0');
      expect(stale.exit).toBe(1);
      expect(stale.stderr).toContain('failed due an invalid producer epoch'); // INVALID_PRODUCER_EPOCH, as the admin client words it
      expect(await producers(1)).toEqual([[producerId, '1', '-1', '0', '0']]);

      const aborted = await abort(0, '--start-offset', '3');
      expect(aborted, aborted.stderr).toMatchObject({ exit: 0, stdout: '' });
      expect(await producers(0)).toEqual([[producerId, '1', '0', '2', 'None']]);
      expect(await producers(1)).toEqual([[producerId, '1', '-1', '0', '0']]);
      // The coordinator still has the transaction open; the producer goes on (partition 0 again, after the abort's marker at 6) and commits.
      expect((await describe()).fields).toEqual([coordinator, transactionalId, producerId, '1', 'Ongoing', '60000']);
      await open.send({ topic, messages: [{ value: 'after', partition: 0 }] });
      expect(await producers(0)).toEqual([[producerId, '1', '0', '3', '7']]);
      await open.commit();

      const readCommitted = async (partition: number, count: number) =>
        (
          await tool('org.apache.kafka.tools.consumer.ConsoleConsumer', [
            ...['--topic', topic, '--partition', String(partition), '--offset', 'earliest', '--isolation-level', 'read_committed'],
            ...['--max-messages', String(count), '--timeout-ms', '10000', '--property', 'print.offset=true'],
          ])
        )
          .split('\n')
          .filter((line) => line.length > 0)
          .map((line) => line.split('\t').join(' '));
      expect(await readCommitted(0, 3)).toEqual(['Offset:0 c0', 'Offset:1 c1', 'Offset:7 after']);
      expect(await readCommitted(1, 1)).toEqual(['Offset:0 b0']);
      expect((await getOffsets('--topic', topic, '--time', '-1')).trim().split('\n').sort()).toEqual([`${topic}:0:9`, `${topic}:1:2`]);
      const ended = await describe();
      expect(ended.fields).toEqual([coordinator, transactionalId, producerId, '1', 'CompleteCommit', '60000']);
      expect(ended.partitions).toEqual(['']);
      expect((await transactions('list')).find((cells) => cells[0] === transactionalId)).toEqual([
        transactionalId,
        coordinator,
        producerId,
        'CompleteCommit',
      ]);

      // Again, with nothing open there: Kafka writes another marker, which closes nothing, and answers success.
      const again = await abort(0, '--producer-id', producerId, '--producer-epoch', '1', '--coordinator-epoch', '0');
      expect(again, again.stderr).toMatchObject({ exit: 0, stdout: '' });
      expect(await producers(0)).toEqual([[producerId, '1', '0', '3', 'None']]);
      expect((await getOffsets('--topic', topic, '--time', '-1')).trim().split('\n').sort()).toEqual([`${topic}:0:10`, `${topic}:1:2`]);
    } finally {
      await second.disconnect();
    }
  });
});
