import { afterEach, describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { decodeAssignment, encodeAssignment, encodeSubscription } from '../../lib/kafka/groups/consumer-protocol.js';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import type { JoinGroupRequest, JoinGroupResponse } from '../../lib/kafka/protocol/messages/join-group.js';
import { classicGroupsSetup, closeClassicGroupsSetups, type ManualClock, watch, type Api } from '../support/classic-groups.js';
import { embedded, memory, type StoreKind } from '../support/stores.js';

const sessionTimeoutMs = 10_000;
const rebalanceTimeoutMs = 20_000;
const initialRebalanceDelayMs = 3000;

afterEach(closeClassicGroupsSetups);

const setup = (kind: StoreKind) => classicGroupsSetup(kind, { initialRebalanceDelayMs });

const protocols = (topic: string, names = ['cooperative-sticky', 'range']) =>
  names.map((name) => ({ name, metadata: encodeSubscription({ topics: [topic] }) }));

/** A JoinGroup of the instance; without a member id, as a consumer that has just started sends it. */
function join(group: string, topic: string, groupInstanceId: string | null, memberId = '', more: Partial<JoinGroupRequest> = {}) {
  return {
    groupId: group,
    sessionTimeoutMs,
    rebalanceTimeoutMs,
    memberId,
    groupInstanceId,
    protocolType: 'consumer',
    protocols: protocols(topic),
    ...more,
  };
}

const heartbeat = async (call: Api, group: string, memberId: string, groupInstanceId: string | null, generationId = 1) =>
  (await call('Heartbeat', { groupId: group, generationId, memberId, groupInstanceId }, 3)).errorCode as number;

/**
 * Static members of a new group join (with no member id: none is required of them) and sync;
 * the leader assigns round robin. Their member ids and assignments by instance.
 */
async function startStatic(
  call: Api,
  clock: ManualClock,
  group: string,
  topic: string,
  instances: readonly string[],
  sessionsMs: readonly number[] = [],
) {
  const joins = instances.map((instance, i) =>
    watch<JoinGroupResponse>(
      call('JoinGroup', join(group, topic, instance, '', { sessionTimeoutMs: sessionsMs[i] ?? sessionTimeoutMs }), 5),
    ),
  );
  await clock.advance(initialRebalanceDelayMs);
  const joined = joins.map((j) => j.value!);
  expect(joined.map((j) => j.errorCode)).toEqual(instances.map(() => 0));
  const leader = joined.find((j) => j.memberId === j.leader)!;
  const given = leader.members.map((m, index) => ({
    memberId: m.memberId,
    assignment: encodeAssignment({ partitions: [{ topic, partitions: [0, 1, 2, 3].filter((p) => p % leader.members.length === index) }] }),
  }));
  const synced = await Promise.all(
    joined.map((j, i) =>
      call(
        'SyncGroup',
        {
          groupId: group,
          generationId: j.generationId,
          memberId: j.memberId,
          groupInstanceId: instances[i],
          assignments: j === leader ? given : [],
        },
        3,
      ),
    ),
  );
  const ids = new Map(instances.map((instance, i) => [instance, joined[i]!.memberId]));
  const assignment = new Map(instances.map((instance, i) => [instance, synced[i]!.assignment as Buffer]));
  const leaderInstance = instances[joined.indexOf(leader)]!;
  const follower = instances.find((i) => i !== leaderInstance)!;
  return { ids, assignment, leader: leaderInstance, follower, generation: leader.generationId };
}

/**
 * Static members a (leader) and b (its session, 30 s, outlasts the rebalance timeout) are Stable;
 * then a dynamic member c joins, a joins again, b (away) does not. At the rebalance timeout
 * generation 2 forms with b in it (the leader assigns to it too), and a and c sync.
 */
async function awayThroughRebalance(call: Api, clock: ManualClock, group: string, topic: string) {
  const { ids, leader } = await startStatic(call, clock, group, topic, ['i-a', 'i-b'], [sessionTimeoutMs, 30_000]);
  expect(leader).toBe('i-a');
  const [a, b] = [ids.get('i-a')!, ids.get('i-b')!];
  const first = await call('JoinGroup', join(group, topic, null), 5);
  const joinC = watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, null, first.memberId), 5));
  const joinA = watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, 'i-a', a), 5));
  await clock.advance(rebalanceTimeoutMs - 1);
  expect(joinA.value).toBeUndefined();
  await clock.advance(1);
  const formedAt = clock.now();
  expect(joinA.value).toMatchObject({ errorCode: 0, generationId: 2, leader: a });
  expect(joinC.value).toMatchObject({ errorCode: 0, generationId: 2, members: [] });
  expect(joinA.value!.members.map((m) => m.groupInstanceId ?? 'dynamic').sort()).toEqual(['dynamic', 'i-a', 'i-b']);
  const given = joinA.value!.members.map((m, i) => ({
    memberId: m.memberId,
    assignment: encodeAssignment({ partitions: [{ topic, partitions: [0, 1, 2, 3].filter((p) => p % 3 === i) }] }),
  }));
  await call('SyncGroup', { groupId: group, generationId: 2, memberId: a, groupInstanceId: 'i-a', assignments: given }, 3);
  await call('SyncGroup', { groupId: group, generationId: 2, memberId: first.memberId, groupInstanceId: null, assignments: [] }, 3);
  return { a, b, c: first.memberId as string, given, formedAt };
}

