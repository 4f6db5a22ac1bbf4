/**
 * Kafka's classic group protocol on the coordinating agent, driven through the group API handlers
 * with a fake cluster view over the memory store, and a manual clock for sessions and rebalances.
 * What it writes is read back through the HTTP groups (GroupCoordinator), as `spool groups` does.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription } from '../../lib/kafka/groups/consumer-protocol.js';
import type { JoinGroupRequest, JoinGroupResponse } from '../../lib/kafka/protocol/messages/join-group.js';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import { classicGroupsSetup, closeClassicGroupsSetups, type ManualClock, settle, watch, type Api } from '../support/classic-groups.js';
import { text } from '../support/logs.js';
import { embedded, memory, type StoreKind } from '../support/stores.js';

const sessionTimeoutMs = 10_000;
const rebalanceTimeoutMs = 20_000;

afterEach(closeClassicGroupsSetups);

const setup = (kind: StoreKind, partitions = 4) => classicGroupsSetup(kind, { partitions });

function joinRequest(
  group: string,
  memberId: string,
  topics: readonly string[],
  more: Partial<JoinGroupRequest> = {},
): Omit<JoinGroupRequest, 'reason'> {
  return {
    groupId: group,
    sessionTimeoutMs,
    rebalanceTimeoutMs,
    memberId,
    groupInstanceId: null,
    protocolType: 'consumer',
    protocols: [
      { name: 'cooperative-sticky', metadata: encodeSubscription({ topics }) },
      { name: 'range', metadata: encodeSubscription({ topics }) },
    ],
    ...more,
  };
}

/** Joins as a v5 client does: first without an id (MEMBER_ID_REQUIRED), then with the one given. */
async function memberIdFor(call: Api, group: string, topics: readonly string[]): Promise<string> {
  const first: JoinGroupResponse = await call('JoinGroup', joinRequest(group, '', topics), 5);
  expect(first.errorCode).toBe(KafkaErrors.MEMBER_ID_REQUIRED);
  expect(first.memberId).toMatch(/^test-client-/);
  return first.memberId;
}

/** Each member its partitions, the leader's way (round robin here): the coordinator relays the bytes. */
function assignments(memberIds: readonly string[], topic: string, partitions: number) {
  return memberIds.map((memberId, index) => ({
    memberId,
    assignment: encodeAssignment({
      partitions: [{ topic, partitions: [...Array(partitions).keys()].filter((p) => p % memberIds.length === index) }],
    }),
  }));
}

/** Brings the named members (already known to the group) through JoinGroup and SyncGroup; the answers. */
async function rebalance(call: Api, clock: ManualClock, group: string, topic: string, memberIds: readonly string[], partitions = 4) {
  const joins = memberIds.map((id) => watch<JoinGroupResponse>(call('JoinGroup', joinRequest(group, id, [topic]), 5)));
  await clock.advance(0);
  const joined = joins.map((j) => j.value!);
  expect(joined.every((j) => j?.errorCode === KafkaErrors.NONE)).toBe(true);
  const leader = joined.find((j) => j.memberId === j.leader)!;
  const generation = leader.generationId;
  const syncs = joined.map((j) =>
    call(
      'SyncGroup',
      {
        groupId: group,
        generationId: generation,
        memberId: j.memberId,
        groupInstanceId: null,
        assignments:
          j === leader
            ? assignments(
                leader.members.map((m) => m.memberId),
                topic,
                partitions,
              )
            : [],
      },
      3,
    ),
  );
  const synced = await Promise.all(syncs);
  return { joined, leader, generation, synced };
}

