/**
 * A share group's members (lib/queues/members.ts): joins, heartbeats, subscription changes, leaves
 * and expired sessions, with the module's invariants as a fast-check property.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assignments,
  emptyMembership,
  heartbeat,
  type ShareHeartbeat,
  type ShareMembership,
  withoutExpired,
} from '../../lib/queues/members.js';

const beat = (memberId: string, memberEpoch: number, topics: readonly string[] | null = null): ShareHeartbeat => ({
  memberId,
  memberEpoch,
  topics,
  rackId: null,
  clientId: 'c',
  clientHost: '/127.0.0.1',
});

describe('queues > share group members', () => {
  it('assigns on join, spreads partitions, shares them when members outnumber them, and bumps the epoch on each change', () => {
    const counts = { orders: 3 };
    let group = heartbeat(emptyMembership, beat('a', 0, ['orders']), 0, counts).next;
    expect(group.groupEpoch).toBe(1);
    expect(assignments(group)).toEqual({ a: { orders: [0, 1, 2] } });
    group = heartbeat(group, beat('b', 0, ['orders']), 0, counts).next;
    expect(assignments(group)).toEqual({ a: { orders: [0, 2] }, b: { orders: [1] } });
    for (const id of ['c', 'd']) group = heartbeat(group, beat(id, 0, ['orders']), 0, counts).next;
    expect(assignments(group)).toEqual({ a: { orders: [0] }, b: { orders: [1] }, c: { orders: [2] }, d: { orders: [0] } });
    expect(group.groupEpoch).toBe(4);
    // A steady heartbeat changes nothing; one from behind is told the current epoch.
    const steady = heartbeat(group, beat('d', 4), 10, counts);
    expect(steady.changed).toBe(false);
    expect(steady.next.groupEpoch).toBe(4);
    expect(heartbeat(group, beat('a', 1), 10, counts)).toMatchObject({
      changed: true,
      next: { groupEpoch: 4, members: { a: { epoch: 4 } } },
    });
    // Partitions added: the next heartbeat sees the new count, and the epoch moves.
    expect(heartbeat(group, beat('a', 1), 10, { orders: 4 }).next.groupEpoch).toBe(5);
    const left = heartbeat(group, beat('b', -1), 10, counts);
    expect(left.next.members.b).toBeUndefined();
    expect(left.next.groupEpoch).toBe(5);
  });

  it('fences an epoch the member was not told, but takes the one before (its answer lost), as Kafka does', () => {
    const counts = { t: 2 };
    let group = heartbeat(emptyMembership, beat('a', 0, ['t']), 0, counts).next; // a told 1
    group = heartbeat(group, beat('b', 0, ['t']), 0, counts).next; // group epoch 2
    const told = heartbeat(group, beat('a', 1), 0, counts).next; // a told 2 (the answer may be lost)
    expect(told.members.a).toMatchObject({ epoch: 2, previousEpoch: 1 });
    expect(heartbeat(told, beat('a', 1), 0, counts).next.members.a!.epoch).toBe(2); // the answer was lost: 1 is still good
    const fenced = (epoch: number) => () => heartbeat(told, beat('a', epoch), 0, counts);
    expect(fenced(3)).toThrow(
      expect.objectContaining({ code: 'FENCED_MEMBER_EPOCH', message: expect.stringContaining('greater member epoch (3)') }),
    );
    // Two behind: b's join and c's, never answered.
    const later = heartbeat(heartbeat(told, beat('c', 0, ['t']), 0, counts).next, beat('a', 2), 0, counts).next; // a told 3, previous 2
    expect(() => heartbeat(later, beat('a', 1), 0, counts)).toThrow(
      expect.objectContaining({ code: 'FENCED_MEMBER_EPOCH', message: expect.stringContaining('smaller member epoch (1)') }),
    );
    // Epoch 0 always (re)joins.
    expect(heartbeat(later, beat('a', 0, ['t']), 0, counts).next.members.a).toBeDefined();
  });

  it('refuses an unknown member (leaving too), an epoch ahead of the group, a join without topics or past the size limit', () => {
    const group = heartbeat(emptyMembership, beat('a', 0, ['t']), 0, { t: 1 }).next;
    expect(() => heartbeat(group, beat('x', 3), 0, { t: 1 })).toThrow(expect.objectContaining({ code: 'UNKNOWN_MEMBER_ID' }));
    expect(() => heartbeat(group, beat('a', 9), 0, { t: 1 })).toThrow(expect.objectContaining({ code: 'FENCED_MEMBER_EPOCH' }));
    expect(() => heartbeat(group, beat('y', 0), 0, { t: 1 })).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
    expect(() => heartbeat(group, beat('z', -1), 0, { t: 1 })).toThrow(expect.objectContaining({ code: 'UNKNOWN_MEMBER_ID' }));
    let full = group;
    for (let i = 1; i < 200; i++) full = heartbeat(full, beat(`m${i}`, 0, ['t']), 0, { t: 1 }).next;
    expect(() => heartbeat(full, beat('one-more', 0, ['t']), 0, { t: 1 })).toThrow(
      expect.objectContaining({ code: 'GROUP_MAX_SIZE_REACHED' }),
    );
    // A topic the caller did not look up (another member's, joined meanwhile) keeps its stored count.
    const other = heartbeat(group, beat('x', 0, ['u']), 0, { t: 1, u: 4 }).next;
    expect(heartbeat(other, beat('a', 1), 0, { t: 1 }).next.partitionCounts).toEqual({ t: 1, u: 4 });
  });

  it('holds its invariants over any run of joins, heartbeats, leaves, resubscriptions, ticks and partition changes', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const topics = ['t1', 't2'];
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('beat' as const),
        id: fc.constantFrom(...ids),
        join: fc.boolean(),
        subscribe: fc.option(fc.subarray(topics)),
      }),
      fc.record({ kind: fc.constant('leave' as const), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant('grow' as const), topic: fc.constantFrom(...topics) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        let group: ShareMembership = emptyMembership;
        const counts: Record<string, number> = { t1: 2, t2: 5 };
        let nowMs = 0;
        const sessionMs = 30;
        for (const step of ops) {
          const before = withoutExpired(group, nowMs, sessionMs);
          if (before !== group) expect(before.groupEpoch).toBe(group.groupEpoch + 1); // 3, 4
          group = before;
          if (step.kind === 'tick') nowMs += step.ms;
          if (step.kind === 'grow') counts[step.topic]! += 1;
          if (step.kind === 'leave' && group.members[step.id]) group = heartbeat(group, beat(step.id, -1), nowMs, counts).next;
          if (step.kind === 'beat') {
            const known = group.members[step.id];
            const request = beat(step.id, step.join || !known ? 0 : known.epoch, step.subscribe ?? (known ? null : ['t1']));
            const { next, changed } = heartbeat(group, request, nowMs, counts);
            const moved =
              !known ||
              step.join ||
              (step.subscribe !== null && [...new Set(step.subscribe)].sort().join() !== known.topics.join()) ||
              Object.entries(next.partitionCounts).some(([t, n]) => group.partitionCounts[t] !== n) ||
              Object.keys(next.partitionCounts).length !== Object.keys(group.partitionCounts).length;
            // 3: the epoch moves by one exactly when something an assignment depends on changed.
            expect(next.groupEpoch).toBe(group.groupEpoch + (moved ? 1 : 0));
            if (moved) expect(changed).toBe(true);
            expect(next.members[step.id]!.epoch).toBe(next.groupEpoch);
            group = next;
          }
          checkAssignment(group);
        }
      }),
      { seed: 20261207, numRuns: 300 },
    );
  });
});

/** Invariants 1 and 2. */
function checkAssignment(group: ShareMembership) {
  const assigned = assignments(group);
  for (const [topic, count] of Object.entries(group.partitionCounts)) {
    const subscribers = Object.keys(group.members).filter((id) => group.members[id]!.topics.includes(topic));
    const holders = new Map<number, number>();
    for (const id of subscribers) for (const p of assigned[id]![topic] ?? []) holders.set(p, (holders.get(p) ?? 0) + 1);
    if (subscribers.length === 0) continue;
    for (let p = 0; p < count; p++) expect(holders.get(p) ?? 0).toBeGreaterThan(0);
    const sizes = subscribers.map((id) => assigned[id]![topic]!.length);
    const sharers = [...holders.values()];
    if (subscribers.length <= count) {
      expect(Math.max(...sharers)).toBe(1);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    } else {
      expect(sizes.every((n) => n === 1)).toBe(true);
      expect(Math.max(...sharers) - Math.min(...sharers)).toBeLessThanOrEqual(1);
    }
  }
  for (const [id, topics] of Object.entries(assigned))
    for (const topic of Object.keys(topics)) expect(group.members[id]!.topics).toContain(topic);
}
