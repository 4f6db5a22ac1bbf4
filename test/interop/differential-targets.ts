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
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePortPair, run } from '../../bench/support/kafka-tools.js';
import { buildDir, interopDir, startTarget } from './support.js';

const cliDir = join(interopDir, 'kafka-cli');
const cliPom = join(cliDir, 'pom.xml');
const cliBuild = join(buildDir, 'kafka-cli');

/** The 4.x release: the tools' version (kafka-cli/pom.xml), and the second Kafka broker's. */
export const kafka4Version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(cliPom, 'utf8'))![1]!;
export const kafka3Version = '3.9.1';

export type TargetName = 'spool' | `kafka-${string}`;

export interface ToolResult {
  readonly exit: number;
  readonly stdout: string;
  readonly stderr: string;
}

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
  /** Resolves once `count` lines are out (rejects after `timeoutMs`). */
  waitForLines(count: number, timeoutMs: number): Promise<void>;
  /** Resolves with the result once the tool exits (kills it after `timeoutMs`). */
  finished(timeoutMs: number): Promise<ToolResult>;
}

let classpath: string | undefined;

/** The tools' classpath and ToolRunner's classes, built by Maven on first use (and when the pom or the runner changes). */
export function kafkaCliClasspath(): string {
  if (classpath !== undefined) return classpath;
  const cache = join(cliBuild, 'classpath.txt');
  const sources = [cliPom, join(cliDir, 'src', 'main', 'java', 'spool', 'interop', 'ToolRunner.java')];
  if (!existsSync(cache) || sources.some((source) => statSync(source).mtimeMs > statSync(cache).mtimeMs)) {
    mkdirSync(cliBuild, { recursive: true });
    const mvn = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', '-f', cliPom, 'package'], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (mvn.status !== 0) throw new Error(`mvn could not build ${cliPom} (exit ${mvn.status}); run test/interop/setup.sh`);
    const now = new Date();
    utimesSync(cache, now, now);
  }
  classpath = `${join(cliBuild, 'classes')}:${readFileSync(cache, 'utf8').trim()}`;
  return classpath;
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

const toolTimeoutMs = 90_000;

/** One ToolRunner JVM; requests run one at a time, in the order made. */
class ToolRunner {
  private readonly child: ChildProcess;
  private readonly answers: ((line: string) => void)[] = [];
  private readonly ready: Promise<void>;
  private queue: Promise<unknown> = Promise.resolve();
  /** Set once the JVM is gone or a tool overran (the JVM was killed): a new ToolRunner takes over. */
  failed: Error | undefined;
  private stderr = '';

  constructor(name: TargetName) {
    this.child = spawn('java', [...javaOptions(name), 'spool.interop.ToolRunner'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (data) => (this.stderr = (this.stderr + data).slice(-4000)));
    let markReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (markReady = resolve));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (line === 'ready') markReady();
      else this.answers.shift()?.(line);
    });
    this.child.once('exit', (code, signal) => {
      this.failed ??= new Error(`the ToolRunner JVM exited (${code ?? signal}): ${this.stderr}`);
      for (const answer of this.answers.splice(0)) answer('');
    });
  }

  run(mainClass: string, args: readonly string[], stdin: string): Promise<ToolResult> {
    const next = this.queue.then(() => this.request(mainClass, args, stdin));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async request(mainClass: string, args: readonly string[], stdin: string): Promise<ToolResult> {
    await this.ready;
    if (this.failed) throw this.failed;
    const encode = (text: string) => Buffer.from(text, 'utf8').toString('base64');
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.failed = new Error(`${mainClass} ${args.join(' ')} ran past ${toolTimeoutMs} ms; the ToolRunner JVM was killed`);
        this.child.kill('SIGKILL');
        reject(this.failed);
      }, toolTimeoutMs);
      this.answers.push((answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.child.stdin!.write(`${[mainClass, stdin, ...args].map(encode).join('\t')}\n`);
    });
    const match = /^done (-?\d+) (\S*) (\S*)$/.exec(line);
    if (!match) throw this.failed ?? new Error(`ToolRunner answered ${JSON.stringify(line.slice(0, 200))}`);
    const decode = (field: string) => Buffer.from(field, 'base64').toString('utf8');
    return { exit: Number(match[1]), stdout: decode(match[2]!), stderr: decode(match[3]!) };
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    if (this.child.exitCode === null && this.child.signalCode === null) await exited;
    clearTimeout(timer);
  }
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
    waitForLines: (count, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (lines.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${mainClass} printed ${lines.length} of ${count} lines in ${timeoutMs} ms: ${stderr.slice(-800)}`));
        }, timeoutMs);
        waiters.add(check);
        void exited.then(() => {
          if (lines.length >= count) return;
          clearTimeout(timer);
          waiters.delete(check);
          reject(new Error(`${mainClass} exited after ${lines.length} of ${count} lines: ${stderr.slice(-800)}`));
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
  const server = name === 'spool' ? await startTarget({ INTEROP_TARGET: 'spool' }) : await startKafka(name.slice('kafka-'.length));
  let runner = new ToolRunner(name);
  return {
    name,
    bootstrap: server.bootstrap,
    scratch,
    tool: (mainClass, args, stdin = '') => {
      if (runner.failed) runner = new ToolRunner(name); // a tool that overran does not take the rest of the steps with it
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
  const out = await run('bash', [brokerScript, 'start', ...where, '--version', version], { timeoutMs: 180_000 });
  return {
    bootstrap: out.trim().split('\n').pop()!,
    close: async () => {
      await run('bash', [brokerScript, 'stop', ...where], { timeoutMs: 60_000 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
