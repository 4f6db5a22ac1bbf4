/**
 * The crash loop (crash-loop.ts), bounded for CI: the agent is killed with SIGKILL at random moments
 * and started again 20 times under HTTP and Kafka producers, an HTTP consumer group and a kafkajs
 * consumer group; every acknowledged record survives at its offset, the idempotent producer's
 * exactly once, in order and dense; in both groups members never share a record within a generation
 * and commits never go backwards; the kafkajs group consumes every acknowledged record. A kafkajs
 * transactional producer commits and aborts transactions across partitions of the same topic
 * throughout: each is all or nothing to read_committed readers (kafkajs's and the HTTP API's),
 * visible if its producer was told it committed, invisible if told aborted, never twice; the
 * read_committed group is never handed an aborted or open transaction's record; a transaction the
 * last kill left open is aborted by the sweep, and the last stable offset reaches the high watermark.
 * Longer: `node --import tsx test/reliability/crash-loop.ts --rounds 50`.
 */
import { describe, expect, it } from 'vitest';
import { runCrashLoop } from './crash-loop.js';

describe('reliability > crash loop', () => {
  it('loses no acknowledged record, duplicates no idempotent one and keeps transactions all or nothing across 20 SIGKILLs', {
    timeout: 180_000,
  }, async () => {
    const report = await runCrashLoop({ rounds: 20, seed: 20261121 });
    console.info(`reliability: crash loop: ${JSON.stringify(report)}`);
    expect(report.violations).toEqual([]);
    expect(report.crashes).toBe(20);
    // Every kind of client got records through, and the group consumed and committed throughout.
    for (const producer of ['http-0', 'http-1', 'kafka-idempotent', 'kafka-plain'])
      expect(report.acknowledged[producer], producer).toBeGreaterThan(0);
    expect(report.deliveries).toBeGreaterThan(0);
    expect(report.commitSamples).toBeGreaterThan(0);
    // The kafkajs group read between kills too, not only in the catch-up, and committed throughout.
    expect(report.kafkaGroup.deliveriesByPhase.load).toBeGreaterThan(0);
    expect(report.kafkaGroup.commitSamples).toBeGreaterThan(0);
    // Transactions committed and aborted (on purpose, and some cut short), and the dropped one was open at the last kill.
    expect(report.transactions.figures.committed).toBeGreaterThan(0);
    expect(report.transactions.figures.aborted).toBeGreaterThan(0);
    expect(report.transactions.droppedAcknowledged).toBe(2);
  });
});