function suite(kind: StoreKind): void {
  describe('kafka > groups > static membership', () => {
    it('lets a restarted instance take its place under a new member id, keeping its assignment, with no rebalance; the id it replaced is fenced', async () => {
      const { agent, group, topic, clock, http } = await setup(kind);
      const { api: call } = agent(1);
      const { ids, assignment, leader, follower, generation } = await startStatic(call, clock, group, topic, ['i-a', 'i-b']);
      expect(generation).toBe(1);
      expect(ids.get('i-a')).toMatch(/^i-a-/); // Kafka's static member ids: the instance id, then a UUID
      const old = ids.get(follower)!;

      // The follower restarts: its new incarnation joins with its instance id and no member id.
      const rejoined = watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, follower), 5));
      await clock.advance(0);
      const renewed = rejoined.value!;
      expect(renewed).toMatchObject({ errorCode: 0, generationId: 1, leader: ids.get(leader), members: [] });
      expect(renewed.memberId).not.toBe(old);
      expect(await heartbeat(call, group, ids.get(leader)!, leader)).toBe(0); // no rebalance
      const synced = await call(
        'SyncGroup',
        { groupId: group, generationId: 1, memberId: renewed.memberId, groupInstanceId: follower, assignments: [] },
        3,
      );
      expect(synced).toMatchObject({ errorCode: 0, assignment: assignment.get(follower) });
      expect(await heartbeat(call, group, renewed.memberId, follower)).toBe(0);

      // The old incarnation (a zombie) is fenced wherever it names its instance id; without it, it is unknown.
      expect(await heartbeat(call, group, old, follower)).toBe(KafkaErrors.FENCED_INSTANCE_ID);
      expect(await heartbeat(call, group, old, null)).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
      expect(
        (await call('SyncGroup', { groupId: group, generationId: 1, memberId: old, groupInstanceId: follower, assignments: [] }, 3))
          .errorCode,
      ).toBe(KafkaErrors.FENCED_INSTANCE_ID);
      expect((await call('JoinGroup', join(group, topic, follower, old), 5)).errorCode).toBe(KafkaErrors.FENCED_INSTANCE_ID);
      const committed = await call(
        'OffsetCommit',
        {
          groupId: group,
          generationIdOrMemberEpoch: 1,
          memberId: old,
          groupInstanceId: follower,
          topics: [
            { name: topic, partitions: [{ partitionIndex: 1, committedOffset: 5, committedLeaderEpoch: -1, committedMetadata: null }] },
          ],
        },
        7,
      );
      expect(committed.topics[0].partitions[0].errorCode).toBe(KafkaErrors.FENCED_INSTANCE_ID);
      const left = await call('LeaveGroup', { groupId: group, members: [{ memberId: old, groupInstanceId: follower }] }, 3);
      expect(left).toMatchObject({
        errorCode: 0,
        members: [{ memberId: old, groupInstanceId: follower, errorCode: KafkaErrors.FENCED_INSTANCE_ID }],
      });
      // A member naming an instance id that is not its own is fenced too; an instance id the group does not know is unknown.
      expect(await heartbeat(call, group, ids.get(leader)!, follower)).toBe(KafkaErrors.FENCED_INSTANCE_ID);
      expect(await heartbeat(call, group, ids.get(leader)!, 'i-nobody')).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);

      // The swap is written: the same generation, the new id with the old assignment.
      const described = await http.describe(group);
      expect(described).toMatchObject({ state: 'stable', generation: 1 });
      expect(described.members.map((m) => m.memberId).sort()).toEqual([ids.get(leader)!, renewed.memberId].sort());
      const kafkaDescribed = (await call('DescribeGroups', { groups: [group], includeAuthorizedOperations: false }, 4)).groups[0];
      expect(kafkaDescribed.groupState).toBe('Stable');
      expect(
        kafkaDescribed.members
          .map((m: { memberId: string; groupInstanceId: string; memberAssignment: Buffer }) => [
            m.groupInstanceId,
            m.memberId,
            m.memberAssignment,
          ])
          .sort(),
      ).toEqual(
        [
          [leader, ids.get(leader), assignment.get(leader)],
          [follower, renewed.memberId, assignment.get(follower)],
        ].sort(),
      );
    });

    it('tells a restarted leader at JoinGroup v9 that it leads and must skip the assignment; before v9 names the id it replaced as leader', async () => {
      const { agent, group, topic, clock } = await setup(kind);
      const { api: call } = agent(1);
      const { ids, assignment, leader, follower } = await startStatic(call, clock, group, topic, ['i-a', 'i-b']);

      const v9 = watch<JoinGroupResponse>(call('JoinGroup', { ...join(group, topic, leader), reason: 'restarted' }, 9));
      await clock.advance(0);
      const renewed = v9.value!;
      expect(renewed).toMatchObject({
        errorCode: 0,
        generationId: 1,
        leader: renewed.memberId,
        skipAssignment: true,
        protocolName: 'cooperative-sticky',
      });
      expect(renewed.memberId).not.toBe(ids.get(leader));
      expect(renewed.members.map((m) => [m.memberId, m.groupInstanceId]).sort()).toEqual(
        [
          [renewed.memberId, leader],
          [ids.get(follower), follower],
        ].sort(),
      );
      // It sends no assignment (the client skips its assignor) and gets the one it had.
      const synced = await call(
        'SyncGroup',
        {
          groupId: group,
          generationId: 1,
          memberId: renewed.memberId,
          groupInstanceId: leader,
          protocolType: 'consumer',
          protocolName: 'cooperative-sticky',
          assignments: [],
        },
        5,
      );
      expect(synced).toMatchObject({ errorCode: 0, assignment: assignment.get(leader) });
      expect(await heartbeat(call, group, ids.get(follower)!, follower)).toBe(0);

      // Before v9 there is no skip_assignment: the leader is named by the id it replaced, so the client does not assign.
      const v8 = watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, leader), 8));
      await clock.advance(0);
      expect(v8.value).toMatchObject({ errorCode: 0, generationId: 1, leader: renewed.memberId, members: [] });
      expect(v8.value!.memberId).not.toBe(renewed.memberId);
      expect(await heartbeat(call, group, v8.value!.memberId, leader)).toBe(0);
    });

    it('rebalances when the restarted instance changes the protocol the group would choose', async () => {
      const { agent, group, topic, clock } = await setup(kind);
      const { api: call } = agent(1);
      const { ids, leader, follower } = await startStatic(call, clock, group, topic, ['i-a', 'i-b']);
      const rejoined = watch<JoinGroupResponse>(
        call('JoinGroup', join(group, topic, follower, '', { protocols: protocols(topic, ['range']) }), 5),
      );
      await clock.advance(0);
      expect(rejoined.value).toBeUndefined(); // it waits for the rebalance
      expect(await heartbeat(call, group, ids.get(leader)!, leader)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
      const leaderJoin = watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, leader, ids.get(leader)!), 5));
      await clock.advance(0);
      expect(rejoined.value).toMatchObject({ errorCode: 0, generationId: 2, protocolName: 'range' });
      expect(leaderJoin.value).toMatchObject({ errorCode: 0, generationId: 2, protocolName: 'range' });
    });

    it('fences the replaced incarnation’s waiting SyncGroup and rebalances when an instance comes back while the generation is being assigned', async () => {
      const { agent, group, topic, clock } = await setup(kind);
      const { api: call } = agent(1);
      const { ids, leader, follower } = await startStatic(call, clock, group, topic, ['i-a', 'i-b']);
      // A dynamic member joins: both static members join again, generation 2 is being assigned.
      const first = await call('JoinGroup', join(group, topic, null), 5);
      expect(first.errorCode).toBe(KafkaErrors.MEMBER_ID_REQUIRED);
      const joins = [
        watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, null, first.memberId), 5)),
        watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, leader, ids.get(leader)!), 5)),
        watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, follower, ids.get(follower)!), 5)),
      ];
      await clock.advance(0);
      expect(joins.map((j) => j.value?.generationId)).toEqual([2, 2, 2]);
      const waiting = watch(
        call('SyncGroup', { groupId: group, generationId: 2, memberId: ids.get(follower), groupInstanceId: follower, assignments: [] }, 3),
      );
      await clock.advance(0);
      expect(waiting.value).toBeUndefined();

      const rejoined = watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, follower), 5));
      await clock.advance(0);
      expect(waiting.value).toMatchObject({ errorCode: KafkaErrors.FENCED_INSTANCE_ID });
      expect(await heartbeat(call, group, ids.get(leader)!, leader, 2)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
      const again = [
        watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, null, first.memberId), 5)),
        watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, leader, ids.get(leader)!), 5)),
      ];
      await clock.advance(0);
      expect([rejoined, ...again].map((j) => j.value?.generationId)).toEqual([3, 3, 3]);
      const leaderAnswer = again[1]!.value!;
      expect(leaderAnswer.members.map((m) => m.memberId)).toContain(rejoined.value!.memberId);
    });

    it('keeps a silent instance (a static consumer closes without LeaveGroup) and its partitions until its session runs out', async () => {
      const { agent, group, topic, clock } = await setup(kind);
      const { api: call } = agent(1);
      const { ids, leader, follower } = await startStatic(call, clock, group, topic, ['i-a', 'i-b']);
      const expiresAt = clock.now() + sessionTimeoutMs; // the follower's last request was its SyncGroup
      const instances = async () =>
        (await call('DescribeGroups', { groups: [group], includeAuthorizedOperations: false }, 4)).groups[0].members
          .map((m: { groupInstanceId: string }) => m.groupInstanceId)
          .sort();
      while (clock.now() + 3000 < expiresAt) {
        await clock.advance(3000);
        expect(await heartbeat(call, group, ids.get(leader)!, leader)).toBe(0);
      }
      expect(await instances()).toEqual(['i-a', 'i-b']);
      await clock.advance(expiresAt - clock.now());
      expect(await heartbeat(call, group, ids.get(leader)!, leader)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
      expect(await heartbeat(call, group, ids.get(follower)!, follower)).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
      expect(await instances()).toEqual([leader]);
    });

    it('keeps an instance that is away during a rebalance in the next generation, and takes it back if it restarts in time', async () => {
      const { agent, group, topic, clock } = await setup(kind);
      const { api: call } = agent(1);
      const away = await awayThroughRebalance(call, clock, group, topic);
      const rejoined = watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, 'i-b'), 5));
      await clock.advance(0);
      expect(rejoined.value).toMatchObject({ errorCode: 0, generationId: 2 });
      const synced = await call(
        'SyncGroup',
        { groupId: group, generationId: 2, memberId: rejoined.value!.memberId, groupInstanceId: 'i-b', assignments: [] },
        3,
      );
      expect(synced.assignment).toEqual(away.given.find((g) => g.memberId === away.b)!.assignment);
      // Past the rebalance timeout every member has synced: no one is out, no rebalance.
      for (let elapsed = 0; elapsed <= rebalanceTimeoutMs; elapsed += 3000) {
        await clock.advance(3000);
        expect(await heartbeat(call, group, away.a, 'i-a', 2)).toBe(0);
        expect(await heartbeat(call, group, away.c, null, 2)).toBe(0);
        expect(await heartbeat(call, group, rejoined.value!.memberId, 'i-b', 2)).toBe(0);
      }
    });

    it('removes an instance that is away during a rebalance once it has not synced within the rebalance timeout (Kafka’s pending sync)', async () => {
      const { agent, group, topic, clock } = await setup(kind);
      const { api: call } = agent(1);
      const away = await awayThroughRebalance(call, clock, group, topic);
      const expiresAt = away.formedAt + rebalanceTimeoutMs; // before b's 30 s session
      while (clock.now() + 3000 < expiresAt) {
        await clock.advance(3000);
        expect(await heartbeat(call, group, away.a, 'i-a', 2)).toBe(0);
        expect(await heartbeat(call, group, away.c, null, 2)).toBe(0);
      }
      await clock.advance(expiresAt - clock.now());
      expect(await heartbeat(call, group, away.a, 'i-a', 2)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
      expect(await heartbeat(call, group, away.b, 'i-b', 2)).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    });

    it('removes members by group instance id alone (the admin API), answering each as Kafka does', async () => {
      const { agent, group, topic, clock } = await setup(kind);
      const { api: call } = agent(1);
      const { ids, leader } = await startStatic(call, clock, group, topic, ['i-a', 'i-b']);
      const left = await call(
        'LeaveGroup',
        {
          groupId: group,
          members: [
            { memberId: '', groupInstanceId: 'i-nobody', reason: null },
            { memberId: 'someone-else', groupInstanceId: 'i-a', reason: null },
            { memberId: '', groupInstanceId: 'i-b', reason: 'removed by an administrator' },
            { memberId: '', groupInstanceId: 'i-b', reason: null },
          ],
        },
        5,
      );
      expect(left.errorCode).toBe(0);
      expect(left.members.map((m: { errorCode: number }) => m.errorCode)).toEqual([
        KafkaErrors.UNKNOWN_MEMBER_ID,
        KafkaErrors.FENCED_INSTANCE_ID,
        0,
        KafkaErrors.UNKNOWN_MEMBER_ID,
      ]);
      expect(await heartbeat(call, group, ids.get(leader)!, leader)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
      expect(await heartbeat(call, group, ids.get('i-b')!, 'i-b')).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
      // v0–2 name one member by id and answer its error at the top level.
      expect(await call('LeaveGroup', { groupId: group, memberId: 'ghost' }, 1)).toMatchObject({
        errorCode: KafkaErrors.UNKNOWN_MEMBER_ID,
      });
    });

    it('keeps the instances’ member ids for an agent taking the group over', async () => {
      const { agent, group, topic, clock } = await setup(kind);
      const first = agent(1);
      const second = agent(2);
      second.cluster.coordinating = false;
      const { ids, assignment, leader, follower } = await startStatic(first.api, clock, group, topic, ['i-a', 'i-b']);
      const rejoined = watch<JoinGroupResponse>(first.api('JoinGroup', join(group, topic, follower), 5));
      await clock.advance(0);
      const renewed = rejoined.value!.memberId;

      first.cluster.coordinating = false;
      second.cluster.coordinating = true;
      expect(await heartbeat(second.api, group, renewed, follower)).toBe(0);
      expect(await heartbeat(second.api, group, ids.get(follower)!, follower)).toBe(KafkaErrors.FENCED_INSTANCE_ID);
      // Restarted again, at the new coordinator: still no rebalance, the same assignment.
      const again = watch<JoinGroupResponse>(second.api('JoinGroup', join(group, topic, follower), 5));
      await clock.advance(0);
      expect(again.value).toMatchObject({ errorCode: 0, generationId: 1 });
      expect(await heartbeat(second.api, group, ids.get(leader)!, leader)).toBe(0);
      const synced = await second.api(
        'SyncGroup',
        { groupId: group, generationId: 1, memberId: again.value!.memberId, groupInstanceId: follower, assignments: [] },
        3,
      );
      expect(synced.assignment).toEqual(assignment.get(follower));
      expect(decodeAssignment(synced.assignment).partitions[0]!.partitions.length).toBe(2);
    });

    it('undoes the swap, and has the instance join again, when the store does not take it', async () => {
      const { agent, group, topic, clock, stores } = await setup(kind);
      const { api: call } = agent(1);
      const { ids, follower } = await startStatic(call, clock, group, topic, ['i-a', 'i-b']);
      stores.metadata.beforeWrite = (op) => {
        if (op.key.sk === 'state') throw new SpoolError('STORAGE_UNAVAILABLE', 'the store is down', { retriable: true });
      };
      const refused = watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, follower), 5));
      await clock.advance(0);
      expect(refused.value).toMatchObject({ errorCode: KafkaErrors.COORDINATOR_NOT_AVAILABLE, memberId: '' });
      expect(await heartbeat(call, group, ids.get(follower)!, follower)).toBe(0); // the previous incarnation stands
      stores.metadata.beforeWrite = undefined;
      const rejoined = watch<JoinGroupResponse>(call('JoinGroup', join(group, topic, follower), 5));
      await clock.advance(0);
      expect(rejoined.value).toMatchObject({ errorCode: 0, generationId: 1 });
      expect(await heartbeat(call, group, ids.get(follower)!, follower)).toBe(KafkaErrors.FENCED_INSTANCE_ID);
    });
  });
}

for (const kind of [memory, embedded]) describe(kind.name, () => suite(kind));
