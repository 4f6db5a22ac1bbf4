/**
 * Which protocol holds a group: Spool's HTTP groups (coordinator.ts) or Kafka's classic groups (run by
 * lib/kafka/classic-groups.ts, written through classic.ts). Both keep a group in the same items, and
 * the state item's `classic` says whose it is. The HTTP coordinator asks only the questions here;
 * what a Kafka group's stored members look like stays on this side. Pure.
 *
 * Invariants:
 * - A group changes hands only while it has no live members: members of one kind join, or act as
 *   members, only while the other kind's are gone (`heldByOther`).
 * - Liveness differs by kind (items.ts): an HTTP member lives while its own lease runs; a Kafka
 *   group's members while their coordinator's vouch runs.
 * - Taking a Kafka group over moves its generation on (`takeOver`), in the transaction that checks
 *   its vouch is still the one read (`takeOverChecks`): nothing of the Kafka generation commits after.
 */
import { SpoolError } from '../errors.js';
import { vouchKey } from '../keys.js';
import type { WriteOp } from '../storage/ports.js';
import { liveMembers, type LoadedGroup, type Vouch } from './items.js';
import type { GroupState } from './state.js';

/** Which protocol manages a group: Spool's HTTP groups or Kafka's (classic JoinGroup/SyncGroup, or KIP-848 ConsumerGroupHeartbeat). */
export type GroupKind = 'http' | 'kafka';

export function groupKind(state: GroupState): GroupKind {
  return state.classic || state.consumer ? 'kafka' : 'http';
}

/** Live members of either kind. */
export function liveCount(loaded: LoadedGroup, now: number): number {
  if (groupKind(loaded.state) === 'kafka') return classicLive(loaded, now) ? loaded.state.memberCount : 0;
  return Object.keys(liveMembers(loaded, now)).length;
}

/** Whether a protocol other than `kind` holds the group with live members: then `kind`'s members may not join it. */
export function heldByOther(loaded: LoadedGroup, kind: GroupKind, now: number): boolean {
  return groupKind(loaded.state) !== kind && liveCount(loaded, now) > 0;
}

/** What an HTTP member is told of a group another protocol manages. */
export function heldElsewhere(group: string, state: GroupState): SpoolError {
  return new SpoolError(
    'INCONSISTENT_GROUP_PROTOCOL',
    `group ${group} has ${state.memberCount} live Kafka consumer members (protocol ${state.classic?.protocol ?? 'none yet'}); it takes HTTP members once they have left`,
  );
}

/**
 * The group as HTTP members take it: one another protocol held, whose members are no longer live,
 * becomes an empty HTTP group of the next generation, so nothing of that generation (a coordinator
 * cut off from the store, a member of it) can commit any more. An HTTP group is unchanged.
 */
export function takeOver(state: GroupState): GroupState {
  if (groupKind(state) === 'http') return state;
  return {
    ...state,
    classic: undefined,
    consumer: undefined,
    generation: state.generation + 1,
    assignor: null,
    members: {},
    memberCount: 0,
    target: {},
    owners: {},
  };
}

/** For the transaction that writes `takeOver`: the other protocol's members were read as gone, and must be still. */
export function takeOverChecks(group: string, loaded: LoadedGroup): WriteOp[] {
  if (groupKind(loaded.state) === 'http') return [];
  return [
    {
      kind: 'check',
      key: vouchKey(group),
      condition: loaded.vouch ? { kind: 'match', fields: { aliveUntilMs: loaded.vouch.aliveUntilMs } } : { kind: 'absent' },
    },
  ];
}

/** The members and owners of a group another protocol manages, as HTTP describes groups; undefined for an HTTP group. */
export function heldView(
  state: GroupState,
  vouch: Vouch | undefined,
):
  | {
      readonly assignor: string | null;
      readonly owners: Readonly<Record<string, string>>;
      readonly members: {
        memberId: string;
        topics: readonly string[];
        assigned: readonly string[];
        lastHeartbeatMs: number;
        sessionTimeoutMs: number;
      }[];
    }
  | undefined {
  const { classic, consumer } = state;
  if (consumer) {
    return {
      assignor: consumer.assignor,
      owners: Object.fromEntries(Object.entries(consumer.members).flatMap(([id, m]) => m.assigned.map((key) => [key, id]))),
      members: Object.entries(consumer.members).map(([memberId, member]) => ({
        memberId,
        topics: member.topics,
        assigned: member.assigned,
        lastHeartbeatMs: vouch?.renewedMs ?? 0,
        sessionTimeoutMs: member.sessionTimeoutMs,
      })),
    };
  }
  if (!classic) return undefined;
  return {
    assignor: classic.protocol,
    // What its leader assigned (decoded when the group synced).
    owners: Object.fromEntries(Object.entries(classic.members).flatMap(([id, m]) => m.assigned.map((key) => [key, id]))),
    members: Object.entries(classic.members).map(([memberId, member]) => ({
      memberId,
      topics: member.topics,
      assigned: member.assigned,
      lastHeartbeatMs: vouch?.renewedMs ?? 0,
      sessionTimeoutMs: member.sessionTimeoutMs,
    })),
  };
}

/** Whether a Kafka group's members are vouched for by a live coordinator. */
function classicLive(loaded: LoadedGroup, now: number): boolean {
  return groupKind(loaded.state) === 'kafka' && loaded.state.memberCount > 0 && (loaded.vouch?.aliveUntilMs ?? 0) > now;
}
