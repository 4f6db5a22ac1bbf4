/**
 * Kafka-side tooling for benchmarks: an Apache Kafka broker (test/interop/kafka-broker.sh: 3.9.1,
 * KRaft, one node, loopback), Apache Kafka's own performance tools (ProducerPerformance and
 * ConsumerPerformance, from org.apache.kafka:kafka-tools, bench/kafka-tools/pom.xml), and kcat
 * (librdkafka). The same functions drive Spool's agent and the broker, so both see the same client
 * and workload.
 *
 * The tools (and spool.bench.LatencyProducer, bench/kafka-tools/src) are built once by Maven into
 * test/interop/.build/bench-kafka-tools/ (git-ignored), next to the broker's classpath.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { percentile } from './process.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const brokerScript = join(root, 'test', 'interop', 'kafka-broker.sh');
const toolsDir = join(root, 'bench', 'kafka-tools');
const toolsPom = join(toolsDir, 'pom.xml');
/** Git-ignored, next to the broker's classpath. */
const toolsBuild = join(root, 'test', 'interop', '.build', 'bench-kafka-tools');

export const kafkaToolsVersion = '3.9.1';

// ---- processes ----------------------------------------------------------------------------------

export interface RunOptions {
  /** A file handed to the command as its stdin (no copy through this process). */
  readonly stdinPath?: string;
  /** Called with each line the command prints on stdout. */
  readonly onLine?: (line: string) => void;
  readonly timeoutMs?: number;
}

/** Runs a command to completion and returns its stdout; rejects with the tail of its stderr on failure. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = options.stdinPath ? openSync(options.stdinPath, 'r') : 'ignore';
    const child = spawn(command, args, { stdio: [stdin, 'pipe', 'pipe'] });
    if (typeof stdin === 'number') closeSync(stdin);
    let stdout = '';
    let stderr = '';
    if (options.onLine) createInterface({ input: child.stdout! }).on('line', options.onLine);
    else child.stdout!.on('data', (data) => (stdout += data));
    child.stderr!.on('data', (data) => (stderr = (stderr + data).slice(-4000)));
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.slice(0, 3).join(' ')}… exited with ${code ?? signal}: ${stderr.slice(-800)}`));
    });
  });
}

/**
 * Writes `count` records for `kcat -P`, one a line: `recordBytes - 1` bytes of value (the newline
 * completes the size), or with `keyed` a distinct 16-byte key, ':' and `recordBytes - 16` bytes of
 * value (for `kcat -K:`).
 */
export async function writeRecords(path: string, count: number, recordBytes: number, options: { keyed?: boolean } = {}): Promise<void> {
  const out = createWriteStream(path);
  const value = options.keyed ? `:${'x'.repeat(recordBytes - 16)}\n` : `${'x'.repeat(recordBytes - 1)}\n`;
  const line = (i: number) => (options.keyed ? `k${String(i).padStart(15, '0')}${value}` : value);
  for (let i = 0; i < count; i++) if (!out.write(line(i))) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

/** Two consecutive free loopback ports (the broker's client and controller listeners). */
export async function freePortPair(): Promise<number> {
  const listen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen(port, '127.0.0.1', () => {
        const bound = (server.address() as { port: number }).port;
        server.close(() => resolve(bound));
      });
    });
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await listen(0);
    if (port !== undefined && port < 65535 && (await listen(port + 1)) !== undefined) return port;
  }
  throw new Error('no two consecutive free ports');
}

// ---- the Apache Kafka broker ----------------------------------------------------------------------

export interface KafkaBroker {
  readonly bootstrap: string;
  readonly dir: string;
  readonly pid: number;
}

/** Starts a fresh single-node KRaft broker in `dir` (wiped first) on free ports. */
export async function startKafkaBroker(dir: string): Promise<KafkaBroker> {
  const port = await freePortPair();
  const out = await run('bash', [brokerScript, 'start', '--dir', dir, '--port', String(port)], { timeoutMs: 120_000 });
  const pid = Number(readFileSync(join(dir, 'kafka.pid'), 'utf8'));
  return { bootstrap: out.trim().split('\n').pop()!, dir, pid };
}

