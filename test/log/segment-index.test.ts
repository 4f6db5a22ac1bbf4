import { describe, expect, it } from 'vitest';
import { buildIndexes, offsetForTime, positionFor } from '../../lib/log/segment-index.js';
import { groupsToCompact } from '../../lib/log/maintenance/compaction.js';
import { retentionCut } from '../../lib/log/maintenance/retention.js';
import type { BatchRow, PartitionState } from '../../lib/log/layout.js';

// Batches of a segment based at 100: offsets, byte positions, max timestamps (not monotonic).
const batches = [
  { baseOffset: 100, position: 0, maxTimestampMs: 1000 },
  { baseOffset: 103, position: 3000, maxTimestampMs: 900 },
  { baseOffset: 105, position: 5000, maxTimestampMs: 2000 },
  { baseOffset: 110, position: 9000, maxTimestampMs: 2500 },
  { baseOffset: 111, position: 9500, maxTimestampMs: 1500 },
];

describe('log > segment indexes', () => {
  it('writes the documented bytes: 8-byte offset entries every interval, 12-byte time entries on each new maximum', () => {
    const { offsetIndex, timeIndex } = buildIndexes(100, batches, 4096);
    // Positions 0, 3000, 5000, 9000, 9500: entries where 4096 bytes have passed since the last entry.
    expect(offsetIndex.toString('hex')).toBe(['00000000' + '00000000', '00000005' + '00001388', '0000000b' + '0000251c'].join(''));
    expect(timeIndex.length).toBe(3 * 12);
    expect(Number(timeIndex.readBigInt64BE(0))).toBe(1000);
    expect(timeIndex.readInt32BE(8)).toBe(0);
    expect(Number(timeIndex.readBigInt64BE(12))).toBe(2000);
    expect(timeIndex.readInt32BE(20)).toBe(5);
    expect(Number(timeIndex.readBigInt64BE(24))).toBe(2500);
    expect(timeIndex.readInt32BE(32)).toBe(10);
  });

  it('finds the nearest indexed batch at or below an offset by binary search', () => {
    const { offsetIndex } = buildIndexes(100, batches, 4096);
    expect(positionFor(offsetIndex, 0)).toBe(0);
    expect(positionFor(offsetIndex, 4)).toBe(0); // batch 103 is not indexed: start from 100
    expect(positionFor(offsetIndex, 5)).toBe(5000);
    expect(positionFor(offsetIndex, 10)).toBe(5000); // batch 110 is not indexed: start from 105
    expect(positionFor(offsetIndex, 11)).toBe(9500);
    expect(positionFor(offsetIndex, 1_000_000)).toBe(9500);
    expect(positionFor(Buffer.alloc(0), 3)).toBe(0);
  });

  it('finds the batch of the first record at or after a time', () => {
    const { timeIndex } = buildIndexes(100, batches);
    expect(offsetForTime(timeIndex, 0)).toBe(0);
    expect(offsetForTime(timeIndex, 1000)).toBe(0);
    expect(offsetForTime(timeIndex, 1001)).toBe(5);
    expect(offsetForTime(timeIndex, 2400)).toBe(10);
    expect(offsetForTime(timeIndex, 2501)).toBeUndefined();
  });

  it('refuses an index of broken length', () => {
    expect(() => positionFor(Buffer.alloc(7), 0)).toThrow(/offset index must be a whole number of 8-byte entries, got 7 bytes/);
    expect(() => offsetForTime(Buffer.alloc(13), 0)).toThrow(/time index must be a whole number of 12-byte entries/);
  });
});

const row = (baseOffset: number, recordCount: number, sizeBytes: number, committedMs: number, extra: Partial<BatchRow> = {}): BatchRow => ({
  baseOffset,
  recordCount,
  sizeBytes,
  committedMs,
  maxTimestampMs: committedMs,
  objectKey: `o${baseOffset}`,
  position: 0,
  ...extra,
});

