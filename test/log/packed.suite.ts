/**
 * Partitions a packing writer holds (lib/log/packed.ts): readers serve their tail, per-partition
 * commits are refused, a takeover fences the packer and turns its commits into rows, unpackers racing
 * each other tile the partition. The packing writer here is a WriterLog driven by the test (the
 * produce path does not pack yet); everything else is the real Log. Run on every store.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../lib/format/index.js';
import type { Log } from '../../lib/log/index.js';
import { rowOf, unpackPartition, tailOf, type TailChunk } from '../../lib/log/packed.js';
import { WriterLog, readFence, type PackedChunk, type PackedProducerBatch } from '../../lib/log/writer-log.js';
import { brokerKey, partitionKey, producerStateKey, rowsPk } from '../../lib/keys.js';
import { FaultyMetadataStore } from '../support/faults.js';
import type { StoreKind } from '../support/stores.js';
import { perTestLogs, readAll, str, type TestStores } from '../support/logs.js';

interface Packer {
  readonly writer: WriterLog;
  readonly node: number;
  seq: number;
  /** Per partition: the next offset the packer assigns. */
  readonly ends: Map<number, number>;
  /** Commits one flush: per partition, its records' values (and an idempotent producer's batch). */
  flush(
    parts: readonly { partition: number; values: readonly string[]; producer?: { id: number; epoch: number; firstSequence: number } }[],
  ): Promise<void>;
}

