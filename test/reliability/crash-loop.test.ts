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
 * Two HTTP receivers of a share group read the same topic throughout, accepting, releasing and
 * rejecting records, dropping a batch now and then and settling another too late: no record is
 * accepted twice or handed out again once settled, each delivery is the log's record with a delivery
 * count of its own, and once drained every record is settled (accepted once, dead, or accepted with
 * the answer lost) with nothing left in flight. Each dead record has a dead letter (at least once,
 * however a kill fell between its death and its letter) naming and copying it, and no accepted one
 * has; records produced with deliver_after_ms reach no receiver before they are due. The same loop with Kafka share consumers (the Java
 * client) among the members is test/interop/share-crash-loop.test.ts.
 * Longer: `node --import tsx test/reliability/crash-loop.ts --rounds 50`.
 */
import { describe, expect, it } from 'vitest';
import { runCrashLoop } from './crash-loop.js';

describe('reliability > crash loop', () => {
  it('loses no acknowledged record, duplicates no idempotent one, keeps transactions all or nothing and settles each queued record once across 20 SIGKILLs', {
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
    // Both share receivers were handed records between kills, not only in the drain, and their acknowledgements were answered ok;
    // records were released, rejected and redelivered, some batches dropped and some settled late.
    for (const receiver of ['http-receiver-0', 'http-receiver-1']) {
      expect(report.shareGroup.members[receiver]?.beforeDrain, receiver).toBeGreaterThan(0);
      expect(report.shareGroup.members[receiver]?.ok, receiver).toBeGreaterThan(0);
    }
    expect(report.shareGroup.figures.acks['accept ok']).toBeGreaterThan(0);
    expect(report.shareGroup.figures.acks['release ok']).toBeGreaterThan(0);
    expect(report.shareGroup.figures.rejected).toBeGreaterThan(0);
    expect(report.shareGroup.figures.redeliveries).toBeGreaterThan(0);
    expect(report.shareGroup.abandoned + report.shareGroup.late).toBeGreaterThan(0);
    // Dead records got their dead letters, and delayed records were delivered (no sooner than due).
    expect(report.shareGroup.deadLetters.records).toBeGreaterThan(0);
    expect(report.shareGroup.delays.deliveries).toBeGreaterThan(0);
  });
});
