/**
 * The cluster kept in the store (lib/kafka/cluster.ts): broker registrations, partition leaders and
 * group coordinators (held as long as their agent's registration), with two agents over one store
 * and a manual clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { encodeRecordBatch } from '../../lib/format/index.js';
import { readRegistrations, StoreCluster } from '../../lib/kafka/cluster.js';
import { commitVersionFeature, leaseHolds, onRegistration, readFeatures, supportedFeatures, type Log } from '../../lib/log/index.js';
import { brokerKey, featuresKey, maintenanceReportKey, partitionKey } from '../../lib/keys.js';
import { closeAll, newLog, openTestStores, type TestStores } from '../support/logs.js';
import { memory } from '../support/stores.js';

const leaseMs = 10_000;
let nowMs = 1_000_000;
const now = () => nowMs;
const opened: { logs: Log[]; stores: TestStores[]; clusters: StoreCluster[] } = { logs: [], stores: [], clusters: [] };

afterEach(async () => {
  for (const cluster of opened.clusters.splice(0)) await cluster.stop();
  await closeAll(opened.logs.splice(0), opened.stores.splice(0));
});

/**
 * An agent's log and cluster view over `stores`, advertising 127.0.0.1:`port`. Its cluster is stopped
 * after the test unless `stop` is false. A new cluster starts at level 0 (commits per partition: these
 * tests read offsets and leases off the partition item), or at the newest levels with `newest`.
 */
async function agentOn(stores: TestStores, port: number, { stop = true, newest = false } = {}) {
  const log = newLog(stores, { now, leaseMs, leaseRenewIntervalMs: 0 });
  opened.logs.push(log);
  const initialFeatures = newest ? undefined : { [commitVersionFeature]: 0 };
  const cluster = new StoreCluster(stores.metadata, log, { advertisedHost: '127.0.0.1', leaseMs, now, initialFeatures });
  await cluster.start(port);
  if (stop) opened.clusters.push(cluster);
  return { log, cluster };
}

/** `a` is paused past its registration; `b` renews, and a new agent (returned) takes a's node id; a then registers afresh, as node 3. */
async function replacedWhilePaused(stores: TestStores, a: Agent, b: Agent): Promise<Agent> {
  nowMs += leaseMs + 1;
  await b.cluster.renew();
  const c = await agentOn(stores, 9003);
  expect(c.cluster.self.nodeId).toBe(1);
  await a.cluster.renew(); // refused (node 1 is c's): a registers afresh
  expect(a.cluster.self.nodeId).toBe(3);
  return c;
}

type Agent = Awaited<ReturnType<typeof agentOn>>;

async function twoAgents() {
  const stores = await openTestStores(memory.locations());
  opened.stores.push(stores);
  return { stores, a: await agentOn(stores, 9001), b: await agentOn(stores, 9002) };
}

