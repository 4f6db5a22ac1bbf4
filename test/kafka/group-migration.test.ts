/**
 * Online upgrade and downgrade between a classic group and a KIP-848 consumer group, as Kafka 4.x does
 * them (group.consumer.migration.policy): a member joining a live classic group with the consumer
 * protocol converts it, its classic members keeping their partitions until they rejoin; the last
 * consumer-protocol member leaving (or fenced) turns the classic members back into a classic group,
 * which rebalances. Both coordinators of one agent, through the handlers' codecs, on a manual clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tpKey } from '../../lib/groups/assignors.js';
import { loadGroup, loadOffsets } from '../../lib/groups/items.js';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import { decodeAssignment, encodeAssignment, encodeSubscription } from '../../lib/kafka/groups/consumer-protocol.js';
import type { JoinGroupResponse } from '../../lib/kafka/protocol/messages/join-group.js';
import { classicGroupsSetup, closeClassicGroupsSetups, type ConsumerAgentOptions, watch } from '../support/classic-groups.js';
import { memory } from '../support/stores.js';

const sessionTimeoutMs = 10_000;
const rebalanceTimeoutMs = 20_000;
const initialRebalanceDelayMs = 3000;

afterEach(closeClassicGroupsSetups);

async function setup(consumer: ConsumerAgentOptions = {}) {
  const s = await classicGroupsSetup(memory, { initialRebalanceDelayMs });
  const { api: call, consumerGroups } = s.agent(1, consumer);
  return { ...s, call, consumerGroups: consumerGroups!, topicId: (await s.log.topic(s.topic))!.id };
}

type Setup = Awaited<ReturnType<typeof setup>>;

/** JoinGroup v5 of a classic consumer (v3: no member id is required first); `metadata` its subscription unless given. */
const joinClassic = (s: Setup, memberId: string, over: { protocolType?: string; metadata?: Buffer; instanceId?: string } = {}) =>
  s.call(
    'JoinGroup',
    {
      groupId: s.group,
      sessionTimeoutMs,
      rebalanceTimeoutMs,
      memberId,
      groupInstanceId: over.instanceId ?? null,
      protocolType: over.protocolType ?? 'consumer',
      protocols: [{ name: 'range', metadata: over.metadata ?? encodeSubscription({ topics: [s.topic] }) }],
    },
    over.instanceId === undefined ? 3 : 5, // v5: group instance ids
  ) as Promise<JoinGroupResponse>;

const syncClassic = async (
  s: Setup,
  memberId: string,
  generationId: number,
  assignments: { memberId: string; assignment: Buffer }[] = [],
) => {
  const synced = await s.call('SyncGroup', { groupId: s.group, generationId, memberId, groupInstanceId: null, assignments }, 3);
  return { errorCode: synced.errorCode as number, partitions: partitionsOf(synced.assignment as Buffer, s.topic) };
};

const classicBeat = async (s: Setup, memberId: string, generationId: number) =>
  (await s.call('Heartbeat', { groupId: s.group, generationId, memberId, groupInstanceId: null }, 3)).errorCode as number;

/** A ConsumerGroupHeartbeat (v1): a join with epoch 0 (subscribed to the topic), else a heartbeat owning `owned`. */
const consumerBeat = (
  s: Setup,
  memberId: string,
  memberEpoch: number,
  owned: readonly number[] | null = null,
  instanceId: string | null = null,
) =>
  s.call(
    'ConsumerGroupHeartbeat',
    {
      groupId: s.group,
      memberId,
      memberEpoch,
      instanceId,
      rebalanceTimeoutMs: memberEpoch === 0 ? rebalanceTimeoutMs : -1,
      subscribedTopicNames: memberEpoch === 0 ? [s.topic] : null,
      topicPartitions: memberEpoch === 0 ? [] : owned === null ? null : [{ topicId: s.topicId, partitions: [...owned] }],
    },
    1,
  );

function partitionsOf(assignment: Buffer, topic: string): number[] {
  return decodeAssignment(assignment)
    .partitions.filter((tp) => tp.topic === topic)
    .flatMap((tp) => [...tp.partitions])
    .sort((a, b) => a - b);
}

/**
 * A classic group of `ids.length` members, Stable at generation 1, the leader giving member i the partitions
 * p with p % n === i. Answers their member ids in the order asked.
 */
