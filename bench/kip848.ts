/**
 * KIP-848 consumer groups: what the coordinator (lib/kafka/consumer-groups.ts) writes and reads per
 * member-hour, counted at the metadata store as DynamoDB bills it (bench/support/counting.ts).
 *
 * Workload: an 8-partition topic; a group of 4 members as kafka-clients 4.x runs them (a heartbeat
 * every 5 s, `group.consumer.heartbeat.interval.ms`, and an auto-commit of every assigned partition
 * every 5 s); one hour on a stepped clock, after the group is stable.
 *   idle: every commit carries the offsets of the one before (nothing produced);
 *   busy: every commit moves each partition's offset on.
 * Reported per member-hour: metadata writes, write units, reads, read units, and the dollars a day
 * at list prices per group.
 *
 *   npm run bench -- kip848
 */
import { randomUUID } from 'node:crypto';
import { GroupCoordinator } from '../lib/groups/coordinator.js';
import type { ClusterView } from '../lib/kafka/cluster.js';
import { ConsumerGroups } from '../lib/kafka/consumer-groups.js';
import type { Scheduler } from '../lib/kafka/groups/group.js';
import type { ConsumerGroupHeartbeatRequest } from '../lib/kafka/protocol/messages/consumer-group-heartbeat.js';
import { Log } from '../lib/log/index.js';
import { openStores } from '../lib/storage/open.js';
import { tempDir } from '../test/support/stores.js';
import { counting, difference, dollars, kindsBetween, snapshot, type Counts } from './support/counting.js';

const members = 4;
const partitions = 8;
const heartbeatIntervalMs = 5_000;
const hourMs = 3_600_000;

/** A clock that moves only when told, running the timers that fall due. */
function steppedClock(): { scheduler: Scheduler; advance: (ms: number) => Promise<void> } {
  const timers: { atMs: number; task: () => void | Promise<void>; cancelled: boolean }[] = [];
  let nowMs = Date.now();
  return {
    scheduler: {
      now: () => nowMs,
      schedule(delayMs, task) {
        const timer = { atMs: nowMs + delayMs, task, cancelled: false };
        timers.push(timer);
        return () => {
          timer.cancelled = true;
        };
      },
    },
    async advance(ms) {
      nowMs += ms;
      for (const timer of timers.filter((t) => !t.cancelled && t.atMs <= nowMs)) {
        timer.cancelled = true;
        await timer.task();
      }
    },
  };
}

