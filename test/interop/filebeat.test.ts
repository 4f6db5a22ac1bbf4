/**
 * Filebeat → server → a Java consumer group: the log-shipping pipeline of issue 14, the Java
 * client (kafka-clients 3.9) standing in for Logstash's kafka input. Filebeat's Kafka library,
 * Elastic's sarama fork, sends every record batch with `maxTimestamp` = -1 in its header (it never
 * sets the field); Kafka recomputes it from the records, as its LogValidator does for every batch.
 * A server that keeps the header as sent expires such batches on its first retention pass and has
 * no time to answer ListOffsets by timestamp with.
 *
 * Run for each Filebeat build of setup.sh (7.17.28; a 9.3.0 development snapshot), in order:
 *
 * 1. create a 3-partition topic with the Java admin client;
 * 2. Filebeat (a filestream input on a temporary file; output.kafka on its defaults: gzip, acks=1,
 *    a random partition per keyless event, protocol version 1.0.0 for 7.17 and 2.1.0 for 9.3; the
 *    queue flushes after 1 s, 7.17's default) ships 2,000 lines with unique ids, written in 4
 *    waves, each once the previous one is in the topic, so every partition holds several batches
 *    with distinct timestamps; then it is stopped;
 * 3. a Java consumer group reads every line exactly once, each record with its CreateTime
 *    timestamp, equal to the event's `@timestamp` and within the run;
 * 4. `offsetsForTimes` (ListOffsets by timestamp) for timestamps taken from those records answers,
 *    per partition, the first offset whose record timestamp is at or after T, with that record's
 *    timestamp, and nothing when no record is (Kafka's answer, checked with INTEROP_TARGET=kafka);
 * 5. one maintenance pass (compaction, retention, collection) through the Spool agent's admin API;
 *    Kafka has no such pass: against Kafka (or a server given by INTEROP_BOOTSTRAP) this step
 *    alone is skipped;
 * 6. a new group reads the whole topic again from the earliest offset: every line still there,
 *    once, with the same timestamps;
 * 7. `offsetsForTimes` again, now over what maintenance made of the log.
 *
 * The steps share state and run in order; a failed step makes the later ones fail too.
 */
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { javaProgram, jsonLines, killClients, runToEnd } from './clients.js';
import { buildDir } from './support.js';

interface FilebeatBuild {
  readonly name: string;
  /** Built by setup.sh. */
  readonly binary: string;
  /** Its output.kafka client_id, which api-versions.ts knows it by in Kafka's request log. */
  readonly clientId: string;
}

const builds: readonly FilebeatBuild[] = [
  { name: 'filebeat 7.17.28', binary: join(buildDir, 'filebeat-7.17.28'), clientId: 'interop-filebeat-7.17' },
  { name: 'filebeat 9.3.0-snapshot', binary: join(buildDir, 'filebeat-9.3.0-snapshot'), clientId: 'interop-filebeat-9.3' },
];

const partitions = 3;
const waves = 4;
const linesPerWave = 500;
const lineCount = waves * linesPerWave;
/** How long one wave may take to reach the topic (Filebeat re-reads a file at EOF after 2-10 s). */
const waveWithinMs = 60_000;
/** Clock slack around the run when checking record timestamps (the same machine's clock). */
const timestampSlackMs = 2_000;
const consumeTimeoutMs = 90_000;

/** One consumed record (Java's `consume`), with what its Filebeat event says. */
interface FilebeatRecord {
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly timestampType: string;
  /** The line's id, from the event's `message`. */
  readonly id: string;
  /** The event's `@timestamp`, in ms. */
  readonly eventTimestamp: number;
}

const position = (record: { partition: number; offset: number }) => `${record.partition}/${record.offset}`;

/** At most the first 10 items and how many there are: failure messages stay readable. */
function sample(list: readonly string[]): { count: number; first: string[] } {
  return { count: list.length, first: list.slice(0, 10) };
}

const none = { count: 0, first: [] };

async function endOffsets(bootstrap: string, topic: string): Promise<Map<number, number>> {
  const admin = new Kafka({ clientId: 'interop-inspector', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map(({ partition, high }) => [partition, Number(high)]));
  } finally {
    await admin.disconnect();
  }
}

