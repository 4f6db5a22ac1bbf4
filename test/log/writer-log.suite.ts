/**
 * The invariants of lib/log/writer-log.ts (packed commits, docs/packed-commits.md), each proved by a
 * test that fails if it breaks. Written once, run on the embedded store, the memory store and the
 * AWS adapters.
 */
import fc from 'fast-check';
import pMap from 'p-map';
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { brokerKey, packedCommitKey, writerFenceKey } from '../../lib/keys.js';
import { TransactionConflictError } from '../../lib/storage/ports.js';
import {
  WriterLog,
  decodeChunks,
  encodeChunks,
  fenceWriter,
  LeaveRequestedError,
  clearLeaveRequests,
  readFence,
  readPackedCommits,
  requestLeave,
  type PackedChunk,
} from '../../lib/log/writer-log.js';
import { FaultyMetadataStore } from '../support/faults.js';
import { perTestMetadata, type StoreKind } from '../support/stores.js';

const noSleep = async () => {};

function chunk(partition: number, baseOffset: number, extra: Partial<PackedChunk> = {}): PackedChunk {
  return {
    topicId: 'topic-a',
    partition,
    baseOffset,
    recordCount: 10,
    objectKey: 'segments/2026120708/w1-01',
    position: partition * 1000,
    sizeBytes: 1000,
    maxTimestampMs: 1_796_600_000_000,
    producers: [],
    ...extra,
  };
}

