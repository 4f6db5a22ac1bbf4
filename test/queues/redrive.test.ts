/**
 * Redrive (lib/queues/redrive.ts) over a real log and consumer groups on the embedded store: the
 * dead-letter topic is built here by producing records with KIP-1191's headers, as Kafka 4.4's
 * share groups write them, so these tests do not depend on Spool's own dead-letter writer.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type DecodedRecord, encodeRecordBatch } from '../../lib/format/index.js';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import type { Log, ProduceRecord } from '../../lib/log/index.js';
import { QueueRedrive, type RedrivePorts, decide, deadLetterHeaders, redriveGroupOf } from '../../lib/queues/redrive.js';
import { QueueService } from '../../lib/queues/service.js';
import { perTestLogs, str, text } from '../support/logs.js';
import { embedded } from '../support/stores.js';

interface Letter {
  readonly topic: string;
  readonly partition: number;
  readonly offset?: number;
  readonly group: string;
  readonly key?: string | null;
  readonly value?: string | null;
  readonly headers?: readonly { key: string; value: string }[];
}

/** A dead letter as Kafka 4.4 writes one: its headers in Kafka's order, UTF-8 text; the DLQ partition is the source's modulo. */
function deadLetter(letter: Letter, dlqPartitions: number): ProduceRecord {
  const headers = [
    [deadLetterHeaders.topic, letter.topic],
    [deadLetterHeaders.partition, String(letter.partition)],
    [deadLetterHeaders.offset, String(letter.offset ?? 0)],
    [deadLetterHeaders.group, letter.group],
    [deadLetterHeaders.deliveryCount, '5'],
    [deadLetterHeaders.message, 'Offset delivery count exceeded the threshold.'],
  ].map(([key, value]) => ({ key: key!, value: text(value!) }));
  return {
    key: letter.key == null ? null : text(letter.key),
    value: letter.value == null ? null : text(letter.value),
    headers: [...headers, ...(letter.headers ?? []).map((h) => ({ key: h.key, value: text(h.value) }))],
    partition: letter.partition % dlqPartitions,
  };
}

const openLogs = perTestLogs(() => embedded);

async function setup(options: { sourcePartitions?: number; dlqPartitions?: number } = {}) {
  const { stores, make } = await openLogs();
  const log = make();
  const id = randomUUID();
  const source = `orders-${id}`;
  const dlq = `dlq.orders-${id}`;
  const group = `workers-${id}`;
  const dlqPartitions = options.dlqPartitions ?? 2;
  await log.createTopic(source, options.sourcePartitions ?? 3);
  await log.createTopic(dlq, dlqPartitions);
  const queues = new QueueService(log, stores.metadata, { configCacheMs: 0 });
  await queues.alterConfig(group, { 'errors.deadletterqueue.topic.name': dlq });
  const groups = new GroupCoordinator(log, stores.metadata);
  const ports: RedrivePorts = { log, offsets: groups, configOf: (g) => queues.configOf(g) };
  const redrive = new QueueRedrive(ports);
  const letters = async (...list: Letter[]) => {
    for (const letter of list) await log.produce(dlq, [deadLetter(letter, dlqPartitions)]);
  };
  return { log, groups, queues, ports, redrive, source, dlq, group, letters };
}

/** Every record of the topic, partition by partition. */
async function all(log: Log, topic: string) {
  const { partitions } = await log.requireTopic(topic);
  const out: { partition: number; key: string | null; value: string | null; headers: Record<string, string | null> }[] = [];
  for (let partition = 0; partition < partitions; partition++)
    for (const r of (await log.fetch(topic, partition, 'earliest', { maxRecords: 10_000 })).records)
      out.push({
        partition,
        key: str(r.key),
        value: str(r.value),
        headers: Object.fromEntries(r.headers.map((h) => [h.key, str(h.value)])),
      });
  return out;
}

const none = { other_group: 0, no_value: 0, missing_topic: 0, malformed: 0 };

