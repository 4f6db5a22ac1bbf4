/**
 * A consumer group's state and how it changes. Pure: every function takes the state as read and
 * returns the state to write; the coordinator writes it with a compare-and-set on `version`.
 *
 * Invariants (each proved in test/groups):
 *  1. In every state, each partition has at most one owner, and an owner is a member.
 *  2. A partition moves from one live member to another only after its owner has acknowledged the
 *     generation that revoked it — by making a request after it was told of that generation (its
 *     requests are sequential, so it has stopped consuming the partition, and has auto-committed) —
 *     or once the owner has left or its session has expired.
 *  3. The generation increases on every change of membership, subscriptions or partition counts.
 *
 * `target` is what the assignor wants; `owners` is who may consume now. They differ only while a
 * rebalance waits for acknowledgements (state "rebalancing").
 */
import { assign, type AssignorName } from './assignors.js';

export type AutoOffsetReset = 'earliest' | 'latest' | 'none';

export interface MemberState {
  readonly topics: readonly string[];
  readonly sessionTimeoutMs: number;
  readonly autoOffsetReset: AutoOffsetReset;
  readonly autoCommit: boolean;
  readonly joinedMs: number;
  /** Fresh at every join: positions are tagged with it, so a restarted member never inherits (or auto-commits) its previous run's. */
  readonly runId: string;
  /** The generation last sent to this member. */
  readonly notifiedGeneration: number;
}

export interface GroupState {
  /** Random per creation of the group: a group deleted and created again never accepts the old one's writers. */
  readonly incarnation: string;
  readonly generation: number;
  /** Bumped on every write: the compare-and-set field. */
  readonly version: number;
  /** Bumped whenever any owner changes: commits and positions are fenced on it. */
  readonly ownersVersion: number;
  readonly assignor: AssignorName | null;
  readonly members: Readonly<Record<string, MemberState>>;
  readonly memberCount: number;
  readonly partitionCounts: Readonly<Record<string, number>>;
  readonly target: Readonly<Record<string, string>>;
  readonly owners: Readonly<Record<string, string>>;
  /**
   * Present while Kafka's classic protocol (JoinGroup/SyncGroup) manages the group; then `members`,
   * `target` and `owners` stay empty and `memberCount` counts the classic members. Absent for HTTP
   * groups. A group changes hands only while it has no live members.
   */
  readonly classic?: ClassicState;
  /**
   * Present while Kafka's consumer protocol (KIP-848, ConsumerGroupHeartbeat) manages the group; like
   * `classic`, `members`, `target` and `owners` stay empty, `memberCount` counts its members and
   * `generation` is its group epoch. Absent otherwise.
   */
  readonly consumer?: ConsumerProtocolState;
}

/** The durable part of a KIP-848 group: what HTTP describes, and the coordinator's group, opaque here. */
export interface ConsumerProtocolState {
  readonly assignor: string;
  readonly members: Readonly<Record<string, ConsumerProtocolMember>>;
  /** The coordinator's whole group (lib/kafka/groups/consumer-state.ts ConsumerGroup), as plain data. */
  readonly group: Readonly<Record<string, unknown>>;
}

export interface ConsumerProtocolMember {
  readonly topics: readonly string[];
  /** `topic/partition` keys it holds (assigned or still revoking). */
  readonly assigned: readonly string[];
  readonly sessionTimeoutMs: number;
}

/**
 * Kafka's group states, as far as they are written down: a group is written when its leader's
 * assignment is in (Stable) and when its last member goes (Empty); a rebalance in between lives only
 * in the coordinator's memory, as in Kafka.
 */
export type ClassicPhase = 'Empty' | 'Stable';

/** The durable part of a classic group: what a coordinator taking over needs, and what describe shows. */
export interface ClassicState {
  /** "consumer" for Kafka consumers; opaque otherwise. */
  readonly protocolType: string;
  /** The protocol (for consumers, the assignor) chosen for this generation. */
  readonly protocol: string | null;
  readonly leader: string | null;
  readonly phase: ClassicPhase;
  readonly members: Readonly<Record<string, ClassicMember>>;
}

