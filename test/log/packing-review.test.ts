/**
 * Packed commits (lib/log/packing.ts, leases.ts, packed.ts; on once spool.commit.version is 1, lib/log/features.ts) as a
 * review on 2026-12-07 found them, one test per finding (docs/packed-commits.md, "Review findings").
 * All are fixed, and each test asserts the behaviour the invariants require (each failed before its fix). Memory store only (fast, deterministic).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { encodeRecordBatch } from '../../lib/format/index.js';
import type { Log } from '../../lib/log/index.js';
import { partitionKey, writerPk } from '../../lib/keys.js';
import type { Item, ItemKey } from '../../lib/storage/ports.js';
import { DelegatingMetadataStore } from '../support/delegating.js';
import { readFence, requestLeave } from '../../lib/log/writer-log.js';
import { newLog, packingAgent, perTestLogs, readAll, text } from '../support/logs.js';
import { memory } from '../support/stores.js';

const setup = perTestLogs(() => memory);

async function append(log: Log, topic: string, partition: number, values: readonly string[], producer?: { id: number; sequence: number }) {
  const bytes = encodeRecordBatch(
    values.map((value) => ({ key: null, value: text(value) })),
    producer ? { producerId: producer.id, producerEpoch: 0, baseSequence: producer.sequence } : {},
  );
  return (await (await log.appendBatches(topic, partition, bytes, { asLeader: true })).done).baseOffset;
}

const topicName = () => `review-${randomUUID().slice(0, 8)}`;
async function until(done: () => Promise<boolean>) {
  for (let tries = 0; !(await done()); tries++) {
    if (tries > 500) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
const isPartitionItem = (key: ItemKey, topicId: string, partition: number) =>
  key.pk === partitionKey(topicId, partition).pk && key.sk === partitionKey(topicId, partition).sk;
const setsPackedBy = (op: { kind: string; set?: Record<string, unknown> }) => op.kind === 'update' && typeof op.set?.packedBy === 'string';

describe('review: packed commits', () => {
  it('R1 a take that packs is refused when a lease-less commit lands between its read and its write: no offset is assigned twice', async () => {
    const { stores, make } = await setup();
    const a = await packingAgent(stores, make);
    const lambda = make(); // no registration: lease-less, per-partition commits (the Lambda API)
    const topic = topicName();
    await a.log.createTopic(topic, 1);
    const topicId = (await a.log.requireTopic(topic)).id;
    let fired = false;
    stores.metadata.beforeWrite = async (op) => {
      if (!fired && setsPackedBy(op as never) && isPartitionItem(op.key, topicId, 0)) {
        fired = true;
        // Between the take's read of the item and its write: a lease-less produce lands at offset 0.
        expect(await lambda.produce(topic, [{ key: null, value: text('lambda'), partition: 0 }])).toEqual([{ partition: 0, offset: 0 }]);
      }
    };
    // The take is refused (the end it read moved): no end is adopted; taken again, it packs from the end.
    await expect(a.log.acquireLeadership(topic, 0)).rejects.toMatchObject({ code: 'NOT_LEADER', retriable: true });
    stores.metadata.beforeWrite = undefined;
    expect(fired).toBe(true);
    await a.log.acquireLeadership(topic, 0);
    expect(await append(a.log, topic, 0, ['agent'])).toBe(1);
    expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['lambda', 'agent']);
  });

  it('R2 a packing take whose answer is lost is adopted when its writer takes the lease again: its leader is not refused', async () => {
    const { stores, make } = await setup();
    const a = await packingAgent(stores, make);
    const topic = topicName();
    await a.log.createTopic(topic, 1);
    let lose = true;
    stores.metadata.beforeWrite = async (op) => {
      if (lose && setsPackedBy(op as never)) {
        lose = false;
        await stores.metadata.write(op); // it lands...
        throw new SpoolError('STORAGE_UNAVAILABLE', 'socket timed out after the write landed', { retriable: true }); // ...its answer is lost
      }
    };
    await expect(a.log.acquireLeadership(topic, 0)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    stores.metadata.beforeWrite = undefined;
    // The client retries (Kafka: the produce takes the lease again). Every retry should not be refused.
    const codes: string[] = [];
    for (let i = 0; i < 3; i++)
      codes.push(
        await append(a.log, topic, 0, [`try-${i}`]).then(
          (offset) => `ok@${offset}`,
          (error: unknown) => (error instanceof SpoolError ? error.code : String(error)),
        ),
      );
    expect(codes).toEqual(['ok@0', 'ok@1', 'ok@2']);
  });

  it('R3 a take that packs under an id fenced meanwhile is taken again under the new id: what it acknowledges is readable, before and after materialisation', async () => {
    const { stores, make } = await setup();
    const a = await packingAgent(stores, make);
    const b = await packingAgent(stores, make);
    const topic = topicName();
    await a.log.createTopic(topic, 3);
    await append(a.log, topic, 0, ['a0']);
    await append(a.log, topic, 1, ['a1']);
    await a.lapse(); // A stalls past its registration
    await b.log.acquireLeadership(topic, 0); // B fences A's packing writer (A does not know yet)
    await a.renew(); // A is back
    const topicId = (await a.log.requireTopic(topic)).id;
    let fired = false;
    stores.metadata.beforeWrite = async (op) => {
      if (!fired && setsPackedBy(op as never) && isPartitionItem(op.key, topicId, 2)) {
        fired = true;
        // While A's take of partition 2 (packedBy: A's id as read) is in flight, a produce to partition 1 finds A fenced.
        await append(a.log, topic, 1, ['zombie']).catch(() => undefined);
      }
    };
    await a.log.acquireLeadership(topic, 2);
    stores.metadata.beforeWrite = undefined;
    expect(fired).toBe(true);
    const acked = await append(a.log, topic, 2, ['acked']);
    expect(acked).toBe(0);
    // Any reader (another agent's, or this one's) should see it, before and after this writer's materialisation.
    expect((await readAll(make(), topic, 2)).records.map((r) => r.value)).toEqual(['acked']);
    await a.log.internals.packing!.materialize();
    expect((await readAll(make(), topic, 2)).records.map((r) => r.value)).toEqual(['acked']);
    expect((await stores.metadata.get(partitionKey(topicId, 2)))?.attrs.packedBy).toBe(a.log.internals.packing!.writerId);
  });

  it('R4 an idempotent retry reaching a former leader again (A -> B -> A) is a duplicate: a partition adopted drops its producers’ cached states', async () => {
    const { stores, make } = await setup();
    const a = await packingAgent(stores, make);
    const b = await packingAgent(stores, make);
    const topic = topicName();
    await a.log.createTopic(topic, 1);
    const id = await a.log.allocateProducerId();
    expect(await append(a.log, topic, 0, ['s0'], { id, sequence: 0 })).toBe(0);
    await a.log.releaseLeadership(); // (idle release, or a graceful hand-over)
    expect(await append(b.log, topic, 0, ['s1'], { id, sequence: 1 })).toBe(1); // landed; the answer never reached the client
    await b.lapse(); // B stalls; A takes the partition over
    const retried = await (
      await a.log.appendBatches(
        topic,
        0,
        encodeRecordBatch([{ key: null, value: text('s1') }], { producerId: id, producerEpoch: 0, baseSequence: 1 }),
        { asLeader: true },
      )
    ).done;
    expect(retried).toMatchObject({ baseOffset: 1, duplicate: true });
    expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['s0', 's1']);
  });

  it('R5 a reader that reads the item before a materialisation and the commits after its deletions reads again: the high watermark never goes back', async () => {
    const { stores, make } = await setup();
    const a = await packingAgent(stores, make);
    const topic = topicName();
    await a.log.createTopic(topic, 1);
    for (const v of ['x', 'y', 'z']) await append(a.log, topic, 0, [v]);
    const topicId = (await a.log.requireTopic(topic)).id;
    const packing = a.log.internals.packing!;
    // A reader on another agent, whose partition-item read is answered before W's materialisation lands
    // and whose next reads (W's commits) come after it.
    let armed = false;
    class SlowItemReads extends DelegatingMetadataStore {
      override async get(key: ItemKey): Promise<Item | undefined> {
        const item = await super.get(key);
        if (armed && isPartitionItem(key, topicId, 0)) {
          armed = false;
          await packing.materialize();
        }
        return item;
      }
    }
    const reader = newLog({ metadata: new SlowItemReads(stores.metadata), objects: stores.objects });
    try {
      expect((await reader.fetch(topic, 0, 0)).highWatermark).toBe(3);
      armed = true;
      const next = await reader.fetch(topic, 0, 3).then(
        (fetched) => ({ highWatermark: fetched.highWatermark }),
        (error: unknown) => ({ error: error instanceof SpoolError ? error.code : String(error) }),
      );
      expect(next).toEqual({ highWatermark: 3 }); // as read: OFFSET_OUT_OF_RANGE (high watermark 0)
    } finally {
      await reader.close().catch(() => undefined);
    }
  });

  it('R6 a transaction marker into a partition another agent leads is written: a partition with a transaction open is not packed, and a packer is asked to leave one it packs', async () => {
    const { stores, make } = await setup();
    const coordinator = make(); // the agent serving the transaction coordinator (any agent), not the partition's leader
    const topic = topicName();
    await coordinator.createTopic(topic, 3);
    const topicId = (await coordinator.requireTopic(topic)).id;
    const txn = (producerId: number) =>
      encodeRecordBatch([{ key: null, value: text(`t${producerId}`), timestampMs: 1000 }], {
        producerId,
        producerEpoch: 0,
        baseSequence: 0,
        isTransactional: true,
      });
    const check = { transactionalId: 'tx', verify: async () => undefined };
    expect((await (await coordinator.appendBatches(topic, 0, txn(7), { transaction: check })).done).baseOffset).toBe(0);
    // Leadership of the partition moves to a packing agent (e.g. the previous leader failed over) while the transaction is open.
    const a = await packingAgent(stores, make);
    expect(await append(a.log, topic, 0, ['plain'])).toBe(1);
    expect(a.log.internals.packing!.packs(topicId, 0)).toBe(false); // taken, not packed: a transaction is open there
    const written = (producerId: number, partition: number, commit: boolean) =>
      coordinator.writeMarkers([{ topic, partition, producerId, producerEpoch: 0, commit, version: 1 }]).then(
        () => 'written',
        (error: unknown) => (error instanceof SpoolError ? `${error.code}: ${error.message}` : String(error)),
      );
    expect(await written(7, 0, true)).toBe('written');
    // A partition packed when a marker comes for it (a transaction's abort where its records never landed):
    // the packer is asked to leave it, and does at its next commit; the marker is written after its records.
    expect(await append(a.log, topic, 1, ['p0'])).toBe(0);
    expect(await append(a.log, topic, 2, ['q0'])).toBe(0);
    expect(a.log.internals.packing!.packs(topicId, 1)).toBe(true);
    const marker = written(8, 1, false);
    await until(async () => (await readFence(stores.metadata, a.log.internals.packing!.writerId))?.leaveRequested !== null);
    expect(await append(a.log, topic, 2, ['q1'])).toBe(1); // a commit of another partition packed: refused once for the request, then lands
    expect(await marker).toBe('written');
    expect(a.log.internals.packing!.stats.leaveRequests).toBe(1);
    expect(await append(a.log, topic, 1, ['p1'])).toBe(2); // still its leader, per partition
    // The transaction is committed: the last stable offset is the end (the marker at 2).
    expect((await readAll(make(), topic, 0)).records.map((r) => [r.offset, r.value])).toEqual([
      [0, 't7'],
      [1, 'plain'],
    ]);
    expect(await make().listOffset(topic, 0, 'last-stable')).toMatchObject({ offset: 3 });
    expect((await readAll(make(), topic, 1)).records.map((r) => [r.offset, r.value])).toEqual([
      [0, 'p0'],
      [2, 'p1'],
    ]);
  });
  it('R10 a commit refused for a leave request after an attempt whose answer was lost claims its number: if that attempt lands, all of it is acknowledged', async () => {
    const { stores, make } = await setup();
    const a = await packingAgent(stores, make, { producer: { batchIntervalMs: 100 } });
    const topic = topicName();
    await a.log.createTopic(topic, 2);
    const topicId = (await a.log.requireTopic(topic)).id;
    await Promise.all([append(a.log, topic, 0, ['a0']), append(a.log, topic, 1, ['a1'])]);
    const writerId = a.log.internals.packing!.writerId;
    await requestLeave(stores.metadata, writerId, topicId, 1, Date.now()); // a lease-less writer needs partition 1
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let late: Promise<void> | undefined;
    stores.metadata.beforeTransact = (ops) => {
      if (late === undefined && ops.some((op) => op.kind === 'put' && op.key.pk.startsWith(`${writerPk(writerId)}#`))) {
        // The first attempt is delayed in the network: its answer is lost, and it lands later.
        late = gate.then(() => stores.metadata.inner.transact(ops));
        throw new SpoolError('STORAGE_UNAVAILABLE', 'socket timed out', { retriable: true });
      }
    };
    stores.metadata.beforeWrite = async (op) => {
      // The requests are cleared: the delayed attempt now passes the fence check, and lands.
      if (late && op.kind === 'update' && op.set.leaveRequested === null) {
        await stores.metadata.inner.write(op); // (so the write itself then finds them cleared)
        release();
        await late;
      }
    };
    const outcomes = await Promise.all(
      [append(a.log, topic, 0, ['x0']), append(a.log, topic, 1, ['x1'])].map((p) => p.then(String, String)),
    );
    stores.metadata.beforeTransact = stores.metadata.beforeWrite = undefined;
    expect(late).toBeDefined();
    expect(outcomes).toEqual(['1', '1']); // the commit that landed holds both: both acknowledged
    await a.log.internals.packing!.leave(topicId, 1);
    for (const p of [0, 1]) expect((await readAll(make(), topic, p)).records.map((r) => r.value)).toEqual([`a${p}`, `x${p}`]);
  });

  it('R7 a producer state loaded while the partition is materialised holds the batches the unpack moved: a retry is a duplicate', async () => {
    const { stores, make } = await setup();
    const a = await packingAgent(stores, make);
    const topic = topicName();
    await a.log.createTopic(topic, 1);
    const topicId = (await a.log.requireTopic(topic)).id;
    const id = await a.log.allocateProducerId();
    expect(await append(a.log, topic, 0, ['s0'], { id, sequence: 0 })).toBe(0); // landed; its answer is lost
    // The producer's entry is not cached here (evicted, or dropped after a later batch of it failed): it is loaded.
    a.log.internals.producerStates.forget(topicId, 0, id);
    let armed = true;
    stores.metadata.beforeGet = async (key) => {
      // The load reads the stored state, then the partition item: the periodic materialisation lands in between.
      if (armed && isPartitionItem(key, topicId, 0)) {
        armed = false;
        await a.log.internals.packing!.materialize();
      }
    };
    const retried = await (
      await a.log.appendBatches(
        topic,
        0,
        encodeRecordBatch([{ key: null, value: text('s0') }], { producerId: id, producerEpoch: 0, baseSequence: 0 }),
        { asLeader: true },
      )
    ).done;
    stores.metadata.beforeGet = undefined;
    expect(armed).toBe(false);
    expect(retried).toMatchObject({ baseOffset: 0, duplicate: true });
    expect((await readAll(make(), topic, 0)).records.map((r) => r.value)).toEqual(['s0']);
  });
  it('R8 a topic’s deletion fences its packers: a record sent to the deleted topic (cached here) is refused, not acknowledged and lost', async () => {
    const { stores, make } = await setup();
    const a = await packingAgent(stores, make, { topicCacheMs: 60_000 });
    const [topic, kept] = [topicName(), topicName()];
    await a.log.createTopic(topic, 1);
    await a.log.createTopic(kept, 1);
    expect(await append(a.log, topic, 0, ['before'])).toBe(0);
    expect(await append(a.log, kept, 0, ['k0'])).toBe(0);
    await make().deleteTopic(topic); // another agent (or the CLI) deletes the topic; its deletion has finished
    const attempt = () =>
      append(a.log, topic, 0, ['after']).then(
        (offset) => `acknowledged at ${offset}`,
        (error: unknown) => (error instanceof SpoolError ? error.code : String(error)),
      );
    // Refused as a fenced leader's commit (a Kafka client refreshes its metadata and retries), then as not found.
    expect(await attempt()).toBe('FENCED_LEADER_EPOCH');
    expect(await attempt()).toBe('PARTITION_NOT_FOUND');
    expect(a.log.internals.packing!.stats.fences).toBe(1);
    // The agent's other partitions go on, packed under its next id, with what it acknowledged before.
    expect(await append(a.log, kept, 0, ['k1'])).toBe(1);
    expect(a.log.internals.packing!.packs((await a.log.requireTopic(kept)).id, 0)).toBe(true);
    expect((await readAll(make(), kept, 0)).records.map((r) => r.value)).toEqual(['k0', 'k1']);
  });
});
