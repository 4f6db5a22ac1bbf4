/**
 * The group APIs at their current versions, through the wire with the generated codecs
 * (WireClient.callGenerated): what each version adds (batched FindCoordinator, JoinGroup's reason and
 * skip_assignment, SyncGroup's protocol checks, OffsetCommit/OffsetFetch by topic id and for several
 * groups, ListGroups' state and type filters, DescribeGroups' GROUP_ID_NOT_FOUND), and the group
 * admin APIs DeleteGroups and OffsetDelete with Kafka's error codes.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Permission } from '../../lib/auth.js';
import { SpoolError } from '../../lib/errors.js';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import { encodeAssignment } from '../../lib/kafka/groups/consumer-protocol.js';
import { DeleteGroups } from '../../lib/kafka/protocol/messages/delete-groups.js';
import { DescribeGroups } from '../../lib/kafka/protocol/messages/describe-groups.js';
import { FindCoordinator } from '../../lib/kafka/protocol/messages/find-coordinator.js';
import { Heartbeat } from '../../lib/kafka/protocol/messages/heartbeat.js';
import { LeaveGroup } from '../../lib/kafka/protocol/messages/leave-group.js';
import { ListGroups } from '../../lib/kafka/protocol/messages/list-groups.js';
import { OffsetCommit } from '../../lib/kafka/protocol/messages/offset-commit.js';
import { OffsetDelete } from '../../lib/kafka/protocol/messages/offset-delete.js';
import { OffsetFetch } from '../../lib/kafka/protocol/messages/offset-fetch.js';
import { SyncGroup } from '../../lib/kafka/protocol/messages/sync-group.js';
import { ZERO_UUID } from '../../lib/kafka/protocol/runtime.js';
import { groupPk } from '../../lib/keys.js';
import { joinGroupV9, stableClassicMember, useWireHarness } from './support/wire-harness.js';

const kafka = await useWireHarness({
  log: { defaultPartitions: 2 },
  listener: { groupTimeouts: { initialRebalanceDelayMs: 0, minSessionTimeoutMs: 1000 } },
});
const { log, groups: http, listener, withKey } = kafka;
const client = await kafka.connect();

const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

async function newTopic(partitions = 2): Promise<{ name: string; id: string }> {
  const name = unique('t');
  await log.createTopic(name, partitions);
  return { name, id: (await log.topic(name))!.id };
}

/** One consumer joined (v9, as a Kafka 4.x client: MEMBER_ID_REQUIRED first) and synced, owning every partition. */
const stableMember = (group: string, topic: string, partitions = 2) => stableClassicMember(client, group, topic, partitions, 'starting');

const commitV9 = (group: string, memberId: string, generation: number, topic: string, offset: number, partitionIndex = 0) =>
  client.callGenerated(OffsetCommit, 9, {
    groupId: group,
    generationIdOrMemberEpoch: generation,
    memberId,
    topics: [{ name: topic, partitions: [{ partitionIndex, committedOffset: offset, committedMetadata: null }] }],
  });

const fetchV9 = async (group: string, topic: string, partitionIndexes = [0, 1]) =>
  (await client.callGenerated(OffsetFetch, 9, { groups: [{ groupId: group, topics: [{ name: topic, partitionIndexes }] }] })).groups[0]!;

describe('kafka > groups > FindCoordinator v4+', () => {
  it('answers each batched key on its own (v4–6), and a transaction key with an agent (any agent serves any transactional id)', async () => {
    for (const version of [4, 6]) {
      const answer = await client.callGenerated(FindCoordinator, version, {
        keyType: 0,
        coordinatorKeys: ['g-one', 'g-two', 'bad group!'],
      });
      expect(answer.coordinators.map((c) => [c.key, c.errorCode])).toEqual([
        ['g-one', 0],
        ['g-two', 0],
        ['bad group!', 0], // Kafka finds a coordinator for any key; the group APIs refuse the id
      ]);
      expect(answer.coordinators[0]).toMatchObject({ host: '127.0.0.1', port: Number(listener.bootstrap.split(':')[1]) });
      const txn = await client.callGenerated(FindCoordinator, version, { keyType: 1, coordinatorKeys: ['tx-1'] });
      expect(txn.coordinators).toEqual([
        expect.objectContaining({
          key: 'tx-1',
          errorCode: KafkaErrors.NONE,
          nodeId: listener.cluster.self.nodeId,
          port: listener.cluster.self.port,
        }),
      ]);
    }
    const v3 = await client.callGenerated(FindCoordinator, 3, { key: 'g-one', keyType: 0 });
    expect(v3).toMatchObject({ errorCode: 0, host: '127.0.0.1', coordinators: [] });
    expect((await client.callGenerated(FindCoordinator, 3, { key: 'x', keyType: 7 })).errorCode).toBe(KafkaErrors.INVALID_REQUEST);
  });
});

