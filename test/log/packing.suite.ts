/**
 * Packed commits on the produce path (lib/log/packing.ts): a Log with `packedCommits` whose leases
 * ride on a registration, as an agent serving Kafka. Each test proves one thing the module comment
 * states; run on every store.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { encodeRecordBatch } from '../../lib/format/index.js';
import type { Log } from '../../lib/log/index.js';
import { packedCommitPk, packedCommitShards, packedCommitSksAfter, partitionKey, rowsPk, writerPk } from '../../lib/keys.js';
import type { StoreKind } from '../support/stores.js';
import { fenceWriter, readFence } from '../../lib/log/writer-log.js';
import { packingAgent, perTestLogs, readAll, str, text } from '../support/logs.js';

export function packingSuite(kind: () => StoreKind): void {
  const setup = perTestLogs(kind);

  /** A packing agent: its registration (`lapse` lets it expire in the store; `renew` brings it back). */
  /** Appends `values` as one batch, as leader (the Kafka Produce path); answers its base offset. */
  async function append(
    log: Log,
    topic: string,
    partition: number,
    values: readonly string[],
    producer?: { id: number; sequence: number },
  ) {
    const bytes = encodeRecordBatch(
      values.map((value) => ({ key: null, value: text(value) })),
      producer ? { producerId: producer.id, producerEpoch: 0, baseSequence: producer.sequence } : {},
    );
    return (await (await log.appendBatches(topic, partition, bytes, { asLeader: true })).done).baseOffset;
  }

  const topicName = () => `packing-${randomUUID().slice(0, 8)}`;

  describe('log > packed commits', () => {
    it('commits a flush over many partitions as one item: one transaction of two writes, whatever the partitions', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make, { producer: { batchIntervalMs: 60_000 } });
      const topic = topicName();
      await log.createTopic(topic, 60);
      for (let p = 0; p < 60; p++) await log.acquireLeadership(topic, p); // each take packs its partition
      const topicId = (await log.requireTopic(topic)).id;
      expect((await stores.metadata.get(partitionKey(topicId, 7)))?.attrs).toMatchObject({
        packedBy: log.internals.packing!.writerId,
        nextOffset: 0,
      });
      // A first flush (the writer's log opens: its fence is created); the next waits for the interval, or for flush().
      const warm = append(log, topic, 0, ['warm']);
      await log.flush();
      await warm;
      const transactions: string[][] = [];
      stores.metadata.beforeTransact = (ops) => void transactions.push(ops.map((op) => `${op.kind} ${op.key.sk.split('#')[0]}`));
      const writesBefore = stores.metadata.calls.write;
      const buffered = await Promise.all(
        Array.from({ length: 60 }, (_, p) =>
          log.appendBatches(topic, p, encodeRecordBatch([{ key: null, value: text(`second-${p}`) }]), { asLeader: true }),
        ),
      );
      await log.flush();
      const offsets = (await Promise.all(buffered.map((b) => b.done))).map((a) => a.baseOffset);
      stores.metadata.beforeTransact = undefined;
      expect(offsets).toEqual(Array.from({ length: 60 }, (_, p) => (p === 0 ? 1 : 0)));
      expect(transactions).toEqual([['put c', 'check fence']]);
      expect(stores.metadata.calls.write).toBe(writesBefore);
      // Any reader, with a cold cache, reads every partition as acknowledged.
      const reader = make();
      for (const p of [0, 31, 59])
        expect((await readAll(reader, topic, p)).records.map((r) => r.value)).toEqual([...(p === 0 ? ['warm'] : []), `second-${p}`]);
    });

    it('turns tails into rows and drops the commits every partition holds as rows, reads unchanged', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make, { cacheBytes: 0 }); // (the copies read their chunks from the object store)
      const topic = topicName();
      await log.createTopic(topic, 3);
      for (let round = 0; round < 4; round++)
        for (let p = 0; p < 3; p++) await append(log, topic, p, [`r${round}-p${p}-a`, `r${round}-p${p}-b`]);
      const topicId = (await log.requireTopic(topic)).id;
      const expected = (p: number) => Array.from({ length: 4 }, (_, round) => [`r${round}-p${p}-a`, `r${round}-p${p}-b`]).flat();
      const packing = log.internals.packing!;
      const commitsLeft = async () => {
        let count = 0;
        for (let shard = 0; shard < packedCommitShards; shard++)
          count += (await stores.metadata.query(packedCommitPk(packing.writerId, shard), packedCommitSksAfter(0))).length;
        return count;
      };
      expect(await commitsLeft()).toBe(12);
      expect(await stores.metadata.query(rowsPk(topicId, 1))).toEqual([]);
      await packing.materialize();
      // Its four chunks, copied back to back into one object: one row.
      const rowsOf = async (p: number) =>
        (await stores.metadata.query(rowsPk(topicId, p))).map((row) => [row.attrs.baseOffset, row.attrs.recordCount]);
      expect(await rowsOf(1)).toEqual([[0, 8]]);
      expect((await stores.metadata.get(partitionKey(topicId, 1)))?.attrs).toMatchObject({ nextOffset: 8, packedBy: packing.writerId });
      expect(await commitsLeft()).toBe(0);
      for (let p = 0; p < 3; p++) expect((await readAll(make(), topic, p)).records.map((r) => r.value)).toEqual(expected(p));
      // Offsets go on from the rows.
      expect(await append(log, topic, 1, ['after'])).toBe(8);
      expect(await append(log, topic, 2, ['after'])).toBe(8);
      // A round whose unpack of partition 1 fails keeps that commit (and every one after it) for the reader.
      stores.metadata.beforeTransact = (ops) => {
        if (ops.some((op) => op.kind === 'update' && op.key.pk === partitionKey(topicId, 1).pk))
          throw new SpoolError('STORAGE_UNAVAILABLE', 'throttled');
      };
      await packing.materialize();
      stores.metadata.beforeTransact = undefined;
      expect(await commitsLeft()).toBe(2);
      for (const p of [1, 2]) expect((await readAll(make(), topic, p)).records.map((r) => r.value)).toEqual([...expected(p), 'after']);
      await packing.materialize();
      expect(await commitsLeft()).toBe(0);
      expect(await rowsOf(1)).toEqual([
        [0, 8],
        [8, 1],
      ]);
      expect((await readAll(make(), topic, 1)).records.map((r) => r.value)).toEqual([...expected(1), 'after']);
    });

    it("a timer's round turns into rows only the tails that are due: a row's worth, or the oldest commit materializeAgeMs old", async () => {
      const { stores, make } = await setup();
      let clockMs = Date.now();
      const { log } = await packingAgent(stores, make, { now: () => clockMs, packedMaterializeAgeMs: 30_000 });
      const topic = topicName();
      await log.createTopic(topic, 3);
      const topicId = (await log.requireTopic(topic)).id;
      const packing = log.internals.packing!;
      const rowsOf = async (p: number) =>
        (await stores.metadata.query(rowsPk(topicId, p))).map((row) => [row.attrs.baseOffset, row.attrs.recordCount]);
      const tailOf = (p: number) => packing.localCommits(packing.writerId, topicId, p, 0)?.length;
      const big = 'x'.repeat(600 * 1024);
      await append(log, topic, 0, ['old']); // 30 s old at the round
      clockMs += 20_000;
      await append(log, topic, 1, ['young']); // 10 s old
      await append(log, topic, 2, [big]); // 10 s old, but two hold more than a row's worth (1 MiB)
      await append(log, topic, 2, [big]);
      clockMs += 10_000;
      await packing.materialize('due');
      expect(await rowsOf(0)).toEqual([[0, 1]]);
      expect(await rowsOf(1)).toEqual([]);
      expect(tailOf(1)).toBe(1);
      expect(await rowsOf(2)).toEqual([
        [0, 1],
        [1, 1],
      ]);
      expect([tailOf(0), tailOf(2)]).toEqual([0, 0]);
      expect((await readAll(make(), topic, 1)).records.map((r) => r.value)).toEqual(['young']);
      // Asked for every tail (as a bench or a test asks), the young one goes too.
      await packing.materialize();
      expect(await rowsOf(1)).toEqual([[0, 1]]);
      expect((await readAll(make(), topic, 1)).records.map((r) => r.value)).toEqual(['young']);
    });

    it('materialises a tail longer than a step as one row per copied run, in one step, reading none of its own log', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make);
      const topic = topicName();
      await log.createTopic(topic, 2);
      const topicId = (await log.requireTopic(topic)).id;
      // 60 flushes of partition 0 (more chunks than a step's 48 rows), 2 of partition 1.
      for (let i = 0; i < 60; i++) await append(log, topic, 0, [`v${i}`]);
      for (let i = 0; i < 2; i++) await append(log, topic, 1, [`w${i}`]);
      const packing = log.internals.packing!;
      const logQueries: string[] = [];
      const transactions: string[] = [];
      stores.metadata.beforeQuery = (pk) => {
        if (pk.startsWith(`${writerPk(packing.writerId)}#`)) logQueries.push(pk);
      };
      stores.metadata.beforeTransact = (ops) => {
        const item = ops.find((op) => op.kind === 'update');
        if (item) transactions.push(item.key.pk);
      };
      await packing.materialize();
      stores.metadata.beforeQuery = stores.metadata.beforeTransact = undefined;
      const rowsOf = async (p: number) =>
        (await stores.metadata.query(rowsPk(topicId, p))).map((row) => [row.attrs.baseOffset, row.attrs.recordCount]);
      expect(await rowsOf(0)).toEqual([[0, 60]]);
      expect(await rowsOf(1)).toEqual([[0, 2]]);
      expect(transactions.sort()).toEqual([partitionKey(topicId, 0).pk, partitionKey(topicId, 1).pk].sort());
      expect(logQueries).toEqual([]);
      expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(Array.from({ length: 60 }, (_, i) => `v${i}`));
    });

    it('materialises a tail of 120 idempotent producers’ batches: no merged row holds more producers than a step can write the states of', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make);
      const topic = topicName();
      await log.createTopic(topic, 1);
      const topicId = (await log.requireTopic(topic)).id;
      for (let i = 0; i < 120; i++) await append(log, topic, 0, [`p${i}`], { id: await log.allocateProducerId(), sequence: 0 });
      await log.internals.packing!.materialize();
      expect(log.internals.packing!.localCommits(log.internals.packing!.writerId, topicId, 0, 0)).toEqual([]);
      const rows = (await stores.metadata.query(rowsPk(topicId, 0))).map((row) => [row.attrs.baseOffset, row.attrs.recordCount]);
      expect(rows).toEqual([
        [0, 90],
        [90, 30],
      ]);
      expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(Array.from({ length: 120 }, (_, i) => `p${i}`));
    });

    it('fences a writer as a whole: taken over once, it commits to no partition; its successor goes on; nothing acknowledged is lost', async () => {
      const { stores, make } = await setup();
      const a = await packingAgent(stores, make);
      const b = await packingAgent(stores, make);
      const topic = topicName();
      await a.log.createTopic(topic, 2);
      const acked: string[][] = [[], []];
      for (let i = 0; i < 3; i++)
        for (const p of [0, 1]) {
          await append(a.log, topic, p, [`a${i}-${p}`]);
          acked[p]!.push(`a${i}-${p}`);
        }
      await a.lapse(); // A stalls past its registration
      await b.log.acquireLeadership(topic, 0);
      // A still believes it leads partition 1, which B never took: refused all the same (its writer is fenced), and it lets go.
      const topicId = (await a.log.requireTopic(topic)).id;
      expect(a.log.internals.leases.epochFor(topicId, 1)).toBe(1);
      await expect(append(a.log, topic, 1, ['zombie-1'])).rejects.toMatchObject({ code: 'FENCED_LEADER_EPOCH' });
      expect(a.log.internals.leases.epochFor(topicId, 1)).toBeUndefined();
      await expect(append(a.log, topic, 0, ['zombie-0'])).rejects.toBeInstanceOf(SpoolError);
      // B goes on after A's records; A, registered again, takes partition 1 back under a new writer id.
      expect(await append(b.log, topic, 0, ['b0'])).toBe(3);
      acked[0]!.push('b0');
      await a.renew();
      expect(await append(a.log, topic, 1, ['a-again'])).toBe(3);
      acked[1]!.push('a-again');
      expect((await stores.metadata.get(partitionKey(topicId, 1)))?.attrs.packedBy).toBe(a.log.internals.packing!.writerId);
      expect(a.log.internals.packing!.writerId).not.toBe(`${a.log.writerId}.p0`);
      for (const p of [0, 1]) {
        const read = await readAll(make(), topic, p);
        expect(read.records).toEqual(acked[p]!.map((value, offset) => ({ offset, value })));
      }
    });

    it('acknowledges once a commit whose answer was lost, never one that did not land, whose offsets the next commit takes', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make);
      const topic = topicName();
      await log.createTopic(topic, 1);
      expect(await append(log, topic, 0, ['one'])).toBe(0);
      let lose = true;
      stores.metadata.afterTransact = (ops) => {
        if (lose && ops[0]?.key.sk.startsWith('c#')) {
          lose = false;
          throw new SpoolError('STORAGE_UNAVAILABLE', 'socket timed out after the transaction landed');
        }
      };
      expect(await append(log, topic, 0, ['two'])).toBe(1);
      stores.metadata.afterTransact = undefined;
      stores.metadata.beforeTransact = (ops) => {
        if (ops[0]?.key.sk.startsWith('c#')) throw new SpoolError('STORAGE_UNAVAILABLE', 'connection reset before the transaction');
      };
      await expect(append(log, topic, 0, ['never'])).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      stores.metadata.beforeTransact = undefined;
      expect(log.internals.packing!.stats.abandoned).toBe(1);
      expect(await append(log, topic, 0, ['three'])).toBe(2);
      expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['one', 'two', 'three']);
    });

    it('answers an idempotent producer’s retry as a duplicate, from the tail, from rows, and at a successor', async () => {
      const { stores, make } = await setup();
      const a = await packingAgent(stores, make);
      const topic = topicName();
      await a.log.createTopic(topic, 1);
      const id = await a.log.allocateProducerId();
      const retry = async (log: Log) =>
        await (
          await log.appendBatches(
            topic,
            0,
            encodeRecordBatch([{ key: null, value: text('s1') }], { producerId: id, producerEpoch: 0, baseSequence: 1 }),
            { asLeader: true },
          )
        ).done;
      expect(await append(a.log, topic, 0, ['s0'], { id, sequence: 0 })).toBe(0);
      expect(await append(a.log, topic, 0, ['s1'], { id, sequence: 1 })).toBe(1);
      expect(await retry(a.log)).toMatchObject({ baseOffset: 1, duplicate: true });
      // Its state no longer cached here: read back through the tail.
      a.log.internals.producerStates.forget((await a.log.requireTopic(topic)).id, 0, id);
      expect(await retry(a.log)).toMatchObject({ baseOffset: 1, duplicate: true });
      await a.log.internals.packing!.materialize();
      a.log.internals.producerStates.forget((await a.log.requireTopic(topic)).id, 0, id);
      expect(await retry(a.log)).toMatchObject({ baseOffset: 1, duplicate: true });
      expect(await append(a.log, topic, 0, ['s2'], { id, sequence: 2 })).toBe(2);
      await a.lapse();
      const b = await packingAgent(stores, make);
      await b.log.acquireLeadership(topic, 0);
      expect(await retry(b.log)).toMatchObject({ baseOffset: 1, duplicate: true });
      expect(await append(b.log, topic, 0, ['s3'], { id, sequence: 3 })).toBe(3);
      expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['s0', 's1', 's2', 's3']);
    });

    it('lets an expired producer go on with its sequences where the partition holds records only in its tail, as Kafka', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make, { producerIdExpirationMs: 100 });
      const topic = topicName();
      await log.createTopic(topic, 1);
      const id = await log.allocateProducerId();
      expect(await append(log, topic, 0, ['a0', 'a1', 'a2'], { id, sequence: 0 })).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 200)); // its state expires
      expect(await append(log, topic, 0, ['b0', 'b1', 'b2'], { id, sequence: 3 })).toBe(3);
      expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['a0', 'a1', 'a2', 'b0', 'b1', 'b2']);
    });

    it('leaves a partition it releases unpacked, so a lease-less writer commits after its records', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make);
      const topic = topicName();
      await log.createTopic(topic, 1);
      await append(log, topic, 0, ['a', 'b']);
      await log.releaseLeadership();
      const topicId = (await log.requireTopic(topic)).id;
      expect((await stores.metadata.get(partitionKey(topicId, 0)))?.attrs).toMatchObject({ nextOffset: 2, packedBy: null, owner: null });
      expect(await make().produce(topic, [{ key: null, value: text('c'), partition: 0 }])).toEqual([{ partition: 0, offset: 2 }]);
      expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['a', 'b', 'c']);
    });

    it('leaves a partition a lease-less writer needs when asked: busy, at its next commit; idle, at its next materialisation round; the writer’s records go after its own', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make);
      const packing = log.internals.packing!;
      const topic = topicName();
      await log.createTopic(topic, 3);
      const topicId = (await log.requireTopic(topic)).id;
      for (const partition of [0, 1, 2]) await append(log, topic, partition, [`a${partition}`, `b${partition}`]);
      const asked = async () => {
        for (let tries = 0; (await readFence(stores.metadata, packing.writerId))?.leaveRequested == null; tries++) {
          if (tries > 400) throw new Error('no leave request came');
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      };
      const lambda = make(); // no registration: lease-less, per-partition commits (the Lambda API)
      // Busy: the agent's next commit (to another partition) is refused once for the request, leaves partition 0, and lands.
      const first = lambda.produce(topic, [{ key: null, value: text('lambda0'), partition: 0 }]);
      await asked();
      expect(await append(log, topic, 1, ['c1'])).toBe(2);
      expect(await first).toEqual([{ partition: 0, offset: 2 }]);
      // Idle: its materialisation round reads the request.
      const second = lambda.produce(topic, [{ key: null, value: text('lambda2'), partition: 2 }]);
      await asked();
      await packing.materialize();
      expect(await second).toEqual([{ partition: 2, offset: 2 }]);
      expect(packing.stats.leaveRequests).toBe(2);
      expect([0, 1, 2].map((partition) => packing.packs(topicId, partition))).toEqual([false, true, false]);
      expect(await readFence(stores.metadata, packing.writerId)).toMatchObject({ leaveRequested: null, leaveRequests: [] });
      // Still the leader of both: it goes on per partition, after the lease-less writer's records.
      expect(await append(log, topic, 0, ['d0'])).toBe(3);
      expect(await append(log, topic, 2, ['d2'])).toBe(3);
      expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['a0', 'b0', 'lambda0', 'd0']);
      expect((await readAll(make(), topic, 1)).records.map((r) => r.value)).toEqual(['a1', 'b1', 'c1']);
      expect((await readAll(make(), topic, 2)).records.map((r) => r.value)).toEqual(['a2', 'b2', 'lambda2', 'd2']);
    });

    it('frees at once for a lease-less writer a partition packed under an id its live writer was fenced from, its records first', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make, { topicCacheMs: 60_000 });
      const [doomed, kept] = [topicName(), topicName()];
      await log.createTopic(doomed, 1);
      await log.createTopic(kept, 1);
      await append(log, doomed, 0, ['x']);
      await append(log, kept, 0, ['k0']);
      const packedBefore = log.internals.packing!.writerId;
      await make().deleteTopic(doomed); // fences the agent's packing id (topics.ts)
      await expect(append(log, doomed, 0, ['y'])).rejects.toMatchObject({ code: 'FENCED_LEADER_EPOCH' });
      // The agent lives on (its registration is renewed) under its next id; `kept` still names the fenced one.
      const keptId = (await log.requireTopic(kept)).id;
      expect((await stores.metadata.get(partitionKey(keptId, 0)))?.attrs.packedBy).toBe(packedBefore);
      // A writer that waits for no packer to leave: freed without one (it would be refused NOT_LEADER).
      const lambda = make({ packedLeaveWaitMs: 0 });
      expect(await lambda.produce(kept, [{ key: null, value: text('lambda'), partition: 0 }])).toEqual([{ partition: 0, offset: 1 }]);
      expect(await append(log, kept, 0, ['k1'])).toBe(2);
      expect((await readAll(make(), kept, 0)).records.map((r) => r.value)).toEqual(['k0', 'lambda', 'k1']);
    });

    it('keeps long-polls on a partition it packs waiting with no read of the store, and wakes them on its commits; one it left is read again', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make, { pollIntervalMs: 20 });
      const topic = topicName();
      await log.createTopic(topic, 1);
      await append(log, topic, 0, ['a']);
      const reader = log.internals.reader;
      const readsBefore = reader.stats.watchReads;
      // A consumer at the end long-polls for 300 ms (15 watch intervals) on the agent packing the partition.
      expect((await log.fetch(topic, 0, 1, { waitMs: 300 })).records).toEqual([]);
      expect(reader.stats.watchReads).toBe(readsBefore);
      // The next idle long-poll reads no partition item: its first look takes the last read, whose end is still the end.
      const topicId = (await log.requireTopic(topic)).id;
      let itemReads = 0;
      stores.metadata.beforeGet = (key) => {
        if (key.pk === partitionKey(topicId, 0).pk) itemReads++;
      };
      expect((await log.fetch(topic, 0, 1, { waitMs: 100 })).records).toEqual([]);
      stores.metadata.beforeGet = undefined;
      expect(itemReads).toBe(0);
      const waiting = log.fetch(topic, 0, 1, { waitMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 60));
      await append(log, topic, 0, ['b']);
      expect((await waiting).records.map((r) => str(r.value))).toEqual(['b']);
      expect(reader.stats.watchReads).toBe(readsBefore);
      // Left (its leadership given up): another writer may commit, so the watch reads it, and sees that writer's records.
      await log.releaseLeadership();
      const woken = log.fetch(topic, 0, 2, { waitMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 60));
      await make().produce(topic, [{ key: null, value: text('other'), partition: 0 }]);
      expect((await woken).records.map((r) => str(r.value))).toEqual(['other']);
      expect(reader.stats.watchReads).toBeGreaterThan(readsBefore);
    });

    it('learns at its materialisation round, idle, that it was fenced: it lets go of every partition it packed', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make);
      const topic = topicName();
      await log.createTopic(topic, 2);
      for (const p of [0, 1]) await append(log, topic, p, ['a']);
      const packing = log.internals.packing!;
      const topicId = (await log.requireTopic(topic)).id;
      await fenceWriter(stores.metadata, packing.writerId, Date.now()); // as a takeover does
      expect(packing.packs(topicId, 0)).toBe(true);
      await packing.materialize();
      expect([packing.packs(topicId, 0), packing.packs(topicId, 1), packing.stats.fences]).toEqual([false, false, 1]);
      // Its clients' next write takes the partition again (its fenced id's commits unpacked first).
      expect(await append(log, topic, 0, ['b'])).toBe(1);
      expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['a', 'b']);
    });

    it('commits a request mixing a packed partition with another whole, per partition, after leaving packing', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make);
      const topic = topicName();
      await log.createTopic(topic, 2);
      await append(log, topic, 0, ['packed']);
      const produced = await log.produce(topic, [
        { key: null, value: text('x0'), partition: 0 },
        { key: null, value: text('x1'), partition: 1 },
      ]);
      expect(produced).toEqual([
        { partition: 0, offset: 1 },
        { partition: 1, offset: 0 },
      ]);
      const topicId = (await log.requireTopic(topic)).id;
      expect((await stores.metadata.get(partitionKey(topicId, 0)))?.attrs).toMatchObject({ packedBy: null, nextOffset: 2 });
      expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['packed', 'x0']);
      // Still its leader: it goes on per partition.
      expect(await append(log, topic, 0, ['later'])).toBe(2);
    });

    it('deletes records into a packed partition’s tail: its tail becomes rows first, and offsets go on', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make);
      const topic = topicName();
      await log.createTopic(topic, 1);
      await append(log, topic, 0, ['a', 'b']);
      await append(log, topic, 0, ['c']);
      expect(await make().deleteRecordsBefore(topic, 0, 'high-watermark')).toEqual({ logStartOffset: 3 });
      const topicId = (await log.requireTopic(topic)).id;
      expect((await stores.metadata.get(partitionKey(topicId, 0)))?.attrs).toMatchObject({ logStartOffset: 3, nextOffset: 3 });
      expect(await append(log, topic, 0, ['d'])).toBe(3);
      expect((await make().fetch(topic, 0, 'earliest')).records.map((r) => str(r.value))).toEqual(['d']);
    });

    it('has a maintenance pass turn a compacted topic’s tail into rows first (the cleaner reads rows), and leaves a young tail of another topic to its packer', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make);
      const compacted = topicName();
      const plain = topicName();
      await log.createTopic(compacted, 1, { 'cleanup.policy': 'compact' });
      await log.createTopic(plain, 1);
      for (const topic of [compacted, plain]) {
        const batch = encodeRecordBatch(['one', 'two'].map((value) => ({ key: text(`key-${value}`), value: text(value) })));
        await (await log.appendBatches(topic, 0, batch, { asLeader: true })).done;
      }
      await log.runMaintenance();
      const itemOf = async (topic: string) => (await stores.metadata.get(partitionKey((await log.requireTopic(topic)).id, 0)))?.attrs;
      expect(await itemOf(compacted)).toMatchObject({ nextOffset: 2, packedBy: log.internals.packing!.writerId });
      expect(await itemOf(plain)).toMatchObject({ nextOffset: 0, packedBy: log.internals.packing!.writerId });
      for (const topic of [compacted, plain]) expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['one', 'two']);
    });

    it('keeps the objects of a tail from the garbage collector until they are rows', async () => {
      const { stores, make } = await setup();
      const { log } = await packingAgent(stores, make, {
        maintenance: { gcGraceMs: 300, maxCommitAgeMs: 150, compactionTailAgeMs: 3_600_000 },
      });
      const topic = topicName();
      await log.createTopic(topic, 1);
      await append(log, topic, 0, ['kept']);
      await new Promise((resolve) => setTimeout(resolve, 450)); // the object is past the grace period, and no row points at it
      await log.runMaintenance();
      expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['kept']);
      await log.internals.packing!.materialize();
      await log.runMaintenance();
      expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['kept']);
    });
  });
}
