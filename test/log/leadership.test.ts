/**
 * The leadership cache (lib/log/leadership.ts): Kafka's Metadata learns who leads each partition
 * without reading every partition item per request, and never misses a lease changing hands for
 * longer than the topic's value takes to move (or maxAgeMs when it never does).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../lib/format/index.js';
import type { Log } from '../../lib/log/index.js';
import { LeadershipCache } from '../../lib/log/leadership.js';
import type { WriteOp } from '../../lib/storage/ports.js';
import { closeAll, newLog, openTestStores, type TestStores } from '../support/logs.js';
import { embedded } from '../support/stores.js';

/** A write of a topic's leadership value (leadership.ts). */
const isValueWrite = (op: WriteOp) => op.kind === 'update' && 'leadership' in op.set;

/** Until undone, the store refuses the next `times` writes of a leadership value (all of them by default). */
function refuseValueWrites(stores: TestStores, times = Number.POSITIVE_INFINITY): void {
  let left = times;
  stores.metadata.beforeWrite = (op) => {
    if (isValueWrite(op) && left-- > 0) throw new Error('storage refused the write');
  };
}

describe('log > leadership cache', () => {
  const logs: Log[] = [];
  const opened: TestStores[] = [];
  afterEach(async () => {
    await closeAll(logs.splice(0), opened.splice(0));
  });

  async function setup(partitions: number) {
    const stores = await openTestStores(embedded.locations());
    opened.push(stores);
    const make = (options: Parameters<typeof newLog>[1] = {}) => {
      const log = newLog(stores, { leaseRenewIntervalMs: 0, ...options });
      logs.push(log);
      return log;
    };
    const name = `leaders-${randomUUID().slice(0, 8)}`;
    const first = make();
    await first.createTopic(name, partitions);
    /** Who leads each partition, as `log` would answer a Metadata request now (the topic read first, as the handler does). */
    const leaders = async (log: Log) => (await log.partitionLeadership((await log.topic(name))!)).map((p) => p.owner);
    const writerOf = (log: Log) => log.internals.producer.writerId;
    return { stores, make, name, first, leaders, writerOf };
  }

  it('reads each partition once, then answers from the cache while the topic’s value stands', async () => {
    const { first: log, leaders } = await setup(100);
    expect(await leaders(log)).toEqual(Array(100).fill(null));
    const reads = log.internals.leadership.stats;
    expect(reads.partitionReads).toBe(100);
    await leaders(log);
    await leaders(log);
    expect(reads.partitionReads).toBe(100);
  });

  it('sees a lease another writer took or released once the topic’s value has moved', async () => {
    const { first: a, make, name, leaders, writerOf } = await setup(8);
    const b = make();
    expect(await leaders(a)).toEqual(Array(8).fill(null));
    await b.acquireLeadership(name, 3);
    await b.internals.leadership.settled();
    expect((await leaders(a))[3]).toBe(writerOf(b));
    await b.internals.leases.release((await b.topic(name))!.id, 3);
    await b.internals.leadership.settled();
    expect((await leaders(a))[3]).toBeNull();
  });

  it('drops its own cache at once when it takes a lease, before the topic’s value moves', async () => {
    const { first: a, name, leaders, writerOf } = await setup(8);
    const before = (await a.topic(name))!;
    await leaders(a);
    await a.acquireLeadership(name, 5);
    // Asked with the topic as read before the change: the cache tagged with its value is gone.
    expect((await a.partitionLeadership(before))[5]!.owner).toBe(writerOf(a));
  });

  it('keeps a cached lease past its expiry: renewals move no value, and the owner is what counts', async () => {
    let nowMs = 1_000_000;
    const clock = () => nowMs;
    const { make, name, leaders, writerOf } = await setup(8);
    const [a, b] = [make({ now: clock }), make({ now: clock, leaseMs: 1000 })];
    await b.acquireLeadership(name, 0);
    await b.internals.leadership.settled();
    expect((await leaders(a))[0]).toBe(writerOf(b));
    const reads = a.internals.leadership.stats;
    const readBefore = reads.partitionReads;
    for (let round = 0; round < 3; round++) {
      nowMs += 1500;
      await b.internals.leases.renewAll();
      expect((await leaders(a))[0]).toBe(writerOf(b));
    }
    expect(reads.partitionReads).toBe(readBefore);
  });

  it('drops its cache when it finds a partition led by another writer, though the value has not moved', async () => {
    const { stores, first: a, make, name, leaders, writerOf } = await setup(4);
    const b = make();
    await leaders(a);
    refuseValueWrites(stores);
    await b.acquireLeadership(name, 1);
    await b.internals.leadership.settled();
    stores.metadata.beforeWrite = undefined;
    expect((await leaders(a))[1]).toBeNull(); // stale: b's value never moved
    await expect(a.acquireLeadership(name, 1)).rejects.toMatchObject({ code: 'NOT_LEADER' });
    expect((await leaders(a))[1]).toBe(writerOf(b));
  });

  it('does not keep a fill that was under way when a change was seen', async () => {
    const { first: log, name } = await setup(2);
    const topic = (await log.topic(name))!;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const cache = new LeadershipCache(log.internals.options.stores.metadata, async (t, partition) => {
      await held;
      return log.internals.reader.state(t, partition);
    });
    const filling = cache.of(topic);
    cache.forget(topic.id);
    release();
    await filling;
    await cache.of(topic);
    expect(cache.stats.partitionReads).toBe(4);
    await cache.of(topic);
    expect(cache.stats.partitionReads).toBe(4);
  });

  it('answers from a stale cache for at most maxAgeMs when the topic’s value never moved', async () => {
    let nowMs = 1_000_000;
    const clock = () => nowMs;
    const { stores, make, name, leaders, writerOf } = await setup(4);
    const [a, b] = [make({ now: clock }), make({ now: clock })];
    await leaders(a);
    // b's write of the value fails (storage refused it, say).
    refuseValueWrites(stores);
    await b.acquireLeadership(name, 2);
    await b.internals.leadership.settled(); // after its tries, about 3 s
    stores.metadata.beforeWrite = undefined;
    expect(b.internals.leadership.stats).toMatchObject({ bumps: 6, bumpsFailed: 1 });
    expect((await leaders(a))[2]).toBeNull();
    nowMs += 299_000;
    expect((await leaders(a))[2]).toBeNull();
    nowMs += 1_000;
    expect((await leaders(a))[2]).toBe(writerOf(b));
  });

  it('tries again to move the value when storage refuses the write for a while', async () => {
    const { stores, first: a, make, name, leaders, writerOf } = await setup(4);
    const b = make();
    await leaders(a);
    refuseValueWrites(stores, 2);
    await b.acquireLeadership(name, 3);
    await b.internals.leadership.settled();
    stores.metadata.beforeWrite = undefined;
    expect(b.internals.leadership.stats).toMatchObject({ bumps: 3, bumpsFailed: 0 });
    expect((await leaders(a))[3]).toBe(writerOf(b));
  });

  it('drops its cache when a commit of its own finds its lease taken over', async () => {
    const { stores, first: a, make, name, leaders, writerOf } = await setup(2);
    const b = make();
    await a.acquireLeadership(name, 0);
    await a.internals.leadership.settled();
    expect((await leaders(a))[0]).toBe(writerOf(a));
    // b takes the partition over (a is taken for gone) and its value write fails: a's cache still says a.
    refuseValueWrites(stores);
    b.writerGone(writerOf(a));
    await b.acquireLeadership(name, 0);
    await b.internals.leadership.settled();
    stores.metadata.beforeWrite = undefined;
    expect((await leaders(a))[0]).toBe(writerOf(a));
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from('late'), timestampMs: Date.now() }]);
    const appended = await a.appendBatches(name, 0, batch, { asLeader: true });
    await expect(appended.done).rejects.toMatchObject({ code: 'FENCED_LEADER_EPOCH' });
    expect((await leaders(a))[0]).toBe(writerOf(b));
  });

  it('writes the value once for many changes while a write is in flight, and once more after them', async () => {
    const { stores, first: a, make, name, leaders, writerOf } = await setup(50);
    const b = make();
    const valueBefore = (await a.topic(name))!.leadership;
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let valueWrites = 0;
    stores.metadata.beforeWrite = async (op) => {
      if (isValueWrite(op) && ++valueWrites === 1) await firstHeld;
    };
    await Promise.all(Array.from({ length: 50 }, (_, partition) => b.acquireLeadership(name, partition)));
    releaseFirst();
    await b.internals.leadership.settled();
    stores.metadata.beforeWrite = undefined;
    expect(valueWrites).toBe(2);
    expect((await a.topic(name))!.leadership).not.toBe(valueBefore);
    expect(await leaders(a)).toEqual(Array(50).fill(writerOf(b)));
  });

  it('does not bring back a deleted topic’s item', async () => {
    const { first: a, name } = await setup(2);
    const topic = (await a.topic(name))!;
    await a.deleteTopic(name);
    await a.internals.leadership.changed(topic);
    expect(await a.topic(name)).toBeUndefined();
    expect(await a.listTopics()).toEqual([]);
  });
});
