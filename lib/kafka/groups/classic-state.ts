/**
 * The states of a classic group on its coordinator, as Kafka's ClassicGroupState: each names the
 * states it may follow, and `transition` is the only way a group's phase changes — it refuses any
 * other move with an INTERNAL error (a bug here, never a client's doing). Pure.
 *
 *   Empty ──join──▶ PreparingRebalance ──all joined / rebalance timeout──▶ CompletingRebalance
 *     ▲                    ▲   │                                                 │ leader's SyncGroup, written
 *     └── last member gone ┘   └── join, leave, session expiry ◀── Stable ◀──────┘
 *
 * Dead follows any state: the agent no longer coordinates the group (its lease is gone, the store
 * moved on, or the agent is shutting down); work still in flight finds it Dead and leaves it alone.
 * A group is created Empty, or Stable when an agent takes over a written generation (as Kafka loads
 * a group from its log); that is its first state, not a transition.
 */
import { SpoolError } from '../../errors.js';

export const classicGroupPhases = ['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead'] as const;

export type ClassicGroupPhase = (typeof classicGroupPhases)[number];

/** For each state, the states it may follow. */
export const validPreviousPhases: Readonly<Record<ClassicGroupPhase, readonly ClassicGroupPhase[]>> = {
  Empty: ['PreparingRebalance'],
  PreparingRebalance: ['Empty', 'CompletingRebalance', 'Stable'],
  CompletingRebalance: ['PreparingRebalance'],
  Stable: ['CompletingRebalance'],
  Dead: ['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead'],
};

export function canTransition(from: ClassicGroupPhase, to: ClassicGroupPhase): boolean {
  return validPreviousPhases[to].includes(from);
}

/** Moves the group to `to`; throws INTERNAL (and leaves it as it was) if `to` may not follow its phase. */
export function transition(group: { readonly id: string; readonly phase: ClassicGroupPhase }, to: ClassicGroupPhase): void {
  if (!canTransition(group.phase, to)) {
    throw new SpoolError(
      'INTERNAL',
      `group ${group.id} cannot go from ${group.phase} to ${to}: ${to} follows only ${validPreviousPhases[to].join(', ')}`,
    );
  }
  (group as { phase: ClassicGroupPhase }).phase = to;
}

/** Whether the agent has let the group go: nothing may act on it any more. */
export function isDead(group: { readonly phase: ClassicGroupPhase }): boolean {
  return group.phase === 'Dead';
}
