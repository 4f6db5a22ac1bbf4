/**
 * Transactional ids' states in a real MetadataStore (lib/transactions/store.ts), written once and run
 * on the embedded store and on DynamoDB Local: what is stored reads back as decided, agents racing
 * on one id each get a decision made from the state it replaced (no epoch handed out twice, no
 * decision reversed), and listing finds every id across the shards.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import {
  addToTransaction,
  complete,
  type Decision,
  endTransaction,
  expire,
  initProducerId,
  type ProducerIdentity,
  type TxnState,
} from '../../lib/transactions/state.js';
import { stateAttrs, stateFromItem, TransactionStore } from '../../lib/transactions/store.js';
import { perTestMetadata, type StoreKind } from '../support/stores.js';

const maxTimeoutMs = 900_000;
const timeoutMs = 60_000;

export function transactionStoreSuite(kind: () => StoreKind): void {
  const openMetadata = perTestMetadata(kind);

  async function setup() {
    const metadata = await openMetadata();
    let nextId = 1000;
    const clock = { skewMs: 0 };
    /** An agent: its own TransactionStore over the shared table. */
    const agent = () =>
      new TransactionStore(
        metadata,
        async () => nextId++,
        () => Date.now() + clock.skewMs,
      );
    return { metadata, agent, clock, id: () => `txn-${randomUUID()}` };
  }

  const init =
    (request: Partial<ProducerIdentity> = {}) =>
    (state: TxnState | undefined, fresh: number | undefined, nowMs: number) =>
      initProducerId(state, { timeoutMs, producerId: -1, epoch: -1, ...request }, nowMs, maxTimeoutMs, fresh);
  const answer = <T>(decision: Decision<T>): T => {
    if (decision.error) throw new Error(`expected an answer, got ${decision.error}`);
    return decision.answer;
  };

  describe('transactions > store', () => {
    it('stores what the rules decide and reads it back the same; a transaction goes from init to complete', async () => {
      const { agent, id } = await setup();
      const store = agent();
      const txn = id();
      const producer = answer(await store.apply(txn, init()));
      expect(producer).toEqual({ producerId: 1000, epoch: 0 });
      await store.apply(txn, (state, _fresh, nowMs) =>
        addToTransaction(state, { ...producer, partitions: [{ topic: 'a', partition: 1 }], groups: ['g'] }, nowMs),
      );
      const open = (await store.get(txn))!;
      expect(open).toMatchObject({ phase: 'Ongoing', partitions: [{ topic: 'a', partition: 1 }], groups: ['g'], version: 1 });
      expect(stateFromItem({ pk: '', sk: txn, attrs: stateAttrs(open) })).toEqual(open);
      const next = answer(
        await store.apply(txn, (state, fresh, nowMs) => endTransaction(state, { ...producer, commit: true, tv2: true }, nowMs, fresh)),
      );
      expect(next).toEqual({ producerId: 1000, epoch: 1 });
      const prepared = (await store.get(txn))!;
      await store.apply(txn, (state, _fresh, nowMs) => ({ next: complete(state, prepared.version, nowMs), answer: null }));
      expect(await store.get(txn)).toMatchObject({ phase: 'CompleteCommit', epoch: 1, partitions: [], version: 3 });
    });

    it('agents racing InitProducerId on one id: each gets its own epoch, none twice, all under the first producer id', async () => {
      const { agent, id } = await setup();
      const txn = id();
      const answers = await Promise.all(Array.from({ length: 8 }, () => agent().apply(txn, init()).then(answer)));
      const winner = answers.find((a) => a.epoch === 0)!;
      expect(answers.map((a) => a.producerId)).toEqual(answers.map(() => winner.producerId));
      expect(answers.map((a) => a.epoch).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(await agent().get(txn)).toMatchObject({ epoch: 7, version: 7 });
    });

    it('a producer fenced through one agent is fenced through every other', async () => {
      const { agent, id } = await setup();
      const txn = id();
      const old = answer(await agent().apply(txn, init()));
      answer(await agent().apply(txn, init()));
      const before = await agent().get(txn);
      const refused = await agent().apply(txn, (state, _fresh, nowMs) =>
        addToTransaction(state, { ...old, partitions: [{ topic: 'a', partition: 0 }] }, nowMs),
      );
      expect(refused).toEqual({ error: 'PRODUCER_FENCED' });
      expect(await agent().get(txn)).toEqual(before);
    });

    it('EndTxn racing the timeout: one decision is written, the other is made again from it and never reverses it', async () => {
      const { agent, clock, id } = await setup();
      for (let round = 0; round < 6; round++) {
        const txn = id();
        const producer = answer(await agent().apply(txn, init()));
        await agent().apply(txn, (state, _fresh, nowMs) =>
          addToTransaction(state, { ...producer, partitions: [{ topic: 'a', partition: 0 }] }, nowMs),
        );
        const late = agent();
        clock.skewMs = timeoutMs + 1000; // every agent's clock: the transaction is past its timeout
        const [ended, expired] = await Promise.all([
          agent().apply(txn, (state, fresh, nowMs) => endTransaction(state, { ...producer, commit: true, tv2: false }, nowMs, fresh)),
          late.apply(txn, (state, fresh, nowMs) => {
            const next = state && expire(state, nowMs, fresh);
            return next ? { next, answer: 'aborted' as const } : { next: null, answer: 'nothing due' as const };
          }),
        ]);
        clock.skewMs = 0;
        const stored = (await agent().get(txn))!;
        if (stored.phase === 'PrepareCommit') {
          expect([ended, expired]).toEqual([
            { next: expect.anything(), answer: producer },
            { next: null, answer: 'nothing due' },
          ]);
        } else {
          expect(stored).toMatchObject({ phase: 'PrepareAbort', epoch: producer.epoch + 1 });
          expect(ended).toEqual({ error: 'PRODUCER_FENCED' }); // its transaction was aborted under a newer epoch
          expect(expired).toMatchObject({ answer: 'aborted' });
        }
      }
    });

    it('lists every transactional id across the shards; refuses an empty or oversized id', async () => {
      const { agent } = await setup();
      const store = agent();
      const prefix = `list-${randomUUID().slice(0, 8)}`;
      const ids = Array.from({ length: 40 }, (_, i) => `${prefix}-${i}`);
      for (const txn of ids) await store.apply(txn, init());
      const listed: string[] = [];
      for await (const { transactionalId } of store.all()) if (transactionalId.startsWith(prefix)) listed.push(transactionalId);
      expect(listed.sort()).toEqual([...ids].sort());
      for (const bad of ['', 'x'.repeat(1025)]) {
        await expect(store.apply(bad, init())).rejects.toThrow(SpoolError);
        await expect(store.get(bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
    });
  });
}
