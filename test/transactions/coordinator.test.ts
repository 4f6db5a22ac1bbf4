/**
 * The transaction coordinator's steps around the rules (lib/transactions/coordinator.ts), on the
 * embedded store with a real Log: an end writes its markers into every partition and then completes,
 * a committed transaction's offsets are written once and an aborted one's never, a decision whose
 * finisher died is carried on by the sweep or by the next request that finds it, a transaction
 * past its timeout is aborted and its producer fenced, idle ids are forgotten, and the produce-side
 * check answers as Kafka's partition leader does.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { commitTransactionalOffsets } from '../../lib/groups/classic.js';
import { loadOffsets } from '../../lib/groups/items.js';
import { transactionKey, transactionPk, transactionShardOf } from '../../lib/keys.js';
import type { Log } from '../../lib/log/index.js';
import { type OffsetWriter, TransactionCoordinator } from '../../lib/transactions/coordinator.js';
import { endTransaction, type PendingOffset } from '../../lib/transactions/state.js';
import { TransactionStore } from '../../lib/transactions/store.js';
import { closeAll, newLog, openTestStores, type TestStores } from '../support/logs.js';
import { embedded } from '../support/stores.js';

const logs: Log[] = [];
const opened: TestStores[] = [];
afterEach(async () => {
  await closeAll(logs.splice(0), opened.splice(0));
});

async function setup() {
  const stores = await openTestStores(embedded.locations());
  opened.push(stores);
  const clock = { nowMs: Date.now() };
  const now = () => clock.nowMs;
  const log = newLog(stores);
  logs.push(log);
  const topic = `coord-${randomUUID()}`;
  await log.createTopic(topic, 2);
  const written: { group: string; offsets: readonly PendingOffset[]; version: number }[] = [];
  const offsets: OffsetWriter = {
    async commitTransactionalOffsets(group, pending, decision) {
      written.push({ group, offsets: pending, version: decision.version });
    },
    async abortTransactionalOffsets() {},
  };
  const store = new TransactionStore(stores.metadata, () => log.allocateProducerId(), now);
  const coordinator = new TransactionCoordinator(store, log, offsets, { now, stalledAfterMs: 5_000, idExpirationMs: 3_600_000 });
  return { stores, log, topic, clock, store, coordinator, written };
}

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'ok',
    (error: unknown) => (error instanceof SpoolError ? error.code : error),
  );

describe('transactions > coordinator', () => {
  it('ends a transaction with a marker in each of its partitions, then its offsets, then completes it', async () => {
    const { log, topic, coordinator, written } = await setup();
    const id = `tx-${randomUUID()}`;
    const identity = await coordinator.initProducerId(id, { timeoutMs: 60_000, producerId: -1, epoch: -1 });
    await coordinator.add(id, identity, {
      partitions: [
        { topic, partition: 0 },
        { topic, partition: 1 },
      ],
      groups: ['g'],
    });
    const { id: topicId } = await log.requireTopic(topic);
    const offset: PendingOffset = { group: 'g', topic, partition: 0, topicId, offset: 42, metadata: null };
    await coordinator.stageOffsets(id, identity, 'g', [offset], false);
    expect(await coordinator.end(id, { ...identity, commit: true, tv2: false })).toEqual(identity);
    for (const partition of [0, 1]) expect(await log.offsetRange(topic, partition)).toEqual({ earliest: 0, latest: 1, lastStable: 1 });
    expect((await coordinator.describe(id))?.phase).toBe('CompleteCommit');
    expect(written).toEqual([{ group: 'g', offsets: [offset], version: expect.any(Number) }]);

    // An abort: markers, no offsets.
    await coordinator.add(id, identity, { partitions: [{ topic, partition: 0 }], groups: ['g'] });
    await coordinator.stageOffsets(id, identity, 'g', [{ ...offset, offset: 50 }], false);
    await coordinator.end(id, { ...identity, commit: false, tv2: false });
    expect((await log.offsetRange(topic, 0)).latest).toBe(2);
    expect(written).toHaveLength(1);
    // Offsets of a group the transaction does not include (TV1: AddOffsetsToTxn first) are refused.
    await coordinator.add(id, identity, { partitions: [{ topic, partition: 0 }] });
    expect(await codeOf(coordinator.stageOffsets(id, identity, 'other', [offset], false))).toBe('TRANSACTION_ABORTABLE');
  });

  it('carries on a decision whose finisher died: the sweep after stalledAfterMs, or the next request that finds it', async () => {
    const { log, topic, clock, store, coordinator } = await setup();
    const id = `tx-${randomUUID()}`;
    const identity = await coordinator.initProducerId(id, { timeoutMs: 60_000, producerId: -1, epoch: -1 });
    await coordinator.add(id, identity, { partitions: [{ topic, partition: 1 }] });
    // The decision is written, and its writer dies before any marker.
    await store.apply(id, (state, fresh, nowMs) => endTransaction(state, { ...identity, commit: true, tv2: false }, nowMs, fresh));
    expect(await codeOf(coordinator.add(id, identity, { partitions: [{ topic, partition: 0 }] }))).toBe('CONCURRENT_TRANSACTIONS');
    expect(await coordinator.sweep()).toEqual({ expired: 0, finished: 0, forgotten: 0 }); // not stalled yet
    expect((await log.offsetRange(topic, 1)).latest).toBe(0);
    clock.nowMs += 5_000;
    expect(await codeOf(coordinator.add(id, identity, { partitions: [{ topic, partition: 0 }] }))).toBe('CONCURRENT_TRANSACTIONS');
    expect((await coordinator.describe(id))?.phase).toBe('CompleteCommit'); // carried on by that request
    expect((await log.offsetRange(topic, 1)).latest).toBe(1);

    await coordinator.add(id, identity, { partitions: [{ topic, partition: 0 }] });
    await store.apply(id, (state, fresh, nowMs) => endTransaction(state, { ...identity, commit: false, tv2: false }, nowMs, fresh));
    clock.nowMs += 5_000;
    expect(await coordinator.sweep()).toEqual({ expired: 0, finished: 1, forgotten: 0 });
    expect((await coordinator.describe(id))?.phase).toBe('CompleteAbort');
    expect((await log.offsetRange(topic, 0)).latest).toBe(1);
  });

  it('aborts a transaction open past its timeout and fences its producer; forgets an id idle past the expiration', async () => {
    const { log, topic, clock, coordinator } = await setup();
    const id = `tx-${randomUUID()}`;
    const identity = await coordinator.initProducerId(id, { timeoutMs: 10_000, producerId: -1, epoch: -1 });
    await coordinator.add(id, identity, { partitions: [{ topic, partition: 0 }] });
    clock.nowMs += 10_000;
    expect((await coordinator.sweep()).expired).toBe(0); // start + timeout < now: not yet
    clock.nowMs += 1;
    expect((await coordinator.sweep()).expired).toBe(1);
    expect(await coordinator.describe(id)).toMatchObject({ phase: 'CompleteAbort', epoch: identity.epoch + 1 });
    expect(await log.offsetRange(topic, 0)).toEqual({ earliest: 0, latest: 1, lastStable: 1 });
    expect(await codeOf(coordinator.end(id, { ...identity, commit: true, tv2: false }))).toBe('PRODUCER_FENCED');
    expect(await codeOf(coordinator.verify(id, identity, { topic, partition: 0 }, 'check'))).toBe('PRODUCER_FENCED');

    clock.nowMs += 3_600_000;
    expect((await coordinator.sweep()).forgotten).toBe(1);
    expect(await coordinator.describe(id)).toBeUndefined();
  });

  it('sweeps every other shard when one shard cannot be read', async () => {
    const { stores, topic, clock, coordinator } = await setup();
    let id = `tx-${randomUUID()}`;
    while (transactionShardOf(id) === 0) id = `tx-${randomUUID()}`;
    const identity = await coordinator.initProducerId(id, { timeoutMs: 10_000, producerId: -1, epoch: -1 });
    await coordinator.add(id, identity, { partitions: [{ topic, partition: 0 }] });
    clock.nowMs += 10_001;
    // Shard 0, swept first, cannot be read.
    stores.metadata.beforeQuery = (pk) => {
      if (pk === transactionPk(0)) throw new SpoolError('THROTTLED', 'shard 0 is throttled');
    };
    expect((await coordinator.sweep()).expired).toBe(1);
    expect((await coordinator.describe(id))?.phase).toBe('CompleteAbort');
  });

  it("checks a transactional batch as Kafka's partition leader asks its coordinator (TV1), and adds its partition (TV2)", async () => {
    const { topic, coordinator } = await setup();
    const id = `tx-${randomUUID()}`;
    const identity = await coordinator.initProducerId(id, { timeoutMs: 60_000, producerId: -1, epoch: -1 });
    const partition = { topic, partition: 0 };
    expect(await codeOf(coordinator.verify(id, identity, partition, 'check'))).toBe('TRANSACTION_ABORTABLE');
    expect(await codeOf(coordinator.verify(id, { ...identity, producerId: identity.producerId + 1 }, partition, 'check'))).toBe(
      'INVALID_PRODUCER_ID_MAPPING',
    );
    expect(await codeOf(coordinator.verify(`tx-${randomUUID()}`, identity, partition, 'check'))).toBe('INVALID_PRODUCER_ID_MAPPING');
    await coordinator.verify(id, identity, partition, 'add');
    expect(await codeOf(coordinator.verify(id, identity, partition, 'check'))).toBe('ok');
    expect(await codeOf(coordinator.verify(id, identity, { topic, partition: 1 }, 'check'))).toBe('TRANSACTION_ABORTABLE');
  });
});

describe('transactions > offsets of a committed transaction', () => {
  it('are written only while the transaction is at the decision they belong to', async () => {
    const { stores, log, topic, coordinator } = await setup();
    const id = `tx-${randomUUID()}`;
    const identity = await coordinator.initProducerId(id, { timeoutMs: 60_000, producerId: -1, epoch: -1 });
    const { id: topicId } = await log.requireTopic(topic);
    const key = `${topic}/0`;
    const version = (await coordinator.describe(id))!.version;
    await commitTransactionalOffsets(stores.metadata, 'g', [{ key, topicId, offset: 7, metadata: null }], Date.now(), {
      key: transactionKey(id),
      version,
    });
    await coordinator.add(id, identity, { partitions: [{ topic, partition: 0 }] }); // the id moves on
    const stale = commitTransactionalOffsets(stores.metadata, 'g', [{ key, topicId, offset: 3, metadata: null }], Date.now(), {
      key: transactionKey(id),
      version,
    });
    expect(await codeOf(stale)).toBe('CONFLICT');
    const stored = await loadOffsets(stores.metadata, 'g', async () => ({ id: topicId, createdMs: 0 }));
    expect(stored.get(key)?.committed).toBe(7);
  });
});
