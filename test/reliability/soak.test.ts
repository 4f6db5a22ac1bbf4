/**
 * The soak, bounded for CI (40 s; `test/reliability/soak.ts --seconds 600` is the 10-minute run):
 * an agent under mixed HTTP and Kafka load keeps its memory bounded and its consumers keep up.
 */
import { describe, expect, it } from 'vitest';
import { soak } from './soak.js';

describe('reliability > soak', () => {
  it("keeps the agent's memory bounded under mixed HTTP and Kafka load, with consumers keeping up", { timeout: 120_000 }, async () => {
    const report = await soak(40);
    expect(report.bounded, report.verdict).toBe(true);
    expect(report.samples.length).toBeGreaterThanOrEqual(20);
    expect(report.httpRecordsProduced).toBeGreaterThan(0);
    expect(report.kafkaRecordsProduced).toBeGreaterThan(0);
    // Consumers read while producers write; by the end they are close behind.
    expect(report.kafkaRecordsConsumed).toBeGreaterThanOrEqual(report.kafkaRecordsProduced * 0.8);
    expect(report.httpRecordsConsumed).toBeGreaterThanOrEqual(report.httpRecordsProduced * 0.8);
  });
});
