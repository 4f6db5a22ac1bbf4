import { describe, expect, it } from 'vitest';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import {
  checkUpgrade,
  classicHeartbeat as heartbeatClassic,
  classicJoin,
  classicLeave,
  classicSync,
  downgradeDue,
  fromClassicGroup,
  toClassicState,
  type ClassicGroupSnapshot,
  type ClassicJoinInput,
  type ClassicJoinResult,
} from '../../lib/kafka/groups/consumer-classic.js';
import { decodeAssignment, encodeAssignment, encodeSubscription } from '../../lib/kafka/groups/consumer-protocol.js';
import type { TopicPartitions } from '../../lib/kafka/groups/consumer-assignors.js';
import {
  ConsumerGroupError,
  consumerOffsetFence,
  emptyConsumerGroup,
  groupPhase,
  heartbeat,
  type ConsumerGroup,
  type HeartbeatInput,
} from '../../lib/kafka/groups/consumer-state.js';

const topics = { orders: 4, audit: 2 };
let ids = 0;
const env = { topics, newMemberId: () => `generated-${++ids}`, maxSize: 10 };

/** A classic member's Heartbeat: its answer (the target it brings up to date is not kept here). */
const classicHeartbeat = (group: ConsumerGroup, input: Parameters<typeof heartbeatClassic>[1]) =>
  heartbeatClassic(group, input, topics).errorCode;

function subscription(owned: TopicPartitions = {}, subscribed: readonly string[] = ['orders']): Buffer {
  return encodeSubscription({
    version: 3,
    topics: subscribed,
    userData: null,
    ownedPartitions: Object.entries(owned).map(([topic, partitions]) => ({ topic, partitions })),
    generationId: -1,
    rackId: null,
  });
}

function join(memberId: string, over: Partial<ClassicJoinInput> & { owned?: TopicPartitions } = {}): ClassicJoinInput {
  const { owned, ...rest } = over;
  return {
    apiVersion: 9,
    memberId,
    instanceId: null,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: subscription(owned) }],
    clientId: 'classic',
    clientHost: '/127.0.0.1',
    ...rest,
  };
}

function consumerHeartbeat(memberId: string, memberEpoch: number, owned: TopicPartitions | null = null): HeartbeatInput {
  return {
    apiVersion: 1,
    memberId,
    memberEpoch,
    instanceId: null,
    rackId: null,
    rebalanceTimeoutMs: memberEpoch === 0 ? 30_000 : -1,
    subscribedTopicNames: memberEpoch === 0 ? ['orders'] : null,
    subscribedTopicRegex: null,
    serverAssignor: null,
    ownedTopicPartitions: memberEpoch === 0 ? {} : owned,
    clientId: 'next-gen',
    clientHost: '/127.0.0.1',
  };
}

function joined(result: ClassicJoinResult): Extract<ClassicJoinResult, { kind: 'joined' }> {
  if (result.kind !== 'joined') throw new Error(`expected a join, got ${result.kind}`);
  return result;
}

function refusal(run: () => unknown): number {
  try {
    run();
  } catch (error) {
    if (error instanceof ConsumerGroupError) return error.errorCode;
    throw error;
  }
  throw new Error('expected a refusal');
}

/** Each partition is held (assigned or pending revocation) by at most one member, whichever its protocol. */
function expectExclusive(group: ConsumerGroup): void {
  const seen = new Set<string>();
  for (const m of Object.values(group.members)) {
    for (const set of [m.assigned, m.pendingRevocation]) {
      for (const [t, ps] of Object.entries(set)) {
        for (const p of ps) {
          expect(seen.has(`${t}/${p}`), `${t}/${p} held twice`).toBe(false);
          seen.add(`${t}/${p}`);
        }
      }
    }
  }
}