describe('queues > redrive', () => {
  it("moves the group's dead letters back to their topic and partition, with key, value and their own headers only", async () => {
    const { log, groups, redrive, source, dlq, group, letters } = await setup();
    await letters(
      { topic: source, partition: 2, group, key: 'k2', value: 'v2', headers: [{ key: 'trace', value: 't-1' }] },
      { topic: source, partition: 0, group, key: null, value: 'v0' },
      { topic: source, partition: 1, group: 'another-group', key: 'x', value: 'not ours' },
      { topic: source, partition: 1, group }, // copy.record.enable was off: neither key nor value
      { topic: `gone-${randomUUID()}`, partition: 0, group, value: 'topic deleted' },
      { topic: source, partition: 7, group, value: 'partition beyond the topic' },
    );
    const dlqBefore = await all(log, dlq);
    const result = await redrive.redrive(group);
    expect(result).toEqual({
      group,
      deadLetterTopic: dlq,
      redriveGroup: `spool-redrive.${group}`,
      moved: 2,
      passedOver: { other_group: 1, no_value: 1, missing_topic: 2, malformed: 0 },
      positions: [
        { partition: 0, offset: 3, endOffset: 3 },
        { partition: 1, offset: 3, endOffset: 3 },
      ],
    });
    expect(await all(log, source)).toEqual([
      { partition: 0, key: null, value: 'v0', headers: {} },
      { partition: 2, key: 'k2', value: 'v2', headers: { trace: 't-1' } },
    ]);
    // The dead-letter topic is read, never written; the position is an ordinary group's committed offsets.
    expect(await all(log, dlq)).toEqual(dlqBefore);
    const described = await groups.describe(`spool-redrive.${group}`);
    expect(described.partitions.map((p) => [p.topic, p.partition, p.committed, p.lag])).toEqual([
      [dlq, 0, 3, 0],
      [dlq, 1, 3, 0],
    ]);
  });

  it('moves back what the share group itself dead-lettered, and the group receives it again', async () => {
    const { log, queues, redrive, source, dlq, group } = await setup({ sourcePartitions: 1, dlqPartitions: 1 });
    await log.alterTopic(dlq, { config: { 'errors.deadletterqueue.group.enable': true } });
    await queues.alterConfig(group, { 'share.auto.offset.reset': 'earliest', 'errors.deadletterqueue.copy.record.enable': true });
    await log.produce(source, [{ key: text('k'), value: text('poison'), headers: [{ key: 'trace', value: text('t-1') }], partition: 0 }]);
    const received = await queues.receive(group, source);
    expect(received.records.map((r) => str(r.value))).toEqual(['poison']);
    const [record] = received.records;
    await queues.acknowledge(group, source, [
      { holder: received.holder, partition: 0, first: record!.offset, last: record!.offset, type: 'reject' },
    ]);
    expect((await all(log, dlq)).map((r) => [r.key, r.value, r.headers[deadLetterHeaders.group]])).toEqual([['k', 'poison', group]]);
    const result = await redrive.redrive(group);
    expect([result.moved, result.passedOver]).toEqual([1, none]);
    const again = await queues.receive(group, source);
    expect(again.records.map((r) => [str(r.key), str(r.value), r.offset, r.deliveryCount])).toEqual([['k', 'poison', 1, 1]]);
  });

  it('continues where the last redrive stopped: nothing twice, and a dead letter that came since is moved by the next', async () => {
    const { log, redrive, source, group, letters } = await setup();
    await letters({ topic: source, partition: 0, group, value: 'first' }, { topic: source, partition: 1, group, value: 'second' });
    expect((await redrive.redrive(group)).moved).toBe(2);
    const again = await redrive.redrive(group);
    expect([again.moved, again.passedOver]).toEqual([0, none]);
    await letters({ topic: source, partition: 1, group, value: 'third' });
    const next = await redrive.redrive(group);
    expect([next.moved, next.passedOver]).toEqual([1, none]);
    expect((await all(log, source)).map((r) => r.value)).toEqual(['first', 'second', 'third']);
  });

  it("leaves another group's dead letters to that group's own redrive", async () => {
    const { log, queues, redrive, source, dlq, group, letters } = await setup();
    const other = `other-${randomUUID()}`;
    await queues.alterConfig(other, { 'errors.deadletterqueue.topic.name': dlq });
    await letters({ topic: source, partition: 0, group, value: 'ours' }, { topic: source, partition: 0, group: other, value: 'theirs' });
    const ours = await redrive.redrive(group);
    expect([ours.moved, ours.passedOver.other_group]).toEqual([1, 1]);
    expect((await all(log, source)).map((r) => r.value)).toEqual(['ours']);
    const theirs = await redrive.redrive(other);
    expect([theirs.moved, theirs.passedOver.other_group, theirs.redriveGroup]).toEqual([1, 1, `spool-redrive.${other}`]);
    expect((await all(log, source)).map((r) => r.value)).toEqual(['ours', 'theirs']);
  });

  it('looks at no more than max_records records per call, moved or passed over, and the next call goes on', async () => {
    const { log, redrive, source, group, letters } = await setup({ dlqPartitions: 1 });
    await letters(
      { topic: source, partition: 0, group, value: 'a' },
      { topic: source, partition: 0, group: 'someone-else', value: 'x' },
      { topic: source, partition: 0, group, value: 'b' },
      { topic: source, partition: 0, group, value: 'c' },
    );
    const first = await redrive.redrive(group, { maxRecords: 2 });
    expect([first.moved, first.passedOver.other_group, first.positions]).toEqual([1, 1, [{ partition: 0, offset: 2, endOffset: 4 }]]);
    const second = await redrive.redrive(group, { maxRecords: 2 });
    expect([second.moved, second.positions]).toEqual([2, [{ partition: 0, offset: 4, endOffset: 4 }]]);
    expect((await all(log, source)).map((r) => r.value)).toEqual(['a', 'b', 'c']);
  });

  it('reads no further than the end as the call began: a record dead-lettered again meanwhile waits for the next call', async () => {
    const { log, ports, source, dlq, group, letters } = await setup({ dlqPartitions: 1 });
    await letters({ topic: source, partition: 0, group, value: 'poison' });
    // The record fails again as soon as it is back, and is dead-lettered again while the redrive runs.
    const redrive = new QueueRedrive({
      ...ports,
      log: {
        ...ports.log,
        topic: (name) => log.topic(name),
        requireTopic: (name) => log.requireTopic(name),
        offsetRange: (topic, partition) => log.offsetRange(topic, partition),
        fetch: (topic, partition, offset, options) => log.fetch(topic, partition, offset, options),
        produce: async (topic, records, options) => {
          const produced = await log.produce(topic, records, options);
          await log.produce(dlq, [deadLetter({ topic: source, partition: 0, group, value: 'poison' }, 1)]);
          return produced;
        },
      },
    });
    const first = await redrive.redrive(group);
    expect([first.moved, first.positions]).toEqual([1, [{ partition: 0, offset: 1, endOffset: 1 }]]);
    const second = await redrive.redrive(group, { maxRecords: 1 });
    expect([second.moved, second.positions]).toEqual([1, [{ partition: 0, offset: 2, endOffset: 2 }]]);
  });

  it('moves no dead letter of an open or aborted transaction', async () => {
    const { log, redrive, source, dlq, group, letters } = await setup({ dlqPartitions: 1 });
    const letter = deadLetter({ topic: source, partition: 0, group, value: 'aborted' }, 1);
    const batch = encodeRecordBatch([{ key: letter.key, value: letter.value, headers: letter.headers, timestampMs: Date.now() }], {
      producerId: 7,
      producerEpoch: 0,
      baseSequence: 0,
      isTransactional: true,
    });
    await (await log.appendBatches(dlq, 0, batch, { transaction: { transactionalId: 'tx', async verify() {} } })).done;
    const open = await redrive.redrive(group);
    expect([open.moved, open.positions]).toEqual([0, [{ partition: 0, offset: 0, endOffset: 0 }]]);
    await log.writeMarkers([{ topic: dlq, partition: 0, producerId: 7, producerEpoch: 0, commit: false, version: 1 }]);
    await letters({ topic: source, partition: 0, group, value: 'committed' });
    const after = await redrive.redrive(group);
    expect([after.moved, after.passedOver, after.positions]).toEqual([1, none, [{ partition: 0, offset: 3, endOffset: 3 }]]);
    expect((await all(log, source)).map((r) => r.value)).toEqual(['committed']);
  });

  it('is at least once: a redrive that fails after producing leaves the position, and the next sends the records again', async () => {
    const { log, ports, source, group, letters } = await setup({ dlqPartitions: 1 });
    await letters({ topic: source, partition: 0, group, value: 'once' });
    const failing = new QueueRedrive({
      ...ports,
      offsets: {
        offsets: (g) => ports.offsets.offsets(g),
        commit: async () => {
          throw new Error('crashed before the commit');
        },
      },
    });
    await expect(failing.redrive(group)).rejects.toThrow('crashed before the commit');
    expect((await all(log, source)).map((r) => r.value)).toEqual(['once']);
    const retried = await new QueueRedrive(ports).redrive(group);
    expect([retried.moved, retried.positions[0]!.offset]).toEqual([1, 1]);
    expect((await all(log, source)).map((r) => r.value)).toEqual(['once', 'once']);
  });

  it('asks the caller before reading the dead-letter topic and before producing to each topic; a refusal sends nothing and keeps the position', async () => {
    const { log, redrive, source, dlq, group, letters } = await setup({ dlqPartitions: 1 });
    await letters({ topic: source, partition: 0, group, value: 'v' });
    const asked: string[] = [];
    const refused = redrive.redrive(group, {
      authorize: (action, topic) => {
        asked.push(`${action} ${topic}`);
        if (action === 'write') throw new Error(`may not write ${topic}`);
      },
    });
    await expect(refused).rejects.toThrow(`may not write ${source}`);
    expect(asked).toEqual([`read ${dlq}`, `write ${source}`]);
    expect(await all(log, source)).toEqual([]);
    expect((await redrive.redrive(group)).moved).toBe(1);
  });

  it('reads the dead-letter topic named in the call instead of the group’s', async () => {
    const { log, redrive, source, group } = await setup();
    const elsewhere = `elsewhere-${randomUUID()}`;
    await log.createTopic(elsewhere, 1);
    await log.produce(elsewhere, [deadLetter({ topic: source, partition: 1, group, value: 'from elsewhere' }, 1)]);
    const result = await redrive.redrive(group, { deadLetterTopic: elsewhere });
    expect([result.deadLetterTopic, result.moved]).toEqual([elsewhere, 1]);
    expect(await all(log, source)).toEqual([{ partition: 1, key: null, value: 'from elsewhere', headers: {} }]);
  });

  it('refuses bad input with a stable code, reading and moving nothing', async () => {
    const { redrive, queues, group, letters, source } = await setup();
    await letters({ topic: source, partition: 0, group, value: 'v' });
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => 'resolved',
        (e) => [e.code, e.details?.field],
      );
    // A group with no dead-letter topic set (or never seen), and none named: nothing to read.
    expect(await refusal(redrive.redrive(`unknown-${randomUUID()}`))).toEqual(['INVALID_ARGUMENT', 'dead_letter_topic']);
    await queues.alterConfig(group, { 'errors.deadletterqueue.topic.name': null });
    expect(await refusal(redrive.redrive(group))).toEqual(['INVALID_ARGUMENT', 'dead_letter_topic']);
    expect(await refusal(redrive.redrive(group, { deadLetterTopic: '' }))).toEqual(['INVALID_ARGUMENT', 'dead_letter_topic']);
    for (const maxRecords of [0, -1, 1.5, 10_001, Number.NaN])
      expect(await refusal(redrive.redrive(group, { maxRecords, deadLetterTopic: source }))).toEqual(['INVALID_ARGUMENT', 'max_records']);
    expect(await refusal(redrive.redrive(group, { deadLetterTopic: `missing-${randomUUID()}` }))).toEqual(['TOPIC_NOT_FOUND', undefined]);
    expect(await refusal(redrive.redrive(group, { deadLetterTopic: 'no such/topic' }))).toEqual(['INVALID_TOPIC_NAME', undefined]);
    expect(await refusal(redrive.redrive('no spaces allowed'))).toEqual(['INVALID_ARGUMENT', 'group']);
    expect(await refusal(redrive.redrive('g'.repeat(240)))).toEqual(['INVALID_ARGUMENT', 'group']);
  });
});

