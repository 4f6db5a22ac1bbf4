/**
 * Two agents and a zombie. Agent A leads every partition; it accepts writes (an HTTP produce and an
 * idempotent Kafka producer's batch) right after a flush, and before its batch interval lets the next
 * flush start it is paused with SIGSTOP, past its lease. Agent B takes the partitions over and writes to them. Then A is resumed with SIGCONT:
 * its flush uploads a segment and tries to commit it as the old leader — and is refused. Nothing A
 * buffered becomes visible, the idempotent producer's batch lands once (through B), offsets stay
 * dense, and a write sent to A afterwards is turned away as from a non-leader.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgentProcess, withLog, type AgentProcess } from '../support/agent-process.js';
import { tempDir } from '../support/stores.js';
import { WireClient } from '../kafka/support/wire-client.js';
import { checkLog, type Acknowledged } from './checker.js';
import { readPartitions, sleep } from './support.js';

const leaseMs = 1000;
const started: AgentProcess[] = [];

afterEach(async () => {
  for (const agent of started.splice(0)) {
    agent.child.kill('SIGCONT');
    await agent.stop();
  }
});

/** Every file under `dir`, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

describe('reliability > zombie leader', () => {
  it('refuses every commit of an agent paused past its lease, and keeps the log dense and duplicate-free', {
    timeout: 90_000,
  }, async () => {
    const dataDir = tempDir('spool-zombie-');
    const env = { SPOOL_DATA_DIR: dataDir, SPOOL_LEASE_MS: String(leaseMs) };
    // A long batch interval on A: what it accepts within 3 s of its last flush is committed only after the pause.
    const a = await startAgentProcess({ ...env, SPOOL_BATCH_INTERVAL_MS: '3000' });
    started.push(a);
    const topic = 'zombie';
    const kafka = (broker: string) =>
      new Kafka({
        brokers: [broker],
        logLevel: logLevel.NOTHING,
        requestTimeout: 2500,
        retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 },
      });
    const admin = kafka(a.kafkaBootstrap).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    await admin.disconnect();

    const acks: Acknowledged[] = [];
    const sent = new Set<string>();
    /** Sends `<name>:<sequence>` to each partition given (sequences from `first`), one record each. */
    const send = async (
      producer: ReturnType<ReturnType<typeof kafka>['producer']>,
      name: string,
      idempotent: boolean,
      first: number,
      partitions: number[],
    ) => {
      const values = partitions.map((_, i) => `${name}:${first + i}`);
      for (const value of values) sent.add(value);
      const results = await producer.send({
        topic,
        acks: -1,
        messages: partitions.map((partition, i) => ({ partition, value: values[i]! })),
      });
      partitions.forEach((partition, i) => {
        const result = results.find((r) => r.partition === partition)!;
        acks.push({ producer: name, idempotent, value: values[i]!, partition, offset: Number(result.baseOffset) });
      });
    };
    // While A is the only agent, its Kafka produce takes both partitions' leases.
    const idempotent = kafka(a.kafkaBootstrap).producer({ idempotent: true, maxInFlightRequests: 1 });
    await idempotent.connect();
    await send(idempotent, 'kafka-idempotent', true, 0, [0, 1]);
    const b = await startAgentProcess({ ...env, SPOOL_BATCH_INTERVAL_MS: '5' });
    started.push(b);
    const owners = () => withLog(dataDir, async (log) => (await log.describeTopic(topic)).partitions.map((p) => p.owner));
    const ownersBefore = await owners();
    expect(ownersBefore[0]).not.toBeNull();
    expect(ownersBefore[1]).toBe(ownersBefore[0]);

    // A flush of A's starts now (a lone write is flushed at once), so the next may not start for 3 s.
    const primed = await fetch(`${a.httpUrl}/v1/topics/zombie-prime/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records: [{ value: 'prime' }] }),
    });
    expect(primed.status).toBe(200);
    // Writes A accepts as leader (its lease epoch stamped on them), still buffered when it freezes.
    for (const value of ['zombie-http:0', 'zombie-http:1']) sent.add(value);
    const zombieHttp = fetch(`${a.httpUrl}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        records: [
          { value: 'zombie-http:0', partition: 0 },
          { value: 'zombie-http:1', partition: 1 },
        ],
      }),
    }).then(async (response) => ({ status: response.status, body: (await response.json()) as { error?: { code: string } } }));
    const inFlight = send(idempotent, 'kafka-idempotent', true, 2, [0]);
    await sleep(1500); // ample time for A to accept both; its batch interval (3 s) has not run out
    a.child.kill('SIGSTOP');

    // Past A's lease (and its broker registration), B is the only live broker and takes the partitions over.
    await sleep(2 * leaseMs);
    const successor = kafka(b.kafkaBootstrap).producer();
    await successor.connect();
    await send(successor, 'kafka-b', false, 0, [0, 1]);
    const ownersAfter = await owners();
    expect(ownersAfter[0]).not.toBe(ownersBefore[0]);
    expect(ownersAfter[1]).toBe(ownersAfter[0]);

    a.child.kill('SIGCONT');
    // The zombie's flush tried to commit as the old leader: refused, and the client is told so.
    expect(await zombieHttp).toEqual({ status: 409, body: { error: expect.objectContaining({ code: 'FENCED_LEADER_EPOCH' }) } });
    // The idempotent producer's batch, accepted by the zombie, is committed once — by B.
    await inFlight;
    // New writes sent to the zombie are turned away: it no longer leads.
    const wire = await WireClient.open(a.kafkaBootstrap);
    const answer = await wire.call('Produce', 3, {
      acks: -1,
      timeout: 5000,
      topicData: [{ topic, partitions: [{ partition: 0, messages: [{ value: 'zombie-kafka:0' }] }] }],
    });
    sent.add('zombie-kafka:0');
    expect(answer.topics[0].partitions[0].errorCode).toBe(6); // NOT_LEADER_OR_FOLLOWER
    wire.close();
    await send(successor, 'kafka-b', false, 2, [1]);
    await Promise.all([idempotent.disconnect(), successor.disconnect()]);
    for (const agent of started.splice(0)) await agent.stop();

    // The zombie did upload its segment (it really attempted the commit), but nothing of it is visible.
    expect(files(join(dataDir, 'objects')).some((file) => readFileSync(file).includes('zombie-http:0'))).toBe(true);
    const stored = await withLog(dataDir, (log) => readPartitions(log, topic, 2));
    const values = stored.flat().map((r) => r.value);
    expect(values.filter((v) => v?.startsWith('zombie-'))).toEqual([]);
    const checked = checkLog(acks, stored, sent, new Set(['kafka-idempotent']));
    expect(checked.violations).toEqual([]);
    expect(checked.figures).toEqual({ records: 6, markers: 0, acknowledged: 6, duplicates: 0, unacknowledgedVisible: 0 });
  });
});