async function stableClassicGroup(s: Setup, count: number): Promise<{ ids: string[]; generation: number; held: Map<string, number[]> }> {
  const joins = [...Array(count).keys()].map(() => watch(joinClassic(s, '')));
  await s.clock.advance(initialRebalanceDelayMs);
  const joined = joins.map((j) => j.value!);
  expect(joined.map((j) => j.errorCode)).toEqual(joined.map(() => 0));
  const ids = joined.map((j) => j.memberId);
  const leader = joined.find((j) => j.memberId === j.leader)!;
  const plan = ids.map((memberId, i) => ({
    memberId,
    assignment: encodeAssignment({ partitions: [{ topic: s.topic, partitions: [0, 1, 2, 3].filter((p) => p % count === i) }] }),
  }));
  const held = new Map<string, number[]>();
  for (const j of joined) {
    const synced = await syncClassic(s, j.memberId, j.generationId, j === leader ? plan : []);
    expect(synced.errorCode).toBe(0);
    held.set(j.memberId, synced.partitions);
  }
  return { ids, generation: leader.generationId, held };
}

/** Every partition of the topic is held by at most one member (the invariant a conversion must keep). */
function expectDisjoint(held: ReadonlyMap<string, readonly number[]>): void {
  const all = [...held.values()].flat();
  expect(new Set(all).size, `partitions held: ${JSON.stringify([...held])}`).toBe(all.length);
}

async function stored(s: Setup) {
  return (await loadGroup(s.stores.metadata, s.group, s.http.topicIdentities)).state;
}

