/**
 * The crash loop: one agent process (`npm start`'s entry, bin/agent.ts) on one data directory is
 * killed with SIGKILL at seeded random moments and started again, on the same ports, while
 *  - two HTTP producers send sequence-numbered keyed records with acks=all (POST /v1/topics/{t}/records),
 *    resending a request that got no answer (they are not idempotent: a resend may duplicate);
 *  - two kafkajs producers do the same over the Kafka protocol, one idempotent (its retries must
 *    never duplicate), one not;
 *  - two members of an HTTP consumer group poll throughout (the group lives in the store, so its
 *    members carry on across restarts), now and then leaving and joining again (a rebalance), and
 *    every record handed to them is noted with the member and generation;
 *  - a sampler reads the group's committed offsets (GET /v1/groups/{g}) over and over.
 * After the last round the agent stays up until every producer's last record is acknowledged, then
 * stops cleanly, and the data directory is opened in this process and checked (checker.ts).
 *
 * As a script (longer than CI's run):
 *   node --import tsx test/reliability/crash-loop.ts --rounds 50 --seed 7
 */
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { startAgentProcess, withLog, type AgentProcess } from '../support/agent-process.js';
import { freePort } from '../support/services.js';
import { tempDir } from '../support/stores.js';
import { checkCommits, checkDeliveries, checkLog, type Acknowledged, type CommitSample, type Delivery, type LogFigures } from './checker.js';
import { choices, numberFlags, readPartitions, sleep } from './support.js';

export interface CrashLoopOptions {
  /** How many times the agent is killed (and started again). */
  readonly rounds: number;
  readonly seed: number;
  /** Load between an agent's start and its SIGKILL, drawn in [minLoadMs, maxLoadMs]. @default 300, 800 */
  readonly minLoadMs?: number;
  readonly maxLoadMs?: number;
  /** Progress lines. @default none */
  readonly progress?: (line: string) => void;
}

export interface CrashLoopReport {
  readonly seed: number;
  readonly crashes: number;
  /** Acknowledged records per producer. */
  readonly acknowledged: Record<string, number>;
  readonly figures: LogFigures;
  /** Records handed to group members, and in how many distinct generations. */
  readonly deliveries: number;
  readonly generations: number;
  readonly commitSamples: number;
  /** Answers that were not acknowledgements (a producer then resends), by cause. */
  readonly failedSends: Record<string, number>;
  readonly durationMs: number;
  readonly violations: string[];
}

const topic = 'crash';
const group = 'crash-readers';
const partitions = 4;
const leaseMs = 1000;
/** After the last start, how long a producer may take to get its last record acknowledged. */
const drainMs = 60_000;

