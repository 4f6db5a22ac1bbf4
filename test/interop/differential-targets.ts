/**
 * The three servers differential.test.ts compares, and the Kafka command-line tools it drives them
 * with:
 *
 * - a Spool agent in this process (embedded stores in a temporary directory, as the rest of the
 *   interop suite runs it);
 * - Apache Kafka 3.9.1 and Apache Kafka `kafka4Version` (KRaft, one node each), started by
 *   kafka-broker.sh on free ports in temporary directories;
 * - one ToolRunner JVM per server (kafka-cli/: kafka-tools `kafka4Version`, the same tools against all
 *   three, so that any difference is the server's), running the tools' mains one after another.
 *
 * A tool run answers its exit status, stdout and stderr, as the shell scripts would print them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePortPair, run } from '../../bench/support/kafka-tools.js';
import { buildDir, interopDir, startTarget } from './support.js';
import { kafkaCliClasspath, kafkaCliPom, ToolRunner, type ToolResult } from './tool-runner.js';

/** What a tool run answers (tool-runner.ts). */
export type { ToolResult };

/** The 4.x release: the tools' version (kafka-cli/pom.xml), and the second Kafka broker's. */
export const kafka4Version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(kafkaCliPom, 'utf8'))![1]!;
export const kafka3Version = '3.9.1';

/**
 * Every server runs with a 2 s producer.id.expiration.ms (Kafka's is checked every 0.5 s here), so
 * the producer-expiry client programs can idle past it; the rest of the run never idles a producer
 * that long between batches it expects to be deduplicated.
 */
export const producerIdExpirationMs = 2000;
/**
 * Kafka 4.x keeps share groups' state in __share_group_state, which wants 3 replicas by default:
 * on one broker share groups never start without these (Kafka 3.9 ignores them).
 */
const kafkaSettings = [
  `producer.id.expiration.ms=${producerIdExpirationMs}`,
  'producer.id.expiration.check.interval.ms=500',
  'share.coordinator.state.topic.replication.factor=1',
  'share.coordinator.state.topic.min.isr=1',
];

export type TargetName = 'spool' | `kafka-${string}`;

/** A server under test and a tool runner pointed at it. */
export interface Session {
  readonly name: TargetName;
  readonly bootstrap: string;
  /** A scratch directory for files the tools read (delete-records' offset JSON). */
  readonly scratch: string;
  /** Runs a tool's main class with `--bootstrap-server` first, as its script would. */
  tool(mainClass: string, args: readonly string[], stdin?: string): Promise<ToolResult>;
  /** A tool in a JVM of its own, running beside the others (a consumer that stays in its group). */
  background(mainClass: string, args: readonly string[]): Background;
  close(): Promise<void>;
}

export interface Background {
  /** Lines printed on stdout so far. */
  readonly lines: readonly string[];
  /**
   * Resolves once `count` lines matching `matching` are out (rejects after `timeoutMs`): a tool may print
   * other lines too (Kafka 4.x's tools warn of deprecated options on stdout).
   */
  waitForLines(count: number, timeoutMs: number, matching: RegExp): Promise<void>;
  /** Resolves with the result once the tool exits (kills it after `timeoutMs`). */
  finished(timeoutMs: number): Promise<ToolResult>;
}

/** JVM options of every tool run: small heap, the tools' own logging (warnings) into a file per server. */
function javaOptions(name: TargetName): string[] {
  mkdirSync(join(buildDir, 'logs'), { recursive: true });
  return [
    '-Xms64m',
    '-Xmx512m',
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    `-Dorg.slf4j.simpleLogger.logFile=${join(buildDir, 'logs', `differential-${name}.log`)}`,
    '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
    '-cp',
    kafkaCliClasspath(),
  ];
}

/** Background tools still running, killed when their session closes. */
const running = new Set<ChildProcess>();

function background(name: TargetName, mainClass: string, args: readonly string[]): Background {
  const child = spawn('java', [...javaOptions(name), mainClass, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const lines: string[] = [];
  let stderr = '';
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const waiter of waiters) waiter();
  });
  child.stderr!.on('data', (data) => (stderr += data));
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  return {
    lines,
    waitForLines: (count, timeoutMs, matching) =>
      new Promise<void>((resolve, reject) => {
        const matched = () => lines.filter((line) => matching.test(line)).length;
        const check = () => {
          if (matched() < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${mainClass} printed ${matched()} of ${count} lines in ${timeoutMs} ms: ${stderr.slice(-800)}`));
        }, timeoutMs);
        waiters.add(check);
        void exited.then(() => {
          if (matched() >= count) return;
          clearTimeout(timer);
          waiters.delete(check);
          reject(new Error(`${mainClass} exited after ${matched()} of ${count} lines: ${stderr.slice(-800)}`));
        });
        check();
      }),
    finished: async (timeoutMs) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const exit = await exited;
      clearTimeout(timer);
      return { exit, stdout: lines.map((line) => `${line}\n`).join(''), stderr };
    },
  };
}

/** Starts a server (`spool`, or `kafka-<version>`) and a ToolRunner for it. */
export async function startSession(name: TargetName): Promise<Session> {
  const scratch = await mkdtemp(join(tmpdir(), `spool-differential-${name}-`));
  const server =
    name === 'spool'
      ? await startTarget({ INTEROP_TARGET: 'spool' }, { SPOOL_PRODUCER_ID_EXPIRATION_MS: String(producerIdExpirationMs) })
      : await startKafka(name.slice('kafka-'.length));
  let runner = new ToolRunner(javaOptions(name));
  return {
    name,
    bootstrap: server.bootstrap,
    scratch,
    tool: (mainClass, args, stdin = '') => {
      if (runner.failed) runner = new ToolRunner(javaOptions(name)); // a tool that overran does not take the rest of the steps with it
      return runner.run(mainClass, ['--bootstrap-server', server.bootstrap, ...args], stdin);
    },
    background: (mainClass, args) => background(name, mainClass, ['--bootstrap-server', server.bootstrap, ...args]),
    close: async () => {
      for (const child of running) child.kill('SIGKILL');
      await runner.close();
      await server.close();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

const brokerScript = join(interopDir, 'kafka-broker.sh');

async function startKafka(version: string): Promise<{ bootstrap: string; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `spool-differential-kafka-${version}-`));
  const port = await freePortPair();
  const where = ['--dir', dir, '--port', String(port)];
  const settings = kafkaSettings.flatMap((setting) => ['--set', setting]);
  const out = await run('bash', [brokerScript, 'start', ...where, '--version', version, ...settings], { timeoutMs: 180_000 });
  return {
    bootstrap: out.trim().split('\n').pop()!,
    close: async () => {
      await run('bash', [brokerScript, 'stop', ...where], { timeoutMs: 60_000 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
