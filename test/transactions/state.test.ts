/**
 * The transaction coordinator's rules (lib/transactions/state.ts), against Kafka's answers
 * (TransactionCoordinator, KIP-360, KIP-890's EndTxn table): examples per request, then a property
 * over random requests from several producer instances sharing one transactional.id.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addToTransaction,
  complete,
  type Decision,
  endTransaction,
  expire,
  initProducerId,
  maxEpoch,
  needsProducerId,
  ProducerIdNeeded,
  type ProducerIdentity,
  type TxnPhase,
  type TxnState,
} from '../../lib/transactions/state.js';

const maxTimeoutMs = 900_000;
const t0 = 1_000_000;
const p = (topic: string, partition: number) => ({ topic, partition });

/** The state a decision writes; fails the test when it writes none. */
function written<T>(decision: Decision<T>): TxnState {
  if (!decision.next) throw new Error(`expected a write, got ${JSON.stringify(decision)}`);
  return decision.next;
}

function started(epoch = 0): { state: TxnState; producer: ProducerIdentity } {
  const decision = initProducerId(undefined, { timeoutMs: 60_000, producerId: -1, epoch: -1 }, t0, maxTimeoutMs, 7);
  const state = { ...written(decision), epoch };
  return { state, producer: { producerId: 7, epoch } };
}

function ongoing(epoch = 0): { state: TxnState; producer: ProducerIdentity } {
  const { state, producer } = started(epoch);
  return { state: written(addToTransaction(state, { ...producer, partitions: [p('a', 0)] }, t0 + 1)), producer };
}

