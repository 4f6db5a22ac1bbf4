/**
 * The group state machine's invariants, over random sequences of joins, leaves, expiries and
 * acknowledgements with 1–5 members and 1–12 partitions (seeded, so failures reproduce).
 */
import { describe, expect, it } from 'vitest';
import { assign, tpKey } from '../../lib/groups/assignors.js';
import { acknowledge, emptyGroup, notified, phaseOf, rebalance, type GroupState, type MemberState } from '../../lib/groups/state.js';

const member = (topics: string[] = ['t']): MemberState => ({
  topics,
  sessionTimeoutMs: 30_000,
  autoOffsetReset: 'latest',
  autoCommit: true,
  joinedMs: 0,
  runId: 'r',
  notifiedGeneration: -1,
});

function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('groups > assignors', () => {
  it('range: contiguous ranges per topic, the first members taking the remainder', () => {
    const members = [
      { memberId: 'b', topics: ['t'] },
      { memberId: 'a', topics: ['t', 'u'] },
      { memberId: 'c', topics: ['t'] },
    ];
    expect(assign('range', members, { t: 7, u: 2 })).toEqual({
      't/0': 'a',
      't/1': 'a',
      't/2': 'a',
      't/3': 'b',
      't/4': 'b',
      't/5': 'c',
      't/6': 'c',
      'u/0': 'a',
      'u/1': 'a',
    });
  });

  it('roundrobin: pairs dealt in turn, skipping members not subscribed', () => {
    const members = [
      { memberId: 'a', topics: ['t'] },
      { memberId: 'b', topics: ['t', 'u'] },
    ];
    expect(assign('roundrobin', members, { t: 3, u: 2 })).toEqual({ 't/0': 'a', 't/1': 'b', 't/2': 'a', 'u/0': 'b', 'u/1': 'b' });
  });

  it('leaves members beyond the partition count idle', () => {
    const members = ['a', 'b', 'c'].map((memberId) => ({ memberId, topics: ['t'] }));
    expect(Object.values(assign('range', members, { t: 2 })).sort()).toEqual(['a', 'b']);
  });
});

describe('groups > state invariants', () => {
  it('never gives a partition to two members, nor moves one from a live owner before it acknowledges', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed);
      const partitions = 1 + Math.floor(next() * 12);
      let state: GroupState = emptyGroup;
      const ids = ['m1', 'm2', 'm3', 'm4', 'm5'];
      for (let step = 0; step < 40; step++) {
        const before = state;
        const id = ids[Math.floor(next() * ids.length)]!;
        const action = next();
        if (action < 0.3 && Object.keys(state.members).length < 5) {
          state = rebalance(state, { ...state.members, [id]: member() }, { t: partitions });
        } else if (action < 0.45 && state.members[id]) {
          const members = { ...state.members };
          delete members[id]; // left, or its session expired
          state = rebalance(state, members, { t: partitions });
        } else if (state.members[id]) {
          state = notified(acknowledge(state, id), id); // a request from the member
        }
        // 1: one owner per partition, and owners are members.
        for (const owner of Object.values(state.owners)) expect(state.members[owner]).toBeDefined();
        // 2: a partition leaves a live owner only if that owner acknowledged the current generation.
        for (const [key, owner] of Object.entries(before.owners)) {
          const now = state.owners[key];
          if (now !== undefined && now !== owner && state.members[owner] !== undefined) {
            expect(before.members[owner]!.notifiedGeneration).toBe(before.generation);
            expect(id).toBe(owner);
          }
        }
        // 3: membership changes bump the generation.
        if (Object.keys(before.members).join() !== Object.keys(state.members).join())
          expect(state.generation).toBeGreaterThan(before.generation);
      }
      // Once every member has been told and answered, the group is stable with every partition owned.
      for (let round = 0; round < 2; round++) for (const id of Object.keys(state.members)) state = notified(acknowledge(state, id), id);
      if (Object.keys(state.members).length > 0) {
        expect(phaseOf(state)).toBe('stable');
        expect(Object.keys(state.owners).sort()).toEqual(Array.from({ length: partitions }, (_, p) => tpKey('t', p)).sort());
      }
    }
  });
});