function synced(group: ConsumerGroup, memberId: string): TopicPartitions {
  const member = group.members[memberId]!;
  const { assignment } = classicSync(group, {
    memberId,
    instanceId: null,
    generationId: member.memberEpoch,
    protocolType: 'consumer',
    protocolName: 'range',
  });
  return Object.fromEntries(decodeAssignment(assignment).partitions.map((tp) => [tp.topic, [...tp.partitions]]));
}

/** A consumer-protocol member `a` holding all of orders. */
function withConsumerMember(): ConsumerGroup {
  const g = heartbeat(emptyConsumerGroup('mixed'), consumerHeartbeat('a', 0), env).group;
  expect(g.members.a!.assigned).toEqual({ orders: [0, 1, 2, 3] });
  return g;
}

describe('kafka > consumer group > classic-protocol members', () => {
  it('asks a dynamic member joining without an id to join again with one (KIP-394), changing nothing', () => {
    const g = withConsumerMember();
    const result = classicJoin(g, join(''), env);
    expect(result.kind).toBe('member-id-required');
    if (result.kind === 'member-id-required') expect(result.memberId).toMatch(/^generated-/);
  });

  it('shares partitions between a consumer-protocol and a classic member, the generation being the member epoch', () => {
    let g = withConsumerMember();
    const b = joined(classicJoin(g, join('b'), env));
    g = b.group;
    expect(b.protocolName).toBe('range');
    expect(b.generationId).toBe(g.members.b!.memberEpoch);
    expect(g.members.b!.classic?.sessionTimeoutMs).toBe(10_000);
    expectExclusive(g);
    // a still holds what b is to get: b waits with nothing, and is not asked to rejoin yet.
    expect(synced(g, 'b')).toEqual({});
    expect(classicHeartbeat(g, { memberId: 'b', instanceId: null, generationId: b.generationId })).toBe(KafkaErrors.NONE);

    // a revokes half, then reports it gone.
    g = heartbeat(g, consumerHeartbeat('a', g.members.a!.memberEpoch, { orders: [0, 1, 2, 3] }), env).group;
    const kept = g.members.a!.assigned;
    g = heartbeat(g, consumerHeartbeat('a', g.members.a!.memberEpoch, kept), env).group;
    expectExclusive(g);

    // The partitions b waited for are free: Heartbeat tells it to rejoin, the rejoin gives them.
    expect(classicHeartbeat(g, { memberId: 'b', instanceId: null, generationId: b.generationId })).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
    const again = joined(classicJoin(g, join('b'), env));
    g = again.group;
    const assignment = synced(g, 'b');
    expect(Object.values(assignment).flat()).toHaveLength(2);
    expect([...(kept.orders ?? []), ...(assignment.orders ?? [])].sort()).toEqual([0, 1, 2, 3]);
    expect(classicHeartbeat(g, { memberId: 'b', instanceId: null, generationId: again.generationId })).toBe(KafkaErrors.NONE);
    expect(groupPhase(g)).toBe('Stable');
    expectExclusive(g);
  });

  it('tells a classic member to rejoin when a consumer-protocol member joins, and lets a cooperative one revoke first', () => {
    let g = joined(classicJoin(emptyConsumerGroup('mixed'), join('b'), env)).group;
    const generation = g.members.b!.memberEpoch;
    expect(synced(g, 'b')).toEqual({ orders: [0, 1, 2, 3] });

    g = heartbeat(g, consumerHeartbeat('a', 0), env).group;
    expect(classicHeartbeat(g, { memberId: 'b', instanceId: null, generationId: generation })).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);

    // A cooperative member rejoins still owning everything: it keeps its epoch and is given only what it keeps.
    const rejoin = joined(classicJoin(g, join('b', { owned: { orders: [0, 1, 2, 3] } }), env));
    g = rejoin.group;
    expect(g.members.b!.state).toBe('UNREVOKED_PARTITIONS');
    expect(rejoin.generationId).toBe(generation);
    const kept = synced(g, 'b');
    expect(Object.values(kept).flat()).toHaveLength(2);
    expect(classicHeartbeat(g, { memberId: 'b', instanceId: null, generationId: generation })).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
    expectExclusive(g);

    // Having revoked, it rejoins owning what it kept, and moves to the group's epoch.
    const done = joined(classicJoin(g, join('b', { owned: kept }), env));
    g = done.group;
    expect(done.generationId).toBe(g.assignmentEpoch);
    expect(g.members.b!.state).toBe('STABLE');
    g = heartbeat(g, consumerHeartbeat('a', g.members.a!.memberEpoch, {}), env).group;
    expect(Object.values(g.members.a!.assigned).flat()).toHaveLength(2);
    expectExclusive(g);
  });

  it('tells a classic member to rejoin when the target moves past its epoch, even with its partitions unchanged (as Kafka 4.4)', () => {
    let g = joined(classicJoin(emptyConsumerGroup('mixed'), join('b'), env)).group;
    const generationId = g.members.b!.memberEpoch;
    expect(classicHeartbeat(g, { memberId: 'b', instanceId: null, generationId })).toBe(KafkaErrors.NONE);
    g = heartbeat(g, { ...consumerHeartbeat('x', 0), subscribedTopicNames: ['audit'] }, env).group;
    expect(g.target.b).toEqual({ orders: [0, 1, 2, 3] });
    expect(classicHeartbeat(g, { memberId: 'b', instanceId: null, generationId })).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
    const again = joined(classicJoin(g, join('b', { owned: { orders: [0, 1, 2, 3] } }), env));
    expect(again.generationId).toBe(again.group.assignmentEpoch);
    expect(classicHeartbeat(again.group, { memberId: 'b', instanceId: null, generationId: again.generationId })).toBe(KafkaErrors.NONE);
  });

  it('brings the target up to date on a Heartbeat, so a group of classic members only moves on after a leave', () => {
    let g = joined(classicJoin(emptyConsumerGroup('classic-only'), join('b'), env)).group;
    g = joined(classicJoin(g, join('c'), env)).group;
    g = joined(classicJoin(g, join('b', { owned: g.members.b!.assigned }), env)).group;
    const generationId = g.members.b!.memberEpoch;
    g = classicLeave(g, [{ memberId: 'c', instanceId: null }]).group;
    expect(g.groupEpoch).toBeGreaterThan(g.assignmentEpoch);
    const beat = heartbeatClassic(g, { memberId: 'b', instanceId: null, generationId }, topics);
    expect(beat.errorCode).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
    expect(beat.group.assignmentEpoch).toBe(beat.group.groupEpoch);
    const rejoined = joined(classicJoin(beat.group, join('b', { owned: beat.group.members.b!.assigned }), env));
    expect(synced(rejoined.group, 'b')).toEqual({ orders: [0, 1, 2, 3] });
  });

  it('refuses protocols the group cannot serve with INCONSISTENT_GROUP_PROTOCOL', () => {
    const g = joined(classicJoin(withConsumerMember(), join('b'), env)).group;
    expect(refusal(() => classicJoin(g, join('c', { protocolType: 'connect' }), env))).toBe(KafkaErrors.INCONSISTENT_GROUP_PROTOCOL);
    const sticky = [{ name: 'cooperative-sticky', metadata: subscription() }];
    expect(refusal(() => classicJoin(g, join('c', { protocols: sticky }), env))).toBe(KafkaErrors.INCONSISTENT_GROUP_PROTOCOL);
    const both = [...sticky, { name: 'range', metadata: subscription() }];
    expect(joined(classicJoin(g, join('c', { protocols: both }), env)).protocolName).toBe('cooperative-sticky');
    const malformed = [{ name: 'range', metadata: Buffer.from([0, 0, 0]) }];
    expect(refusal(() => classicJoin(g, join('c', { protocols: malformed }), env))).toBe(KafkaErrors.INCONSISTENT_GROUP_PROTOCOL);
  });

  it('refuses a JoinGroup under a consumer-protocol member id, and SyncGroup/Heartbeat that do not match the member', () => {
    const g = joined(classicJoin(withConsumerMember(), join('b'), env)).group;
    const generationId = g.members.b!.memberEpoch;
    expect(refusal(() => classicJoin(g, join('a'), env))).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    const sync = { memberId: 'b', instanceId: null, generationId, protocolType: 'consumer', protocolName: 'range' };
    expect(refusal(() => classicSync(g, { ...sync, generationId: generationId + 1 }))).toBe(KafkaErrors.ILLEGAL_GENERATION);
    expect(refusal(() => classicSync(g, { ...sync, protocolName: 'roundrobin' }))).toBe(KafkaErrors.INCONSISTENT_GROUP_PROTOCOL);
    expect(refusal(() => classicSync(g, { ...sync, memberId: 'a' }))).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    expect(refusal(() => classicSync(g, { ...sync, memberId: 'nobody' }))).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    expect(classicSync(g, { ...sync, protocolType: null, protocolName: null }).protocolName).toBe('range');
    expect(refusal(() => classicHeartbeat(g, { memberId: 'b', instanceId: null, generationId: generationId - 1 }))).toBe(
      KafkaErrors.ILLEGAL_GENERATION,
    );
  });

  it('fences commits of a classic member by generation (ILLEGAL_GENERATION), of a consumer-protocol one by epoch', () => {
    const g = joined(classicJoin(withConsumerMember(), join('b'), env)).group;
    const b = g.members.b!;
    const a = g.members.a!;
    expect(consumerOffsetFence(g, { memberId: 'b', memberEpoch: b.memberEpoch, kind: 'commit' })).toBe(KafkaErrors.NONE);
    expect(consumerOffsetFence(g, { memberId: 'b', memberEpoch: b.memberEpoch + 1, kind: 'commit' })).toBe(KafkaErrors.ILLEGAL_GENERATION);
    expect(consumerOffsetFence(g, { memberId: 'a', memberEpoch: a.memberEpoch + 1, kind: 'commit' })).toBe(KafkaErrors.STALE_MEMBER_EPOCH);
  });

  it('lets classic members leave by id or instance id; others in the same request are answered alone', () => {
    let g = joined(classicJoin(withConsumerMember(), join('b'), env)).group;
    g = joined(classicJoin(g, join('s', { instanceId: 'i-1' }), env)).group;
    const epoch = g.groupEpoch;
    const { group, outcomes, removed } = classicLeave(g, [
      { memberId: 'b', instanceId: null },
      { memberId: 'other', instanceId: 'i-1' },
      { memberId: 'a', instanceId: null },
      { memberId: 'nobody', instanceId: null },
    ]);
    expect(outcomes.map((o) => o.errorCode)).toEqual([
      KafkaErrors.NONE,
      KafkaErrors.FENCED_INSTANCE_ID,
      KafkaErrors.UNKNOWN_MEMBER_ID,
      KafkaErrors.UNKNOWN_MEMBER_ID,
    ]);
    expect(removed).toEqual(['b']);
    expect(Object.keys(group.members).sort()).toEqual(['a', 's']);
    expect(group.groupEpoch).toBeGreaterThan(epoch);
    const byInstance = classicLeave(group, [{ memberId: '', instanceId: 'i-1' }]);
    expect(byInstance.outcomes[0]!.errorCode).toBe(KafkaErrors.NONE);
    expect(Object.keys(byInstance.group.members)).toEqual(['a']);
  });

  it('gives a restarted static member its place under a new id, and fences the old id', () => {
    let g = joined(classicJoin(emptyConsumerGroup('mixed'), join('s-1', { instanceId: 'i-1' }), env)).group;
    const before = g.members['s-1']!;
    const restarted = joined(classicJoin(g, join('', { instanceId: 'i-1' }), env));
    g = restarted.group;
    expect(restarted.removed).toEqual(['s-1']);
    expect(g.members['s-1']).toBeUndefined();
    const now = g.members[restarted.memberId]!;
    expect(now.assigned).toEqual(before.assigned);
    expect(restarted.generationId).toBe(before.memberEpoch);
    expect(refusal(() => classicHeartbeat(g, { memberId: 's-1', instanceId: 'i-1', generationId: before.memberEpoch }))).toBe(
      KafkaErrors.FENCED_INSTANCE_ID,
    );
    expect(refusal(() => classicJoin(g, join('s-1', { instanceId: 'i-1' }), env))).toBe(KafkaErrors.FENCED_INSTANCE_ID);
  });

  it('refuses a new member of a full group with GROUP_MAX_SIZE_REACHED, but not a known one rejoining', () => {
    const small = { ...env, maxSize: 2 };
    let g = heartbeat(emptyConsumerGroup('mixed'), consumerHeartbeat('a', 0), small).group;
    g = joined(classicJoin(g, join('b'), small)).group;
    expect(refusal(() => classicJoin(g, join('c'), small))).toBe(KafkaErrors.GROUP_MAX_SIZE_REACHED);
    expect(joined(classicJoin(g, join('b'), small)).memberId).toBe('b');
  });
});