describe('kafka > groups > online upgrade (a consumer-protocol member joins a live classic group)', () => {
  it('converts the group: classic members keep their partitions until they rejoin, no partition is held twice, offsets stay', async () => {
    const s = await setup();
    const { ids, generation, held } = await stableClassicGroup(s, 2);
    const [a, b] = ids as [string, string];
    const committed = await s.call(
      'OffsetCommit',
      {
        groupId: s.group,
        generationIdOrMemberEpoch: generation,
        memberId: a,
        groupInstanceId: null,
        retentionTimeMs: -1,
        topics: [
          { name: s.topic, partitions: [{ partitionIndex: 0, committedOffset: 7, committedLeaderEpoch: -1, committedMetadata: '' }] },
        ],
      },
      7,
    );
    expect(committed.topics[0].partitions[0].errorCode).toBe(0);

    const joined = await consumerBeat(s, 'n', 0);
    expect(joined).toMatchObject({ errorCode: 0, memberId: 'n', memberEpoch: generation + 1 });
    expect(joined.assignment.topicPartitions.flatMap((tp: { partitions: number[] }) => tp.partitions)).toEqual([]); // all held by a and b
    held.set('n', []);

    const state = await stored(s);
    expect(state.classic).toBeUndefined();
    expect(Object.keys(state.consumer!.members).sort()).toEqual([a, b, 'n'].sort());
    const described = (await s.call('ConsumerGroupDescribe', { groupIds: [s.group], includeAuthorizedOperations: false }, 1)).groups[0];
    expect(described.errorCode).toBe(0);
    const byId = new Map<string, any>(described.members.map((m: any) => [m.memberId, m]));
    expect(byId.get(a)).toMatchObject({ memberType: 0, memberEpoch: generation });
    expect(byId.get('n')).toMatchObject({ memberType: 1 });
    expect(byId.get(a).assignment.topicPartitions[0].partitions).toEqual(held.get(a));

    // The classic members learn of the new target at their next heartbeat, rejoin (eagerly: owning nothing) and sync.
    let nEpoch = joined.memberEpoch as number;
    const epochs = new Map<string, number>([
      [a, generation],
      [b, generation],
    ]);
    for (let round = 0; round < 4; round++) {
      for (const id of [a, b]) {
        const beat = await classicBeat(s, id, epochs.get(id)!);
        if (beat === KafkaErrors.NONE) continue;
        expect(beat).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
        held.set(id, []); // an eager consumer gives up everything before it joins again
        const rejoined = await joinClassic(s, id);
        expect(rejoined).toMatchObject({ errorCode: 0, leader: '', members: [] });
        epochs.set(id, rejoined.generationId);
        const synced = await syncClassic(s, id, rejoined.generationId);
        expect(synced.errorCode).toBe(0);
        held.set(id, synced.partitions);
        expectDisjoint(held);
      }
      const beat = await consumerBeat(s, 'n', nEpoch, held.get('n')!);
      expect(beat.errorCode).toBe(0);
      nEpoch = beat.memberEpoch;
      if (beat.assignment !== null)
        held.set(
          'n',
          beat.assignment.topicPartitions.flatMap((tp: { partitions: number[] }) => tp.partitions),
        );
      expectDisjoint(held);
    }
    expect([...held.values()].flat().sort()).toEqual([0, 1, 2, 3]);
    expect(held.get('n')!.length).toBeGreaterThan(0);

    const offsets = await loadOffsets(s.stores.metadata, s.group, s.http.topicIdentities);
    expect(offsets.get(tpKey(s.topic, 0))?.committed).toBe(7);
  });

  it('answers a classic member waiting in JoinGroup REBALANCE_IN_PROGRESS; it joins again into the consumer group', async () => {
    const s = await setup();
    const { ids } = await stableClassicGroup(s, 1);
    const waiting = watch(joinClassic(s, '')); // a new member: the classic group waits for a to join again
    await s.clock.advance(0);
    expect(waiting.value).toBeUndefined();

    expect((await consumerBeat(s, 'n', 0)).errorCode).toBe(0);
    await s.clock.advance(0);
    expect(waiting.value).toMatchObject({ errorCode: KafkaErrors.REBALANCE_IN_PROGRESS });
    const again = await joinClassic(s, '');
    expect(again).toMatchObject({ errorCode: 0, leader: '' });
    const described = (await s.call('ConsumerGroupDescribe', { groupIds: [s.group], includeAuthorizedOperations: false }, 1)).groups[0];
    expect(described.members.map((m: { memberId: string }) => m.memberId)).toEqual(expect.arrayContaining([ids[0], 'n', again.memberId]));
  });

  it('refuses with GROUP_ID_NOT_FOUND, changing nothing, when the policy disables upgrades', async () => {
    for (const migrationPolicy of ['disabled', 'downgrade'] as const) {
      const s = await setup({ migrationPolicy });
      const { ids, generation } = await stableClassicGroup(s, 1);
      const refused = await consumerBeat(s, 'n', 0);
      expect(refused.errorCode).toBe(KafkaErrors.GROUP_ID_NOT_FOUND);
      expect(refused.errorMessage).toContain('the online upgrade is disabled');
      expect(await classicBeat(s, ids[0]!, generation)).toBe(KafkaErrors.NONE);
      expect((await stored(s)).classic?.members[ids[0]!]).toBeDefined();
    }
  });

  it('refuses a group that does not speak the consumer protocol, or whose embedded protocol is malformed', async () => {
    for (const [over, message] of [
      [{ protocolType: 'connect' }, 'does not use the consumer embedded protocol'],
      [{ metadata: Buffer.from([0, 9, 1]) }, 'malformed'],
    ] as const) {
      const s = await setup();
      const joins = watch(joinClassic(s, '', over));
      await s.clock.advance(initialRebalanceDelayMs);
      const a = joins.value!;
      expect((await syncClassic(s, a.memberId, a.generationId, [{ memberId: a.memberId, assignment: Buffer.alloc(0) }])).errorCode).toBe(0);
      const refused = await consumerBeat(s, 'n', 0);
      expect(refused.errorCode).toBe(KafkaErrors.GROUP_ID_NOT_FOUND);
      expect(refused.errorMessage).toContain(message);
      expect(await classicBeat(s, a.memberId, a.generationId)).toBe(KafkaErrors.NONE);
    }
  });
});

