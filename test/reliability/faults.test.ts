/**
 * The log under seeded storage faults (storage-faults.ts): every acknowledged record is kept at its
 * offset, idempotent producers' records appear exactly once, each producer's records keep their
 * order within a partition, and offsets stay dense; transactions committed and aborted beside them
 * are visible all or nothing, as their producers were told, to read_committed readers during the
 * run and after it, and a dropped one is aborted by its timeout; in a compacted topic beside it, the log cleaner
 * keeps each key's latest acknowledged value and never lets a deleted key's value outlive its
 * tombstone — on the embedded store and the memory store.
 */
import { describe, expect, it } from 'vitest';
import { faultKinds } from '../support/fault-plan.js';
import { embedded, memory } from '../support/stores.js';
import { runStorageFaults } from './storage-faults.js';

describe('reliability > storage faults', () => {
  for (const kind of [embedded, memory]) {
    it(`keeps every acknowledged record, once where idempotent, in order and dense, and each transaction all or nothing (${kind.name})`, {
      timeout: 120_000,
    }, async () => {
      const report = await runStorageFaults({ kind, seed: 20261121, requestsPerProducer: 60 });
      console.info(`reliability: storage faults on ${kind.name}: ${JSON.stringify(report)}`);
      expect(report.violations).toEqual([]);
      // The run was a real test: every kind of fault struck, writers really raced, and the checker read everything.
      for (const fault of faultKinds) expect(report.faults[fault], fault).toBeGreaterThan(0);
      expect(report.commitConflicts).toBeGreaterThan(0);
      expect(report.figures!.acknowledged).toBeGreaterThan(7 * 60);
      expect(report.figures!.records).toBeGreaterThanOrEqual(report.figures!.acknowledged);
      expect(report.tailed).toBeGreaterThan(0);
      expect(report.maintenance.segmentsCompacted).toBeGreaterThan(0);
      // Transactions committed and aborted under faults, their markers in the log, a read_committed reader following them, and the dropped one aborted by a sweep.
      expect(report.transactions).toMatchObject({ droppedSent: true, droppedAborted: true });
      expect(report.transactions!.committed).toBeGreaterThan(0);
      expect(report.transactions!.aborted).toBeGreaterThan(0);
      expect(report.figures!.markers).toBeGreaterThan(0);
      expect(report.tailedCommitted).toBeGreaterThan(0);
    });

    it(`keeps each key's latest acknowledged value, and no value a tombstone deleted, in a compacted topic cleaned throughout (${kind.name})`, {
      timeout: 120_000,
    }, async () => {
      const report = await runStorageFaults({ kind, seed: 20261121, requestsPerProducer: 60, compacted: true });
      console.info(`reliability: storage faults on ${kind.name}, compacted topic: ${JSON.stringify(report)}`);
      expect(report.violations).toEqual([]);
      for (const fault of faultKinds) expect(report.faults[fault], fault).toBeGreaterThan(0);
      expect(report.commitConflicts).toBeGreaterThan(0);
      expect(report.compacted!.acknowledged).toBeGreaterThan(3 * 60);
      expect(report.compacted!.kept).toBeLessThan(report.compacted!.acknowledged); // the cleaner removed records under faults (counted before the fault-free passes)
      expect(report.maintenance.segmentsCompacted).toBeGreaterThan(0);
    });
  }
});
