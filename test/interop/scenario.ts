/**
 * The interop scenario, written once and run for every client (one test file each):
 *
 * 1. create a 4-partition topic through the client's admin API;
 * 2. produce the first half of N keyed records (`key-<i % 50>`, gzip): each is acknowledged at the
 *    partition Java's murmur2 partitioner picks for its key, at dense offsets in produce order;
 * 3. start a group of two members at once (two processes): they split the partitions; then produce
 *    the second half while both run, so each member consumes its partitions concurrently;
 * 4. every one of the N records is delivered exactly once across the members, in offset order per
 *    partition, with the key and value it was acknowledged with; the members commit and leave, and
 *    the group's committed offsets are the partitions' end offsets;
 * 5. produce M more records, start two new members in the same group: they resume at the committed
 *    offsets, so they receive exactly the M new records. The first run committed everything it
 *    consumed before leaving (step 4), so the uncommitted tail a restarted group may legitimately
 *    see again is empty here: not one of the first N records may come back.
 *
 * The steps share state and run in order; a failed step makes the later ones fail too.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { partitionForKey } from '../../lib/format/murmur2.js';
import { killClients, type Ack, type ConsumedRecord, type GroupMember, type InteropClient, type KeyedValue } from './clients.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** bootstrap.servers of the server under test (see support.ts and global-setup.ts). */
    interopBootstrap: string;
    interopTarget: string;
    /** Base URL of the Spool agent's HTTP API; only when support.ts started the agent (INTEROP_TARGET=spool). */
    interopHttp?: string;
  }
}

const partitions = 4;
/** Records of the first group run (half before the group forms, half while it runs). */
const firstRunRecords = 2000;
/** Records produced while no member runs, for the restarted group. */
const secondRunRecords = 500;
const distinctKeys = 50;
/** How long the group may take to form, and to consume what was produced. */
const groupFormsWithinMs = 60_000;
const consumedWithinMs = 90_000;

/** Record `seq`: a key shared by every 50th record, a value that names it (and compresses). */
export function recordFor(seq: number): KeyedValue {
  return { key: `key-${seq % distinctKeys}`, value: `seq-${seq}-${'spool interop '.repeat(4)}` };
}

function seqOf(value: string | null): number {
  const match = /^seq-(\d+)-/.exec(value ?? '');
  if (!match) throw new Error(`value ${JSON.stringify(value)} carries no sequence number`);
  return Number(match[1]);
}

function range(from: number, count: number): KeyedValue[] {
  return Array.from({ length: count }, (_, i) => recordFor(from + i));
}

const position = (record: { partition: number; offset: number }) => `${record.partition}/${record.offset}`;

