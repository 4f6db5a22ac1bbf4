/**
 * Engine behaviour, written once and run on every store kind (embedded here, AWS adapters in
 * test/aws). Covers topics, produce, fetch, offsets, caching and restart.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { encodeRecordBatch, partitionForKey } from '../../lib/format/index.js';
import { partitionSk } from '../../lib/keys.js';
import type { Log } from '../../lib/log/index.js';
import type { StoreKind } from '../support/stores.js';
import { closeAll, newLog, openTestStores, str, text, type TestStores } from '../support/logs.js';

export function engineSuite(kind: () => StoreKind): void {
  const logs: Log[] = [];
  const storesOpened: TestStores[] = [];
  const topicName = () => `t-${randomUUID().slice(0, 8)}`;

  async function setup(options: Parameters<typeof newLog>[1] = {}) {
    const locations = kind().locations();
    const stores = await openTestStores(locations);
    storesOpened.push(stores);
    const log = newLog(stores, options);
    logs.push(log);
    return { log, stores, locations };
  }

  afterEach(async () => {
    await closeAll(logs.splice(0), storesOpened.splice(0));
  });

  /**
   * Holds the next segment PUT until `release`, resolving `firstUploading` when it starts; records
   * the partitions of every commit transaction from then on (until `beforeTransact` is reset).
   */
  function holdFirstFlush(stores: TestStores) {
    const transacted: number[][] = [];
    stores.metadata.beforeTransact = (ops) => {
      transacted.push(ops.filter((op) => op.key.sk === partitionSk).map((op) => Number(op.key.pk.split('#')[2])));
    };
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let uploading!: () => void;
    const firstUploading = new Promise<void>((resolve) => (uploading = resolve));
    stores.objects.beforePut = () => {
      stores.objects.beforePut = undefined;
      uploading();
      return held;
    };
    return { transacted, firstUploading, release };
  }

  describe('log > topics', () => {
    it('creates, lists, describes, grows and deletes a topic', async () => {
      const { log } = await setup();
      const name = topicName();
      const created = await log.createTopic(name, 3, { 'retention.ms': 60_000 });
      expect(created).toMatchObject({
        name,
        partitions: 3,
        config: { 'retention.ms': 60_000, 'retention.bytes': -1, 'max.message.bytes': 1_048_588 },
      });
      expect((await log.listTopics()).map((t) => t.name)).toContain(name);
      const described = await log.describeTopic(name);
      expect(described.partitions.map((p) => [p.partition, p.logStartOffset, p.nextOffset])).toEqual([
        [0, 0, 0],
        [1, 0, 0],
        [2, 0, 0],
      ]);
      await log.alterTopic(name, { partitions: 5, config: { 'retention.bytes': 1000 } });
      expect((await log.describeTopic(name)).partitions).toHaveLength(5);
      expect((await log.requireTopic(name)).config['retention.bytes']).toBe(1000);
      await expect(log.alterTopic(name, { partitions: 2 })).rejects.toMatchObject({ code: 'INVALID_PARTITIONS' });
      await log.deleteTopic(name);
      expect(await log.topic(name)).toBeUndefined();
      await expect(log.describeTopic(name)).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' });
    });

    it('refuses a second topic of the same name, or one colliding by "." and "_"', async () => {
      const { log } = await setup();
      const name = `${topicName()}.a`;
      await log.createTopic(name, 1);
      await expect(log.createTopic(name, 1)).rejects.toMatchObject({ code: 'TOPIC_ALREADY_EXISTS' });
      await expect(log.createTopic(name.replace('.a', '_a'), 1)).rejects.toMatchObject({ code: 'INVALID_TOPIC_NAME' });
    });

    it('lets exactly one of racing creators win', async () => {
      const { log, stores } = await setup();
      const other = newLog(stores);
      logs.push(other);
      const name = topicName();
      const results = await Promise.allSettled([log.createTopic(name, 2), other.createTopic(name, 2), log.createTopic(name, 2)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason.code).toBe('TOPIC_ALREADY_EXISTS');
    });

    it('starts a recreated topic empty', async () => {
      const { log } = await setup();
      const name = topicName();
      await log.createTopic(name, 1);
      await log.produce(name, [{ key: null, value: text('old') }]);
      await log.deleteTopic(name);
      await log.createTopic(name, 1);
      const fetched = await log.fetch(name, 0, 'earliest');
      expect(fetched.records).toEqual([]);
      expect(fetched.highWatermark).toBe(0);
    });

    it('refuses a produce that races a deletion, leaving no rows behind', async () => {
      const { log, stores } = await setup();
      const writer = newLog(stores, { topicCacheMs: 60_000 });
      logs.push(writer);
      const name = topicName();
      const topic = await log.createTopic(name, 1);
      await writer.produce(name, [{ key: null, value: text('before') }]);
      // The writer's cached topic still names the partition while the deletion runs.
      const query = stores.metadata.query.bind(stores.metadata);
      let during: Promise<unknown> | undefined;
      stores.metadata.query = async (pk, options) => {
        if (pk.startsWith('rows#') && during === undefined)
          during = writer.produce(name, [{ key: null, value: text('during') }]).catch((e) => e);
        return query(pk, options);
      };
      await log.deleteTopic(name);
      stores.metadata.query = query;
      expect(await during).toMatchObject({ code: 'TOPIC_NOT_FOUND' });
      expect(await stores.metadata.query(`rows#${topic.id}#0`)).toEqual([]);
    });

    it('finishes a deletion that was cut short when the name is deleted or created again', async () => {
      const { log, stores } = await setup();
      const name = topicName();
      const old = await log.createTopic(name, 2);
      await log.produce(name, [{ key: null, value: text('old'), partition: 1 }]);
      const write = stores.metadata.write.bind(stores.metadata);
      stores.metadata.write = async (op) => {
        if (op.kind === 'delete' && op.key.pk.startsWith('rows#')) throw new SpoolError('STORAGE_UNAVAILABLE', 'gone mid-deletion');
        return write(op);
      };
      await expect(log.deleteTopic(name)).rejects.toThrow('gone mid-deletion');
      stores.metadata.write = write;
      expect(await log.topic(name)).toBeUndefined(); // invisible already
      expect((await log.listTopics()).map((t) => t.name)).not.toContain(name);
      const fresh = await log.createTopic(name, 1);
      expect(fresh.id).not.toBe(old.id);
      expect(await stores.metadata.query(`rows#${old.id}#1`)).toEqual([]);
      expect((await log.fetch(name, 0, 'earliest')).highWatermark).toBe(0);
    });

    it('auto-creates a topic on first produce, with the default partition count', async () => {
      const { log } = await setup({ defaultPartitions: 4 });
      const name = topicName();
      await log.produce(name, [{ key: null, value: text('x') }]);
      expect((await log.requireTopic(name)).partitions).toBe(4);
    });

    it('creates no topic for a produce it refuses', async () => {
      // Found by the HTTP fuzzing of test/reliability: a refused request left an auto-created topic behind.
      const { log } = await setup({ defaultPartitions: 2, topicDefaults: { 'max.message.bytes': 1024 } });
      const name = topicName();
      await expect(
        log.produce(name, [
          { key: null, value: text('x') },
          { key: null, value: text('y'), partition: 2 },
        ]),
      ).rejects.toMatchObject({ code: 'PARTITION_NOT_FOUND' });
      await expect(log.produce(name, [{ key: null, value: Buffer.alloc(2000) }])).rejects.toMatchObject({ code: 'RECORD_TOO_LARGE' });
      expect(await log.topic(name)).toBeUndefined();
      expect(await log.produce(name, [{ key: null, value: text('z'), partition: 1 }])).toEqual([{ partition: 1, offset: 0 }]);
    });

    it('answers TOPIC_NOT_FOUND on produce when auto-create is off', async () => {
      const { log } = await setup({ autoCreateTopics: false });
      await expect(log.produce(topicName(), [{ key: null, value: text('x') }])).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' });
    });
  });

  describe('log > produce and fetch', () => {
    it('round-trips keys, values, nulls, headers and timestamps at dense offsets', async () => {
      const { log } = await setup();
      const name = topicName();
      await log.createTopic(name, 1);
      const produced = await log.produce(name, [
        { key: text('k1'), value: text('v1'), headers: [{ key: 'h', value: text('hv') }], timestampMs: 1_700_000_000_000 },
        { key: null, value: text('v2'), partition: 0 },
        { key: text('k3'), value: null, partition: 0 },
      ]);
      expect(produced).toEqual([
        { partition: 0, offset: 0 },
        { partition: 0, offset: 1 },
        { partition: 0, offset: 2 },
      ]);
      const fetched = await log.fetch(name, 0, 0);
      expect(fetched.records.map((r) => [r.offset, str(r.key), str(r.value)])).toEqual([
        [0, 'k1', 'v1'],
        [1, null, 'v2'],
        [2, 'k3', null],
      ]);
      expect(fetched.records[0]!.headers).toEqual([{ key: 'h', value: text('hv') }]);
      expect(fetched.records[0]!.timestampMs).toBe(1_700_000_000_000);
      expect(fetched.nextOffset).toBe(3);
      expect(fetched.highWatermark).toBe(3);
    });

    it('places keyed records by murmur2 as the Java client does', async () => {
      const { log } = await setup();
      const name = topicName();
      await log.createTopic(name, 7);
      const keys = Array.from({ length: 50 }, (_, i) => `key-${i}`);
      const produced = await log.produce(
        name,
        keys.map((key) => ({ key: text(key), value: text(key) })),
      );
      for (const [i, p] of produced.entries()) expect(p.partition).toBe(partitionForKey(text(keys[i]!), 7));
      for (let partition = 0; partition < 7; partition++) {
        const fetched = await log.fetch(name, partition, 0, { maxRecords: 1000 });
        for (const record of fetched.records) expect(partitionForKey(record.key!, 7)).toBe(partition);
      }
    });

    it('sends keyless records of one request to one sticky partition', async () => {
      const { log } = await setup();
      const name = topicName();
      await log.createTopic(name, 8);
      const produced = await log.produce(
        name,
        Array.from({ length: 20 }, (_, i) => ({ key: null, value: text(`v${i}`) })),
      );
      expect(new Set(produced.map((p) => p.partition)).size).toBe(1);
    });

    it('validates the whole request before writing any of it', async () => {
      const { log } = await setup();
      const name = topicName();
      await log.createTopic(name, 2, { 'max.message.bytes': 100 });
      await expect(
        log.produce(name, [
          { key: null, value: text('ok') },
          { key: null, value: Buffer.alloc(200) },
        ]),
      ).rejects.toMatchObject({
        code: 'RECORD_TOO_LARGE',
      });
      await expect(
        log.produce(name, [
          { key: null, value: text('ok') },
          { key: null, value: text('x'), partition: 2 },
        ]),
      ).rejects.toMatchObject({
        code: 'PARTITION_NOT_FOUND',
      });
      const described = await log.describeTopic(name);
      expect(described.partitions.map((p) => p.nextOffset)).toEqual([0, 0]);
    });

    it('acknowledges acks=0 at once and still commits', async () => {
      const { log } = await setup();
      const name = topicName();
      await log.createTopic(name, 1);
      expect(await log.produce(name, [{ key: null, value: text('a') }], { acks: 0 })).toEqual([{ partition: 0, offset: -1 }]);
      await log.flush();
      expect((await log.fetch(name, 0, 0)).records.map((r) => str(r.value))).toEqual(['a']);
    });

    it('honours max records and max bytes, returning at least one record', async () => {
      const { log } = await setup();
      const name = topicName();
      await log.createTopic(name, 1);
      for (let i = 0; i < 5; i++) await log.produce(name, [{ key: null, value: Buffer.alloc(100, i) }]);
      expect((await log.fetch(name, 0, 0, { maxRecords: 2 })).records.map((r) => r.offset)).toEqual([0, 1]);
      expect((await log.fetch(name, 0, 1, { maxBytes: 400 })).records.map((r) => r.offset)).toEqual([1, 2]);
      expect((await log.fetch(name, 0, 3, { maxBytes: 1 })).records.map((r) => r.offset)).toEqual([3]);
      const tail = await log.fetch(name, 0, 'latest');
      expect(tail.records).toEqual([]);
      expect(tail.nextOffset).toBe(5);
    });

    it('pages through a chunk of many batches without getting stuck', async () => {
      const { log } = await setup();
      const name = topicName();
      await log.createTopic(name, 1);
      // One request of 3 MB becomes one chunk of several 1 MiB batches.
      await log.produce(
        name,
        Array.from({ length: 3000 }, (_, i) => ({ key: null, value: Buffer.alloc(1000, i % 256) })),
      );
      const seen: number[] = [];
      let offset = 0;
      for (let fetches = 0; offset < 3000 && fetches < 50; fetches++) {
        const fetched = await log.fetch(name, 0, offset);
        expect(fetched.records.length).toBeGreaterThan(0);
        seen.push(...fetched.records.map((r) => r.offset));
        offset = fetched.nextOffset;
      }
      expect(seen).toEqual(Array.from({ length: 3000 }, (_, i) => i));
      const tail = await log.readBatches(name, 0, 2999);
      expect(tail.batches).toHaveLength(1); // earlier batches of the chunk are not sent again
    });

    it('commits flushes in the order they were taken, even when an earlier upload is slower', async () => {
      // Every request fills a flush (flushBytes 1), so the second starts while the first uploads.
      const { log, stores } = await setup({ producer: { batchIntervalMs: 0, flushBytes: 1 } });
      const name = topicName();
      await log.createTopic(name, 1);
      let puts = 0;
      let firstUploading!: () => void;
      const uploading = new Promise<void>((resolve) => (firstUploading = resolve));
      stores.objects.beforePut = () => {
        if (puts++ > 0) return undefined;
        firstUploading();
        return new Promise((resolve) => setTimeout(resolve, 150));
      };
      const first = log.produce(name, [{ key: null, value: text('first') }]);
      await uploading; // the first flush is taken (and its upload is slow) before the second request arrives
      const second = log.produce(name, [{ key: null, value: text('second') }]);
      expect(await first).toEqual([{ partition: 0, offset: 0 }]);
      expect(await second).toEqual([{ partition: 0, offset: 1 }]);
      stores.objects.beforePut = undefined;
      expect((await log.fetch(name, 0, 0)).records.map((r) => str(r.value))).toEqual(['first', 'second']);
    });

    it('reports an out-of-range offset with the valid range', async () => {
      const { log } = await setup();
      const name = topicName();
      await log.createTopic(name, 1);
      await log.produce(name, [{ key: null, value: text('a') }]);
      await expect(log.fetch(name, 0, 5)).rejects.toMatchObject({
        code: 'OFFSET_OUT_OF_RANGE',
        details: { earliest_offset: 0, high_watermark: 1 },
      });
      await expect(log.fetch(name, 0, -1)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
      await expect(log.fetch(name, 3, 0)).rejects.toMatchObject({ code: 'PARTITION_NOT_FOUND' });
    });

    it('long-polls until a record arrives, and times out empty when none does', async () => {
      const { log } = await setup();
      const name = topicName();
      await log.createTopic(name, 1);
      const started = Date.now();
      const empty = await log.fetch(name, 0, 0, { waitMs: 100 });
      expect(empty.records).toEqual([]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(90);
      const waiting = log.fetch(name, 0, 0, { waitMs: 10_000 });
      setTimeout(() => void log.produce(name, [{ key: null, value: text('late') }]), 50);
      const woken = await waiting;
      expect(woken.records.map((r) => str(r.value))).toEqual(['late']);
    });

    it('wakes a long-poll on another writer’s commit', async () => {
      const { log, stores } = await setup();
      const writer = newLog(stores);
      logs.push(writer);
      const name = topicName();
      await log.createTopic(name, 1);
      const waiting = log.fetch(name, 0, 0, { waitMs: 10_000 });
      setTimeout(() => void writer.produce(name, [{ key: null, value: text('remote') }]), 50);
      expect((await waiting).records.map((r) => str(r.value))).toEqual(['remote']);
    });

    it('watches a partition once for all its long-polls: many waiters cost one read per round, and all wake on another writer’s commit', async () => {
      const { log, stores } = await setup({ pollIntervalMs: 50 });
      const writer = newLog(stores);
      logs.push(writer);
      const name = topicName();
      await log.createTopic(name, 2);
      const started = Date.now();
      const waiting = Array.from({ length: 40 }, (_, i) => log.fetch(name, i % 2, 0, { waitMs: 20_000 }));
      // Some rounds pass before the commit (however slow the store is to get the waiters there): at most
      // 2 partitions per round, where a poll per waiter would make 40.
      while (log.internals.reader.stats.watchReads < 4 && Date.now() - started < 10_000)
        await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const readsWhileIdle = log.internals.reader.stats.watchReads;
      const rounds = Math.ceil((Date.now() - started) / 50) + 1;
      expect(readsWhileIdle).toBeGreaterThanOrEqual(4);
      expect(readsWhileIdle).toBeLessThanOrEqual(2 * rounds);
      await writer.produce(
        name,
        [0, 1].map((partition) => ({ key: null, value: text(`p${partition}`), partition })),
      );
      const woken = await Promise.all(waiting);
      expect(woken.map((r) => r.records.map((record) => str(record.value)))).toEqual(woken.map((_, i) => [`p${i % 2}`]));
      // Nobody waits any more: the watch stops.
      const after = log.internals.reader.stats.watchReads;
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(log.internals.reader.stats.watchReads).toBeLessThanOrEqual(after + 2);
    });

    it("takes a long-poll's first look at the high watermark from a read under one watch interval old, never one older than its own changes", async () => {
      const { log, stores } = await setup({ pollIntervalMs: 60_000 });
      const name = topicName();
      await log.createTopic(name, 1);
      await log.produce(name, [
        { key: null, value: text('a') },
        { key: null, value: text('b') },
      ]);
      await new Promise((resolve) => setTimeout(resolve, 5)); // a read asked in the millisecond of a commit is not kept
      let stateReads = 0;
      const get = stores.metadata.get.bind(stores.metadata);
      stores.metadata.get = (key) => {
        if (key.sk === partitionSk) stateReads++;
        return get(key);
      };
      const { stats } = log.internals.reader;
      const looks = () => [stateReads, stats.recentStates];
      await log.readBatches(name, 0, 2, { longPoll: true });
      await log.readBatches(name, 0, 2, { longPoll: true });
      expect(looks()).toEqual([1, 1]); // the first look read; the second took it
      await log.readBatches(name, 0, 2);
      expect(looks()).toEqual([2, 1]); // no long-poll: a read
      expect((await log.readBatches(name, 0, 0, { longPoll: true })).batches).toHaveLength(1); // below the high watermark: a read
      expect(looks()).toEqual([3, 1]);
      // A wait is a long-poll too: its first look takes the last read; after the wait it reads.
      expect((await log.fetch(name, 0, 2, { waitMs: 50 })).records).toEqual([]);
      expect(looks()).toEqual([4, 2]);
      // Its own commit forgets the last read: the next look sees the record at once.
      await log.produce(name, [{ key: null, value: text('c') }]);
      const after = await log.readBatches(name, 0, 2, { longPoll: true });
      expect([after.highWatermark, after.batches.length]).toEqual([3, 1]);
      // So does its own deletion of records: the log start it answers is the new one.
      await log.readBatches(name, 0, 3, { longPoll: true });
      await log.deleteRecordsBefore(name, 0, 2);
      expect((await log.readBatches(name, 0, 3, { longPoll: true })).logStartOffset).toBe(2);
      await expect(log.fetch(name, 0, 1, { waitMs: 1000 })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
      // An offset past the last read (a client that learnt of another writer's commit elsewhere) is read, not refused.
      const writer = newLog(stores);
      logs.push(writer);
      await writer.produce(name, [{ key: null, value: text('d') }]);
      expect((await log.readBatches(name, 0, 4, { longPoll: true })).highWatermark).toBe(4);
    });

    it("a long-poll that took a read from before another writer's commit still wakes for it within one watch interval", async () => {
      const { log, stores } = await setup({ pollIntervalMs: 3000 });
      const writer = newLog(stores);
      logs.push(writer);
      const name = topicName();
      await log.createTopic(name, 1);
      await log.readBatches(name, 0, 0, { longPoll: true }); // the last read: empty
      await writer.produce(name, [{ key: null, value: text('remote') }]);
      const taken = log.internals.reader.stats.recentStates;
      const started = Date.now();
      const woken = await log.fetch(name, 0, 0, { waitMs: 10_000 });
      expect(woken.records.map((r) => str(r.value))).toEqual(['remote']);
      expect(Date.now() - started).toBeLessThan(8000);
      // Its first look took the read from before the commit, and found nothing: the watch woke it.
      expect(log.internals.reader.stats.recentStates - taken).toBe(1);
    });

    it('lists offsets as Kafka: the first record at or after a time with its timestamp, the max timestamp, earliest and latest', async () => {
      const { log } = await setup();
      const name = topicName();
      await log.createTopic(name, 1);
      expect(await log.listOffset(name, 0, 'max-timestamp')).toBeUndefined();
      await log.produce(
        name,
        [10, 20, 30].map((t) => ({ key: null, value: text(`t${t}`), timestampMs: 1_000 + t })),
      );
      await log.produce(
        name,
        [40, 35].map((t) => ({ key: null, value: text(`t${t}`), timestampMs: 1_000 + t })),
      );
      const at = (timestampMs: number) => log.listOffset(name, 0, { timestampMs });
      expect(await at(1_000)).toEqual({ offset: 0, timestampMs: 1_010 });
      expect(await at(1_020)).toEqual({ offset: 1, timestampMs: 1_020 });
      expect(await at(1_031)).toEqual({ offset: 3, timestampMs: 1_040 });
      expect(await at(1_036)).toEqual({ offset: 3, timestampMs: 1_040 });
      expect(await at(1_041)).toBeUndefined();
      expect(await log.listOffset(name, 0, 'max-timestamp')).toEqual({ offset: 3, timestampMs: 1_040 });
      expect(await log.listOffset(name, 0, 'earliest')).toEqual({ offset: 0, timestampMs: -1 });
      expect(await log.listOffset(name, 0, 'latest')).toEqual({ offset: 5, timestampMs: -1 });
    });

    it('serves tail reads from memory, and a cold reader from the object store', async () => {
      const { log, stores } = await setup();
      const name = topicName();
      await log.createTopic(name, 1);
      await log.produce(name, [{ key: null, value: text('hot') }]);
      const getsBefore = stores.objects.calls.get;
      expect((await log.fetch(name, 0, 0)).records).toHaveLength(1);
      expect(stores.objects.calls.get).toBe(getsBefore);
      const cold = newLog(stores);
      logs.push(cold);
      expect((await cold.fetch(name, 0, 0)).records.map((r) => str(r.value))).toEqual(['hot']);
      expect(stores.objects.calls.get).toBe(getsBefore + 1);
    });

    it('flushes a lone request at once, whatever the batch interval', async () => {
      const { log } = await setup({ producer: { batchIntervalMs: 600_000 } }); // a timer this long would outlast the test
      const name = topicName();
      await log.createTopic(name, 1);
      expect(await log.produce(name, [{ key: null, value: text('alone') }])).toEqual([{ partition: 0, offset: 0 }]);
    });

    it('gathers the requests that arrive while every flush slot is busy into the next flush: one object and one transaction for all their partitions', async () => {
      // One slot, and a cached topic (filled by the first produce): the rest reach the writer with no store read on the way.
      const { log, stores } = await setup({ producer: { batchIntervalMs: 0, maxInflightFlushes: 1 }, topicCacheMs: 60_000 });
      const name = topicName();
      await log.createTopic(name, 4);
      const putsBefore = stores.objects.calls.put;
      const { transacted, firstUploading, release } = holdFirstFlush(stores);
      const first = log.produce(name, [{ key: null, value: text('p0'), partition: 0 }]);
      await firstUploading;
      const rest = [1, 2, 3].map((partition) => log.produce(name, [{ key: null, value: text(`p${partition}`), partition }]));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(stores.objects.calls.put - putsBefore).toBe(1); // the rest wait for the flush in flight
      release();
      await Promise.all([first, ...rest]);
      stores.metadata.beforeTransact = undefined;
      expect(stores.objects.calls.put - putsBefore).toBe(2);
      expect(transacted).toEqual([[0], [1, 2, 3]]);
    });

    it('puts a flush over more than 50 partitions in one object, each request in one transaction, sealing before a request whose partitions would join two', async () => {
      const { log, stores } = await setup({ producer: { batchIntervalMs: 0, maxInflightFlushes: 1 }, topicCacheMs: 60_000 });
      const name = topicName();
      await log.createTopic(name, 100);
      const putsBefore = stores.objects.calls.put;
      const { transacted, firstUploading, release } = holdFirstFlush(stores);
      const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
      const send = (partitions: number[]) =>
        log.produce(
          name,
          partitions.map((partition) => ({ key: null, value: text(`v${partition}`), partition })),
        );
      const first = send([99]);
      await firstUploading;
      // Three requests of 30 partitions each, then one joining the first two (30 + 30 > 50: a new flush).
      const requests = [range(0, 30), range(30, 30), range(60, 30), [29, 30]];
      const sent = requests.map(send);
      await new Promise((resolve) => setTimeout(resolve, 50));
      release();
      await Promise.all([first, ...sent]);
      stores.metadata.beforeTransact = undefined;
      expect(stores.objects.calls.put - putsBefore).toBe(3);
      const sorted = (sets: number[][]) =>
        sets.map((set) => [...set].sort((a, b) => a - b)).sort((a, b) => a[0]! - b[0]! || a.length - b.length);
      expect(sorted(transacted)).toEqual(sorted([[99], ...requests]));
      for (const partition of [29, 30])
        expect((await log.fetch(name, partition, 0)).records.map((r) => str(r.value))).toEqual([`v${partition}`, `v${partition}`]);
    });

    it("seals the buffer before an idempotent batch that would take a buffered request's transaction past 100 writes", async () => {
      const { log, stores } = await setup({ producer: { batchIntervalMs: 0, maxInflightFlushes: 1 }, topicCacheMs: 60_000 });
      const name = topicName();
      await log.createTopic(name, 51);
      const putsBefore = stores.objects.calls.put;
      const { transacted, firstUploading, release } = holdFirstFlush(stores);
      const first = log.produce(name, [{ key: null, value: text('first'), partition: 50 }]);
      await firstUploading;
      // 50 partitions: 100 writes, a whole transaction; a producer's batch to one of them adds its state's write.
      const wide = log.produce(
        name,
        Array.from({ length: 50 }, (_, partition) => ({ key: null, value: text(`w${partition}`), partition })),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      const idempotent = encodeRecordBatch([{ key: null, value: text('idempotent'), timestampMs: Date.now() }], {
        producerId: 7,
        producerEpoch: 0,
        baseSequence: 0,
      });
      const appended = await log.appendBatches(name, 0, idempotent);
      release();
      await Promise.all([first, wide, appended.done]);
      stores.metadata.beforeTransact = undefined;
      expect(stores.objects.calls.put - putsBefore).toBe(3);
      expect(transacted).toEqual([[50], Array.from({ length: 50 }, (_, partition) => partition), [0]]);
      expect((await log.fetch(name, 0, 0)).records.map((r) => str(r.value))).toEqual(['w0', 'idempotent']);
    });

    it('starts flushes at least the batch interval apart, and at once when flushBytes are buffered', async () => {
      const { log, stores } = await setup({ producer: { batchIntervalMs: 300, flushBytes: 4096 } });
      const name = topicName();
      await log.createTopic(name, 1);
      const putAtMs: number[] = [];
      stores.objects.beforePut = () => void putAtMs.push(performance.now());
      await log.produce(name, [{ key: null, value: text('a') }]);
      await log.produce(name, [{ key: null, value: text('b') }]);
      // Each PUT follows its flush's start by the same few steps: the gap is the interval, less jitter.
      expect(putAtMs[1]! - putAtMs[0]!).toBeGreaterThanOrEqual(250);
      stores.objects.beforePut = undefined;
      const slow = newLog(stores, { producer: { batchIntervalMs: 600_000, flushBytes: 4096 } });
      logs.push(slow);
      expect(await slow.produce(name, [{ key: null, value: text('c') }])).toEqual([{ partition: 0, offset: 2 }]);
      // Within the interval of the last flush, only a full buffer starts one.
      expect(await slow.produce(name, [{ key: null, value: Buffer.alloc(5000) }])).toEqual([{ partition: 0, offset: 3 }]);
    });
  });

  describe('log > durability', () => {
    it('keeps data and offsets across a restart', async () => {
      const { log, stores, locations } = await setup();
      const name = topicName();
      await log.createTopic(name, 2);
      await log.produce(
        name,
        Array.from({ length: 10 }, (_, i) => ({ key: null, value: text(`r${i}`), partition: i % 2 })),
      );
      await log.close();
      await stores.objects.close();
      await stores.metadata.close();
      storesOpened.splice(storesOpened.indexOf(stores), 1);

      const reopened = await openTestStores(locations);
      storesOpened.push(reopened);
      const again = newLog(reopened);
      logs.push(again);
      expect((await again.fetch(name, 0, 0)).records.map((r) => str(r.value))).toEqual(['r0', 'r2', 'r4', 'r6', 'r8']);
      expect(await again.produce(name, [{ key: null, value: text('r10'), partition: 1 }])).toEqual([{ partition: 1, offset: 5 }]);
    });
  });
}