describe('kafka > groups > JoinGroup v9, SyncGroup v5, Heartbeat v4, LeaveGroup v5', () => {
  it('answers the protocol type and name, never skips the assignment, and refuses a SyncGroup naming another protocol', async () => {
    const { name: topic } = await newTopic();
    const group = unique('g');
    const join = (memberId: string) => joinGroupV9(client, group, memberId, [topic], 'rejoining after a test');
    const memberId = (await join('')).memberId;
    const joined = await join(memberId);
    expect(joined).toMatchObject({
      errorCode: 0,
      generationId: 1,
      protocolType: 'consumer',
      protocolName: 'range',
      leader: memberId,
      skipAssignment: false,
      memberId,
    });
    const sync = (protocolType: string | null, protocolName: string | null) =>
      client.callGenerated(SyncGroup, 5, {
        groupId: group,
        generationId: 1,
        memberId,
        protocolType,
        protocolName,
        assignments: [{ memberId, assignment: encodeAssignment({ partitions: [{ topic, partitions: [0, 1] }] }) }],
      });
    expect((await sync('consumer', 'roundrobin')).errorCode).toBe(KafkaErrors.INCONSISTENT_GROUP_PROTOCOL);
    expect((await sync('connect', 'range')).errorCode).toBe(KafkaErrors.INCONSISTENT_GROUP_PROTOCOL);
    const synced = await sync('consumer', 'range');
    expect(synced).toMatchObject({ errorCode: 0, protocolType: 'consumer', protocolName: 'range' });
    expect(synced.assignment.length).toBeGreaterThan(0);
    expect((await sync(null, null)).errorCode).toBe(0); // not named: not checked (as Kafka, and as v0–4 clients send)
    expect((await client.callGenerated(Heartbeat, 4, { groupId: group, generationId: 1, memberId })).errorCode).toBe(0);
    const left = await client.callGenerated(LeaveGroup, 5, {
      groupId: group,
      members: [
        { memberId, reason: 'shutting down' },
        { memberId: 'ghost', reason: null },
      ],
    });
    expect(left.members.map((m) => [m.memberId, m.errorCode])).toEqual([
      [memberId, 0],
      ['ghost', KafkaErrors.UNKNOWN_MEMBER_ID],
    ]);
  });
});

