/**
 * The log cleaner (cleanup.policy=compact), written once and run on the embedded store and on the
 * AWS adapters: the latest record per key survives, offsets never move, tombstones go after
 * delete.retention.ms, min.compaction.lag.ms holds records back, readers step over the gaps, and a
 * property (fast-check) over random produces, passes and clock jumps. A skewed clock stands in for
 * the passage of hours.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { encodeRecordBatch } from '../../lib/format/index.js';
import type { Log } from '../../lib/log/index.js';
import type { TopicConfig } from '../../lib/log/topic-config.js';
import { offsetSk, partitionKey, topicsPk } from '../../lib/keys.js';
import { partitionStateFromItem, topicFromItem, type PartitionState } from '../../lib/log/layout.js';
import { cleanPartition } from '../../lib/log/maintenance/cleaner.js';
import { compactPartition } from '../../lib/log/maintenance/compaction.js';
import { emptyResult } from '../../lib/log/maintenance/context.js';
import { maintenanceContext } from '../../lib/log/maintenance/index.js';
import { TransactionConflictError } from '../../lib/storage/ports.js';
import type { StoreKind } from '../support/stores.js';
import { closeAll, newLog, openTestStores, str, text, type TestStores } from '../support/logs.js';

const hourMs = 3_600_000;

type Entry = readonly [key: string | null, value: string | null];
type Seen = { offset: number; key: string | null; value: string | null };

export function cleanerSuite(kind: () => StoreKind): void {
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
    const make = () => {
      const log = newLog(stores, { now, maintenance: { compactionTailAgeMs: 0, gcGraceMs: 4 * hourMs } });
      logs.push(log);
      return log;
    };
    /** Object GETs while `work` runs. */
    const objectGets = async (work: () => Promise<unknown>): Promise<number> => {
      const get = stores.objects.get.bind(stores.objects);
      let gets = 0;
      stores.objects.get = (key, range) => {
        gets++;
        return get(key, range);
      };
      try {
        await work();
      } finally {
        stores.objects.get = get;
      }
      return gets;
    };
    return { stores, clock, make, objectGets };
  }

  async function compactedTopic(log: Log, config: Partial<TopicConfig> = {}): Promise<string> {
    const topic = `compacted-${randomUUID().slice(0, 8)}`;
    await log.createTopic(topic, 1, { 'cleanup.policy': 'compact', ...config });
    return topic;
  }

  /** One produce request (one flush). */
  async function produce(log: Log, topic: string, entries: readonly Entry[]): Promise<void> {
    await log.produce(
      topic,
      entries.map(([key, value]) => ({ key: key === null ? null : text(key), value: value === null ? null : text(value), partition: 0 })),
    );
  }

  async function readAll(log: Log, topic: string, from = 0): Promise<Seen[]> {
    const out: Seen[] = [];
    for (let offset = from; ; ) {
      const fetched = await log.fetch(topic, 0, offset, { maxRecords: 1000 });
      out.push(...fetched.records.map((r) => ({ offset: r.offset, key: str(r.key), value: str(r.value) })));
      if (fetched.nextOffset >= fetched.highWatermark) return out;
      expect(fetched.nextOffset).toBeGreaterThan(offset); // a reader always moves on
      offset = fetched.nextOffset;
    }
  }

  const latestOf = (seen: readonly Seen[]) => new Map(seen.map((r) => [r.key, r]));

  /** A pass's steps one at a time over the stores (as Maintenance runs them), to interleave two maintainers. */
  function maintenanceSteps(stores: TestStores, now: () => number) {
    const ctx = maintenanceContext(stores, {
      now,
      compactionTailAgeMs: 0,
      gcGraceMs: 4 * hourMs,
      producerIdExpirationMs: 24 * hourMs,
      cleanerMapKeys: 1000,
    });
    const topicItem = async (name: string) => (await stores.metadata.query(topicsPk)).map(topicFromItem).find((t) => t.name === name)!;
    return {
      state: async (name: string) => partitionStateFromItem((await stores.metadata.get(partitionKey((await topicItem(name)).id, 0)))!),
      compact: async (name: string, state: PartitionState) => compactPartition(ctx, await topicItem(name), 0, state, emptyResult()),
      clean: async (name: string, state: PartitionState) => cleanPartition(ctx, await topicItem(name), 0, state, emptyResult()),
    };
  }

  describe('log > cleaner (cleanup.policy=compact)', () => {
    it('keeps the latest record of each key at its offset; the high watermark and log start stay', async () => {
      const { make } = await setup();
      const log = make();
      const topic = await compactedTopic(log);
      for (let round = 0; round < 4; round++)
        await produce(
          log,
          topic,
          ['a', 'b', 'c'].map((key) => [key, `${key}${round}`] as const),
        );
      const before = await readAll(log, topic);
      expect(before).toHaveLength(12);

      const pass = await log.runMaintenance();
      expect(pass).toMatchObject({ partitions_cleaned: 1, records_cleaned: 9, cleaner_conflicts: 0 });
      const after = await readAll(make(), topic);
      expect(after).toEqual([
        { offset: 9, key: 'a', value: 'a3' },
        { offset: 10, key: 'b', value: 'b3' },
        { offset: 11, key: 'c', value: 'c3' },
      ]);
      expect([(await log.listOffset(topic, 0, 'earliest'))!.offset, (await log.listOffset(topic, 0, 'latest'))!.offset]).toEqual([0, 12]);

      // Cleaned again with nothing new: nothing to do, nothing written.
      const again = await log.runMaintenance();
      expect(again).toMatchObject({ records_cleaned: 0, segments_cleaned: 0, objects_written: 0 });
    });

    it('cleans what came since against what was cleaned before: an old key keeps its value until written again', async () => {
      const { make } = await setup();
      const log = make();
      const topic = await compactedTopic(log);
      await produce(log, topic, [
        ['a', 'a0'],
        ['b', 'b0'],
        ['a', 'a1'],
      ]);
      await log.runMaintenance();
      await produce(log, topic, [
        ['c', 'c0'],
        ['b', 'b1'],
        ['c', 'c1'],
        ['d', 'd0'],
      ]);
      const pass = await log.runMaintenance();
      expect(pass.records_cleaned).toBe(2); // b0 (an older segment) and c0
      expect(await readAll(log, topic)).toEqual([
        { offset: 2, key: 'a', value: 'a1' },
        { offset: 4, key: 'b', value: 'b1' },
        { offset: 5, key: 'c', value: 'c1' },
        { offset: 6, key: 'd', value: 'd0' },
      ]);
    });

    it('keeps a tombstone for delete.retention.ms after the cleaner first reaches it, then removes it; no segment is read before it is due', async () => {
      const { make, clock, objectGets } = await setup();
      const log = make();
      const topic = await compactedTopic(log, { 'delete.retention.ms': hourMs });
      await produce(log, topic, [
        ['a', 'a0'],
        ['b', 'b0'],
        ['a', null],
        ['c', 'c0'],
      ]);
      await log.runMaintenance();
      await produce(log, topic, [['d', 'd0']]); // a segment after it: the tombstone's is not the newest (which waits, as Kafka's active segment)
      await log.runMaintenance();
      expect(await readAll(log, topic)).toEqual([
        { offset: 1, key: 'b', value: 'b0' },
        { offset: 2, key: 'a', value: null }, // consumers still learn that a was deleted
        { offset: 3, key: 'c', value: 'c0' },
        { offset: 4, key: 'd', value: 'd0' },
      ]);
      clock.skewMs += hourMs - 60_000;
      expect(await objectGets(() => log.runMaintenance())).toBe(0);
      clock.skewMs += 120_000;
      expect((await log.runMaintenance()).records_cleaned).toBe(1);
      expect(await readAll(log, topic)).toEqual([
        { offset: 1, key: 'b', value: 'b0' },
        { offset: 3, key: 'c', value: 'c0' },
        { offset: 4, key: 'd', value: 'd0' },
      ]);
    });

    it('never removes the newest record, even a tombstone past its time: a reader below the high watermark finds a record ahead, and an idle partition costs no read', async () => {
      const { make, clock, objectGets } = await setup();
      const log = make();
      const topic = await compactedTopic(log, { 'delete.retention.ms': 0 });
      await produce(log, topic, [
        ['a', 'a0'],
        ['a', null],
      ]);
      await log.runMaintenance();
      clock.skewMs += 60_000;
      await log.runMaintenance();
      expect(await readAll(log, topic)).toEqual([{ offset: 1, key: 'a', value: null }]);
      const fetched = await log.fetch(topic, 0, 0);
      expect([fetched.records.map((r) => r.offset), fetched.nextOffset]).toEqual([[1], 2]);
      // Nothing can go while it is the newest: an idle partition costs no segment read a pass.
      clock.skewMs += 60_000;
      expect(await objectGets(() => log.runMaintenance())).toBe(0);
      // Once it is not, it goes.
      await produce(log, topic, [['b', 'b0']]);
      clock.skewMs += 60_000;
      await log.runMaintenance();
      clock.skewMs += 60_000;
      await log.runMaintenance();
      expect(await readAll(log, topic)).toEqual([{ offset: 2, key: 'b', value: 'b0' }]);
    });

    it('holds records back for min.compaction.lag.ms, judged by the newest record time of their segment', async () => {
      const { make, clock } = await setup();
      const log = make();
      const topic = await compactedTopic(log, { 'min.compaction.lag.ms': hourMs });
      for (let round = 0; round < 3; round++) await produce(log, topic, [['k', `v${round}`]]);
      expect((await log.runMaintenance()).records_cleaned).toBe(0);
      expect(await readAll(log, topic)).toHaveLength(3);
      clock.skewMs += 2 * hourMs;
      expect((await log.runMaintenance()).records_cleaned).toBe(2);
      expect(await readAll(log, topic)).toEqual([{ offset: 2, key: 'k', value: 'v2' }]);
    });

    it('waits for min.cleanable.dirty.ratio, unless max.compaction.lag.ms has passed', async () => {
      const { make, clock } = await setup();
      const log = make();
      const topic = await compactedTopic(log, { 'min.cleanable.dirty.ratio': 0.99, 'max.compaction.lag.ms': hourMs });
      await produce(log, topic, [
        ['a', 'a0'],
        ['b', 'b0'],
      ]);
      await log.runMaintenance(); // all dirty: cleaned (nothing to remove)
      await produce(log, topic, [['a', 'a1']]);
      expect((await log.runMaintenance()).records_cleaned).toBe(0); // a third of the bytes dirty, under 0.99
      clock.skewMs += 2 * hourMs;
      expect((await log.runMaintenance()).records_cleaned).toBe(1);
      expect((await readAll(log, topic)).map((r) => r.value)).toEqual(['b0', 'a1']);
    });

    it('a fetch at an offset the cleaner removed answers the next record; Kafka batches keep their offsets', async () => {
      const { make } = await setup();
      const log = make();
      const topic = await compactedTopic(log);
      await produce(log, topic, [
        ['a', 'a0'],
        ['b', 'b0'],
        ['c', 'c0'],
      ]);
      await produce(log, topic, [
        ['a', 'a1'],
        ['b', 'b1'],
      ]);
      await log.runMaintenance();
      const fetched = await log.fetch(topic, 0, 0, { maxRecords: 1 });
      expect([fetched.records.map((r) => [r.offset, str(r.value)]), fetched.nextOffset]).toEqual([[[2, 'c0']], 3]);
      const { batches } = await log.readBatches(topic, 0, 1);
      // The first batch lost a0 and b0 but still spans offsets 0-2; the second is whole.
      expect(batches.map((b) => [Number(b.readBigInt64BE(0)), b.readInt32BE(23), b.readInt32BE(57)])).toEqual([
        [0, 2, 1],
        [3, 1, 2],
      ]);
    });

    it('a segment whose every record went stays as an empty span: readers pass over it to the next', async () => {
      const { make } = await setup();
      const log = make();
      const topic = await compactedTopic(log, { 'min.cleanable.dirty.ratio': 0 });
      await produce(log, topic, [
        ['a', 'a0'],
        ['b', 'b0'],
      ]);
      await log.runMaintenance(); // one segment, [0, 2)
      await produce(log, topic, [
        ['a', 'a1'],
        ['b', 'b1'],
      ]);
      const pass = await log.runMaintenance();
      expect(pass).toMatchObject({ records_cleaned: 2, cleaner_conflicts: 0 });
      for (const from of [0, 1]) {
        const fetched = await log.fetch(topic, 0, from);
        expect([fetched.records.map((r) => [r.offset, str(r.value)]), fetched.nextOffset]).toEqual([
          [
            [2, 'a1'],
            [3, 'b1'],
          ],
          4,
        ]);
      }
      expect((await log.listOffset(topic, 0, 'earliest'))!.offset).toBe(0);
    });

    it('answers the largest timestamp from the records kept, not from a segment the cleaner emptied', async () => {
      const { make } = await setup();
      const log = make();
      const topic = await compactedTopic(log, { 'min.cleanable.dirty.ratio': 0 });
      const t = Date.now() - 60_000;
      const at = (key: string, value: string, timestampMs: number) => ({ key: text(key), value: text(value), partition: 0, timestampMs });
      await log.produce(topic, [at('a', 'a0', t), at('b', 'b0', t)]);
      await log.runMaintenance();
      await log.produce(topic, [at('a', 'a1', t - 1000), at('b', 'b1', t - 2000)]);
      await log.runMaintenance(); // the first segment is emptied; it kept its rows' time (t), for retention
      expect(await log.listOffset(topic, 0, 'max-timestamp')).toEqual({ offset: 2, timestampMs: t - 1000 });
    });

    it('a fetch of one segment at a time passes a segment’s removed tail to the next segment', async () => {
      const { make } = await setup();
      const log = make();
      const topic = await compactedTopic(log, { 'min.cleanable.dirty.ratio': 0 });
      for (const key of ['c', 'a', 'b']) await produce(log, topic, [[key, `${key}0`]]); // one batch each
      await log.runMaintenance(); // one segment, [0, 3)
      await produce(log, topic, [
        ['a', 'a1'],
        ['b', 'b1'],
      ]);
      await log.runMaintenance(); // the first segment keeps c0 only: its last two batches are gone
      const fetched = await log.fetch(topic, 0, 1, { maxBytes: 1 }); // one row per read
      expect([fetched.records.map((r) => [r.offset, str(r.value)]), fetched.nextOffset]).toEqual([[[3, 'a1']], 4]);
      expect((await readAll(log, topic)).map((r) => r.offset)).toEqual([0, 3, 4]);
    });

    it('a pass a racing writer cut short does not move the checkpoint: a tombstone never outlives the value it deletes', async () => {
      const { make, clock, stores } = await setup();
      const log = make();
      const topic = await compactedTopic(log, { 'min.cleanable.dirty.ratio': 0, 'delete.retention.ms': 0 });
      await produce(log, topic, [
        ['a', 'a0'],
        ['x', 'x0'],
      ]);
      await log.runMaintenance(); // segment [0, 2), clean
      await produce(log, topic, [
        ['a', null],
        ['y', 'y0'],
      ]);
      // The rewrite of the first segment (dropping a0) loses a race once.
      let raced = false;
      stores.metadata.beforeTransact = (ops) => {
        if (raced || !ops.some((op) => op.kind === 'put' && op.key.pk.startsWith('rows#') && op.key.sk === offsetSk(0))) return;
        raced = true;
        throw new TransactionConflictError([{ index: 0, current: undefined }]);
      };
      const cut = await log.runMaintenance();
      expect([raced, cut.cleaner_conflicts, cut.partitions_cleaned]).toEqual([true, 1, 0]);
      for (let pass = 0; pass < 3; pass++) {
        clock.skewMs += 60_000;
        await log.runMaintenance();
        expect((await readAll(log, topic)).filter((r) => r.key === 'a' && r.value !== null)).toEqual([]);
      }
      await produce(log, topic, [['z', 'z0']]); // the tombstone's segment is no longer the newest
      for (let pass = 0; pass < 2; pass++) {
        clock.skewMs += 60_000;
        await log.runMaintenance();
      }
      expect((await readAll(log, topic)).map((r) => r.key)).toEqual(['x', 'y', 'z']); // the tombstone went once it had done its work
    });

    it('a pass working from a partition state read before another maintainer merged newer records protects nothing past that state', async () => {
      const { make, clock, stores } = await setup();
      const log = make();
      const topic = await compactedTopic(log, { 'delete.retention.ms': hourMs });
      const steps = maintenanceSteps(stores, () => Date.now() + clock.skewMs);
      await produce(log, topic, [
        ['a', 'a0'],
        ['j', 'j0'],
      ]);
      // Pass A reads the partition (its newest record: j0 at 1), then waits.
      const stale = await steps.state(topic);
      // Meanwhile j is deleted and pass B merges everything into one segment [0, 4).
      await produce(log, topic, [
        ['j', null],
        ['b', 'b0'],
      ]);
      await steps.compact(topic, await steps.state(topic));
      // Pass A's cleaner goes on from its state: j0 is not the newest record of the segment it would clean.
      await steps.clean(topic, stale);
      // An hour on, with a record after that segment, a fresh pass cleans it: j's tombstone goes, and j0 must have gone first.
      clock.skewMs += 2 * hourMs;
      await produce(log, topic, [['c', 'c0']]);
      for (let pass = 0; pass < 3; pass++) {
        await steps.clean(topic, await steps.state(topic));
        clock.skewMs += 2 * hourMs;
      }
      expect((await readAll(log, topic)).filter((r) => r.key === 'j')).toEqual([]); // without the bound: j0 came back
      expect((await readAll(log, topic)).map((r) => r.key)).toEqual(['a', 'b', 'c']);
    });

    it('refuses a record without a key (INVALID_RECORD) over both produce paths, appending nothing', async () => {
      const { make } = await setup();
      const log = make();
      const topic = await compactedTopic(log);
      await expect(produce(log, topic, [[null, 'x']])).rejects.toMatchObject({ code: 'INVALID_RECORD', message: /record 0 has no key/ });
      const keyless = encodeRecordBatch([
        { key: text('k'), value: text('v') },
        { key: null, value: text('x') },
      ]);
      const refused = await log.appendBatches(topic, 0, keyless).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(SpoolError);
      expect(refused).toMatchObject({
        code: 'INVALID_RECORD',
        message: /record 1 has no key/,
        details: { record_errors: [{ batch_index: 1 }] },
      });
      expect((await log.listOffset(topic, 0, 'latest'))!.offset).toBe(0);
    });

    it('retention applies with compact,delete and not with compact alone', async () => {
      const { make, clock } = await setup();
      const log = make();
      const compactOnly = await compactedTopic(log, { 'retention.ms': hourMs });
      const both = await compactedTopic(log, { 'retention.ms': hourMs, 'cleanup.policy': 'compact,delete' });
      for (const topic of [compactOnly, both])
        for (let i = 0; i < 3; i++) {
          await produce(log, topic, [[`k${i}`, 'v']]);
          await log.runMaintenance(); // one segment per record
        }
      clock.skewMs += 2 * hourMs;
      await produce(log, compactOnly, [['k9', 'v']]);
      await produce(log, both, [['k9', 'v']]);
      await log.runMaintenance();
      expect((await readAll(log, compactOnly)).map((r) => r.key)).toEqual(['k0', 'k1', 'k2', 'k9']);
      expect((await log.listOffset(both, 0, 'earliest'))!.offset).toBe(3);
      expect((await readAll(log, both, 3)).map((r) => r.key)).toEqual(['k9']);
    });

    it('two cleaners racing leave the latest record of every key, at its offset', async () => {
      const { make } = await setup();
      const [a, b] = [make(), make()];
      const topic = await compactedTopic(a);
      const produced: Seen[] = [];
      for (let round = 0; round < 6; round++) {
        const entries = Array.from({ length: 8 }, (_, i) => [`k${(round * 3 + i) % 11}`, `r${round}i${i}`] as const);
        await produce(a, topic, entries);
        produced.push(...entries.map(([key, value], i) => ({ offset: produced.length + i, key, value })));
        if (round % 2 === 1) await Promise.all([a.runMaintenance(), b.runMaintenance()]);
      }
      await Promise.all([a.runMaintenance(), b.runMaintenance()]);
      await a.runMaintenance();
      const seen = await readAll(make(), topic);
      for (const record of seen) expect(record).toEqual(produced[record.offset]);
      expect(latestOf(seen)).toEqual(latestOf(produced));
      expect(seen).toHaveLength(11); // one per key once a pass after the race has cleaned
    });

    it('property: offsets and records never change, no key goes backwards for a reader, the latest value of each key survives', async () => {
      const { make, clock } = await setup();
      const log = make();
      const keys = ['a', 'b', 'c', 'd', 'e'];
      const op = fc.oneof(
        fc.record({
          produce: fc.array(fc.tuple(fc.constantFrom(...keys), fc.option(fc.constantFrom('x', 'y', 'z'), { freq: 4 })), {
            minLength: 1,
            maxLength: 6,
          }),
        }),
        fc.constant({ pass: true }),
        fc.record({ jumpMs: fc.constantFrom(60_000, hourMs, 3 * hourMs) }),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(op, { minLength: 2, maxLength: 14 }),
          fc.constantFrom(0, 0.5),
          fc.constantFrom(0, hourMs),
          async (ops, ratio, deleteRetentionMs) => {
            const topic = await compactedTopic(log, { 'min.cleanable.dirty.ratio': ratio, 'delete.retention.ms': deleteRetentionMs });
            const produced: Seen[] = [];
            const consumer: Seen[] = []; // one reader that keeps its position through every pass
            const check = async () => {
              const next = consumer.length === 0 ? 0 : consumer.at(-1)!.offset + 1;
              consumer.push(...(await readAll(log, topic, next)));
              const seen = await readAll(log, topic);
              for (const record of [...seen, ...consumer]) expect(record).toEqual(produced[record.offset]);
              for (let i = 1; i < consumer.length; i++) expect(consumer[i]!.offset).toBeGreaterThan(consumer[i - 1]!.offset);
              for (const [key, latest] of latestOf(produced)) {
                const kept = latestOf(seen).get(key);
                // A key whose last record is a value keeps it; one deleted stays deleted (its tombstone, or nothing once that went).
                if (latest.value !== null) expect(kept).toEqual(latest);
                else if (kept !== undefined) expect(kept).toEqual(latest);
              }
              if (produced.length > 0) expect(seen.at(-1)).toEqual(produced.at(-1));
            };
            for (const step of ops) {
              if ('produce' in step) {
                await produce(log, topic, step.produce);
                produced.push(...step.produce.map(([key, value], i) => ({ offset: produced.length + i, key, value })));
              } else if ('pass' in step) await log.runMaintenance();
              else clock.skewMs += step.jumpMs;
              await check();
            }
            await log.runMaintenance();
            await check();
            await log.deleteTopic(topic);
          },
        ),
        { numRuns: 25 },
      );
    });
  });
}
