/**
 * The classic group states (lib/kafka/groups/classic-state.ts): the table is Kafka's ClassicGroupState,
 * and `transition` takes every move in it and refuses every other, leaving the group as it was.
 */
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import {
  canTransition,
  classicGroupPhases,
  isDead,
  transition,
  validPreviousPhases,
  type ClassicGroupPhase,
} from '../../lib/kafka/groups/classic-state.js';

/** Kafka's ClassicGroupState, written out independently of the module's table. */
const kafka: readonly [from: ClassicGroupPhase, to: ClassicGroupPhase][] = [
  ['Stable', 'PreparingRebalance'],
  ['CompletingRebalance', 'PreparingRebalance'],
  ['Empty', 'PreparingRebalance'],
  ['PreparingRebalance', 'CompletingRebalance'],
  ['CompletingRebalance', 'Stable'],
  ['Stable', 'Dead'],
  ['PreparingRebalance', 'Dead'],
  ['CompletingRebalance', 'Dead'],
  ['Empty', 'Dead'],
  ['Dead', 'Dead'],
  ['PreparingRebalance', 'Empty'],
];

const allPairs = classicGroupPhases.flatMap((from) => classicGroupPhases.map((to) => [from, to] as const));
const valid = allPairs.filter(([from, to]) => kafka.some(([f, t]) => f === from && t === to));
const invalid = allPairs.filter(([from, to]) => !kafka.some(([f, t]) => f === from && t === to));

const groupIn = (phase: ClassicGroupPhase) => ({ id: 'g', phase });

describe('kafka > classic group states', () => {
  it("has Kafka's five states and its table of valid previous states", () => {
    expect([...classicGroupPhases].sort()).toEqual(['CompletingRebalance', 'Dead', 'Empty', 'PreparingRebalance', 'Stable']);
    for (const to of classicGroupPhases) {
      expect([...validPreviousPhases[to]].sort(), to).toEqual(
        kafka
          .filter(([, t]) => t === to)
          .map(([f]) => f)
          .sort(),
      );
    }
    expect(valid).toHaveLength(kafka.length);
  });

  it.each(valid)('moves a group from %s to %s', (from, to) => {
    const group = groupIn(from);
    expect(canTransition(from, to)).toBe(true);
    transition(group, to);
    expect(group.phase).toBe(to);
  });

  it.each(invalid)('refuses to move a group from %s to %s, with an internal error, leaving it as it was', (from, to) => {
    const group = groupIn(from);
    expect(canTransition(from, to)).toBe(false);
    let thrown: unknown;
    try {
      transition(group, to);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SpoolError);
    expect(thrown).toMatchObject({ code: 'INTERNAL', retriable: false });
    expect((thrown as Error).message).toContain(`group g cannot go from ${from} to ${to}`);
    expect(group.phase).toBe(from);
  });

  it('lets anything become Dead, and nothing follow Dead but Dead', () => {
    for (const from of classicGroupPhases) expect(canTransition(from, 'Dead')).toBe(true);
    for (const to of classicGroupPhases) expect(canTransition('Dead', to)).toBe(to === 'Dead');
    expect(isDead(groupIn('Dead'))).toBe(true);
    expect(classicGroupPhases.filter((phase) => isDead(groupIn(phase)))).toEqual(['Dead']);
  });
});