describe('kafka > groups > OffsetCommit v10 and OffsetFetch v8–10', () => {
  it('commits and fetches by topic id, with UNKNOWN_TOPIC_ID for an id that names no topic', async () => {
    const topic = await newTopic();
    const group = unique('g');
    const { memberId, generationId } = await stableMember(group, topic.name);
    const unknownId = randomUUID();
    const committed = await client.callGenerated(OffsetCommit, 10, {
      groupId: group,
      generationIdOrMemberEpoch: generationId,
      memberId,
      topics: [
        { topicId: topic.id, partitions: [{ partitionIndex: 1, committedOffset: 4, committedMetadata: 'by-id' }] },
        { topicId: unknownId, partitions: [{ partitionIndex: 0, committedOffset: 4, committedMetadata: null }] },
      ],
    });
    expect(committed.topics).toEqual([
      { name: '', topicId: topic.id, partitions: [{ partitionIndex: 1, errorCode: 0 }] },
      { name: '', topicId: unknownId, partitions: [{ partitionIndex: 0, errorCode: KafkaErrors.UNKNOWN_TOPIC_ID }] },
    ]);
    const fetched = await client.callGenerated(OffsetFetch, 10, {
      groups: [{ groupId: group, memberId, memberEpoch: generationId, topics: [{ topicId: topic.id, partitionIndexes: [0, 1] }] }],
    });
    expect(fetched.groups[0]!.topics[0]!.topicId).toBe(topic.id);
    expect(fetched.groups[0]!.topics[0]!.partitions.map((p) => [p.committedOffset, p.metadata, p.errorCode])).toEqual([
      [-1, '', 0],
      [4, 'by-id', 0],
    ]);
    // Every committed offset (topics null), by id.
    const all = await client.callGenerated(OffsetFetch, 10, { groups: [{ groupId: group, topics: null }] });
    expect(all.groups[0]!.topics).toEqual([
      { name: '', topicId: topic.id, partitions: [expect.objectContaining({ partitionIndex: 1, committedOffset: 4 })] },
    ]);
  });

  it('answers several groups in one OffsetFetch (v8+), each with its own error', async () => {
    const topic = await newTopic();
    const [a, b] = [unique('g'), unique('g')];
    for (const [group, offset] of [
      [a, 3],
      [b, 8],
    ] as const)
      expect((await commitV9(group, '', -1, topic.name, offset)).topics[0]!.partitions[0]!.errorCode).toBe(0);
    const answer = await client.callGenerated(OffsetFetch, 8, {
      groups: [a, b, 'bad group!'].map((groupId) => ({ groupId, topics: [{ name: topic.name, partitionIndexes: [0] }] })),
    });
    expect(answer.groups.map((g) => [g.groupId, g.errorCode, g.topics[0]?.partitions[0]?.committedOffset])).toEqual([
      [a, 0, 3],
      [b, 0, 8],
      ['bad group!', KafkaErrors.INVALID_GROUP_ID, -1],
    ]);
  });

  it('gives OffsetFetch v1 clients the group error in every partition (they have no group-level error)', async () => {
    const answer = await client.callGenerated(OffsetFetch, 1, {
      groupId: 'bad group!',
      topics: [{ name: 'any', partitionIndexes: [0, 1] }],
    });
    expect(answer.topics[0]!.partitions.map((p) => p.errorCode)).toEqual([KafkaErrors.INVALID_GROUP_ID, KafkaErrors.INVALID_GROUP_ID]);
  });
});

describe('kafka > groups > ListGroups v4–5 and DescribeGroups v6', () => {
  it('lists groups with their real state and type "classic", filtered by state and type without regard to case', async () => {
    const { name: topic } = await newTopic();
    const [stable, empty] = [unique('g'), unique('g')];
    await stableMember(stable, topic);
    await commitV9(empty, '', -1, topic, 1);
    const listed = async (statesFilter: string[], typesFilter: string[] = []) =>
      (await client.callGenerated(ListGroups, 5, { statesFilter, typesFilter })).groups.filter(
        (g) => g.groupId === stable || g.groupId === empty,
      );
    expect(await listed([])).toEqual(
      [
        { groupId: stable, protocolType: 'consumer', groupState: 'Stable', groupType: 'classic' },
        { groupId: empty, protocolType: 'consumer', groupState: 'Empty', groupType: 'classic' },
      ].sort((x, y) => (x.groupId < y.groupId ? -1 : 1)),
    );
    expect((await listed(['stable'])).map((g) => g.groupId)).toEqual([stable]);
    expect((await listed(['Empty'])).map((g) => g.groupId)).toEqual([empty]);
    expect((await listed(['Stable', 'Empty'], ['Classic'])).length).toBe(2);
    expect(await listed([], ['consumer'])).toEqual([]);
    const v4 = (await client.callGenerated(ListGroups, 4, { statesFilter: ['Stable'] })).groups.find((g) => g.groupId === stable);
    expect(v4).toEqual({ groupId: stable, protocolType: 'consumer', groupState: 'Stable', groupType: '' });
  });

  it('describes a group that does not exist as GROUP_ID_NOT_FOUND with a message at v6, and as Dead before', async () => {
    const missing = unique('missing');
    const v6 = (await client.callGenerated(DescribeGroups, 6, { groups: [missing] })).groups[0]!;
    expect(v6).toMatchObject({ groupId: missing, errorCode: KafkaErrors.GROUP_ID_NOT_FOUND, groupState: 'Dead' });
    expect(v6.errorMessage).toMatch(missing);
    expect((await client.callGenerated(DescribeGroups, 5, { groups: [missing] })).groups[0]).toMatchObject({
      errorCode: 0,
      groupState: 'Dead',
    });
    const invalid = (await client.callGenerated(DescribeGroups, 6, { groups: ['bad group!'] })).groups[0]!;
    expect(invalid.errorCode).toBe(KafkaErrors.INVALID_GROUP_ID);
    expect(invalid.errorMessage).not.toBeNull();
  });
});

