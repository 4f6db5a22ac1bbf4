/**
 * ListGroups and DescribeGroups (the classic admin APIs) on consumer-protocol (KIP-848) groups, as
 * Kafka 4.x answers them: ListGroups v5 types such a group "consumer" with protocol type "consumer" and
 * its KIP-848 state (Empty, Assigning, Reconciling, Stable), and its filters take those values;
 * DescribeGroups answers it as a group that does not exist (it is not a classic group). Through the
 * wire, members joining with ConsumerGroupHeartbeat; classic groups beside them stay "classic".
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadGroup } from '../../lib/groups/items.js';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import { encodeAssignment, encodeSubscription } from '../../lib/kafka/groups/consumer-protocol.js';
import { listedConsumerGroup } from '../../lib/kafka/groups/describe.js';
import { ConsumerGroupHeartbeat, type TopicPartitions } from '../../lib/kafka/protocol/messages/consumer-group-heartbeat.js';
import { DescribeGroups } from '../../lib/kafka/protocol/messages/describe-groups.js';
import { JoinGroup } from '../../lib/kafka/protocol/messages/join-group.js';
import { ListGroups } from '../../lib/kafka/protocol/messages/list-groups.js';
import { SyncGroup } from '../../lib/kafka/protocol/messages/sync-group.js';
import { useWireHarness } from './support/wire-harness.js';

const kafka = await useWireHarness({ log: { defaultPartitions: 2 }, listener: { groupTimeouts: { initialRebalanceDelayMs: 0 } } });
const { stores, log, groups: http } = kafka;
const client = await kafka.connect();

const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

async function newTopic(partitions: number): Promise<string> {
  const name = unique('t');
  await log.createTopic(name, partitions);
  return name;
}

const join = (groupId: string, memberId: string, topic: string) =>
  client.callGenerated(ConsumerGroupHeartbeat, 1, {
    groupId,
    memberId,
    memberEpoch: 0,
    rebalanceTimeoutMs: 30_000,
    subscribedTopicNames: [topic],
    topicPartitions: [],
  });

const beat = (groupId: string, memberId: string, memberEpoch: number, owned: readonly TopicPartitions[] | null = null) =>
  client.callGenerated(ConsumerGroupHeartbeat, 1, { groupId, memberId, memberEpoch, topicPartitions: owned });

/** A classic consumer joined and synced (JoinGroup v9, SyncGroup v5): a Stable classic group. */
async function classicMember(group: string, topic: string): Promise<void> {
  const joinClassic = (memberId: string) =>
    client.callGenerated(JoinGroup, 9, {
      groupId: group,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: encodeSubscription({ topics: [topic] }) }],
      reason: null,
    });
  const joined = await joinClassic((await joinClassic('')).memberId);
  const synced = await client.callGenerated(SyncGroup, 5, {
    groupId: group,
    generationId: joined.generationId,
    memberId: joined.memberId,
    protocolType: 'consumer',
    protocolName: 'range',
    assignments: [{ memberId: joined.memberId, assignment: encodeAssignment({ partitions: [{ topic, partitions: [0, 1] }] }) }],
  });
  expect(synced.errorCode).toBe(0);
}

const listed = async (ids: readonly string[], statesFilter: string[] = [], typesFilter: string[] = []) =>
  (await client.callGenerated(ListGroups, 5, { statesFilter, typesFilter })).groups.filter((g) => ids.includes(g.groupId));

