/**
 * Consumer groups over the metadata store, written once and run on the embedded store and on the
 * AWS adapters. A skewed clock stands in for session timeouts.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { groupOffsetKey, groupPk, groupStateKey } from '../../lib/keys.js';
import type { Log } from '../../lib/log/index.js';
import { maxTransactionOps, type WriteOp } from '../../lib/storage/ports.js';
import type { StoreKind } from '../support/stores.js';
import { closeAll, newLog, openTestStores, str, text, type TestStores } from '../support/logs.js';

export function groupSuite(kind: () => StoreKind): void {
  const logs: Log[] = [];
  const opened: TestStores[] = [];
  afterEach(async () => {
    await closeAll(logs.splice(0), opened.splice(0));
  });

  async function setup(partitions = 4) {
    const stores = await openTestStores(kind().locations());
    opened.push(stores);
    const clock = { skewMs: 0 };
    const now = () => Date.now() + clock.skewMs;
    const log = newLog(stores, { now });
    logs.push(log);
    // Two coordinators on one store: as two API instances (two Lambdas) would be.
    const groups = [new GroupCoordinator(log, stores.metadata, { now }), new GroupCoordinator(log, stores.metadata, { now })] as const;
    const topic = `g-${randomUUID().slice(0, 8)}`;
    await log.createTopic(topic, partitions);
    return { log, stores, groups, topic, clock, group: `grp-${randomUUID().slice(0, 8)}` };
  }

  const produceN = async (log: Log, topic: string, n: number, from = 0) => {
    for (let i = from; i < from + n; i++) await log.produce(topic, [{ key: text(`k${i}`), value: text(`v${i}`) }]);
  };

  describe('groups > membership and rebalancing', () => {
    it('rebalances through joins, leaves and expiries without ever giving a partition to two live members', async () => {
      for (const partitions of [1, 5, 12]) {
        const { groups, topic, group, clock } = await setup(partitions);
        const ids: string[] = [];
        const check = async () => {
          const d = await groups[0].describe(group);
          const owned = d.members.flatMap((m) => m.assignments.map((a) => `${a.topic}/${a.partition}`));
          expect(new Set(owned).size).toBe(owned.length);
          return d;
        };
        const settle = async () => {
          for (let round = 0; round < 2; round++) for (const id of ids) await groups[round % 2]!.heartbeat(group, id);
          const d = await check();
          expect(d.state).toBe('stable');
          const owned = d.members.flatMap((m) => m.assignments);
          expect(owned).toHaveLength(partitions);
          // Members beyond the partition count stay idle; the others share evenly (range).
          const sizes = d.members.map((m) => m.assignments.length).sort((a, b) => a - b);
          expect(sizes[sizes.length - 1]! - sizes[0]!).toBeLessThanOrEqual(1);
          return d;
        };
        for (let i = 0; i < 5; i++) {
          // The last to join will go silent: a short session; the others' outlast the clock skew below.
          const joined = await groups[i % 2]!.join(group, {
            topics: [topic],
            autoOffsetReset: 'earliest',
            sessionTimeoutMs: i === 4 ? 5_000 : 60_000,
          });
          ids.push(joined.memberId);
          await check();
          await settle();
        }
        expect((await groups[0].describe(group)).members.filter((m) => m.assignments.length === 0)).toHaveLength(
          Math.max(0, 5 - partitions),
        );
        await groups[1].leave(group, ids.shift()!);
        await check();
        await settle();
        // One member stops heartbeating: after its session it is expired and its partitions move.
        const silent = ids.pop()!;
        clock.skewMs += 6_000;
        for (const id of ids) await groups[0].heartbeat(group, id); // the others renew
        const after = await settle();
        expect(after.members.map((m) => m.memberId)).not.toContain(silent);
        await expect(groups[0].heartbeat(group, silent)).rejects.toMatchObject({ code: 'UNKNOWN_MEMBER_ID' });
      }
    });

    it('moves a partition from a live member only after it acknowledges, and rejects a zombie’s commit', async () => {
      const { groups, topic, group, log } = await setup(2);
      await produceN(log, topic, 6);
      const a = await groups[0].join(group, { topics: [topic], autoOffsetReset: 'earliest', autoCommit: false });
      expect(a.assignments).toHaveLength(2);
      const b = await groups[1].join(group, { topics: [topic], autoOffsetReset: 'earliest', autoCommit: false });
      expect(b.assignments).toEqual([]); // a still holds both until it hears of the new generation
      const told = await groups[0].heartbeat(group, a.memberId);
      expect(told.generation).toBe(b.generation);
      expect(told.revoking).toHaveLength(1);
      // a commits what it is giving up, then acknowledges with its next request.
      await groups[0].commit(group, {
        memberId: a.memberId,
        generation: told.generation,
        offsets: told.revoking.map((tp) => ({ ...tp, offset: 0 })),
      });
      const acked = await groups[0].heartbeat(group, a.memberId);
      expect(acked.assignments).toHaveLength(1);
      expect((await groups[1].heartbeat(group, b.memberId)).assignments).toHaveLength(1);
      // A commit from the old generation is refused, and nothing is written.
      await expect(
        groups[0].commit(group, { memberId: a.memberId, generation: a.generation, offsets: [{ ...acked.assignments[0]!, offset: 3 }] }),
      ).rejects.toMatchObject({
        code: 'ILLEGAL_GENERATION',
      });
      // A member committing a partition it does not hold is refused too.
      const other = (await groups[1].heartbeat(group, b.memberId)).assignments[0]!;
      await expect(
        groups[0].commit(group, { memberId: a.memberId, generation: acked.generation, offsets: [{ ...other, offset: 3 }] }),
      ).rejects.toMatchObject({
        code: 'REBALANCE_IN_PROGRESS',
      });
      expect((await groups[0].offsets(group)).every((o) => o.committed === 0)).toBe(true);
    });

    it('refuses a joiner whose assignor differs from the group’s', async () => {
      const { groups, topic, group } = await setup(2);
      await groups[0].join(group, { topics: [topic], assignor: 'range' });
      await expect(groups[1].join(group, { topics: [topic], assignor: 'roundrobin' })).rejects.toMatchObject({
        code: 'INCONSISTENT_GROUP_PROTOCOL',
      });
    });
  });

  describe('groups > consuming', () => {
    async function drain(
      groups: readonly GroupCoordinator[],
      group: string,
      members: string[],
      expected: number,
      seen: Map<string, string[]>,
    ) {
      for (let round = 0; round < 200 && [...seen.values()].flat().length < expected; round++) {
        for (const [i, id] of members.entries()) {
          const { records } = await groups[i % groups.length]!.poll(group, id, { maxRecords: 3 });
          for (const r of records) seen.get(id)!.push(`${r.topic}/${r.partition}@${r.offset}=${str(r.value)}`);
        }
      }
    }

    it('splits a topic among a group’s members with nothing delivered twice (a queue)', async () => {
      const { groups, topic, group, log } = await setup(4);
      await produceN(log, topic, 40);
      const members = [];
      for (let i = 0; i < 3; i++)
        members.push((await groups[i % 2]!.join(group, { topics: [topic], autoOffsetReset: 'earliest' })).memberId);
      for (let round = 0; round < 2; round++) for (const id of members) await groups[0].heartbeat(group, id);
      const seen = new Map(members.map((id) => [id, [] as string[]]));
      await drain(groups, group, members, 40, seen);
      const all = [...seen.values()].flat();
      expect(all).toHaveLength(40);
      expect(new Set(all).size).toBe(40);
      expect([...seen.values()].filter((records) => records.length > 0).length).toBeGreaterThanOrEqual(2);
    });

    it('gives every record to each of two groups (publish/subscribe)', async () => {
      const { groups, topic, log } = await setup(3);
      await produceN(log, topic, 15);
      for (const group of ['pub-a', 'pub-b'].map((g) => `${g}-${randomUUID().slice(0, 6)}`)) {
        const id = (await groups[0].join(group, { topics: [topic], autoOffsetReset: 'earliest' })).memberId;
        const seen = new Map([[id, [] as string[]]]);
        await drain(groups, group, [id], 15, seen);
        expect(
          seen
            .get(id)!
            .map((r) => r.split('=')[1])
            .sort(),
        ).toEqual(Array.from({ length: 15 }, (_, i) => `v${i}`).sort());
      }
    });

    it('resumes after a member dies mid-batch from its last commit: nothing skipped (at least once)', async () => {
      const { groups, topic, group, log, clock } = await setup(1);
      await produceN(log, topic, 10);
      const a = await groups[0].join(group, { topics: [topic], autoOffsetReset: 'earliest', autoCommit: false, sessionTimeoutMs: 10_000 });
      const first = await groups[0].poll(group, a.memberId, { maxRecords: 4 });
      expect(first.records.map((r) => r.offset)).toEqual([0, 1, 2, 3]);
      await groups[0].commit(group, { memberId: a.memberId, generation: first.generation, offsets: [{ topic, partition: 0, offset: 4 }] });
      const second = await groups[0].poll(group, a.memberId, { maxRecords: 3 });
      expect(second.records.map((r) => r.offset)).toEqual([4, 5, 6]); // …and a dies before committing these
      const b = await groups[1].join(group, { topics: [topic], autoOffsetReset: 'earliest', autoCommit: false });
      expect(b.assignments).toEqual([]); // a's session has not run out
      clock.skewMs += 11_000;
      const resumed = await groups[1].poll(group, b.memberId, { maxRecords: 100 });
      expect(resumed.records.map((r) => r.offset)).toEqual([4, 5, 6, 7, 8, 9]);
    });

    it('auto-commits the previous poll’s positions, and reports lag as high watermark minus committed', async () => {
      const { groups, topic, group, log } = await setup(1);
      await produceN(log, topic, 10);
      const a = await groups[0].join(group, { topics: [topic], autoOffsetReset: 'earliest' });
      await groups[0].poll(group, a.memberId, { maxRecords: 4 });
      expect((await groups[0].describe(group)).partitions[0]).toMatchObject({ committed: null, lag: null });
      await groups[0].poll(group, a.memberId, { maxRecords: 2 }); // commits 4, reads 4..5
      const d = await groups[0].describe(group);
      expect(d.partitions[0]).toMatchObject({ committed: 4, highWatermark: 10, lag: 6, owner: a.memberId });
      await groups[0].heartbeat(group, a.memberId); // a heartbeat in steady state commits nothing (as Kafka's)
      expect((await groups[0].offsets(group))[0]).toMatchObject({ committed: 4 });
      await groups[0].poll(group, a.memberId, { maxRecords: 1 }); // commits 6
      expect((await groups[0].offsets(group))[0]).toMatchObject({ committed: 6 });
      await groups[0].leave(group, a.memberId); // leaving commits what the last poll reached
      expect((await groups[0].offsets(group))[0]).toMatchObject({ committed: 7 });
    });

    it('starts a new group at earliest or latest, or refuses with none', async () => {
      const { groups, topic, log } = await setup(1);
      await produceN(log, topic, 3);
      const poll = async (reset: 'earliest' | 'latest' | 'none') => {
        const group = `reset-${reset}-${randomUUID().slice(0, 6)}`;
        const id = (await groups[0].join(group, { topics: [topic], autoOffsetReset: reset })).memberId;
        return (await groups[0].poll(group, id)).records.map((r) => r.offset);
      };
      expect(await poll('earliest')).toEqual([0, 1, 2]);
      expect(await poll('latest')).toEqual([]);
      await expect(poll('none')).rejects.toMatchObject({ code: 'NO_COMMITTED_OFFSET' });
    });

    it('long-polls across the member’s partitions', async () => {
      const { groups, topic, group, log } = await setup(3);
      const id = (await groups[0].join(group, { topics: [topic], autoOffsetReset: 'latest' })).memberId;
      await groups[0].poll(group, id);
      setTimeout(() => void log.produce(topic, [{ key: null, value: text('late'), partition: 2 }]), 100);
      const { records } = await groups[0].poll(group, id, { waitMs: 10_000 });
      expect(records.map((r) => [r.partition, str(r.value)])).toEqual([[2, 'late']]);
    });
  });

  describe('groups > regressions', () => {
    it('with auto_offset_reset latest, delivers what is produced between polls', async () => {
      const { groups, topic, group, log } = await setup(1);
      const id = (await groups[0].join(group, { topics: [topic] })).memberId;
      expect((await groups[0].poll(group, id)).records).toEqual([]);
      await produceN(log, topic, 3);
      expect((await groups[0].poll(group, id)).records.map((r) => r.offset)).toEqual([0, 1, 2]);
    });

    it('does not auto-commit for a member that joined again under the same id (its previous run crashed)', async () => {
      const { groups, topic, group, log } = await setup(1);
      await produceN(log, topic, 5);
      const first = await groups[0].join(group, { topics: [topic], memberId: 'fixed-id', autoOffsetReset: 'earliest' });
      expect((await groups[0].poll(group, first.memberId)).records).toHaveLength(5); // …then crashes before processing
      await groups[0].join(group, { topics: [topic], memberId: 'fixed-id', autoOffsetReset: 'earliest' });
      expect((await groups[0].poll(group, 'fixed-id')).records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
    });

    it('expires a member whose lease was never written, counting from its join', async () => {
      const { groups, topic, group, clock } = await setup(2);
      const stores = opened[opened.length - 1]!;
      const write = stores.metadata.write.bind(stores.metadata);
      stores.metadata.write = async (op) => {
        if (op.kind === 'put' && op.key.sk.startsWith('member#')) throw new Error('throttled');
        return write(op);
      };
      await expect(groups[0].join(group, { topics: [topic], sessionTimeoutMs: 5000 })).rejects.toThrow('throttled');
      stores.metadata.write = write;
      clock.skewMs += 6000;
      const b = await groups[1].join(group, { topics: [topic] });
      expect(b.assignments).toHaveLength(2);
      expect((await groups[0].describe(group)).members.map((m) => m.memberId)).toEqual([b.memberId]);
    });

    it('expires more members than one transaction holds over several changes, checking each one it removes', {
      timeout: 60_000,
    }, async () => {
      const { groups, topic, group, clock, stores } = await setup(2);
      const count = maxTransactionOps + 20;
      // Sessions long enough that none lapses in real time while 120 joins run against a slow store.
      const sessionTimeoutMs = 600_000;
      for (let i = 0; i < count; i++) await groups[i % 2]!.join(group, { topics: [topic], memberId: `gone-${i}`, sessionTimeoutMs });
      const storedMembers = async () =>
        Object.keys((await stores.metadata.get(groupStateKey(group)))!.attrs.members as Record<string, unknown>).length;
      expect(await storedMembers()).toBe(count);
      clock.skewMs += sessionTimeoutMs + 1000;
      const transactions: WriteOp[][] = [];
      const transact = stores.metadata.transact.bind(stores.metadata);
      stores.metadata.transact = async (ops) => {
        transactions.push([...ops]);
        return transact(ops);
      };
      const stateOf = (ops: readonly WriteOp[]) => ops.find((op) => op.kind === 'put' && op.key.sk === 'state');
      const { memberId } = await groups[0].join(group, { topics: [topic] });
      // The first change expired one transaction's worth; the next (a heartbeat) the rest.
      expect(await storedMembers()).toBe(count - (maxTransactionOps - 1) + 1);
      await groups[1].heartbeat(group, memberId);
      expect(await storedMembers()).toBe(1);
      const described = await groups[0].describe(group);
      expect(described.members.map((m) => m.memberId)).toEqual([memberId]);
      expect(described.members[0]!.assignments).toHaveLength(2);
      // Every transaction fits, and every member a state write removed was checked in the same one.
      const writes = transactions.filter((ops) => stateOf(ops) !== undefined);
      expect(writes.length).toBeGreaterThanOrEqual(2);
      let members = new Set(Array.from({ length: count }, (_, i) => `gone-${i}`));
      for (const ops of writes) {
        expect(ops.length).toBeLessThanOrEqual(maxTransactionOps);
        const state = stateOf(ops) as Extract<WriteOp, { kind: 'put' }>;
        const after = new Set(Object.keys(state.attrs.members as Record<string, unknown>));
        const checked = new Set(ops.filter((op) => op.kind === 'check').map((op) => op.key.sk.slice('member#'.length)));
        for (const id of members) if (!after.has(id)) expect(checked.has(id), `${id} removed unchecked`).toBe(true);
        members = after;
      }
    });

    it('never moves a committed offset backwards by auto-commit', async () => {
      const { groups, topic, group, log } = await setup(1);
      await produceN(log, topic, 10);
      const id = (await groups[0].join(group, { topics: [topic], autoOffsetReset: 'earliest' })).memberId;
      const polled = await groups[0].poll(group, id, { maxRecords: 3 });
      await groups[1].commit(group, { memberId: id, generation: polled.generation, offsets: [{ topic, partition: 0, offset: 8 }] });
      await groups[0].poll(group, id, { maxRecords: 1 }); // its auto-commit of 3 must not undo 8
      expect((await groups[0].offsets(group))[0]).toMatchObject({ committed: 8 });
    });
  });

  describe('groups > administration', () => {
    it('commits without a member, resets and deletes only while the group is empty', async () => {
      const { groups, topic, group, log, clock } = await setup(2);
      await produceN(log, topic, 8);
      await groups[0].commit(group, { offsets: [{ topic, partition: 0, offset: 1 }] });
      expect(await groups[0].offsets(group)).toEqual([{ topic, partition: 0, committed: 1 }]);
      const id = (await groups[0].join(group, { topics: [topic], sessionTimeoutMs: 5000 })).memberId;
      await expect(groups[0].commit(group, { offsets: [{ topic, partition: 0, offset: 2 }] })).rejects.toMatchObject({
        code: 'GROUP_NOT_EMPTY',
      });
      await expect(groups[0].resetOffsets(group, 'earliest')).rejects.toMatchObject({ code: 'GROUP_NOT_EMPTY' });
      await expect(groups[0].resetOffsets(group, 'earliest', [topic], true)).rejects.toMatchObject({ code: 'GROUP_NOT_EMPTY' });
      await expect(groups[0].deleteGroup(group)).rejects.toMatchObject({ code: 'GROUP_NOT_EMPTY' });
      expect((await groups[0].list()).find((g) => g.group === group)).toMatchObject({ members: 1 });
      clock.skewMs += 6000; // the member's session runs out
      expect(await groups[0].resetOffsets(group, 'latest', [topic])).toEqual([
        { topic, partition: 0, committed: (await log.listOffset(topic, 0, 'latest'))!.offset },
        { topic, partition: 1, committed: (await log.listOffset(topic, 1, 'latest'))!.offset },
      ]);
      expect((await groups[0].resetOffsets(group, { offset: 0 })).map((o) => o.committed)).toEqual([0, 0]);
      await groups[0].deleteGroup(group);
      await expect(groups[0].describe(group)).rejects.toMatchObject({ code: 'GROUP_NOT_FOUND' });
      expect((await groups[0].list()).map((g) => g.group)).not.toContain(group);
      await expect(groups[0].heartbeat(group, id)).rejects.toMatchObject({ code: 'UNKNOWN_MEMBER_ID' });
    });
  });

  describe('groups > offsets beyond the log', () => {
    it('brings a reset to an offset beyond the end back to the high watermark, as kafka-consumer-groups does, and shows a commit beyond it with negative lag', async () => {
      const { log, groups, topic, group } = await setup(1);
      await produceN(log, topic, 2);
      expect(await groups[0].resetOffsets(group, { offset: 50 })).toEqual([]); // a group with no offsets and no topics named
      // A dry run answers what the reset would set and writes nothing.
      expect(await groups[0].resetOffsets(group, { offset: 50 }, [topic], true)).toEqual([{ topic, partition: 0, committed: 2 }]);
      expect(await groups[0].offsets(group)).toEqual([]);
      expect(await groups[0].resetOffsets(group, { offset: 50 }, [topic])).toEqual([{ topic, partition: 0, committed: 2 }]);
      expect((await groups[0].describe(group)).partitions[0]).toMatchObject({ committed: 2, highWatermark: 2, lag: 0 });
      // A commit is taken as sent (Kafka's OffsetCommit does not check the log), and its lag says so.
      await groups[0].commit(group, { offsets: [{ topic, partition: 0, offset: 9 }] });
      expect((await groups[0].describe(group)).partitions[0]).toMatchObject({ committed: 9, highWatermark: 2, lag: -7 });
    });
  });

  describe('groups > topic identity', () => {
    const readAll = async (groups: readonly GroupCoordinator[], group: string, topic: string, expected: number) => {
      const id = (await groups[0]!.join(group, { topics: [topic], autoOffsetReset: 'earliest' })).memberId;
      const values: string[] = [];
      for (let round = 0; round < 50 && values.length < expected; round++) {
        for (const r of (await groups[round % 2]!.poll(group, id, { maxRecords: 7 })).records) values.push(str(r.value)!);
      }
      await groups[0]!.leave(group, id); // commits what was read
      return values;
    };

    it('forgets a deleted topic’s offsets, so a topic created again under its name is read from its start (as Kafka)', async () => {
      const { log, groups, topic, group } = await setup(1);
      await produceN(log, topic, 20);
      expect(await readAll(groups, group, topic, 20)).toHaveLength(20);
      expect(await groups[0].offsets(group)).toEqual([{ topic, partition: 0, committed: 20 }]);

      await log.deleteTopic(topic);
      expect(await groups[1].offsets(group)).toEqual([]);
      expect((await groups[1].describe(group)).partitions).toEqual([]); // describes normally, with nothing of the deleted topic

      await log.createTopic(topic, 1);
      await produceN(log, topic, 30, 100);
      const again = await readAll(groups, group, topic, 30);
      expect(again).toEqual(Array.from({ length: 30 }, (_, i) => `v${100 + i}`));
      expect(await groups[0].offsets(group)).toEqual([{ topic, partition: 0, committed: 30 }]);
    });

    it('counts an offset stored without a topic id (before ids were stored) only if it was committed after the topic was created', async () => {
      const { log, stores, groups, topic, group } = await setup(2);
      const created = (await log.requireTopic(topic)).createdMs;
      await groups[0].commit(group, { offsets: [{ topic, partition: 0, offset: 0 }] }); // creates the group
      const legacy = (partition: number, committed: number, committedMs: number) =>
        stores.metadata.write({ kind: 'put', key: groupOffsetKey(group, `${topic}/${partition}`), attrs: { committed, committedMs } });
      await legacy(0, 7, created - 1);
      await legacy(1, 9, created + 1);
      expect(await groups[0].offsets(group)).toEqual([{ topic, partition: 1, committed: 9 }]);
    });

    it('deletes a group with every offset item it ever stored, those of deleted topics too', async () => {
      const { log, stores, groups, topic, group } = await setup(1);
      await groups[0].commit(group, { offsets: [{ topic, partition: 0, offset: 0 }] });
      await log.deleteTopic(topic);
      await groups[0].deleteGroup(group);
      expect(await stores.metadata.query(groupPk(group))).toEqual([]);
    });
  });
}