export async function stopKafkaBroker(broker: KafkaBroker): Promise<void> {
  await run('bash', [brokerScript, 'stop', '--dir', broker.dir], { timeoutMs: 60_000 });
}

/** Peak resident memory of a process, MiB (VmHWM). */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

// ---- Apache Kafka's performance tools ---------------------------------------------------------------

const classpaths = new Map<string, string>();

/**
 * The classpath of a Maven project whose pom writes its runtime classpath to `<buildDir>/classpath.txt`
 * (its own classes first), built by Maven on first use and again when the pom or one of `sources`
 * changes.
 */
export function mavenClasspath(pom: string, buildDir: string, sources: readonly string[]): string {
  const known = classpaths.get(pom);
  if (known !== undefined) return known;
  const cache = join(buildDir, 'classpath.txt');
  if (!existsSync(cache) || [pom, ...sources].some((source) => statSync(source).mtimeMs > statSync(cache).mtimeMs)) {
    mkdirSync(buildDir, { recursive: true });
    const mvn = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', '-f', pom, 'package'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (mvn.status !== 0)
      throw new Error(`mvn could not build ${pom} (exit ${mvn.status}); are Java and Maven installed (test/interop/setup.sh)?`);
    const now = new Date();
    utimesSync(cache, now, now); // Maven leaves an unchanged classpath file as it was
  }
  const classpath = `${join(buildDir, 'classes')}:${readFileSync(cache, 'utf8').trim()}`;
  classpaths.set(pom, classpath);
  return classpath;
}

/** kafka-tools' classpath and LatencyProducer's classes (bench/kafka-tools/). */
export function kafkaToolsClasspath(): string {
  return mavenClasspath(toolsPom, toolsBuild, [join(toolsDir, 'src', 'main', 'java', 'spool', 'bench', 'LatencyProducer.java')]);
}

let log4jConfig: string | undefined;

function javaTool(mainClass: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  if (log4jConfig === undefined) {
    log4jConfig = join(tmpdir(), `spool-bench-log4j-${process.pid}.properties`);
    const path = log4jConfig;
    process.once('exit', () => rmSync(path, { force: true }));
    writeFileSync(
      log4jConfig,
      [
        'log4j.rootLogger=WARN, stderr',
        'log4j.appender.stderr=org.apache.log4j.ConsoleAppender',
        'log4j.appender.stderr.Target=System.err',
        'log4j.appender.stderr.layout=org.apache.log4j.PatternLayout',
        'log4j.appender.stderr.layout.ConversionPattern=%p %m (%c)%n',
        '',
      ].join('\n'),
    );
  }
  return run(
    'java',
    ['-Xms256m', '-Xmx1g', '-XX:+UseG1GC', `-Dlog4j.configuration=file:${log4jConfig}`, '-cp', kafkaToolsClasspath(), mainClass, ...args],
    { timeoutMs: 300_000, ...options },
  );
}

