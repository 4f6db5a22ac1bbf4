/**
 * Queues over a real log and metadata store (lib/queues/service.ts), written once and run on the
 * embedded store and on DynamoDB Local: records handed to one holder at a time, settled by their
 * holder only, redelivered when released or when a lock expires, dead at the delivery limit or on
 * a reject, offsets holding no record archived as gaps, instances racing over one group each
 * handing out records no other holds, and dead letters written as Kafka 4.4 writes them, at least
 * once, whatever becomes of their writer.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { encodeRecordBatch } from '../../lib/format/index.js';
import type { Log } from '../../lib/log/index.js';
import { QueueService } from '../../lib/queues/service.js';
import { deadLetterClaimMs } from '../../lib/queues/share-partition.js';
import type { StoreKind } from '../support/stores.js';
import { perTestLogs, str, text } from '../support/logs.js';
import { byReceipt, delayedBy, queueSetup, values } from './support.js';

export function queueServiceSuite(kind: () => StoreKind): void {
  const openLogs = perTestLogs(kind);

  const setup = queueSetup(openLogs);

  it('hands each record to one receive, settles it by its holder, and answers a repeated acknowledgement as already settled', async () => {
    const { queues, group, topic } = await setup({ records: 5 });
    const first = await queues.receive(group, topic, { maxRecords: 3 });
    expect(values(first.records)).toEqual([
      [0, 'r0', 1],
      [1, 'r1', 1],
      [2, 'r2', 1],
    ]);
    const second = await queues.receive(group, topic, { maxRecords: 10 });
    expect(values(second.records)).toEqual([
      [3, 'r3', 1],
      [4, 'r4', 1],
    ]);
    expect((await queues.receive(group, topic)).records).toEqual([]);
    // Only the holder settles: the other receive's acknowledgement of the same records is refused.
    const stolen = await queues.acknowledge(group, topic, [{ holder: second.holder, partition: 0, first: 0, last: 2, type: 'accept' }]);
    expect(stolen).toEqual([{ status: 'lock_expired', reason: expect.stringContaining('another member') }]);
    expect(await queues.acknowledge(group, topic, byReceipt(first.records, 'accept'))).toEqual([
      { status: 'ok' },
      { status: 'ok' },
      { status: 'ok' },
    ]);
    // A retry whose first answer was lost.
    expect((await queues.acknowledge(group, topic, byReceipt(first.records, 'accept'))).map((r) => r.status)).toEqual([
      'already_settled',
      'already_settled',
      'already_settled',
    ]);
    const described = await queues.describe(group);
    expect(described.partitions).toEqual([
      { topic, partition: 0, startOffset: 3, endOffset: 5, logEndOffset: 5, acquired: 2, available: 0, dead: 0, delayed: 0 },
    ]);
  });

  it('redelivers released records and expired locks with their delivery counts, and kills a record at the delivery limit', async () => {
    const { queues, group, topic, clock } = await setup({ records: 2, config: { 'share.delivery.count.limit': 2 } });
    const first = await queues.receive(group, topic, { maxRecords: 2, lockMs: 5000 });
    expect(await queues.acknowledge(group, topic, byReceipt(first.records.slice(0, 1), 'release'))).toEqual([{ status: 'ok' }]);
    const again = await queues.receive(group, topic, { maxRecords: 2, lockMs: 5000 });
    expect(values(again.records)).toEqual([[0, 'r0', 2]]);
    // r1's lock expires: its holder can no longer settle it, and it is delivered a second time.
    clock.ms += 5000;
    expect(await queues.acknowledge(group, topic, byReceipt(first.records.slice(1), 'accept'))).toEqual([
      { status: 'lock_expired', reason: expect.stringContaining('expired') },
    ]);
    const third = await queues.receive(group, topic, { maxRecords: 2, lockMs: 5000 });
    expect(values(third.records)).toEqual([[1, 'r1', 2]]);
    // r0 was at its limit (2 deliveries) when its lock expired: dead, not handed out again.
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ startOffset: 1, acquired: 1, dead: 1 });
    expect(await queues.acknowledge(group, topic, byReceipt(third.records, 'reject'))).toEqual([{ status: 'ok' }]);
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ startOffset: 2, acquired: 0, available: 0, dead: 2 });
    expect((await queues.receive(group, topic)).records).toEqual([]);
  });

  it('extends a lock past its first visibility; an extension of an expired lock is refused', async () => {
    const { queues, group, topic, clock } = await setup({ records: 2 });
    const held = await queues.receive(group, topic, { maxRecords: 2, lockMs: 2000 });
    const [r0, r1] = byReceipt(held.records, 'renew');
    clock.ms += 1500;
    expect(await queues.extend(group, topic, [r0!], 10_000)).toEqual([{ status: 'ok' }]);
    clock.ms += 1000;
    expect(await queues.extend(group, topic, [r1!], 10_000)).toEqual([
      { status: 'lock_expired', reason: expect.stringContaining('expired') },
    ]);
    // Only r1 is handed out again; r0 is still held, and its holder settles it.
    expect(values((await queues.receive(group, topic, { maxRecords: 2 })).records)).toEqual([[1, 'r1', 2]]);
    expect(await queues.acknowledge(group, topic, [{ ...r0!, type: 'accept' }])).toEqual([{ status: 'ok' }]);
    await expect(queues.extend(group, topic, [r0!], 10)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('archives offsets that hold no record (markers, aborted records read_committed) as gaps, never dead', async () => {
    const { log, queues, group, topic, produce } = await setup({ config: { 'share.isolation.level': 'read_committed' } });
    const batch = encodeRecordBatch([{ key: null, value: text('aborted'), timestampMs: 1000 }], {
      producerId: 7,
      producerEpoch: 0,
      baseSequence: 0,
      isTransactional: true,
    });
    const check = { transactionalId: 'tx', async verify() {} };
    await (await log.appendBatches(topic, 0, batch, { transaction: check })).done;
    // Open: nothing may be handed out read_committed.
    expect((await queues.receive(group, topic)).records).toEqual([]);
    await log.writeMarkers([{ topic, partition: 0, producerId: 7, producerEpoch: 0, commit: false, version: 1 }]);
    await produce(['kept']);
    const received = await queues.receive(group, topic, { maxRecords: 10 });
    expect(values(received.records)).toEqual([[2, 'kept', 1]]);
    expect(await queues.acknowledge(group, topic, byReceipt(received.records, 'accept'))).toEqual([{ status: 'ok' }]);
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ startOffset: 3, endOffset: 3, acquired: 0, dead: 0 });
  });

  it('starts a group at the log end by default, pinned there by its first receive', async () => {
    const { queues, topic, produce } = await setup({ records: 3 });
    const group = `latest-${randomUUID()}`;
    expect((await queues.receive(group, topic)).records).toEqual([]);
    await produce(['after']);
    expect(values((await queues.receive(group, topic)).records)).toEqual([[3, 'after', 1]]);
  });

  it('waits for a record produced during a receive (a long poll)', async () => {
    const { stores, log, topic, group, produce } = await setup();
    const queues = new QueueService(log, stores.metadata);
    const started = Date.now();
    const receiving = queues.receive(group, topic, { waitMs: 5000 });
    setTimeout(() => void produce(['late']), 300);
    expect(values((await receiving).records)).toEqual([[0, 'late', 1]]);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('never hands a record to two holders at once while instances race over one group (each record accepted once)', async () => {
    const { stores, make, topic, group, produce } = await setup({ partitions: 2 });
    const total = 60;
    await produce(
      Array.from({ length: total / 2 }, (_, i) => `a${i}`),
      0,
    );
    await produce(
      Array.from({ length: total / 2 }, (_, i) => `b${i}`),
      1,
    );
    const instances = [0, 1, 2].map(() => new QueueService(make(), stores.metadata, { configCacheMs: 0 }));
    const accepted = new Map<string, number>();
    const held = new Set<string>();
    await Promise.all(
      instances.flatMap((queues, i) =>
        [0, 1].map(async (worker) => {
          for (let idle = 0; idle < 3; ) {
            const { records } = await queues.receive(group, topic, { maxRecords: 4 });
            if (records.length === 0) {
              idle++;
              continue;
            }
            for (const r of records) {
              const id = `${r.partition}:${r.offset}`;
              expect(held.has(id)).toBe(false); // one holder at a time: held until its acknowledgement is answered
              held.add(id);
            }
            // Every other batch is released once, to be handed out again elsewhere.
            const release = (i + worker) % 2 === 0 && records.every((r) => r.deliveryCount === 1);
            const results = await queues.acknowledge(group, topic, byReceipt(records, release ? 'release' : 'accept'));
            for (const r of records) held.delete(`${r.partition}:${r.offset}`);
            expect(results.every((r) => r.status === 'ok')).toBe(true);
            if (!release)
              for (const r of records) accepted.set(`${r.partition}:${r.offset}`, (accepted.get(`${r.partition}:${r.offset}`) ?? 0) + 1);
          }
        }),
      ),
    );
    expect(accepted.size).toBe(total);
    expect([...accepted.values()].every((n) => n === 1)).toBe(true);
  });

  it('reads every acquired record when they exceed one read’s bytes, and none of them is taken for a gap', async () => {
    const { queues, group, topic, log } = await setup();
    const big = 1_000_000;
    for (let i = 0; i < 9; i++) await log.produce(topic, [{ key: null, value: Buffer.alloc(big, i), partition: 0 }]);
    const received = await queues.receive(group, topic, { maxRecords: 9 });
    expect(received.records.map((r) => [r.offset, r.value!.length, r.value![0]])).toEqual(Array.from({ length: 9 }, (_, i) => [i, big, i]));
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ acquired: 9, startOffset: 0 });
  });

  it('takes for gaps only records the log start passed while they were read, and hands out the rest', async () => {
    const { stores, log, topic, group } = await setup({ records: 10 });
    // The log's start moves to 5 between the acquire and the read, as retention or DeleteRecords may.
    let moved = false;
    const racing: Log = Object.assign(Object.create(log) as Log, {
      fetch: async (...args: Parameters<Log['fetch']>) => {
        if (!moved) {
          moved = true;
          await log.deleteRecordsBefore(topic, 0, 5);
        }
        return log.fetch(...args);
      },
    });
    const queues = new QueueService(racing, stores.metadata, { configCacheMs: 0 });
    const received = await queues.receive(group, topic, { maxRecords: 10 });
    expect(values(received.records)).toEqual([5, 6, 7, 8, 9].map((i) => [i, `r${i}`, 1]));
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ startOffset: 5, acquired: 5, dead: 0 });
  });

  it('wakes a waiting receive when another receive releases records', async () => {
    const { stores, log, topic, group } = await setup({ records: 1 });
    const queues = new QueueService(log, stores.metadata);
    const held = await queues.receive(group, topic);
    const started = Date.now();
    const waiting = queues.receive(group, topic, { waitMs: 8000 });
    setTimeout(() => void queues.acknowledge(group, topic, byReceipt(held.records, 'release')), 300);
    expect(values((await waiting).records)).toEqual([[0, 'r0', 2]]);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('answers an acknowledgement of a range partly settled and partly held as invalid, settling nothing', async () => {
    const { queues, group, topic } = await setup({ records: 3 });
    const { holder } = await queues.receive(group, topic, { maxRecords: 3 });
    expect(await queues.acknowledge(group, topic, [{ holder, partition: 0, first: 0, last: 0, type: 'accept' }])).toEqual([
      { status: 'ok' },
    ]);
    expect(await queues.acknowledge(group, topic, [{ holder, partition: 0, first: 0, last: 2, type: 'accept' }])).toEqual([
      { status: 'invalid', reason: expect.any(String) },
    ]);
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ startOffset: 1, acquired: 2 });
  });

  it('refuses bad input with a clear code and changes nothing', async () => {
    const { queues, group, topic } = await setup({ records: 1 });
    await expect(queues.receive(group, 'no-such-topic')).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' });
    await expect(queues.receive(group, topic, { maxRecords: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(queues.receive(group, topic, { lockMs: 10 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(queues.receive('', topic)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(queues.alterConfig(group, { 'share.delivery.count.limit': 11 })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    await expect(queues.alterConfig(group, { 'share.nonsense': 1 })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    expect((await queues.describe(group)).config['share.delivery.count.limit']).toBe(5);
    const { holder } = await queues.receive(group, topic);
    expect(
      await queues.acknowledge(group, topic, [
        { holder, partition: 0, first: 5, last: 6, type: 'accept' },
        { holder, partition: 3, first: 0, last: 0, type: 'accept' },
        { holder, partition: 0, first: 0, last: 0, type: 'accept', topicId: randomUUID() },
      ]),
    ).toEqual([
      { status: 'invalid', reason: expect.stringContaining('never acquired') },
      { status: 'invalid', reason: expect.stringContaining('partition 3') },
      { status: 'invalid', reason: expect.stringContaining('since deleted') },
    ]);
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ acquired: 1 });
    await expect(queues.describe(`none-${randomUUID()}`)).rejects.toMatchObject({ code: 'GROUP_NOT_FOUND' });
  });

  /** The dead letters in a topic's partition: headers as text, key and value. */
  async function deadLetters(log: Log, topic: string, partition: number) {
    const { records } = await log.fetch(topic, partition, 0, { maxRecords: 100, maxBytes: 1 << 20 });
    return records.map((r) => ({
      key: str(r.key),
      value: str(r.value),
      headers: r.headers.map((h) => [h.key, str(h.value)]),
      timestampMs: r.timestampMs,
    }));
  }
  const letterHeaders = (topic: string, partition: number, offset: number, group: string, count: number, message: string) => [
    ['__dlq.errors.topic', topic],
    ['__dlq.errors.partition', String(partition)],
    ['__dlq.errors.offset', String(offset)],
    ['__dlq.errors.group', group],
    ['__dlq.errors.delivery.count', String(count)],
    ['__dlq.errors.message', message],
  ];

  it('writes a dead letter for a reject and at the delivery limit (released or expired), as Kafka 4.4 does, then archives the record', async () => {
    const dlq = `dlq.${randomUUID()}`;
    const { log, queues, group, topic, clock } = await setup({
      partitions: 2,
      config: {
        'share.delivery.count.limit': 2,
        'errors.deadletterqueue.topic.name': dlq,
        'errors.deadletterqueue.copy.record.enable': true,
      },
    });
    await log.createTopic(dlq, 3, { 'errors.deadletterqueue.group.enable': true });
    await log.produce(
      topic,
      ['r0', 'r1', 'r2'].map((value) => ({
        key: text(`k-${value}`),
        value: text(value),
        partition: 1,
        headers: [{ key: 'h', value: text('x') }],
      })),
    );
    const take = async () => (await queues.receive(group, topic, { maxRecords: 1, lockMs: 5000 })).records;
    const r0 = await take();
    // A reject, with the client's reason.
    expect(await queues.acknowledge(group, topic, [{ ...byReceipt(r0, 'reject')[0]!, error: 'bad payload' }])).toEqual([{ status: 'ok' }]);
    // Released at the limit.
    const r1 = await take();
    expect(await queues.acknowledge(group, topic, byReceipt(r1, 'release'))).toEqual([{ status: 'ok' }]);
    expect(values(await take())).toEqual([[1, 'r1', 2]]);
    clock.ms += 5000; // r1's lock expires, at the limit
    expect(values(await take())).toEqual([[2, 'r2', 1]]); // r1 dead at the limit
    clock.ms += 5000;
    expect(values(await take())).toEqual([[2, 'r2', 2]]);
    clock.ms += 5000; // r2's second lock expires: at the limit
    expect(await take()).toEqual([]);
    const letters = await deadLetters(log, dlq, 1); // source partition 1 of a 3-partition dead-letter topic
    expect(letters.map(({ timestampMs, ...rest }) => rest)).toEqual([
      { key: 'k-r0', value: 'r0', headers: letterHeaders(topic, 1, 0, group, 1, 'bad payload') },
      { key: 'k-r1', value: 'r1', headers: letterHeaders(topic, 1, 1, group, 2, 'Offset delivery count exceeded the threshold.') },
      { key: 'k-r2', value: 'r2', headers: letterHeaders(topic, 1, 2, group, 2, 'Offset delivery count exceeded the threshold.') },
    ]);
    // Stamped when written (the service's clock), not with the record's time.
    expect(letters.at(-1)!.timestampMs).toBe(clock.ms);
    expect((await deadLetters(log, dlq, 0)).length + (await deadLetters(log, dlq, 2)).length).toBe(0);
    expect((await queues.describe(group)).partitions.find((p) => p.partition === 1)).toMatchObject({
      startOffset: 3,
      acquired: 0,
      available: 0,
      dead: 3,
    });
  });

  it('writes headers only unless the group copies records, and no dead letter where Kafka would write none, archiving regardless', async () => {
    const lines: string[] = [];
    const dlq = `dlq.${randomUUID()}`;
    const { log, queues, group, topic, produce } = await setup({
      service: { logger: { log: (level, message, fields) => lines.push(`${level} ${message} ${JSON.stringify(fields)}`) } },
    });
    const rejectOne = async () => {
      const records = (await queues.receive(group, topic, { maxRecords: 1 })).records;
      expect(await queues.acknowledge(group, topic, byReceipt(records, 'reject'))).toEqual([{ status: 'ok' }]);
    };
    await produce(['r0', 'r1', 'r2', 'r3', 'r4']);
    // The topic is missing (and dead-letter topics are not auto-created by default).
    await queues.alterConfig(group, { 'errors.deadletterqueue.topic.name': dlq });
    await rejectOne();
    expect(await log.cachedTopic(dlq)).toBeUndefined();
    // The topic has not opted in.
    await log.createTopic(dlq, 1);
    await rejectOne();
    // Off the prefix ("dlq." by default).
    const plain = `plain-${randomUUID()}`;
    await log.createTopic(plain, 1, { 'errors.deadletterqueue.group.enable': true });
    await queues.alterConfig(group, { 'errors.deadletterqueue.topic.name': plain });
    await rejectOne();
    expect(await deadLetters(log, plain, 0)).toEqual([]);
    expect(lines.filter((l) => l.startsWith('error Failed to write to DLQ, proceeding to ARCHIVED regardless.'))).toEqual([
      expect.stringContaining(`DLQ topic does not exist and auto create is disabled on cluster for share group: ${group}, topic: ${dlq}.`),
      expect.stringContaining(`DLQ is not enabled on configured DLQ topic for share group: ${group}, topic: ${dlq}.`),
      expect.stringContaining(`does not comply with the DLQ topic prefix in share group: ${group}, topic: ${plain}, prefix: dlq..`),
    ]);
    // Opted in, without copying: headers only.
    await log.alterTopic(dlq, { config: { 'errors.deadletterqueue.group.enable': true } });
    await queues.alterConfig(group, { 'errors.deadletterqueue.topic.name': dlq });
    await rejectOne();
    expect((await deadLetters(log, dlq, 0)).map(({ key, value, headers }) => ({ key, value, headers }))).toEqual([
      { key: null, value: null, headers: letterHeaders(topic, 0, 3, group, 1, 'Offset rejected by client.') },
    ]);
    // Every rejected record is archived, written or not.
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ startOffset: 4, dead: 4 });
  });

  it('writes a dead letter whose writer died before it was written: the next change takes the claim once it runs out', async () => {
    const dlq = `dlq.${randomUUID()}`;
    const { stores, make, log, queues, group, topic, clock } = await setup({
      records: 2,
      config: { 'errors.deadletterqueue.topic.name': dlq },
    });
    await log.createTopic(dlq, 1, { 'errors.deadletterqueue.group.enable': true });
    // An instance whose writes to the dead-letter topic never finish (it dies there).
    const dying = make();
    const stuck = new Proxy(dying, {
      get: (target, name, receiver) =>
        name === 'produce' ? () => new Promise(() => {}) : (Reflect.get(target, name, receiver) as unknown),
    });
    const doomed = new QueueService(stuck, stores.metadata, { now: () => clock.ms, configCacheMs: 0 });
    const r0 = await doomed.receive(group, topic, { maxRecords: 1 });
    void doomed.acknowledge(group, topic, byReceipt(r0.records, 'reject'));
    await expect.poll(async () => (await queues.describe(group)).partitions[0]?.dead).toBe(1);
    // Claimed: neither archived nor handed out, and another instance leaves the write to its writer meanwhile.
    const r1 = await queues.receive(group, topic, { maxRecords: 5 });
    expect(values(r1.records)).toEqual([[1, 'r1', 1]]);
    expect(await queues.acknowledge(group, topic, byReceipt(r1.records, 'accept'))).toEqual([{ status: 'ok' }]);
    expect(await deadLetters(log, dlq, 0)).toEqual([]);
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ startOffset: 0 });
    clock.ms += deadLetterClaimMs;
    expect((await queues.receive(group, topic, { maxRecords: 5 })).records).toEqual([]); // takes the claim, writes, archives
    expect((await deadLetters(log, dlq, 0)).map((l) => l.headers)).toEqual([
      letterHeaders(topic, 0, 0, group, 1, 'Offset rejected by client.'),
    ]);
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ startOffset: 2, dead: 1 });
  });

  it('holds a delayed record back until its time, handing out the rest meanwhile, then delivers it', async () => {
    const { log, queues, group, topic, clock } = await setup();
    const nowMs = clock.ms;
    await log.produce(topic, [
      { key: null, value: text('now'), partition: 0 },
      { key: null, value: text('in a minute'), partition: 0, headers: delayedBy(nowMs + 60_000) },
      // Relative to the record's own timestamp.
      {
        key: null,
        value: text('in two'),
        partition: 0,
        timestampMs: nowMs,
        headers: [{ key: 'spool.deliver.after.ms', value: text('120000') }],
      },
      { key: null, value: text('also now'), partition: 0, headers: [{ key: 'spool.deliver.at.ms', value: text('soon') }] }, // unreadable: at once
    ]);
    const first = await queues.receive(group, topic, { maxRecords: 10 });
    expect(values(first.records)).toEqual([
      [0, 'now', 1],
      [3, 'also now', 1],
    ]);
    await queues.acknowledge(group, topic, byReceipt(first.records, 'accept'));
    // The delayed records hold up nothing: the start moved past them.
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ startOffset: 4, acquired: 0, available: 0, delayed: 2 });
    expect((await queues.receive(group, topic)).records).toEqual([]);
    clock.ms = nowMs + 59_999;
    expect((await queues.receive(group, topic)).records).toEqual([]);
    clock.ms = nowMs + 60_000;
    const second = await queues.receive(group, topic, { maxRecords: 10 });
    expect(values(second.records)).toEqual([[1, 'in a minute', 1]]);
    // Delivered as any record: released, it comes back at once, its delivery counted.
    await queues.acknowledge(group, topic, byReceipt(second.records, 'release'));
    const again = await queues.receive(group, topic);
    expect(values(again.records)).toEqual([[1, 'in a minute', 2]]);
    await queues.acknowledge(group, topic, byReceipt(again.records, 'accept'));
    clock.ms = nowMs + 120_000;
    const third = await queues.receive(group, topic, { maxRecords: 10 });
    expect(values(third.records)).toEqual([[2, 'in two', 1]]);
    await queues.acknowledge(group, topic, byReceipt(third.records, 'accept'));
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ startOffset: 4, acquired: 0, available: 0, delayed: 0 });
  });

  it('defers more records than one change holds, and brings them all back in offset order', async () => {
    const { log, queues, group, topic, clock } = await setup();
    const nowMs = clock.ms;
    // Each due at its own time: one delay index entry each, more than a transaction holds.
    const count = 150;
    await log.produce(
      topic,
      Array.from({ length: count }, (_, i) => ({
        key: null,
        value: text(`r${i}`),
        partition: 0,
        headers: delayedBy(nowMs + 1000 + (count - i)),
      })),
    );
    expect((await queues.receive(group, topic, { maxRecords: 200 })).records).toEqual([]);
    expect((await queues.receive(group, topic, { maxRecords: 200 })).records).toEqual([]);
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ startOffset: count, delayed: count });
    clock.ms = nowMs + 10_000;
    const back: string[] = [];
    for (let round = 0; round < 5 && back.length < count; round++) {
      const received = await queues.receive(group, topic, { maxRecords: 200 });
      back.push(...received.records.map((r) => str(r.value)!));
      await queues.acknowledge(group, topic, byReceipt(received.records, 'accept'));
    }
    // The latest due first out of the index, yet handed out in offset order within a return.
    expect(back.sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))).toEqual(Array.from({ length: count }, (_, i) => `r${i}`));
    expect((await queues.describe(group)).partitions[0]).toMatchObject({ startOffset: count, acquired: 0, delayed: 0 });
  });

  it('forgets what was delayed when the group is reset: the delay index entries of the old state never come back', async () => {
    const { log, queues, group, topic, clock } = await setup();
    await log.produce(topic, [{ key: null, value: text('later'), partition: 0, headers: delayedBy(clock.ms + 1000) }]);
    expect((await queues.receive(group, topic)).records).toEqual([]);
    await queues.resetStart(group, await log.requireTopic(topic), 0, 1);
    clock.ms += 2000;
    await log.produce(topic, [{ key: null, value: text('after the reset'), partition: 0 }]);
    expect(values((await queues.receive(group, topic, { maxRecords: 10 })).records)).toEqual([[1, 'after the reset', 1]]);
  });

  it('wakes a waiting receive when a delayed record comes due', async () => {
    const { log, queues, group, topic } = await setup({ service: { now: Date.now } });
    await log.produce(topic, [{ key: null, value: text('soon'), partition: 0, headers: delayedBy(Date.now() + 400) }]);
    expect((await queues.receive(group, topic)).records).toEqual([]);
    const startMs = Date.now();
    const received = await queues.receive(group, topic, { waitMs: 5000 });
    expect(values(received.records)).toEqual([[0, 'soon', 1]]);
    // Woken by the due time, not by the 5 s recheck.
    expect(Date.now() - startMs).toBeLessThan(3000);
  });

  it('deletes a group only once no record is locked; a deleted group starts again from its settings’ defaults', async () => {
    const { queues, group, topic, clock } = await setup({ records: 1 });
    const held = await queues.receive(group, topic, { lockMs: 1000 });
    await expect(queues.delete(group)).rejects.toMatchObject({ code: 'GROUP_NOT_EMPTY' });
    clock.ms += 1000;
    await queues.delete(group);
    await expect(queues.describe(group)).rejects.toMatchObject({ code: 'GROUP_NOT_FOUND' });
    await expect(queues.delete(group)).rejects.toMatchObject({ code: 'GROUP_NOT_FOUND' });
    expect(await queues.acknowledge(group, topic, byReceipt(held.records, 'accept'))).toEqual([
      { status: 'invalid', reason: expect.stringContaining('no record') },
    ]);
    // Its "earliest" went with it: the default, "latest", starts past r0.
    expect((await queues.receive(group, topic)).records).toEqual([]);
  });
}