const total = (ends: ReadonlyMap<number, number>) => [...ends.values()].reduce((sum, end) => sum + end, 0);

/** Filebeat running with its output (`-e`: its log on stderr) in a file, for failure messages. */
class FilebeatProcess {
  private static readonly running = new Set<FilebeatProcess>();
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly logPath: string,
  ) {
    FilebeatProcess.running.add(this);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        FilebeatProcess.running.delete(this);
        resolve(this.exit);
      }),
    );
  }

  static start(binary: string, dir: string, configPath: string): FilebeatProcess {
    const logPath = join(dir, 'filebeat.out');
    const out = openSync(logPath, 'w');
    try {
      const paths = [
        '--path.home',
        join(dir, 'home'),
        '--path.config',
        dir,
        '--path.data',
        join(dir, 'data'),
        '--path.logs',
        join(dir, 'logs'),
      ];
      const child = spawn(binary, ['-e', '--strict.perms=false', '-c', configPath, ...paths], { stdio: ['ignore', out, out] });
      child.once('error', () => {}); // reported through the exit (code null) and the log
      return new FilebeatProcess(child, logPath);
    } finally {
      closeSync(out);
    }
  }

  /** Kills every Filebeat still running (after a failed step, or when the worker exits). */
  static killAll(): void {
    for (const filebeat of FilebeatProcess.running) filebeat.child.kill('SIGKILL');
  }

  /** SIGTERM, as a service manager stops it; SIGKILL after 20 s. */
  async stop(): Promise<void> {
    if (this.exit) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** The end of its log, warnings and errors first: what to show when it did not deliver. */
  async describe(): Promise<string> {
    const log = await readFile(this.logPath, 'utf8').catch(() => '');
    const lines = log.trimEnd().split('\n');
    const problems = lines.filter((line) => /\b(WARN|ERROR)\b|"log\.level":"(warn|error)"/.test(line)).slice(-15);
    return [
      this.exit ? `filebeat exited with ${this.exit.signal ?? this.exit.code}` : 'filebeat is running',
      `warnings and errors in its log (${this.logPath}):`,
      ...problems.map((line) => line.slice(0, 400)),
      'the end of its log:',
      ...lines.slice(-10).map((line) => line.slice(0, 400)),
    ].join('\n');
  }
}

process.once('exit', () => FilebeatProcess.killAll());

/** The topic's records, through a new Java consumer group of one, from the earliest offset. */
async function consumeAll(bootstrap: string, topic: string, group: string): Promise<FilebeatRecord[]> {
  const { stdout } = await runToEnd(
    [...javaProgram(), 'consume', '--bootstrap', bootstrap, '--topic', topic, '--group', group, '--timeout-ms', String(consumeTimeoutMs)],
    '',
    'java consume',
  );
  return jsonLines(stdout)
    .filter((event) => event.event === 'record')
    .map((event) => {
      const value = String(event.value);
      let document: { message?: unknown; '@timestamp'?: unknown };
      try {
        document = JSON.parse(value) as typeof document;
      } catch {
        throw new Error(`record ${String(event.partition)}/${String(event.offset)} is not a Filebeat JSON event: ${value.slice(0, 200)}`);
      }
      return {
        partition: Number(event.partition),
        offset: Number(event.offset),
        timestamp: Number(event.timestamp),
        timestampType: String(event.timestampType),
        id: String(document.message),
        eventTimestamp: Date.parse(String(document['@timestamp'])),
      };
    });
}

/** Every line once: none twice, none missing, nothing else. */
function expectEveryLineOnce(records: readonly FilebeatRecord[], ids: readonly string[], context: string): void {
  const wanted = new Set(ids);
  const seen = new Map<string, string[]>();
  for (const record of records) seen.set(record.id, [...(seen.get(record.id) ?? []), position(record)]);
  const duplicated = [...seen].filter(([, at]) => at.length > 1).map(([id, at]) => `${id} at ${at.join(', ')}`);
  expect(sample(duplicated), `lines delivered more than once${context}`).toEqual(none);
  const unexpected = [...seen.keys()].filter((id) => !wanted.has(id));
  expect(sample(unexpected), `records that are none of the ${ids.length} lines${context}`).toEqual(none);
  const missing = ids.filter((id) => !seen.has(id));
  expect(sample(missing), `lines never delivered, of ${ids.length} (${records.length} records came)${context}`).toEqual(none);
}

