/**
 * Share partitions' states in a real MetadataStore (lib/queues/store.ts), written once and run on
 * the embedded store and on DynamoDB Local: what is stored reads back as decided, agents racing to
 * acquire on one share partition each get records no other got (every decision made from the state
 * it replaced), and a decision that changes nothing writes nothing.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { acknowledge, acquire, initialState, type AcquiredRecords, type SharePartitionState } from '../../lib/queues/share-partition.js';
import { SharePartitionStore, stateAttrs, stateFromItem } from '../../lib/queues/store.js';
import { perTestMetadata, type StoreKind } from '../support/stores.js';

const limits = { lockMs: 30_000, deliveryLimit: 5, maxInFlight: 2000 };

export function sharePartitionStoreSuite(kind: () => StoreKind): void {
  const openMetadata = perTestMetadata(kind);

  async function setup() {
    const metadata = await openMetadata();
    return { metadata, group: `share-${randomUUID()}`, topicId: randomUUID() };
  }

  /** An acquire decision: from the state as read (none yet: the group starts at offset 0). */
  const acquiring =
    (member: string, maxRecords: number, logEndOffset: number) => (state: SharePartitionState | undefined, nowMs: number) => {
      const { next, acquired } = acquire(state ?? initialState(0), {
        member,
        maxRecords,
        nowMs,
        logStartOffset: 0,
        logEndOffset,
        ...limits,
      });
      return { next: acquired.length === 0 ? null : next, answer: acquired };
    };

  describe('queues > share partition store', () => {
    it('stores what the rules decide and reads it back the same, acquired records with their holder and lock', async () => {
      const { metadata, group, topicId } = await setup();
      const store = new SharePartitionStore(metadata, () => 1_000);
      expect(await store.apply(group, topicId, 0, acquiring('a', 3, 10))).toEqual([{ first: 0, last: 2, deliveryCount: 1 }]);
      await store.apply(group, topicId, 0, acquiring('b', 2, 10));
      await store.apply(group, topicId, 0, (state, nowMs) => ({
        next: acknowledge(state!, 'a', [{ first: 0, last: 0, type: 'accept' }], { nowMs, ...limits }).next,
        answer: null,
      }));
      const stored = (await store.get(group, topicId, 0))!;
      expect(stored).toEqual({
        startOffset: 1,
        deadRecords: 0,
        delayedRecords: 0,
        delayEpoch: 0,
        endOffset: 5,
        ranges: [
          { first: 1, last: 2, state: 'acquired', deliveryCount: 1, member: 'a', lockedUntilMs: 31_000 },
          { first: 3, last: 4, state: 'acquired', deliveryCount: 1, member: 'b', lockedUntilMs: 31_000 },
        ],
        version: 2,
      });
      expect(stateFromItem({ pk: '', sk: '', attrs: { ...stateAttrs(stored), version: stored.version } })).toEqual(stored);
      // Records come back from the delay index below the start, dying ones with their cause and claim, deferred ones.
      const every = {
        startOffset: 4,
        endOffset: 9,
        ranges: [
          { first: 1, last: 1, state: 'available', deliveryCount: 0 },
          { first: 4, last: 4, state: 'archiving', deliveryCount: 2, cause: 'limit', lockedUntilMs: 9_000 },
          { first: 5, last: 6, state: 'deferred', deliveryCount: 0 },
          { first: 7, last: 8, state: 'archived', deliveryCount: 1 },
        ],
        deadRecords: 3,
        delayedRecords: 2,
        nextDueMs: 77_000,
        delayEpoch: 12,
        version: 4,
      } as const;
      expect(stateFromItem({ pk: '', sk: '', attrs: { ...stateAttrs(every), version: 4 } })).toEqual(every);
      expect(await store.get(group, topicId, 1)).toBeUndefined();
    });

    it('agents racing to acquire on one share partition: every record goes to one member, none twice, none left behind', async () => {
      const { metadata, group, topicId } = await setup();
      const agents = Array.from({ length: 6 }, () => new SharePartitionStore(metadata));
      const handed = await Promise.all(agents.map((agent, i) => agent.apply(group, topicId, 0, acquiring(`m${i}`, 7, 40))));
      const offsets = handed.flatMap((batches: readonly AcquiredRecords[]) =>
        batches.flatMap(({ first, last }) => Array.from({ length: last - first + 1 }, (_, k) => first + k)),
      );
      expect(offsets.sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, k) => k));
      const stored = (await new SharePartitionStore(metadata).get(group, topicId, 0))!;
      expect(stored.endOffset).toBe(40);
      // Each member holds exactly what it was handed.
      handed.forEach((batches, i) => {
        for (const { first, last } of batches)
          expect(stored.ranges.filter((r) => r.member === `m${i}` && r.first <= last && r.last >= first).length).toBeGreaterThan(0);
      });
    });

    it('writes nothing for a decision that changes nothing', async () => {
      const { metadata, group, topicId } = await setup();
      const store = new SharePartitionStore(metadata);
      await store.apply(group, topicId, 0, acquiring('a', 5, 5));
      expect(await store.apply(group, topicId, 0, acquiring('b', 5, 5))).toEqual([]); // all in flight with a
      expect((await store.get(group, topicId, 0))!.version).toBe(0);
    });
  });
}