describe('transactions > coordinator rules', () => {
  it('InitProducerId: a new transactional id gets a fresh producer id at epoch 0; an invalid timeout changes nothing', () => {
    expect(needsProducerId(undefined)).toBe(true);
    const decision = initProducerId(undefined, { timeoutMs: 60_000, producerId: -1, epoch: -1 }, t0, maxTimeoutMs, 7);
    expect(decision).toMatchObject({ answer: { producerId: 7, epoch: 0 }, next: { phase: 'Empty', producerId: 7, epoch: 0, version: 0 } });
    for (const timeoutMs of [0, -1, maxTimeoutMs + 1])
      expect(initProducerId(undefined, { timeoutMs, producerId: -1, epoch: -1 }, t0, maxTimeoutMs, 7)).toEqual({
        error: 'INVALID_TRANSACTION_TIMEOUT',
      });
    expect(() => initProducerId(undefined, { timeoutMs: 60_000, producerId: -1, epoch: -1 }, t0, maxTimeoutMs)).toThrow(/allocate/);
  });

  it('InitProducerId again bumps the epoch: the older instance is fenced from every request', () => {
    const { state, producer: old } = started();
    const next = written(initProducerId(state, { timeoutMs: 60_000, producerId: -1, epoch: -1 }, t0 + 5, maxTimeoutMs));
    expect([next.producerId, next.epoch, next.lastEpoch, next.version]).toEqual([7, 1, -1, 1]); // no retry of a new instance's request to match
    expect(addToTransaction(next, { ...old, partitions: [p('a', 0)] }, t0 + 6)).toEqual({ error: 'PRODUCER_FENCED' });
    expect(endTransaction(next, { ...old, commit: true, tv2: false }, t0 + 6)).toEqual({ error: 'PRODUCER_FENCED' });
    expect(endTransaction(next, { ...old, commit: false, tv2: true }, t0 + 6)).toEqual({ error: 'PRODUCER_FENCED' }); // TV2 Empty, Abort(retry)
    expect(addToTransaction(next, { producerId: 8, epoch: 1, partitions: [p('a', 0)] }, t0 + 6)).toEqual({
      error: 'INVALID_PRODUCER_ID_MAPPING',
    });
    expect(addToTransaction(undefined, { producerId: 7, epoch: 0, partitions: [p('a', 0)] }, t0 + 6)).toEqual({
      error: 'INVALID_PRODUCER_ID_MAPPING',
    });
  });

  it('KIP-360 after a new instance: the older instance recovering with its own id and epoch is fenced, not handed the new one', () => {
    const { state, producer: a } = started(4);
    const b = written(initProducerId(state, { timeoutMs: 60_000, producerId: -1, epoch: -1 }, t0 + 5, maxTimeoutMs));
    expect([b.epoch, b.lastEpoch]).toEqual([5, -1]);
    expect(initProducerId(b, { timeoutMs: 60_000, ...a }, t0 + 6, maxTimeoutMs)).toEqual({ error: 'PRODUCER_FENCED' });
    // The same across a rotation: B's plain InitProducerId at the spent epoch moves to a new id; A keeps none of it.
    const { state: spent, producer: old } = started(maxEpoch);
    const rotated = written(initProducerId(spent, { timeoutMs: 60_000, producerId: -1, epoch: -1 }, t0 + 5, maxTimeoutMs, 8));
    expect(initProducerId(rotated, { timeoutMs: 60_000, ...old }, t0 + 6, maxTimeoutMs)).toEqual({ error: 'PRODUCER_FENCED' });
  });

  it('KIP-360: a producer recovering with its own id and epoch is bumped; its retry is answered as before; an older epoch or another id is fenced', () => {
    const { state, producer } = started(4);
    const next = written(initProducerId(state, { timeoutMs: 60_000, ...producer }, t0 + 5, maxTimeoutMs));
    expect([next.epoch, next.lastEpoch]).toEqual([5, 4]);
    expect(initProducerId(next, { timeoutMs: 60_000, ...producer }, t0 + 6, maxTimeoutMs)).toEqual({
      next: null,
      answer: { producerId: 7, epoch: 5 },
    });
    expect(initProducerId(next, { timeoutMs: 60_000, producerId: 7, epoch: 3 }, t0 + 6, maxTimeoutMs)).toEqual({
      error: 'PRODUCER_FENCED',
    });
    expect(initProducerId(next, { timeoutMs: 60_000, producerId: 9, epoch: 5 }, t0 + 6, maxTimeoutMs)).toEqual({
      error: 'PRODUCER_FENCED',
    });
  });

  it('AddPartitionsToTxn / AddOffsetsToTxn begin a transaction, add what is new once, and keep its start time', () => {
    const { state, producer } = started();
    const open = written(addToTransaction(state, { ...producer, partitions: [p('a', 0), p('a', 1)] }, t0 + 10));
    expect(open).toMatchObject({ phase: 'Ongoing', startedMs: t0 + 10, partitions: [p('a', 0), p('a', 1)], groups: [] });
    expect(addToTransaction(open, { ...producer, partitions: [p('a', 1)] }, t0 + 20)).toEqual({ next: null, answer: null });
    const more = written(addToTransaction(open, { ...producer, partitions: [p('a', 1), p('b', 0)], groups: ['g'] }, t0 + 30));
    expect(more).toMatchObject({
      startedMs: t0 + 10,
      partitions: [p('a', 0), p('a', 1), p('b', 0)],
      groups: ['g'],
      version: open.version + 1,
    });
  });

  it('EndTxn (before TV2): PrepareCommit keeps the epoch; the decision is retried or refused while markers are written, and answered again once complete', () => {
    const { state, producer } = ongoing(3);
    const commit = { ...producer, commit: true, tv2: false };
    const decision = endTransaction(state, commit, t0 + 50);
    expect(decision).toMatchObject({
      answer: { producerId: 7, epoch: 3 },
      next: { phase: 'PrepareCommit', epoch: 3, partitions: [p('a', 0)] },
    });
    const preparing = written(decision);
    expect(endTransaction(preparing, commit, t0 + 51)).toEqual({ error: 'CONCURRENT_TRANSACTIONS' });
    expect(endTransaction(preparing, { ...commit, commit: false }, t0 + 51)).toEqual({ error: 'CONCURRENT_TRANSACTIONS' }); // asked again once complete
    expect(addToTransaction(preparing, { ...producer, partitions: [p('b', 0)] }, t0 + 51)).toEqual({ error: 'CONCURRENT_TRANSACTIONS' });
    expect(initProducerId(preparing, { timeoutMs: 60_000, producerId: -1, epoch: -1 }, t0 + 51, maxTimeoutMs)).toEqual({
      error: 'CONCURRENT_TRANSACTIONS',
    });
    expect(complete(preparing, preparing.version - 1, t0 + 60)).toBeNull(); // not the Prepare this completer wrote markers for
    const done = complete(preparing, preparing.version, t0 + 60)!;
    expect(done).toMatchObject({ phase: 'CompleteCommit', epoch: 3, partitions: [], groups: [], startedMs: -1 });
    expect(complete(done, preparing.version, t0 + 61)).toBeNull(); // completed already: a second completer writes nothing
    expect(endTransaction(done, commit, t0 + 61)).toEqual({ next: null, answer: { producerId: 7, epoch: 3 } });
    expect(endTransaction(done, { ...commit, commit: false }, t0 + 61)).toEqual({ error: 'INVALID_TXN_STATE' });
    expect(endTransaction(started(3).state, commit, t0)).toEqual({ error: 'INVALID_TXN_STATE' }); // nothing open
  });

  it('InitProducerId while a transaction is open fences it: the abort is written under a bumped epoch and the client told to retry', () => {
    const { state, producer: old } = ongoing(2);
    const decision = initProducerId(state, { timeoutMs: 60_000, producerId: -1, epoch: -1 }, t0 + 50, maxTimeoutMs);
    expect(decision).toMatchObject({
      error: 'CONCURRENT_TRANSACTIONS',
      next: { phase: 'PrepareAbort', epoch: 3, partitions: [p('a', 0)] },
    });
    const fencing = decision.next!;
    expect(endTransaction(fencing, { ...old, commit: true, tv2: false }, t0 + 51)).toEqual({ error: 'PRODUCER_FENCED' });
    expect(addToTransaction(fencing, { ...old, partitions: [p('b', 0)] }, t0 + 51)).toEqual({ error: 'PRODUCER_FENCED' });
    const aborted = complete(fencing, fencing.version, t0 + 60)!;
    // The fenced producer recovering with its own id and epoch (KIP-360) is refused: the fence's epoch goes to no one.
    expect(initProducerId(aborted, { timeoutMs: 60_000, ...old }, t0 + 61, maxTimeoutMs)).toEqual({ error: 'PRODUCER_FENCED' });
    expect(endTransaction(aborted, { ...old, commit: true, tv2: true }, t0 + 61)).toEqual({ error: 'PRODUCER_FENCED' });
    const next = initProducerId(aborted, { timeoutMs: 60_000, producerId: -1, epoch: -1 }, t0 + 61, maxTimeoutMs);
    expect(next).toMatchObject({ answer: { producerId: 7, epoch: 4 }, next: { phase: 'Empty' } });
  });

  it('TV2: every EndTxn bumps the epoch and hands it back; a delayed request of the ended transaction cannot touch the next', () => {
    const { state, producer } = ongoing(3);
    const decision = endTransaction(state, { ...producer, commit: true, tv2: true }, t0 + 50);
    expect(decision).toMatchObject({ answer: { producerId: 7, epoch: 4 }, next: { phase: 'PrepareCommit', epoch: 4, lastEpoch: 3 } });
    const preparing = written(decision);
    expect(endTransaction(preparing, { ...producer, commit: true, tv2: true }, t0 + 51)).toEqual({ error: 'CONCURRENT_TRANSACTIONS' }); // retry
    // The next transaction's requests, at the epoch handed back, wait for the markers too (KAFKA-18464): an empty abort, an add.
    expect(endTransaction(preparing, { producerId: 7, epoch: 4, commit: false, tv2: true }, t0 + 51)).toEqual({
      error: 'CONCURRENT_TRANSACTIONS',
    });
    expect(addToTransaction(preparing, { producerId: 7, epoch: 4, partitions: [p('b', 0)] }, t0 + 51)).toEqual({
      error: 'CONCURRENT_TRANSACTIONS',
    });
    const done = complete(preparing, preparing.version, t0 + 60)!;
    expect(endTransaction(done, { ...producer, commit: true, tv2: true }, t0 + 61)).toEqual({
      next: null,
      answer: { producerId: 7, epoch: 4 },
    });
    // The next transaction, at epoch 4: the ended transaction's late write and EndTxn are refused.
    const next = written(addToTransaction(done, { producerId: 7, epoch: 4, partitions: [p('b', 0)] }, t0 + 70));
    expect(addToTransaction(next, { ...producer, partitions: [p('a', 0)] }, t0 + 71)).toEqual({ error: 'PRODUCER_FENCED' });
    expect(endTransaction(next, { ...producer, commit: true, tv2: true }, t0 + 71)).toEqual({ error: 'PRODUCER_FENCED' });
  });

  it("TV2 with nothing open, as Kafka's table: Abort(current) bumps, Commit(current) is refused, Abort(retry) is fenced, and a retry of the other decision is refused", () => {
    const { state, producer } = started(5);
    const retried = { producerId: 7, epoch: 4 };
    const empty = { ...state, lastEpoch: 4 };
    expect(endTransaction(empty, { ...producer, commit: false, tv2: true }, t0)).toMatchObject({
      answer: { epoch: 6 },
      next: { phase: 'PrepareAbort', partitions: [] },
    });
    expect(endTransaction(empty, { ...producer, commit: true, tv2: true }, t0)).toEqual({ error: 'INVALID_TXN_STATE' });
    expect(endTransaction(empty, { ...retried, commit: false, tv2: true }, t0)).toEqual({ error: 'PRODUCER_FENCED' });
    expect(endTransaction(empty, { ...retried, commit: true, tv2: true }, t0)).toEqual({ error: 'PRODUCER_FENCED' });
    const committed: TxnState = { ...empty, phase: 'CompleteCommit' };
    expect(endTransaction(committed, { ...retried, commit: false, tv2: true }, t0)).toEqual({ error: 'INVALID_TXN_STATE' });
    expect(endTransaction(committed, { ...producer, commit: false, tv2: true }, t0)).toMatchObject({ next: { phase: 'PrepareAbort' } });
    const aborted: TxnState = { ...empty, phase: 'CompleteAbort' };
    expect(endTransaction(aborted, { ...retried, commit: false, tv2: true }, t0)).toEqual({ next: null, answer: producer });
    expect(endTransaction(aborted, { ...retried, commit: true, tv2: true }, t0)).toEqual({ error: 'INVALID_TXN_STATE' });
  });

  it('a spent epoch moves the producer to a new producer id at epoch 0, by InitProducerId or at the end of a TV2 transaction; retries across it are recognised', () => {
    const { state, producer } = started(maxEpoch);
    expect(needsProducerId(state)).toBe(true);
    expect(needsProducerId({ ...state, epoch: maxEpoch - 1 })).toBe(false);
    expect(() => initProducerId(state, { timeoutMs: 60_000, producerId: -1, epoch: -1 }, t0, maxTimeoutMs)).toThrow(ProducerIdNeeded);
    const rotated = written(initProducerId(state, { timeoutMs: 60_000, ...producer }, t0, maxTimeoutMs, 8));
    expect([rotated.producerId, rotated.epoch, rotated.previousProducerId, rotated.lastEpoch]).toEqual([8, 0, 7, maxEpoch]);
    expect(initProducerId(rotated, { timeoutMs: 60_000, ...producer }, t0, maxTimeoutMs)).toEqual({
      next: null,
      answer: { producerId: 8, epoch: 0 },
    });

    const { state: open } = ongoing(maxEpoch);
    const decision = endTransaction(open, { ...producer, commit: true, tv2: true }, t0 + 50, 9);
    const preparing = written(decision);
    expect(decision).toMatchObject({ answer: { producerId: 9, epoch: 0 } });
    expect([preparing.producerId, preparing.epoch, preparing.nextProducerId]).toEqual([7, maxEpoch + 1, 9]); // the markers' identity
    // The client goes on under the new producer id at once: while the markers are written it is told to wait, not refused (KAFKA-18660).
    expect(addToTransaction(preparing, { producerId: 9, epoch: 0, partitions: [p('b', 0)] }, t0 + 51)).toEqual({
      error: 'CONCURRENT_TRANSACTIONS',
    });
    expect(endTransaction(preparing, { producerId: 9, epoch: 0, commit: false, tv2: true }, t0 + 51)).toEqual({
      error: 'CONCURRENT_TRANSACTIONS',
    });
    const done = complete(preparing, preparing.version, t0 + 60)!;
    expect([done.producerId, done.epoch, done.previousProducerId, done.nextProducerId]).toEqual([9, 0, 7, -1]);
    expect(endTransaction(done, { ...producer, commit: true, tv2: true }, t0 + 61)).toEqual({
      next: null,
      answer: { producerId: 9, epoch: 0 },
    });
  });

  it('a transaction open past its timeout is aborted under a bumped epoch; nothing else expires', () => {
    const { state, producer } = ongoing(1);
    expect(expire(state, t0 + 1 + 60_000)).toBeUndefined(); // Kafka: start + timeout < now
    const aborting = expire(state, t0 + 1 + 60_001)!;
    expect(aborting).toMatchObject({ phase: 'PrepareAbort', epoch: 2, partitions: [p('a', 0)] });
    expect(endTransaction(aborting, { ...producer, commit: true, tv2: false }, t0)).toEqual({ error: 'PRODUCER_FENCED' });
    const aborted = complete(aborting, aborting.version, t0)!;
    // The producer that left it learns it was fenced, whatever it sends (a commit at its epoch: not INVALID_TXN_STATE, KAFKA-20785).
    for (const tv2 of [false, true])
      for (const commit of [true, false])
        expect(endTransaction(aborted, { ...producer, commit, tv2 }, t0)).toEqual({ error: 'PRODUCER_FENCED' });
    expect(initProducerId(aborted, { timeoutMs: 60_000, ...producer }, t0, maxTimeoutMs)).toEqual({ error: 'PRODUCER_FENCED' });
    expect(expire(started().state, t0 + 10 * maxTimeoutMs)).toBeUndefined();
    expect(expire(aborted, t0 + 10 * maxTimeoutMs)).toBeUndefined();
  });

  it('property: random requests of several instances keep to the allowed transitions, hand out no epoch past maxEpoch, and never let two instances hold the live identity', () => {
    const allowed: Record<TxnPhase, readonly TxnPhase[]> = {
      Empty: ['Empty', 'Ongoing', 'PrepareAbort'],
      Ongoing: ['Ongoing', 'PrepareCommit', 'PrepareAbort'],
      PrepareCommit: ['CompleteCommit'],
      PrepareAbort: ['CompleteAbort'],
      CompleteCommit: ['Empty', 'Ongoing', 'PrepareAbort'],
      CompleteAbort: ['Empty', 'Ongoing', 'PrepareAbort'],
    };
    const step = fc.oneof(
      fc.record({ kind: fc.constant('init' as const), recover: fc.boolean(), instance: fc.nat(7) }),
      fc.record({ kind: fc.constant('add' as const), instance: fc.nat(7), partition: fc.nat(3) }),
      fc.record({ kind: fc.constant('end' as const), instance: fc.nat(7), commit: fc.boolean(), tv2: fc.boolean() }),
      fc.record({ kind: fc.constant('complete' as const), stale: fc.boolean() }),
      fc.record({ kind: fc.constant('expire' as const), afterMs: fc.integer({ min: 0, max: 120_000 }) }),
    );
    fc.assert(
      fc.property(fc.constantFrom(0, maxEpoch - 3), fc.array(step, { minLength: 1, maxLength: 80 }), (startEpoch, steps) => {
        let nextId = 100;
        let nowMs = t0;
        let state: TxnState | undefined;
        /** The identity each producer instance holds: what it was last told (an instance goes on under what EndTxn hands back). */
        const instances: ProducerIdentity[] = [];
        const fresh = () => nextId++;
        /** Decides, allocating an id only when asked (as the store does). */
        const decide = <T>(rule: (id: number | undefined) => T): T => {
          try {
            return rule(undefined);
          } catch (error) {
            if (!(error instanceof ProducerIdNeeded)) throw error;
            return rule(fresh());
          }
        };
        for (const s of steps) {
          nowMs += 10;
          const before = state;
          let next: TxnState | null | undefined;
          let actor: number | undefined; // the instance that made the request, and is told the answer
          let told: ProducerIdentity | undefined;
          if (s.kind === 'init') {
            actor = s.recover && instances.length > 0 ? s.instance % instances.length : undefined;
            const request = actor === undefined ? { producerId: -1, epoch: -1 } : instances[actor]!;
            const decision = decide((id) => initProducerId(state, { timeoutMs: 60_000, ...request }, nowMs, maxTimeoutMs, id));
            next = decision.next;
            if (!decision.error) told = decision.answer;
            if (state === undefined && next) {
              next = { ...next, epoch: startEpoch };
              told = { ...told!, epoch: startEpoch };
            }
            if (told && actor === undefined) actor = instances.push(told) - 1;
          } else if (s.kind === 'add' && instances.length > 0) {
            actor = s.instance % instances.length;
            next = addToTransaction(state, { ...instances[actor]!, partitions: [p('t', s.partition)] }, nowMs).next;
          } else if (s.kind === 'end' && instances.length > 0) {
            actor = s.instance % instances.length;
            const decision = decide((id) => endTransaction(state, { ...instances[actor!]!, commit: s.commit, tv2: s.tv2 }, nowMs, id));
            next = decision.next;
            if (!decision.error) told = decision.answer;
          } else if (s.kind === 'complete' && state) {
            next = complete(state, s.stale ? state.version - 1 : state.version, nowMs);
            if (s.stale) expect(next).toBeNull();
          } else if (s.kind === 'expire' && state) {
            nowMs += s.afterMs;
            next = decide((id) => expire(state!, nowMs, id));
          }
          if (next) {
            if (before) {
              expect(allowed[before.phase]).toContain(next.phase);
              expect(next.version).toBe(before.version + 1);
            }
            state = next;
          }
          if (told && actor !== undefined) {
            expect(told.epoch).toBeLessThanOrEqual(maxEpoch);
            instances[actor] = told;
          }
          if (state) {
            expect(state.epoch).toBeLessThanOrEqual(maxEpoch + 1);
            // Fencing: the identity requests must carry to act (after the markers, under Prepare*) is held by one instance at most.
            const live =
              state.phase.startsWith('Prepare') && state.nextProducerId !== -1 ? { producerId: state.nextProducerId, epoch: 0 } : state;
            const holders = instances.filter((i) => i.producerId === live.producerId && i.epoch === live.epoch).length;
            expect(holders, JSON.stringify({ state, instances })).toBeLessThanOrEqual(1);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
