import { describe, expect, it } from 'vitest';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import { assignConsumers, compileTopicRegex, type TopicPartitions } from '../../lib/kafka/groups/consumer-assignors.js';
import {
  ConsumerGroupError,
  consumerOffsetFence,
  emptyConsumerGroup,
  groupPhase,
  heartbeat,
  partitionHolders,
  removeMember,
  type ConsumerGroup,
  type HeartbeatInput,
} from '../../lib/kafka/groups/consumer-state.js';

const topics = { orders: 4, audit: 2, 'logs-a': 1, 'logs-b': 3, other: 1 };
let ids = 0;
const env = { topics, newMemberId: () => `generated-${++ids}`, maxSize: 10 };

function input(memberId: string, memberEpoch: number, over: Partial<HeartbeatInput> = {}): HeartbeatInput {
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
    ownedTopicPartitions: memberEpoch === 0 ? {} : null,
    clientId: 'c',
    clientHost: '/127.0.0.1',
    ...over,
  };
}

/** Invariant 1: each partition is held (assigned or pending revocation) by at most one member. */
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
    expect(m.memberEpoch).toBeLessThanOrEqual(group.assignmentEpoch);
  }
  expect(group.assignmentEpoch).toBeLessThanOrEqual(group.groupEpoch);
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

const count = (tp: TopicPartitions): number => Object.values(tp).reduce((n, ps) => n + ps.length, 0);

describe('consumer groups > assignors', () => {
  it('uniform: balances homogeneous members to within one, each partition once', () => {
    const members = ['a', 'b', 'c'].map((memberId) => ({ memberId, topics: ['orders', 'audit'], current: {} }));
    const out = assignConsumers('uniform', members, topics);
    expect(Object.values(out).map(count).sort()).toEqual([2, 2, 2]);
    const all = Object.values(out).flatMap((tp) => Object.entries(tp).flatMap(([t, ps]) => ps.map((p) => `${t}/${p}`)));
    expect(new Set(all).size).toBe(6);
  });

  it('uniform: is sticky — a joining member takes partitions only from the overloaded', () => {
    const before = assignConsumers('uniform', [{ memberId: 'a', topics: ['orders'], current: {} }], topics);
    expect(before.a).toEqual({ orders: [0, 1, 2, 3] });
    const after = assignConsumers(
      'uniform',
      [
        { memberId: 'a', topics: ['orders'], current: before.a! },
        { memberId: 'b', topics: ['orders'], current: {} },
      ],
      topics,
    );
    expect(count(after.a!)).toBe(2);
    expect(count(after.b!)).toBe(2);
    expect(after.a!.orders!.every((p) => before.a!.orders!.includes(p))).toBe(true);
  });

  it('uniform: heterogeneous subscriptions only get topics they subscribe to', () => {
    const out = assignConsumers(
      'uniform',
      [
        { memberId: 'a', topics: ['orders', 'audit'], current: {} },
        { memberId: 'b', topics: ['audit'], current: {} },
      ],
      topics,
    );
    expect(out.b!.orders).toBeUndefined();
    expect(count(out.a!) + count(out.b!)).toBe(6);
    expect(out.a!.orders).toEqual([0, 1, 2, 3]);
  });

  it('uniform: over random joins and leaves, every partition once, sizes within one, kept partitions stay', () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % n;
    };
    const counts = { x: 5, y: 3, z: 7 };
    let current: Record<string, TopicPartitions> = {};
    for (let step = 0; step < 200; step++) {
      const ids = Object.keys(current);
      if (ids.length === 0 || (ids.length < 6 && random(2) === 0)) current[`m${step}`] = {};
      else delete current[ids[random(ids.length)]!];
      const members = Object.keys(current).map((memberId) => ({ memberId, topics: ['x', 'y', 'z'], current: current[memberId]! }));
      const next = assignConsumers('uniform', members, counts);
      const sizes = Object.values(next).map(count);
      expect(sizes.reduce((a, b) => a + b)).toBe(15);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      const seen = new Set(Object.values(next).flatMap((tp) => Object.entries(tp).flatMap(([t, ps]) => ps.map((p) => `${t}/${p}`))));
      expect(seen.size).toBe(15);
      // Sticky: a member that did not exceed its new quota keeps all it had.
      const ceiling = Math.ceil(15 / members.length);
      for (const m of members) {
        if (count(m.current) <= Math.floor(15 / members.length)) {
          for (const [t, ps] of Object.entries(m.current)) for (const p of ps) expect(next[m.memberId]![t]).toContain(p);
        }
        expect(count(next[m.memberId]!)).toBeLessThanOrEqual(ceiling);
      }
      current = next;
    }
  });

  it('range: contiguous ranges by member id, the first members one extra', () => {
    const out = assignConsumers(
      'range',
      [
        { memberId: 'b', topics: ['logs-b', 'orders'], current: {} },
        { memberId: 'a', topics: ['logs-b', 'orders'], current: {} },
      ],
      topics,
    );
    expect(out.a).toEqual({ 'logs-b': [0, 1], orders: [0, 1] });
    expect(out.b).toEqual({ 'logs-b': [2], orders: [2, 3] });
  });

  it('ignores topics that do not exist', () => {
    const out = assignConsumers('uniform', [{ memberId: 'a', topics: ['missing', 'other'], current: { missing: [0] } }], topics);
    expect(out.a).toEqual({ other: [0] });
  });
});

