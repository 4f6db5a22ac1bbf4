/**
 * Idempotent producers (lib/log/idempotence.ts): retries are answered with their first offsets and
 * never appended twice, gaps are refused, and the state lives in the store, so it holds across
 * writers (a leader change) and across a lost commit response. Written once, run on every adapter.
 */
import { randomUUID } from 'node:crypto';
import { partitionPk, producerStateSks } from '../../lib/keys.js';
import { expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { encodeRecordBatch } from '../../lib/format/index.js';
import type { Log, LogOptions } from '../../lib/log/index.js';
import { producerStateKey } from '../../lib/keys.js';
import { producerStateAttrs } from '../../lib/log/idempotence.js';
import { perTestLogs, str, text } from '../support/logs.js';
import type { StoreKind } from '../support/stores.js';
import { DelegatingMetadataStore } from '../support/delegating.js';
import type { Item, MetadataStore, QueryOptions } from '../../lib/storage/ports.js';

export function idempotenceSuite(kind: () => StoreKind): void {
  const openStores = perTestLogs(kind);

  async function setup() {
    const { stores, make } = await openStores();
    const topic = `idem-${randomUUID()}`;
    const first = make();
    await first.createTopic(topic, 1);
    return { stores, make, first, topic };
  }

  /** A batch of `count` records from producer `producerId`, starting at sequence `firstSequence`. */
  const batch = (producerId: number, producerEpoch: number, firstSequence: number, count: number, label = 'r') =>
    encodeRecordBatch(
      Array.from({ length: count }, (_, i) => ({ key: null, value: text(`${label}-${firstSequence + i}`), timestampMs: 1000 })),
      { producerId, producerEpoch, baseSequence: firstSequence },
    );

  const append = async (log: Log, topic: string, bytes: Buffer) => {
    const { baseOffset, duplicate } = await (await log.appendBatches(topic, 0, bytes)).done;
    return { baseOffset, duplicate };
  };

  /** Log options on a manual clock, with a 60 s producer id expiration looked for every `checkIntervalMs` by maintenance. */
  const expiringOn = (now: () => number, checkIntervalMs = 0): Partial<LogOptions> => ({
    now,
    producerIdExpirationMs: 60_000,
    maintenance: { producerIdExpirationCheckIntervalMs: checkIntervalMs },
  });

  /** `inner`, running `then` after each query of a partition's producer states (as maintenance makes it), before it answers. */
  const afterProducerStateQuery = (inner: MetadataStore, then: (pk: string) => unknown) =>
    new (class extends DelegatingMetadataStore {
      override async query(pk: string, options?: QueryOptions): Promise<Item[]> {
        const items = await super.query(pk, options);
        if (options === producerStateSks) await then(pk);
        return items;
      }
    })(inner);

  const values = async (log: Log, topic: string) => (await log.fetch(topic, 0, 0, { maxRecords: 1000 })).records.map((r) => str(r.value));

  const codeOf = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    return error instanceof SpoolError ? error.code : error;
  };

  it("deletes the topic's producer states with it, and a topic made again under the name starts with none", async () => {
    const { first, topic, stores } = await setup();
    const { id } = (await first.topic(topic))!;
    await append(first, topic, batch(7, 0, 0, 3));
    await append(first, topic, batch(8, 0, 0, 1));
    expect(await stores.metadata.query(partitionPk(id, 0), producerStateSks)).toHaveLength(2);
    await first.deleteTopic(topic);
    expect(await stores.metadata.query(partitionPk(id, 0))).toEqual([]);
    await first.createTopic(topic, 1);
    expect(await first.producers(topic, 0)).toEqual([]);
  });

  it('answers a retried batch with its first offsets and does not append it again', async () => {
    const { first, topic } = await setup();
    expect(await append(first, topic, batch(7, 0, 0, 3))).toEqual({ baseOffset: 0, duplicate: false });
    expect(await append(first, topic, batch(7, 0, 3, 2))).toEqual({ baseOffset: 3, duplicate: false });
    expect(await append(first, topic, batch(7, 0, 0, 3))).toEqual({ baseOffset: 0, duplicate: true });
    expect(await append(first, topic, batch(7, 0, 3, 2))).toEqual({ baseOffset: 3, duplicate: true });
    expect(await values(first, topic)).toEqual(['r-0', 'r-1', 'r-2', 'r-3', 'r-4']);
  });

  it('accepts pipelined batches in order and answers a retry of one still in flight with its offset', async () => {
    const { first, topic } = await setup();
    const a = await first.appendBatches(topic, 0, batch(9, 0, 0, 2));
    const b = await first.appendBatches(topic, 0, batch(9, 0, 2, 2));
    const retryOfA = await first.appendBatches(topic, 0, batch(9, 0, 0, 2));
    expect(await Promise.all([a.done, b.done, retryOfA.done])).toEqual([
      { baseOffset: 0, duplicate: false, logAppendTimeMs: -1 },
      { baseOffset: 2, duplicate: false, logAppendTimeMs: -1 },
      { baseOffset: 0, duplicate: true, logAppendTimeMs: -1 },
    ]);
    expect(await values(first, topic)).toEqual(['r-0', 'r-1', 'r-2', 'r-3']);
  });

  it('refuses a gap in sequences (OUT_OF_ORDER_SEQUENCE) and an older epoch, writing nothing', async () => {
    const { first, topic } = await setup();
    await append(first, topic, batch(11, 1, 0, 2));
    expect(await codeOf(append(first, topic, batch(11, 1, 5, 1)))).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(await codeOf(append(first, topic, batch(11, 0, 2, 1)))).toBe('INVALID_PRODUCER_EPOCH');
    // A new epoch starts its sequences over.
    expect(await append(first, topic, batch(11, 2, 0, 1, 'e2'))).toEqual({ baseOffset: 2, duplicate: false });
    expect(await values(first, topic)).toEqual(['r-0', 'r-1', 'e2-0']);
    expect((await first.offsetRange(topic, 0)).latest).toBe(3);
  });

  it('follows sequences across their wrap at 2^31 - 1, as Kafka clients number them', async () => {
    const { stores, first, topic } = await setup();
    // A producer that has already sent 2^31 - 3 records (too many to send here): its state as the store would hold it.
    const near = 0x7fffffff - 2;
    await stores.metadata.write({
      kind: 'put',
      key: producerStateKey((await first.requireTopic(topic)).id, 0, 21),
      attrs: producerStateAttrs({ producerEpoch: 0, nextSequence: near, batches: [] }),
    });
    // Five records: sequences 2^31 - 3 … 2^31 - 1, 0, 1.
    expect(await append(first, topic, batch(21, 0, near, 5, 'w'))).toEqual({ baseOffset: 0, duplicate: false });
    expect(await append(first, topic, batch(21, 0, 2, 1, 'after'))).toEqual({ baseOffset: 5, duplicate: false });
    expect(await append(first, topic, batch(21, 0, near, 5, 'w'))).toEqual({ baseOffset: 0, duplicate: true });
    expect(await codeOf(append(first, topic, batch(21, 0, 0, 1)))).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(await values(first, topic)).toHaveLength(6);
  });

  it('keeps producer state across a leader change: the new writer answers the retry without appending', async () => {
    const { first, make, topic } = await setup();
    await first.acquireLeadership(topic, 0);
    await append(first, topic, batch(21, 0, 0, 4));
    await first.internals.leases.release((await first.requireTopic(topic)).id, 0);
    const second = make();
    await second.acquireLeadership(topic, 0);
    expect(await append(second, topic, batch(21, 0, 0, 4))).toEqual({ baseOffset: 0, duplicate: true });
    expect(await append(second, topic, batch(21, 0, 4, 1))).toEqual({ baseOffset: 4, duplicate: false });
    expect(await codeOf(append(second, topic, batch(21, 0, 9, 1)))).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(await values(second, topic)).toEqual(['r-0', 'r-1', 'r-2', 'r-3', 'r-4']);
  });

  it('takes the next batch when leadership comes back to a writer whose cached state is stale', async () => {
    // Found by the reliability harness (test/reliability/storage-faults.ts): the first writer kept
    // the state it last saw and refused the producer's next batch as a gap, a fatal error for a Kafka client.
    const { first, make, topic } = await setup();
    const second = make();
    await append(first, topic, batch(25, 0, 0, 2));
    await append(second, topic, batch(25, 0, 2, 3)); // leadership moved; the producer went on there
    expect(await append(first, topic, batch(25, 0, 5, 1))).toEqual({ baseOffset: 5, duplicate: false }); // …and came back
    expect(await append(first, topic, batch(25, 0, 2, 3))).toEqual({ baseOffset: 2, duplicate: true });
    expect(await codeOf(append(first, topic, batch(25, 0, 9, 1)))).toBe('OUT_OF_ORDER_SEQUENCE'); // a real gap is still refused
    expect(await values(first, topic)).toEqual(['r-0', 'r-1', 'r-2', 'r-3', 'r-4', 'r-5']);
  });

  it('commits once when the response to a successful commit is lost', async () => {
    const { stores, first, topic } = await setup();
    let lose = true;
    stores.metadata.afterTransact = () => {
      if (lose) {
        lose = false;
        throw new SpoolError('STORAGE_UNAVAILABLE', 'connection reset after the transaction landed');
      }
    };
    expect(await append(first, topic, batch(31, 0, 0, 3))).toEqual({ baseOffset: 0, duplicate: false });
    expect(await append(first, topic, batch(31, 0, 3, 1))).toEqual({ baseOffset: 3, duplicate: false });
    expect(await values(first, topic)).toEqual(['r-0', 'r-1', 'r-2', 'r-3']);
  });

  it('lets only one of two writers append the same batch; the other fails retriably and its retry is a duplicate', async () => {
    const { first, make, topic } = await setup();
    const second = make();
    // Both writers have seen the producer's state (none yet) before either commits: loaded first, so a
    // slow second writer does not read it after the first commit (it would answer a duplicate at once).
    const topicId = (await first.requireTopic(topic)).id;
    await Promise.all([first, second].map((log) => log.internals.producerStates.load(topicId, 0, 41)));
    const results = await Promise.allSettled([append(first, topic, batch(41, 0, 0, 2)), append(second, topic, batch(41, 0, 0, 2))]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toBeInstanceOf(SpoolError);
    expect((failed[0]!.reason as SpoolError).retriable).toBe(true);
    const loser = results[0]!.status === 'rejected' ? first : second;
    expect(await append(loser, topic, batch(41, 0, 0, 2))).toEqual({ baseOffset: 0, duplicate: true });
    expect(await values(first, topic)).toEqual(['r-0', 'r-1']);
  });

  it('takes an unknown producer continuing its sequence where the partition has held records, and only sequence 0 where it never has (Kafka 4.5)', async () => {
    const { first, topic } = await setup();
    const fresh = `${topic}-fresh`;
    await first.createTopic(fresh, 1);
    expect(await codeOf(append(first, fresh, batch(12, 0, 4, 1)))).toBe('OUT_OF_ORDER_SEQUENCE');
    expect((await first.offsetRange(fresh, 0)).latest).toBe(0);
    expect(await append(first, fresh, batch(12, 0, 0, 1))).toEqual({ baseOffset: 0, duplicate: false });

    await append(first, topic, batch(11, 0, 0, 2));
    // Producer 12 has no state here (never wrote, or its state expired): its sequences go on from where it is.
    expect(await append(first, topic, batch(12, 0, 4, 2, 'u'))).toEqual({ baseOffset: 2, duplicate: false });
    expect(await append(first, topic, batch(12, 0, 4, 2, 'u'))).toEqual({ baseOffset: 2, duplicate: true });
    expect(await codeOf(append(first, topic, batch(12, 0, 9, 1)))).toBe('OUT_OF_ORDER_SEQUENCE'); // known now: a gap
    expect(await values(first, topic)).toEqual(['r-0', 'r-1', 'u-4', 'u-5']);
  });

  it('forgets a producer not written for producer.id.expiration.ms; its next batch continues it and maintenance deletes the expired item', async () => {
    const { stores, make, topic } = await setup();
    let nowMs = Date.now();
    const log = make(expiringOn(() => nowMs));
    const { id } = await log.requireTopic(topic);
    const stored = async () => (await stores.metadata.query(partitionPk(id, 0), producerStateSks)).map((item) => item.attrs);

    expect(await append(log, topic, batch(51, 0, 0, 3))).toEqual({ baseOffset: 0, duplicate: false });
    const writtenMs = nowMs;
    expect(await log.producers(topic, 0)).toEqual([
      { producerId: 51, producerEpoch: 0, lastSequence: 2, lastWriteMs: writtenMs, coordinatorEpoch: -1, currentTxnStartOffset: -1 },
    ]);
    expect((await log.runMaintenance()).producer_states_expired).toBe(0);
    nowMs += 59_999;
    expect(await append(log, topic, batch(51, 0, 0, 3))).toEqual({ baseOffset: 0, duplicate: true }); // still known

    nowMs += 1; // 60 s after its last commit: no state
    expect(await log.producers(topic, 0)).toEqual([]);
    expect(await stored()).toHaveLength(1); // still in the store, but expired on read
    expect(await append(log, topic, batch(51, 0, 3, 2))).toEqual({ baseOffset: 3, duplicate: false });
    // The commit overwrote the expired item (its condition was the item as read): the old batches are forgotten.
    expect(await stored()).toEqual([expect.objectContaining({ nextSequence: 5, lastWriteMs: nowMs })]);
    expect(await codeOf(append(log, topic, batch(51, 0, 0, 3)))).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(await append(log, topic, batch(51, 0, 3, 2))).toEqual({ baseOffset: 3, duplicate: true });

    nowMs += 30_000;
    expect((await log.runMaintenance()).producer_states_expired).toBe(0); // 30 s old: live
    nowMs += 30_000;
    expect((await log.runMaintenance()).producer_states_expired).toBe(1);
    expect(await stored()).toEqual([]);
    expect(await append(log, topic, batch(51, 0, 5, 1))).toEqual({ baseOffset: 5, duplicate: false });
    expect((await log.offsetRange(topic, 0)).latest).toBe(6); // (retention has dropped the records, stamped 1970)
  });

  it("keeps a producer's state that maintenance read as expired when the producer wrote before the delete", async () => {
    const { stores, make, topic } = await setup();
    let nowMs = Date.now();
    const options = expiringOn(() => nowMs);
    const writer = make(options);
    await append(writer, topic, batch(52, 0, 0, 2));
    nowMs += 60_000;
    // Maintenance on another process, whose query is answered before the producer's next commit lands.
    const racing = afterProducerStateQuery(stores.metadata, () => append(writer, topic, batch(52, 0, 2, 1)));
    const maintainer = make({ ...options, stores: { ...stores, metadata: racing } });
    expect((await maintainer.runMaintenance()).producer_states_expired).toBe(0);
    expect(await writer.producers(topic, 0)).toEqual([
      { producerId: 52, producerEpoch: 0, lastSequence: 2, lastWriteMs: nowMs, coordinatorEpoch: -1, currentTxnStartOffset: -1 },
    ]);
    expect(await append(writer, topic, batch(52, 0, 2, 1))).toEqual({ baseOffset: 2, duplicate: true });
  });

  it('gives a state written before expiry existed a time at the first check, and expires it a full expiration later', async () => {
    const { stores, make, topic } = await setup();
    let nowMs = Date.now();
    const log = make(expiringOn(() => nowMs));
    const { id } = await log.requireTopic(topic);
    await append(log, topic, batch(53, 0, 0, 2));
    const key = producerStateKey(id, 0, 53);
    const { lastWriteMs: _, ...legacy } = (await stores.metadata.get(key))!.attrs;
    await stores.metadata.write({ kind: 'put', key, attrs: legacy });

    nowMs += 3_600_000; // no time on the item: not expired
    expect(await append(log, topic, batch(53, 0, 0, 2))).toEqual({ baseOffset: 0, duplicate: true });
    expect((await log.runMaintenance()).producer_states_expired).toBe(0);
    expect((await stores.metadata.get(key))!.attrs.lastWriteMs).toBe(nowMs);
    nowMs += 59_999;
    expect((await log.runMaintenance()).producer_states_expired).toBe(0);
    expect(await append(log, topic, batch(53, 0, 0, 2))).toEqual({ baseOffset: 0, duplicate: true });
    nowMs += 1;
    expect((await log.runMaintenance()).producer_states_expired).toBe(1);
    expect(await stores.metadata.get(key)).toBeUndefined();
  });

  it('looks for expired states at most once per check interval', async () => {
    const { stores, make, topic } = await setup();
    let nowMs = Date.now();
    const options = expiringOn(() => nowMs, 600_000);
    const writer = make(options);
    await append(writer, topic, batch(54, 0, 0, 1));
    const { id } = await writer.requireTopic(topic);
    let queries = 0;
    const counting = afterProducerStateQuery(stores.metadata, (pk) => {
      if (pk === partitionPk(id, 0)) queries++;
    });
    const log = make({ ...options, stores: { ...stores, metadata: counting } });
    await log.runMaintenance(); // the first pass looks
    nowMs += 120_000;
    await log.runMaintenance(); // 2 minutes later: does not look, although the state has expired
    expect(queries).toBe(1);
    nowMs += 480_000;
    expect((await log.runMaintenance()).producer_states_expired).toBe(1);
    expect(queries).toBe(2);
  });

  it("drops producers unused for 10 minutes from the writer's memory, and reads a returning one from the store", async () => {
    const { make, topic } = await setup();
    let nowMs = Date.now();
    const log = make({ now: () => nowMs });
    const states = log.internals.producerStates;
    for (let producerId = 60; producerId < 70; producerId++) await append(log, topic, batch(producerId, 0, 0, 1));
    expect(states.cached).toBe(10);
    nowMs += 600_000;
    await append(log, topic, batch(70, 0, 0, 1));
    expect(states.cached).toBe(1);
    const loads = states.stats.loads;
    expect(await append(log, topic, batch(60, 0, 0, 1))).toEqual({ baseOffset: 0, duplicate: true });
    expect(states.stats.loads).toBe(loads + 1);
  });
}