export function packedSuite(kind: () => StoreKind): void {
  const setup = perTestLogs(kind);

  /** Every record of the partition from its start, read by `log` (a fresh reader sees only what is stored). */
  /**
   * A packing writer W over the test's stores: registered as `node` (expiring at `expiresMs`), holding
   * the lease of `partitions` of the topic in packed mode from their current end, and committing
   * flushes as packed commits of real segment objects.
   */
  async function packer(
    stores: TestStores,
    log: Log,
    topicName: string,
    partitions: readonly number[],
    expiresMs: number,
  ): Promise<Packer> {
    const topic = (await log.describeTopic(topicName)).topic;
    const writerId = `packer-${randomUUID().slice(0, 8)}`;
    const node = 700_000 + Math.floor(Math.random() * 90_000);
    await stores.metadata.write({ kind: 'put', key: brokerKey(node), attrs: { owner: writerId, expiresMs } });
    const writer = new WriterLog(stores.metadata, writerId, { sleep: async () => {} });
    const seq = await writer.open(node);
    const ends = new Map<number, number>();
    for (const partition of partitions) {
      const item = (await stores.metadata.get(partitionKey(topic.id, partition)))!;
      const epoch = (item.attrs.epoch as number) + 1;
      await stores.metadata.write({
        kind: 'update',
        key: partitionKey(topic.id, partition),
        set: { owner: writerId, ownerNode: node, epoch, leaseExpiresMs: 8_640_000_000_000_000, packedBy: writerId, packedSeq: seq },
        condition: { kind: 'match', fields: { epoch: item.attrs.epoch as number } },
      });
      ends.set(partition, item.attrs.nextOffset as number);
    }
    const self: Packer = {
      writer,
      node,
      seq,
      ends,
      async flush(parts) {
        const committedMs = Date.now();
        const bodies: Buffer[] = [];
        const chunks: PackedChunk[] = [];
        const objectKey = `segments/packed-test/${writerId}-${randomUUID()}`;
        let position = 0;
        for (const { partition, values, producer } of parts) {
          const bytes = encodeRecordBatch(
            values.map((value) => ({ key: null, value: Buffer.from(value), timestampMs: committedMs })),
            producer ? { producerId: producer.id, producerEpoch: producer.epoch, baseSequence: producer.firstSequence } : {},
          );
          const producers: PackedProducerBatch[] = producer
            ? [
                {
                  producerId: producer.id,
                  producerEpoch: producer.epoch,
                  firstSequence: producer.firstSequence,
                  lastSequence: producer.firstSequence + values.length - 1,
                  startDelta: 0,
                },
              ]
            : [];
          chunks.push({
            topicId: topic.id,
            partition,
            baseOffset: ends.get(partition)!,
            recordCount: values.length,
            objectKey,
            position,
            sizeBytes: bytes.length,
            maxTimestampMs: committedMs,
            producers,
          });
          bodies.push(bytes);
          position += bytes.length;
        }
        await stores.objects.put(objectKey, Buffer.concat(bodies));
        await writer.commit(++self.seq, chunks);
        for (const chunk of chunks) ends.set(chunk.partition, chunk.baseOffset + chunk.recordCount);
      },
    };
    return self;
  }

  const values = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

  describe('log > packed partitions', () => {
    it('serves a packed partition past its rows from its packer’s commits, to any reader', async () => {
      const { stores, make } = await setup();
      const log = make();
      const topic = `packed-${randomUUID().slice(0, 8)}`;
      await log.createTopic(topic, 2);
      await log.produce(
        topic,
        values('rows', 5).map((value) => ({ key: null, value: Buffer.from(value), partition: 0 })),
      );
      const w = await packer(stores, log, topic, [0, 1], Date.now() + 60_000);
      await w.flush([
        { partition: 0, values: values('a', 3) },
        { partition: 1, values: values('b', 2) },
      ]);
      await w.flush([{ partition: 0, values: values('c', 4) }]);
      const reader = make(); // another process: nothing cached
      const all = await readAll(reader, topic, 0);
      expect(all.highWatermark).toBe(12);
      expect(all.records).toEqual([...values('rows', 5), ...values('a', 3), ...values('c', 4)].map((value, offset) => ({ offset, value })));
      expect((await readAll(reader, topic, 1)).records.map((record) => record.value)).toEqual(values('b', 2));
      // Reading from the middle of the tail, and the end as Kafka's ListOffsets gives it.
      expect((await reader.fetch(topic, 0, 9)).records.map((record) => str(record.value))).toEqual(['c-1', 'c-2', 'c-3']);
      expect((await reader.describeTopic(topic)).partitions[0]!.nextOffset).toBe(12);
    });

    it('refuses a per-partition commit to a packed partition (NOT_LEADER), writing nothing, even from a writer whose cached end is the rows’ end; it asks the packer to leave', async () => {
      const { stores, make } = await setup();
      const log = make();
      const topic = `packed-${randomUUID().slice(0, 8)}`;
      await log.createTopic(topic, 1);
      // A lease-less writer, as the API Lambda is; it caches the partition's end. It waits 200 ms for the packer to leave.
      const lambda = make({ packedLeaveWaitMs: 200 });
      await lambda.produce(topic, [{ key: null, value: Buffer.from('x0'), partition: 0 }]);
      const w = await packer(stores, log, topic, [0], Date.now() + 60_000);
      await w.flush([{ partition: 0, values: values('a', 2) }]);
      // Its cached end (1) is still the item's nextOffset: only the packedBy condition stops it. (This
      // bare packer never reads the request it is sent: packing.suite.ts has an agent that does.)
      await expect(lambda.produce(topic, [{ key: null, value: Buffer.from('x1'), partition: 0 }])).rejects.toMatchObject({
        code: 'NOT_LEADER',
      });
      await expect(
        make({ packedLeaveWaitMs: 0 }).produce(topic, [{ key: null, value: Buffer.from('x2'), partition: 0 }]),
      ).rejects.toMatchObject({
        code: 'NOT_LEADER',
      });
      const topicId = (await log.describeTopic(topic)).topic.id;
      expect((await readFence(stores.metadata, w.writer.writerId))?.leaveRequests).toEqual([{ topicId, partition: 0 }]);
      expect((await readAll(make(), topic, 0)).records).toEqual(['x0', ...values('a', 2)].map((value, offset) => ({ offset, value })));
      expect(await stores.metadata.query(rowsPk((await log.describeTopic(topic)).topic.id, 0))).toHaveLength(1);
    });

    it('unpacks a merged row whose idempotent producers would not fit one transaction with it as a row per chunk', async () => {
      const { stores, make } = await setup();
      const log = make();
      const topic = `packed-${randomUUID().slice(0, 8)}`;
      await log.createTopic(topic, 1);
      const w = await packer(stores, log, topic, [0], Date.now() + 60_000);
      // 100 producers, one batch each: a row holding all of them, their states and the item are 102 writes.
      for (let id = 1; id <= 100; id++) await w.flush([{ partition: 0, values: [`p${id}`], producer: { id, epoch: 0, firstSequence: 0 } }]);
      const topicId = (await log.describeTopic(topic)).topic.id;
      // A copy holding all 100 chunks as one row (never read: the step must not write it).
      const merged = (chunks: readonly TailChunk[]) =>
        chunks.length < 100
          ? chunks.map(rowOf)
          : [
              {
                ...rowOf(chunks[0]!),
                objectKey: 'never-written',
                recordCount: 100,
                sizeBytes: chunks.reduce((sum, c) => sum + c.sizeBytes, 0),
              },
            ];
      await unpackPartition(stores.metadata, topicId, 0, w.writer.writerId, { throughSeq: w.seq, rowsFor: merged });
      expect((await stores.metadata.query(rowsPk(topicId, 0))).map((row) => row.attrs.baseOffset)).toEqual(
        Array.from({ length: 100 }, (_, i) => i),
      );
      expect((await stores.metadata.get(partitionKey(topicId, 0)))?.attrs).toMatchObject({ nextOffset: 100 });
      expect(await stores.metadata.get(producerStateKey(topicId, 0, 100))).toBeDefined();
      expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(Array.from({ length: 100 }, (_, i) => `p${i + 1}`));
    });

    it('lets an unpacker that read before another moved the item change nothing', async () => {
      const { stores, make } = await setup();
      const log = make();
      const topic = `packed-${randomUUID().slice(0, 8)}`;
      await log.createTopic(topic, 1);
      const w = await packer(stores, log, topic, [0], Date.now() + 60_000);
      for (const prefix of ['a', 'b', 'c']) await w.flush([{ partition: 0, values: values(prefix, 2) }]);
      const topicId = (await log.describeTopic(topic)).topic.id;
      const late = new FaultyMetadataStore(stores.metadata);
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      late.beforeTransact = () => gate;
      // A slow unpacker plans the first two commits; meanwhile the packer turns all three into rows and
      // retention drops them (the log start moves past them).
      const slow = unpackPartition(late, topicId, 0, w.writer.writerId, { throughSeq: w.seq - 1 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await unpackPartition(stores.metadata, topicId, 0, w.writer.writerId, { throughSeq: w.seq });
      for (const row of await stores.metadata.query(rowsPk(topicId, 0))) await stores.metadata.write({ kind: 'delete', key: row });
      await stores.metadata.write({ kind: 'update', key: partitionKey(topicId, 0), set: { logStartOffset: 6 } });
      release();
      await slow;
      expect((await stores.metadata.get(partitionKey(topicId, 0)))!.attrs).toMatchObject({
        nextOffset: 6,
        logStartOffset: 6,
        packedBy: w.writer.writerId,
      });
      expect(await stores.metadata.query(rowsPk(topicId, 0))).toEqual([]);
    });

    it('frees a partition packed by a crashed writer for a lease-less writer: fences it, unpacks it, commits after its records', async () => {
      const { stores, make } = await setup();
      const log = make();
      const topic = `packed-${randomUUID().slice(0, 8)}`;
      await log.createTopic(topic, 1);
      const w = await packer(stores, log, topic, [0], Date.now() - 1); // its registration lapsed: it crashed
      await w.flush([{ partition: 0, values: values('a', 2) }]);
      expect(await make().produce(topic, [{ key: null, value: Buffer.from('after'), partition: 0 }])).toEqual([
        { partition: 0, offset: 2 },
      ]);
      await expect(w.flush([{ partition: 0, values: ['late'] }])).rejects.toMatchObject({ code: 'FENCED_LEADER_EPOCH' });
      const topicId = (await log.describeTopic(topic)).topic.id;
      expect((await stores.metadata.get(partitionKey(topicId, 0)))?.attrs).toMatchObject({ packedBy: null, nextOffset: 3 });
      expect((await readAll(make(), topic, 0)).records.map((record) => record.value)).toEqual([...values('a', 2), 'after']);
    });

    it('lets no one take a packed partition while its packer’s registration lives', async () => {
      const { stores, make } = await setup();
      const log = make();
      const topic = `packed-${randomUUID().slice(0, 8)}`;
      await log.createTopic(topic, 1);
      const w = await packer(stores, log, topic, [0], Date.now() + 60_000);
      await expect(make().acquireLeadership(topic, 0)).rejects.toMatchObject({ code: 'NOT_LEADER' });
      await w.flush([{ partition: 0, values: values('a', 2) }]); // not fenced
      expect((await readAll(make(), topic, 0)).highWatermark).toBe(2);
    });

    it('takes a partition from a packer whose registration lapsed: fences it, its commits become rows, offsets go on', async () => {
      const { stores, make } = await setup();
      const log = make();
      const topic = `packed-${randomUUID().slice(0, 8)}`;
      await log.createTopic(topic, 2);
      await log.produce(topic, [{ key: null, value: Buffer.from('rows-0'), partition: 0 }]);
      const w = await packer(stores, log, topic, [0, 1], Date.now() + 60_000);
      await w.flush([
        { partition: 0, values: values('a', 3) },
        { partition: 1, values: values('b', 1) },
      ]);
      await w.flush([{ partition: 0, values: values('c', 2) }]);
      // The packer's registration lapses (a paused agent).
      await stores.metadata.write({ kind: 'update', key: brokerKey(w.node), set: { expiresMs: Date.now() - 1 } });
      const successor = make();
      const lease = await successor.acquireLeadership(topic, 0);
      const topicId = (await log.describeTopic(topic)).topic.id;
      const item = (await stores.metadata.get(partitionKey(topicId, 0)))!.attrs;
      expect(item).toMatchObject({ nextOffset: 6, owner: successor.writerId, epoch: lease.epoch, packedBy: null });
      expect((await stores.metadata.query(rowsPk(topicId, 0))).map((row) => row.attrs.baseOffset)).toEqual([0, 1, 4]);
      // The paused packer wakes: it can commit to no partition, neither the one taken nor the other.
      for (const partition of [0, 1])
        await expect(w.flush([{ partition, values: ['late'] }])).rejects.toMatchObject({ code: 'FENCED_LEADER_EPOCH' });
      // The successor appends after the packer's records.
      const appended = await (
        await successor.appendBatches(topic, 0, encodeRecordBatch([{ key: null, value: Buffer.from('next') }]), { asLeader: true })
      ).done;
      expect(appended.baseOffset).toBe(6);
      const read = await readAll(make(), topic, 0);
      expect(read.records).toEqual(['rows-0', ...values('a', 3), ...values('c', 2), 'next'].map((value, offset) => ({ offset, value })));
      // Partition 1 is still packed by the fenced packer, and read through its final log.
      expect((await readAll(make(), topic, 1)).records.map((record) => record.value)).toEqual(values('b', 1));
      await successor.acquireLeadership(topic, 1);
      expect((await readAll(make(), topic, 1)).records.map((record) => record.value)).toEqual(values('b', 1));
    });

    it('moves idempotent producers’ state with the rows, so a retry to the successor is a duplicate', async () => {
      const { stores, make } = await setup();
      const log = make();
      const topic = `packed-${randomUUID().slice(0, 8)}`;
      await log.createTopic(topic, 1);
      const producerId = await log.allocateProducerId();
      const w = await packer(stores, log, topic, [0], Date.now() + 60_000);
      await w.flush([{ partition: 0, values: values('a', 3), producer: { id: producerId, epoch: 0, firstSequence: 0 } }]);
      await w.flush([{ partition: 0, values: values('b', 2), producer: { id: producerId, epoch: 0, firstSequence: 3 } }]);
      await stores.metadata.write({ kind: 'update', key: brokerKey(w.node), set: { expiresMs: Date.now() - 1 } });
      const successor = make();
      await successor.acquireLeadership(topic, 0);
      const topicId = (await log.describeTopic(topic)).topic.id;
      expect((await stores.metadata.get(producerStateKey(topicId, 0, producerId)))?.attrs).toMatchObject({
        producerEpoch: 0,
        nextSequence: 5,
      });
      // The client never got the answer to its second batch and sends it again, now to the successor.
      const retry = encodeRecordBatch(
        values('b', 2).map((value) => ({ key: null, value: Buffer.from(value) })),
        { producerId, producerEpoch: 0, baseSequence: 3 },
      );
      const answered = await (await successor.appendBatches(topic, 0, retry, { asLeader: true })).done;
      expect(answered).toMatchObject({ baseOffset: 3, duplicate: true });
      const next = encodeRecordBatch([{ key: null, value: Buffer.from('c') }], { producerId, producerEpoch: 0, baseSequence: 5 });
      expect((await (await successor.appendBatches(topic, 0, next, { asLeader: true })).done).baseOffset).toBe(5);
      expect((await readAll(make(), topic, 0)).records.map((record) => record.value)).toEqual([...values('a', 3), ...values('b', 2), 'c']);
    });

    it('tiles the partition when unpackers race, over more chunks than one step holds', async () => {
      const { stores, make } = await setup();
      const log = make();
      const topic = `packed-${randomUUID().slice(0, 8)}`;
      await log.createTopic(topic, 1);
      const w = await packer(stores, log, topic, [0], Date.now() + 60_000);
      for (let flush = 0; flush < 110; flush++) await w.flush([{ partition: 0, values: values(`f${flush}`, 1 + (flush % 3)) }]);
      const end = w.ends.get(0)!;
      const topicId = (await log.describeTopic(topic)).topic.id;
      // The packer turns its first 60 commits into rows while two others (that fenced it) unpack everything.
      await Promise.all([
        unpackPartition(stores.metadata, topicId, 0, w.writer.writerId, { throughSeq: w.seq - 50 }),
        unpackPartition(stores.metadata, topicId, 0, w.writer.writerId, { release: true }),
        unpackPartition(stores.metadata, topicId, 0, w.writer.writerId, { release: true }),
      ]);
      const item = (await stores.metadata.get(partitionKey(topicId, 0)))!.attrs;
      expect(item).toMatchObject({ nextOffset: end, packedBy: null });
      const rows = (await stores.metadata.query(rowsPk(topicId, 0))).map((row) => [
        row.attrs.baseOffset as number,
        row.attrs.recordCount as number,
      ]);
      expect(rows).toHaveLength(110);
      let tiled = 0;
      for (const [base, count] of rows) {
        expect(base).toBe(tiled);
        tiled = base! + count!;
      }
      expect(tiled).toBe(end);
      const read = await readAll(make(), topic, 0);
      expect(read.records.map((record) => record.offset)).toEqual(Array.from({ length: end }, (_, i) => i));
      expect(read.records.map((record) => record.value)).toEqual(
        Array.from({ length: 110 }, (_, flush) => values(`f${flush}`, 1 + (flush % 3))).flat(),
      );
    });
  });

  describe('log > packed partitions > tail', () => {
    const state = { nextOffset: 10, packedSeq: 3 } as Parameters<typeof tailOf>[3];
    const chunk = (partition: number, baseOffset: number, recordCount: number): PackedChunk => ({
      topicId: 't',
      partition,
      baseOffset,
      recordCount,
      objectKey: 'o',
      position: 0,
      sizeBytes: 1,
      maxTimestampMs: 0,
      producers: [],
    });
    const commit = (seq: number, chunks: PackedChunk[]) => ({ seq, committedMs: 0, abandoned: false, chunks });

    it('runs from the end of the rows without a gap, or is refused as stale', () => {
      const commits = [
        commit(3, [chunk(0, 7, 3)]),
        commit(4, [chunk(0, 10, 2), chunk(1, 0, 5)]),
        commit(5, []),
        commit(6, [chunk(0, 12, 1)]),
      ];
      expect(tailOf(commits, 't', 0, state)?.map((c) => [c.seq, c.baseOffset])).toEqual([
        [4, 10],
        [6, 12],
      ]);
      // A commit missing (dropped after it became rows the item read did not show yet): stale.
      expect(tailOf([commits[0]!, commits[3]!], 't', 0, state)).toBeUndefined();
      expect(tailOf([commit(4, [chunk(0, 11, 1)])], 't', 0, state)).toBeUndefined();
      expect(tailOf([], 't', 0, state)).toEqual([]);
    });
  });
}