describe('kafka > consumer groups > online migration (pure)', () => {
  const member = (memberId: string, assigned: TopicPartitions, over: Partial<ClassicGroupSnapshot['members'][number]> = {}) => ({
    memberId,
    instanceId: null,
    clientId: 'classic',
    clientHost: '/127.0.0.1',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocols: [{ name: 'range', metadata: subscription() }],
    assignment: encodeAssignment({ partitions: Object.entries(assigned).map(([topic, partitions]) => ({ topic, partitions })) }),
    ...over,
  });
  const snapshot = (members: ClassicGroupSnapshot['members'], over: Partial<ClassicGroupSnapshot> = {}): ClassicGroupSnapshot => ({
    groupId: 'g',
    generation: 4,
    protocolType: 'consumer',
    protocol: 'range',
    members,
    ...over,
  });

  it('fromClassicGroup: every member Stable at the generation, holding and targeted with its last assignment', () => {
    const group = fromClassicGroup(snapshot([member('a', { orders: [0, 1] }), member('b', { orders: [2, 3] })]), topics);
    expect(group).toMatchObject({ groupEpoch: 4, assignmentEpoch: 4, target: { a: { orders: [0, 1] }, b: { orders: [2, 3] } } });
    expect(group.partitionCounts).toEqual({ orders: 4 });
    expect(group.members.a).toMatchObject({ memberEpoch: 4, previousMemberEpoch: 4, state: 'STABLE', assigned: { orders: [0, 1] } });
    expect(group.members.a!.classic).toMatchObject({ sessionTimeoutMs: 10_000, protocols: [{ name: 'range' }] });
    expect(groupPhase(group)).toBe('Stable');
    // Nothing moves until a member joins: a classic member's heartbeat at its generation is NONE.
    expect(classicHeartbeat(group, { memberId: 'a', instanceId: null, generationId: 4 })).toBe(KafkaErrors.NONE);
  });

  it('fromClassicGroup: drops gone topics and partitions, and gives a partition two members were given to the first only', () => {
    const group = fromClassicGroup(
      snapshot([
        member('a', { orders: [0, 1, 9], gone: [0] }),
        member('b', { orders: [1, 2] }),
        member('c', {}, { assignment: Buffer.alloc(0) }),
      ]),
      topics,
    );
    expect(group.members.a!.assigned).toEqual({ orders: [0, 1] });
    expect(group.members.b!.assigned).toEqual({ orders: [2] });
    expect(group.members.c!.assigned).toEqual({});
  });

  it('checkUpgrade and fromClassicGroup refuse with GROUP_ID_NOT_FOUND: policy, protocol type, size, malformed metadata', () => {
    const refusal = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return error instanceof ConsumerGroupError ? [error.errorCode, error.message] : error;
      }
      return 'accepted';
    };
    const two = snapshot([member('a', {}), member('b', {})]);
    expect(refusal(() => checkUpgrade(two, 'bidirectional', 2))).toBe('accepted');
    expect(refusal(() => checkUpgrade(two, 'upgrade', 2))).toBe('accepted');
    expect(refusal(() => checkUpgrade(two, 'downgrade', 2))).toEqual([KafkaErrors.GROUP_ID_NOT_FOUND, expect.stringContaining('disabled')]);
    expect(refusal(() => checkUpgrade(two, 'bidirectional', 1))).toEqual([
      KafkaErrors.GROUP_ID_NOT_FOUND,
      expect.stringContaining('maximum size'),
    ]);
    expect(refusal(() => checkUpgrade({ ...two, protocolType: 'connect' }, 'bidirectional', 2))).toEqual([
      KafkaErrors.GROUP_ID_NOT_FOUND,
      expect.stringContaining('consumer embedded protocol'),
    ]);
    const garbled = snapshot([member('a', {}, { protocols: [{ name: 'range', metadata: Buffer.from([0, 3, 0]) }] })]);
    expect(refusal(() => fromClassicGroup(garbled, topics))).toEqual([
      KafkaErrors.GROUP_ID_NOT_FOUND,
      expect.stringContaining('malformed'),
    ]);
  });

  it('downgradeDue: members left, all classic, and a policy that allows it', () => {
    const classicOnly = fromClassicGroup(snapshot([member('a', { orders: [0] })]), topics);
    expect(downgradeDue(classicOnly, 'bidirectional')).toBe(true);
    expect(downgradeDue(classicOnly, 'downgrade')).toBe(true);
    expect(downgradeDue(classicOnly, 'upgrade')).toBe(false);
    expect(downgradeDue(classicOnly, 'disabled')).toBe(false);
    expect(downgradeDue({ ...classicOnly, members: {} }, 'bidirectional')).toBe(false);
    const mixed = heartbeat(classicOnly, consumerHeartbeat('n', 0), env).group;
    expect(downgradeDue(mixed, 'bidirectional')).toBe(false);
  });

  it('toClassicState: the protocol the members vote for, the first member leading, each target encoded at its subscription version', () => {
    const metadata = (version: number) => encodeSubscription({ version, topics: ['orders'] });
    const group = fromClassicGroup(
      snapshot([
        member(
          'a',
          { orders: [0, 1] },
          {
            protocols: [
              { name: 'cooperative-sticky', metadata: metadata(3) },
              { name: 'range', metadata: metadata(3) },
            ],
          },
        ),
        member(
          'b',
          { orders: [2, 3] },
          {
            protocols: [
              { name: 'range', metadata: metadata(1) },
              { name: 'cooperative-sticky', metadata: metadata(1) },
            ],
          },
        ),
        member(
          'c',
          {},
          {
            protocols: [
              { name: 'range', metadata: metadata(0) },
              { name: 'cooperative-sticky', metadata: metadata(0) },
            ],
          },
        ),
      ]),
      topics,
    );
    const state = toClassicState(group, 1000)!;
    expect(state).toMatchObject({ protocolType: 'consumer', protocol: 'range', leader: 'a', phase: 'Stable' });
    expect(decodeAssignment(state.members.a!.assignment)).toMatchObject({
      version: 3,
      partitions: [{ topic: 'orders', partitions: [0, 1] }],
    });
    expect(decodeAssignment(state.members.b!.assignment)).toMatchObject({
      version: 1,
      partitions: [{ topic: 'orders', partitions: [2, 3] }],
    });
    expect(state.members.a).toMatchObject({
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 30_000,
      topics: ['orders'],
      assigned: ['orders/0', 'orders/1'],
    });
    expect(state.members.a!.metadata.equals(metadata(3))).toBe(true);
    // No protocol common to all: no classic group.
    const apart = fromClassicGroup(
      snapshot([member('a', {}), member('b', {}, { protocols: [{ name: 'roundrobin', metadata: metadata(0) }] })]),
      topics,
    );
    expect(toClassicState(apart, 1000)).toBeUndefined();
  });
});