describe('kafka > cluster in the store', () => {
  it('registers agents under distinct node ids and lists the live ones', async () => {
    const { a, b } = await twoAgents();
    expect([a.cluster.self.nodeId, b.cluster.self.nodeId]).toEqual([1, 2]);
    expect((await a.cluster.brokers()).map((broker) => [broker.nodeId, broker.port])).toEqual([
      [1, 9001],
      [2, 9002],
    ]);
    expect(a.cluster.clusterId).toBe(b.cluster.clusterId);
  });

  it('refuses to register an agent below the cluster’s feature levels (a level, or a feature, this version does not support), as Kafka refuses such a broker', async () => {
    const { stores, a } = await twoAgents();
    // The registration names what this version supports (lib/log/features.ts).
    expect(JSON.parse((await stores.metadata.get(brokerKey(a.cluster.self.nodeId)))!.attrs.features as string)).toEqual(supportedFeatures);
    for (const levels of [{ [commitVersionFeature]: 2 }, { 'spool.future.version': 1 }]) {
      await stores.metadata.write({ kind: 'put', key: featuresKey, attrs: { epoch: 9, levels: JSON.stringify(levels) } });
      const refused = await agentOn(stores, 9009, { stop: false }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(SpoolError);
      expect((refused as SpoolError).code).toBe('INVALID_CONFIG');
      expect((refused as SpoolError).message).toContain(Object.keys(levels)[0]);
    }
    expect((await a.cluster.brokers()).map((broker) => broker.port)).toEqual([9001, 9002]);
  });

  it('starts a new cluster at the newest feature levels (Kafka’s format): the first agent on an empty store finalizes them with the cluster id, and packs', async () => {
    const stores = await openTestStores(memory.locations());
    opened.stores.push(stores);
    const agents = await Promise.all([9001, 9002].map((port) => agentOn(stores, port, { newest: true })));
    expect(await readFeatures(stores.metadata)).toEqual({ epoch: 2, levels: { [commitVersionFeature]: 1 } });
    expect(new Set(agents.map(({ cluster }) => cluster.clusterId)).size).toBe(1); // named once, by one of the two
    const [a] = agents;
    await a!.log.createTopic('packs', 1);
    await a!.log.appendBatches('packs', 0, encodeRecordBatch([{ key: null, value: Buffer.from('x'), timestampMs: 1 }]), { asLeader: true });
    const item = await stores.metadata.get(partitionKey((await a!.log.requireTopic('packs')).id, 0));
    expect(item?.attrs.packedBy).toBe(`${a!.log.writerId}.p0`); // its packing writer (packing.ts), first incarnation
    // A later agent, of any initial levels, changes nothing.
    await agentOn(stores, 9003);
    expect(await readFeatures(stores.metadata)).toEqual({ epoch: 2, levels: { [commitVersionFeature]: 1 } });
  });

  it('an agent that read the levels before it named the cluster knows the levels it finalized at once (not after its 30 s cache)', async () => {
    const stores = await openTestStores(memory.locations());
    opened.stores.push(stores);
    const log = newLog(stores, { now, leaseMs, leaseRenewIntervalMs: 0 });
    opened.logs.push(log);
    expect(await log.features.current()).toEqual({ epoch: 1, levels: {} }); // an HTTP request before the Kafka listener started
    const cluster = new StoreCluster(stores.metadata, log, { advertisedHost: '127.0.0.1', leaseMs, now });
    await cluster.start(9001);
    opened.clusters.push(cluster);
    expect(await log.features.current()).toEqual({ epoch: 2, levels: { [commitVersionFeature]: 1 } });
  });

  it('leaves a store already written at the levels it has: one holding a topic, a registration, a maintenance report or levels, or told to start at 0, finalizes nothing', async () => {
    const starts: ((stores: TestStores) => Promise<unknown>)[] = [
      async (stores) => {
        const log = newLog(stores, { now }); // a Lambda function or an agent without a Kafka listener wrote first
        opened.logs.push(log);
        await log.createTopic('older', 1);
      },
      // An agent of a version before features registered (and has since stopped renewing).
      (stores) =>
        stores.metadata.write({ kind: 'put', key: brokerKey(1), attrs: { owner: 'w-old', host: 'h', port: 1, rack: null, expiresMs: 1 } }),
      // The scheduled maintenance function of a deployment ran over the empty store.
      (stores) => stores.metadata.write({ kind: 'put', key: maintenanceReportKey, attrs: { report: '{}' } }),
      // Levels are there already (epoch 5): left as they are.
      (stores) => stores.metadata.write({ kind: 'put', key: featuresKey, attrs: { epoch: 5, levels: '{}' } }),
      async () => undefined,
    ];
    const expected = [1, 1, 1, 5, 1].map((epoch) => ({ epoch, levels: {} }));
    for (const [i, before] of starts.entries()) {
      const stores = await openTestStores(memory.locations());
      opened.stores.push(stores);
      await before(stores);
      const { cluster } = await agentOn(stores, 9001, { newest: i < starts.length - 1 });
      expect(cluster.clusterId).not.toBe('');
      expect(await readFeatures(stores.metadata), `start ${i}`).toEqual(expected[i]);
    }
  });

  it('an agent restarted at the address of one that died takes over its node id, its partitions and its groups at once', async () => {
    const stores = await openTestStores(memory.locations());
    opened.stores.push(stores);
    const first = await agentOn(stores, 9005, { stop: false });
    const bystander = await agentOn(stores, 9006);
    await first.log.createTopic('restart', 2);
    const epoch = (await first.log.acquireLeadership('restart', 0)).epoch;
    expect(await first.cluster.coordinates('restart-group')).toBe(true);
    // The first agent dies (no stop: its registration, lease and group lease stay live), and a new one starts on its port.
    const second = await agentOn(stores, 9005);
    // Stopping the first after the second removes nothing of the second's (its conditions fail).
    opened.clusters.push(first.cluster);
    expect(second.cluster.self.nodeId).toBe(first.cluster.self.nodeId);
    expect((await second.cluster.brokers()).map((broker) => [broker.nodeId, broker.port])).toEqual([
      [1, 9005],
      [2, 9006],
    ]);
    expect((await second.log.acquireLeadership('restart', 0)).epoch).toBe(epoch + 1);
    expect(await second.cluster.coordinates('restart-group')).toBe(true);
    // The bystander, at another address, still waits for the lease like anyone.
    await expect(bystander.log.acquireLeadership('restart', 0)).rejects.toMatchObject({ code: 'NOT_LEADER' });
    // And should the first agent still be alive after all, it cannot commit: the epoch moved.
    const stale = await first.log.appendBatches(
      'restart',
      0,
      encodeRecordBatch([{ key: null, value: Buffer.from('late'), timestampMs: 1 }]),
    );
    await expect(stale.done).rejects.toMatchObject({ code: 'FENCED_LEADER_EPOCH' });
  });

  it('spreads unled partitions over the live agents, and names a lease holder as leader', async () => {
    const { a, b } = await twoAgents();
    const topic = await a.log.createTopic('spread', 4);
    const leaders = async (cluster: StoreCluster) =>
      Promise.all(
        (await a.log.describeTopic('spread')).partitions.map(async (p) => (await cluster.leaderOf(topic, p.partition, p)).leader.nodeId),
      );
    const fromA = await leaders(a.cluster);
    expect(fromA.filter((id) => id === 1)).toHaveLength(2);
    expect(await leaders(b.cluster)).toEqual(fromA);
    // Partition 0 is led by whoever takes its lease, whatever the spread said.
    const other = fromA[0] === 1 ? b : a;
    await other.log.acquireLeadership('spread', 0);
    nowMs += 2000;
    expect((await leaders(a.cluster))[0]).toBe(other.cluster.self.nodeId);
  });

  it('refuses a write as leader to a partition another live agent leads (NOT_LEADER), and allows it once that lease expires', async () => {
    const { a, b } = await twoAgents();
    await a.log.createTopic('led', 1);
    await a.log.acquireLeadership('led', 0);
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from('x'), timestampMs: 1 }]);
    const refused = await b.log.appendBatches('led', 0, batch, { asLeader: true }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(SpoolError);
    expect((refused as SpoolError).code).toBe('NOT_LEADER');
    nowMs += leaseMs + 1;
    const { done } = await b.log.appendBatches('led', 0, batch, { asLeader: true });
    expect((await done).baseOffset).toBe(0);
    // The old leader's epoch is fenced: it cannot commit any more.
    const fenced = await (await a.log.appendBatches('led', 0, batch, { asLeader: true })).done.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((fenced as SpoolError).code).toBe('FENCED_LEADER_EPOCH');
  });

  it('gives a group one coordinator, and moves it when that agent stops or its registration expires', async () => {
    const { a, b } = await twoAgents();
    expect(await a.cluster.coordinates('g1')).toBe(true);
    expect(await b.cluster.coordinates('g1')).toBe(false);
    expect((await b.cluster.coordinatorFor('g1')).nodeId).toBe(1);
    await a.cluster.stop();
    nowMs += 2000; // past the brokers cache
    expect(await b.cluster.coordinates('g1')).toBe(true);

    expect(await b.cluster.coordinates('g2')).toBe(true);
    const c = opened.clusters[0]!;
    // b stops renewing (paused): once its registration expires, another agent takes the group.
    nowMs += leaseMs + 1;
    await c.start(9001);
    expect(await c.coordinates('g2')).toBe(true);
    expect(await b.cluster.coordinates('g2')).toBe(false);
  });

  it('costs one write per renewal however many groups it coordinates, and writes nothing to forget an idle one', async () => {
    const { stores, a } = await twoAgents();
    for (let i = 0; i < 50; i++) expect(await a.cluster.coordinates(`many-${i}`)).toBe(true);
    const writes = stores.metadata.calls.write + stores.metadata.calls.transact;
    for (let i = 0; i < 4; i++) {
      nowMs += 3000;
      await a.cluster.renew();
    }
    expect(stores.metadata.calls.write + stores.metadata.calls.transact - writes).toBe(4); // the registration, four times
    // Unused for 10 minutes: forgotten here, confirmed from the store (a read, no write) when asked again.
    for (let i = 0; i < 4; i++) {
      nowMs += 3000;
      await a.cluster.renew();
    }
    nowMs += 600_000;
    await a.cluster.renew();
    const [reads, writesBefore] = [stores.metadata.calls.get, stores.metadata.calls.write + stores.metadata.calls.transact];
    expect(await a.cluster.coordinates('many-0')).toBe(true);
    expect(stores.metadata.calls.get - reads).toBe(1);
    expect(stores.metadata.calls.write + stores.metadata.calls.transact).toBe(writesBefore);
    expect((await stores.metadata.get({ pk: 'group#many-0', sk: 'coordinator' }))?.attrs).toMatchObject({
      owner: a.log.writerId,
      nodeId: 1,
    });
  });

  it('a paused agent cannot coordinate beside its successor: its late renewal drops the groups, which it finds taken', async () => {
    const { a, b } = await twoAgents();
    expect(await a.cluster.coordinates('paused')).toBe(true);
    await b.cluster.renew();
    // a is paused: no renewal for longer than its registration lasts. b renews and takes the group.
    nowMs += leaseMs / 2;
    await b.cluster.renew();
    nowMs += leaseMs / 2 + 1;
    await b.cluster.renew();
    expect(await b.cluster.coordinates('paused')).toBe(true);
    // a wakes up: its registration has expired by its own clock, so it coordinates nothing…
    expect(await a.cluster.coordinates('paused')).toBe(false);
    // …and its late renewal (returned after the expiry) starts a new generation: the group is read again, b's.
    await a.cluster.renew();
    expect(await a.cluster.coordinates('paused')).toBe(false);
    expect((await a.cluster.coordinatorFor('paused')).nodeId).toBe(b.cluster.self.nodeId);
    expect(await b.cluster.coordinates('paused')).toBe(true);
  });

  it('a takeover fails when the holder renews its registration between the read and the write', async () => {
    const { stores, a, b } = await twoAgents();
    expect(await a.cluster.coordinates('raced')).toBe(true);
    nowMs += leaseMs + 1; // both registrations expire; b renews first and looks at the group
    await b.cluster.renew();
    stores.metadata.beforeTransact = async () => {
      stores.metadata.beforeTransact = undefined;
      await a.cluster.renew(); // a renews (late) after b read its registration as expired
    };
    expect(await b.cluster.coordinates('raced')).toBe(false);
    // a's renewal came late: it confirms the group from the store, which still names it.
    expect(await a.cluster.coordinates('raced')).toBe(true);
    expect(await b.cluster.coordinates('raced')).toBe(false);
  });

  it('releases a group deleted through its coordinator: its item goes, and whoever takes it next is its only coordinator', async () => {
    const { stores, a, b } = await twoAgents();
    expect(await a.cluster.coordinates('deleted')).toBe(true);
    await b.cluster.release('deleted'); // not b's: nothing happens
    expect(await stores.metadata.get({ pk: 'group#deleted', sk: 'coordinator' })).toBeDefined();
    await a.cluster.release('deleted');
    expect(await stores.metadata.get({ pk: 'group#deleted', sk: 'coordinator' })).toBeUndefined();
    expect(await b.cluster.coordinates('deleted')).toBe(true);
    expect(await a.cluster.coordinates('deleted')).toBe(false);
  });

  it('does not count a confirmation that ends past its registration, or across a release', async () => {
    const { stores, a } = await twoAgents();
    stores.metadata.beforeWrite = () => {
      stores.metadata.beforeWrite = undefined;
      nowMs += leaseMs + 1; // the store is slow: the registration expires meanwhile
    };
    expect(await a.cluster.coordinates('slow')).toBe(false);
    await a.cluster.renew(); // late: a new generation
    expect(await a.cluster.coordinates('slow')).toBe(true); // the item names it: confirmed now

    stores.metadata.beforeWrite = async () => {
      stores.metadata.beforeWrite = undefined;
      await a.cluster.release('released'); // DeleteGroups while the group is being confirmed
    };
    expect(await a.cluster.coordinates('released')).toBe(false);
  });

  it('an agent registered afresh under another node id names that one in the items of the groups it confirms', async () => {
    const { stores, a, b } = await twoAgents();
    expect(await a.cluster.coordinates('moved')).toBe(true);
    const c = await replacedWhilePaused(stores, a, b);
    expect(await a.cluster.coordinates('moved')).toBe(true);
    expect((await stores.metadata.get({ pk: 'group#moved', sk: 'coordinator' }))?.attrs).toMatchObject({
      owner: a.log.writerId,
      nodeId: 3,
    });
    expect(await b.cluster.coordinates('moved')).toBe(false);
    expect(await c.cluster.coordinates('moved')).toBe(false);
  });

  it('takes over a coordinator lease of the version before only once it expired or its holder is gone; its own item reads as held to that version', async () => {
    const { stores, a, b } = await twoAgents();
    const key = { pk: 'group#legacy', sk: 'coordinator' };
    await stores.metadata.write({ kind: 'put', key, attrs: { owner: b.log.writerId, epoch: 4, expiresMs: nowMs + 5000 } });
    expect(await a.cluster.coordinates('legacy')).toBe(false);
    nowMs += 5001;
    expect(await a.cluster.coordinates('legacy')).toBe(true);
    expect((await stores.metadata.get(key))?.attrs).toEqual({
      owner: a.log.writerId,
      nodeId: 1,
      epoch: 5,
      expiresMs: Number.MAX_SAFE_INTEGER,
    });
  });
});