export interface ProducerPerfResult {
  readonly records: number;
  readonly recordsPerS: number;
  /** Record payload MB (10^6 bytes) per second. */
  readonly mbPerS: number;
  /** Send → acknowledgement, as the tool measures it. */
  readonly avgMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * `kafka-producer-perf-test`: `records` records of `recordBytes` random bytes at `recordsPerS`
 * (-1: as fast as it can), with the given producer settings.
 */
export async function producerPerformance(
  bootstrap: string,
  topic: string,
  workload: { records: number; recordBytes: number; recordsPerS: number; props: Readonly<Record<string, string | number>> },
): Promise<ProducerPerfResult> {
  const props = Object.entries({ 'bootstrap.servers': bootstrap, ...workload.props }).map(([name, value]) => `${name}=${value}`);
  const out = await javaTool('org.apache.kafka.tools.ProducerPerformance', [
    '--topic',
    topic,
    '--num-records',
    String(workload.records),
    '--record-size',
    String(workload.recordBytes),
    '--throughput',
    String(workload.recordsPerS),
    '--producer-props',
    ...props,
  ]);
  const summary =
    /(\d+) records sent, ([\d.]+) records\/sec \([\d.]+ MB\/sec\), ([\d.]+) ms avg latency, [\d.]+ ms max latency, (\d+) ms 50th, \d+ ms 95th, (\d+) ms 99th/.exec(
      out,
    );
  if (!summary) throw new Error(`ProducerPerformance printed no summary: ${out.slice(-500)}`);
  const recordsPerS = Number(summary[2]);
  return {
    records: Number(summary[1]),
    recordsPerS,
    mbPerS: (recordsPerS * workload.recordBytes) / 1e6,
    avgMs: Number(summary[3]),
    p50Ms: Number(summary[4]),
    p99Ms: Number(summary[5]),
  };
}

export interface ConsumerPerfResult {
  /** Over the whole run, group join included. */
  readonly mbPerS: number;
  /** Over the fetching only (the tool's fetch.MB.sec): the join and rebalance left out. */
  readonly fetchMbPerS: number;
  readonly rebalanceMs: number;
}

/** `kafka-consumer-perf-test`: a new consumer group reads `records` records from the start of `topic`. */
export async function consumerPerformance(
  bootstrap: string,
  topic: string,
  workload: { records: number; recordBytes: number; group: string },
): Promise<ConsumerPerfResult> {
  const out = await javaTool('org.apache.kafka.tools.ConsumerPerformance', [
    '--bootstrap-server',
    bootstrap,
    '--topic',
    topic,
    '--messages',
    String(workload.records),
    '--group',
    workload.group,
    '--timeout',
    '30000',
    '--hide-header',
  ]);
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const fields = out
    .trim()
    .split('\n')
    .pop()!
    .split(',')
    .map((field) => field.trim());
  if (fields.length < 10 || Number(fields[4]) < workload.records)
    throw new Error(`ConsumerPerformance did not read ${workload.records} records: ${out.slice(-500)}`);
  return {
    mbPerS: (Number(fields[5]) * workload.recordBytes) / 1e6,
    fetchMbPerS: (Number(fields[9]) * workload.recordBytes) / 1e6,
    rebalanceMs: Number(fields[6]),
  };
}

// ---- kcat (librdkafka) -------------------------------------------------------------------------------

/** librdkafka settings for bulk produce: acks=all, 20 ms linger, batches up to 1 MiB and 100,000 records. */
export const kcatBulkSettings = [
  'acks=all',
  'linger.ms=20',
  'batch.size=1048576',
  'batch.num.messages=100000',
  'queue.buffering.max.kbytes=2097151',
  'message.max.bytes=10000000',
] as const;

/**
 * `kcat -P` of a file of records, one a line (`keyed`: `key:value` lines); MB/s of payload from the
 * start of kcat to its exit.
 */
export async function kcatProduce(
  bootstrap: string,
  topic: string,
  file: { path: string; records: number; recordBytes: number; keyed?: boolean },
  settings: readonly string[],
  options: { timeoutMs?: number } = {},
): Promise<{ mbPerS: number }> {
  const started = performance.now();
  const keys = file.keyed ? ['-K', ':'] : [];
  await run('kcat', ['-P', '-b', bootstrap, '-t', topic, ...keys, ...settings.flatMap((setting) => ['-X', setting])], {
    stdinPath: file.path,
    timeoutMs: options.timeoutMs ?? 300_000,
  });
  return { mbPerS: (file.records * file.recordBytes) / 1e6 / ((performance.now() - started) / 1000) };
}

/**
 * `kcat -C -e`: reads every partition of `topic` from the beginning to its end (no group), printing
 * each record's size; MB/s of payload from the start of kcat to its exit.
 */
export async function kcatConsume(bootstrap: string, topic: string, expectedRecords: number): Promise<{ mbPerS: number }> {
  let records = 0;
  let bytes = 0;
  const started = performance.now();
  await run('kcat', ['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%S\\n'], {
    onLine: (line) => {
      records++;
      bytes += Number(line);
    },
    timeoutMs: 300_000,
  });
  const seconds = (performance.now() - started) / 1000;
  if (records !== expectedRecords) throw new Error(`kcat -C read ${records} records of ${topic}, expected ${expectedRecords}`);
  return { mbPerS: bytes / 1e6 / seconds };
}

/**
 * A kcat consumer tailing every partition of `topic` from its end, recording for each record its
 * timestamp (the producer's CreateTime) and the time from it to the line's arrival here. Resolves once the
 * consumer has received `warmUp()`'s record, i.e. is at the end and fetching.
 */
export async function kcatTail(
  bootstrap: string,
  topic: string,
  warmUp: () => Promise<void>,
): Promise<{ timestampedMs: [sentMs: number, latencyMs: number][]; stop: () => void }> {
  const timestampedMs: [number, number][] = [];
  let warmedUp: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (warmedUp = resolve));
  const child = spawn(
    'kcat',
    [
      '-C',
      '-b',
      bootstrap,
      '-t',
      topic,
      '-o',
      'end',
      '-u',
      '-q',
      '-f',
      '%T\\n',
      '-X',
      'fetch.wait.max.ms=5000',
      '-X',
      'fetch.error.backoff.ms=10',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const sentMs = Number(line.trim());
    if (!Number.isFinite(sentMs) || sentMs <= 0) return;
    if (sentMs === 1) warmedUp();
    else timestampedMs.push([sentMs, Date.now() - sentMs]);
  });
  await new Promise((resolve) => setTimeout(resolve, 1000)); // kcat has learned the partitions' ends
  const deadline = Date.now() + 30_000;
  const probe = (async () => {
    while (Date.now() < deadline) {
      await warmUp();
      const seen = await Promise.race([ready.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000))]);
      if (seen) return;
    }
    throw new Error(`kcat tailing ${topic} saw no warm-up record within 30 s`);
  })();
  await probe.catch((error) => {
    child.kill();
    throw error;
  });
  return { timestampedMs, stop: () => child.kill() };
}

