/**
 * Transactions on the partition side (lib/log: commit.ts, log.ts writeMarkers, reader.ts): a
 * transactional batch opens its producer's transaction on the partition (the last stable offset
 * stops there), a marker closes it (once, whoever writes it), an abort leaves an entry that
 * read_committed readers are told of by the overlap rule, and a batch verified before its
 * transaction ended is refused (no hanging transaction). Written once, run on every adapter.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { decodeRecordBatch, encodeRecordBatch } from '../../lib/format/index.js';
import { abortedTxnSks, partitionKey, partitionPk } from '../../lib/keys.js';
import type { Log, LogOptions, TransactionalAppend, TxnMarker } from '../../lib/log/index.js';
import { perTestLogs, str, text } from '../support/logs.js';
import type { StoreKind } from '../support/stores.js';

export function transactionsSuite(kind: () => StoreKind): void {
  const openStores = perTestLogs(kind);

  async function setup(partitions = 1) {
    const { stores, make } = await openStores();
    const topic = `txn-${randomUUID()}`;
    const log = make();
    await log.createTopic(topic, partitions);
    return { stores, make, log, topic };
  }

  /** A transaction check that lets everything through, counting its calls. */
  const open = (): TransactionalAppend & { calls: number } => {
    const check = {
      transactionalId: 'tx',
      calls: 0,
      async verify() {
        check.calls++;
      },
    };
    return check;
  };

  const batch = (producerId: number, epoch: number, sequence: number, values: readonly string[], transactional = true) =>
    encodeRecordBatch(
      values.map((value) => ({ key: null, value: text(value), timestampMs: 1000 })),
      { producerId, producerEpoch: epoch, baseSequence: sequence, isTransactional: transactional },
    );

  const append = async (log: Log, topic: string, bytes: Buffer, transaction?: TransactionalAppend, partition = 0) =>
    (await (await log.appendBatches(topic, partition, bytes, { transaction })).done).baseOffset;

  const marker = (topic: string, producerId: number, epoch: number, commit: boolean, version: number, partition = 0): TxnMarker => ({
    topic,
    partition,
    producerId,
    producerEpoch: epoch,
    commit,
    version,
  });

  const committed = async (log: Log, topic: string, partition = 0) =>
    (await log.fetch(topic, partition, 0, { isolation: 'read_committed', maxRecords: 1000 })).records.map((r) => [r.offset, str(r.value)]);
  const uncommitted = async (log: Log, topic: string, partition = 0) =>
    (await log.fetch(topic, partition, 0, { maxRecords: 1000 })).records.map((r) => [r.offset, str(r.value)]);

  const codeOf = (promise: Promise<unknown>) =>
    promise.then(
      () => 'ok',
      (error: unknown) => (error instanceof SpoolError ? error.code : error),
    );

  it('holds the last stable offset at an open transaction until its COMMIT marker, which takes an offset of its own', async () => {
    const { log, topic } = await setup();
    const check = open();
    expect(await append(log, topic, batch(7, 0, 0, ['a', 'b']), check)).toBe(0);
    await log.produce(topic, [{ key: null, value: text('plain') }]);
    expect(await log.offsetRange(topic, 0)).toEqual({ earliest: 0, latest: 3, lastStable: 0 });
    expect(await committed(log, topic)).toEqual([]);
    expect(await uncommitted(log, topic)).toEqual([
      [0, 'a'],
      [1, 'b'],
      [2, 'plain'],
    ]);
    // A second batch of the same open transaction needs no second check.
    expect(await append(log, topic, batch(7, 0, 2, ['c']), check)).toBe(3);
    expect(check.calls).toBe(1);

    await log.writeMarkers([marker(topic, 7, 0, true, 5)]);
    expect(await log.offsetRange(topic, 0)).toEqual({ earliest: 0, latest: 5, lastStable: 5 });
    expect(await committed(log, topic)).toEqual([
      [0, 'a'],
      [1, 'b'],
      [2, 'plain'],
      [3, 'c'],
    ]);
    const { batches } = await log.readBatches(topic, 0, 0, { isolation: 'read_committed' });
    const control = decodeRecordBatch(batches.at(-1)!);
    expect(control.header).toMatchObject({ isControl: true, isTransactional: true, producerId: 7, producerEpoch: 0, baseOffset: 4 });
    expect([...control.records[0]!.key!]).toEqual([0, 0, 0, 1]); // version 0, COMMIT
  });

  it('writes a marker once per version, whoever writes it and however often', async () => {
    const { log, make, topic } = await setup();
    const other = make();
    await append(log, topic, batch(8, 0, 0, ['x']), open());
    await Promise.all([log.writeMarkers([marker(topic, 8, 0, false, 3)]), other.writeMarkers([marker(topic, 8, 0, false, 3)])]);
    await log.writeMarkers([marker(topic, 8, 0, false, 3)]);
    await other.writeMarkers([marker(topic, 8, 0, false, 2)]); // an older decision's, late
    expect(await log.offsetRange(topic, 0)).toEqual({ earliest: 0, latest: 2, lastStable: 2 });
  });

  it('tells read_committed readers of an aborted transaction only where it overlaps what they read', async () => {
    const { log, stores, topic } = await setup();
    await append(log, topic, batch(9, 0, 0, ['t1', 't2']), open()); // 0-1
    await log.produce(topic, [{ key: null, value: text('p1') }]); // 2
    await log.writeMarkers([marker(topic, 9, 0, false, 1)]); // abort marker at 3
    await log.produce(topic, [{ key: null, value: text('p2') }]); // 4
    await append(log, topic, batch(9, 0, 2, ['t3']), open()); // 5
    await log.writeMarkers([marker(topic, 9, 0, true, 2)]); // commit marker at 6

    const entries = await stores.metadata.query(partitionPk((await log.requireTopic(topic)).id, 0), abortedTxnSks(0));
    expect(entries.map((item) => item.attrs)).toEqual([{ producerId: 9, firstOffset: 0, lastStableOffset: 4 }]);
    expect((await log.readBatches(topic, 0, 0, { isolation: 'read_committed' })).abortedTransactions).toEqual([
      { producerId: 9, firstOffset: 0 },
    ]);
    // From past the abort marker: naming it would hide producer 9's committed t3.
    expect((await log.readBatches(topic, 0, 4, { isolation: 'read_committed' })).abortedTransactions).toEqual([]);
    expect((await log.readBatches(topic, 0, 4)).abortedTransactions).toBeUndefined();
    expect(await committed(log, topic)).toEqual([
      [2, 'p1'],
      [4, 'p2'],
      [5, 't3'],
    ]);
    expect((await uncommitted(log, topic)).map(([offset]) => offset)).toEqual([0, 1, 2, 4, 5]);
  });

  it('refuses a batch whose transaction a marker ended after it was checked, so no transaction is left open for ever', async () => {
    const { log, make, topic } = await setup();
    const other = make();
    // The first batch of a transaction on the partition is checked; the check passes, and the transaction
    // ends (its marker is written) before the batch is committed: by this writer, then by another one.
    const endingDuringCheck = (writer: Log, version: number): TransactionalAppend => ({
      transactionalId: 'tx',
      verify: () => writer.writeMarkers([marker(topic, 11, 0, false, version)]),
    });
    expect(await codeOf(append(log, topic, batch(11, 0, 0, ['late']), endingDuringCheck(log, 4)))).toBe('TRANSACTION_ABORTABLE');
    expect(await codeOf(append(log, topic, batch(11, 0, 0, ['later']), endingDuringCheck(other, 5)))).toBe('NOT_LEADER');
    // Two markers (of transactions with nothing here), no data, nothing open.
    expect(await log.offsetRange(topic, 0)).toEqual({ earliest: 0, latest: 2, lastStable: 2 });
    expect(await uncommitted(log, topic)).toEqual([]);
  });

  it('refuses a plain batch of a producer with a transaction open, and a transactional batch without a transaction check', async () => {
    const { log, topic } = await setup();
    await append(log, topic, batch(12, 0, 0, ['in']), open());
    expect(await codeOf(append(log, topic, batch(12, 0, 1, ['out'], false)))).toBe('INVALID_TXN_STATE');
    expect(await codeOf(append(log, topic, batch(13, 0, 0, ['http'])))).toBe('INVALID_RECORD');
    const refusing: TransactionalAppend = {
      transactionalId: 'tx',
      verify: async () => {
        throw new SpoolError('TRANSACTION_ABORTABLE', 'not in the transaction');
      },
    };
    expect(await codeOf(append(log, topic, batch(14, 0, 0, ['no']), refusing))).toBe('TRANSACTION_ABORTABLE');
    expect(await log.offsetRange(topic, 0)).toEqual({ earliest: 0, latest: 1, lastStable: 0 });
  });

  it("refuses an operator's abort whose epoch the producer has moved past by the time it commits, and writes nothing", async () => {
    const { log, topic } = await setup();
    await append(log, topic, batch(16, 1, 0, ['a']), open());
    const before = await log.offsetRange(topic, 0);
    // As if the producer moved to epoch 1 after the abort's own check of epoch 0 (Log.abortTransaction): the commit decides.
    const stale = { ...marker(topic, 16, 0, false, 0.5), operator: { tv2: false } };
    expect(await codeOf(log.writeMarkers([stale]))).toBe('INVALID_PRODUCER_EPOCH');
    // Under TV2 (markers carry a bumped epoch) the producer's own epoch is stale too while its transaction is open.
    expect(await codeOf(log.writeMarkers([{ ...stale, producerEpoch: 1, operator: { tv2: true } }]))).toBe('INVALID_PRODUCER_EPOCH');
    expect(await log.offsetRange(topic, 0)).toEqual(before);
    expect(await committed(log, topic)).toEqual([]);
    // At the producer's epoch it is written, and aborts.
    await log.writeMarkers([{ ...stale, producerEpoch: 1 }]);
    expect(await log.offsetRange(topic, 0)).toEqual({ ...before, latest: 2, lastStable: 2 });
    expect(await committed(log, topic)).toEqual([]);
  });

  it('starts the sequences over after a marker with a new epoch (TV2, a fence), and refuses the old epoch', async () => {
    const { stores, log, topic } = await setup();
    await append(log, topic, batch(15, 3, 0, ['a', 'b']), open());
    await log.writeMarkers([marker(topic, 15, 4, true, 9)]);
    expect(await codeOf(append(log, topic, batch(15, 3, 2, ['zombie']), open()))).toBe('INVALID_PRODUCER_EPOCH');
    expect(await append(log, topic, batch(15, 4, 0, ['next']), open())).toBe(3);
    const state = await stores.metadata.get(partitionKey((await log.requireTopic(topic)).id, 0));
    expect(state!.attrs.openTxns).toEqual({ 15: 3 });
  });

  /**
   * A writer that buffers until flushed, so its appends share one chunk: after a flush (a record on
   * partition 1, which these tests leave alone), the next waits the whole interval.
   */
  const bufferingWriter = async (make: (options: Partial<LogOptions>) => Log, topic: string) => {
    const writer = make({ producer: { batchIntervalMs: 60_000 } });
    await writer.produce(topic, [{ key: null, value: text('warm-up'), partition: 1 }]);
    return writer;
  };
  const settle = (promise: Promise<{ done: Promise<unknown> }>) => codeOf(promise.then(({ done }) => done));

  it("never commits a fenced transaction's batch after the marker that ended it, even buffered beside the new epoch's", async () => {
    const { stores, make, topic } = await setup(2);
    const writer = await bufferingWriter(make, topic);
    const zombieAccepted = writer.appendBatches(topic, 0, batch(21, 0, 0, ['zombie']), { transaction: open() });
    const zombie = settle(zombieAccepted);
    await zombieAccepted;
    // The fence's abort (epoch 1), by the writer itself: its own view of the producer then knows the marker (the hardest case).
    await writer.writeMarkers([marker(topic, 21, 1, false, 5)]);
    const successorAccepted = writer.appendBatches(topic, 0, batch(21, 1, 0, ['successor']), { transaction: open() });
    const successor = settle(successorAccepted);
    await successorAccepted;
    await writer.flush();
    expect(await zombie).not.toBe('ok');
    await successor;
    const range = await writer.offsetRange(topic, 0);
    expect(await committed(writer, topic)).not.toContainEqual([expect.any(Number), 'zombie']);
    // Nothing is left open but what a marker will close: the successor's own transaction, if it was taken.
    const state = await stores.metadata.get(partitionKey((await writer.requireTopic(topic)).id, 0));
    expect(Object.keys((state!.attrs.openTxns as Record<string, number>) ?? {}).filter((id) => id !== '21')).toEqual([]);
    await writer.writeMarkers([marker(topic, 21, 1, false, 6)]);
    expect((await writer.offsetRange(topic, 0)).lastStable).toBe((await writer.offsetRange(topic, 0)).latest);
    expect(range.latest).toBeGreaterThan(0);
  });

  it('refuses a plain batch queued behind a transactional one of the same producer, so the abort still covers it', async () => {
    const { make, topic } = await setup(2);
    const writer = await bufferingWriter(make, topic);
    const inTransactionAccepted = writer.appendBatches(topic, 0, batch(22, 0, 0, ['txn']), { transaction: open() });
    const inTransaction = settle(inTransactionAccepted);
    await inTransactionAccepted;
    expect(await settle(writer.appendBatches(topic, 0, batch(22, 0, 1, ['plain'], false)))).toBe('INVALID_TXN_STATE');
    await writer.flush();
    expect(await inTransaction).toBe('ok');
    await writer.writeMarkers([marker(topic, 22, 0, false, 1)]);
    expect(await committed(writer, topic)).toEqual([]);
    expect(await writer.offsetRange(topic, 0)).toEqual({ earliest: 0, latest: 2, lastStable: 2 });
  });

  it("answers the other producers of a chunk refused for a late transactional batch with a retriable error, and the late one's with its own", async () => {
    const { make, topic } = await setup(2);
    const writer = await bufferingWriter(make, topic);
    const innocentAccepted = writer.appendBatches(topic, 0, batch(23, 0, 0, ['innocent'], false));
    const innocent = innocentAccepted.then(({ done }) => done).catch((error: unknown) => error);
    await innocentAccepted;
    const lateAccepted = writer.appendBatches(topic, 0, batch(24, 0, 0, ['late']), {
      transaction: { transactionalId: 'tx', verify: () => writer.writeMarkers([marker(topic, 24, 0, true, 3)]) },
    });
    const late = settle(lateAccepted);
    await lateAccepted;
    await writer.flush();
    expect(await late).toBe('TRANSACTION_ABORTABLE');
    const refused = await innocent;
    expect(refused).toMatchObject({ code: 'NOT_LEADER', retriable: true });
    expect((await uncommitted(writer, topic)).map(([, value]) => value)).toEqual([]);
  });

  it("cleans a compacted topic as a read_committed reader sees it: an aborted record is no key's latest, markers stay, nothing past the LSO goes", async () => {
    const { make } = await openStores();
    const log = make({ maintenance: { compactionTailAgeMs: 0 } });
    const topic = `txn-compact-${randomUUID()}`;
    await log.createTopic(topic, 1, { 'cleanup.policy': 'compact' });
    const keyed = (producerId: number, sequence: number, key: string, value: string) =>
      encodeRecordBatch([{ key: text(key), value: text(value), timestampMs: 1000 }], {
        producerId,
        producerEpoch: 0,
        baseSequence: sequence,
        isTransactional: true,
      });
    const plain = (key: string, value: string) => log.produce(topic, [{ key: text(key), value: text(value), partition: 0 }]);
    await plain('k', 'committed'); // 0
    await append(log, topic, keyed(31, 0, 'k', 'aborted'), open()); // 1
    await log.writeMarkers([marker(topic, 31, 0, false, 1)]); // 2
    await append(log, topic, keyed(32, 0, 'k', 'undecided'), open()); // 3: open, the LSO
    await plain('z', 'last'); // 4: past the LSO
    await log.runMaintenance(); // while 3 is undecided
    const read = async () =>
      (await log.fetch(topic, 0, 0, { isolation: 'read_committed', maxRecords: 100 })).records.map((r) => [
        r.offset,
        str(r.key),
        str(r.value),
      ]);
    expect(await read()).toEqual([[0, 'k', 'committed']]);
    await log.writeMarkers([marker(topic, 32, 0, false, 1)]); // 5: 3 is aborted after all
    await plain('y', 'end'); // 6
    await log.runMaintenance();
    expect(await read()).toEqual([
      [0, 'k', 'committed'],
      [4, 'z', 'last'],
      [6, 'y', 'end'],
    ]);
    const { batches } = await log.readBatches(topic, 0, 0);
    const markers = batches.map((bytes) => decodeRecordBatch(bytes).header).filter((header) => header.isControl);
    expect(markers.map((header) => header.baseOffset)).toEqual([2, 5]);
  });
}
