/**
 * Apache Kafka's command-line tools run as their shell scripts would run them (`kafka-run-class.sh
 * CLASS ARGS`), but one after another in one JVM: kafka-cli/'s spool.interop.ToolRunner, which
 * redirects Kafka's Exit so that a tool's exit ends its main, not the JVM. A tool run answers its
 * exit status, stdout and stderr.
 *
 * - `ToolRunner`: one such JVM on a given classpath (differential-targets.ts runs the 4.x tools of
 *   kafka-cli/ in one per server);
 * - `useKafkaTools`: the Kafka 3.9.1 tools (bench/kafka-tools/, the interop suite's) against one
 *   server, for a test file, closed after its tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll } from 'vitest';
import { kafkaToolsClasspath, mavenClasspath } from '../../bench/support/kafka-tools.js';
import { buildDir, interopDir } from './support.js';

export interface ToolResult {
  readonly exit: number;
  readonly stdout: string;
  readonly stderr: string;
}

const cliDir = join(interopDir, 'kafka-cli');
export const kafkaCliPom = join(cliDir, 'pom.xml');
const cliBuild = join(buildDir, 'kafka-cli');

/** kafka-cli/'s tools (kafka-tools 4.x) and ToolRunner's classes, built by Maven on first use (and when the pom or the runner changes). */
export function kafkaCliClasspath(): string {
  return mavenClasspath(kafkaCliPom, cliBuild, [join(cliDir, 'src', 'main', 'java', 'spool', 'interop', 'ToolRunner.java')]);
}

/** ToolRunner's own classes (no Kafka in them), to run beside any Kafka release's tools. */
function toolRunnerClasses(): string {
  kafkaCliClasspath();
  return join(cliBuild, 'classes');
}

const toolTimeoutMs = 90_000;

/** One ToolRunner JVM; requests run one at a time, in the order made. */
export class ToolRunner {
  private readonly child: ChildProcess;
  private readonly answers: ((line: string) => void)[] = [];
  private readonly ready: Promise<void>;
  private queue: Promise<unknown> = Promise.resolve();
  /** Set once the JVM is gone or a tool overran (the JVM was killed): a new ToolRunner takes over. */
  failed: Error | undefined;
  private stderr = '';

  /** `javaOptions`: the JVM's options, `-cp` with ToolRunner's classes and the tools' among them. */
  constructor(javaOptions: readonly string[]) {
    this.child = spawn('java', [...javaOptions, 'spool.interop.ToolRunner'], { stdio: ['pipe', 'pipe', 'pipe'] });
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

  run(mainClass: string, args: readonly string[], stdin = ''): Promise<ToolResult> {
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

export interface KafkaTools {
  /** Runs a tool's main class with `--bootstrap-server` first, as its script would; its result, whatever its exit status. */
  result(mainClass: string, args: readonly string[]): Promise<ToolResult>;
  /** The same, for a run that must succeed: its stdout; rejects with its output when it exits with another status than 0. */
  stdout(mainClass: string, args: readonly string[]): Promise<string>;
}

export interface KafkaToolsOptions {
  /** Classpath entries after the tools' (kafka.admin.ConfigCommand is in the 3.9 broker's jar). */
  readonly extraClasspath?: string;
}

/**
 * Kafka 3.9.1's tools (bench/kafka-tools/, built by test/interop/setup.sh or on first use) against
 * `bootstrap`, in one ToolRunner JVM started on the first run and closed after the file's tests.
 */
export function useKafkaTools(bootstrap: string, options: KafkaToolsOptions = {}): KafkaTools {
  let runner: ToolRunner | undefined;
  afterAll(() => runner?.close());
  const result = (mainClass: string, args: readonly string[]) => {
    if (!runner || runner.failed) {
      const classpath = [toolRunnerClasses(), kafkaToolsClasspath(), ...(options.extraClasspath ? [options.extraClasspath] : [])];
      runner = new ToolRunner(['-Xmx512m', '-Dlog4j.configuration=file:/dev/null', '-cp', classpath.join(':')]);
    }
    return runner.run(mainClass, ['--bootstrap-server', bootstrap, ...args]);
  };
  return {
    result,
    stdout: async (mainClass, args) => {
      const done = await result(mainClass, args);
      if (done.exit !== 0)
        throw new Error(
          `${mainClass.split('.').pop()} ${args.join(' ')} exited with ${done.exit}; stderr:\n${done.stderr}\nstdout:\n${done.stdout}`,
        );
      return done.stdout;
    },
  };
}