// ---- workloads on both systems -------------------------------------------------------------------------

/** Creates the topics with one kafkajs admin call (CreateTopics), on Kafka and Spool alike. */
export async function createTopics(
  bootstrap: string,
  names: readonly string[],
  partitions: number,
  configs: Readonly<Record<string, string>> = {},
): Promise<void> {
  const configEntries = Object.entries(configs).map(([name, value]) => ({ name, value }));
  const admin = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING, clientId: 'bench-admin' }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: names.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1, configEntries })),
      waitForLeaders: true,
      timeout: 120_000,
    });
  } finally {
    await admin.disconnect();
  }
}

export interface LatencyResult {
  readonly records: number;
  /** LatencyProducer's due time → acknowledgement. */
  readonly produceP50Ms: number;
  readonly produceP99Ms: number;
  /** Record timestamp (its due time) → printed by a kcat consumer tailing every partition. */
  readonly endToEndP50Ms: number;
  readonly endToEndP99Ms: number;
}

export interface PacedWorkload {
  /** 0: bulk, `records` as fast as they go. */
  readonly recordsPerS: number;
  /** With recordsPerS 0. */
  readonly records?: number;
  readonly warmUpSeconds: number;
  readonly seconds: number;
  readonly recordBytes: number;
  /** A distinct key per record (16 bytes of the record), else none. @default false */
  readonly keyed?: boolean;
  /** Producer settings beyond acks=all, linger.ms=0. */
  readonly props?: Readonly<Record<string, string | number>>;
}

/**
 * spool.bench.LatencyProducer: a Java producer (kafka-clients 3.9.1) sending at a steady rate, a
 * warm-up then a measured window; due time → ack percentiles of the measured records.
 */