describe('kafka > partition leases on the registration', () => {
  const batch = encodeRecordBatch([{ key: null, value: Buffer.from('x'), timestampMs: 1 }]);
  /** Appends as leader; resolves to the base offset, or the error's code. */
  const append = async (log: Log, topic: string, partition: number) =>
    log
      .appendBatches(topic, partition, batch, { asLeader: true })
      .then(({ done }) => done)
      .then(
        ({ baseOffset }) => baseOffset,
        (error: unknown) => (error as SpoolError).code,
      );
  const leaseOf = async (stores: TestStores, log: Log, topic: string, partition: number) =>
    (await stores.metadata.get(partitionKey((await log.requireTopic(topic)).id, partition)))?.attrs;

  it('judges a lease: one on a registration while that registration names its owner and lives, an own one until its expiry', () => {
    const live = { owner: 'w1', expiresMs: 2000 };
    const onNode = { owner: 'w1', ownerNode: 1, leaseExpiresMs: onRegistration };
    expect(leaseHolds(onNode, (node) => (node === 1 ? live : undefined), 1000)).toBe(true);
    expect(leaseHolds(onNode, () => ({ ...live, expiresMs: 1000 }), 1000)).toBe(false); // expired
    expect(leaseHolds(onNode, () => ({ ...live, owner: 'w2' }), 1000)).toBe(false); // the node id is another agent's now
    expect(leaseHolds(onNode, () => undefined, 1000)).toBe(false); // deregistered
    expect(leaseHolds({ ...onNode, owner: null }, () => live, 1000)).toBe(false);
    expect(leaseHolds({ owner: 'w1', ownerNode: null, leaseExpiresMs: 1001 }, () => undefined, 1000)).toBe(true);
    expect(leaseHolds({ owner: 'w1', ownerNode: null, leaseExpiresMs: 1000 }, () => undefined, 1000)).toBe(false);
    // Agents of the version before judge by the expiry alone, and print it in their NOT_LEADER message.
    expect(new Date(onRegistration).toISOString()).toBe('+275760-09-13T00:00:00.000Z');
  });

  it('holds leases with no write per lease: the registration renewed is the only write, and commits leave the lease as it is', async () => {
    const { stores, a } = await twoAgents();
    await a.log.createTopic('held', 50);
    for (let p = 0; p < 50; p++) expect(await append(a.log, 'held', p)).toBe(0);
    expect(await leaseOf(stores, a.log, 'held', 7)).toMatchObject({
      owner: a.log.writerId,
      ownerNode: 1,
      epoch: 1,
      leaseExpiresMs: onRegistration,
    });
    const writes = () => stores.metadata.calls.write + stores.metadata.calls.transact;
    await a.log.internals.leadership.settled(); // the topic's leadership value, moved by the takes: not in the count below
    const before = writes();
    for (let i = 0; i < 4; i++) {
      nowMs += 3000;
      await a.cluster.renew();
      await a.log.internals.leases.renewAll();
    }
    expect(writes() - before).toBe(4); // the registration, four times
    expect(a.log.internals.leases.heldCount).toBe(50);
    // A commit as leader writes its offsets, not the lease; taking a lease held already writes nothing.
    expect(await append(a.log, 'held', 7)).toBe(1);
    expect(await leaseOf(stores, a.log, 'held', 7)).toMatchObject({ epoch: 1, leaseExpiresMs: onRegistration, nextOffset: 2 });
    const afterCommit = writes();
    expect((await a.log.acquireLeadership('held', 7)).epoch).toBe(1);
    expect(writes()).toBe(afterCommit);
  });

  it('a partition moves only once its leader stops or its registration lapses; the paused leader cannot commit beside its successor', async () => {
    const { stores, a, b } = await twoAgents();
    await a.log.createTopic('moves', 2);
    expect(await append(a.log, 'moves', 0)).toBe(0);
    expect(await append(a.log, 'moves', 1)).toBe(0);
    expect(await append(b.log, 'moves', 0)).toBe('NOT_LEADER');
    // Long after any lease of its own would have expired, a's registration keeps its lease.
    for (let i = 0; i < 5; i++) {
      nowMs += leaseMs / 2;
      await a.cluster.renew();
      await b.cluster.renew();
    }
    expect(await append(b.log, 'moves', 0)).toBe('NOT_LEADER');
    // a is paused past its registration; b takes the partition, fencing a.
    nowMs += leaseMs + 1;
    await b.cluster.renew();
    expect(await append(b.log, 'moves', 0)).toBe(1);
    expect(await leaseOf(stores, b.log, 'moves', 0)).toMatchObject({ owner: b.log.writerId, ownerNode: 2, epoch: 2 });
    // a wakes and renews late; its commit under the old epoch is refused and nothing of it is visible…
    await a.cluster.renew();
    expect(await append(a.log, 'moves', 0)).toBe('FENCED_LEADER_EPOCH');
    expect(await leaseOf(stores, a.log, 'moves', 0)).toMatchObject({ epoch: 2, nextOffset: 2 });
    // …and it has dropped the lease: b's registration lives, so a is told to go to the leader.
    expect(await append(a.log, 'moves', 0)).toBe('NOT_LEADER');
    // A partition a still leads (its registration renewed in time for b to see it) stays a's; once a stops, it is b's at once.
    expect(await append(b.log, 'moves', 1)).toBe('NOT_LEADER');
    await a.cluster.stop();
    // Stopping released the lease before the registration went (agents of the version before take only a released one)…
    expect(await leaseOf(stores, a.log, 'moves', 1)).toMatchObject({ owner: null, ownerNode: null, epoch: 1 });
    expect(await append(b.log, 'moves', 1)).toBe(1);
    // …so what a accepts over HTTP while it drains commits leaderless, not fenced by its successor.
    expect(await a.log.produce('moves', [{ key: null, value: Buffer.from('late'), partition: 1 }])).toEqual([{ partition: 1, offset: 2 }]);
  });

  it('a takeover fails when the leader renews its registration between the read and the take', async () => {
    const { stores, a, b } = await twoAgents();
    await a.log.createTopic('raced-lease', 1);
    expect(await append(a.log, 'raced-lease', 0)).toBe(0);
    nowMs += leaseMs + 1; // both registrations expire; b renews first and tries the partition
    await b.cluster.renew();
    stores.metadata.beforeTransact = async () => {
      stores.metadata.beforeTransact = undefined;
      await a.cluster.renew(); // a renews (late) after b read its registration as expired
    };
    expect(await append(b.log, 'raced-lease', 0)).toBe('NOT_LEADER');
    expect(await append(a.log, 'raced-lease', 0)).toBe(1);
    expect(await leaseOf(stores, a.log, 'raced-lease', 0)).toMatchObject({ owner: a.log.writerId, epoch: 1 });
  });

  it("a takeover fails when the lease it read on a node id now another's is pointed at its owner's new registration meanwhile", async () => {
    const { stores, a, b } = await twoAgents();
    await a.log.createTopic('repoint-race', 1);
    expect(await append(a.log, 'repoint-race', 0)).toBe(0);
    await replacedWhilePaused(stores, a, b);
    stores.metadata.beforeTransact = async () => {
      stores.metadata.beforeTransact = undefined;
      await a.log.internals.leases.renewAll(); // a points its lease at node 3 after b read it on node 1 (now c's)
    };
    expect(await append(b.log, 'repoint-race', 0)).toBe('NOT_LEADER');
    expect(await leaseOf(stores, a.log, 'repoint-race', 0)).toMatchObject({ owner: a.log.writerId, ownerNode: 3, epoch: 1 });
  });

  it('renews its registration through refusals a takeover transaction checking it causes, instead of a round later', async () => {
    const { stores, a } = await twoAgents();
    let refused = 0;
    stores.metadata.beforeWrite = () => {
      if (++refused === 3) stores.metadata.beforeWrite = undefined;
      throw new SpoolError('CONFLICT', 'transaction cancelled: TransactionConflict', { retriable: true });
    };
    nowMs += 3000;
    await a.cluster.renew();
    expect(refused).toBe(3);
    expect(a.cluster.self).toMatchObject({ nodeId: 1 });
    expect((await readRegistrations(stores.metadata)).find((r) => r.nodeId === 1)?.expiresMs).toBe(nowMs + leaseMs);
  });

  it('releases an idle lease at a later round when the write releasing it fails', async () => {
    const { stores, a } = await twoAgents();
    await a.log.createTopic('idle-release', 1);
    expect(await append(a.log, 'idle-release', 0)).toBe(0);
    nowMs += 61_000; // past SPOOL_LEASE_IDLE_MS
    stores.metadata.beforeWrite = (op) => {
      if (op.kind !== 'update' || op.set.owner !== null) return;
      stores.metadata.beforeWrite = undefined;
      throw new SpoolError('STORAGE_UNAVAILABLE', 'throttled', { retriable: true });
    };
    await a.log.internals.leases.renewAll();
    expect(await leaseOf(stores, a.log, 'idle-release', 0)).toMatchObject({ owner: a.log.writerId });
    expect(a.log.internals.leases.heldCount).toBe(1);
    await a.log.internals.leases.renewAll();
    expect(await leaseOf(stores, a.log, 'idle-release', 0)).toMatchObject({ owner: null, ownerNode: null });
    expect(a.log.internals.leases.heldCount).toBe(0);
  });

  it('an agent registered afresh under another node id points its leases at it at its next round', async () => {
    const { stores, a, b } = await twoAgents();
    await a.log.createTopic('repointed', 1);
    expect(await append(a.log, 'repointed', 0)).toBe(0);
    const c = await replacedWhilePaused(stores, a, b);
    await a.log.internals.leases.renewAll();
    expect(await leaseOf(stores, a.log, 'repointed', 0)).toMatchObject({ owner: a.log.writerId, ownerNode: 3, epoch: 1 });
    expect(await append(b.log, 'repointed', 0)).toBe('NOT_LEADER');
    expect(await append(c.log, 'repointed', 0)).toBe('NOT_LEADER');
    expect(await append(a.log, 'repointed', 0)).toBe(1);
  });
});
