/**
 * A classic group as its coordinator holds it in memory, what every part of the coordinator reaches
 * (GroupContext), and the answers they give members. No I/O here.
 *
 * Invariants:
 * - `phase` changes only through classic-state.ts's `transition` (it is readonly everywhere else).
 * - A member waits in at most one JoinGroup and one SyncGroup (`joining`, `syncing`); whoever ends
 *   the wait answers it and clears it (`failJoin`, `failSync`), so no request is answered twice or
 *   left hanging.
 */
import { checkGroupName } from '../../groups/items.js';
import type { GroupCoordinator } from '../../groups/coordinator.js';
import type { GroupState } from '../../groups/state.js';
import type { Log } from '../../log/index.js';
import type { Logger } from '../../logger.js';
import type { MetadataStore } from '../../storage/ports.js';
import type { JoinGroupRequestProtocol as GroupProtocol, JoinGroupResponse } from '../protocol/messages/join-group.js';
import type { SyncGroupResponse } from '../protocol/messages/sync-group.js';
import type { ClusterView } from '../cluster.js';
import { KafkaErrors } from '../errors.js';
import type { ClassicGroupPhase } from './classic-state.js';

/** A whole request refused with one Kafka error code (the handler builds the answer). */
export class GroupRefusal extends Error {
  constructor(
    readonly errorCode: number,
    message: string,
    /** JoinGroup's MEMBER_ID_REQUIRED: the id to join with. */
    readonly memberId?: string,
  ) {
    super(message);
    this.name = 'GroupRefusal';
  }
}

/** A member's request that found its group converted between the protocols meanwhile: it is routed again. */
export class Rerouted extends Error {
  constructor(groupId: string) {
    super(`group ${groupId} changed protocol while the request waited`);
    this.name = 'Rerouted';
  }
}

/** Time and timers, injectable so tests step through sessions and rebalances deterministically. */
export interface Scheduler {
  now(): number;
  /**
   * Runs `task` after `delayMs`; the returned function cancels it. A task may return the promise of the
   * work it starts (settling, never rejecting, once done): a test's scheduler awaits it.
   */
  schedule(delayMs: number, task: () => void | Promise<void>): () => void;
}

