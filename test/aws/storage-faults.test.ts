/**
 * The storage-faults run (test/reliability/storage-faults.ts) over the real AWS adapters: the same
 * FaultPlan in front of the DynamoDB and S3 adapters talking to the aws project's target, so the
 * engine rides out the faults over the adapters' own condition expressions, transactions, queries
 * and ranged GETs, and the racing writers' conflicts are DynamoDB's. The same workload as on the
 * embedded store (60 requests per producer): about 30 s here, as every call is an HTTP round trip.
 */
import { describe, expect, inject, it } from 'vitest';
import { runStorageFaults } from '../reliability/storage-faults.js';
import { faultKinds } from '../support/fault-plan.js';
import { awsKind } from '../support/stores.js';

const requestsPerProducer = 60;

describe(`aws (${inject('awsTarget').name})`, () => {
  it('keeps every acknowledged record under storage faults, once where idempotent, in order and dense, and each transaction all or nothing', {
    timeout: 240_000,
  }, async () => {
    const kind = awsKind(inject('awsTarget'));
    const report = await runStorageFaults({ kind, seed: 20261121, requestsPerProducer });
    console.info(`reliability: storage faults on ${kind.name}: ${JSON.stringify(report)}`);
    expect(report.violations).toEqual([]);
    // The run was a real test: every kind of fault struck, writers really raced, and the checker read everything.
    for (const fault of faultKinds) expect(report.faults[fault], fault).toBeGreaterThan(0);
    expect(report.commitConflicts).toBeGreaterThan(0);
    expect(report.figures!.acknowledged).toBeGreaterThan(7 * requestsPerProducer);
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
});