describe('kafka > groups > online downgrade (only classic members are left)', () => {
  /** A classic member a converted into a consumer group by n, a rejoined and synced: both Stable. */
  async function mixed(consumer: ConsumerAgentOptions = {}) {
    const s = await setup(consumer);
    const { ids } = await stableClassicGroup(s, 1);
    const a = ids[0]!;
    const joined = await consumerBeat(s, 'n', 0);
    expect(joined.errorCode).toBe(0);
    expect(await classicBeat(s, a, 1)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
    const rejoined = await joinClassic(s, a);
    expect((await syncClassic(s, a, rejoined.generationId)).errorCode).toBe(0);
    const n = await consumerBeat(s, 'n', joined.memberEpoch, []);
    expect(n.errorCode).toBe(0);
    return { s, a, aGeneration: rejoined.generationId };
  }

  /** The classic group after a downgrade: a learns it must join again, joins as leader alone, assigns and syncs. */
  async function rebalancesAsClassic(s: Setup, a: string, aGeneration: number) {
    const state = await stored(s);
    expect(state.consumer).toBeUndefined();
    expect(state.classic).toMatchObject({ protocolType: 'consumer', protocol: 'range', leader: a, phase: 'Stable' });
    const described = (await s.call('DescribeGroups', { groups: [s.group], includeAuthorizedOperations: false }, 5)).groups[0];
    expect(described).toMatchObject({ errorCode: 0, groupState: 'PreparingRebalance', protocolType: 'consumer' });
    // The generation is the group epoch before the change, a's epoch: a is told to join again (not fenced).
    expect(await classicBeat(s, a, aGeneration)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
    const joined = await joinClassic(s, a);
    expect(joined).toMatchObject({ errorCode: 0, leader: a, protocolName: 'range' });
    expect(joined.generationId).toBeGreaterThan(aGeneration);
    const plan = [{ memberId: a, assignment: encodeAssignment({ partitions: [{ topic: s.topic, partitions: [0, 1, 2, 3] }] }) }];
    expect(await syncClassic(s, a, joined.generationId, plan)).toEqual({ errorCode: 0, partitions: [0, 1, 2, 3] });
    const listed = await s.call('ListGroups', { statesFilter: [], typesFilter: [] }, 5);
    expect(listed.groups.find((g: { groupId: string }) => g.groupId === s.group)).toMatchObject({
      groupState: 'Stable',
      groupType: 'classic',
    });
  }

  it('the last consumer-protocol member leaving turns the group back into a classic group, which rebalances', async () => {
    const { s, a, aGeneration } = await mixed();
    expect(await consumerBeat(s, 'n', -1)).toMatchObject({ errorCode: 0, memberEpoch: -1 });
    await rebalancesAsClassic(s, a, aGeneration);
    // A consumer-protocol member joining again upgrades it again.
    expect((await consumerBeat(s, 'n2', 0)).errorCode).toBe(0);
    expect((await stored(s)).consumer?.members.n2).toBeDefined();
  });

  it('so does its session running out', async () => {
    const { s, a, aGeneration } = await mixed({ sessionTimeoutMs: 5000 });
    // a heartbeats (its classic session is 10 s); n is silent past its 5 s session.
    for (let t = 0; t < 2; t++) {
      await s.clock.advance(2000);
      expect(await classicBeat(s, a, aGeneration)).toBe(KafkaErrors.NONE);
    }
    await s.clock.advance(1001);
    await rebalancesAsClassic(s, a, aGeneration);
  });

  it('a classic static member replacing the last consumer-protocol one (same instance id) downgrades it with no rebalance', async () => {
    const s = await setup();
    const joined = await consumerBeat(s, 's', 0, null, 'i-1');
    expect(joined).toMatchObject({ errorCode: 0, memberEpoch: 1 });
    const c = await joinClassic(s, ''); // a classic member in the consumer group: nothing free for it yet
    expect(c.errorCode).toBe(0);
    const before = (await s.call('ConsumerGroupDescribe', { groupIds: [s.group], includeAuthorizedOperations: false }, 1)).groups[0];
    const sTarget: number[] = before.members.find((m: { memberId: string }) => m.memberId === 's').targetAssignment.topicPartitions[0]
      .partitions;
    expect(sTarget.length).toBe(2); // c joined: s is to keep two partitions

    // s restarts as a classic consumer with the same instance id: it takes s's place; the classic group gives each member its target.
    const restarted = await joinClassic(s, '', { instanceId: 'i-1' });
    expect(restarted).toMatchObject({ errorCode: 0, leader: '' });
    const state = await stored(s);
    expect(state.consumer).toBeUndefined();
    expect(state.classic?.members[restarted.memberId]).toMatchObject({
      groupInstanceId: 'i-1',
      assigned: sTarget.map((p) => tpKey(s.topic, p)),
    });
    const described = (await s.call('DescribeGroups', { groups: [s.group], includeAuthorizedOperations: false }, 5)).groups[0];
    expect(described).toMatchObject({ errorCode: 0, groupState: 'Stable' }); // no rebalance
    expect(await syncClassic(s, restarted.memberId, restarted.generationId)).toEqual({ errorCode: 0, partitions: sTarget });
  });

  it('not when the policy disables downgrades: the group stays a consumer group of classic members', async () => {
    const { s, a, aGeneration } = await mixed({ migrationPolicy: 'upgrade' });
    expect((await consumerBeat(s, 'n', -1)).errorCode).toBe(0);
    const state = await stored(s);
    expect(Object.keys(state.consumer!.members)).toEqual([a]);
    expect(await classicBeat(s, a, aGeneration)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS); // its target moved: n's partitions are free
  });
});

describe('kafka > groups > migration under way', () => {
  /** Codes a Java consumer treats as fatal or as losing its membership: none may answer a request caught by a conversion. */
  const fatal = [
    KafkaErrors.GROUP_ID_NOT_FOUND,
    KafkaErrors.INCONSISTENT_GROUP_PROTOCOL,
    KafkaErrors.UNKNOWN_MEMBER_ID,
    KafkaErrors.UNKNOWN_SERVER_ERROR,
  ];

  it('a classic Heartbeat and JoinGroup sent as the group is upgraded are answered as the group they reach allows', async () => {
    for (let delay = 0; delay < 8; delay++) {
      const s = await setup();
      const { ids, generation } = await stableClassicGroup(s, 1);
      const upgrade = s.call('ConsumerGroupHeartbeat', upgradeJoin(s), 1);
      for (let i = 0; i < delay; i++) await Promise.resolve();
      const [joined, beat, rejoin] = await Promise.all([upgrade, classicBeat(s, ids[0]!, generation), joinClassic(s, ids[0]!)]);
      expect(joined.errorCode, `delay ${delay}`).toBe(0);
      expect(fatal, `delay ${delay}: heartbeat ${beat}`).not.toContain(beat);
      expect(fatal, `delay ${delay}: join ${rejoin.errorCode}`).not.toContain(rejoin.errorCode);
    }
  });

  it('a classic Heartbeat and JoinGroup sent as the group is downgraded are answered by the classic group', async () => {
    for (let delay = 0; delay < 8; delay++) {
      const s = await setup();
      const { ids } = await stableClassicGroup(s, 1);
      const a = ids[0]!;
      const joined = await consumerBeat(s, 'n', 0);
      expect(await classicBeat(s, a, 1)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
      const rejoined = await joinClassic(s, a);
      expect((await syncClassic(s, a, rejoined.generationId)).errorCode).toBe(0);
      expect((await consumerBeat(s, 'n', joined.memberEpoch, [])).errorCode).toBe(0);
      const beat = classicBeat(s, a, rejoined.generationId);
      const join = watch(joinClassic(s, a));
      for (let i = 0; i < delay; i++) await Promise.resolve();
      const [left, beaten] = await Promise.all([consumerBeat(s, 'n', -1), beat]);
      await s.clock.advance(0);
      expect(left.errorCode).toBe(0);
      expect(fatal, `delay ${delay}: heartbeat ${beaten}`).not.toContain(beaten);
      // The join either rejoined the consumer group before it was downgraded or waits in (or completed) the classic rebalance.
      if (join.value !== undefined) expect(fatal, `delay ${delay}: join ${join.value.errorCode}`).not.toContain(join.value.errorCode);
      expect((await stored(s)).classic?.members[a]).toBeDefined();
    }
  });

  it('an upgrade during CompletingRebalance sees what each classic member still owns: nothing is given twice', async () => {
    const s = await setup();
    const { ids, held } = await stableClassicGroup(s, 2);
    const [a, b] = ids as [string, string];
    // A third classic member joins; a and b join again (cooperatively, still owning their partitions): CompletingRebalance.
    const c = watch(joinClassic(s, ''));
    await s.clock.advance(0);
    const rejoins = [watch(joinClassic(s, a)), watch(joinClassic(s, b))];
    await s.clock.advance(0);
    expect([c, ...rejoins].map((j) => j.value?.errorCode)).toEqual([0, 0, 0]);

    const n = await consumerBeat(s, 'n', 0);
    expect(n.errorCode).toBe(0);
    expect(n.assignment.topicPartitions.flatMap((tp: { partitions: number[] }) => tp.partitions)).toEqual([]);
    const described = (await s.call('ConsumerGroupDescribe', { groupIds: [s.group], includeAuthorizedOperations: false }, 1)).groups[0];
    const assigned = new Map<string, number[]>(
      described.members.map((m: any) => [
        m.memberId,
        m.assignment.topicPartitions.flatMap((tp: { partitions: number[] }) => tp.partitions),
      ]),
    );
    expect(assigned.get(a)).toEqual(held.get(a));
    expect(assigned.get(b)).toEqual(held.get(b));
  });
});

/** n's ConsumerGroupHeartbeat joining the group (as consumerBeat with epoch 0). */
function upgradeJoin(s: Setup) {
  return { groupId: s.group, memberId: 'n', memberEpoch: 0, rebalanceTimeoutMs, subscribedTopicNames: [s.topic], topicPartitions: [] };
}