export interface ClassicMember {
  readonly clientId: string;
  readonly clientHost: string;
  readonly groupInstanceId: string | null;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly joinedMs: number;
  /** The member's metadata for the chosen protocol, as it sent it. */
  readonly metadata: Buffer;
  /** The leader's assignment for the member, as sent. */
  readonly assignment: Buffer;
  /** Decoded from `metadata` and `assignment` when the protocol type is "consumer", so lib/groups never parses Kafka formats. */
  readonly topics: readonly string[];
  readonly assigned: readonly string[];
}

export const emptyGroup: GroupState = {
  incarnation: '',
  generation: 0,
  version: 0,
  ownersVersion: 0,
  assignor: null,
  members: {},
  memberCount: 0,
  partitionCounts: {},
  target: {},
  owners: {},
};

export type GroupPhase = 'empty' | 'stable' | 'rebalancing';

export function phaseOf(state: GroupState): GroupPhase {
  if (state.memberCount === 0) return 'empty';
  if (state.classic) return 'stable'; // as last written: a Kafka rebalance is not written
  if (state.consumer) return 'stable'; // KIP-848 groups reconcile member by member: no group-wide rebalance
  const keys = new Set([...Object.keys(state.target), ...Object.keys(state.owners)]);
  for (const key of keys) if (state.target[key] !== state.owners[key]) return 'rebalancing';
  return 'stable';
}

export function assignmentOf(state: GroupState, memberId: string): string[] {
  return Object.keys(state.owners)
    .filter((key) => state.owners[key] === memberId)
    .sort();
}

/** New generation: members and partition counts as given, a fresh target, owners moved where invariant 2 allows. */
export function rebalance(
  state: GroupState,
  members: Readonly<Record<string, MemberState>>,
  partitionCounts: Readonly<Record<string, number>>,
): GroupState {
  const ids = Object.keys(members);
  const assignor = ids.length === 0 ? null : (state.assignor ?? 'range');
  const target =
    assignor === null
      ? {}
      : assign(
          assignor,
          ids.map((memberId) => ({ memberId, topics: members[memberId]!.topics })),
          partitionCounts,
        );
  const next: GroupState = {
    ...state,
    generation: state.generation + 1,
    members,
    memberCount: ids.length,
    partitionCounts,
    target,
    assignor,
  };
  return settle(next);
}

/** The member has acknowledged the current generation: what it was asked to give up moves on. */
export function acknowledge(state: GroupState, memberId: string): GroupState {
  const member = state.members[memberId];
  if (member === undefined || member.notifiedGeneration !== state.generation) return state;
  const given = Object.keys(state.owners).filter((key) => state.owners[key] === memberId && state.target[key] !== memberId);
  if (given.length === 0) return state; // nothing to hand over: the state is unchanged (and need not be written)
  const owners = { ...state.owners };
  for (const key of given) delete owners[key];
  return settle({ ...state, owners });
}

/**
 * Owners after a change: partitions whose owner is gone are free; free partitions go to their target.
 * A live owner keeps a partition (even one targeted elsewhere) until it acknowledges.
 */
function settle(state: GroupState): GroupState {
  const owners: Record<string, string> = {};
  for (const [key, owner] of Object.entries(state.owners)) {
    if (state.members[owner] !== undefined && state.partitionCounts[key.slice(0, key.lastIndexOf('/'))] !== undefined) owners[key] = owner;
  }
  const taken = new Set(Object.keys(owners));
  for (const [key, member] of Object.entries(state.target)) if (!taken.has(key)) owners[key] = member;
  const changed = !sameRecord(owners, state.owners);
  return { ...state, owners, ownersVersion: state.ownersVersion + (changed ? 1 : 0) };
}

export function notified(state: GroupState, memberId: string): GroupState {
  const member = state.members[memberId];
  if (member === undefined || member.notifiedGeneration === state.generation) return state;
  return { ...state, members: { ...state.members, [memberId]: { ...member, notifiedGeneration: state.generation } } };
}

function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}
