/**
 * A share partition's state (lib/queues/share-partition.ts): acquiring, acknowledging and lock
 * expiry as KIP-932 defines them, and the module's invariants as fast-check properties over random
 * runs of members acquiring, acknowledging (every type, right or wrong), and the clock and the log
 * moving on.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  acknowledge,
  acquire,
  claimDeadLetters,
  counts,
  type DelayedRange,
  deadLettered,
  deadLetterClaimMs,
  expireLocks,
  initialState,
  returnDue,
  type AckType,
  type InFlightRange,
  type SharePartitionState,
} from '../../lib/queues/share-partition.js';

const limits = { lockMs: 1000, deliveryLimit: 3, maxInFlight: 10 };
const at = (nowMs: number) => ({ nowMs, deliveryLimit: limits.deliveryLimit, lockMs: limits.lockMs });
const take = (state: SharePartitionState, member: string, maxRecords: number, nowMs: number, logEndOffset = 100, logStartOffset = 0) =>
  acquire(state, { member, maxRecords, nowMs, logStartOffset, logEndOffset, ...limits });

describe('queues > share partition', () => {
  it('hands each member its own records, locked; an accept moves the start past them', () => {
    const a = take(initialState(5), 'a', 3, 0);
    expect(a.acquired).toEqual([{ first: 5, last: 7, deliveryCount: 1 }]);
    const b = take(a.next, 'b', 2, 0);
    expect(b.acquired).toEqual([{ first: 8, last: 9, deliveryCount: 1 }]);
    expect(b.next).toMatchObject({ startOffset: 5, endOffset: 10 });
    const accepted = acknowledge(b.next, 'a', [{ first: 5, last: 7, type: 'accept' }], at(10));
    expect(accepted.refused).toEqual([]);
    expect(accepted.next).toEqual({
      startOffset: 8,
      endOffset: 10,
      ranges: [{ first: 8, last: 9, state: 'acquired', deliveryCount: 1, member: 'b', lockedUntilMs: 1000 }],
      deadRecords: 0,
      delayedRecords: 0,
      delayEpoch: 0,
    });
  });

  it('renews a live lock for a lock duration from now, and keeps the records held', () => {
    const held = take(initialState(0), 'a', 3, 0).next;
    const renewed = acknowledge(held, 'a', [{ first: 1, last: 1, type: 'renew' }], at(900));
    expect(renewed.refused).toEqual([]);
    expect(renewed.next.ranges).toEqual([
      { first: 0, last: 0, state: 'acquired', deliveryCount: 1, member: 'a', lockedUntilMs: 1000 },
      { first: 1, last: 1, state: 'acquired', deliveryCount: 1, member: 'a', lockedUntilMs: 1900 },
      { first: 2, last: 2, state: 'acquired', deliveryCount: 1, member: 'a', lockedUntilMs: 1000 },
    ]);
    // Past the first lock, only the renewed record is still a's; an expired lock cannot be renewed.
    expect(take(renewed.next, 'b', 5, 1000, 3).acquired).toEqual([
      { first: 0, last: 0, deliveryCount: 2 },
      { first: 2, last: 2, deliveryCount: 2 },
    ]);
    expect(acknowledge(renewed.next, 'a', [{ first: 0, last: 0, type: 'renew' }], at(1000)).refused).toEqual([
      expect.objectContaining({ reason: expect.stringContaining('expired') }),
    ]);
    expect(acknowledge(renewed.next, 'a', [{ first: 1, last: 1, type: 'accept' }], at(1899)).refused).toEqual([]);
  });

  it('counts dead records: rejected, or released, expired or found at the delivery limit; not GAPs', () => {
    const held = take(initialState(0), 'a', 4, 0).next;
    const acked = acknowledge(
      held,
      'a',
      [
        { first: 0, last: 1, type: 'reject' },
        { first: 2, last: 2, type: 'gap' },
      ],
      at(1),
    ).next;
    expect(acked.deadRecords).toBe(2);
    const limitOne = { ...limits, deliveryLimit: 1 };
    const released = acknowledge(acked, 'a', [{ first: 3, last: 3, type: 'release' }], { ...at(1), deliveryLimit: 1 }).next;
    expect(released).toMatchObject({ startOffset: 4, deadRecords: 3 });
    const expiring = acquire(released, { member: 'b', maxRecords: 2, nowMs: 1, logStartOffset: 0, logEndOffset: 6, ...limitOne }).next;
    expect(expireLocks(expiring, { nowMs: 1 + limits.lockMs, deliveryLimit: 1 })).toMatchObject({ startOffset: 6, deadRecords: 5 });
    // Delivered once, released under a limit of 3, then found past a limit lowered to 1.
    const once = acknowledge(take(initialState(0), 'a', 1, 0).next, 'a', [{ first: 0, last: 0, type: 'release' }], at(1)).next;
    expect(acquire(once, { member: 'b', maxRecords: 1, nowMs: 2, logStartOffset: 0, logEndOffset: 1, ...limitOne }).next.deadRecords).toBe(
      1,
    );
  });

  it('redelivers released and expired records, counting deliveries, and archives them at the limit', () => {
    let state = take(initialState(0), 'a', 2, 0).next;
    state = acknowledge(state, 'a', [{ first: 0, last: 0, type: 'release' }], at(1)).next;
    const again = take(state, 'b', 5, 2, 3);
    // Offset 0 again (a second delivery), then what was never delivered; 1 is still a's.
    expect(again.acquired).toEqual([
      { first: 0, last: 0, deliveryCount: 2 },
      { first: 2, last: 2, deliveryCount: 1 },
    ]);
    // b's lock on 0 expires; a third delivery is the last.
    const third = take(again.next, 'c', 1, 2 + limits.lockMs);
    expect(third.acquired).toEqual([{ first: 0, last: 0, deliveryCount: 3 }]);
    const archived = expireLocks(third.next, { nowMs: 2 + 2 * limits.lockMs, deliveryLimit: limits.deliveryLimit });
    expect(counts(archived)).toEqual({ available: 2, acquired: 0, acknowledged: 0, archiving: 0, archived: 0, deferred: 0 }); // 1 and 2; 0 archived, past the start
    expect(archived.startOffset).toBe(1);
    // Two ranges, each delivered once before: handed as one batch.
    expect(take(archived, 'd', 5, 3 * limits.lockMs, 3).acquired).toEqual([{ first: 1, last: 2, deliveryCount: 2 }]);
  });

  it('refuses, changing nothing, an acknowledgement of records another member holds, whose lock expired, or that are done', () => {
    const state = take(take(initialState(0), 'a', 2, 0).next, 'b', 2, 0).next;
    const refusedOf = (member: string, first: number, last: number, type: AckType, nowMs = 1) => {
      const { next, refused } = acknowledge(state, member, [{ first, last, type }], at(nowMs));
      expect(next).toEqual(state);
      return refused.map((r) => r.reason);
    };
    expect(refusedOf('a', 1, 2, 'accept')).toEqual([expect.stringContaining('by another member')]);
    expect(refusedOf('a', 0, 1, 'accept', limits.lockMs)).toEqual([expect.stringContaining('expired')]);
    expect(refusedOf('a', 3, 9, 'reject')).toEqual([expect.stringContaining('never acquired')]);
    expect(refusedOf('a', 1, 0, 'accept')).toEqual([expect.stringContaining('first <= last')]);
    // All or nothing: one refused acknowledgement leaves the others undone too.
    const mixed = acknowledge(
      state,
      'a',
      [
        { first: 0, last: 1, type: 'accept' },
        { first: 2, last: 2, type: 'accept' },
      ],
      at(1),
    );
    expect(mixed).toEqual({
      next: state,
      refused: [{ first: 2, last: 2, reason: expect.stringContaining('by another member') }],
      deferred: [],
    });
    const accepted = acknowledge(state, 'a', [{ first: 0, last: 1, type: 'accept' }], at(1)).next;
    expect(acknowledge(accepted, 'a', [{ first: 0, last: 0, type: 'accept' }], at(1)).refused).toHaveLength(1);
  });

  it('leaves records the log no longer holds, archives a GAP, and never hands out a record past a lowered delivery limit', () => {
    const held = take(initialState(0), 'a', 4, 0).next;
    // Retention moved the log's start to 2: 0 and 1 are gone, whoever held them.
    const trimmed = take(held, 'b', 10, 0, 6, 2);
    expect(trimmed.next.startOffset).toBe(2);
    expect(trimmed.acquired).toEqual([{ first: 4, last: 5, deliveryCount: 1 }]);
    const gap = acknowledge(trimmed.next, 'a', [{ first: 2, last: 2, type: 'gap' }], at(1)).next;
    expect(gap.startOffset).toBe(3); // archived, done
    const released = acknowledge(gap, 'a', [{ first: 3, last: 3, type: 'release' }], at(1)).next;
    expect(
      acquire(released, { member: 'c', maxRecords: 5, nowMs: 2, logStartOffset: 0, logEndOffset: 6, ...limits, deliveryLimit: 1 }).acquired,
    ).toEqual([]);
  });

  it('hands out no record in flight at or past the log end (the stable offset may be below records once handed out)', () => {
    const released = acknowledge(take(initialState(0), 'a', 5, 0).next, 'a', [{ first: 0, last: 4, type: 'release' }], at(1)).next;
    const capped = take(released, 'b', 10, 2, 3);
    expect(capped.acquired).toEqual([{ first: 0, last: 2, deliveryCount: 2 }]);
    expect(capped.next.ranges.at(-1)).toEqual({ first: 3, last: 4, state: 'available', deliveryCount: 1 });
    expect(take(capped.next, 'c', 10, 2, 5).acquired).toEqual([{ first: 3, last: 4, deliveryCount: 2 }]);
  });

  it('keeps at most maxInFlight offsets in flight, and reads no further than the log end', () => {
    const first = take(initialState(0), 'a', 50, 0);
    expect(first.acquired).toEqual([{ first: 0, last: 9, deliveryCount: 1 }]);
    expect(take(first.next, 'b', 50, 0).acquired).toEqual([]);
    expect(take(initialState(0), 'a', 50, 0, 4).acquired).toEqual([{ first: 0, last: 3, deliveryCount: 1 }]);
  });

  it('holds its invariants over any run of acquires, acknowledgements, clock and log moves', () => {
    const members = ['a', 'b', 'c'];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('acquire' as const), member: fc.constantFrom(...members), max: fc.integer({ min: 0, max: 6 }) }),
      // Mostly records the member was handed (its lock live or not), now and then anything near the start.
      fc.record({
        kind: fc.constant('ack' as const),
        member: fc.constantFrom(...members),
        held: fc.boolean(),
        pick: fc.nat(),
        from: fc.integer({ min: -2, max: 12 }),
        length: fc.integer({ min: 1, max: 4 }),
        type: fc.constantFrom<AckType>('accept', 'release', 'reject', 'gap', 'renew', 'unread', 'defer'),
        delayMs: fc.integer({ min: 1, max: 3000 }),
      }),
      // A record not due yet, deferred as soon as it is acquired.
      fc.record({
        kind: fc.constant('ack' as const),
        member: fc.constantFrom(...members),
        held: fc.constant(true),
        pick: fc.nat(),
        from: fc.constant(0),
        length: fc.integer({ min: 1, max: 4 }),
        type: fc.constant<AckType>('defer'),
        delayMs: fc.integer({ min: 1, max: 3000 }),
      }),
      // The delay index hands back what is due.
      fc.record({ kind: fc.constant('due' as const) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 1500 }) }),
      fc.record({ kind: fc.constant('produce' as const), records: fc.integer({ min: 0, max: 5 }) }),
      // The end read to moves back (a switch to read_committed while a transaction is open).
      fc.record({ kind: fc.constant('stable' as const), back: fc.integer({ min: 0, max: 4 }) }),
      // Retention or DeleteRecords moves the log's start.
      fc.record({ kind: fc.constant('trim' as const), records: fc.integer({ min: 0, max: 3 }) }),
      // A dead letter claimed is written (or given up on), or its writer dies and its claim runs out.
      fc.record({ kind: fc.constant('letter' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('writerDies' as const) }),
      fc.record({ kind: fc.constant('longTick' as const) }),
    );
    const settings = fc.record({
      lockMs: fc.constantFrom(300, 1000),
      deliveryLimit: fc.integer({ min: 1, max: 3 }),
      maxInFlight: fc.integer({ min: 4, max: 12 }),
      deadLetters: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 10, maxLength: 120, size: 'medium' }),
        fc.integer({ min: 0, max: 5 }),
        settings,
        (ops, start, p) => {
          let state = initialState(start);
          let nowMs = 0;
          let logEnd = start + 5;
          let logStart = 0;
          const deliveries = new Map<number, number>();
          const finished = new Set<number>(); // accepted, rejected or archived: never delivered again
          const holder = new Map<number, { member: string; untilMs: number }>();
          const dead = new Set<number>(); // rejected, or released or expired at the delivery limit
          const unlettered = new Set<number>(); // dead, its dead letter not written yet (with deadLetters)
          const causes = new Map<number, 'rejected' | 'limit'>();
          const claimedUntil = new Map<number, number>(); // a dead letter's writer's claim: no other takes it before

          const die = (offset: number, cause: 'rejected' | 'limit') => {
            if (dead.has(offset)) return;
            dead.add(offset);
            causes.set(offset, cause);
            if (p.deadLetters) unlettered.add(offset);
          };
          let claims: { first: number; last: number }[] = []; // dead letters claimed by the (one) writer alive
          let index: DelayedRange[] = []; // the delay index
          const delayed = new Set<number>(); // offsets in it
          for (const step of ops) {
            const before = state;
            if (step.kind === 'tick') nowMs += step.ms;
            if (step.kind === 'longTick') nowMs += deadLetterClaimMs;
            if (step.kind === 'writerDies') claims = [];
            if (step.kind === 'due') {
              const due = index.filter((entry) => entry.dueMs <= nowMs);
              index = index.filter((entry) => entry.dueMs > nowMs);
              const nextDue = index.length === 0 ? undefined : Math.min(...index.map((entry) => entry.dueMs));
              // The state knows when the first is due: never later than the index's first.
              if (due.length > 0) expect(state.nextDueMs).toBeLessThanOrEqual(Math.min(...due.map((entry) => entry.dueMs)));
              state = returnDue(state, due, nextDue);
              for (const entry of due)
                for (let offset = entry.first; offset <= entry.last; offset++) {
                  delayed.delete(offset);
                  // Back: available again, wherever the start is now.
                  const range = state.ranges.find((r) => r.first <= offset && offset <= r.last);
                  expect([range?.state, range?.deliveryCount]).toEqual(['available', entry.deliveryCount]);
                }
            }
            if (step.kind === 'letter' && claims.length > 0) {
              const [letter] = claims.splice(step.pick % claims.length, 1);
              state = deadLettered(state, [letter!]);
              for (let offset = letter!.first; offset <= letter!.last; offset++) unlettered.delete(offset);
            }
            if (step.kind === 'produce') logEnd += step.records;
            if (step.kind === 'stable') logEnd = Math.max(logStart, logEnd - step.back);
            if (step.kind === 'trim') logStart = Math.min(logEnd, logStart + step.records);
            if (step.kind === 'acquire') {
              const { next, acquired } = acquire(state, {
                member: step.member,
                maxRecords: step.max,
                nowMs,
                logStartOffset: logStart,
                logEndOffset: logEnd,
                ...p,
              });
              state = next;
              let handed = 0;
              for (const batch of acquired) {
                for (let offset = batch.first; offset <= batch.last; offset++) {
                  handed++;
                  const held = holder.get(offset);
                  // 2: nobody else holds it under a live lock; 3: never once done; a deferred record not before it is due.
                  expect(held === undefined || held.untilMs <= nowMs).toBe(true);
                  expect(finished.has(offset)).toBe(false);
                  expect(delayed.has(offset)).toBe(false);
                  expect(offset).toBeLessThan(logEnd);
                  expect(offset).toBeGreaterThanOrEqual(logStart);
                  const count = (deliveries.get(offset) ?? 0) + 1;
                  deliveries.set(offset, count);
                  expect(batch.deliveryCount).toBe(count);
                  expect(count).toBeLessThanOrEqual(p.deliveryLimit); // 4
                  holder.set(offset, { member: step.member, untilMs: nowMs + p.lockMs });
                }
              }
              expect(handed).toBeLessThanOrEqual(step.max);
              // An acquire first releases every expired lock: what stays acquired is under a live one.
              for (const range of state.ranges) if (range.state === 'acquired') expect(range.lockedUntilMs).toBeGreaterThan(nowMs);
              // ... and has counted every dead record (an acknowledgement does not look at expired locks).
              expect(state.deadRecords).toBe(dead.size);
            }
            if (step.kind === 'ack') {
              const mine = state.ranges.filter((range) => range.member === step.member);
              const range = mine[step.pick % Math.max(1, mine.length)];
              const held = step.held && range !== undefined;
              const first = held ? range.first + (step.pick % (range.last - range.first + 1)) : state.startOffset + step.from;
              const last = held ? Math.min(first + step.length - 1, range.last) : first + step.length - 1;
              const dueMs = nowMs + step.delayMs;
              const { next, refused } = acknowledge(state, step.member, [{ first, last, type: step.type, dueMs }], {
                nowMs,
                deliveryLimit: p.deliveryLimit,
                lockMs: p.lockMs,
                deadLetters: p.deadLetters,
              });
              // An acknowledgement of records the member holds under a live lock is taken.
              if (held && range.state === 'acquired' && range.lockedUntilMs! > nowMs) expect(refused).toEqual([]);
              // 2: a refusal changes nothing; an acknowledgement is taken only from the live holder of every record it names.
              if (refused.length > 0) expect(next).toEqual(state);
              else
                for (let offset = first; offset <= last; offset++) {
                  const holding = holder.get(offset);
                  expect(holding?.member).toBe(step.member);
                  expect(holding!.untilMs).toBeGreaterThan(nowMs);
                  if (step.type === 'renew') {
                    holder.set(offset, { member: step.member, untilMs: nowMs + p.lockMs });
                    continue;
                  }
                  if (step.type === 'unread' || step.type === 'defer') {
                    holder.delete(offset);
                    deliveries.set(offset, deliveries.get(offset)! - 1);
                    if (step.type === 'defer') delayed.add(offset);
                    continue;
                  }
                  holder.delete(offset);
                  const atLimit = deliveries.get(offset)! >= p.deliveryLimit;
                  if (step.type !== 'release' || atLimit) finished.add(offset);
                  if (step.type === 'reject') die(offset, 'rejected');
                  if (step.type === 'release' && atLimit) die(offset, 'limit');
                }
              if (refused.length === 0 && step.type === 'defer')
                for (let offset = first; offset <= last; offset++)
                  index.push({ first: offset, last: offset, deliveryCount: deliveries.get(offset)!, dueMs });
              state = next;
            }
            // Expired locks at the limit are archived when next looked at: the model follows.
            for (const [offset, held] of holder)
              if (held.untilMs <= nowMs && deliveries.get(offset)! >= p.deliveryLimit) {
                finished.add(offset);
                die(offset, 'limit');
              }
            // 6: every change claims the dead letters it made and those whose claim ran out; a claim is of dead records only.
            if (step.kind === 'acquire' || step.kind === 'ack' || step.kind === 'longTick') {
              const { next, claimed } = claimDeadLetters(before, state, nowMs);
              state = next;
              for (const letter of claimed) {
                for (let offset = letter.first; offset <= letter.last; offset++) {
                  expect(unlettered.has(offset)).toBe(true);
                  expect(letter.cause).toBe(causes.get(offset));
                  expect(letter.deliveryCount).toBe(deliveries.get(offset));
                  expect(claimedUntil.get(offset) ?? 0).toBeLessThanOrEqual(nowMs);
                  claimedUntil.set(offset, nowMs + deadLetterClaimMs);
                }
                claims.push(letter);
              }
            }
            if (!p.deadLetters) expect(state.ranges.some((r) => r.state === 'archiving')).toBe(false);
            // A dead record leaves the share partition only once its dead letter is written, or the log lost it.
            const inState = (offset: number) => state.ranges.some((r) => r.first <= offset && offset <= r.last);
            const left = (offset: number) => offset < state.startOffset && !inState(offset);
            for (const offset of unlettered) if (left(offset)) expect(offset).toBeLessThan(logStart);
            for (const offset of [...unlettered]) if (left(offset)) unlettered.delete(offset);
            // Records gone from the log leave the share partition: the model counts them done, and held by nobody.
            for (let offset = before.startOffset; offset < Math.min(logStart, state.startOffset); offset++) finished.add(offset);
            for (const offset of holder.keys()) if (left(offset) && !dead.has(offset)) holder.delete(offset);
            checkShape(state, before, finished, delayed, p.maxInFlight);
            expect(state.delayedRecords).toBe(delayed.size);
            for (const range of state.ranges)
              for (let offset = range.first; offset <= range.last; offset++) {
                if (range.state === 'archiving') expect(unlettered.has(offset)).toBe(true);
                if (range.state === 'acknowledged') expect(dead.has(offset)).toBe(false);
              }
          }
          // Whatever writers died, every dead letter not written is claimed (again) by the next change once claims run out.
          const endMs = nowMs + deadLetterClaimMs;
          const looked = expireLocks(state, { nowMs: endMs, deliveryLimit: p.deliveryLimit, deadLetters: p.deadLetters });
          const again = claimDeadLetters(state, looked, endMs).claimed.flatMap((l) =>
            Array.from({ length: l.last - l.first + 1 }, (_, i) => l.first + i),
          );
          const dying = [...holder].filter(
            ([offset, held]) => !dead.has(offset) && held.untilMs <= endMs && deliveries.get(offset)! >= p.deliveryLimit,
          );
          const expected = p.deadLetters ? [...unlettered, ...dying.map(([offset]) => offset)] : [];
          const inFlight = (offset: number) =>
            offset >= state.startOffset || state.ranges.some((r) => r.first <= offset && offset <= r.last);
          expect(new Set(again)).toEqual(new Set(expected.filter(inFlight)));
        },
      ),
      { seed: 20261206, numRuns: 300 },
    );
  });
});

/** Invariants 1 and 5, and that every done offset in flight is known done. */
function checkShape(
  state: SharePartitionState,
  before: SharePartitionState,
  finished: ReadonlySet<number>,
  delayed: ReadonlySet<number>,
  maxInFlight: number,
) {
  expect(state.startOffset).toBeGreaterThanOrEqual(before.startOffset);
  expect(state.endOffset - state.startOffset).toBeLessThanOrEqual(maxInFlight);
  // Passed by the start: done, or in the delay index.
  for (let offset = before.startOffset; offset < state.startOffset; offset++)
    expect(finished.has(offset) || delayed.has(offset)).toBe(true);
  let next: number | undefined;
  let atStart = true;
  state.ranges.forEach((range: InFlightRange, i) => {
    expect(range.last).toBeGreaterThanOrEqual(range.first);
    const previous = state.ranges[i - 1];
    if (previous) expect(range.first).toBeGreaterThan(previous.last);
    if (range.last < state.startOffset) {
      // Come back from the delay index below the start: never done, never deferred again there.
      expect(['available', 'acquired', 'archiving']).toContain(range.state);
      return;
    }
    // From the start on, every offset exactly once (a range may reach back below the start).
    if (next === undefined) expect(range.first).toBeLessThanOrEqual(state.startOffset);
    else expect(range.first).toBe(next);
    next = range.last + 1;
    if (previous && previous.last + 1 === range.first)
      expect(
        previous.state === range.state &&
          previous.deliveryCount === range.deliveryCount &&
          previous.member === range.member &&
          previous.lockedUntilMs === range.lockedUntilMs &&
          previous.cause === range.cause,
      ).toBe(false);
    if (range.state === 'acknowledged' || range.state === 'archived' || range.state === 'deferred') {
      expect(atStart).toBe(false);
      for (let offset = range.first; offset <= range.last; offset++)
        expect(range.state === 'deferred' ? delayed.has(offset) : finished.has(offset)).toBe(true);
    }
    atStart = false;
  });
  expect(next ?? state.startOffset).toBe(state.endOffset);
}