async function withAdmin<T>(bootstrap: string, use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({ clientId: 'interop-inspector', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

/** The group's committed offset per partition (-1: none). */
function committedOffsets(bootstrap: string, group: string, topic: string): Promise<Map<number, number>> {
  return withAdmin(bootstrap, async (admin) => {
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return new Map(offsets!.partitions.map(({ partition, offset }) => [partition, Number(offset)]));
  });
}

/**
 * Waits until the topic's metadata lists `count` partitions, each with a leader: a broker may answer
 * CreateTopics before the partitions are ready (Kafka does when not asked to wait, as sarama does not).
 */
async function waitForPartitions(bootstrap: string, topic: string, count: number): Promise<number[]> {
  return withAdmin(bootstrap, async (admin) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
      const listed = metadata?.topics[0]?.partitions ?? [];
      if (listed.length === count && listed.every((partition) => partition.leader >= 0)) {
        return listed.map((partition) => partition.partitionId).sort((a, b) => a - b);
      }
      if (Date.now() > deadline)
        throw new Error(`topic ${topic} still lists ${JSON.stringify(listed)} after 30 s, expected ${count} partitions with leaders`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });
}

/** Each partition's end offset (high watermark). */
function endOffsets(bootstrap: string, topic: string): Promise<Map<number, number>> {
  return withAdmin(bootstrap, async (admin) => {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map(({ partition, high }) => [partition, Number(high)]));
  });
}

/** Acks per partition, in offset order. */
function byPartition<T extends { partition: number; offset: number }>(records: readonly T[]): Map<number, T[]> {
  const grouped = new Map<number, T[]>();
  for (const record of records) grouped.set(record.partition, [...(grouped.get(record.partition) ?? []), record]);
  for (const list of grouped.values()) list.sort((a, b) => a.offset - b.offset);
  return grouped;
}

async function waitUntil(what: string, condition: () => boolean, timeoutMs: number, state: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}\n${state()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const describeMembers = (members: readonly GroupMember[]) => members.map((member) => `--- ${member.name}: ${member.describe()}`).join('\n');

/** Both members own partitions, none twice, all of them. */
function splitsPartitions(members: readonly GroupMember[]): boolean {
  const owned = members.map((member) => member.assignment ?? []);
  const all = owned.flat();
  return owned.every((list) => list.length > 0) && all.length === partitions && new Set(all).size === partitions;
}

/** Checks acknowledgements of `records` appended to partitions that held `before` (end offsets). */
function expectAcknowledged(acks: readonly Ack[], records: readonly KeyedValue[], before: ReadonlyMap<number, number>): void {
  // every record acknowledged once, with the key and value it was sent with
  expect(acks.map(({ key, value }) => `${key}:${value}`).sort()).toEqual(records.map(({ key, value }) => `${key}:${value}`).sort());
  // where Java's default partitioner (murmur2) puts its key
  const misplaced = acks.filter((ack) => ack.partition !== partitionForKey(Buffer.from(ack.key), partitions));
  expect(misplaced, "records acknowledged off their key's murmur2 partition").toEqual([]);
  for (const [partition, list] of byPartition(acks)) {
    // dense offsets, following what the partition held
    const first = before.get(partition) ?? 0;
    expect(
      list.map((ack) => ack.offset),
      `offsets of partition ${partition}`,
    ).toEqual(list.map((_, i) => first + i));
    // stored in the order they were produced
    const seqs = list.map((ack) => seqOf(ack.value));
    expect(seqs, `produce order of partition ${partition}`).toEqual([...seqs].sort((a, b) => a - b));
  }
}

/** Every member saw each partition's records in increasing offset order. */
function expectOffsetOrder(members: readonly GroupMember[]): void {
  for (const member of members) {
    const seen = new Map<number, number>();
    for (const record of member.records) {
      const previous = seen.get(record.partition) ?? -1;
      expect(
        record.offset,
        `${member.name} got offset ${record.offset} of partition ${record.partition} after ${previous}`,
      ).toBeGreaterThan(previous);
      seen.set(record.partition, record.offset);
    }
  }
}

/** The records are exactly `acks`, each once, with the acknowledged key and value. */
function expectExactlyOnce(records: readonly ConsumedRecord[], acks: readonly Ack[]): void {
  const expected = new Map(acks.map((ack) => [position(ack), ack]));
  const counts = new Map<string, number>();
  for (const record of records) counts.set(position(record), (counts.get(position(record)) ?? 0) + 1);
  const duplicated = [...counts].filter(([, count]) => count > 1).map(([at, count]) => `${at} x${count}`);
  expect(duplicated, 'records delivered more than once').toEqual([]);
  const unexpected = records.filter((record) => !expected.has(position(record))).map(position);
  expect(unexpected, 'records delivered that are not the ones expected').toEqual([]);
  const missing = [...expected.keys()].filter((at) => !counts.has(at));
  expect(missing, 'records never delivered').toEqual([]);
  const altered = records.filter((record) => {
    const ack = expected.get(position(record))!;
    return record.key !== ack.key || record.value !== ack.value;
  });
  expect(altered, 'records delivered with another key or value than acknowledged').toEqual([]);
  expect(records).toHaveLength(acks.length);
}

export function describeInterop(client: InteropClient): void {
  describe(`interop > ${client.name}`, () => {
    const id = randomUUID().slice(0, 8);
    const topic = `interop-${client.name}-${id}`;
    const group = `interop-${client.name}-group-${id}`;
    let bootstrap: string;
    let firstAcks: Ack[] = [];
    let firstMembers: GroupMember[] = [];
    let splitAt: Map<number, string> | undefined;
    let committedAfterFirstRun: Map<number, number> | undefined;

    beforeAll(() => {
      bootstrap = inject('interopBootstrap');
    });
    // In beforeEach, not beforeAll: a missing tool fails every test (a failed beforeAll skips them).
    beforeEach(() => client.assertInstalled());
    afterAll(() => killClients());

    it(`creates a topic with ${partitions} partitions through its admin API`, async () => {
      await client.createTopic(bootstrap, topic, partitions);
      expect(await waitForPartitions(bootstrap, topic, partitions)).toEqual([0, 1, 2, 3]);
      const ends = await endOffsets(bootstrap, topic);
      expect(Object.fromEntries(ends)).toEqual({ 0: 0, 1: 0, 2: 0, 3: 0 });
    });

    it("acknowledges gzip-compressed keyed records at their key's murmur2 partition, at dense offsets in produce order", async () => {
      const records = range(0, firstRunRecords / 2);
      const acks = await client.produce(bootstrap, topic, records);
      expectAcknowledged(acks, records, new Map());
      firstAcks = acks;
      const ends = await endOffsets(bootstrap, topic);
      for (const [partition, list] of byPartition(acks)) expect(ends.get(partition)).toBe(list.length);
    });

    it('forms a group of two members started together that split the partitions between them', async () => {
      firstMembers = [client.startMember(bootstrap, topic, group, 'm1'), client.startMember(bootstrap, topic, group, 'm2')];
      await waitUntil(
        'both members own partitions, together all of them once',
        () => splitsPartitions(firstMembers),
        groupFormsWithinMs,
        () => describeMembers(firstMembers),
      );
      splitAt = new Map(firstMembers.flatMap((member) => member.assignment!.map((partition) => [partition, member.name] as const)));
    });

    it('delivers records produced while both members run to the member owning their partition', async () => {
      expect(splitAt, 'the group formed').toBeDefined();
      const records = range(firstRunRecords / 2, firstRunRecords / 2);
      const before = new Map([...byPartition(firstAcks)].map(([partition, list]) => [partition, list.length]));
      const acks = await client.produce(bootstrap, topic, records);
      expectAcknowledged(acks, records, before);
      firstAcks = [...firstAcks, ...acks];

      const wanted = new Set(firstAcks.map(position));
      const received = () => new Set(firstMembers.flatMap((member) => member.records.map(position)).filter((at) => wanted.has(at)));
      await waitUntil(
        `the members received all ${firstRunRecords} records`,
        () => received().size === wanted.size,
        consumedWithinMs,
        () => `${received().size} of ${wanted.size} received\n${describeMembers(firstMembers)}`,
      );
      // Nobody joined or left since the split, so the owner of a partition got all of its new records.
      for (const member of firstMembers) {
        const got = new Set(member.records.map(position));
        const owned = acks.filter((ack) => splitAt!.get(ack.partition) === member.name);
        expect(
          owned.filter((ack) => !got.has(position(ack))),
          `records of ${member.name}'s partitions it did not get`,
        ).toEqual([]);
        expect(owned.length, `records produced to ${member.name}'s partitions`).toBeGreaterThan(0);
      }
    });

    it('delivered each record exactly once across the members, in offset order per partition', async () => {
      await Promise.all(firstMembers.map((member) => member.stop()));
      expectOffsetOrder(firstMembers);
      expectExactlyOnce(
        firstMembers.flatMap((member) => member.records),
        firstAcks,
      );
    });

    it('committed every consumed offset by the time the members left', async () => {
      const committed = await committedOffsets(bootstrap, group, topic);
      const ends = await endOffsets(bootstrap, topic);
      expect(Object.fromEntries(committed)).toEqual(Object.fromEntries(ends));
      committedAfterFirstRun = committed;
    });

    it('resumes a restarted group from the committed offsets: the new records, none of the first run', async () => {
      expect(committedAfterFirstRun, 'the first run committed').toBeDefined();
      const records = range(firstRunRecords, secondRunRecords);
      const before = await endOffsets(bootstrap, topic);
      const acks = await client.produce(bootstrap, topic, records);
      expectAcknowledged(acks, records, before);

      const members = [client.startMember(bootstrap, topic, group, 'm3'), client.startMember(bootstrap, topic, group, 'm4')];
      try {
        const wanted = new Set(acks.map(position));
        const received = () => new Set(members.flatMap((member) => member.records.map(position)).filter((at) => wanted.has(at)));
        // Each partition is read in offset order, so once the new records are in, anything older
        // that was going to be delivered again already was.
        await waitUntil(
          `the restarted group received all ${secondRunRecords} new records`,
          () => received().size === wanted.size,
          consumedWithinMs,
          () => `${received().size} of ${wanted.size} received\n${describeMembers(members)}`,
        );
      } finally {
        await Promise.all(members.map((member) => member.stop()));
      }
      const resumed = members.flatMap((member) => member.records);
      const belowCommitted = resumed.filter((record) => record.offset < committedAfterFirstRun!.get(record.partition)!);
      expect(belowCommitted.map(position), 'records below the committed offsets delivered again').toEqual([]);
      expectOffsetOrder(members);
      expectExactlyOnce(resumed, acks);

      const committed = await committedOffsets(bootstrap, group, topic);
      expect(Object.fromEntries(committed)).toEqual(Object.fromEntries(await endOffsets(bootstrap, topic)));
    });
  });
}
