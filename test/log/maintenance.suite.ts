/**
 * Maintenance (compaction, retention, garbage collection), written once and run on the embedded store
 * and on the AWS adapters. A skewed clock stands in for the passage of hours.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { encodeRecordBatch, readBatchHeader, setMaxTimestamp } from '../../lib/format/index.js';
import type { Log } from '../../lib/log/index.js';
import { partitionKey, rowKey, rowsPk } from '../../lib/keys.js';
import { buildIndexes } from '../../lib/log/segment-index.js';
import type { BatchRow } from '../../lib/log/layout.js';
import { groupsToCompact } from '../../lib/log/maintenance/compaction.js';
import { retentionCut } from '../../lib/log/maintenance/retention.js';
import type { StoreKind } from '../support/stores.js';
import { closeAll, holdTopicsListing, newLog, openTestStores, str, text, type TestStores } from '../support/logs.js';

const hourMs = 3_600_000;
/** Record times a minute old: well inside the default retention (records older than 7 days would expire). */
const baseTimeMs = Math.floor(Date.now() / 1000) * 1000 - 60_000;

export function maintenanceSuite(kind: () => StoreKind): void {
  const logs: Log[] = [];
  const opened: TestStores[] = [];
  afterEach(async () => {
    await closeAll(logs.splice(0), opened.splice(0));
  });

  async function setup() {
    const stores = await openTestStores(kind().locations());
    opened.push(stores);
    const clock = { skewMs: 0 };
    const now = () => Date.now() + clock.skewMs;
    const make = (options: Parameters<typeof newLog>[1] = {}) => {
      const log = newLog(stores, { now, maintenance: { compactionTailAgeMs: 0, gcGraceMs: hourMs, ...options.maintenance }, ...options });
      logs.push(log);
      return log;
    };
    const countObjects = async () => {
      let count = 0;
      for (const prefix of ['segments/', 'partitions/']) for await (const _ of stores.objects.list(prefix)) count++;
      return count;
    };
    return { stores, clock, make, countObjects };
  }

  type Seen = { offset: number; key: string | null; value: string | null; timestampMs: number; headers: string };
  async function readAll(log: Log, topic: string, partition: number, from: number | 'earliest' = 'earliest'): Promise<Seen[]> {
    const out: Seen[] = [];
    let offset = from === 'earliest' ? (await log.listOffset(topic, partition, 'earliest'))!.offset : from;
    for (;;) {
      const fetched = await log.fetch(topic, partition, offset, { maxRecords: 5000, maxBytes: 8 * 1024 * 1024 });
      for (const r of fetched.records) {
        out.push({
          offset: r.offset,
          key: str(r.key),
          value: str(r.value),
          timestampMs: r.timestampMs,
          headers: JSON.stringify(r.headers.map((h) => [h.key, str(h.value)])),
        });
      }
      if (fetched.nextOffset >= fetched.highWatermark) return out;
      offset = fetched.nextOffset;
    }
  }

  /** Many small flushes over 2 topics × 3 partitions, so segments hold chunks of several partitions. */
  /** Every record of each of `topics`' three partitions (produceMany's), by `topic#partition`. */
  async function readAllOf(log: Log, topics: readonly string[]): Promise<Map<string, Seen[]>> {
    const all = new Map<string, Seen[]>();
    for (const topic of topics) for (let p = 0; p < 3; p++) all.set(`${topic}#${p}`, await readAll(log, topic, p));
    return all;
  }

  async function produceMany(log: Log, prefix: string, flushes = 40) {
    const topics = [`${prefix}-a`, `${prefix}-b`];
    for (const topic of topics) await log.createTopic(topic, 3);
    for (let i = 0; i < flushes; i++) {
      await Promise.all(
        topics.map((topic) =>
          log.produce(
            topic,
            [0, 1, 2].map((partition) => ({
              key: text(`k${i}`),
              value: text(`${topic}/${partition}/${i}`),
              partition,
              headers: [{ key: 'i', value: text(String(i)) }],
              timestampMs: baseTimeMs + i * 1000,
            })),
          ),
        ),
      );
    }
    return topics;
  }

  describe('log > maintenance', () => {
    it('reads an idle partition’s item once and its rows three times a pass, and counts rows before and after from those reads', async () => {
      const { stores, make } = await setup();
      const writer = make();
      const topic = `idle-${randomUUID().slice(0, 6)}`;
      const { id } = await writer.createTopic(topic, 4);
      for (let partition = 0; partition < 4; partition++) await writer.produce(topic, [{ key: null, value: text('x'), partition }]);
      await writer.runMaintenance(); // whatever a first pass finds to do
      const query = stores.metadata.query.bind(stores.metadata);
      const get = stores.metadata.get.bind(stores.metadata);
      const reads = { rows: 0, items: 0 };
      stores.metadata.query = (pk, options) => {
        if (pk.startsWith(`rows#${id}#`)) reads.rows++;
        return query(pk, options);
      };
      stores.metadata.get = (key) => {
        if (key.pk.startsWith(`part#${id}#`) && key.sk === 'state') reads.items++;
        return get(key);
      };
      try {
        const pass = await writer.runMaintenance();
        expect(reads).toEqual({ rows: 12, items: 4 });
        expect(pass).toMatchObject({ rows_before: pass.rows_after, segments_compacted: 0 });
        expect(pass.rows_after).toBeGreaterThanOrEqual(4);
      } finally {
        Object.assign(stores.metadata, { query, get });
      }
    });

    it('compacts small segments: every record keeps its offset and bytes; rows, then objects, fall', async () => {
      const { make, clock, countObjects } = await setup();
      const writer = make();
      const topics = await produceMany(writer, `c-${randomUUID().slice(0, 6)}`);
      const before = new Map<string, Seen[]>();
      for (const topic of topics) for (let p = 0; p < 3; p++) before.set(`${topic}/${p}`, await readAll(make({ cacheBytes: 0 }), topic, p));

      const first = await writer.runMaintenance();
      expect(first.segments_compacted).toBeGreaterThanOrEqual(6);
      expect(first.rows_after).toBeLessThan(first.rows_before);
      expect(first.rows_after).toBe(6);
      expect(first.objects_deleted).toBe(0); // the old segments wait out the grace period
      const reader = make({ cacheBytes: 0 });
      for (const [id, records] of before) {
        const [topic, p] = [id.slice(0, id.lastIndexOf('/')), Number(id.slice(id.lastIndexOf('/') + 1))];
        expect(await readAll(reader, topic, p)).toEqual(records);
      }

      clock.skewMs = 2 * hourMs;
      const objectsBefore = await countObjects();
      const second = await writer.runMaintenance();
      expect(second.objects_deleted).toBeGreaterThan(30);
      expect(await countObjects()).toBe(objectsBefore - second.objects_deleted);
      expect(second.objects_after).toBe(18); // 6 segments × (.log, .index, .timeindex)
      const cold = make({ cacheBytes: 0 });
      for (const [id, records] of before) {
        const [topic, p] = [id.slice(0, id.lastIndexOf('/')), Number(id.slice(id.lastIndexOf('/') + 1))];
        expect(await readAll(cold, topic, p)).toEqual(records);
        expect(await readAll(cold, topic, p, 17)).toEqual(records.slice(17)); // mid-segment
      }
    });

    it('reads a small compacted segment whole in one GET, and a large one from the offset its index gives', async () => {
      const { make } = await setup();
      const writer = make();
      const small = `s-${randomUUID().slice(0, 6)}`;
      const large = `l-${randomUUID().slice(0, 6)}`;
      await writer.createTopic(small, 1);
      await writer.createTopic(large, 1);
      for (let i = 0; i < 40; i++) {
        await writer.produce(small, [{ key: null, value: text(`s${i}`) }]);
        await writer.produce(large, [{ key: null, value: text(`l${i}`.padEnd(8 * 1024, '.')) }]); // 40 × 8 KiB: past the smallest range read
      }
      await writer.runMaintenance();
      const cold = make({ cacheBytes: 0 });
      const getsFor = async (topic: string, offset: number, maxBytes: number) => {
        const before = cold.internals.reader.stats.objectGets;
        const fetched = await cold.fetch(topic, 0, offset, { maxRecords: 3, maxBytes });
        return {
          gets: cold.internals.reader.stats.objectGets - before,
          first: str(fetched.records[0]!.value)!.replace(/\.+$/, ''),
          count: fetched.records.length,
        };
      };
      expect(await getsFor(small, 25, 1024)).toEqual({ gets: 1, first: 's25', count: 3 });
      // The index (fetched once, then cached) and a range from the batch at offset 30.
      expect(await getsFor(large, 30, 3 * 8 * 1024 + 1024)).toEqual({ gets: 2, first: 'l30', count: 3 });
      expect(await getsFor(large, 35, 3 * 8 * 1024 + 1024)).toEqual({ gets: 1, first: 'l35', count: 3 });
    });

    it('keeps batches whose header said maxTimestamp -1 (Filebeat) through retention, and finds them by time (issue 14)', async () => {
      const { make } = await setup();
      const writer = make({ maintenance: { compactionTailAgeMs: hourMs } });
      const topic = `fb-${randomUUID().slice(0, 6)}`;
      await writer.createTopic(topic, 1);
      for (let i = 0; i < 4; i++) {
        const batch = encodeRecordBatch(
          [0, 1].map((j) => ({ key: null, value: text(`line-${i}-${j}`), timestampMs: baseTimeMs + i * 1000 + j })),
          { compression: 'gzip' },
        );
        setMaxTimestamp(batch, 0, 'create', -1); // what sarama's fork sends
        await (await writer.appendBatches(topic, 0, batch)).done;
      }
      const result = await writer.runMaintenance();
      expect(result).toMatchObject({ records_expired: 0, partitions_trimmed: 0, rows_timestamps_repaired: 0 });
      expect((await readAll(make(), topic, 0)).map((r) => r.value)).toHaveLength(8);
      const served = await make().readBatches(topic, 0, 0);
      expect(served.batches.map((b) => readBatchHeader(b).maxTimestampMs)).toEqual([0, 1, 2, 3].map((i) => baseTimeMs + i * 1000 + 1));
      expect(await writer.listOffset(topic, 0, { timestampMs: baseTimeMs + 2000 })).toEqual({ offset: 4, timestampMs: baseTimeMs + 2000 });
      expect(await writer.listOffset(topic, 0, 'max-timestamp')).toEqual({ offset: 7, timestampMs: baseTimeMs + 3001 });
    });

    it("repairs rows and batches stored with maxTimestamp -1 before append validation: served, found by time, retained and compacted by their records' time", async () => {
      const { make, stores } = await setup();
      const writer = make({ maintenance: { compactionTailAgeMs: hourMs } });
      const topic = `legacy-${randomUUID().slice(0, 6)}`;
      const item = await writer.createTopic(topic, 1);
      // As the engine stored a client batch before it validated them: header and row both at -1.
      const legacy = (i: number) => {
        const batch = encodeRecordBatch(
          [0, 1, 2].map((j) => ({ key: null, value: text(`old-${i}-${j}`), timestampMs: baseTimeMs + i * 1000 + j })),
          { compression: 'snappy' },
        );
        setMaxTimestamp(batch, 0, 'create', -1);
        return writer.internals.producer.appendAll(
          [{ topic: item, partition: 0, payload: { kind: 'batches', bytes: batch, recordCount: 3, maxTimestampMs: -1 } }],
          'all',
        );
      };
      for (let i = 0; i < 3; i++) await legacy(i);
      const rows = async () => (await stores.metadata.query(rowsPk(item.id, 0))).map((row) => row.attrs.maxTimestampMs);
      expect(await rows()).toEqual([-1, -1, -1]);

      // Read side, before any maintenance: served with real headers, and found by time.
      const reader = make({ cacheBytes: 0 });
      expect((await reader.readBatches(topic, 0, 0)).batches.map((b) => readBatchHeader(b).maxTimestampMs)).toEqual(
        [0, 1, 2].map((i) => baseTimeMs + i * 1000 + 2),
      );
      expect(await reader.listOffset(topic, 0, { timestampMs: baseTimeMs + 1001 })).toEqual({ offset: 4, timestampMs: baseTimeMs + 1001 });
      expect(await reader.listOffset(topic, 0, 'max-timestamp')).toEqual({ offset: 8, timestampMs: baseTimeMs + 2002 });

      // Maintenance: rows repaired once, nothing expired under the default retention.
      const first = await writer.runMaintenance();
      expect(first).toMatchObject({ rows_timestamps_repaired: 3, records_expired: 0 });
      expect(await rows()).toEqual([0, 1, 2].map((i) => baseTimeMs + i * 1000 + 2));
      expect((await writer.runMaintenance()).rows_timestamps_repaired).toBe(0);

      // Compaction copies the batches with real headers, and its time index finds them.
      const compactor = make({ maintenance: { compactionTailAgeMs: 0 } });
      expect((await compactor.runMaintenance()).segments_compacted).toBe(1);
      expect(await rows()).toEqual([baseTimeMs + 2002]);
      const cold = make({ cacheBytes: 0 });
      expect((await cold.readBatches(topic, 0, 0)).batches.map((b) => readBatchHeader(b).maxTimestampMs)).toEqual(
        [0, 1, 2].map((i) => baseTimeMs + i * 1000 + 2),
      );
      expect(await cold.listOffset(topic, 0, { timestampMs: baseTimeMs + 2000 })).toEqual({ offset: 6, timestampMs: baseTimeMs + 2000 });
      expect((await readAll(cold, topic, 0)).map((r) => r.value)).toEqual([0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => `old-${i}-${j}`)));
    });

    it('does not trust the time index of a segment compacted before batches were validated (a -1 batch among others)', async () => {
      const { make, stores } = await setup();
      const log = make({ cacheBytes: 0 });
      const topic = `old-index-${randomUUID().slice(0, 6)}`;
      const item = await log.createTopic(topic, 1);
      // A per-partition segment as compaction wrote it before: batches at absolute offsets, the middle
      // one as Filebeat sent it (maxTimestamp -1, its records at 1500 and 1600), and a time index built
      // from the headers, which therefore jumps from the first batch (1100) to the last (1700).
      const batch = (base: number, times: number[], legacy = false) => {
        const bytes = encodeRecordBatch(
          times.map((t) => ({ key: null, value: text(`t${t}`), timestampMs: baseTimeMs + t })),
          { baseOffset: base },
        );
        if (legacy) setMaxTimestamp(bytes, 0, 'create', -1);
        return bytes;
      };
      const batches = [batch(0, [1000, 1100]), batch(2, [1500, 1600], true), batch(4, [1650, 1700])];
      const body = Buffer.concat(batches);
      let position = 0;
      const placements = batches.map((b, i) => {
        const placement = { baseOffset: i * 2, position, maxTimestampMs: readBatchHeader(b).maxTimestampMs };
        position += b.length;
        return placement;
      });
      const { offsetIndex, timeIndex } = buildIndexes(0, placements);
      const stem = `partitions/${item.id}/0/old`;
      await Promise.all([
        stores.objects.put(`${stem}.log`, body),
        stores.objects.put(`${stem}.index`, offsetIndex),
        stores.objects.put(`${stem}.timeindex`, timeIndex),
      ]);
      const row = {
        baseOffset: 0,
        recordCount: 6,
        objectKey: `${stem}.log`,
        position: 0,
        sizeBytes: body.length,
        maxTimestampMs: baseTimeMs + 1700,
        committedMs: Date.now(),
        indexKey: `${stem}.index`,
        timeIndexKey: `${stem}.timeindex`,
      };
      await stores.metadata.write({ kind: 'put', key: rowKey(item.id, 0, 0), attrs: row });
      await stores.metadata.write({ kind: 'update', key: partitionKey(item.id, 0), set: { nextOffset: 6 } });

      // The index would name offset 4 (1650); the first record at or after 1400 is offset 2, at 1500.
      expect(await log.listOffset(topic, 0, { timestampMs: baseTimeMs + 1400 })).toEqual({ offset: 2, timestampMs: baseTimeMs + 1500 });
      expect(await log.listOffset(topic, 0, 'max-timestamp')).toEqual({ offset: 5, timestampMs: baseTimeMs + 1700 });
    });

    it('finds offsets by timestamp through the time index of a compacted segment', async () => {
      const { make, stores } = await setup();
      const writer = make();
      const [topic] = await produceMany(writer, `t-${randomUUID().slice(0, 6)}`, 20);
      await writer.runMaintenance();
      const reader = make({ cacheBytes: 0 });
      const keys: string[] = [];
      const get = stores.objects.get.bind(stores.objects);
      stores.objects.get = (key, range) => {
        keys.push(key);
        return get(key, range);
      };
      expect((await reader.listOffset(topic!, 1, { timestampMs: baseTimeMs + 7_500 }))?.offset).toBe(8);
      expect((await reader.listOffset(topic!, 1, { timestampMs: baseTimeMs }))?.offset).toBe(0);
      expect(await reader.listOffset(topic!, 1, { timestampMs: baseTimeMs + 3_600_000 })).toBeUndefined();
      stores.objects.get = get;
      expect(keys.some((key) => key.endsWith('.timeindex'))).toBe(true);
    });

    it('drops old segments past retention.ms and keeps a default topic whole', async () => {
      const { make, clock } = await setup();
      const writer = make();
      const short = `r-${randomUUID().slice(0, 6)}`;
      const long = `${short}-default`;
      await writer.createTopic(short, 1, { 'retention.ms': 1000 });
      await writer.createTopic(long, 1);
      const old = Date.now() - 60_000;
      for (const topic of [short, long]) {
        for (let i = 0; i < 5; i++) await writer.produce(topic, [{ key: null, value: text(`old-${i}`), timestampMs: old }]);
        for (let i = 0; i < 3; i++) await writer.produce(topic, [{ key: null, value: text(`new-${i}`) }]);
      }
      const result = await writer.runMaintenance();
      expect(result.partitions_trimmed).toBe(1);
      expect(result.records_expired).toBe(5);
      expect((await readAll(make(), short, 0)).map((r) => [r.offset, r.value])).toEqual([
        [5, 'new-0'],
        [6, 'new-1'],
        [7, 'new-2'],
      ]);
      await expect(writer.fetch(short, 0, 0)).rejects.toMatchObject({
        code: 'OFFSET_OUT_OF_RANGE',
        details: { earliest_offset: 5, high_watermark: 8 },
      });
      expect(await readAll(make(), long, 0)).toHaveLength(8);
      expect((await writer.describeTopic(short)).partitions[0]).toMatchObject({ logStartOffset: 5, nextOffset: 8 });
      clock.skewMs = 2 * hourMs; // now even the new records are past 1 s
      await writer.runMaintenance();
      expect((await writer.describeTopic(short)).partitions[0]).toMatchObject({ logStartOffset: 8, nextOffset: 8 });
      expect(await writer.produce(short, [{ key: null, value: text('after') }])).toEqual([{ partition: 0, offset: 8 }]);
      expect(await readAll(make(), long, 0)).toHaveLength(8);
    });

    it('keeps a partition within retention.bytes by dropping whole segments from its start', async () => {
      const { make } = await setup();
      const writer = make({ maintenance: { compactionTailAgeMs: hourMs } });
      const topic = `rb-${randomUUID().slice(0, 6)}`;
      await writer.createTopic(topic, 1, { 'retention.bytes': 2500 });
      for (let i = 0; i < 10; i++) await writer.produce(topic, [{ key: null, value: Buffer.alloc(1000, i) }]);
      await writer.runMaintenance();
      const kept = await readAll(make(), topic, 0);
      expect(kept.map((r) => r.offset)).toEqual([8, 9]);
    });

    it('reads rows a page at a time: a pass over a backlog holds a page of them, and cuts and merges as a whole read would', async () => {
      const { stores, make } = await setup();
      const chunkBytes = 70; // one small record's chunk: a run of three fits the target below, four do not
      const writer = make({
        maintenance: { rowsPerPage: 4, compactionTargetBytes: 3.5 * chunkBytes, compactionTailAgeMs: 0, gcGraceMs: hourMs },
      });
      const [timed, sized] = [`pg-${randomUUID().slice(0, 6)}`, `pg-${randomUUID().slice(0, 6)}-bytes`];
      const { id } = await writer.createTopic(timed, 1, { 'retention.ms': 60_000 });
      await writer.createTopic(sized, 1, { 'retention.bytes': 2500 });
      const old = Date.now() - 600_000;
      for (let i = 0; i < 30; i++)
        await writer.produce(timed, [{ key: null, value: text(`r${String(i).padStart(2, '0')}`), timestampMs: i < 10 ? old : undefined }]);
      for (let i = 0; i < 10; i++) await writer.produce(sized, [{ key: null, value: Buffer.alloc(1000, i) }]);
      // The oracle: the pure cut and runs over the partition's rows read whole.
      const whole = (await stores.metadata.query(rowsPk(id, 0))).map((item) => item.attrs as unknown as BatchRow);
      expect(whole.every((row) => row.sizeBytes > chunkBytes * 0.5 && row.sizeBytes < chunkBytes * 1.5)).toBe(true);
      const state = {
        nextOffset: 30,
        logStartOffset: 0,
        epoch: 0,
        owner: null,
        ownerNode: null,
        leaseExpiresMs: 0,
        openTransactions: {},
        lastStableOffset: 30,
        lastAbortedOffset: -1,
        packedBy: null,
        packedSeq: 0,
      };
      expect(retentionCut(whole, state, 60_000, -1, Date.now())).toBe(10);
      const runs = groupsToCompact(
        { compactionTargetBytes: 3.5 * chunkBytes, compactionTailAgeMs: 0, compactionRunRows: 1000, now: Date.now },
        whole.filter((row) => row.baseOffset >= 10),
      );
      expect(runs.length).toBeGreaterThan(4); // runs that straddle pages

      const query = stores.metadata.query.bind(stores.metadata);
      let largestPage = 0;
      stores.metadata.query = async (pk, options) => {
        const items = await query(pk, options);
        if (pk.startsWith('rows#')) largestPage = Math.max(largestPage, items.length);
        return items;
      };
      try {
        const pass = await writer.runMaintenance();
        expect(largestPage).toBe(4);
        expect(pass.records_expired).toBe(10 + 8);
      } finally {
        stores.metadata.query = query;
      }
      const after = (await stores.metadata.query(rowsPk(id, 0))).map((item) => item.attrs as unknown as BatchRow);
      expect(after.map((row) => [row.baseOffset, row.recordCount])).toEqual(
        runs.map((run) => [run[0]!.baseOffset, run.reduce((sum, row) => sum + row.recordCount, 0)]),
      );
      expect((await readAll(make(), timed, 0)).map((r) => [r.offset, r.value])).toEqual(
        Array.from({ length: 20 }, (_, i) => [10 + i, `r${10 + i}`]),
      );
      expect((await readAll(make(), sized, 0)).map((r) => r.offset)).toEqual([8, 9]);
    });

    it('deletes orphans and dereferenced objects only after the grace period, and never a referenced one', async () => {
      const { make, clock, stores, countObjects } = await setup();
      const writer = make();
      const topic = `gc-${randomUUID().slice(0, 6)}`;
      await writer.createTopic(topic, 1);
      await writer.produce(topic, [{ key: null, value: text('kept') }]);
      stores.metadata.beforeTransact = () => {
        throw new SpoolError('INTERNAL', 'writer died', { retriable: false });
      };
      await expect(writer.produce(topic, [{ key: null, value: text('orphaned') }])).rejects.toThrow('writer died');
      stores.metadata.beforeTransact = undefined;
      expect(await countObjects()).toBe(2);
      const young = await make({ maintenance: { compactionTailAgeMs: hourMs } }).runMaintenance();
      expect(young.objects_deleted).toBe(0);
      clock.skewMs = 2 * hourMs;
      const old = await make({ maintenance: { compactionTailAgeMs: 100 * hourMs } }).runMaintenance();
      expect(old.objects_deleted).toBe(1); // the orphan; the committed segment stays
      expect(await countObjects()).toBe(1);
      expect((await readAll(make({ cacheBytes: 0 }), topic, 0)).map((r) => r.value)).toEqual(['kept']);
    });

    it('deletes nothing when its scan of rows took over a quarter of the grace period', async () => {
      const { make, clock, stores, countObjects } = await setup();
      const writer = make();
      const topic = `slowgc-${randomUUID().slice(0, 6)}`;
      await writer.createTopic(topic, 1);
      stores.metadata.beforeTransact = () => {
        throw new SpoolError('INTERNAL', 'writer died', { retriable: false });
      };
      await expect(writer.produce(topic, [{ key: null, value: text('orphan') }])).rejects.toThrow('writer died');
      stores.metadata.beforeTransact = undefined;
      clock.skewMs = 2 * hourMs;
      const query = stores.metadata.query.bind(stores.metadata);
      stores.metadata.query = async (pk, options) => {
        if (pk.startsWith('rows#')) clock.skewMs += 20 * 60_000; // a very slow scan
        return query(pk, options);
      };
      expect((await make().runMaintenance()).objects_deleted).toBe(0);
      stores.metadata.query = query;
      expect(await countObjects()).toBe(1);
      expect((await make().runMaintenance()).objects_deleted).toBe(1);
    });

    it('removes a deleted topic’s rows at once and its objects after the grace period', async () => {
      const { make, clock, stores, countObjects } = await setup();
      const writer = make();
      const topic = `del-${randomUUID().slice(0, 6)}`;
      const { id } = await writer.createTopic(topic, 2);
      for (let i = 0; i < 5; i++) await writer.produce(topic, [{ key: null, value: text(`v${i}`), partition: i % 2 }]);
      await writer.deleteTopic(topic);
      expect(await stores.metadata.query(rowsPk(id, 0))).toEqual([]);
      expect(await countObjects()).toBe(5);
      clock.skewMs = 2 * hourMs;
      const result = await writer.runMaintenance();
      expect(result.objects_deleted).toBe(5);
      expect(await countObjects()).toBe(0);
    });

    it('leaves a consistent log when a pass is cut short at any step, and finishes on the next', async () => {
      const { make, stores, clock } = await setup();
      const writer = make();
      const topics = await produceMany(writer, `k-${randomUUID().slice(0, 6)}`, 12);
      const expected = await readAllOf(make(), topics);
      const write = stores.metadata.write.bind(stores.metadata);
      const transact = stores.metadata.transact.bind(stores.metadata);
      for (const cutAfter of [1, 2, 3, 5, 8, 13, 21, 34]) {
        let calls = 0;
        const maybeDie = () => {
          if (++calls > cutAfter) throw new SpoolError('INTERNAL', 'maintenance killed', { retriable: false });
        };
        stores.metadata.write = async (op) => {
          maybeDie();
          return write(op);
        };
        stores.metadata.transact = async (ops) => {
          maybeDie();
          return transact(ops);
        };
        await make()
          .runMaintenance()
          .catch((error) => expect(String(error)).toContain('maintenance killed'));
        stores.metadata.write = write;
        stores.metadata.transact = transact;
        const reader = make({ cacheBytes: 0 });
        expect(await readAllOf(reader, topics)).toEqual(expected);
      }
      clock.skewMs = 2 * hourMs;
      const finished = await make().runMaintenance();
      expect(finished.rows_after).toBe(6);
      const reader = make({ cacheBytes: 0 });
      expect(await readAllOf(reader, topics)).toEqual(expected);
    });

    it('stops a pass at its next safe point when the log closes (shutdown), consistent, and the next pass finishes', async () => {
      const { make, stores, clock } = await setup();
      const writer = make();
      const topics = await produceMany(writer, `s-${randomUUID().slice(0, 6)}`, 12);
      const expected = await readAllOf(make(), topics);
      const transact = stores.metadata.transact.bind(stores.metadata);
      const maintainer = make();
      let closing: Promise<void> | undefined;
      // Shutdown arrives while the pass commits its first compacted segment.
      stores.metadata.transact = async (ops) => {
        closing ??= maintainer.close();
        return transact(ops);
      };
      const stopped = await maintainer.runMaintenance();
      stores.metadata.transact = transact;
      await closing;
      expect(stopped).toMatchObject({ stopped: true, segments_compacted: 1, rows_after: 0 });
      const reader = make({ cacheBytes: 0 });
      expect(await readAllOf(reader, topics)).toEqual(expected);
      clock.skewMs = 2 * hourMs;
      expect(await make().runMaintenance()).toMatchObject({ stopped: false, segments_compacted: 5, rows_after: 6 });
      expect(await readAllOf(reader, topics)).toEqual(expected);
    });

    it('gives a caller asking for a pass after one began the next pass, which sees what was written meanwhile; a plain call joins', async () => {
      const { stores, make } = await setup();
      const maintainer = make();
      // The first pass lists the topics (none yet), then waits until released.
      const { listed: topicsListed, release } = holdTopicsListing(stores);
      const first = maintainer.runMaintenance();
      await topicsListed;
      const writer = make();
      const topic = `after-${randomUUID().slice(0, 6)}`;
      await writer.createTopic(topic, 1);
      for (let i = 0; i < 3; i++) await writer.produce(topic, [{ key: null, value: text(`m${i}`), timestampMs: baseTimeMs }]);
      const joined = maintainer.runMaintenance();
      const asked = [maintainer.runMaintenance({ startAfterCall: true }), maintainer.runMaintenance({ startAfterCall: true })];
      release();
      const [firstResult, joinedResult, ...askedResults] = await Promise.all([first, joined, ...asked]);
      expect(joinedResult).toBe(firstResult);
      expect(firstResult.segments_compacted).toBe(0); // it never saw the topic
      expect(askedResults[0]).not.toBe(firstResult);
      expect(askedResults[1]).toBe(askedResults[0]); // the callers share the next pass
      expect(askedResults[0]).toMatchObject({ stopped: false, segments_compacted: 1, rows_merged: 3 });
      expect(maintainer.stats.maintenancePasses).toBe(2);
    });

    it('answers a caller waiting for the next pass when the log closes with a stopped pass that touches no store', async () => {
      const { stores, make } = await setup();
      const maintainer = make();
      await make().produce(`close-${randomUUID().slice(0, 6)}`, [{ key: null, value: text('v') }]); // an object a pass would count
      const { listed: topicsListed, release } = holdTopicsListing(stores);
      const first = maintainer.runMaintenance();
      await topicsListed;
      const asked = maintainer.runMaintenance({ startAfterCall: true });
      let askedAnswered = false;
      void asked.then(() => (askedAnswered = true));
      const closing = maintainer.close();
      release();
      await closing;
      expect(askedAnswered).toBe(true); // close waited for it
      expect((await first).stopped).toBe(true);
      // The pass after it began stopped: it did not even count the objects.
      expect(await asked).not.toBe(await first);
      expect(await asked).toMatchObject({ stopped: true, objects_before: 0 });
      expect((await first).objects_before).toBe(1);
    });

    it('lets producers and consumers run through compaction with dense offsets, nothing lost or repeated', async () => {
      const { make } = await setup();
      const writer = make();
      const compactors = [make(), make()]; // two agents compacting at once
      const topic = `live-${randomUUID().slice(0, 6)}`;
      await writer.createTopic(topic, 1);
      const total = 120;
      let stop = false;
      const producing = (async () => {
        for (let i = 0; i < total; i++) await writer.produce(topic, [{ key: null, value: text(`m${i}`) }]);
      })();
      const compacting = (async () => {
        while (!stop) {
          await Promise.all(compactors.map((c) => c.runMaintenance()));
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      const consumer = make({ cacheBytes: 0 });
      const consumed: Seen[] = [];
      let offset = 0;
      while (consumed.length < total) {
        const fetched = await consumer.fetch(topic, 0, offset, { waitMs: 200, maxRecords: 7 });
        for (const r of fetched.records) consumed.push({ offset: r.offset, key: null, value: str(r.value), timestampMs: 0, headers: '' });
        offset = fetched.nextOffset;
      }
      await producing;
      stop = true;
      await compacting;
      expect(consumed.map((r) => r.offset)).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(consumed.map((r) => r.value)).toEqual(Array.from({ length: total }, (_, i) => `m${i}`));
      const after = await readAll(make({ cacheBytes: 0 }), topic, 0);
      expect(after.map((r) => r.value)).toEqual(Array.from({ length: total }, (_, i) => `m${i}`));
    });

    it('skips nothing when a compaction merges the rows a fetch is walking between its two lookups', async () => {
      // Found by the reliability harness's tailing reader (test/reliability/storage-faults.ts): the fetch
      // found the row covering its offset, then the rows after it — by which time a compaction had merged
      // the covering row and the next ones into a row based below, so the next ones were not listed.
      const { stores, make } = await setup();
      const writer = make();
      const topic = `walk-${randomUUID().slice(0, 6)}`;
      await writer.createTopic(topic, 1);
      for (let i = 0; i < 6; i++) await writer.produce(topic, [{ key: null, value: text(`m${i}`) }]);
      const rows = await stores.metadata.query(rowsPk((await writer.requireTopic(topic)).id, 0));
      expect(rows).toHaveLength(6);
      // Compacts rows 0–3 into one (a group of four rows' bytes); rows 4 and 5 are too young to follow.
      const compactor = make({
        maintenance: { compactionTargetBytes: 4 * (rows[0]!.attrs.sizeBytes as number), compactionTailAgeMs: hourMs },
      });
      const reader = make({ cacheBytes: 0 });
      const query = stores.metadata.query.bind(stores.metadata);
      let compacted = false;
      stores.metadata.query = async (pk, options) => {
        // The reader's second lookup (the rows after the covering one) runs right after the compaction.
        if (!compacted && pk.startsWith('rows#') && options?.from !== undefined && !options.reverse) {
          compacted = true;
          expect((await compactor.runMaintenance()).segments_compacted).toBe(1);
        }
        return query(pk, options);
      };
      const fetched = await reader.fetch(topic, 0, 1, { maxRecords: 100 });
      stores.metadata.query = query;
      expect(compacted).toBe(true);
      expect(fetched.records.map((r) => str(r.value))).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    });

    it('refuses to commit a segment uploaded longer ago than the commit bound', async () => {
      const { make, stores, clock } = await setup();
      const writer = make({ maintenance: { gcGraceMs: 10_000 } });
      const topic = `late-${randomUUID().slice(0, 6)}`;
      await writer.createTopic(topic, 1);
      stores.objects.beforePut = () => {
        clock.skewMs += 6_000; // the writer stalls for longer than half the grace period
      };
      await expect(writer.produce(topic, [{ key: null, value: text('late') }])).rejects.toMatchObject({ code: 'TIMEOUT' });
      stores.objects.beforePut = undefined;
      expect((await writer.describeTopic(topic)).partitions[0]!.nextOffset).toBe(0);
    });
  });
}