describe('queues > redrive > decide', () => {
  const record = (letter: Partial<Letter> & { rawHeaders?: DecodedRecord['headers'] }): DecodedRecord => {
    const produced = deadLetter({ topic: 't', partition: 1, group: 'g', value: 'v', ...letter }, 4);
    return { offset: 0, timestampMs: 0, key: produced.key, value: produced.value, headers: letter.rawHeaders ?? [...produced.headers!] };
  };
  const partitions = (topic: string) => (topic === 't' ? 2 : undefined);

  it('moves a copied tombstone (a key, no value), and passes over a dead letter with neither', () => {
    expect(decide(record({ key: 'k', value: null }), 'g', partitions)).toMatchObject({
      kind: 'move',
      topic: 't',
      record: { partition: 1, value: null },
    });
    expect(decide(record({ key: null, value: null }), 'g', partitions)).toEqual({ kind: 'pass', reason: 'no_value' });
  });

  it('passes over records of other groups, or without the headers, and dead letters whose headers name no topic or partition', () => {
    expect(decide(record({ group: 'h' }), 'g', partitions)).toEqual({ kind: 'pass', reason: 'other_group' });
    expect(decide(record({ rawHeaders: [] }), 'g', partitions)).toEqual({ kind: 'pass', reason: 'other_group' });
    const headers = (partition: string, topic = 't') => [
      { key: deadLetterHeaders.topic, value: text(topic) },
      { key: deadLetterHeaders.partition, value: text(partition) },
      { key: deadLetterHeaders.group, value: text('g') },
    ];
    expect(decide(record({ rawHeaders: headers('-1') }), 'g', partitions)).toEqual({ kind: 'pass', reason: 'malformed' });
    expect(decide(record({ rawHeaders: headers('one') }), 'g', partitions)).toEqual({ kind: 'pass', reason: 'malformed' });
    expect(decide(record({ rawHeaders: headers('0', 'no/such topic') }), 'g', partitions)).toEqual({ kind: 'pass', reason: 'malformed' });
    expect(decide(record({ rawHeaders: headers('0', 'u') }), 'g', partitions)).toEqual({ kind: 'pass', reason: 'missing_topic' });
    expect(decide(record({ rawHeaders: headers('2') }), 'g', partitions)).toEqual({ kind: 'pass', reason: 'missing_topic' });
    expect(decide(record({ rawHeaders: headers('1') }), 'g', partitions)).toMatchObject({
      kind: 'move',
      record: { partition: 1, headers: [] },
    });
  });

  it('names the position group spool-redrive.<group>, and refuses a group that cannot name one', () => {
    expect(redriveGroupOf('workers')).toBe('spool-redrive.workers');
    expect(() => redriveGroupOf('')).toThrow(/group: a redrive keeps its position/);
    expect(() => redriveGroupOf('with space')).toThrow(/got "with space"/);
  });
});
