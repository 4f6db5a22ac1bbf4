/**
 * Several agents over one shared store, as separate processes: partition leadership is split between
 * them by leases, Metadata sends each partition's produce requests to its leader, and when an agent
 * is killed (SIGKILL: no shutdown, leases left to expire) its partitions move to the survivor and a
 * Kafka client carries on without losing or duplicating an acknowledged record.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { startAgentProcess, withLog, type AgentProcess } from '../support/agent-process.js';
import { tempDir } from '../support/stores.js';

const leaseMs = 1500;
const started: AgentProcess[] = [];

afterEach(async () => {
  for (const agent of started.splice(0)) await agent.stop();
});

describe('kafka > several agents on one store', () => {
  it("splits partition leadership, and moves a killed agent's partitions to the survivor", { timeout: 90_000 }, async () => {
    const dataDir = tempDir('spool-cluster-');
    const env = { SPOOL_DATA_DIR: dataDir, SPOOL_LEASE_MS: String(leaseMs), SPOOL_DEFAULT_PARTITIONS: '4' };
    const a = await startAgentProcess(env);
    const b = await startAgentProcess(env);
    started.push(a, b);

    const kafka = new Kafka({
      brokers: [a.kafkaBootstrap],
      logLevel: logLevel.NOTHING,
      clientId: 'cluster-test',
      retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'shared', numPartitions: 4 }] });
    const metadata = await admin.fetchTopicMetadata({ topics: ['shared'] });
    const leaders = metadata.topics[0]!.partitions.map((p) => p.leader);
    // Both agents lead partitions: the work is split, not all on the one asked.
    expect(new Set(leaders).size).toBe(2);

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const acknowledged: { partition: number; offset: number; value: string }[] = [];
    const send = async (from: number, count: number) => {
      for (let i = from; i < from + count; i++) {
        const [result] = await producer.send({ topic: 'shared', acks: -1, messages: [{ partition: i % 4, value: `v${i}` }] });
        acknowledged.push({ partition: result!.partition, offset: Number(result!.baseOffset), value: `v${i}` });
      }
    };
    await send(0, 40);
    await admin.disconnect();

    // Each agent's leases name it: both hold some.
    const owners = () => withLog(dataDir, async (log) => (await log.describeTopic('shared')).partitions.map((p) => p.owner));
    const before = await owners();
    expect(new Set(before).size).toBe(2);

    await b.kill();
    await send(40, 40);
    const after = await owners();
    expect(new Set(after).size).toBe(1);
    expect(after.every((owner) => owner !== null)).toBe(true);

    // Every acknowledged record is there once, at its acknowledged offset, and nothing else is.
    const expected = new Map<number, string[]>();
    for (const { partition, offset, value } of acknowledged) {
      const list = expected.get(partition) ?? [];
      list[offset] = value;
      expected.set(partition, list);
    }
    const stored = await withLog(dataDir, (log) =>
      Promise.all(
        [0, 1, 2, 3].map(async (partition) =>
          (await log.fetch('shared', partition, 0, { maxRecords: 1000 })).records.map((r) => r.value!.toString()),
        ),
      ),
    );
    expect(stored).toEqual([0, 1, 2, 3].map((partition) => expected.get(partition) ?? []));
    await producer.disconnect();
  });
});