/** CreateTime timestamps: the event's own `@timestamp`, within the run. */
function expectRealTimestamps(records: readonly FilebeatRecord[], fromMs: number, toMs: number, context: string): void {
  const notCreateTime = records.filter((record) => record.timestampType !== 'CreateTime').map((r) => `${position(r)}: ${r.timestampType}`);
  expect(sample(notCreateTime), `records whose timestamp type is not CreateTime${context}`).toEqual(none);
  const outside = records
    .filter((record) => !(record.timestamp >= fromMs - timestampSlackMs && record.timestamp <= toMs + timestampSlackMs))
    .map((r) => `${position(r)}: ${r.timestamp}`);
  expect(sample(outside), `records whose timestamp is not within the run, ${fromMs}..${toMs} ms ± ${timestampSlackMs}${context}`).toEqual(
    none,
  );
  const notTheEvents = records
    .filter((record) => record.timestamp !== record.eventTimestamp)
    .map((r) => `${position(r)}: ${r.timestamp}, event @timestamp ${r.eventTimestamp}`);
  expect(sample(notTheEvents), `records whose timestamp is not their event's @timestamp${context}`).toEqual(none);
}

/** Timestamps to look up, named: around and inside the records' time range. */
function lookupTimestamps(records: readonly FilebeatRecord[]): [label: string, timestamp: number][] {
  const sorted = records.map((record) => record.timestamp).sort((a, b) => a - b);
  const distinct = [...new Set(sorted)];
  let gapAt = 0;
  for (let i = 1; i < distinct.length - 1; i++) if (distinct[i + 1]! - distinct[i]! > distinct[gapAt + 1]! - distinct[gapAt]!) gapAt = i;
  // with a single distinct timestamp this is "just after the last record" again
  return [
    ['a minute before the first record', sorted[0]! - 60_000],
    ["the first record's", sorted[0]!],
    ["the middle record's", sorted[Math.floor(sorted.length / 2)]!],
    ['just after the widest gap between records', distinct[gapAt]! + 1],
    ["the last record's", sorted.at(-1)!],
    ['just after the last record', sorted.at(-1)! + 1],
  ];
}

/** Kafka's answer: per partition, the first offset whose record timestamp is >= T, and that timestamp. */
function expectedLookup(
  records: readonly FilebeatRecord[],
  timestamp: number,
  partition: number,
): { offset: number; timestamp: number } | null {
  const found = records
    .filter((record) => record.partition === partition && record.timestamp >= timestamp)
    .sort((a, b) => a.offset - b.offset)[0];
  return found ? { offset: found.offset, timestamp: found.timestamp } : null;
}

const show = (answer: { offset: number; timestamp: number } | null) =>
  answer ? `offset ${answer.offset} (timestamp ${answer.timestamp})` : 'none';

