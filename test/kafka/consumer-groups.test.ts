/**
 * KIP-848 consumer groups through the wire (ConsumerGroupHeartbeat, ConsumerGroupDescribe with the
 * generated codecs): joining, incremental reconciliation between two members, Kafka's error codes, what
 * is written to the store (and so what HTTP sees), and session expiry on the coordinator.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadGroup, loadOffsets } from '../../lib/groups/items.js';
import { groupPk } from '../../lib/keys.js';
import { liveCount } from '../../lib/groups/ownership.js';
import { ConsumerGroups } from '../../lib/kafka/consumer-groups.js';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import type { Scheduler } from '../../lib/kafka/groups/group.js';
import { ConsumerGroupDescribe } from '../../lib/kafka/protocol/messages/consumer-group-describe.js';
import {
  ConsumerGroupHeartbeat,
  type ConsumerGroupHeartbeatRequest,
  type TopicPartitions,
} from '../../lib/kafka/protocol/messages/consumer-group-heartbeat.js';
import { decodeAssignment, encodeSubscription } from '../../lib/kafka/groups/consumer-protocol.js';
import { Heartbeat } from '../../lib/kafka/protocol/messages/heartbeat.js';
import { LeaveGroup } from '../../lib/kafka/protocol/messages/leave-group.js';
import { OffsetCommit } from '../../lib/kafka/protocol/messages/offset-commit.js';
import { SyncGroup } from '../../lib/kafka/protocol/messages/sync-group.js';
import { OffsetFetch } from '../../lib/kafka/protocol/messages/offset-fetch.js';
import type { Encodable } from '../../lib/kafka/protocol/runtime.js';
import { joinGroupV9, stableClassicMember, useWireHarness } from './support/wire-harness.js';

const kafka = await useWireHarness({ log: { defaultPartitions: 2 }, listener: { groupTimeouts: { initialRebalanceDelayMs: 0 } } });
const { stores, log, groups: http, listener } = kafka;
const client = await kafka.connect();

const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

async function newTopic(partitions: number): Promise<{ name: string; id: string }> {
  const name = unique('t');
  await log.createTopic(name, partitions);
  return { name, id: (await log.topic(name))!.id };
}

const join = (groupId: string, memberId: string, topics: readonly string[], over: Partial<Encodable<ConsumerGroupHeartbeatRequest>> = {}) =>
  client.callGenerated(ConsumerGroupHeartbeat, 1, {
    groupId,
    memberId,
    memberEpoch: 0,
    rebalanceTimeoutMs: 30_000,
    subscribedTopicNames: topics,
    topicPartitions: [],
    ...over,
  });

const beat = (groupId: string, memberId: string, memberEpoch: number, owned: readonly TopicPartitions[] | null = null) =>
  client.callGenerated(ConsumerGroupHeartbeat, 1, { groupId, memberId, memberEpoch, topicPartitions: owned });

const count = (tps: readonly TopicPartitions[] | undefined): number => (tps ?? []).reduce((n, tp) => n + tp.partitions.length, 0);

describe('kafka > consumer groups (KIP-848)', () => {
  it('two members share a topic, the second getting partitions only once the first revoked them', async () => {
    const topic = await newTopic(4);
    const group = unique('g');
    const a = await join(group, 'member-a', [topic.name]);
    expect(a).toMatchObject({ errorCode: 0, memberId: 'member-a', memberEpoch: 1, heartbeatIntervalMs: 5000 });
    expect(a.assignment!.topicPartitions).toEqual([{ topicId: topic.id, partitions: [0, 1, 2, 3] }]);

    const b = await join(group, 'member-b', [topic.name]);
    expect(b).toMatchObject({ errorCode: 0, memberEpoch: 2 });
    expect(count(b.assignment!.topicPartitions)).toBe(0);

    const revoke = await beat(group, 'member-a', 1);
    expect(revoke.memberEpoch).toBe(1);
    const kept = revoke.assignment!.topicPartitions;
    expect(count(kept)).toBe(2);

    const acked = await beat(group, 'member-a', 1, kept);
    expect(acked.memberEpoch).toBe(2);
    const got = await beat(group, 'member-b', 2);
    expect(got.memberEpoch).toBe(2);
    expect(count(got.assignment!.topicPartitions)).toBe(2);
    const all = [...kept, ...got.assignment!.topicPartitions].flatMap((tp) => tp.partitions).sort();
    expect(all).toEqual([0, 1, 2, 3]);

    const described = await client.callGenerated(ConsumerGroupDescribe, 1, { groupIds: [group, unique('none')] });
    expect(described.groups[0]).toMatchObject({
      errorCode: 0,
      groupState: 'Stable',
      groupEpoch: 2,
      assignmentEpoch: 2,
      assignorName: 'uniform',
    });
    expect(described.groups[0]!.members.map((m) => m.memberId).sort()).toEqual(['member-a', 'member-b']);
    expect(described.groups[0]!.members[0]!.assignment.topicPartitions[0]!.topicName).toBe(topic.name);
    expect(described.groups[1]!.errorCode).toBe(KafkaErrors.GROUP_ID_NOT_FOUND);

    // Written with the coordinator's vouch: HTTP readers count two live Kafka members.
    const loaded = await loadGroup(stores.metadata, group, http.topicIdentities);
    expect(loaded.state.consumer?.members['member-b']?.assigned).toHaveLength(2);
    expect(liveCount(loaded, Date.now())).toBe(2);

    const left = await beat(group, 'member-a', -1);
    expect(left).toMatchObject({ errorCode: 0, memberEpoch: -1 });
    const alone = await beat(group, 'member-b', 2);
    expect(alone.memberEpoch).toBe(3);
    expect(count(alone.assignment!.topicPartitions)).toBe(4);
  });

  it("answers Kafka's error codes", async () => {
    const topic = await newTopic(1);
    const group = unique('g');
    expect((await join(group, 'm', [topic.name], { rebalanceTimeoutMs: -1 })).errorCode).toBe(KafkaErrors.INVALID_REQUEST);
    expect((await join(group, 'm', [topic.name], { serverAssignor: 'sticky' })).errorCode).toBe(KafkaErrors.UNSUPPORTED_ASSIGNOR);
    expect((await join(group, 'm', [], { subscribedTopicNames: null, subscribedTopicRegex: '(?=x)' })).errorCode).toBe(
      KafkaErrors.INVALID_REGULAR_EXPRESSION,
    );
    expect((await join(group, 'm', [topic.name])).errorCode).toBe(0);
    expect((await beat(group, 'm', 7)).errorCode).toBe(KafkaErrors.FENCED_MEMBER_EPOCH);
    expect((await beat(group, 'nobody', 1)).errorCode).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    expect((await join(group, 's1', [topic.name], { instanceId: 'i' })).errorCode).toBe(0);
    expect((await join(group, 's2', [topic.name], { instanceId: 'i' })).errorCode).toBe(KafkaErrors.UNRELEASED_INSTANCE_ID);
  });

  it('OffsetCommit and OffsetFetch v9 from a member are fenced by its member epoch (STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID)', async () => {
    const topic = await newTopic(1);
    const group = unique('g');
    expect((await join(group, 'm', [topic.name])).memberEpoch).toBe(1);
    const commit = (memberId: string, epoch: number, offset: number) =>
      client.callGenerated(OffsetCommit, 9, {
        groupId: group,
        generationIdOrMemberEpoch: epoch,
        memberId,
        groupInstanceId: null,
        topics: [
          {
            name: topic.name,
            partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null }],
          },
        ],
      });
    const code = async (memberId: string, epoch: number, offset: number) =>
      (await commit(memberId, epoch, offset)).topics[0]!.partitions[0]!.errorCode;
    expect(await code('m', 1, 5)).toBe(KafkaErrors.NONE);
    expect(await code('m', 0, 6)).toBe(KafkaErrors.STALE_MEMBER_EPOCH);
    expect(await code('x', 1, 6)).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    expect(await code('', -1, 6)).toBe(KafkaErrors.UNKNOWN_MEMBER_ID); // from outside, while the group has members
    const fetched = await client.callGenerated(OffsetFetch, 9, {
      groups: [{ groupId: group, memberId: 'm', memberEpoch: 1, topics: [{ name: topic.name, partitionIndexes: [0] }] }],
      requireStable: false,
    });
    expect(fetched.groups[0]!.topics[0]!.partitions[0]!.committedOffset).toBe(5);
    const stale = await client.callGenerated(OffsetFetch, 9, {
      groups: [{ groupId: group, memberId: 'm', memberEpoch: 0, topics: [{ name: topic.name, partitionIndexes: [0] }] }],
      requireStable: false,
    });
    expect(stale.groups[0]!.errorCode).toBe(KafkaErrors.STALE_MEMBER_EPOCH);
  });

  it('serves a classic member inside a consumer-protocol group, as Kafka 4.x does (a mixed group)', async () => {
    const topic = await newTopic(2);
    const group = unique('g');
    expect(count((await join(group, 'm', [topic.name])).assignment!.topicPartitions)).toBe(2);
    const first = await joinGroupV9(client, group, '', [topic.name]);
    expect(first.errorCode).toBe(KafkaErrors.MEMBER_ID_REQUIRED);
    const joined = await joinGroupV9(client, group, first.memberId, [topic.name]);
    // Every classic member is a follower; its generation is its member epoch.
    expect(joined).toMatchObject({
      errorCode: 0,
      generationId: 2,
      protocolType: 'consumer',
      protocolName: 'range',
      leader: '',
      members: [],
    });
    const classicId = joined.memberId;
    const sync = (generationId: number) =>
      client.callGenerated(SyncGroup, 5, {
        groupId: group,
        generationId,
        memberId: classicId,
        protocolType: 'consumer',
        protocolName: 'range',
        assignments: [],
      });
    const classicBeat = (generationId: number) =>
      client.callGenerated(Heartbeat, 4, { groupId: group, generationId, memberId: classicId, groupInstanceId: null });
    expect(decodeAssignment((await sync(2)).assignment).partitions).toEqual([]);
    expect((await classicBeat(2)).errorCode).toBe(KafkaErrors.NONE); // m still holds what it is to get

    const revoke = await beat(group, 'm', 1);
    const kept = revoke.assignment!.topicPartitions;
    expect(count(kept)).toBe(1);
    expect((await beat(group, 'm', 1, kept)).memberEpoch).toBe(2);
    expect((await classicBeat(2)).errorCode).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
    const rejoined = await joinGroupV9(client, group, classicId, [topic.name]);
    expect(rejoined).toMatchObject({ errorCode: 0, generationId: 2 });
    const given = decodeAssignment((await sync(2)).assignment).partitions;
    expect(given).toEqual([{ topic: topic.name, partitions: [1 - kept[0]!.partitions[0]!] }]);
    expect((await classicBeat(2)).errorCode).toBe(KafkaErrors.NONE);
    expect((await classicBeat(1)).errorCode).toBe(KafkaErrors.ILLEGAL_GENERATION);

    const described = await client.callGenerated(ConsumerGroupDescribe, 1, { groupIds: [group] });
    expect(described.groups[0]!.groupState).toBe('Stable');
    const types = Object.fromEntries(described.groups[0]!.members.map((member) => [member.memberId, member.memberType]));
    expect(types).toEqual({ m: 1, [classicId]: 0 });

    // Both leave: the group is empty, and whichever protocol joins first takes it.
    const left = await client.callGenerated(LeaveGroup, 3, {
      groupId: group,
      memberId: '',
      members: [{ memberId: classicId, groupInstanceId: null }],
    });
    expect(left.members[0]!.errorCode).toBe(KafkaErrors.NONE);
    expect((await beat(group, 'm', -1)).errorCode).toBe(0);
    const { joined: classicAgain, synced } = await stableClassicMember(client, group, topic.name, 2);
    expect(classicAgain.errorCode).toBe(0);
    expect(synced.errorCode).toBe(0);
    // A consumer-protocol member joining the live classic group converts it (group-migration.test.ts has the details).
    expect((await join(group, 'n', [topic.name])).errorCode).toBe(KafkaErrors.NONE);
    const upgraded = await client.callGenerated(ConsumerGroupDescribe, 1, { groupIds: [group] });
    expect(upgraded.groups[0]!.members.map((member) => member.memberType).sort()).toEqual([0, 1]);
  });

  it('a regex subscription takes every matching topic', async () => {
    const prefix = unique('rx');
    await log.createTopic(`${prefix}-one`, 1);
    await log.createTopic(`${prefix}-two`, 2);
    const r = await join(unique('g'), 'm', [], { subscribedTopicNames: null, subscribedTopicRegex: `${prefix}-.*` });
    expect(r.errorCode).toBe(0);
    expect(count(r.assignment!.topicPartitions)).toBe(3);
  });
});

/** A scheduler whose time moves only by `advance`, which runs the timers due and waits for what they start. */
function fakeClock(): { scheduler: Scheduler; advance: (ms: number) => Promise<void> } {
  const timers: { atMs: number; task: () => void | Promise<void>; cancelled: boolean }[] = [];
  let nowMs = Date.now();
  const scheduler: Scheduler = {
    now: () => nowMs,
    schedule(delayMs, task) {
      const timer = { atMs: nowMs + delayMs, task, cancelled: false };
      timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
  };
  const advance = async (ms: number) => {
    nowMs += ms;
    for (const t of timers.filter((t) => !t.cancelled && t.atMs <= nowMs)) {
      t.cancelled = true;
      await t.task();
    }
  };
  return { scheduler, advance };
}

/** A heartbeat as the Java client sends it: the whole subscription when joining, nothing unchanged after. */
function heartbeatRequest(
  groupId: string,
  memberId: string,
  memberEpoch: number,
  topic: string,
  over: Partial<ConsumerGroupHeartbeatRequest> = {},
): ConsumerGroupHeartbeatRequest {
  return {
    groupId,
    memberId,
    memberEpoch,
    instanceId: null,
    rackId: null,
    rebalanceTimeoutMs: memberEpoch === 0 ? 5000 : -1,
    subscribedTopicNames: memberEpoch === 0 ? [topic] : null,
    subscribedTopicRegex: null,
    serverAssignor: null,
    topicPartitions: memberEpoch === 0 ? [] : null,
    ...over,
  };
}

const clientInfo = { clientId: 'c', clientHost: '/127.0.0.1' };

describe('kafka > consumer groups > sessions', () => {
  it('a member silent for the session timeout is removed and its partitions reassigned', async () => {
    const { scheduler, advance } = fakeClock();
    const groups = new ConsumerGroups({
      log,
      metadata: stores.metadata,
      cluster: listener.cluster,
      topicIdentities: http.topicIdentities,
      scheduler,
      sessionTimeoutMs: 1000,
    });
    const topic = await newTopic(2);
    const group = unique('g');
    const request = (memberId: string, memberEpoch: number) => heartbeatRequest(group, memberId, memberEpoch, topic.name);
    const info = clientInfo;
    expect((await groups.heartbeat(request('a', 0), info, 1)).memberEpoch).toBe(1);
    expect((await groups.heartbeat(request('b', 0), info, 1)).memberEpoch).toBe(2);
    await advance(600);
    await groups.heartbeat(request('b', 2), info, 1);
    await advance(600); // a has been silent 1200 ms
    expect(await groups.offsetFence(group, { memberId: 'a', memberEpoch: 1, kind: 'commit' })).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    const b = await groups.heartbeat(request('b', 2), info, 1);
    expect(b.memberEpoch).toBe(3);
    expect(b.assignment!.topicPartitions).toEqual([{ topicId: topic.id, partitions: [0, 1] }]);
    expect(await groups.offsetFence(group, { memberId: 'b', memberEpoch: 3, kind: 'commit' })).toBe(KafkaErrors.NONE);
    expect(await groups.offsetFence(group, { memberId: 'b', memberEpoch: 2, kind: 'commit' })).toBe(KafkaErrors.STALE_MEMBER_EPOCH);

    // c joins; b is asked to give up a partition and does not within its rebalance timeout (5 s): it is removed.
    expect((await groups.heartbeat(request('c', 0), info, 1)).memberEpoch).toBe(4);
    const revoking = await groups.heartbeat(request('b', 3), info, 1);
    expect(revoking.memberEpoch).toBe(3);
    expect(revoking.assignment?.topicPartitions?.[0]?.partitions).toHaveLength(1);
    let c = await groups.heartbeat(request('c', 4), info, 1);
    for (let i = 0; i < 6; i++) {
      await advance(900);
      await groups.heartbeat(request('b', 3), info, 1); // heartbeats, but never reports the partition revoked
      c = await groups.heartbeat(request('c', c.memberEpoch!), info, 1);
    }
    expect(await groups.offsetFence(group, { memberId: 'b', memberEpoch: 3, kind: 'commit' })).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    expect(c.errorCode).toBe(KafkaErrors.NONE);
    expect(c.memberEpoch).toBe(5);
    expect(await groups.offsetFence(group, { memberId: 'c', memberEpoch: 5, kind: 'commit' })).toBe(KafkaErrors.NONE);
    groups.close();
  });
});

describe('kafka > consumer groups > classic members (timers)', () => {
  it('a classic member keeps its own session, must SyncGroup after a join and rejoin after REBALANCE_IN_PROGRESS within its rebalance timeout', async () => {
    const { scheduler, advance } = fakeClock();
    const groups = new ConsumerGroups({
      log,
      metadata: stores.metadata,
      cluster: listener.cluster,
      topicIdentities: http.topicIdentities,
      scheduler,
      sessionTimeoutMs: 1000,
    });
    const topic = await newTopic(2);
    const group = unique('g');
    const classicJoin = (memberId: string) =>
      groups.classicJoin(
        {
          groupId: group,
          sessionTimeoutMs: 3000,
          rebalanceTimeoutMs: 2000,
          memberId,
          groupInstanceId: null,
          protocolType: 'consumer',
          protocols: [{ name: 'range', metadata: encodeSubscription({ topics: [topic.name] }) }],
          reason: null,
        },
        clientInfo,
        9,
      );
    const classicSync = (memberId: string, generationId: number) =>
      groups.classicSync({
        groupId: group,
        generationId,
        memberId,
        groupInstanceId: null,
        protocolType: 'consumer',
        protocolName: 'range',
        assignments: [],
      });
    const a = (await groups.heartbeat(heartbeatRequest(group, 'a', 0, topic.name), clientInfo, 1)).memberEpoch!;
    expect(await groups.servesClassic(group)).toBe(true);

    // b joins and never syncs: removed after its rebalance timeout (2 s), though its session (3 s) still runs.
    expect((await classicJoin('b')).generationId).toBe(2);
    for (let i = 0; i < 3; i++) {
      await advance(900);
      await groups.heartbeat(heartbeatRequest(group, 'a', a, topic.name), clientInfo, 1);
    }
    expect(await groups.offsetFence(group, { memberId: 'b', memberEpoch: 2, kind: 'commit' })).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);

    // c joins and syncs: its session is its JoinGroup's 3 s, not the group's 1 s.
    const c = await classicJoin('c');
    await classicSync('c', c.generationId);
    await advance(1500);
    await groups.heartbeat(heartbeatRequest(group, 'a', a, topic.name), clientInfo, 1);
    expect(await groups.classicHeartbeat(group, 'c', null, c.generationId)).not.toBe(KafkaErrors.UNKNOWN_MEMBER_ID);

    // Told to rejoin, c does not: removed after its rebalance timeout.
    await groups.heartbeat(heartbeatRequest(group, 'd', 0, topic.name), clientInfo, 1);
    expect(await groups.classicHeartbeat(group, 'c', null, c.generationId)).toBe(KafkaErrors.REBALANCE_IN_PROGRESS);
    for (let i = 0; i < 3; i++) {
      await advance(900);
      expect(await groups.classicHeartbeat(group, 'c', null, c.generationId)).not.toBe(KafkaErrors.NONE);
    }
    expect(await groups.classicHeartbeat(group, 'c', null, c.generationId)).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    groups.close();
  });
});

