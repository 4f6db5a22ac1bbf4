/** A topic's produce history from its rows (lib/log/activity.ts). */
import { describe, expect, it } from 'vitest';
import { addActivity, emptyActivity } from '../../lib/log/activity.js';
import type { BatchRow } from '../../lib/log/layout.js';

const row = (recordCount: number, sizeBytes: number, committedMs: number, firstCommittedMs?: number): BatchRow => ({
  baseOffset: 0,
  recordCount,
  objectKey: 'segments/x',
  position: 0,
  sizeBytes,
  maxTimestampMs: 0, // the records' own time plays no part
  committedMs,
  ...(firstCommittedMs === undefined ? {} : { firstCommittedMs }),
});

describe('log > activity', () => {
  it('counts a flush row in the step of its commit, and spreads a compacted row over the commits it merged', () => {
    const activity = emptyActivity(0, 1000, 4);
    addActivity(activity, [row(10, 100, 500), row(30, 300, 3500, 500)]);
    // The compacted row spans 500–3500 ms: 10 records a second, half a second of it in steps 0 and 3.
    expect(activity.records).toEqual([15, 10, 10, 5]);
    expect(activity.bytes).toEqual([150, 100, 100, 50]);
  });

  it('counts only the part inside the window, and sums partitions', () => {
    const activity = emptyActivity(1000, 1000, 2);
    addActivity(activity, [row(4, 40, 600), row(8, 80, 1400, 600), row(1, 10, 3000)]);
    addActivity(activity, [row(2, 20, 2500), row(5, 50, 5000, 2500)]);
    // (600–1400): half of it before the window; 3000 is the window's end (excluded); (2500–5000): a fifth in step 1.
    expect(activity.records).toEqual([4, 3]);
    expect(activity.bytes).toEqual([40, 30]);
  });

  it('keeps fractions, so that a quiet topic still adds up', () => {
    const activity = emptyActivity(0, 60_000, 3);
    addActivity(activity, [row(1, 30, 180_000, 0)]); // one record merged from commits three minutes apart
    expect(activity.records.reduce((sum, n) => sum + n, 0)).toBeCloseTo(1, 12);
    expect(activity.records[0]).toBeCloseTo(1 / 3, 12);
  });
});
