/**
 * A partition's produce history from its rows alone (no object is read): records and bytes committed
 * per time step. Time is the commit's (`committedMs`, the writer's clock), not the records' own
 * timestamps, which producers choose (backfills, mirrored data, skewed clocks). A flush row counts at
 * its commit; a compacted row spreads its records and bytes evenly over the commits it merged
 * (`firstCommittedMs` to `committedMs`; a row compacted before that was kept counts at its newest
 * commit). Bytes are stored bytes (compressed batches), as the object store holds them.
 *
 * Rows commit in offset order, so their commit times rise with the offset (up to the writers' clock
 * skew): a reader of the newest rows can stop at the first row committed before the window.
 */
import type { BatchRow } from './layout.js';

export interface Activity {
  readonly fromMs: number;
  readonly stepMs: number;
  /** Per step from `fromMs`: records and bytes committed in [fromMs + i·stepMs, fromMs + (i+1)·stepMs). */
  readonly records: number[];
  readonly bytes: number[];
}

export function emptyActivity(fromMs: number, stepMs: number, steps: number): Activity {
  return { fromMs, stepMs, records: new Array<number>(steps).fill(0), bytes: new Array<number>(steps).fill(0) };
}

/** Adds the rows' records and bytes into `into` (rows none of which shadows another: effectiveRows). */
export function addActivity(into: Activity, rows: readonly BatchRow[]): void {
  const { fromMs, stepMs, records, bytes } = into;
  const toMs = fromMs + stepMs * records.length;
  const add = (step: number, share: number, row: BatchRow) => {
    records[step]! += row.recordCount * share;
    bytes[step]! += row.sizeBytes * share;
  };
  for (const row of rows) {
    const endMs = row.committedMs;
    const startMs = Math.min(row.firstCommittedMs ?? endMs, endMs);
    if (endMs < fromMs || startMs >= toMs) continue;
    const spanMs = endMs - startMs;
    if (spanMs === 0) {
      const step = Math.floor((endMs - fromMs) / stepMs);
      if (step < records.length) add(step, 1, row);
      continue;
    }
    const first = Math.max(0, Math.floor((startMs - fromMs) / stepMs));
    const last = Math.min(records.length - 1, Math.floor((endMs - fromMs) / stepMs));
    for (let step = first; step <= last; step++) {
      const overlapMs = Math.min(endMs, fromMs + (step + 1) * stepMs) - Math.max(startMs, fromMs + step * stepMs);
      if (overlapMs > 0) add(step, overlapMs / spanMs, row);
    }
  }
}