/**
 * Two coordinators of one group on one store, as when an agent lost the group's lease without noticing
 * (paused) and another took it: the store, not either one's memory, decides what is written.
 */
describe('kafka > consumer groups > a coordinator that lost the group', () => {
  const coordinator = (scheduler: Scheduler) =>
    new ConsumerGroups({
      log,
      metadata: stores.metadata,
      cluster: {
        self: listener.cluster.self,
        clusterId: listener.cluster.clusterId,
        brokers: () => listener.cluster.brokers(),
        coordinatorFor: (group: string) => listener.cluster.coordinatorFor(group),
        transactionCoordinatorFor: (id: string) => listener.cluster.transactionCoordinatorFor(id),
        coordinates: async () => true,
        release: async () => {},
      },
      topicIdentities: http.topicIdentities,
      scheduler,
      sessionTimeoutMs: 10_000,
    });
  const commitOf = (key: string, topicId: string, offset: number) => [{ key, topicId, offset, metadata: null }];

  it('commits nothing once another coordinator changed the group (NOT_COORDINATOR), and lets the group go', async () => {
    const clock = fakeClock();
    const [stale, next] = [coordinator(clock.scheduler), coordinator(clock.scheduler)];
    const topic = await newTopic(2);
    const group = unique('g');
    const key = `${topic.name}/0`;
    expect((await stale.heartbeat(heartbeatRequest(group, 'a', 0, topic.name), clientInfo, 1)).memberEpoch).toBe(1);
    expect(await stale.commitOffsets(group, 'a', 1, commitOf(key, topic.id, 5))).toBe(KafkaErrors.NONE);
    // The new coordinator reads the group as written and changes it: b joins.
    expect((await next.heartbeat(heartbeatRequest(group, 'b', 0, topic.name), clientInfo, 1)).memberEpoch).toBe(2);
    // In the stale coordinator's memory a is still at epoch 1 and may commit; the store refuses it.
    expect(await stale.offsetFence(group, { memberId: 'a', memberEpoch: 1, kind: 'commit' })).toBe(KafkaErrors.NONE);
    expect(await stale.commitOffsets(group, 'a', 1, commitOf(key, topic.id, 9))).toBe(KafkaErrors.NOT_COORDINATOR);
    expect((await loadOffsets(stores.metadata, group, http.topicIdentities)).get(key)?.committed).toBe(5);
    // Let go: its next answer comes from the group as stored now (a is at epoch 1 still: nothing revoked yet).
    expect(await stale.offsetFence(group, { memberId: 'b', memberEpoch: 2, kind: 'commit' })).toBe(KafkaErrors.NONE);
    // The coordinator that holds the group as stored commits.
    expect(await next.commitOffsets(group, 'a', 1, commitOf(key, topic.id, 9))).toBe(KafkaErrors.NONE);
    expect((await loadOffsets(stores.metadata, group, http.topicIdentities)).get(key)?.committed).toBe(9);
    stale.close();
    next.close();
  });

  it('learns it lost the group when its vouch falls due, and vouches for no one after', async () => {
    const clock = fakeClock();
    const [stale, staleToo, next] = [coordinator(clock.scheduler), coordinator(clock.scheduler), coordinator(clock.scheduler)];
    const topic = await newTopic(1);
    const group = unique('g');
    const vouch = async () => (await loadGroup(stores.metadata, group, http.topicIdentities)).vouch!.aliveUntilMs;
    expect((await stale.heartbeat(heartbeatRequest(group, 'a', 0, topic.name), clientInfo, 1)).errorCode).toBe(0);
    expect(await vouch()).toBe(clock.scheduler.now() + 15_000); // 1.5 sessions, written with the group
    expect((await staleToo.heartbeat(heartbeatRequest(group, 'a', 1, topic.name), clientInfo, 1)).errorCode).toBe(0);
    expect((await next.heartbeat(heartbeatRequest(group, 'b', 0, topic.name), clientInfo, 1)).errorCode).toBe(0);
    const vouched = await vouch();
    await clock.advance(6_000); // less than a session of the vouch left: the next write renews it
    // A heartbeat that changes nothing renews it alone, conditional on the group's version …
    expect((await stale.heartbeat(heartbeatRequest(group, 'a', 1, topic.name), clientInfo, 1)).errorCode).toBe(KafkaErrors.NOT_COORDINATOR);
    // … one that changes the group, in the transaction of the (refused) state write.
    expect((await staleToo.heartbeat(heartbeatRequest(group, 'c', 0, topic.name), clientInfo, 1)).errorCode).toBe(
      KafkaErrors.NOT_COORDINATOR,
    );
    expect(await vouch()).toBe(vouched);
    expect(await next.offsetFence(group, { memberId: 'c', memberEpoch: 0, kind: 'commit' })).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    for (const c of [stale, staleToo, next]) c.close();
  });

  it('a member commits at a newly responsible coordinator before its first heartbeat there', async () => {
    const clock = fakeClock();
    const [first, second] = [coordinator(clock.scheduler), coordinator(clock.scheduler)];
    const topic = await newTopic(1);
    const group = unique('g');
    expect((await first.heartbeat(heartbeatRequest(group, 'a', 0, topic.name), clientInfo, 1)).memberEpoch).toBe(1);
    first.close();
    expect(await second.commitOffsets(group, 'a', 1, commitOf(`${topic.name}/0`, topic.id, 3))).toBe(KafkaErrors.NONE);
    expect(await second.commitOffsets(group, 'a', 0, commitOf(`${topic.name}/0`, topic.id, 4))).toBe(KafkaErrors.STALE_MEMBER_EPOCH);
    expect(await second.commitOffsets(group, 'x', 1, commitOf(`${topic.name}/0`, topic.id, 4))).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    expect((await loadOffsets(stores.metadata, group, http.topicIdentities)).get(`${topic.name}/0`)?.committed).toBe(3);
    second.close();
  });

  it('a member that was revoking when the group moved is removed after its rebalance timeout at the new coordinator', async () => {
    const clock = fakeClock();
    const [first, second] = [coordinator(clock.scheduler), coordinator(clock.scheduler)];
    const topic = await newTopic(2);
    const group = unique('g');
    expect((await first.heartbeat(heartbeatRequest(group, 'a', 0, topic.name), clientInfo, 1)).memberEpoch).toBe(1);
    expect((await first.heartbeat(heartbeatRequest(group, 'b', 0, topic.name), clientInfo, 1)).memberEpoch).toBe(2);
    // a is asked to revoke one partition (it stays at epoch 1, revoking) …
    const revoking = await first.heartbeat(heartbeatRequest(group, 'a', 1, topic.name), clientInfo, 1);
    expect(revoking.assignment?.topicPartitions?.[0]?.partitions).toHaveLength(1);
    first.close();
    // … and the group moves: b heartbeats at the second coordinator, which loads the group.
    expect((await second.heartbeat(heartbeatRequest(group, 'b', 2, topic.name), clientInfo, 1)).errorCode).toBe(0);
    for (let i = 0; i < 2; i++) {
      await clock.advance(2_000); // a keeps its session but never reports the partition revoked
      expect((await second.heartbeat(heartbeatRequest(group, 'a', 1, topic.name), clientInfo, 1)).errorCode).toBe(0);
    }
    await clock.advance(1_000); // 5 s, a's rebalance timeout, since the second coordinator loaded the group
    expect(await second.offsetFence(group, { memberId: 'a', memberEpoch: 1, kind: 'commit' })).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    const b = await second.heartbeat(heartbeatRequest(group, 'b', 2, topic.name), clientInfo, 1);
    expect(b.assignment?.topicPartitions?.[0]?.partitions).toEqual([0, 1]);
    second.close();
  });

  it('a heartbeat with an epoch for a group that does not exist is GROUP_ID_NOT_FOUND', async () => {
    const clock = fakeClock();
    const groups = coordinator(clock.scheduler);
    const topic = await newTopic(1);
    const answer = await groups.heartbeat(heartbeatRequest(unique('none'), 'a', 3, topic.name), clientInfo, 1);
    expect(answer).toMatchObject({ errorCode: KafkaErrors.GROUP_ID_NOT_FOUND, errorMessage: expect.stringMatching(/not found/) });
    groups.close();
  });

  it('writes a commit only when it changes an offset', async () => {
    const clock = fakeClock();
    const groups = coordinator(clock.scheduler);
    const topic = await newTopic(1);
    const group = unique('g');
    const key = `${topic.name}/0`;
    expect((await groups.heartbeat(heartbeatRequest(group, 'a', 0, topic.name), clientInfo, 1)).memberEpoch).toBe(1);
    expect(await groups.commitOffsets(group, 'a', 1, commitOf(key, topic.id, 7))).toBe(KafkaErrors.NONE);
    const written = await stores.metadata.query(groupPk(group), {});
    await clock.advance(1_000);
    expect(await groups.commitOffsets(group, 'a', 1, commitOf(key, topic.id, 7))).toBe(KafkaErrors.NONE);
    expect(await stores.metadata.query(groupPk(group), {})).toEqual(written);
    groups.close();
  });
});