export async function pacedProduce(
  bootstrap: string,
  topic: string,
  workload: PacedWorkload,
): Promise<{ records: number; p50Ms: number; p99Ms: number; measuringFromMs: number; elapsedMs: number }> {
  let measuringFromMs = Infinity;
  let result = '';
  const args = [
    '--bootstrap',
    bootstrap,
    '--topic',
    topic,
    '--rate',
    workload.recordsPerS,
    '--warmup-seconds',
    workload.warmUpSeconds,
    '--seconds',
    workload.seconds,
    '--records',
    workload.records ?? 0,
    '--record-bytes',
    workload.recordBytes,
    '--keyed',
    workload.keyed ?? false,
  ];
  for (const [name, value] of Object.entries(workload.props ?? {})) args.push('--prop', `${name}=${value}`);
  await javaTool('spool.bench.LatencyProducer', args.map(String), {
    onLine: (line) => {
      if (line.startsWith('measuring ')) measuringFromMs = Number(line.slice('measuring '.length));
      else if (line.startsWith('result ')) result = line;
    },
  });
  const fields = Object.fromEntries(
    result
      .slice('result '.length)
      .split(' ')
      .map((pair) => pair.split('=') as [string, string]),
  );
  return {
    records: Number(fields.records),
    p50Ms: Number(fields.p50),
    p99Ms: Number(fields.p99),
    measuringFromMs,
    elapsedMs: Number(fields.elapsedMs),
  };
}

/**
 * spool.bench.LatencyProducer in bulk: `records` records as fast as the Java producer takes them
 * (one ProduceRequest carries every partition's ready batch, unlike librdkafka's one partition per
 * request); MB/s from the first send to the last acknowledgement.
 */
export async function javaBulkProduce(
  bootstrap: string,
  topic: string,
  workload: { records: number; recordBytes: number; keyed?: boolean; props?: Readonly<Record<string, string | number>> },
): Promise<{ mbPerS: number }> {
  const done = await pacedProduce(bootstrap, topic, { ...workload, recordsPerS: 0, warmUpSeconds: 0, seconds: 0 });
  return { mbPerS: (done.records * workload.recordBytes) / 1e6 / (done.elapsedMs / 1000) };
}

/**
 * Produce and end-to-end latency at a steady rate: spool.bench.LatencyProducer (kafka-clients 3.9.1,
 * acks=all, linger.ms=0, idempotent) sends `recordsPerS` records of `recordBytes` for `warmUpSeconds`
 * unmeasured, then `seconds` measured, to an existing topic while a kcat consumer tails it.
 */
export async function pacedLatency(bootstrap: string, topic: string, workload: PacedWorkload): Promise<LatencyResult> {
  const producer = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING, clientId: 'bench-warm-up' }).producer();
  await producer.connect();
  const warmUp = () => producer.send({ topic, acks: -1, messages: [{ value: 'warm-up', timestamp: '1' }] }).then(() => undefined);
  const tail = await kcatTail(bootstrap, topic, warmUp).finally(() => producer.disconnect());
  try {
    const produced = await pacedProduce(bootstrap, topic, workload);
    const records = produced.records;
    const measuringFromMs = produced.measuringFromMs;
    const measured = () => tail.timestampedMs.filter(([sentMs]) => sentMs >= measuringFromMs).map(([, latencyMs]) => latencyMs);
    const deadline = Date.now() + 10_000; // the tail catches the last records
    while (measured().length < records && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const endToEnd = measured();
    if (endToEnd.length < records) throw new Error(`the tailing consumer saw ${endToEnd.length} of ${records} records`);
    return {
      records,
      produceP50Ms: produced.p50Ms,
      produceP99Ms: produced.p99Ms,
      endToEndP50Ms: percentile(endToEnd, 50),
      endToEndP99Ms: percentile(endToEnd, 99),
    };
  } finally {
    tail.stop();
  }
}