export function writerLogSuite(kind: () => StoreKind): void {
  const open = perTestMetadata(kind);
  let writers = 0;
  const freshId = () => `w${process.pid}-${Date.now()}-${writers++}`;

  describe('log > writer log (packed commits)', () => {
    it('commits flushes as one item each, read back in order after any sequence number', async () => {
      const metadata = await open();
      const log = new WriterLog(metadata, freshId(), { sleep: noSleep });
      expect(await log.open(7)).toBe(0);
      const flushes = [1, 2, 3].map((seq) => [
        chunk(0, seq * 10),
        chunk(1, seq * 10, { producers: [{ producerId: 4, producerEpoch: 0, firstSequence: seq, lastSequence: seq, startDelta: 0 }] }),
      ]);
      for (const [i, chunks] of flushes.entries()) await log.commit(i + 1, chunks);
      const all = await readPackedCommits(metadata, log.writerId, 0);
      expect(all.map((commit) => [commit.seq, commit.abandoned])).toEqual([
        [1, false],
        [2, false],
        [3, false],
      ]);
      expect(all.map((commit) => commit.chunks)).toEqual(flushes);
      expect((await readPackedCommits(metadata, log.writerId, 2)).map((commit) => commit.seq)).toEqual([3]);
      // Many more commits, spread over the shards: a read with a limit answers a complete run from its start.
      for (let seq = 4; seq <= 30; seq++) await log.commit(seq, [chunk(2, seq)]);
      for (const after of [0, 3, 17]) {
        const run = (await readPackedCommits(metadata, log.writerId, after, { limit: 2 })).map((commit) => commit.seq);
        expect(run.length).toBeGreaterThanOrEqual(2);
        expect(run).toEqual(Array.from({ length: run.length }, (_, i) => after + 1 + i));
      }
      expect((await readPackedCommits(metadata, log.writerId, 0)).map((commit) => commit.seq)).toEqual(
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
      // Opening again goes on after the newest commit.
      expect(await new WriterLog(metadata, log.writerId).open(7)).toBe(30);
      expect(await readFence(metadata, log.writerId)).toEqual({
        writerId: log.writerId,
        node: 7,
        fencedMs: null,
        leaveRequested: null,
        leaveRequests: [],
      });
    });

    it('reports a commit whose answer was lost as landed, and holds it once', async () => {
      const metadata = new FaultyMetadataStore(await open());
      const log = new WriterLog(metadata, freshId(), { sleep: noSleep });
      await log.open(1);
      let lost = 0;
      metadata.afterTransact = () => {
        if (lost++ === 0) throw new SpoolError('STORAGE_UNAVAILABLE', 'socket timed out after the transaction landed');
      };
      await log.commit(1, [chunk(0, 0)]);
      expect(log.stats.retries).toBe(1); // the retry found its own item
      expect((await readPackedCommits(metadata, log.writerId, 0)).map((commit) => commit.chunks)).toEqual([[chunk(0, 0)]]);
    });

    it('never overwrites another commit at its sequence number, and says so', async () => {
      const metadata = await open();
      const log = new WriterLog(metadata, freshId(), { sleep: noSleep });
      await log.open(1);
      await log.commit(1, [chunk(0, 0)]);
      const refused = await log.commit(1, [chunk(0, 10)]).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(SpoolError);
      expect((refused as SpoolError).code).toBe('INTERNAL');
      expect((await readPackedCommits(metadata, log.writerId, 0)).map((commit) => commit.chunks)).toEqual([[chunk(0, 0)]]);
    });

    it('refuses every commit of a fenced writer, to any partition, and its opening again', async () => {
      const metadata = await open();
      const log = new WriterLog(metadata, freshId(), { sleep: noSleep });
      await log.open(1);
      await log.commit(1, [chunk(0, 0)]);
      await fenceWriter(metadata, log.writerId, Date.now());
      for (const [seq, chunks] of [
        [2, [chunk(0, 10)]],
        [3, [chunk(5, 0), chunk(6, 0, { topicId: 'topic-b' })]],
      ] as const) {
        const refused = await log.commit(seq, chunks).catch((error: unknown) => error);
        expect((refused as SpoolError).code).toBe('FENCED_LEADER_EPOCH');
        expect(await metadata.get(packedCommitKey(log.writerId, seq))).toBeUndefined();
      }
      await expect(new WriterLog(metadata, log.writerId).open(1)).rejects.toMatchObject({ code: 'FENCED_LEADER_EPOCH' });
      // Fencing again keeps it fenced.
      await fenceWriter(metadata, log.writerId, Date.now());
      expect((await readFence(metadata, log.writerId))?.fencedMs).toEqual(expect.any(Number));
      // A writer fenced before it ever opened cannot open.
      const early = freshId();
      await fenceWriter(metadata, early, Date.now());
      await expect(new WriterLog(metadata, early).open(2)).rejects.toMatchObject({ code: 'FENCED_LEADER_EPOCH' });
    });

    it('refuses a commit, landing nothing, while other writers’ requests to leave partitions are not taken in hand; a fenced writer stays fenced', async () => {
      const metadata = await open();
      const log = new WriterLog(metadata, freshId(), { sleep: noSleep });
      await log.open(1);
      await log.commit(1, [chunk(0, 0)]);
      await requestLeave(metadata, log.writerId, 'topic-a', 3, Date.now());
      await requestLeave(metadata, log.writerId, 'topic-b', 0, Date.now());
      const refused = await log.commit(2, [chunk(0, 10)]).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(LeaveRequestedError);
      const { fence } = refused as LeaveRequestedError;
      expect(fence.leaveRequests).toEqual(
        expect.arrayContaining([
          { topicId: 'topic-a', partition: 3 },
          { topicId: 'topic-b', partition: 0 },
        ]),
      );
      expect(fence.leaveRequests).toHaveLength(2);
      expect(await metadata.get(packedCommitKey(log.writerId, 2))).toBeUndefined();
      // A request that comes after the fence was read is not cleared with the others: the commit is refused for it again.
      await requestLeave(metadata, log.writerId, 'topic-a', 4, Date.now());
      expect(await clearLeaveRequests(metadata, fence)).toBe(false);
      const again = ((await log.commit(2, [chunk(0, 10)]).catch((error: unknown) => error)) as LeaveRequestedError).fence;
      expect(again.leaveRequests).toHaveLength(3);
      expect(await clearLeaveRequests(metadata, again)).toBe(true);
      expect(await readFence(metadata, log.writerId)).toMatchObject({ leaveRequested: null, leaveRequests: [] });
      await log.commit(2, [chunk(0, 10)]);
      expect((await readPackedCommits(metadata, log.writerId, 0)).map((commit) => commit.seq)).toEqual([1, 2]);
      // A writer that never opened is not asked (nothing created for it); a fenced one's commits stay refused as fenced.
      const never = freshId();
      await requestLeave(metadata, never, 'topic-a', 0, Date.now());
      expect(await readFence(metadata, never)).toBeUndefined();
      await fenceWriter(metadata, log.writerId, Date.now());
      await requestLeave(metadata, log.writerId, 'topic-a', 5, Date.now());
      await expect(log.commit(3, [chunk(0, 20)])).rejects.toMatchObject({ code: 'FENCED_LEADER_EPOCH' });
    });

    it('gives the final log once the fence returns, whatever commits race it', async () => {
      const metadata = new FaultyMetadataStore(await open());
      const log = new WriterLog(metadata, freshId(), { sleep: noSleep });
      await log.open(1);
      // 40 commits, 8 in flight at a time; the fence is set as the 20th lands, with others in flight.
      const outcomes = new Map<number, 'landed' | 'refused'>();
      let finalLog: number[] | undefined;
      let fenced: Promise<void> | undefined;
      let landedSoFar = 0;
      metadata.afterTransact = (ops) => {
        if (ops[0]?.key.sk.startsWith('c#') && ++landedSoFar === 20)
          fenced = (async () => {
            await fenceWriter(metadata, log.writerId, Date.now());
            finalLog = (await readPackedCommits(metadata, log.writerId, 0)).map((commit) => commit.seq);
          })();
      };
      await pMap(
        Array.from({ length: 40 }, (_, i) => i + 1),
        async (seq) => {
          const settled = await log.commit(seq, [chunk(seq, 0)]).then(
            () => 'landed' as const,
            (error: unknown) => {
              if ((error as SpoolError).code !== 'FENCED_LEADER_EPOCH') throw error;
              return 'refused' as const;
            },
          );
          outcomes.set(seq, settled);
        },
        { concurrency: 8 },
      );
      await fenced;
      const landed = [...outcomes].filter(([, outcome]) => outcome === 'landed').map(([seq]) => seq);
      // Every commit answered as landed is in the log read right after the fence, and nothing joined it since.
      expect(finalLog).toEqual(expect.arrayContaining(landed));
      expect((await readPackedCommits(metadata, log.writerId, 0)).map((commit) => commit.seq)).toEqual(finalLog);
      expect([...outcomes.values()]).toContain('refused');
    });

    it('sets a fence only when the checks given with it hold', async () => {
      const metadata = await open();
      const log = new WriterLog(metadata, freshId(), { sleep: noSleep });
      await log.open(3);
      // The check: the writer's registration is as read (here: absent). A registration written meanwhile stops the fence.
      const registration = brokerKey(900_000 + (writers % 1000));
      await metadata.write({ kind: 'put', key: registration, attrs: { owner: log.writerId, expiresMs: Date.now() + 10_000 } });
      const refused = await fenceWriter(metadata, log.writerId, Date.now(), [
        { kind: 'check', key: registration, condition: { kind: 'absent' } },
      ]).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(TransactionConflictError);
      expect((refused as TransactionConflictError).conflicts.map((conflict) => conflict.index)).toEqual([1]);
      await log.commit(1, [chunk(0, 0)]);
      await fenceWriter(metadata, log.writerId, Date.now(), [
        { kind: 'check', key: registration, condition: { kind: 'match', fields: { owner: log.writerId } } },
      ]);
      await expect(log.commit(2, [chunk(0, 10)])).rejects.toMatchObject({ code: 'FENCED_LEADER_EPOCH' });
      await metadata.write({ kind: 'delete', key: registration });
    });

    it('settles a commit of unknown outcome by claiming its number: found if it landed, never landing if not', async () => {
      const metadata = new FaultyMetadataStore(await open());
      const log = new WriterLog(metadata, freshId(), { sleep: noSleep, maxAttempts: 2 });
      await log.open(1);
      // Landed, every answer lost.
      metadata.afterTransact = () => {
        throw new SpoolError('STORAGE_UNAVAILABLE', 'socket timed out after the transaction landed');
      };
      await expect(log.commit(1, [chunk(0, 0)])).resolves.toEqual({ committedMs: expect.any(Number) }); // (the second attempt finds it)
      metadata.afterTransact = undefined;
      // Never landed: every attempt failed before reaching the store.
      metadata.beforeTransact = () => {
        throw new SpoolError('STORAGE_UNAVAILABLE', 'connection reset before the transaction');
      };
      await expect(log.commit(2, [chunk(0, 10)])).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      metadata.beforeTransact = undefined;
      expect((await log.abandon(1))?.chunks).toEqual([chunk(0, 0)]);
      expect(await log.abandon(2)).toBeUndefined();
      // The abandoned number can hold no commit now, and reads show it empty.
      await expect(log.commit(2, [chunk(0, 10)])).rejects.toMatchObject({ code: 'INTERNAL' });
      const read = await readPackedCommits(metadata, log.writerId, 0);
      expect(read.map((commit) => [commit.seq, commit.abandoned, commit.chunks.length])).toEqual([
        [1, false, 1],
        [2, true, 0],
      ]);
      expect(await metadata.get(writerFenceKey(log.writerId))).toBeDefined();
    });
  });
}

/** The codec, pure: run once (test/log/writer-log.test.ts). */
export function writerLogCodecSuite(): void {
  describe('log > writer log codec', () => {
    const safe = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
    const chunkArb = fc.record({
      topicId: fc.constantFrom('3f0c6d7e-1b2a-4c5d-8e9f-0a1b2c3d4e5f', 'topic-b', 'é-ünïcode'),
      partition: fc.integer({ min: 0, max: 100_000 }),
      baseOffset: safe,
      recordCount: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      objectKey: fc.constantFrom('segments/2026120708/a-01', 'segments/2026120708/a-02'),
      position: fc.integer({ min: 0, max: 2 ** 40 }),
      sizeBytes: fc.integer({ min: 0, max: 2 ** 40 }),
      maxTimestampMs: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 2 ** 47 })),
      producers: fc.array(
        fc.record({
          producerId: safe,
          producerEpoch: fc.integer({ min: 0, max: 32_767 }),
          firstSequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          lastSequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          startDelta: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        }),
        { maxLength: 3 },
      ),
    });

    it('round-trips every chunk exactly', () => {
      fc.assert(
        fc.property(fc.array(chunkArb, { maxLength: 30 }), fc.integer({ min: 0, max: 2 ** 47 }), (chunks, committedMs) => {
          expect(decodeChunks(encodeChunks(chunks, committedMs), committedMs)).toEqual(chunks);
        }),
      );
    });

    it('refuses, as CORRUPT_RECORD, every cut, every extra byte and other versions', () => {
      const bytes = encodeChunks(
        [chunk(0, 5), chunk(1, 7, { producers: [{ producerId: 9, producerEpoch: 1, firstSequence: 0, lastSequence: 4, startDelta: 3 }] })],
        1_796_600_000_000,
      );
      for (let cut = 0; cut < bytes.length; cut++)
        expect(() => decodeChunks(bytes.subarray(0, cut), 0), `cut at ${cut}`).toThrow(expect.objectContaining({ code: 'CORRUPT_RECORD' }));
      expect(() => decodeChunks(Buffer.concat([bytes, Buffer.from([0])]), 0)).toThrow(expect.objectContaining({ code: 'CORRUPT_RECORD' }));
      expect(() => decodeChunks(Buffer.concat([Buffer.from([2]), bytes.subarray(1)]), 0)).toThrow(
        expect.objectContaining({ code: 'CORRUPT_RECORD' }),
      );
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), (noise) => {
          try {
            decodeChunks(Buffer.from(noise), 0);
          } catch (error) {
            expect(error).toMatchObject({ code: 'CORRUPT_RECORD' });
          }
        }),
      );
    });

    it('describes a chunk in 15 bytes, 20 with an idempotent producer: a flush over 250 partitions in 4–6 KB', () => {
      const committedMs = 1_796_600_000_000;
      const flush = (producers: boolean) =>
        Array.from({ length: 250 }, (_, partition) =>
          chunk(partition, 1_000_000_000 + partition * 77, {
            topicId: '3f0c6d7e-1b2a-4c5d-8e9f-0a1b2c3d4e5f',
            position: partition * 16_777,
            sizeBytes: 16_777,
            recordCount: 16,
            maxTimestampMs: committedMs - 40,
            producers: producers
              ? [{ producerId: 12_345, producerEpoch: 0, firstSequence: 5_000 + partition, lastSequence: 5_015 + partition, startDelta: 0 }]
              : [],
          }),
        );
      const plain = encodeChunks(flush(false), committedMs).length;
      const idempotent = encodeChunks(flush(true), committedMs).length;
      expect(plain).toBeLessThan(4096); // 4 KB: 8 write units in a transaction
      expect(idempotent).toBeLessThan(6144);
      expect([Math.round((plain - 90) / 250), Math.round((idempotent - 90) / 250)]).toEqual([15, 20]);
    });
  });
}