describe('consumer groups > regex subscriptions', () => {
  it('matches the whole topic name, in RE2/J syntax as Kafka compiles it', () => {
    const matches = (source: string, topic: string) => {
      const regex = compileTopicRegex(source);
      if (typeof regex === 'string') throw new Error(regex);
      return regex.test(topic);
    };
    expect(matches('logs-.*', 'logs-a')).toBe(true);
    expect(matches('logs-.*', 'xlogs-a')).toBe(false);
    expect(matches('ord', 'orders')).toBe(false);
    expect(matches('(?P<x>or)ders|a[u]dit', 'audit')).toBe(true);
    expect(matches('(?i)orders', 'ORDERS')).toBe(true);
    expect(matches('\\Qa.b\\E', 'a.b')).toBe(true);
    expect(matches('\\Qa.b\\E', 'axb')).toBe(false);
  });

  it('refuses what RE2/J refuses (look-around, back-references, bad syntax)', () => {
    for (const bad of ['(?=x)y', '(a)\\1', '[a', '(?<!x)y', 'a**']) expect(typeof compileTopicRegex(bad)).toBe('string');
  });

  it('matches in time linear in the name: a pattern that makes a backtracking engine run for seconds answers at once', () => {
    const regex = compileTopicRegex('(.*.*)*x');
    if (typeof regex === 'string') throw new Error(regex);
    const topics = Array.from({ length: 200 }, (_, i) => `${'a'.repeat(200)}-${i}`);
    expect(topics.filter((topic) => regex.test(topic))).toEqual([]);
  });

  it('a regex member is assigned every matching topic, and an invalid one is INVALID_REGULAR_EXPRESSION', () => {
    const { group, reply } = heartbeat(
      emptyConsumerGroup('g'),
      input('m', 0, { subscribedTopicNames: null, subscribedTopicRegex: 'logs-.*' }),
      env,
    );
    expect(reply.assignment).toEqual({ 'logs-a': [0], 'logs-b': [0, 1, 2] });
    expect(group.partitionCounts).toEqual({ 'logs-a': 1, 'logs-b': 3 });
    expect(refusal(() => heartbeat(group, input('n', 0, { subscribedTopicNames: null, subscribedTopicRegex: '(?=a)' }), env))).toBe(
      KafkaErrors.INVALID_REGULAR_EXPRESSION,
    );
  });
});