/** offsetsForTimes through the Java client, compared with what Kafka answers for `records`. */
async function expectOffsetsForTimes(bootstrap: string, topic: string, records: readonly FilebeatRecord[], context: string): Promise<void> {
  const lookups = lookupTimestamps(records);
  const { stdout } = await runToEnd(
    [
      ...javaProgram(),
      'offsets-for-times',
      '--bootstrap',
      bootstrap,
      '--topic',
      topic,
      '--timestamps',
      lookups.map(([, timestamp]) => timestamp).join(','),
    ],
    '',
    'java offsets-for-times',
  );
  const events = jsonLines(stdout);
  const wrong: string[] = [];
  for (const [label, timestamp] of lookups) {
    const failed = events.find((event) => event.event === 'offset-for-time-error' && event.timestamp === timestamp);
    if (failed) {
      wrong.push(`T=${timestamp} (${label}): offsetsForTimes threw ${String(failed.message)}`);
      continue;
    }
    for (let partition = 0; partition < partitions; partition++) {
      const expected = expectedLookup(records, timestamp, partition);
      const answer = events.find(
        (event) => event.event === 'offset-for-time' && event.timestamp === timestamp && event.partition === partition,
      );
      if (!answer) {
        wrong.push(`T=${timestamp} (${label}) partition ${partition}: expected ${show(expected)}, got no answer at all`);
        continue;
      }
      const got = answer.offset === null ? null : { offset: Number(answer.offset), timestamp: Number(answer.recordTimestamp) };
      if (show(got) !== show(expected))
        wrong.push(`T=${timestamp} (${label}) partition ${partition}: expected ${show(expected)}, got ${show(got)}`);
    }
  }
  expect(
    wrong,
    `offsetsForTimes answers that differ from Kafka's (the first offset whose record timestamp >= T, with that timestamp)${context}`,
  ).toEqual([]);
}

