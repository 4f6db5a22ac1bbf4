/**
 * Queues over a real log and metadata store (lib/queues/service.ts), written once and run on the
 * embedded store and on DynamoDB Local: records handed to one holder at a time, settled by their
 * holder only, redelivered when released or when a lock expires, dead at the delivery limit or on
 * a reject, offsets holding no record archived as gaps, and instances racing over one group each
 * handing out records no other holds.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { encodeRecordBatch } from '../../lib/format/index.js';
import type { Log } from '../../lib/log/index.js';
import { type QueueRecord, QueueService, decodeReceipt } from '../../lib/queues/service.js';
import type { StoreKind } from '../support/stores.js';
import { perTestLogs, str, text } from '../support/logs.js';

export function queueServiceSuite(kind: () => StoreKind): void {
  const openLogs = perTestLogs(kind);

  async function setup(options: { partitions?: number; records?: number; config?: Record<string, unknown> } = {}) {
    const { stores, make } = await openLogs();
    const log = make();
    const topic = `queue-${randomUUID()}`;
    const group = `share-${randomUUID()}`;
    await log.createTopic(topic, options.partitions ?? 1);
    const clock = { ms: Date.now() };
    const queues = new QueueService(log, stores.metadata, { now: () => clock.ms, configCacheMs: 0 });
    await queues.alterConfig(group, { 'share.auto.offset.reset': 'earliest', ...options.config });
    const produce = (values: readonly string[], partition = 0) =>
      log.produce(
        topic,
        values.map((value) => ({ key: null, value: text(value), partition })),
      );
    if (options.records) await produce(Array.from({ length: options.records }, (_, i) => `r${i}`));
    return { stores, make, log, topic, group, clock, queues, produce };
  }

  const values = (records: readonly QueueRecord[]) => records.map((r) => [r.offset, str(r.value), r.deliveryCount]);
  const byReceipt = (records: readonly QueueRecord[], type: 'accept' | 'release' | 'reject' | 'renew') =>
    records.map((r) => {
      const receipt = decodeReceipt(r.receipt, 'receipt');
      return {
        holder: receipt.holder,
        partition: receipt.partition,
        first: receipt.offset,
        last: receipt.offset,
        topicId: receipt.topicId,
        type,
      };
    });

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
      { topic, partition: 0, startOffset: 3, endOffset: 5, logEndOffset: 5, acquired: 2, available: 0, dead: 0 },
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
