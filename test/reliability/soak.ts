/**
 * The soak: one agent process (`npm start`'s entry) under mixed load for a while, its resident memory
 * sampled, and a verdict on whether memory stays bounded. The load, all at once:
 *   - HTTP NDJSON produce (100 keyed 1 KiB records per request) to a topic of 8 partitions;
 *   - a kafkajs idempotent producer (50 records per send) to a second topic of 8 partitions;
 *   - a kafkajs consumer group of two members reading the second topic;
 *   - an HTTP consumer group member polling the first topic (auto-commit);
 *   - maintenance passes every 5 s (compaction, retention, garbage collection) in the agent.
 * Verdict: after a warm-up (the first quarter), the largest RSS of the last quarter is at most
 * 1.25 × the largest of the second quarter + 64 MiB. A leak grows without bound and fails it; caches
 * filling to their limits (chunk cache 64 MiB) happen in the warm-up.
 *
 *   node --import tsx test/reliability/soak.ts --seconds 600          # the 10-minute soak
 * Prints a JSON report (samples, records moved) and exits 1 when memory did not stay bounded.
 */
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { startAgentProcess } from '../support/agent-process.js';
import { tempDir } from '../support/stores.js';
import { numberFlags, sleep } from './support.js';

export interface SoakReport {
  readonly seconds: number;
  readonly samples: { readonly atS: number; readonly rssMiB: number }[];
  readonly httpRecordsProduced: number;
  readonly kafkaRecordsProduced: number;
  readonly kafkaRecordsConsumed: number;
  readonly httpRecordsConsumed: number;
  /** HTTP requests that failed at the connection (a reset keep-alive connection); retried, as clients do. */
  readonly connectionErrors: number;
  readonly bounded: boolean;
  readonly verdict: string;
}

export async function soak(seconds: number): Promise<SoakReport> {
  const agent = await startAgentProcess({ SPOOL_DATA_DIR: tempDir('spool-soak-'), SPOOL_DEFAULT_PARTITIONS: '8', SPOOL_MAINTENANCE_INTERVAL_MS: '5000', SPOOL_COMPACTION_TAIL_AGE_MS: '2000' });
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const startedMs = Date.now();
  const until = startedMs + seconds * 1000;
  const running = () => Date.now() < until;
  const counts = { httpProduced: 0, kafkaProduced: 0, kafkaConsumed: 0, httpConsumed: 0, connectionErrors: 0 };
  /** fetch, retried after a connection-level failure (not an HTTP error status). */
  const request = async (url: string, init?: RequestInit): Promise<Response> => {
    for (;;) {
      try {
        return await fetch(url, init);
      } catch {
        counts.connectionErrors++;
        await sleep(100);
      }
    }
  };
  const samples: { atS: number; rssMiB: number }[] = [];
  const value = 'x'.repeat(1000);

  const sampler = (async () => {
    while (running()) {
      samples.push({ atS: Math.round((Date.now() - startedMs) / 1000), rssMiB: Math.round(rss()) });
      await sleep(Math.max(1000, (seconds * 1000) / 120));
    }
  })();

  const httpProducer = (async () => {
    for (let i = 0; running(); i++) {
      const body = Array.from({ length: 100 }, (_, j) => JSON.stringify({ key: `k${(i * 100 + j) % 500}`, value })).join('\n');
      const response = await request(`${agent.httpUrl}/v1/topics/soak-http/records`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
      if (response.ok) counts.httpProduced += 100;
      await response.arrayBuffer();
    }
  })();

  const kafka = new Kafka({ brokers: [agent.kafkaBootstrap], logLevel: logLevel.NOTHING, clientId: 'soak' });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const kafkaProducer = (async () => {
    for (let i = 0; running(); i++) {
      await producer.send({ topic: 'soak-kafka', acks: -1, messages: Array.from({ length: 50 }, (_, j) => ({ key: `k${(i * 50 + j) % 500}`, value })) });
      counts.kafkaProduced += 50;
    }
  })();

  const consumers = [0, 1].map(() => kafka.consumer({ groupId: 'soak-kafka-group', sessionTimeout: 10_000, heartbeatInterval: 1000 }));
  for (const consumer of consumers) {
    await consumer.connect();
    await consumer.subscribe({ topic: 'soak-kafka', fromBeginning: true });
    await consumer.run({ eachBatch: async ({ batch }) => void (counts.kafkaConsumed += batch.messages.length) });
  }

  const httpConsumer = (async () => {
    const joined = await request(`${agent.httpUrl}/v1/groups/soak-http-group/members`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topics: ['soak-http'], auto_offset_reset: 'earliest' }),
    });
    const { member_id: memberId } = (await joined.json()) as { member_id: string };
    while (running()) {
      const polled = await request(`${agent.httpUrl}/v1/groups/soak-http-group/members/${memberId}/records?max_records=1000&wait_ms=500`);
      if (polled.ok) counts.httpConsumed += ((await polled.json()) as { records: unknown[] }).records.length;
      else await polled.arrayBuffer();
    }
  })();

  try {
    await Promise.all([sampler, httpProducer, kafkaProducer, httpConsumer]);
  } finally {
    for (const consumer of consumers) await consumer.disconnect();
    await producer.disconnect();
    await agent.stop();
  }
  const quarter = Math.max(1, Math.floor(samples.length / 4));
  const peak = (from: number, to: number) => Math.max(...samples.slice(from, to).map((s) => s.rssMiB));
  const second = peak(quarter, 2 * quarter);
  const last = peak(samples.length - quarter, samples.length);
  const limit = 1.25 * second + 64;
  return {
    seconds,
    samples,
    httpRecordsProduced: counts.httpProduced,
    kafkaRecordsProduced: counts.kafkaProduced,
    kafkaRecordsConsumed: counts.kafkaConsumed,
    httpRecordsConsumed: counts.httpConsumed,
    connectionErrors: counts.connectionErrors,
    bounded: last <= limit,
    verdict: `peak RSS ${second} MiB in the second quarter, ${last} MiB in the last (limit ${Math.round(limit)} MiB)`,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { seconds } = numberFlags(process.argv.slice(2), { seconds: 600 });
  const report = await soak(seconds);
  console.log(JSON.stringify(report));
  process.exit(report.bounded ? 0 : 1);
}