function describeFilebeat(build: FilebeatBuild): void {
  describe(`interop > ${build.name} → server → Java consumer group`, () => {
    const id = randomUUID().slice(0, 8);
    const slug = build.name.replace(/[^a-z0-9]+/g, '-');
    const topic = `${slug}-${id}`;
    const ids = Array.from({ length: lineCount }, (_, seq) => `${slug}-${id}-line-${String(seq).padStart(4, '0')}`);
    const bootstrap = inject('interopBootstrap');
    const httpUrl = inject('interopHttp');
    let dir: string | undefined;
    let filebeat: FilebeatProcess | undefined;
    let shippedFromMs = 0;
    let shippedToMs = 0;
    let firstRead: FilebeatRecord[] | undefined;
    let maintenance = '';

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'spool-interop-filebeat-'));
    });
    // In beforeEach, not beforeAll: a missing build fails every test (a failed beforeAll skips them).
    beforeEach(() => {
      if (!existsSync(build.binary)) throw new Error(`${build.name} is not built (no ${build.binary}); run test/interop/setup.sh first`);
    });
    afterAll(async () => {
      FilebeatProcess.killAll();
      killClients();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it(`creates a topic with ${partitions} partitions through the Java admin client`, async () => {
      const { stdout } = await runToEnd(
        [...javaProgram(), 'create-topic', '--bootstrap', bootstrap, '--topic', topic, '--partitions', String(partitions)],
        '',
        'java create-topic',
      );
      expect(jsonLines(stdout).filter((event) => event.event === 'topic')).toHaveLength(1);
      const deadline = Date.now() + 30_000;
      let ends = await endOffsets(bootstrap, topic).catch(() => new Map<number, number>());
      while (ends.size !== partitions && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        ends = await endOffsets(bootstrap, topic).catch(() => new Map<number, number>());
      }
      const empty = Object.fromEntries(Array.from({ length: partitions }, (_, partition) => [partition, 0]));
      expect(Object.fromEntries(ends), 'end offsets of the new topic').toEqual(empty);
    });

    it(`ships ${lineCount} log lines, written in ${waves} waves, into the topic`, async () => {
      const logFile = join(dir!, 'app.log');
      const configPath = join(dir!, 'filebeat.yml');
      await Promise.all(['home', 'data', 'logs'].map((sub) => mkdir(join(dir!, sub))));
      // YAML is a superset of JSON: no quoting to get wrong. Everything not named here is Filebeat's default
      // (client_id only names it in Kafka's request log), but for the queue's flush timeout: 1 s is
      // 7.17's default; from 8.x on the queue waits up to 10 s
      // for 1,600 events, which would make each wave of 500 lines take 10 s more. Each wave still
      // reaches the output whole, so what Filebeat sends does not change.
      const config = {
        'filebeat.inputs': [{ type: 'filestream', id: `interop-${id}`, paths: [logFile] }],
        'queue.mem.flush.timeout': '1s',
        'output.kafka': { hosts: [bootstrap], topic, client_id: build.clientId },
      };
      await writeFile(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });

      const wave = (n: number) =>
        ids
          .slice(n * linesPerWave, (n + 1) * linesPerWave)
          .map((line) => `${line}\n`)
          .join('');
      shippedFromMs = Date.now();
      await writeFile(logFile, wave(0));
      filebeat = FilebeatProcess.start(build.binary, dir!, configPath);
      for (let n = 0; n < waves; n++) {
        if (n > 0) await appendFile(logFile, wave(n));
        const wanted = (n + 1) * linesPerWave;
        const deadline = Date.now() + waveWithinMs;
        let ends = await endOffsets(bootstrap, topic);
        while (total(ends) < wanted) {
          if (filebeat.exit || Date.now() > deadline) {
            throw new Error(
              `expected ${wanted} records in ${topic} after wave ${n + 1} of ${waves}, found ${total(ends)} ` +
                `(end offsets ${JSON.stringify(Object.fromEntries(ends))}) ${filebeat.exit ? 'when Filebeat exited' : `after ${waveWithinMs} ms`}\n${await filebeat.describe()}`,
            );
          }
          await new Promise((resolve) => setTimeout(resolve, 250));
          ends = await endOffsets(bootstrap, topic);
        }
      }
      shippedToMs = Date.now();
      await filebeat.stop();
      const ends = await endOffsets(bootstrap, topic);
      expect(total(ends), `records in ${topic} once Filebeat stopped (end offsets ${JSON.stringify(Object.fromEntries(ends))})`).toBe(
        lineCount,
      );
      const empty = [...ends].filter(([, end]) => end === 0).map(([partition]) => partition);
      expect(empty, 'partitions Filebeat sent nothing to (it picks one at random per event)').toEqual([]);
    });

    it('delivers every line exactly once to a Java consumer group, with its CreateTime timestamp', async () => {
      expect(shippedToMs, 'Filebeat shipped every line').toBeGreaterThan(0);
      const records = await consumeAll(bootstrap, topic, `${topic}-first`);
      expectEveryLineOnce(records, ids, '');
      expectRealTimestamps(records, shippedFromMs, shippedToMs, '');
      firstRead = records;
    });

    it("answers offsetsForTimes as Kafka does: the first offset at or after the time, with its record's timestamp", async () => {
      expect(firstRead, 'the consumer group read every line').toBeDefined();
      await expectOffsetsForTimes(bootstrap, topic, firstRead!, '');
    });

    // Kafka (and a server given by INTEROP_BOOTSTRAP) has no maintenance pass to run on demand.
    it.skipIf(!httpUrl)("runs one maintenance pass through the Spool agent's admin API (Spool only: skipped against Kafka)", async () => {
      const response = await fetch(`${httpUrl}/v1/admin/maintenance`, { method: 'POST' });
      maintenance = await response.text();
      expect(response.status, `POST /v1/admin/maintenance answered ${maintenance}`).toBe(200);
    });

    it('still holds every line, once, with the same timestamps, for a new group reading from the earliest offset', async () => {
      expect(firstRead, 'the first group read every line').toBeDefined();
      const context = maintenance ? ` (after a maintenance pass that reported ${maintenance})` : '';
      const records = await consumeAll(bootstrap, topic, `${topic}-again`);
      expectEveryLineOnce(records, ids, context);
      expectRealTimestamps(records, shippedFromMs, shippedToMs, context);
      const before = new Map(firstRead!.map((record) => [position(record), record.timestamp]));
      const changed = records.filter((record) => before.has(position(record)) && before.get(position(record)) !== record.timestamp);
      expect(
        sample(changed.map((r) => `${position(r)}: ${before.get(position(r))} then ${r.timestamp}`)),
        `records whose timestamp changed${context}`,
      ).toEqual(none);
    });

    it('answers offsetsForTimes as Kafka does after that', async () => {
      expect(firstRead, 'the first group read every line').toBeDefined();
      await expectOffsetsForTimes(
        bootstrap,
        topic,
        firstRead!,
        maintenance ? ` (after a maintenance pass that reported ${maintenance})` : '',
      );
    });
  });
}

for (const build of builds) describeFilebeat(build);
