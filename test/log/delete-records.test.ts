/**
 * Log.deleteRecordsBefore (Kafka's DeleteRecords): the log start offset only rises, offsets below it
 * are never served again, and no offset is ever assigned twice — also with produces racing it and
 * retention deleting the rows below the start afterwards.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Log } from '../../lib/log/index.js';
import { closeAll, newLog, openTestStores, str, text, type TestStores } from '../support/logs.js';
import { embedded } from '../support/stores.js';

const logs: Log[] = [];
const storesOpened: TestStores[] = [];
const topicName = () => `dr-${randomUUID().slice(0, 8)}`;

async function setup(): Promise<Log> {
  const stores = await openTestStores(embedded.locations());
  storesOpened.push(stores);
  const log = newLog(stores);
  logs.push(log);
  return log;
}

afterEach(async () => {
  await closeAll(logs.splice(0), storesOpened.splice(0));
});

const records = (count: number, prefix = 'v') =>
  Array.from({ length: count }, (_, i) => ({ key: null, value: text(`${prefix}${i}`), partition: 0 }));

describe('log > delete records', () => {
  it('raises the log start offset; offsets below it are out of range for every reader', async () => {
    const log = await setup();
    const name = topicName();
    await log.createTopic(name, 1);
    await log.produce(name, records(10));
    await log.flush();

    expect(await log.deleteRecordsBefore(name, 0, 4)).toEqual({ logStartOffset: 4 });
    expect(await log.offsetRange(name, 0)).toEqual({ earliest: 4, latest: 10, lastStable: 10 });
    expect(await log.listOffset(name, 0, 'earliest')).toMatchObject({ offset: 4 });
    await expect(log.fetch(name, 0, 3)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
    await expect(log.readBatches(name, 0, 0)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
    const earliest = await log.fetch(name, 0, 'earliest');
    expect(earliest.records.map((r) => [r.offset, str(r.value)])).toEqual([
      [4, 'v4'],
      [5, 'v5'],
      [6, 'v6'],
      [7, 'v7'],
      [8, 'v8'],
      [9, 'v9'],
    ]);
    expect(earliest.logStartOffset).toBe(4);
    // A batch straddling the start is served from the start only.
    const fromStart = await log.readBatches(name, 0, 4);
    expect(fromStart.logStartOffset).toBe(4);
  });

  it('never lowers the start, refuses offsets beyond the high watermark, and reaches it for "high-watermark"', async () => {
    const log = await setup();
    const name = topicName();
    await log.createTopic(name, 2);
    await log.produce(name, records(5));
    await log.deleteRecordsBefore(name, 0, 3);
    expect(await log.deleteRecordsBefore(name, 0, 1)).toEqual({ logStartOffset: 3 });
    expect(await log.deleteRecordsBefore(name, 0, 3)).toEqual({ logStartOffset: 3 });
    await expect(log.deleteRecordsBefore(name, 0, 6)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
    await expect(log.deleteRecordsBefore(name, 0, -5)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
    await expect(log.deleteRecordsBefore(name, 0, 2.5)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
    expect(await log.offsetRange(name, 0)).toEqual({ earliest: 3, latest: 5, lastStable: 5 });
    expect(await log.deleteRecordsBefore(name, 0, 'high-watermark')).toEqual({ logStartOffset: 5 });
    expect(await log.deleteRecordsBefore(name, 1, 'high-watermark')).toEqual({ logStartOffset: 0 });
    await expect(log.deleteRecordsBefore(name, 2, 0)).rejects.toMatchObject({ code: 'PARTITION_NOT_FOUND' });
    await expect(log.deleteRecordsBefore(topicName(), 0, 0)).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' });
    // Everything is gone, and the next record takes the next offset: none is assigned again.
    expect((await log.fetch(name, 0, 'earliest')).records).toEqual([]);
    expect(await log.produce(name, records(1))).toEqual([{ partition: 0, offset: 5 }]);
    expect((await log.fetch(name, 0, 'earliest')).records.map((r) => r.offset)).toEqual([5]);
  });

  it('with produces racing it: offsets stay unique and contiguous, and none below the start is served', async () => {
    const log = await setup();
    const name = topicName();
    await log.createTopic(name, 1);
    const produced: number[] = [];
    const starts: number[] = [];
    await Promise.all([
      (async () => {
        for (let round = 0; round < 20; round++) produced.push(...(await log.produce(name, records(3, `r${round}-`))).map((p) => p.offset));
      })(),
      (async () => {
        for (let round = 0; round < 20; round++) starts.push((await log.deleteRecordsBefore(name, 0, 'high-watermark')).logStartOffset);
      })(),
    ]);
    expect([...produced].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    const { earliest, latest } = await log.offsetRange(name, 0);
    expect(latest).toBe(60);
    expect(earliest).toBeGreaterThanOrEqual(starts[starts.length - 1]!);
    const fetched = await log.fetch(name, 0, 'earliest');
    expect(fetched.records.every((r) => r.offset >= earliest)).toBe(true);
    expect(fetched.records.map((r) => r.offset)).toEqual(
      Array.from({ length: latest - earliest }, (_, i) => earliest + i).slice(0, fetched.records.length),
    );
  });

  it('leaves the rows below the start to retention, which deletes them without moving any offset', async () => {
    const log = await setup();
    const name = topicName();
    await log.createTopic(name, 1);
    await log.produce(name, records(4, 'a'));
    await log.flush();
    await log.produce(name, records(4, 'b'));
    await log.flush();
    expect(await log.partitionSizeBytes(name, 0)).toBeGreaterThan(0);
    const before = await log.partitionSizeBytes(name, 0);
    await log.deleteRecordsBefore(name, 0, 4);
    expect(await log.partitionSizeBytes(name, 0)).toBeLessThan(before);
    await log.runMaintenance();
    expect(await log.offsetRange(name, 0)).toEqual({ earliest: 4, latest: 8, lastStable: 8 });
    expect((await log.fetch(name, 0, 'earliest')).records.map((r) => str(r.value))).toEqual(['b0', 'b1', 'b2', 'b3']);
    expect(await log.produce(name, records(1, 'c'))).toEqual([{ partition: 0, offset: 8 }]);
  });
});
