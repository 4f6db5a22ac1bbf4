/**
 * Long-running Java applications of the interop suite (Kafka Connect workers, Kafka Streams
 * instances): started with their output in a log file under .build/logs/, stopped with a signal as
 * an operator would stop them, and killed after the test file if still running; with the waits and
 * the DescribeConfigs their tests share.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { afterAll } from 'vitest';
import { buildDir, startKafka } from './support.js';

export interface JavaApp {
  readonly child: ChildProcess;
  /** The application's stdout and stderr. */
  readonly logFile: string;
  /**
   * Sends `signal` (SIGTERM: the application shuts down cleanly; SIGKILL: a crash) and answers how it
   * exited; SIGKILL after 60 s.
   */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();
let fileDone = false;
afterAll(() => {
  fileDone = true;
  killJavaApps();
});

/** Kills every application still running (a scenario that failed half-way leaves none behind). */
export function killJavaApps(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** `java ARGS`, its output in .build/logs/`logName`.log (written anew). */
export function startJavaApp(args: readonly string[], logName: string): JavaApp {
  if (fileDone) throw new Error(`${logName}: the test file is over (a timed-out scenario went on)`);
  mkdirSync(join(buildDir, 'logs'), { recursive: true });
  const logFile = join(buildDir, 'logs', `${logName}.log`);
  const out = openSync(logFile, 'w');
  const child = spawn('java', args, { stdio: ['ignore', out, out] });
  closeSync(out); // the child has its own copy
  running.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  void exited.then(() => running.delete(child));
  return {
    child,
    logFile,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const how = await exited;
      clearTimeout(timer);
      return how;
    },
  };
}

/** Runs `scenario` against an Apache Kafka 3.9.1 broker started for it (kafka-broker.sh), stopped after. */
export async function onKafka<T>(scenario: (bootstrap: string) => Promise<T>): Promise<T> {
  const kafka = await startKafka({ requestLog: false });
  try {
    return await scenario(kafka.bootstrap);
  } finally {
    await kafka.close();
  }
}

/** Polls `check` every 250 ms until it answers true; rejects after `timeoutMs`, naming `what`. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; ; await sleep(250)) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

/**
 * Spool maintenance passes (`maintain`, POST /v1/admin/maintenance) until `cleaned` answers true:
 * each pass 600 ms after the last (past the topics' segment.ms of 500, so the flushes merge into
 * segments the cleaner takes), at least `minPasses` and at most 10; the caller asserts what it
 * needs afterwards. A topic a client still writes to (Connect's offset flush, a Streams changelog)
 * may gain a record in a flush row young at a pass, which the cleaner reaches only a pass later.
 */
export async function maintainUntil(maintain: () => Promise<number>, cleaned: () => Promise<boolean>, minPasses = 3): Promise<void> {
  for (let pass = 1; pass <= 10; pass++) {
    await sleep(600);
    await maintain();
    if (pass >= minPasses && (await cleaned())) return;
  }
}

/**
 * The records a topic holds, read from the start of each partition with kafkajs (read_uncommitted:
 * aborted transactions' records are held too; transaction markers are not records here, kafkajs
 * hands none to the application), and the offsets its partitions span (log start to the end
 * ListOffsets answers kafkajs, which asks read_committed: the high watermark, or the last stable
 * offset while a transaction is open): fewer records than offsets once the cleaner ran, on a topic
 * written without transactions.
 */
export async function recordsKept(bootstrap: string, topic: string): Promise<{ records: number; offsets: number }> {
  const kafka = new Kafka({ clientId: 'interop-count', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const bounds = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const last = new Map(bounds.filter((p) => Number(p.high) > Number(p.low)).map((p) => [p.partition, Number(p.high) - 1]));
  const offsets = bounds.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  // A short long-poll: disconnect waits for the one under way.
  const consumer = kafka.consumer({ groupId: `interop-count-${Date.now()}-${Math.random()}`, readUncommitted: true, maxWaitTimeInMs: 500 });
  const seen = new Set<string>(); // partition:offset below the high watermark read: a redelivery or a later write is not counted
  const reached = new Set<number>();
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    // Each fetched batch's last offset, a marker's included (a batch of markers only is reported but not handed over):
    // the newest record or marker is never cleaned away.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (last.has(payload.partition) && Number(payload.lastOffset) >= last.get(payload.partition)!) reached.add(payload.partition);
    });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const offset = Number(message.offset);
        if (last.has(partition) && offset <= last.get(partition)!) seen.add(`${partition}:${offset}`);
      },
    });
    await waitFor(`a read of ${topic} to its end`, 60_000, () => reached.size === last.size);
  } finally {
    await consumer.disconnect();
  }
  return { records: seen.size, offsets };
}

/** One config of each topic, as DescribeConfigs answers it (kafkajs's admin client); 'none' where absent. */
export async function topicConfig(bootstrap: string, topics: readonly string[], name: string): Promise<Record<string, string>> {
  const admin = new Kafka({ clientId: 'interop-describe', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({
      resources: topics.map((topic) => ({ type: ConfigResourceTypes.TOPIC, name: topic, configNames: [name] })),
      includeSynonyms: false,
    });
    return Object.fromEntries(resources.map((r) => [r.resourceName, r.configEntries[0]?.configValue ?? 'none']));
  } finally {
    await admin.disconnect();
  }
}