describe('log > compaction groups', () => {
  const ctx = { compactionTargetBytes: 1000, compactionTailAgeMs: 100, compactionRunRows: 1, now: () => 10_000 };

  it('cuts runs at the target size and at compacted rows, and leaves the young tail', () => {
    const rows = [
      row(0, 1, 400, 0),
      row(1, 1, 400, 0),
      row(2, 1, 400, 0),
      row(3, 5, 900, 0, { indexKey: 'i' }),
      row(8, 1, 100, 0),
      row(9, 1, 100, 9_950),
    ];
    expect(groupsToCompact(ctx, rows).map((g) => g.map((r) => r.baseOffset))).toEqual([[0, 1], [2], [8]]);
  });

  it('compacts the rows older than the tail age of a partition written without pause, leaving only the young tail', () => {
    // 20 small rows, one every 10 ms up to now: the run is far below the target, and its newest row is always young.
    const rows = Array.from({ length: 20 }, (_, i) => row(i, 1, 10, 9_810 + i * 10));
    const runs = (runRows: number) => groupsToCompact({ ...ctx, compactionRunRows: runRows }, rows).map((g) => g.map((r) => r.baseOffset));
    expect(runs(10)).toEqual([Array.from({ length: 10 }, (_, i) => i)]);
    expect(runs(11)).toEqual([]); // fewer old rows than a run's worth wait for more
  });

  it('lets a tail of half the target or more fill it, as before, rather than cutting its old rows off at every pass', () => {
    const rows = [row(0, 1, 300, 0), row(1, 1, 300, 0), row(2, 1, 300, 9_990)];
    expect(groupsToCompact(ctx, rows)).toEqual([]);
    const small = [row(0, 1, 100, 0), row(1, 1, 100, 0), row(2, 1, 100, 9_990)]; // below half the target: its old rows go now
    expect(groupsToCompact(ctx, small).map((g) => g.map((r) => r.baseOffset))).toEqual([[0, 1]]);
  });

  it('cuts only at the first young row, compacts a young run only when full, and never cuts a run of old rows', () => {
    const ids = (rows: BatchRow[], runRows: number) =>
      groupsToCompact({ ...ctx, compactionRunRows: runRows }, rows).map((g) => g.map((r) => r.baseOffset));
    expect(ids([row(0, 1, 400, 9_990), row(1, 1, 400, 9_990), row(2, 1, 400, 9_990)], 1)).toEqual([[0, 1]]);
    expect(ids([row(0, 1, 10, 9_990), row(1, 1, 10, 9_990), row(5, 1, 10, 0)], 1)).toEqual([[5]]); // young before a gap: not compacted
    const backwards = [0, 0, 0, 9_990, 0, 0, 0, 9_990].map((committedMs, i) => row(i, 1, 10, committedMs));
    expect(ids(backwards, 3)).toEqual([[0, 1, 2]]);
    expect(
      ids(
        Array.from({ length: 20 }, (_, i) => row(i, 1, 10, 0)),
        10,
      ),
    ).toEqual([Array.from({ length: 20 }, (_, i) => i)]);
  });

  it('never merges across missing offsets (rows another compactor merged between two pages)', () => {
    const rows = [row(0, 1, 100, 0), row(1, 1, 100, 0), row(4, 1, 100, 0), row(5, 1, 100, 0)];
    expect(groupsToCompact(ctx, rows).map((g) => g.map((r) => r.baseOffset))).toEqual([
      [0, 1],
      [4, 5],
    ]);
  });

  it('compacts a full run even when it is young', () => {
    const rows = [row(0, 1, 600, 9_999), row(1, 1, 600, 9_999), row(2, 1, 10, 9_999)];
    expect(groupsToCompact(ctx, rows).map((g) => g.map((r) => r.baseOffset))).toEqual([[0]]);
  });
});

describe('log > retention cut', () => {
  const state: PartitionState = {
    nextOffset: 10,
    logStartOffset: 0,
    epoch: 0,
    owner: null,
    ownerNode: null,
    leaseExpiresMs: 0,
    openTransactions: {},
    lastStableOffset: 10,
    lastAbortedOffset: -1,
    packedBy: null,
    packedSeq: 0,
  };
  const rows = [
    row(0, 2, 100, 0, { maxTimestampMs: 1000 }),
    row(2, 3, 100, 0, { maxTimestampMs: 5000 }),
    row(5, 5, 100, 0, { maxTimestampMs: 2000 }),
  ];

  it('drops the leading segments whose newest record is past retention.ms, stopping at the first kept', () => {
    expect(retentionCut(rows, state, 1000, -1, 4000)).toBe(2);
    expect(retentionCut(rows, state, 1000, -1, 10_000)).toBe(10);
    expect(retentionCut(rows, state, -1, -1, 10_000)).toBe(0);
  });

  it('drops leading segments until the partition fits retention.bytes', () => {
    expect(retentionCut(rows, state, -1, 250, 0)).toBe(2);
    expect(retentionCut(rows, state, -1, 100, 0)).toBe(5);
    expect(retentionCut(rows, state, -1, 0, 0)).toBe(10);
  });

  it('never cuts past missing offsets, whose records it could not judge; gaps below the log start do not count', () => {
    const gapped = [
      row(0, 2, 100, 0, { maxTimestampMs: 1000 }),
      row(4, 1, 100, 0, { maxTimestampMs: 1000 }),
      row(5, 5, 100, 0, { maxTimestampMs: 9000 }),
    ];
    expect(retentionCut(gapped, state, 1000, -1, 4000)).toBe(2); // not 5: offsets 2–3 were not seen
    expect(retentionCut(gapped, state, -1, 100, 0)).toBe(2);
    expect(retentionCut(gapped, { ...state, logStartOffset: 4 }, 1000, -1, 4000)).toBe(5); // the gap is below the start
    // Missing after the last row seen: the cut stops at its end, not at the high watermark.
    const cutShort = [row(0, 2, 100, 0, { maxTimestampMs: 1000 }), row(2, 3, 100, 0, { maxTimestampMs: 1000 })];
    expect(retentionCut(cutShort, state, 1000, -1, 4000)).toBe(5);
    expect(retentionCut(cutShort, state, -1, 50, 0)).toBe(5);
    // Missing from a row below the start to one above it: the cut stops at the start.
    const fromBelow = [
      row(0, 2, 100, 0, { maxTimestampMs: 1000 }),
      row(5, 1, 100, 0, { maxTimestampMs: 1000 }),
      row(6, 4, 100, 0, { maxTimestampMs: 9000 }),
    ];
    expect(retentionCut(fromBelow, { ...state, logStartOffset: 3 }, 1000, -1, 4000)).toBe(3);
  });

  it('never moves the log start backwards', () => {
    expect(retentionCut(rows, { ...state, logStartOffset: 7 }, -1, 250, 0)).toBe(7);
  });
});