describe('kafka > groups > OffsetDelete', () => {
  it('deletes offsets of topics the group does not consume, refuses those it does (GROUP_SUBSCRIBED_TO_TOPIC), and checks each topic', async () => {
    const [consumed, other] = [await newTopic(), await newTopic()];
    const group = unique('g');
    const { memberId, generationId } = await stableMember(group, consumed.name);
    for (const topic of [consumed.name, other.name])
      expect((await commitV9(group, memberId, generationId, topic, 5)).topics[0]!.partitions[0]!.errorCode).toBe(0);
    const deleted = await client.callGenerated(OffsetDelete, 0, {
      groupId: group,
      topics: [
        { name: consumed.name, partitions: [{ partitionIndex: 0 }] },
        { name: other.name, partitions: [{ partitionIndex: 0 }, { partitionIndex: 1 }] },
        { name: 'no-such-topic', partitions: [{ partitionIndex: 0 }] },
        { name: other.name.replace('t-', 'u-'), partitions: [{ partitionIndex: 9 }] },
      ],
    });
    expect(deleted.errorCode).toBe(0);
    expect(deleted.topics.map((t) => t.partitions.map((p) => p.errorCode))).toEqual([
      [KafkaErrors.GROUP_SUBSCRIBED_TO_TOPIC],
      [0, 0], // partition 1 had no offset: deleting nothing succeeds
      [KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION],
      [KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION],
    ]);
    expect((await fetchV9(group, consumed.name)).topics[0]!.partitions[0]!.committedOffset).toBe(5);
    expect((await fetchV9(group, other.name)).topics[0]!.partitions[0]!.committedOffset).toBe(-1);
    // The same offset committed again is written again (the coordinator forgot what it had written).
    await commitV9(group, memberId, generationId, other.name, 5);
    expect((await fetchV9(group, other.name)).topics[0]!.partitions[0]!.committedOffset).toBe(5);
  });

  it('deletes any offset of an empty group, and answers GROUP_ID_NOT_FOUND and INVALID_GROUP_ID at the top', async () => {
    const topic = await newTopic();
    const group = unique('g');
    await commitV9(group, '', -1, topic.name, 2);
    const deleted = await client.callGenerated(OffsetDelete, 0, {
      groupId: group,
      topics: [{ name: topic.name, partitions: [{ partitionIndex: 0 }] }],
    });
    expect(deleted.topics[0]!.partitions[0]!.errorCode).toBe(0);
    expect((await fetchV9(group, topic.name)).topics[0]!.partitions[0]!.committedOffset).toBe(-1);
    const missing = await client.callGenerated(OffsetDelete, 0, {
      groupId: unique('missing'),
      topics: [{ name: topic.name, partitions: [{ partitionIndex: 0 }] }],
    });
    expect(missing).toMatchObject({ errorCode: KafkaErrors.GROUP_ID_NOT_FOUND, topics: [] });
    expect((await client.callGenerated(OffsetDelete, 0, { groupId: 'bad group!', topics: [] })).errorCode).toBe(
      KafkaErrors.INVALID_GROUP_ID,
    );
  });

  it('refuses an HTTP group’s offsets for topics its live members consume', async () => {
    const [consumed, other] = [await newTopic(), await newTopic()];
    const group = unique('g');
    await http.commit(group, { offsets: [{ topic: other.name, partition: 0, offset: 1 }] });
    await http.join(group, { topics: [consumed.name] });
    const deleted = await client.callGenerated(OffsetDelete, 0, {
      groupId: group,
      topics: [consumed.name, other.name].map((name) => ({ name, partitions: [{ partitionIndex: 0 }] })),
    });
    expect(deleted.topics.map((t) => t.partitions[0]!.errorCode)).toEqual([KafkaErrors.GROUP_SUBSCRIBED_TO_TOPIC, 0]);
    expect(await http.offsets(group)).toEqual([]);
  });
});