export async function runCrashLoop(options: CrashLoopOptions): Promise<CrashLoopReport> {
  const started = Date.now();
  const random = choices(options.seed);
  const progress = options.progress ?? (() => undefined);
  const dataDir = tempDir('spool-crash-');
  const [httpPort, kafkaPort] = [await freePort(), await freePort()];
  // Fixed ports, so clients find the agent again after each restart, as they would behind a service address.
  const env = { SPOOL_DATA_DIR: dataDir, SPOOL_HTTP_PORT: String(httpPort), SPOOL_KAFKA_PORT: String(kafkaPort), SPOOL_LEASE_MS: String(leaseMs), SPOOL_LINGER_MS: '5' };
  const url = `http://127.0.0.1:${httpPort}`;
  let agent = await start(env);

  const violations: string[] = [];
  const acks: Acknowledged[] = [];
  const sent = new Set<string>();
  const deliveries: Delivery[] = [];
  const samples: CommitSample[] = [];
  const failedSends: Record<string, number> = {};
  const failed = (cause: string) => (failedSends[cause] = (failedSends[cause] ?? 0) + 1);
  let stopping = false;
  let stoppedAtMs = Infinity;

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(url + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as any) };
  };
  const created = await call('POST', '/v1/topics', { name: topic, partitions });
  if (created.status !== 201) throw new Error(`could not create the topic: ${created.status} ${JSON.stringify(created.body)}`);

  /** Resends `attempt` until it is acknowledged; gives up only long after the producers were told to stop. */
  const untilAcknowledged = async (name: string, attempt: () => Promise<boolean>) => {
    while (!(await attempt())) {
      if (Date.now() - stoppedAtMs > drainMs) {
        violations.push(`${name}: a record was still not acknowledged ${drainMs} ms after the last restart`);
        return false;
      }
      await sleep(30);
    }
    return true;
  };

  const httpProducer = async (name: string) => {
    for (let sequence = 0; !stopping; ) {
      const values = Array.from({ length: random.int(1, 3) }, () => `${name}:${sequence++}`);
      values.forEach((value) => sent.add(value));
      const body = { records: values.map((value) => ({ key: `key-${random.int(0, 49)}`, value })) };
      const acknowledged = await untilAcknowledged(name, async () => {
        try {
          const answer = await call('POST', `/v1/topics/${topic}/records?acks=all`, body);
          if (answer.status === 200) {
            (answer.body.offsets as { partition: number; offset: number }[]).forEach(({ partition, offset }, i) => acks.push({ producer: name, idempotent: false, value: values[i]!, partition, offset }));
            return true;
          }
          if (answer.status < 500 && answer.status !== 429) violations.push(`${name}: unexpected answer ${answer.status} ${JSON.stringify(answer.body)}`);
          failed(`http ${answer.status} ${answer.body?.error?.code ?? ''}`.trim());
        } catch (error) {
          failed(`http ${(error as Error).cause ? String(((error as Error).cause as { code?: string }).code ?? 'network') : (error as Error).name}`);
        }
        return false;
      });
      if (!acknowledged) return;
    }
  };

  const kafka = new Kafka({
    clientId: 'crash-loop',
    brokers: [`127.0.0.1:${kafkaPort}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  const kafkaProducer = async (name: string, producer: Producer, idempotent: boolean) => {
    await untilAcknowledged(name, () => producer.connect().then(() => true, () => false));
    for (let sequence = 0; !stopping; ) {
      const value = `${name}:${sequence++}`;
      const key = `key-${random.int(0, 49)}`;
      sent.add(value);
      // The same message again after a failure: an idempotent producer reuses its sequence number.
      const acknowledged = await untilAcknowledged(name, async () => {
        try {
          const [result] = await producer.send({ topic, acks: -1, messages: [{ key, value }] });
          acks.push({ producer: name, idempotent, value, partition: result!.partition, offset: Number(result!.baseOffset) });
          return true;
        } catch (error) {
          // kafkajs's own errors by name; anything else (a bug on either side) with its message too.
          const { name: kind, message } = error as Error;
          failed(kind.startsWith('KafkaJS') ? `kafka ${kind}` : `kafka ${kind}: ${message.slice(0, 100)}`);
          return false;
        }
      });
      if (!acknowledged) break;
    }
    await producer.disconnect().catch(() => undefined);
  };

  const consumer = async (member: string) => {
    let joined = false;
    while (!stopping) {
      try {
        if (!joined) {
          const join = await call('POST', `/v1/groups/${group}/members`, { topics: [topic], member_id: member, session_timeout_ms: 10_000, auto_offset_reset: 'earliest' });
          joined = join.status === 200;
          if (!joined) await sleep(50);
          continue;
        }
        const polled = await call('GET', `/v1/groups/${group}/members/${member}/records?max_records=200&wait_ms=100`);
        if (polled.status === 200) {
          for (const record of polled.body.records) deliveries.push({ member, generation: polled.body.generation, partition: record.partition, offset: record.offset, value: record.value });
          // Now and then a member leaves and joins again: the group rebalances under load too.
          if (random.next() < 0.03 && (await call('DELETE', `/v1/groups/${group}/members/${member}`)).status === 204) joined = false;
        } else if (polled.status === 404) {
          joined = false; // expired while the agent was down: join again
        } else {
          await sleep(50);
        }
      } catch {
        await sleep(50); // the agent is down
      }
    }
    await call('DELETE', `/v1/groups/${group}/members/${member}`).catch(() => undefined); // commits what it consumed
  };

  const sampleCommits = async () => {
    const answer = await call('GET', `/v1/groups/${group}`).catch(() => undefined);
    if (answer?.status !== 200) return;
    for (const p of answer.body.partitions) if (p.committed_offset !== null) samples.push({ atMs: Date.now(), partition: p.partition, committed: p.committed_offset });
  };
  const sampler = async () => {
    while (!stopping) {
      await sampleCommits();
      await sleep(100);
    }
  };

  const producers = [
    httpProducer('http-0'),
    httpProducer('http-1'),
    kafkaProducer('kafka-idempotent', kafka.producer({ idempotent: true, maxInFlightRequests: 1 }), true),
    kafkaProducer('kafka-plain', kafka.producer({ allowAutoTopicCreation: false }), false),
  ];
  const readers = [consumer('member-0'), consumer('member-1'), sampler()];

  let crashes = 0;
  for (let round = 1; round <= options.rounds; round++) {
    await sleep(random.int(options.minLoadMs ?? 300, options.maxLoadMs ?? 800));
    await agent.kill();
    crashes++;
    agent = await start(env);
    progress(`round ${round}: killed and restarted; ${acks.length} records acknowledged, ${deliveries.length} delivered`);
  }
  // The last agent lives: let the clients find it, then drain.
  await sleep(2 * leaseMs);
  stopping = true;
  stoppedAtMs = Date.now();
  await Promise.all([...producers, ...readers]);
  await sampleCommits();
  await agent.stop();

  const stored = await withLog(dataDir, (log) => readPartitions(log, topic, partitions));
  const checked = checkLog(acks, stored, sent, new Set(['kafka-idempotent']));
  violations.push(...checked.violations, ...checkDeliveries(deliveries, stored), ...checkCommits(samples));
  const acknowledged: Record<string, number> = {};
  for (const ack of acks) acknowledged[ack.producer] = (acknowledged[ack.producer] ?? 0) + 1;
  return {
    seed: options.seed,
    crashes,
    acknowledged,
    figures: checked.figures,
    deliveries: deliveries.length,
    generations: new Set(deliveries.map((d) => d.generation)).size,
    commitSamples: samples.length,
    failedSends,
    durationMs: Date.now() - started,
    violations,
  };
}

/** Starts the agent, again if the first try fails (the old process's port may linger for a moment). */
async function start(env: Record<string, string>): Promise<AgentProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startAgentProcess(env);
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(200 * attempt);
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const flags = numberFlags(process.argv.slice(2), { rounds: 50, seed: 20261121, 'min-load-ms': 300, 'max-load-ms': 800 });
  const report = await runCrashLoop({
    rounds: flags.rounds,
    seed: flags.seed,
    minLoadMs: flags['min-load-ms'],
    maxLoadMs: flags['max-load-ms'],
    progress: (line) => console.error(line),
  });
  console.log(JSON.stringify(report, null, 2));
  process.exitCode = report.violations.length === 0 ? 0 : 1;
}