describe('consumer groups > heartbeat', () => {
  it('refuses malformed joins with INVALID_REQUEST, unknown assignors with UNSUPPORTED_ASSIGNOR', () => {
    const g = emptyConsumerGroup('g');
    expect(refusal(() => heartbeat(g, input('m', 0, { rebalanceTimeoutMs: -1 }), env))).toBe(KafkaErrors.INVALID_REQUEST);
    expect(refusal(() => heartbeat(g, input('m', 0, { subscribedTopicNames: null }), env))).toBe(KafkaErrors.INVALID_REQUEST);
    expect(refusal(() => heartbeat(g, input('m', 0, { ownedTopicPartitions: { orders: [0] } }), env))).toBe(KafkaErrors.INVALID_REQUEST);
    expect(refusal(() => heartbeat(g, input('', 0), env))).toBe(KafkaErrors.INVALID_REQUEST);
    expect(refusal(() => heartbeat(g, input('m', -3), env))).toBe(KafkaErrors.INVALID_REQUEST);
    expect(refusal(() => heartbeat(g, input('m', 0, { serverAssignor: 'sticky' }), env))).toBe(KafkaErrors.UNSUPPORTED_ASSIGNOR);
  });

  it('takes names and a regex together (their union), and an empty regex beside names as none, as librdkafka sends it', () => {
    const librdkafka = heartbeat(emptyConsumerGroup('g'), input('m', 0, { subscribedTopicRegex: '' }), env);
    expect(librdkafka.reply.assignment).toEqual({ orders: [0, 1, 2, 3] });
    expect(librdkafka.group.members.m!.subscribedTopicRegex).toBeNull();
    const both = heartbeat(emptyConsumerGroup('g'), input('m', 0, { subscribedTopicRegex: 'logs-.*' }), env);
    expect(both.reply.assignment).toEqual({ 'logs-a': [0], 'logs-b': [0, 1, 2], orders: [0, 1, 2, 3] });
    // Later heartbeats change one field at a time: the regex alone, then cleared by an empty one.
    const regexOnly = heartbeat(both.group, input('m', 1, { subscribedTopicNames: [], ownedTopicPartitions: both.reply.assignment }), env);
    expect(regexOnly.group.members.m!.subscribedTopicRegex).toBe('logs-.*');
    expect(regexOnly.group.target.m).toEqual({ 'logs-a': [0], 'logs-b': [0, 1, 2] });
    const cleared = heartbeat(regexOnly.group, input('m', 1, { subscribedTopicRegex: '' }), env);
    expect(cleared.group.members.m!.subscribedTopicRegex).toBeNull();
    expect(cleared.group.target.m).toEqual({});
  });

  it('gives a version-0 member without an id one', () => {
    const { reply } = heartbeat(emptyConsumerGroup('g'), input('', 0, { apiVersion: 0 }), env);
    expect(reply.memberId).toMatch(/^generated-/);
    expect(reply.memberEpoch).toBe(1);
  });

  it('reconciles incrementally: a partition moves only after its holder revoked it', () => {
    let g = emptyConsumerGroup('g');
    let r = heartbeat(g, input('a', 0), env);
    g = r.group;
    expect(r.reply).toEqual({ memberId: 'a', memberEpoch: 1, assignment: { orders: [0, 1, 2, 3] } });
    expect(groupPhase(g)).toBe('Stable');

    r = heartbeat(g, input('b', 0), env);
    g = r.group;
    expectExclusive(g);
    expect(g.groupEpoch).toBe(2);
    // b's target partitions are still a's: it waits at the new epoch with nothing.
    expect(r.reply).toEqual({ memberId: 'b', memberEpoch: 2, assignment: {} });
    expect(g.members.b!.state).toBe('UNRELEASED_PARTITIONS');
    expect(groupPhase(g)).toBe('Reconciling');

    // a is asked to revoke two partitions, staying at epoch 1.
    r = heartbeat(g, input('a', 1), env);
    g = r.group;
    expectExclusive(g);
    expect(r.reply.memberEpoch).toBe(1);
    const kept = r.reply.assignment!;
    expect(count(kept)).toBe(2);
    expect(g.members.a!.state).toBe('UNREVOKED_PARTITIONS');

    // Until a reports it no longer owns them, nothing moves.
    r = heartbeat(g, input('a', 1, { ownedTopicPartitions: { orders: [0, 1, 2, 3] } }), env);
    g = r.group;
    expect(r.reply.memberEpoch).toBe(1);
    r = heartbeat(g, input('b', 2), env);
    g = r.group;
    expect(r.reply.assignment).toBeNull();

    r = heartbeat(g, input('a', 1, { ownedTopicPartitions: kept }), env);
    g = r.group;
    expectExclusive(g);
    expect(r.reply).toEqual({ memberId: 'a', memberEpoch: 2, assignment: kept });
    expect(g.members.a!.state).toBe('STABLE');

    r = heartbeat(g, input('b', 2), env);
    g = r.group;
    expectExclusive(g);
    expect(count(r.reply.assignment!)).toBe(2);
    expect(groupPhase(g)).toBe('Stable');
    expect(partitionHolders(g).get('orders')!.size).toBe(4);
  });

  it('a member that already reports the partitions gone skips UNREVOKED_PARTITIONS', () => {
    let g = heartbeat(emptyConsumerGroup('g'), input('a', 0), env).group;
    g = heartbeat(g, input('b', 0), env).group;
    const target = g.target.a!;
    const r = heartbeat(g, input('a', 1, { ownedTopicPartitions: target }), env);
    expect(r.reply).toEqual({ memberId: 'a', memberEpoch: 2, assignment: target });
    expect(r.group.members.a!.state).toBe('STABLE');
    expectExclusive(r.group);
  });

  it('fences wrong epochs, tolerates a lost answer, and refuses unknown members', () => {
    let g = heartbeat(emptyConsumerGroup('g'), input('a', 0), env).group;
    expect(refusal(() => heartbeat(g, input('a', 5), env))).toBe(KafkaErrors.FENCED_MEMBER_EPOCH);
    expect(refusal(() => heartbeat(g, input('zz', 1), env))).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    g = heartbeat(g, input('b', 0, { subscribedTopicNames: ['audit'] }), env).group; // epoch 2; a's target unchanged
    const r = heartbeat(g, input('a', 1), env);
    expect(r.reply.memberEpoch).toBe(2);
    // The answer with epoch 2 was lost: a sends 1 again, owning what it is assigned.
    expect(heartbeat(r.group, input('a', 1, { ownedTopicPartitions: { orders: [0, 1, 2, 3] } }), env).reply.memberEpoch).toBe(2);
    expect(refusal(() => heartbeat(r.group, input('a', 1), env))).toBe(KafkaErrors.FENCED_MEMBER_EPOCH);
    expect(refusal(() => heartbeat(r.group, input('a', 0, { ownedTopicPartitions: null }), env))).toBe(KafkaErrors.INVALID_REQUEST);
  });

  it('a member leaving (-1) frees its partitions and moves the group epoch on', () => {
    let g = heartbeat(emptyConsumerGroup('g'), input('a', 0), env).group;
    g = heartbeat(g, input('b', 0), env).group;
    const r = heartbeat(g, input('a', -1), env);
    expect(r.reply).toEqual({ memberId: 'a', memberEpoch: -1, assignment: null });
    expect(r.group.members.a).toBeUndefined();
    expect(r.group.groupEpoch).toBe(g.groupEpoch + 1);
    const b = heartbeat(r.group, input('b', 2), env);
    expect(b.reply.assignment).toEqual({ orders: [0, 1, 2, 3] });
    expect(refusal(() => heartbeat(b.group, input('a', -1), env))).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
  });

  it('static membership: -2 keeps the partitions for the next incarnation, which takes them under a new id', () => {
    let g = heartbeat(emptyConsumerGroup('g'), input('a1', 0, { instanceId: 'i' }), env).group;
    g = heartbeat(g, input('b', 0), env).group;
    g = heartbeat(g, input('a1', 1), env).group;
    g = heartbeat(g, input('a1', 1, { ownedTopicPartitions: g.members.a1!.assigned }), env).group;
    expect(g.members.a1!.memberEpoch).toBe(2);
    const held = g.members.a1!.assigned;
    expect(refusal(() => heartbeat(g, input('a2', 0, { instanceId: 'i' }), env))).toBe(KafkaErrors.UNRELEASED_INSTANCE_ID);
    expect(refusal(() => heartbeat(g, input('zz', -2, { instanceId: 'i' }), env))).toBe(KafkaErrors.FENCED_INSTANCE_ID);
    expect(refusal(() => heartbeat(g, input('a1', -2), env))).toBe(KafkaErrors.INVALID_REQUEST);

    const left = heartbeat(g, input('a1', -2, { instanceId: 'i' }), env);
    expect(left.reply.memberEpoch).toBe(-2);
    expect(left.group.groupEpoch).toBe(g.groupEpoch);
    expect(left.group.members.a1!.assigned).toEqual(held);
    expect(refusal(() => heartbeat(left.group, input('a1', 2), env))).toBe(KafkaErrors.FENCED_MEMBER_EPOCH);

    const back = heartbeat(left.group, input('a2', 0, { instanceId: 'i' }), env);
    expect(back.removed).toEqual(['a1']);
    expect(back.reply).toEqual({ memberId: 'a2', memberEpoch: 2, assignment: held });
    expect(back.group.members.a1).toBeUndefined();
    expectExclusive(back.group);
  });

  it('a known member rejoining with epoch 0 gets its current epoch and assignment back (KAFKA-19233)', () => {
    let g = heartbeat(emptyConsumerGroup('g'), input('a', 0), env).group;
    g = heartbeat(g, input('b', 0), env).group;
    g = heartbeat(g, input('a', 1), env).group;
    g = heartbeat(g, input('a', 1, { ownedTopicPartitions: g.members.a!.assigned }), env).group;
    g = heartbeat(g, input('b', 2), env).group;
    expect(g.members.a!.memberEpoch).toBe(2);
    const rejoined = heartbeat(g, input('a', 0), env);
    expect(rejoined.reply).toEqual({ memberId: 'a', memberEpoch: 2, assignment: g.members.a!.assigned });
    expect(rejoined.group.groupEpoch).toBe(g.groupEpoch);
    expect(rejoined.group.members.b).toEqual(g.members.b);
    expectExclusive(rejoined.group);
    // A static member back under its own id after leaving with -2 takes its epoch again.
    let s = heartbeat(emptyConsumerGroup('s'), input('x', 0, { instanceId: 'i' }), env).group;
    s = heartbeat(s, input('x', -2, { instanceId: 'i' }), env).group;
    expect(heartbeat(s, input('x', 0, { instanceId: 'i' }), env).reply).toEqual({
      memberId: 'x',
      memberEpoch: 1,
      assignment: { orders: [0, 1, 2, 3] },
    });
  });

  it('a static member leaving for good (-1) is found by its instance id', () => {
    let g = heartbeat(emptyConsumerGroup('g'), input('a', 0, { instanceId: 'i' }), env).group;
    g = heartbeat(g, input('b', 0), env).group;
    expect(refusal(() => heartbeat(g, input('a', -1, { instanceId: 'other' }), env))).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    expect(refusal(() => heartbeat(g, input('b', -1, { instanceId: 'i' }), env))).toBe(KafkaErrors.FENCED_INSTANCE_ID);
    const left = heartbeat(g, input('a', -1, { instanceId: 'i' }), env);
    expect(left.reply).toEqual({ memberId: 'a', memberEpoch: -1, assignment: null });
    expect(left.group.members.a).toBeUndefined();
    expect(left.removed).toEqual(['a']);
  });

  it('refuses members beyond group.consumer.max.size with GROUP_MAX_SIZE_REACHED', () => {
    const g = heartbeat(emptyConsumerGroup('g'), input('a', 0), { ...env, maxSize: 1 }).group;
    expect(refusal(() => heartbeat(g, input('b', 0), { ...env, maxSize: 1 }))).toBe(KafkaErrors.GROUP_MAX_SIZE_REACHED);
  });

  it('picks the assignor members ask for', () => {
    let g = heartbeat(emptyConsumerGroup('g'), input('b', 0, { serverAssignor: 'range' }), env).group;
    g = heartbeat(g, input('a', 0, { serverAssignor: 'range' }), env).group;
    expect(g.assignor).toBe('range');
    expect(g.target.a).toEqual({ orders: [0, 1] });
  });

  it('a new partition count of a subscribed topic moves the group epoch and the target', () => {
    const g = heartbeat(emptyConsumerGroup('g'), input('a', 0), env).group;
    const r = heartbeat(g, input('a', 1), { ...env, topics: { ...topics, orders: 6 } });
    expect(r.group.groupEpoch).toBe(2);
    expect(r.reply).toEqual({ memberId: 'a', memberEpoch: 2, assignment: { orders: [0, 1, 2, 3, 4, 5] } });
  });

  it('a removed member (session expired) frees its partitions', () => {
    let g = heartbeat(emptyConsumerGroup('g'), input('a', 0), env).group;
    g = heartbeat(g, input('b', 0), env).group;
    g = removeMember(g, 'a');
    expect(groupPhase(g)).toBe('Assigning');
    expect(heartbeat(g, input('b', 2), env).reply.assignment).toEqual({ orders: [0, 1, 2, 3] });
  });
});

describe('consumer groups > offset fencing', () => {
  it('commits need the member at its current epoch; outsiders only while the group is empty', () => {
    const g = heartbeat(emptyConsumerGroup('g'), input('a', 0), env).group;
    expect(consumerOffsetFence(g, { memberId: 'a', memberEpoch: 1, kind: 'commit' })).toBe(KafkaErrors.NONE);
    expect(consumerOffsetFence(g, { memberId: 'a', memberEpoch: 0, kind: 'commit' })).toBe(KafkaErrors.STALE_MEMBER_EPOCH);
    expect(consumerOffsetFence(g, { memberId: 'x', memberEpoch: 1, kind: 'commit' })).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    expect(consumerOffsetFence(g, { memberId: '', memberEpoch: -1, kind: 'commit' })).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    expect(consumerOffsetFence(g, { memberId: '', memberEpoch: -1, kind: 'fetch' })).toBe(KafkaErrors.NONE);
    expect(consumerOffsetFence(emptyConsumerGroup('g'), { memberId: '', memberEpoch: -1, kind: 'commit' })).toBe(KafkaErrors.NONE);
  });
});