describe('kafka > groups > DeleteGroups', () => {
  it('deletes an empty group with all its items, refuses one with members (NON_EMPTY_GROUP), and answers each group on its own', async () => {
    const topic = await newTopic();
    const [active, idle] = [unique('g'), unique('g')];
    const { memberId, generationId } = await stableMember(active, topic.name);
    await commitV9(active, memberId, generationId, topic.name, 7);
    await commitV9(idle, '', -1, topic.name, 3);
    const first = await client.callGenerated(DeleteGroups, 3, { groupsNames: [active, idle, unique('missing'), 'bad group!'] });
    expect(first.results.map((r) => [r.errorCode, r.errorMessage === null])).toEqual([
      [KafkaErrors.NON_EMPTY_GROUP, false],
      [0, true],
      [KafkaErrors.GROUP_ID_NOT_FOUND, false],
      [KafkaErrors.INVALID_GROUP_ID, false],
    ]);
    await expect(http.describe(idle)).rejects.toSatisfy((e) => e instanceof SpoolError && e.code === 'GROUP_NOT_FOUND');
    // The last member leaves: the group is Empty, and deleting it takes its offsets and its state too.
    await client.callGenerated(LeaveGroup, 5, { groupId: active, members: [{ memberId, reason: 'done' }] });
    expect((await client.callGenerated(DeleteGroups, 1, { groupsNames: [active] })).results[0]!.errorCode).toBe(0);
    // Nothing of it is left, its coordinator item included (the coordinating agent gave it up).
    expect(await kafka.stores.metadata.query(groupPk(active))).toEqual([]);
    expect((await fetchV9(active, topic.name)).topics[0]!.partitions[0]!.committedOffset).toBe(-1);
    expect((await client.callGenerated(DescribeGroups, 6, { groups: [active] })).groups[0]!.errorCode).toBe(KafkaErrors.GROUP_ID_NOT_FOUND);
    expect((await client.callGenerated(ListGroups, 5, {})).groups.map((g) => g.groupId)).not.toContain(active);
    expect((await client.callGenerated(DeleteGroups, 3, { groupsNames: [active] })).results[0]!.errorCode).toBe(
      KafkaErrors.GROUP_ID_NOT_FOUND,
    );
    // A group of the same name starts afresh: generation 1 again.
    expect((await stableMember(active, topic.name)).generationId).toBe(1);
  });
});

/** Keeps ZERO_UUID in view: a v9 commit's topics have no id, and the answer echoes none. */
describe('kafka > groups > OffsetCommit v9', () => {
  it('answers topics by name with no id', async () => {
    const topic = await newTopic();
    const answer = await commitV9(unique('g'), '', -1, topic.name, 1);
    expect(answer.topics[0]).toEqual({ name: topic.name, topicId: ZERO_UUID, partitions: [{ partitionIndex: 0, errorCode: 0 }] });
  });
});

describe('kafka > groups > admin ACLs', () => {
  it('needs delete on the group for DeleteGroups and OffsetDelete (GROUP_AUTHORIZATION_FAILED), and read on each topic', async () => {
    const suffix = randomUUID().slice(0, 6);
    const [open, closed] = [`open-${suffix}`, `closed-${suffix}`];
    for (const topic of [open, closed]) await log.createTopic(topic, 1);
    const [deletable, readOnly] = [`ops-${suffix}-a`, `ro-${suffix}-a`];
    for (const group of [deletable, readOnly])
      await http.commit(group, { offsets: [open, closed].map((topic) => ({ topic, partition: 0, offset: 1 })) });
    const grants: Permission[] = [
      { topics: open, actions: ['read'] },
      { groups: `ops-${suffix}-*`, actions: ['delete'] },
      { groups: `ro-${suffix}-*`, actions: ['read'] },
    ];
    await withKey('operator', grants, async (c) => {
      const offsetDelete = (groupId: string) =>
        c.callGenerated(OffsetDelete, 0, {
          groupId,
          topics: [open, closed].map((name) => ({ name, partitions: [{ partitionIndex: 0 }] })),
        });
      expect(await offsetDelete(readOnly)).toMatchObject({ errorCode: KafkaErrors.GROUP_AUTHORIZATION_FAILED, topics: [] });
      const deleted = await offsetDelete(deletable);
      expect(deleted.topics.map((t) => t.partitions[0]!.errorCode)).toEqual([0, KafkaErrors.TOPIC_AUTHORIZATION_FAILED]);
      expect(await http.offsets(deletable)).toEqual([{ topic: closed, partition: 0, committed: 1 }]);
      const results = (await c.callGenerated(DeleteGroups, 3, { groupsNames: [readOnly, deletable] })).results;
      expect(results.map((r) => r.errorCode)).toEqual([KafkaErrors.GROUP_AUTHORIZATION_FAILED, 0]);
      expect((await http.offsets(readOnly)).length).toBe(2);
    });
  });
});