describe('kafka > ListGroups v5 of consumer-protocol (KIP-848) groups', () => {
  it('types them "consumer" with their KIP-848 state, Stable, Reconciling while a member revokes, Empty once all left', async () => {
    const topic = await newTopic(2);
    const group = unique('g848');
    const as = (groupState: string) => [{ groupId: group, protocolType: 'consumer', groupState, groupType: 'consumer' }];

    const a = await join(group, 'member-a', topic);
    expect(a).toMatchObject({ errorCode: 0, memberEpoch: 1 });
    expect(await listed([group])).toEqual(as('Stable'));

    // A second member: the first must give a partition up first, and until it has, the group reconciles.
    expect((await join(group, 'member-b', topic)).errorCode).toBe(0);
    const revoking = await beat(group, 'member-a', 1);
    expect(revoking.memberEpoch).toBe(1);
    expect(await listed([group])).toEqual(as('Reconciling'));

    await beat(group, 'member-a', 1, revoking.assignment!.topicPartitions);
    await beat(group, 'member-b', 2);
    expect(await listed([group])).toEqual(as('Stable'));

    await beat(group, 'member-a', -1);
    await beat(group, 'member-b', -1);
    // Still a consumer group once its members have left, as in Kafka until the group is deleted.
    expect(await listed([group])).toEqual(as('Empty'));
  });

  it('filters by their states and type without regard to case, beside classic groups', async () => {
    const topic = await newTopic(2);
    const [consumer, classic] = [unique('g848'), unique('gclassic')];
    await join(consumer, 'member-a', topic);
    await classicMember(classic, topic);
    const ids = [consumer, classic];

    expect(await listed(ids)).toEqual(
      [
        { groupId: consumer, protocolType: 'consumer', groupState: 'Stable', groupType: 'consumer' },
        { groupId: classic, protocolType: 'consumer', groupState: 'Stable', groupType: 'classic' },
      ].sort((x, y) => (x.groupId < y.groupId ? -1 : 1)),
    );
    const names = async (states: string[], types: string[] = []) => (await listed(ids, states, types)).map((g) => g.groupId);
    expect(await names([], ['Consumer'])).toEqual([consumer]);
    expect(await names([], ['CLASSIC'])).toEqual([classic]);
    expect(await names(['stable'], ['consumer', 'classic'])).toEqual(ids.sort());
    expect(await names([' STABLE '], ['consumer'])).toEqual([consumer]); // states trimmed, as Kafka
    expect(await names(['Reconciling', 'assigning'])).toEqual([]);
    expect(await names([], ['share-or-nothing'])).toEqual([]);

    // v4 has no type: the same group and state.
    const v4 = (await client.callGenerated(ListGroups, 4, { statesFilter: ['STABLE'] })).groups.find((g) => g.groupId === consumer);
    expect(v4).toEqual({ groupId: consumer, protocolType: 'consumer', groupState: 'Stable', groupType: '' });

    // HTTP lists it as before: a Kafka group with one live member.
    expect((await http.list()).find((g) => g.group === consumer)).toMatchObject({ state: 'stable', members: 1 });
  });

  it('shows a group whose coordinator stopped vouching for its members as Empty', async () => {
    const topic = await newTopic(1);
    const group = unique('g848');
    await join(group, 'member-a', topic);
    const loaded = await loadGroup(stores.metadata, group, http.topicIdentities);
    const vouchedUntilMs = loaded.vouch!.aliveUntilMs;
    expect(listedConsumerGroup(group, loaded, vouchedUntilMs - 1)?.groupState).toBe('Stable');
    expect(listedConsumerGroup(group, loaded, vouchedUntilMs)).toEqual({
      groupId: group,
      protocolType: 'consumer',
      groupState: 'Empty',
      groupType: 'consumer',
    });
  });
});

describe('kafka > DescribeGroups of consumer-protocol (KIP-848) groups', () => {
  it('answers as Kafka does for a group that is not a classic group: GROUP_ID_NOT_FOUND at v6, Dead without an error before', async () => {
    const topic = await newTopic(2);
    const group = unique('g848');
    await join(group, 'member-a', topic);
    const dead = { groupId: group, groupState: 'Dead', protocolType: '', protocolData: '', members: [] };

    for (const check of ['live', 'left'] as const) {
      if (check === 'left') expect((await beat(group, 'member-a', -1)).errorCode).toBe(0);
      const v6 = (await client.callGenerated(DescribeGroups, 6, { groups: [group] })).groups[0]!;
      expect(v6, check).toMatchObject({ ...dead, errorCode: KafkaErrors.GROUP_ID_NOT_FOUND });
      expect(v6.errorMessage, check).toBe(`Group ${group} is not a classic group.`);
      const v5 = (await client.callGenerated(DescribeGroups, 5, { groups: [group] })).groups[0]!;
      expect(v5, check).toMatchObject({ ...dead, errorCode: 0 });
    }
  });

  it('still describes a classic group and an HTTP group as before', async () => {
    const topic = await newTopic(2);
    const [classic, viaHttp] = [unique('gclassic'), unique('ghttp')];
    await classicMember(classic, topic);
    await http.join(viaHttp, { topics: [topic] });
    const described = (await client.callGenerated(DescribeGroups, 6, { groups: [classic, viaHttp] })).groups;
    expect(described[0]).toMatchObject({
      groupId: classic,
      errorCode: 0,
      groupState: 'Stable',
      protocolType: 'consumer',
      protocolData: 'range',
    });
    expect(described[0]!.members).toHaveLength(1);
    expect(described[1]).toMatchObject({ groupId: viaHttp, errorCode: 0, groupState: 'Stable', protocolType: 'consumer' });
    expect(described[1]!.members).toHaveLength(1);
  });
});