async function run(busy: boolean): Promise<{ counts: Counts; kinds: [string, number][] }> {
  const raw = await openStores({ dataDir: tempDir('spool-bench-kip848-') }, { createIfMissing: true });
  const stores = counting(raw);
  const log = new Log({ stores, producer: { batchIntervalMs: 0 } });
  const topic = await log.createTopic('events', partitions);
  const http = new GroupCoordinator(log, stores.metadata);
  const clock = steppedClock();
  // One agent that holds the group's lease throughout: the lease's own cost is the cluster's (BENCHMARKS.md, Scale).
  const self = { nodeId: 1, host: '127.0.0.1', port: 9092, rack: null };
  const cluster: ClusterView = {
    self,
    clusterId: 'bench',
    brokers: async () => [self],
    coordinatorFor: async () => self,
    transactionCoordinatorFor: async () => self,
    coordinates: async () => true,
    release: async () => {},
  };
  const groups = new ConsumerGroups({
    log,
    metadata: stores.metadata,
    cluster,
    topicIdentities: http.topicIdentities,
    scheduler: clock.scheduler,
  });
  const group = `bench-${randomUUID().slice(0, 8)}`;
  const ids = Array.from({ length: members }, (_, i) => `member-${i}`);
  const epochs = new Map<string, number>();
  const owned = new Map<string, { topicId: string; partitions: number[] }[]>();
  const beat = async (memberId: string) => {
    const epoch = epochs.get(memberId) ?? 0;
    const request: ConsumerGroupHeartbeatRequest = {
      groupId: group,
      memberId,
      memberEpoch: epoch,
      instanceId: null,
      rackId: null,
      rebalanceTimeoutMs: epoch === 0 ? 300_000 : -1,
      subscribedTopicNames: epoch === 0 ? ['events'] : null,
      subscribedTopicRegex: null,
      serverAssignor: null,
      topicPartitions: epoch === 0 ? [] : (owned.get(memberId) ?? []),
    };
    const answer = await groups.heartbeat(request, { clientId: 'bench', clientHost: '/127.0.0.1' }, 1);
    if (answer.errorCode !== 0) throw new Error(`heartbeat refused: ${answer.errorCode} ${answer.errorMessage}`);
    epochs.set(memberId, answer.memberEpoch ?? epoch);
    if (answer.assignment)
      owned.set(
        memberId,
        (answer.assignment.topicPartitions ?? []).map((tp) => ({ topicId: tp.topicId ?? '', partitions: [...(tp.partitions ?? [])] })),
      );
  };
  for (const id of ids) await beat(id);
  for (let round = 0; round < 10; round++) for (const id of ids) await beat(id); // reconcile to stable
  const assigned = ids.reduce((n, id) => n + (owned.get(id) ?? []).reduce((m, tp) => m + tp.partitions.length, 0), 0);
  if (assigned !== partitions) throw new Error(`not stable: ${assigned} of ${partitions} partitions assigned`);

  const before = snapshot(stores);
  const kindsBefore = new Map(stores.metadata.byKind.writes);
  let offset = 0;
  for (let elapsedMs = 0; elapsedMs < hourMs; elapsedMs += heartbeatIntervalMs) {
    await clock.advance(heartbeatIntervalMs);
    if (busy) offset += 10;
    for (const id of ids) {
      await beat(id);
      const commits = (owned.get(id) ?? []).flatMap((tp) =>
        tp.partitions.map((p) => ({ key: `events/${p}`, topicId: topic.id, offset, metadata: null })),
      );
      const code = await groups.commitOffsets(group, id, epochs.get(id)!, commits);
      if (code !== 0) throw new Error(`commit refused: ${code}`);
    }
  }
  const counts = difference(snapshot(stores), before);
  const kinds = kindsBetween(stores.metadata.byKind.writes, kindsBefore);
  groups.close();
  await log.close();
  await Promise.all([raw.objects.close(), raw.metadata.close()]);
  return { counts, kinds };
}

const perMemberHour = (n: number) => (n / members).toFixed(0);
console.log(
  `KIP-848 group of ${members} members on ${partitions} partitions, heartbeat and auto-commit every ${heartbeatIntervalMs / 1000} s, one hour; ${new Date().toISOString().slice(0, 10)}`,
);
console.log('');
console.log('| per member-hour | idle | busy |');
console.log('|---|---|---|');
const idle = await run(false);
const busy = await run(true);
const row = (name: string, pick: (c: Counts) => number) =>
  console.log(`| ${name} | ${perMemberHour(pick(idle.counts))} | ${perMemberHour(pick(busy.counts))} |`);
row('metadata writes (incl. transactions)', (c) => c.metadata.writes + c.metadata.transactions);
row('write units', (c) => c.metadata.writeUnits);
row('reads (gets + queries)', (c) => c.metadata.gets + c.metadata.queries);
row('read units', (c) => c.metadata.readUnits);
const perDay = (c: Counts) => (dollars(c).dynamo * 24).toFixed(4);
console.log(`| DynamoDB $ per day, whole group | ${perDay(idle.counts)} | ${perDay(busy.counts)} |`);
console.log('');
console.log(`items written, idle: ${idle.kinds.map(([k, n]) => `${k} ${n}`).join(', ')}`);
console.log(`items written, busy: ${busy.kinds.map(([k, n]) => `${k} ${n}`).join(', ')}`);
