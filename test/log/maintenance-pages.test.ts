/**
 * Maintenance reads a partition's rows a page at a time (lib/log/maintenance/): another compactor may
 * merge rows between two of its reads. Whatever retention then misses, it never drops a record that
 * no consistent view would (here: one not past retention.ms); compaction finds shadows across pages.
 */
import { describe, expect, it } from 'vitest';
import { partitionKey, rowKey } from '../../lib/keys.js';
import { batchRowAttrs, batchRowFromItem, type BatchRow, type TopicItem } from '../../lib/log/layout.js';
import { emptyResult } from '../../lib/log/maintenance/context.js';
import { maintenanceContext } from '../../lib/log/maintenance/index.js';
import { compactPartition } from '../../lib/log/maintenance/compaction.js';
import { retainPartition } from '../../lib/log/maintenance/retention.js';
import { defaultTopicConfig, Log } from '../../lib/log/index.js';
import { MemoryMetadataStore, MemoryObjectStore } from '../../lib/storage/memory.js';

const nowMs = 10_000_000;
const hourMs = 3_600_000;
const [old, fresh] = [nowMs - 2 * hourMs, nowMs];

function row(baseOffset: number, recordCount: number, maxTimestampMs: number): BatchRow {
  return {
    baseOffset,
    recordCount,
    objectKey: `o${baseOffset}`,
    position: 0,
    sizeBytes: 100 * recordCount,
    maxTimestampMs,
    committedMs: nowMs - hourMs,
    recordTimes: true,
  };
}

/** A partition of `rows` (log start, high watermark) with retention.ms one hour, read `rowsPerPage` rows at a time. */
async function partitionOf(rows: readonly BatchRow[], logStartOffset: number, nextOffset: number, rowsPerPage: number) {
  const metadata = new MemoryMetadataStore();
  const topic: TopicItem = { id: 't', name: 't', partitions: 1, createdMs: 0, config: { ...defaultTopicConfig, 'retention.ms': hourMs } };
  const state = {
    nextOffset,
    logStartOffset,
    epoch: 0,
    owner: null,
    ownerNode: null,
    leaseExpiresMs: 0,
    openTransactions: {},
    lastStableOffset: nextOffset,
    lastAbortedOffset: -1,
    packedBy: null,
    packedSeq: 0,
  };
  await metadata.write({ kind: 'put', key: partitionKey('t', 0), attrs: { ...state } });
  for (const r of rows) await metadata.write({ kind: 'put', key: rowKey('t', 0, r.baseOffset), attrs: batchRowAttrs(r) });
  const ctx = maintenanceContext(
    { metadata, objects: new MemoryObjectStore() },
    { now: () => nowMs, compactionTailAgeMs: 0, gcGraceMs: hourMs, producerIdExpirationMs: hourMs, rowsPerPage, cleanerMapKeys: 1000 },
  );
  return { metadata, topic, state, ctx };
}

/** Another compactor merges the rows at `bases` into one row at the first, after retention's `afterReads`-th read of rows. */
function mergeBetweenReads(metadata: MemoryMetadataStore, afterReads: number, bases: readonly number[]): void {
  const query = metadata.query.bind(metadata);
  let reads = 0;
  metadata.query = async (pk, options) => {
    if (pk.startsWith('rows#') && ++reads === afterReads + 1) {
      const parts = (await query(pk)).map(batchRowFromItem).filter((r) => bases.includes(r.baseOffset));
      const merged = {
        ...row(
          parts[0]!.baseOffset,
          parts.reduce((sum, r) => sum + r.recordCount, 0),
          Math.max(...parts.map((r) => r.maxTimestampMs)),
        ),
        objectKey: 'merged.log',
        indexKey: 'merged.index',
      };
      await metadata.transact([
        { kind: 'put', key: rowKey('t', 0, merged.baseOffset), attrs: batchRowAttrs(merged) },
        ...parts.slice(1).map((r) => ({ kind: 'delete' as const, key: rowKey('t', 0, r.baseOffset) })),
      ]);
    }
    return query(pk, options);
  };
}

describe('log > retention, a page at a time', () => {
  it('does not cut to the high watermark when rows after its last page were merged away before it read them', async () => {
    // Pages of two: rows 0 and 1 (expired) are read; then 1 and 2 (fresh) are merged, and the next page is empty.
    const { metadata, topic, state, ctx } = await partitionOf([row(0, 1, old), row(1, 1, old), row(2, 1, fresh)], 0, 3, 2);
    mergeBetweenReads(metadata, 1, [1, 2]);
    const after = await retainPartition(ctx, topic, 0, state, emptyResult());
    expect(after.logStartOffset).toBeLessThanOrEqual(2); // record 2 is fresh
    expect((await metadata.query('rows#t#0')).map((item) => item.sk.replace(/^0+(?=\d)/, ''))).toContain('1'); // the merged row, holding it, is kept
  });

  it('does not skip records above the log start that a merge from below it took away between two pages', async () => {
    // Log start 3 (a DeleteRecords' mid-row); row [0,2) is read first, then [0,2)+[2,4)+[4,5) are merged.
    const rows = [row(0, 2, old), row(2, 2, fresh), row(4, 1, old), row(5, 1, old), row(6, 1, fresh)];
    const { metadata, topic, state, ctx } = await partitionOf(rows, 3, 7, 1);
    mergeBetweenReads(metadata, 1, [0, 2, 4]);
    const after = await retainPartition(ctx, topic, 0, state, emptyResult());
    expect(after.logStartOffset).toBe(3); // record 3 is fresh
  });

  it('cuts where a whole read would when nothing changes between pages', async () => {
    const rows = [row(0, 1, old), row(1, 2, old), row(3, 1, old), row(4, 3, fresh), row(7, 1, old)];
    const { metadata, topic, state, ctx } = await partitionOf(rows, 0, 8, 2);
    const after = await retainPartition(ctx, topic, 0, state, emptyResult());
    expect(after.logStartOffset).toBe(4);
    expect((await metadata.query('rows#t#0')).map((item) => batchRowFromItem(item).baseOffset)).toEqual([4, 7]);
  });

  it('compaction deletes a shadow that starts a page, covered by a compacted row on the page before', async () => {
    const compacted = { ...row(0, 4, old), indexKey: 'c.index' };
    const rows = [compacted, row(2, 1, old), row(4, 1, old), row(5, 1, old)];
    const { metadata, topic, state, ctx } = await partitionOf(rows, 0, 6, 1);
    const result = emptyResult();
    await compactPartition({ ...ctx, compactionTailAgeMs: 2 * hourMs }, topic, 0, state, result); // the tail stays as it is
    expect(result.rows_deleted).toBe(1);
    expect((await metadata.query('rows#t#0')).map((item) => batchRowFromItem(item).baseOffset)).toEqual([0, 4, 5]);
  });

  it('refuses a page or run size that is not a whole number of at least 1', () => {
    const stores = { metadata: new MemoryMetadataStore(), objects: new MemoryObjectStore() };
    for (const maintenance of [{ rowsPerPage: 0 }, { rowsPerPage: 2.5 }, { compactionRunRows: -1 }])
      expect(() => new Log({ stores, maintenance })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
  });
});