/** The suite, once per store the classic groups write to (both keep byte strings in the state item). */
function suite(kind: StoreKind): void {
  describe('kafka > groups > joining and syncing', () => {
    it('gathers two members into one generation: the leader gets both members’ metadata, and SyncGroup relays the leader’s assignment', async () => {
      const { agent, group, topic, clock, http } = await setup(kind);
      const { api: call } = agent(1);
      const a = await memberIdFor(call, group, [topic]);
      const b = await memberIdFor(call, group, [topic]);
      const joinA = watch<JoinGroupResponse>(call('JoinGroup', joinRequest(group, a, [topic]), 5));
      await clock.advance(0);
      expect(joinA.value).toBeUndefined(); // b was told to come back: the rebalance waits for it
      const joinB = watch<JoinGroupResponse>(call('JoinGroup', joinRequest(group, b, [topic]), 5));
      await clock.advance(0);
      const leader = joinA.value!;
      expect(leader).toMatchObject({ errorCode: 0, generationId: 1, protocolName: 'cooperative-sticky', leader: a, memberId: a });
      expect(leader.members.map((m) => m.memberId)).toEqual([a, b]);
      expect(decodeSubscription(leader.members[1]!.metadata).topics).toEqual([topic]);
      expect(joinB.value).toMatchObject({ errorCode: 0, generationId: 1, leader: a, memberId: b, members: [] });

      // The follower's SyncGroup waits for the leader's.
      const syncB = watch(call('SyncGroup', { groupId: group, generationId: 1, memberId: b, groupInstanceId: null, assignments: [] }, 3));
      await clock.advance(0);
      expect(syncB.value).toBeUndefined();
      const given = assignments([a, b], topic, 4);
      const syncA = await call('SyncGroup', { groupId: group, generationId: 1, memberId: a, groupInstanceId: null, assignments: given }, 3);
      await clock.advance(0);
      expect(syncA).toEqual({ throttleTimeMs: 0, errorCode: 0, protocolType: null, protocolName: null, assignment: given[0]!.assignment });
      expect(syncB.value).toEqual({
        throttleTimeMs: 0,
        errorCode: 0,
        protocolType: null,
        protocolName: null,
        assignment: given[1]!.assignment,
      });
      expect(decodeAssignment((syncB.value as { assignment: Buffer }).assignment).partitions).toEqual([{ topic, partitions: [1, 3] }]);

      // The HTTP side sees the Kafka group: its members, subscriptions and assignments.
      const described = await http.describe(group);
      expect(described).toMatchObject({ kind: 'kafka', state: 'stable', generation: 1, assignor: 'cooperative-sticky' });
      expect(described.members.map((m) => [m.memberId, m.topics, m.assignments.map((p) => p.partition)])).toEqual([
        [a, [topic], [0, 2]],
        [b, [topic], [1, 3]],
      ]);
      expect(described.partitions.map((p) => p.owner)).toEqual([a, b, a, b]);
    });

    it('lets v0–3 clients join without a member id round trip, and keeps members with no common protocol out', async () => {
      const { agent, group, topic, clock } = await setup(kind);
      const { api: call } = agent(1);
      const joined = watch<JoinGroupResponse>(call('JoinGroup', joinRequest(group, '', [topic]), 3));
      await clock.advance(0);
      expect(joined.value).toMatchObject({ errorCode: 0, generationId: 1 });
      const other = await call(
        'JoinGroup',
        joinRequest(group, '', [topic], { protocols: [{ name: 'roundrobin', metadata: Buffer.alloc(0) }] }),
        3,
      );
      expect(other.errorCode).toBe(KafkaErrors.INCONSISTENT_GROUP_PROTOCOL);
      expect((await call('JoinGroup', joinRequest(group, '', [topic], { sessionTimeoutMs: 10 }), 3)).errorCode).toBe(
        KafkaErrors.INVALID_SESSION_TIMEOUT,
      );
      expect((await call('JoinGroup', joinRequest(group, 'nobody', [topic]), 5)).errorCode).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
      expect((await call('JoinGroup', joinRequest('bad group!', '', [topic]), 5)).errorCode).toBe(KafkaErrors.INVALID_GROUP_ID);
    });

    it('rebalances when a third member joins: the others hear REBALANCE_IN_PROGRESS on their heartbeat and join again', async () => {
      const { agent, group, topic, clock, http } = await setup(kind);
      const { api: call } = agent(1);
      const ids = [await memberIdFor(call, group, [topic]), await memberIdFor(call, group, [topic])];
      const first = await rebalance(call, clock, group, topic, ids);
      expect(first.generation).toBe(1);
      expect(await call('Heartbeat', { groupId: group, generationId: 1, memberId: ids[0], groupInstanceId: null }, 3)).toEqual({
        throttleTimeMs: 0,
        errorCode: 0,
      });

      const c = await memberIdFor(call, group, [topic]);
      const joinC = watch<JoinGroupResponse>(call('JoinGroup', joinRequest(group, c, [topic]), 5));
      await clock.advance(0);
      expect(joinC.value).toBeUndefined();
      for (const id of ids)
        expect((await call('Heartbeat', { groupId: group, generationId: 1, memberId: id, groupInstanceId: null }, 3)).errorCode).toBe(
          KafkaErrors.REBALANCE_IN_PROGRESS,
        );
      // Until the new generation is complete, the store still shows the last one.
      expect((await http.describe(group)).generation).toBe(1);

      const second = await rebalance(call, clock, group, topic, ids);
      expect(second.generation).toBe(2);
      expect(joinC.value).toMatchObject({ errorCode: 0, generationId: 2, memberId: c });
      expect(second.leader.members.map((m) => m.memberId).sort()).toEqual([...ids, c].sort());
      // The old generation is fenced.
      expect((await call('Heartbeat', { groupId: group, generationId: 1, memberId: ids[0], groupInstanceId: null }, 3)).errorCode).toBe(
        KafkaErrors.ILLEGAL_GENERATION,
      );
      // The late joiner syncs after the leader: it gets its part at once.
      const syncC = await call('SyncGroup', { groupId: group, generationId: 2, memberId: c, groupInstanceId: null, assignments: [] }, 3);
      expect(decodeAssignment(syncC.assignment).partitions[0]!.partitions.length).toBeGreaterThan(0);
      const described = await http.describe(group);
      expect(described.members).toHaveLength(3);
      expect(described.generation).toBe(2);
    });

    it('expels a member whose session runs out, and one that does not join again within the rebalance timeout', async () => {
      const { agent, group, topic, clock, http } = await setup(kind);
      const { api: call } = agent(1);
      const [a, b, c] = [
        await memberIdFor(call, group, [topic]),
        await memberIdFor(call, group, [topic]),
        await memberIdFor(call, group, [topic]),
      ];
      await rebalance(call, clock, group, topic, [a!, b!, c!]);
      const start = clock.now();
      const beat = async (id: string) =>
        (await call('Heartbeat', { groupId: group, generationId: 1, memberId: id, groupInstanceId: null }, 3)).errorCode;
      // a and b heartbeat; c goes silent.
      for (let elapsed = 3000; elapsed < sessionTimeoutMs; elapsed += 3000) {
        await clock.advance(3000);
        for (const id of [a!, b!]) expect(await beat(id)).toBe(0);
      }
      await clock.advance(3000); // past c's session: the rebalance began when it ran out
      expect(await beat(a!)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
      expect(await beat(c!)).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);

      // a joins again; b keeps heartbeating but never joins: at the rebalance timeout the generation goes on without it.
      const joinA = watch<JoinGroupResponse>(call('JoinGroup', joinRequest(group, a!, [topic]), 5));
      const timeoutAt = start + sessionTimeoutMs + rebalanceTimeoutMs;
      while (clock.now() + 3000 < timeoutAt) {
        await clock.advance(3000);
        expect(await beat(b!)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
      }
      await clock.advance(timeoutAt - clock.now() - 1);
      expect(joinA.value).toBeUndefined();
      await clock.advance(1);
      expect(joinA.value).toMatchObject({ errorCode: 0, generationId: 2, leader: a, members: [{ memberId: a }] });
      expect(await beat(b!)).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
      await call(
        'SyncGroup',
        { groupId: group, generationId: 2, memberId: a, groupInstanceId: null, assignments: assignments([a!], topic, 4) },
        3,
      );
      expect((await http.describe(group)).members.map((m) => m.memberId)).toEqual([a]);
    });

    it('has the members join again when the store fails to take the leader’s assignment', async () => {
      const { agent, group, topic, clock, stores, http } = await setup(kind);
      const { api: call } = agent(1);
      const [a, b] = [await memberIdFor(call, group, [topic]), await memberIdFor(call, group, [topic])];
      const joins = [a, b].map((id) => watch<JoinGroupResponse>(call('JoinGroup', joinRequest(group, id, [topic]), 5)));
      await clock.advance(0);
      stores.metadata.beforeWrite = (op) => {
        if (op.key.sk === 'state') throw new SpoolError('STORAGE_UNAVAILABLE', 'the store is down', { retriable: true });
      };
      const syncs = joins.map((j) =>
        call(
          'SyncGroup',
          {
            groupId: group,
            generationId: 1,
            memberId: j.value!.memberId,
            groupInstanceId: null,
            assignments: j.value!.members.length ? assignments([a, b], topic, 4) : [],
          },
          3,
        ),
      );
      expect((await Promise.all(syncs)).map((r) => r.errorCode)).toEqual([
        KafkaErrors.REBALANCE_IN_PROGRESS,
        KafkaErrors.REBALANCE_IN_PROGRESS,
      ]);
      stores.metadata.beforeWrite = undefined;
      const again = await rebalance(call, clock, group, topic, [a, b]);
      expect(again.generation).toBe(2);
      expect((await http.describe(group)).generation).toBe(2);
    });

    it('rebalances when members leave, and writes the group Empty when the last goes (one v3 request for several)', async () => {
      const { agent, group, topic, clock, http } = await setup(kind);
      const { api: call } = agent(1);
      const [a, b, c] = [
        await memberIdFor(call, group, [topic]),
        await memberIdFor(call, group, [topic]),
        await memberIdFor(call, group, [topic]),
      ];
      await rebalance(call, clock, group, topic, [a!, b!, c!]);
      expect(await call('LeaveGroup', { groupId: group, memberId: c }, 0)).toMatchObject({
        errorCode: 0,
      });
      expect((await call('Heartbeat', { groupId: group, generationId: 1, memberId: a, groupInstanceId: null }, 3)).errorCode).toBe(
        KafkaErrors.REBALANCE_IN_PROGRESS,
      );
      const second = await rebalance(call, clock, group, topic, [a!, b!]);
      expect(second.generation).toBe(2);
      const left = await call(
        'LeaveGroup',
        {
          groupId: group,
          members: [
            { memberId: a, groupInstanceId: null },
            { memberId: b, groupInstanceId: null },
            { memberId: 'ghost', groupInstanceId: null },
          ],
        },
        3,
      );
      expect(left.members.map((m: { errorCode: number }) => m.errorCode)).toEqual([0, 0, KafkaErrors.UNKNOWN_MEMBER_ID]);
      await clock.advance(0);
      const described = await http.describe(group);
      expect(described).toMatchObject({ kind: 'kafka', state: 'empty', generation: 3, members: [] });
      expect((await call('DescribeGroups', { groups: [group], includeAuthorizedOperations: false }, 4)).groups[0]).toMatchObject({
        groupState: 'Empty',
        protocolType: 'consumer',
      });
    });
  });

  describe('kafka > groups > offsets', () => {
    it('commits a member’s offsets into the items HTTP groups use: fetched back, and shown with lag', async () => {
      const { agent, group, topic, clock, http, log } = await setup(kind);
      const { api: call } = agent(1);
      for (let i = 0; i < 12; i++) await log.produce(topic, [{ key: null, value: text(`v${i}`), partition: i % 4 }]);
      const [a, b] = [await memberIdFor(call, group, [topic]), await memberIdFor(call, group, [topic])];
      const { generation } = await rebalance(call, clock, group, topic, [a!, b!]);
      const committed = await call(
        'OffsetCommit',
        {
          groupId: group,
          generationIdOrMemberEpoch: generation,
          memberId: a,
          groupInstanceId: null,
          topics: [
            {
              name: topic,
              partitions: [0, 2].map((p) => ({
                partitionIndex: p,
                committedOffset: 1,
                committedLeaderEpoch: -1,
                committedMetadata: `m${p}`,
              })),
            },
          ],
        },
        7,
      );
      expect(committed.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode)).toEqual([0, 0]);
      const fetched = await call('OffsetFetch', { groupId: group, topics: [{ name: topic, partitionIndexes: [0, 1, 2] }] }, 5);
      expect(
        fetched.topics[0].partitions.map((p: { committedOffset: number; metadata: string }) => [p.committedOffset, p.metadata]),
      ).toEqual([
        [1, 'm0'],
        [-1, ''],
        [1, 'm2'],
      ]);
      expect((await call('OffsetFetch', { groupId: group, topics: null }, 5)).topics).toEqual([
        {
          name: topic,
          partitions: [0, 2].map((p) => ({
            partitionIndex: p,
            committedOffset: 1,
            committedLeaderEpoch: -1,
            metadata: `m${p}`,
            errorCode: 0,
          })),
        },
      ]);
      const described = await http.describe(group);
      const byPartition = new Map(described.partitions.map((p) => [p.partition, p]));
      expect(byPartition.get(0)).toMatchObject({ committed: 1, highWatermark: 3, lag: 2, owner: a });
      expect(byPartition.get(1)).toMatchObject({ committed: null, lag: null, owner: b });
      expect(await http.offsets(group)).toEqual([
        { topic, partition: 0, committed: 1 },
        { topic, partition: 2, committed: 1 },
      ]);
    });

    it('refuses commits from a zombie of an old generation, an unknown member, during a rebalance, and for partitions that do not exist', async () => {
      const { agent, group, topic, clock } = await setup(kind);
      const { api: call } = agent(1);
      const commit = (memberId: string, generationId: number, partitionIndex = 0, name = topic) =>
        call(
          'OffsetCommit',
          {
            groupId: group,
            generationIdOrMemberEpoch: generationId,
            memberId,
            groupInstanceId: null,
            topics: [{ name, partitions: [{ partitionIndex, committedOffset: 5, committedLeaderEpoch: -1, committedMetadata: null }] }],
          },
          5,
        ).then((r) => r.topics[0].partitions[0].errorCode);
      const [a, b] = [await memberIdFor(call, group, [topic]), await memberIdFor(call, group, [topic])];
      await rebalance(call, clock, group, topic, [a!, b!]);
      const c = await memberIdFor(call, group, [topic]);
      const joinC = watch(call('JoinGroup', joinRequest(group, c, [topic]), 5));
      // Rebalancing: a member of the current generation may still commit (what it is giving up).
      expect(await commit(a!, 1)).toBe(0);
      const joins = [a!, b!].map((id) => watch<JoinGroupResponse>(call('JoinGroup', joinRequest(group, id, [topic]), 5)));
      await clock.advance(0);
      expect(joinC.value).toMatchObject({ generationId: 2 });
      // Joined but not synced: no commits until the assignment is in.
      expect(await commit(a!, 2)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
      const leader = joins.map((j) => j.value!).find((j) => j.leader === j.memberId)!;
      await call(
        'SyncGroup',
        {
          groupId: group,
          generationId: 2,
          memberId: leader.memberId,
          groupInstanceId: null,
          assignments: assignments([a!, b!, c], topic, 4),
        },
        3,
      );
      expect(await commit(a!, 2)).toBe(0);
      expect(await commit(b!, 1)).toBe(KafkaErrors.ILLEGAL_GENERATION); // the zombie
      expect(await commit('ghost', 2)).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
      expect(await commit('', -1)).toBe(KafkaErrors.UNKNOWN_MEMBER_ID); // from outside, while the group has members
      expect(await commit(a!, 2, 99)).toBe(KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION);
      expect(await commit(a!, 2, 0, 'no-such-topic')).toBe(KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION);
    });

    it('takes commits from outside the group (generation -1, as kcat does) only while it has no members', async () => {
      const { agent, group, topic, clock, http } = await setup(kind);
      const { api: call } = agent(1);
      const commitOutside = (committedOffset: number, version = 2) =>
        call(
          'OffsetCommit',
          {
            groupId: group,
            generationIdOrMemberEpoch: -1,
            memberId: '',
            groupInstanceId: null,
            topics: [
              { name: topic, partitions: [{ partitionIndex: 1, committedOffset, committedLeaderEpoch: -1, committedMetadata: null }] },
            ],
          },
          version,
        ).then((r) => r.topics[0].partitions[0].errorCode);
      expect(await commitOutside(3, 0)).toBe(0);
      expect(await http.offsets(group)).toEqual([{ topic, partition: 1, committed: 3 }]);
      const a = await memberIdFor(call, group, [topic]);
      await rebalance(call, clock, group, topic, [a]);
      expect(await commitOutside(4)).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
      await call('LeaveGroup', { groupId: group, memberId: a }, 1);
      await clock.advance(0);
      expect(await commitOutside(5)).toBe(0);
      expect(await http.offsets(group)).toEqual([{ topic, partition: 1, committed: 5 }]);
    });

    it('writes nothing for heartbeats or unchanged commits: only the vouch, about twice per session', async () => {
      const { agent, group, topic, clock, stores } = await setup(kind);
      const { api: call } = agent(1);
      const a = await memberIdFor(call, group, [topic]);
      await rebalance(call, clock, group, topic, [a]);
      const commit = () =>
        call(
          'OffsetCommit',
          {
            groupId: group,
            generationIdOrMemberEpoch: 1,
            memberId: a,
            groupInstanceId: null,
            topics: [
              { name: topic, partitions: [{ partitionIndex: 0, committedOffset: 1, committedLeaderEpoch: -1, committedMetadata: null }] },
            ],
          },
          5,
        );
      await commit();
      const before = { ...stores.metadata.calls };
      // The vouch covers the longest timeout (the rebalance timeout); renewed once half of it has run.
      for (let elapsed = 0; elapsed < rebalanceTimeoutMs; elapsed += 2000) {
        await clock.advance(2000);
        expect((await call('Heartbeat', { groupId: group, generationId: 1, memberId: a, groupInstanceId: null }, 3)).errorCode).toBe(0);
        await commit();
      }
      await settle();
      expect(stores.metadata.calls.transact - before.transact).toBe(0);
      expect(stores.metadata.calls.write - before.write).toBe(2);
    });
  });

  describe('kafka > groups > HTTP and Kafka groups', () => {
    it('refuses an HTTP join of a Kafka group, and a Kafka join of an HTTP group, while the other kind has live members', async () => {
      const { agent, group, topic, clock, http } = await setup(kind);
      const { api: call } = agent(1);
      const a = await memberIdFor(call, group, [topic]);
      await rebalance(call, clock, group, topic, [a]);
      await expect(http.join(group, { topics: [topic] })).rejects.toMatchObject({ code: 'INCONSISTENT_GROUP_PROTOCOL' });
      await expect(http.commit(group, { memberId: a, generation: 1, offsets: [{ topic, partition: 0, offset: 1 }] })).rejects.toMatchObject(
        { code: 'INCONSISTENT_GROUP_PROTOCOL' },
      );
      await expect(http.commit(group, { offsets: [{ topic, partition: 0, offset: 1 }] })).rejects.toMatchObject({
        code: 'GROUP_NOT_EMPTY',
      });
      await expect(http.resetOffsets(group, 'earliest', [topic])).rejects.toMatchObject({ code: 'GROUP_NOT_EMPTY' });
      await call('LeaveGroup', { groupId: group, members: [{ memberId: a, groupInstanceId: null }] }, 3);
      await clock.advance(0);

      // Empty: HTTP members may take it; then Kafka members may not.
      const httpMember = await http.join(group, { topics: [topic] });
      expect((await http.describe(group)).kind).toBe('http');
      const refused = await call('JoinGroup', joinRequest(group, '', [topic]), 3);
      expect(refused.errorCode).toBe(KafkaErrors.INCONSISTENT_GROUP_PROTOCOL);
      // Kafka tools see the HTTP group as consumers.
      const described = (await call('DescribeGroups', { groups: [group], includeAuthorizedOperations: false }, 0)).groups[0];
      expect(described).toMatchObject({ errorCode: 0, groupState: 'Stable', protocolType: 'consumer', protocolData: 'range' });
      expect(decodeSubscription(described.members[0].memberMetadata).topics).toEqual([topic]);
      expect(decodeAssignment(described.members[0].memberAssignment).partitions).toEqual([{ topic, partitions: [0, 1, 2, 3] }]);
      await http.leave(group, httpMember.memberId);
      const joined = watch<JoinGroupResponse>(call('JoinGroup', joinRequest(group, '', [topic]), 3));
      await clock.advance(0);
      expect(joined.value).toMatchObject({ errorCode: 0 });
      expect(joined.value!.generationId).toBeGreaterThan(httpMember.generation);
    });

    it('hands a group to HTTP once its coordinator has stopped vouching for the members (it died and no agent took over)', async () => {
      const { agent, group, topic, clock, http } = await setup(kind);
      const first = agent(1);
      const a = await memberIdFor(first.api, group, [topic]);
      await rebalance(first.api, clock, group, topic, [a]);
      first.groups.close(); // the agent is gone; nobody renews the vouch
      await clock.advance(rebalanceTimeoutMs - 1);
      await expect(http.join(group, { topics: [topic] })).rejects.toMatchObject({ code: 'INCONSISTENT_GROUP_PROTOCOL' });
      await clock.advance(1);
      expect((await http.describe(group)).members).toEqual([]);
      const joined = await http.join(group, { topics: [topic] });
      expect(joined.generation).toBeGreaterThan(1);
      expect((await http.describe(group)).kind).toBe('http');
    });
  });

  describe('kafka > groups > coordinators', () => {
    it('answers NOT_COORDINATOR where this agent does not coordinate, and lets another agent carry on from the store', async () => {
      const { agent, group, topic, clock, http } = await setup(kind);
      const first = agent(1);
      const second = agent(2);
      second.cluster.coordinating = false;
      expect((await second.api('JoinGroup', joinRequest(group, '', [topic]), 5)).errorCode).toBe(KafkaErrors.NOT_COORDINATOR);
      expect((await second.api('FindCoordinator', { key: group, keyType: 0 }, 2)).nodeId).toBe(2);

      const [a, b] = [await memberIdFor(first.api, group, [topic]), await memberIdFor(first.api, group, [topic])];
      const { synced } = await rebalance(first.api, clock, group, topic, [a!, b!]);
      const commit = (call: Api, memberId: string, committedOffset: number) =>
        call(
          'OffsetCommit',
          {
            groupId: group,
            generationIdOrMemberEpoch: 1,
            memberId,
            groupInstanceId: null,
            topics: [
              { name: topic, partitions: [{ partitionIndex: 0, committedOffset, committedLeaderEpoch: -1, committedMetadata: null }] },
            ],
          },
          5,
        ).then((r) => r.topics[0].partitions[0].errorCode);
      expect(await commit(first.api, a!, 3)).toBe(0);

      // Agent 1 loses the group's lease; agent 2 takes it and reads the group from the store.
      first.cluster.coordinating = false;
      second.cluster.coordinating = true;
      expect((await first.api('Heartbeat', { groupId: group, generationId: 1, memberId: a, groupInstanceId: null }, 3)).errorCode).toBe(
        KafkaErrors.NOT_COORDINATOR,
      );
      expect((await second.api('Heartbeat', { groupId: group, generationId: 1, memberId: a, groupInstanceId: null }, 3)).errorCode).toBe(0);
      expect(await commit(second.api, a!, 4)).toBe(0);
      expect(
        (await second.api('OffsetFetch', { groupId: group, topics: [{ name: topic, partitionIndexes: [0] }] }, 3)).topics[0].partitions[0]
          .committedOffset,
      ).toBe(4);
      // A member that re-syncs in the same generation gets the assignment it had.
      expect(
        (await second.api('SyncGroup', { groupId: group, generationId: 1, memberId: b, groupInstanceId: null, assignments: [] }, 3))
          .assignment,
      ).toEqual(synced[1]!.assignment);
      expect((await second.api('DescribeGroups', { groups: [group], includeAuthorizedOperations: false }, 4)).groups[0]).toMatchObject({
        groupState: 'Stable',
        protocolData: 'cooperative-sticky',
        members: [{ memberId: a }, { memberId: b }],
      });

      // b went with agent 1: its session, restarted by the takeover, runs out; a rebalances on agent 2.
      for (let elapsed = 0; elapsed <= sessionTimeoutMs; elapsed += 3000) {
        await clock.advance(3000);
        await second.api('Heartbeat', { groupId: group, generationId: 1, memberId: a, groupInstanceId: null }, 3);
      }
      expect((await second.api('Heartbeat', { groupId: group, generationId: 1, memberId: a, groupInstanceId: null }, 3)).errorCode).toBe(
        KafkaErrors.REBALANCE_IN_PROGRESS,
      );
      const again = await rebalance(second.api, clock, group, topic, [a!]);
      expect(again.generation).toBe(2);
      expect((await http.describe(group)).members.map((m) => m.memberId)).toEqual([a]);
      expect((await http.offsets(group)).find((o) => o.partition === 0)?.committed).toBe(4);
    });

    it('writes nothing for a group whose lease it lost, even when its own timers run out', async () => {
      const { agent, group, topic, clock, http } = await setup(kind);
      const first = agent(1);
      const second = agent(2);
      const a = await memberIdFor(first.api, group, [topic]);
      await rebalance(first.api, clock, group, topic, [a]);
      first.cluster.coordinating = false; // no request tells agent 1: its session timer for a is still set
      for (let elapsed = 0; elapsed <= 2 * sessionTimeoutMs; elapsed += 3000) {
        await clock.advance(3000);
        expect((await second.api('Heartbeat', { groupId: group, generationId: 1, memberId: a, groupInstanceId: null }, 3)).errorCode).toBe(
          0,
        );
      }
      expect(await http.describe(group)).toMatchObject({ state: 'stable', generation: 1, members: [{ memberId: a }] });
    });

    it('waits for more members before a new group’s first generation (group.initial.rebalance.delay.ms)', async () => {
      const { clock, group, topic, agent } = await classicGroupsSetup(kind, { initialRebalanceDelayMs: 3000 });
      const call = agent(1).api;
      const first = watch<JoinGroupResponse>(call('JoinGroup', joinRequest(group, '', [topic]), 3));
      await clock.advance(2000);
      const second = watch<JoinGroupResponse>(call('JoinGroup', joinRequest(group, '', [topic]), 3));
      await clock.advance(2999); // each newcomer restarts the delay
      expect(first.value).toBeUndefined();
      await clock.advance(1);
      expect(first.value).toMatchObject({ errorCode: 0, generationId: 1 });
      expect(second.value).toMatchObject({ errorCode: 0, generationId: 1 });
      expect(first.value!.members).toHaveLength(2);
    });

    it('describes groups through their states and lists them', async () => {
      const { agent, group, topic, clock } = await setup(kind);
      const { api: call } = agent(1);
      const state = async (groupId = group) =>
        (await call('DescribeGroups', { groups: [groupId], includeAuthorizedOperations: false }, 1)).groups[0].groupState;
      expect(await state(`unknown-${randomUUID().slice(0, 6)}`)).toBe('Dead');
      const a = await memberIdFor(call, group, [topic]);
      const b = await memberIdFor(call, group, [topic]);
      const joinA = call('JoinGroup', joinRequest(group, a, [topic]), 5);
      await clock.advance(0);
      expect(await state()).toBe('PreparingRebalance');
      const joinB = call('JoinGroup', joinRequest(group, b, [topic]), 5);
      await Promise.all([joinA, joinB]);
      expect(await state()).toBe('CompletingRebalance');
      await call(
        'SyncGroup',
        { groupId: group, generationId: 1, memberId: a, groupInstanceId: null, assignments: assignments([a, b], topic, 4) },
        3,
      );
      const described = (await call('DescribeGroups', { groups: [group], includeAuthorizedOperations: false }, 4)).groups[0];
      expect(described).toMatchObject({ groupState: 'Stable', protocolType: 'consumer', protocolData: 'cooperative-sticky' });
      expect(described.members.map((m: { memberId: string; clientId: string }) => [m.memberId, m.clientId])).toEqual([
        [a, 'test-client'],
        [b, 'test-client'],
      ]);
      expect(decodeAssignment(described.members[0].memberAssignment).partitions).toEqual([{ topic, partitions: [0, 2] }]);
      const listed = await call('ListGroups', {}, 2);
      expect(listed.groups).toContainEqual({ groupId: group, protocolType: 'consumer', groupState: '', groupType: '' });
    });
  });
}

for (const kind of [memory, embedded]) describe(kind.name, () => suite(kind));
