/**
 * What a classic group's coordinator reads and writes (through lib/groups/classic.ts), and whether
 * the group is its to hold. Nothing per heartbeat:
 * - when the leader's assignment is in: generation, protocol, leader, members (their metadata and
 *   assignment, group instance ids, and the consumer protocol decoded for GET /v1/groups/{group});
 *   compare-and-set, so a coordinator that lost the group cannot overwrite who took it; the same
 *   generation again when a static member's next incarnation takes its place (its new member id);
 * - when the last member goes: the group, Empty;
 * - about twice per the members' longest timeout, while members are live: the coordinator's vouch
 *   (until when HTTP readers count them as live). The vouch is written before any state that shows
 *   live members, so the store never shows live members without one (HTTP would take the group).
 *
 * Writes of a group run one at a time, in the order asked for; a write that finds the group changed
 * under it by someone with live members, or a newer generation, lets the group go (NOT_COORDINATOR).
 */
import { tpKey } from '../../groups/assignors.js';
import { saveClassicState, vouchForMembers } from '../../groups/classic.js';
import { loadGroup } from '../../groups/items.js';
import { heldByOther, liveCount } from '../../groups/ownership.js';
import type { ClassicMember, GroupState } from '../../groups/state.js';
import { ConditionFailedError } from '../../storage/ports.js';
import { decodeAssignment, decodeSubscription } from './consumer-protocol.js';
import { KafkaErrors } from '../errors.js';
import { isDead } from './classic-state.js';
import { errorMessage, GroupRefusal, type Group, type GroupContext } from './group.js';

export class ClassicGroupStore {
  constructor(private readonly context: GroupContext) {}

  /**
   * The group as the store has it: Empty, or — taking over from another agent — Stable at the last
   * written generation, each member with a fresh session (whose timer the caller starts).
   */
  async load(groupId: string): Promise<Group> {
    const loaded = await loadGroup(this.context.metadata, groupId, this.context.groups.topicIdentities);
    const { state } = loaded;
    const classic = state.classic;
    const takingOver = classic !== undefined && classic.phase === 'Stable' && state.memberCount > 0;
    const group: Group = {
      id: groupId,
      phase: takingOver ? 'Stable' : 'Empty',
      generation: state.generation,
      protocolType: classic?.protocolType ?? null,
      protocol: takingOver ? classic.protocol : null,
      leader: takingOver ? classic.leader : null,
      members: new Map(),
      pending: new Map(),
      awaitingSync: new Set(),
      stored: state,
      storedExists: loaded.exists,
      committed: new Map(),
      vouchedUntilMs: loaded.vouch?.aliveUntilMs ?? 0,
      vouching: false,
      queue: Promise.resolve(),
    };
    if (takingOver) {
      const now = this.context.scheduler.now();
      for (const [id, stored] of Object.entries(classic.members)) {
        group.members.set(id, {
          id,
          groupInstanceId: stored.groupInstanceId,
          clientId: stored.clientId,
          clientHost: stored.clientHost,
          sessionTimeoutMs: stored.sessionTimeoutMs,
          rebalanceTimeoutMs: stored.rebalanceTimeoutMs,
          protocols: classic.protocol === null ? [] : [{ name: classic.protocol, metadata: stored.metadata }],
          metadata: stored.metadata,
          assignment: stored.assignment,
          joinedMs: stored.joinedMs,
          deadlineMs: now + stored.sessionTimeoutMs,
        });
      }
    }
    return group;
  }

  /** Before the first join of an Empty group: refuses it if HTTP members hold it (and bases the next write on the store as it is). */
  async refuseIfHeldByOther(group: Group): Promise<void> {
    const loaded = await loadGroup(this.context.metadata, group.id, this.context.groups.topicIdentities);
    if (group.phase !== 'Empty') return;
    group.stored = loaded.state;
    group.storedExists = loaded.exists;
    group.generation = Math.max(group.generation, loaded.state.generation);
    if (heldByOther(loaded, 'kafka', this.context.scheduler.now())) {
      throw new GroupRefusal(
        KafkaErrors.INCONSISTENT_GROUP_PROTOCOL,
        `group ${group.id} has live HTTP members; Kafka consumers may join once they have left`,
      );
    }
    // A consumer-protocol group with members serves classic members itself (ClassicGroups routes them
    // there); one that gained its members after that routing is not taken over: the member joins again.
    if (loaded.state.consumer !== undefined && liveCount(loaded, this.context.scheduler.now()) > 0) {
      throw new GroupRefusal(
        KafkaErrors.INCONSISTENT_GROUP_PROTOCOL,
        `group ${group.id} has live members using the consumer protocol (group.protocol=consumer); classic members may join once they have left`,
      );
    }
  }

  /** Writes run one at a time per group, in the order they were asked for; one that fails lets the group go. */
  enqueue(group: Group, task: () => Promise<void>): void {
    group.queue = group.queue.then(task).catch((error: unknown) => {
      this.context.logger?.log('error', 'kafka group write failed', { group: group.id, message: errorMessage(error) });
      this.context.drop(group.id, KafkaErrors.COORDINATOR_NOT_AVAILABLE);
    });
  }

