/** The log cleaner's pure rules: when a pass is due, its runs, the checkpoint's times, the tail age. */
import { describe, expect, it } from 'vitest';
import type { BatchRow } from '../../lib/log/layout.js';
import { advanceCheckpoint, cleaningDue, cleaningRuns, reachedAt, type CleanerCheckpoint } from '../../lib/log/maintenance/cleaner.js';
import { tailAgeMs } from '../../lib/log/maintenance/compaction.js';
import { defaultTopicConfig } from '../../lib/log/topic-config.js';

const hourMs = 3_600_000;
const nowMs = 100 * hourMs;

/** A segment row over [base, base + span) of `sizeBytes`. */
const row = (base: number, span: number, sizeBytes: number, fields: Partial<BatchRow> = {}): BatchRow => ({
  baseOffset: base,
  recordCount: span,
  objectKey: `o${base}`,
  position: 0,
  sizeBytes,
  maxTimestampMs: nowMs - hourMs,
  committedMs: nowMs - hourMs,
  indexKey: `i${base}`,
  ...fields,
});

const config = { 'min.cleanable.dirty.ratio': 0.5, 'max.compaction.lag.ms': Number.MAX_SAFE_INTEGER };

describe('log > cleaner rules', () => {
  it('is due when the dirty share is more than min.cleanable.dirty.ratio (not equal), when a dirty row passes max.compaction.lag.ms, or when a tombstone is due', () => {
    const rows = [row(0, 10, 100), row(10, 10, 100)];
    const cleanTo10 = { through: 10, reached: [[10, nowMs - hourMs] as const] };
    expect(cleaningDue(rows, cleanTo10, config, nowMs, 20)).toBe(false); // 100 / 200 is not more than 0.5
    expect(cleaningDue(rows, cleanTo10, { ...config, 'min.cleanable.dirty.ratio': 0.49 }, nowMs, 20)).toBe(true);
    expect(cleaningDue(rows, cleanTo10, { ...config, 'max.compaction.lag.ms': hourMs }, nowMs, 20)).toBe(true);
    expect(cleaningDue(rows, cleanTo10, { ...config, 'max.compaction.lag.ms': hourMs + 1 }, nowMs, 20)).toBe(false);
    const clean = { through: 20, reached: [[20, nowMs - hourMs] as const] };
    expect(cleaningDue(rows, clean, { ...config, 'min.cleanable.dirty.ratio': 0 }, nowMs, 20)).toBe(false); // nothing dirty
    expect(cleaningDue([row(0, 10, 100, { tombstonesDueMs: nowMs + 1 }), rows[1]!], clean, config, nowMs, 20)).toBe(false);
    expect(cleaningDue([row(0, 10, 100, { tombstonesDueMs: nowMs }), rows[1]!], clean, config, nowMs, 20)).toBe(true);
    // The segment holding the newest record waits for the partition to move on.
    expect(cleaningDue([rows[0]!, row(10, 10, 100, { tombstonesDueMs: nowMs })], clean, config, nowMs, 20)).toBe(false);
    expect(cleaningDue([rows[0]!, row(10, 10, 100, { tombstonesDueMs: nowMs })], clean, config, nowMs, 21)).toBe(true);
  });

  it('cuts runs at the clean/dirty boundary and at the target size, up to where the map reached', () => {
    const rows = [row(0, 5, 40), row(5, 5, 40), row(10, 5, 40), row(15, 5, 40), row(20, 5, 40), row(25, 5, 40)];
    const bases = (runs: BatchRow[][]) => runs.map((run) => run.map((r) => r.baseOffset));
    expect(bases(cleaningRuns(rows, 10, 25, 100))).toEqual([[0, 5], [10, 15], [20]]);
    expect(bases(cleaningRuns(rows, 10, 25, 80))).toEqual([[0, 5], [10, 15], [20]]);
    expect(bases(cleaningRuns(rows, 10, 25, 79))).toEqual([[0], [5], [10], [15], [20]]);
    expect(bases(cleaningRuns(rows, 0, 30, 1000))).toEqual([[0, 5, 10, 15, 20, 25]]);
  });

  it('times a tombstone from the first checkpoint past it, and thins old points only towards later times', () => {
    let checkpoint: CleanerCheckpoint = { through: 0, reached: [] };
    expect(reachedAt(checkpoint, 0)).toBeUndefined();
    checkpoint = advanceCheckpoint(checkpoint, 10, 1000, hourMs);
    checkpoint = advanceCheckpoint(checkpoint, 20, 2000, hourMs);
    expect([reachedAt(checkpoint, 9), reachedAt(checkpoint, 10), reachedAt(checkpoint, 19), reachedAt(checkpoint, 20)]).toEqual([
      1000,
      2000,
      2000,
      undefined,
    ]);
    // Once both are due, one point says as much for every offset below it.
    checkpoint = advanceCheckpoint(checkpoint, 30, 3000 + hourMs, hourMs);
    expect(checkpoint.reached).toEqual([
      [20, 2000],
      [30, 3000 + hourMs],
    ]);
    expect(reachedAt(checkpoint, 5)! + hourMs).toBeLessThanOrEqual(3000 + hourMs); // still due
    // Past the bound on points, the oldest pending ones go: their offsets then count from a later point.
    for (let i = 0; i < 2100; i++) checkpoint = advanceCheckpoint(checkpoint, 40 + i, 4000 + hourMs + i, hourMs);
    expect(checkpoint.reached.length).toBeLessThanOrEqual(2000);
    expect(reachedAt(checkpoint, 35)).toBeGreaterThanOrEqual(3000 + hourMs);
  });

  it('shortens the compaction tail age by segment.ms and max.compaction.lag.ms on compacted topics only', () => {
    const ctx = { compactionTailAgeMs: 600_000 };
    const topic = (config: Partial<typeof defaultTopicConfig>) => ({ config: { ...defaultTopicConfig, ...config } });
    expect(tailAgeMs(ctx, topic({ 'segment.ms': 100 }))).toBe(600_000);
    expect(tailAgeMs(ctx, topic({ 'cleanup.policy': 'compact', 'segment.ms': 100 }))).toBe(100);
    expect(tailAgeMs(ctx, topic({ 'cleanup.policy': 'compact,delete', 'max.compaction.lag.ms': 5000 }))).toBe(5000);
    expect(tailAgeMs(ctx, topic({ 'cleanup.policy': 'compact' }))).toBe(600_000);
  });
});