export const realScheduler: Scheduler = {
  now: Date.now,
  schedule(delayMs, task) {
    const timer = setTimeout(task, delayMs);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** Who sent a request, as DescribeGroups shows members. */
export interface ClientInfo {
  readonly clientId: string;
  readonly clientHost: string;
}

export interface Member {
  /** Changes only when a static member's next incarnation takes its place (a new id, all else kept). */
  id: string;
  /** A static member's (KIP-345): at most one member of a group has it; set when it joins, never changed after. */
  readonly groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  /** In the member's order of preference. A member read from the store has only the chosen one. */
  protocols: readonly GroupProtocol[];
  /** Its metadata for the chosen protocol (once a generation is complete). */
  metadata: Buffer;
  assignment: Buffer;
  readonly joinedMs: number;
  /** The session ends at this time unless renewed. */
  deadlineMs: number;
  cancelSessionTimer?: () => void;
  /** Set while its JoinGroup waits for the rebalance. */
  joining?: (response: JoinGroupResponse) => void;
  /** Set while its SyncGroup waits for the leader's assignment. */
  syncing?: (response: SyncGroupResponse) => void;
}

export interface Group {
  readonly id: string;
  /** Changed only by `transition` (classic-state.ts). Dead once this agent has let the group go. */
  readonly phase: ClassicGroupPhase;
  generation: number;
  protocolType: string | null;
  protocol: string | null;
  leader: string | null;
  readonly members: Map<string, Member>;
  /** Member ids handed out with MEMBER_ID_REQUIRED, not yet joined with: each expires after its session timeout. */
  readonly pending: Map<string, () => void>;
  /** The state item as last read or written: the base of the next compare-and-set. */
  stored: GroupState;
  storedExists: boolean;
  /** The rebalance's one timer: the initial delay, the wait for joins, then the wait for every member's SyncGroup. */
  cancelRebalanceTimer?: () => void;
  /** Members of the generation that have sent no SyncGroup yet (Kafka's pending sync): those left at the rebalance timeout are out. */
  readonly awaitingSync: Set<string>;
  /** The first generation of a group waits `initialRebalanceDelayMs` for more members, up to this time. */
  initialJoinUntilMs?: number;
  /** The leader's assignment, while it is being written. */
  assigning?: ReadonlyMap<string, Buffer>;
  /** What this coordinator last committed per partition (and of which topic incarnation) in this generation: an unchanged commit is not written again. */
  readonly committed: Map<string, { offset: number; metadata: string | null; topicId: string }>;
  vouchedUntilMs: number;
  vouching: boolean;
  /** Writes, one at a time. */
  queue: Promise<void>;
}

/** What the parts of the coordinator share: the store, the clock, and the groups this agent coordinates. */
export interface GroupContext {
  readonly log: Log;
  readonly metadata: MetadataStore;
  /** The HTTP groups over the same store: for describing them to Kafka tools and for commits from outside a group. */
  readonly groups: GroupCoordinator;
  readonly cluster: ClusterView;
  readonly logger?: Logger;
  readonly scheduler: Scheduler;
  /** The groups this agent coordinates now, by id. */
  readonly coordinated: ReadonlyMap<string, Group>;
  /**
   * The group, once this agent is known to coordinate it (NOT_COORDINATOR otherwise); read from the store the
   * first time. A member's JoinGroup/SyncGroup/Heartbeat/LeaveGroup asks `forMember`: if the group was being
   * converted to a consumer group meanwhile, that is `Rerouted` (the request goes there instead).
   */
  group(groupId: string, forMember?: boolean): Promise<Group>;
  /** Refuses with NOT_COORDINATOR (and lets the group go) unless this agent coordinates it. */
  requireCoordinator(groupId: string): Promise<void>;
  /** This agent no longer coordinates the group: waiting members are told `errorCode`, and it is Dead. */
  drop(groupId: string, errorCode: number): void;
}

export function errorJoin(memberId: string, errorCode: number): JoinGroupResponse {
  return {
    throttleTimeMs: 0,
    errorCode,
    generationId: -1,
    protocolType: null,
    protocolName: '',
    leader: '',
    skipAssignment: false,
    memberId,
    members: [],
  };
}

export function errorSync(errorCode: number): SyncGroupResponse {
  return { throttleTimeMs: 0, errorCode, protocolType: null, protocolName: null, assignment: Buffer.alloc(0) };
}

/** Ends the member's waiting JoinGroup, if any, with `errorCode`. */
export function failJoin(member: Member, errorCode: number): void {
  member.joining?.(errorJoin(member.id, errorCode));
  member.joining = undefined;
}

/** Ends the member's waiting SyncGroup, if any, with `errorCode`. */
export function failSync(member: Member, errorCode: number): void {
  member.syncing?.(errorSync(errorCode));
  member.syncing = undefined;
}

/** The id of the member that holds this group instance id now, if any. */
export function staticMemberId(group: Group, groupInstanceId: string): string | undefined {
  for (const member of group.members.values()) if (member.groupInstanceId === groupInstanceId) return member.id;
  return undefined;
}

/**
 * The member a request names, as Kafka's validateMember: with a group instance id, that instance must
 * be in the group under this member id (FENCED_INSTANCE_ID when it is under another: the request comes
 * from an incarnation another has replaced); and the member must be in the group (UNKNOWN_MEMBER_ID).
 */
export function validateMember(group: Group, memberId: string, groupInstanceId: string | null): Member {
  if (groupInstanceId !== null) {
    const current = staticMemberId(group, groupInstanceId);
    if (current === undefined) throw unknownMember(group, memberId);
    if (current !== memberId) {
      throw new GroupRefusal(
        KafkaErrors.FENCED_INSTANCE_ID,
        `member ${memberId} of group ${group.id} was replaced by member ${current} with the same group instance id ${groupInstanceId}`,
      );
    }
  }
  const member = group.members.get(memberId);
  if (member === undefined) throw unknownMember(group, memberId);
  return member;
}

/** The member, if it is in the group (and holds the instance id it names) at this generation. */
export function memberOf(group: Group, memberId: string, generationId: number, groupInstanceId: string | null = null): Member {
  const member = validateMember(group, memberId, groupInstanceId);
  if (generationId !== group.generation) {
    throw new GroupRefusal(
      KafkaErrors.ILLEGAL_GENERATION,
      `generation ${generationId} is not group ${group.id}'s current ${group.generation}`,
    );
  }
  return member;
}

/**
 * The protocol a group's members use, from each member's protocol names in its order of preference (Kafka's
 * ClassicGroup.selectProtocol): each member votes for its most preferred protocol that every member supports;
 * the most votes wins (first named on a tie). Undefined when no protocol is common to all (or no members).
 */
export function voteProtocol(preferences: readonly (readonly string[])[]): string | undefined {
  const [first, ...others] = preferences;
  if (first === undefined) return undefined;
  const candidates = first.filter((name) => others.every((names) => names.includes(name)));
  if (candidates.length === 0) return undefined;
  const votes = new Map<string, number>(candidates.map((name) => [name, 0]));
  for (const names of preferences) {
    const vote = names.find((name) => votes.has(name))!;
    votes.set(vote, votes.get(vote)! + 1);
  }
  return [...votes.entries()].reduce((best, entry) => (entry[1] > best[1] ? entry : best))[0];
}

export function unknownMember(group: Group, memberId: string): GroupRefusal {
  return new GroupRefusal(KafkaErrors.UNKNOWN_MEMBER_ID, `member ${memberId} is not in group ${group.id}`);
}

export function notCoordinator(groupId: string): GroupRefusal {
  return new GroupRefusal(KafkaErrors.NOT_COORDINATOR, `this agent does not coordinate group ${groupId}`);
}

export function checkGroupId(groupId: string): void {
  try {
    checkGroupName(groupId);
  } catch (error) {
    throw new GroupRefusal(KafkaErrors.INVALID_GROUP_ID, errorMessage(error));
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