  /**
   * Writes the generation with the leader's assignment (the vouch first), unless `current()` turns
   * false meanwhile. Answers whether it was written; a failure of the store is thrown.
   */
  async writeStable(group: Group, generation: number, assigning: ReadonlyMap<string, Buffer>, current: () => boolean): Promise<boolean> {
    const consumer = group.protocolType === 'consumer';
    const members: Record<string, ClassicMember> = {};
    for (const m of group.members.values()) {
      const assignment = assigning.get(m.id) ?? Buffer.alloc(0);
      members[m.id] = {
        clientId: m.clientId,
        clientHost: m.clientHost,
        groupInstanceId: m.groupInstanceId,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        joinedMs: m.joinedMs,
        metadata: m.metadata,
        assignment,
        topics: consumer ? subscribedTopics(m.metadata) : [],
        assigned: consumer ? assignedKeys(assignment) : [],
      };
    }
    const next: GroupState = {
      ...group.stored,
      generation,
      assignor: null,
      members: {},
      memberCount: group.members.size,
      target: {},
      owners: {},
      classic: { protocolType: group.protocolType ?? '', protocol: group.protocol, leader: group.leader, phase: 'Stable', members },
      consumer: undefined,
    };
    await this.vouch(group);
    if (!current()) return false; // a rebalance began meanwhile: its members were told
    return this.write(group, next);
  }

  async writeEmpty(group: Group): Promise<void> {
    // Only a group the store knows with Kafka members needs writing.
    if (group.stored.classic === undefined || group.stored.memberCount === 0) return;
    try {
      await this.write(group, {
        ...group.stored,
        generation: group.generation,
        memberCount: 0,
        classic: { protocolType: group.protocolType ?? '', protocol: null, leader: null, phase: 'Empty', members: {} },
      });
    } catch (error) {
      // The store still shows the last members; once the vouch for them runs out, readers count none.
      this.context.logger?.log('warn', 'kafka group could not be written empty', { group: group.id, message: errorMessage(error) });
    }
  }

  /**
   * Renews the coordinator's vouch for the members once half of it has run: a member may be silent
   * for its session timeout (or, while rebalancing, its rebalance timeout), so that is the window.
   */
  async vouch(group: Group): Promise<void> {
    const now = this.context.scheduler.now();
    const windowMs = Math.max(0, ...[...group.members.values()].map((m) => Math.max(m.sessionTimeoutMs, m.rebalanceTimeoutMs)));
    if (group.members.size === 0 || group.vouching || isDead(group) || group.vouchedUntilMs - now > windowMs / 2) return;
    group.vouching = true;
    try {
      await vouchForMembers(this.context.metadata, group.id, now + windowMs, now);
      group.vouchedUntilMs = now + windowMs;
    } catch (error) {
      this.context.logger?.log('warn', 'kafka group vouch not renewed', { group: group.id, message: errorMessage(error) });
    } finally {
      group.vouching = false;
    }
  }

  /**
   * Compare-and-set of the state item, by the group's coordinator only. If someone else wrote it
   * meanwhile and it neither has live members nor a newer generation, write over it; otherwise the
   * group is no longer this agent's to coordinate: it is dropped (false), and its members, told
   * NOT_COORDINATOR, find the group again. A failure of the store is thrown.
   */
  private async write(group: Group, next: GroupState): Promise<boolean> {
    // Timers run on after the lease is lost (no request came to say so): such an agent must not write.
    if (isDead(group) || !(await this.context.cluster.coordinates(group.id))) {
      this.context.drop(group.id, KafkaErrors.NOT_COORDINATOR);
      return false;
    }
    for (let attempt = 0; attempt < 3 && !isDead(group); attempt++) {
      try {
        group.stored = await saveClassicState(
          this.context.metadata,
          group.id,
          { state: group.stored, exists: group.storedExists },
          next,
          this.context.scheduler.now(),
        );
        group.storedExists = true;
        return true;
      } catch (error) {
        if (!(error instanceof ConditionFailedError)) throw error;
        const loaded = await loadGroup(this.context.metadata, group.id, this.context.groups.topicIdentities);
        if (liveCount(loaded, this.context.scheduler.now()) > 0 || loaded.state.generation >= next.generation) break;
        group.stored = loaded.state;
        group.storedExists = loaded.exists;
        next = { ...next, incarnation: loaded.state.incarnation };
      }
    }
    this.context.logger?.log('info', 'kafka group changed under its coordinator; letting it go', { group: group.id });
    this.context.drop(group.id, KafkaErrors.NOT_COORDINATOR);
    return false;
  }
}

function subscribedTopics(metadata: Buffer): string[] {
  try {
    return [...decodeSubscription(metadata).topics].sort();
  } catch {
    return []; // not the consumer protocol as Spool knows it: shown without topics
  }
}

function assignedKeys(assignment: Buffer): string[] {
  try {
    return decodeAssignment(assignment).partitions.flatMap(({ topic, partitions }) => partitions.map((p) => tpKey(topic, p)));
  } catch {
    return [];
  }
}
