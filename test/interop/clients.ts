/**
 * The Kafka clients of the interop suite behind one interface, each driven as a separate process so
 * that what talks to the server is the real client stack. kafkajs, Java and sarama run a program of
 * ours (kafkajs/client.ts, java/, go/) that prints JSON lines on stdout:
 *
 *   {"event":"topic","topic":T,"partitions":N}                         create-topic: done
 *   {"event":"ack","key":K,"value":V,"partition":P,"offset":O}          produce: one per acknowledged record
 *   {"event":"assigned","member":M,"partitions":[P, ...]}               member: its whole assignment after a rebalance
 *   {"event":"record","member":M,"partition":P,"offset":O,"key":K,"value":V}   member: one per record consumed
 *       (Java's `consume` adds "timestamp":MS and "timestampType":"CreateTime"|"LogAppendTime")
 *   {"event":"offset-for-time","timestamp":T,"partition":P,"offset":O|null,"recordTimestamp":MS|null}
 *                                                                       Java's offsets-for-times: offsetsForTimes' answer
 *   {"event":"offset-for-time-error","timestamp":T,"message":S}         Java's offsets-for-times: the call threw
 *   {"event":"error","member":M,"message":S}                            member: an error the client survived
 *   {"event":"closed","member":M}                                       member: committed, left the group
 *
 * Producers read `key:value` lines on stdin (kcat's `-K:` input). A member runs until its stdin is
 * closed. kcat is kcat itself: its consumer's JSON envelope (-J) and its stderr notes about
 * rebalances and deliveries are mapped onto the same events here.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { buildDir, repoRoot } from './support.js';

export interface KeyedValue {
  readonly key: string;
  readonly value: string;
}

/** A record the server acknowledged, where it says it stored it. */
export interface Ack extends KeyedValue {
  readonly partition: number;
  readonly offset: number;
}

export interface ConsumedRecord {
  readonly member: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: string | null;
}

export interface GroupMember {
  readonly name: string;
  /** Records in the order this member received them. */
  readonly records: readonly ConsumedRecord[];
  /** The partitions it owns since its last rebalance; undefined before it first joined. */
  readonly assignment: readonly number[] | undefined;
  /** Errors the client reported and carried on after. */
  readonly errors: readonly string[];
  /** Asks it to stop (commit, leave the group) and waits for a clean exit. */
  stop(): Promise<void>;
  /** What it has done so far, for failure messages. */
  describe(): string;
}

export interface InteropClient {
  readonly name: string;
  /** Throws, saying what to run, when the client or its program is not installed or built. */
  assertInstalled(): void;
  createTopic(bootstrap: string, topic: string, partitions: number): Promise<void>;
  /** Produces the records in order and returns the acknowledgements (in any order). */
  produce(bootstrap: string, topic: string, records: readonly KeyedValue[]): Promise<Ack[]>;
  startMember(bootstrap: string, topic: string, group: string, member: string): GroupMember;
}

/** A member's own deadline: it gives up (non-zero exit) if the suite never stops it. */
const memberTimeoutMs = 180_000;
/** How long a step (create, produce) or a member's shutdown may take. */
const stepTimeoutMs = 120_000;
const stopTimeoutMs = 60_000;
const setupHint = 'run test/interop/setup.sh first';

const children = new Set<ChildProcess>();

/** Kills whatever client process is still running (after a failed test). */
export function killClients(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

function launch(command: readonly string[]): ChildProcess {
  const [file, ...args] = command;
  const child = spawn(file!, args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function tail(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

interface Finished {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion with `input` on stdin; rejects on a non-zero exit or a timeout. */
export function runToEnd(command: readonly string[], input: string, what: string): Promise<Finished> {
  const child = launch(command);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin!.on('error', () => {}); // a program that exits early closes its stdin: its exit code says why
  child.stdin!.end(input);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not finish within ${stepTimeoutMs} ms; stderr:\n${tail(stderr)}`));
    }, stepTimeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${what}: could not run ${command[0]} (${error.message}); ${setupHint}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${what} exited with ${signal ?? code}; stderr:\n${tail(stderr)}\nstdout:\n${tail(stdout, 5)}`));
    });
  });
}

export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function toAck(event: Record<string, unknown>): Ack {
  return {
    key: String(event.key),
    value: String(event.value),
    partition: Number(event.partition),
    offset: Number(event.offset),
  };
}

const inputOf = (records: readonly KeyedValue[]) => records.map(({ key, value }) => `${key}:${value}\n`).join('');

/** A member process whose output lines are mapped to events by `onStdout` / `onStderr`. */
class MemberProcess implements GroupMember {
  readonly records: ConsumedRecord[] = [];
  readonly errors: string[] = [];
  assignment: number[] | undefined;
  private stderr = '';
  private closed = false;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    private readonly options: {
      /** How to ask it to stop: close stdin (our programs) or SIGTERM (kcat). */
      readonly stopBy: 'stdin' | 'SIGTERM';
      readonly onStdout: (line: string, member: MemberProcess) => void;
      readonly onStderr?: (line: string, member: MemberProcess) => void;
    },
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.once('error', (error) => this.errors.push(`could not run the member: ${error.message}; ${setupHint}`));
    child.stdin!.on('error', () => {});
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        options.onStdout(line, this);
      } catch (error) {
        this.errors.push(`unparsable output line ${JSON.stringify(line)}: ${String(error)}`);
      }
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.stderr += `${line}\n`;
      options.onStderr?.(line, this);
    });
  }

  /** Applies one JSON event of our programs' schema. */
  apply(event: Record<string, unknown>): void {
    switch (event.event) {
      case 'record':
        this.records.push({
          member: this.name,
          partition: Number(event.partition),
          offset: Number(event.offset),
          key: event.key === null ? null : String(event.key),
          value: event.value === null ? null : String(event.value),
        });
        break;
      case 'assigned':
        this.assignment = (event.partitions as number[]).map(Number).sort((a, b) => a - b);
        break;
      case 'error':
        this.errors.push(String(event.message));
        break;
      case 'closed':
        this.closed = true;
        break;
    }
  }

  async stop(): Promise<void> {
    if (this.options.stopBy === 'stdin') this.child.stdin!.end();
    else this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), stopTimeoutMs)));
    const result = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.child.kill('SIGKILL');
      throw new Error(`member ${this.name} did not stop within ${stopTimeoutMs} ms: ${this.describe()}`);
    }
    if (result.code !== 0) throw new Error(`member ${this.name} exited with ${result.signal ?? result.code}: ${this.describe()}`);
    if (this.options.stopBy === 'SIGTERM') this.closed = true;
    if (!this.closed) throw new Error(`member ${this.name} exited without saying it closed: ${this.describe()}`);
  }

  describe(): string {
    return [
      `${this.records.length} records, assignment ${JSON.stringify(this.assignment)}`,
      this.errors.length ? `errors: ${this.errors.join('; ')}` : '',
      `stderr:\n${tail(this.stderr)}`,
    ]
      .filter(Boolean)
      .join('\n');
  }
}

/** A client run through one of our programs, all sharing the command-line contract above. */
function programClient(name: string, command: () => string[], assertInstalled: () => void): InteropClient {
  return {
    name,
    assertInstalled,
    async createTopic(bootstrap, topic, partitions) {
      const args = ['create-topic', '--bootstrap', bootstrap, '--topic', topic, '--partitions', String(partitions)];
      const { stdout } = await runToEnd([...command(), ...args], '', `${name} create-topic`);
      if (!jsonLines(stdout).some((event) => event.event === 'topic'))
        throw new Error(`${name} create-topic printed no topic event: ${stdout}`);
    },
    async produce(bootstrap, topic, records) {
      const args = ['produce', '--bootstrap', bootstrap, '--topic', topic];
      const { stdout } = await runToEnd([...command(), ...args], inputOf(records), `${name} produce`);
      return jsonLines(stdout)
        .filter((event) => event.event === 'ack')
        .map(toAck);
    },
    startMember(bootstrap, topic, group, member) {
      const args = [
        'member',
        '--bootstrap',
        bootstrap,
        '--topic',
        topic,
        '--group',
        group,
        '--member',
        member,
        '--timeout-ms',
        String(memberTimeoutMs),
      ];
      return new MemberProcess(member, launch([...command(), ...args]), {
        stopBy: 'stdin',
        onStdout: (line, self) => self.apply(JSON.parse(line) as Record<string, unknown>),
      });
    },
  };
}

function assertCommand(command: string, args: string[], missing: string): void {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 30_000 });
  } catch {
    throw new Error(`${missing}; ${setupHint}`);
  }
}

function assertBuilt(path: string, what: string): void {
  if (!existsSync(path)) throw new Error(`${what} is not built (no ${path}); ${setupHint}`);
}

const kafkajsProgram = [process.execPath, '--import', 'tsx', join(repoRoot, 'test/interop/kafkajs/client.ts')];

export const kafkajs: InteropClient = programClient(
  'kafkajs',
  () => kafkajsProgram,
  () => assertBuilt(join(repoRoot, 'node_modules/kafkajs/package.json'), 'kafkajs (npm ci)'),
);

const javaBuild = join(buildDir, 'java');

/**
 * The command line of the Java client program (java/), before its command and flags; `build`: java4/
 * for kafka-clients 4.x; `mainClass`: another program of the module.
 */
export function javaProgram(build = javaBuild, mainClass = 'spool.interop.JavaInterop'): string[] {
  return [
    'java',
    // A short-lived JVM: skip the optimising compiler, start faster.
    '-XX:TieredStopAtLevel=1',
    '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
    '-cp',
    `${join(build, 'classes')}:${readFileSync(join(build, 'classpath.txt'), 'utf8').trim()}`,
    mainClass,
  ];
}

export const java: InteropClient = programClient('java', javaProgram, () => {
  assertCommand('java', ['-version'], 'java is not installed');
  assertBuilt(join(javaBuild, 'classpath.txt'), 'the Java client program (mvn -f test/interop/java/pom.xml package)');
});

const java4Build = join(buildDir, 'java4');

/** The same Java program built against kafka-clients 4.x (`mvn -P kafka4`), classic group protocol. */
export const java4: InteropClient = programClient(
  'java4',
  () => javaProgram(java4Build),
  () => {
    assertCommand('java', ['-version'], 'java is not installed');
    assertBuilt(
      join(java4Build, 'classpath.txt'),
      'the Java client program on kafka-clients 4.x (mvn -f test/interop/java/pom.xml -P kafka4 package)',
    );
  },
);

const saramaProgram = join(buildDir, 'sarama-interop');

export const sarama: InteropClient = programClient(
  'sarama',
  () => [saramaProgram],
  () => assertBuilt(saramaProgram, 'the sarama client program (go build in test/interop/go)'),
);

/**
 * kcat (librdkafka) has no admin API, so its topics are created with kafkajs. Its producer prints
 * no keys with its delivery reports (`-vv`: "Message delivered to partition P (offset O)"), so the
 * acknowledged positions are joined with a read-back of the topic to learn which record is where.
 */
export const kcat: InteropClient = {
  name: 'kcat',
  assertInstalled: () => assertCommand('kcat', ['-V'], 'kcat is not installed (apt-get install kcat)'),
  createTopic: (bootstrap, topic, partitions) => kafkajs.createTopic(bootstrap, topic, partitions),
  async produce(bootstrap, topic, records) {
    const produced = await runToEnd(
      [
        'kcat',
        '-P',
        '-b',
        bootstrap,
        '-t',
        topic,
        '-K:',
        '-z',
        'gzip',
        '-X',
        'partitioner=murmur2_random',
        '-X',
        'client.id=interop-kcat',
        '-vv',
      ],
      inputOf(records),
      'kcat -P',
    );
    const delivered = new Set<string>();
    for (const match of produced.stderr.matchAll(/Message delivered to partition (\d+) \(offset (\d+)\)/g)) {
      delivered.add(`${match[1]}/${match[2]}`);
    }
    const failed = /ERROR[^\n]*/.exec(produced.stderr);
    if (failed) throw new Error(`kcat -P reported ${failed[0]}`);
    const readBack = await runToEnd(
      ['kcat', '-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-e', '-J', '-q', '-X', 'client.id=interop-kcat'],
      '',
      'kcat -C (read back)',
    );
    const acks = jsonLines(readBack.stdout)
      .map((event) => toAck({ ...event, value: event.payload }))
      .filter((ack) => delivered.delete(`${ack.partition}/${ack.offset}`));
    if (delivered.size > 0) throw new Error(`kcat -P was acknowledged at ${[...delivered].join(', ')}, where a read-back finds nothing`);
    return acks;
  },
  startMember(bootstrap, topic, group, member) {
    const child = launch([
      'kcat',
      '-b',
      bootstrap,
      '-G',
      group,
      '-X',
      'auto.offset.reset=earliest',
      '-X',
      `client.id=interop-kcat-${member}`,
      '-J',
      '-u',
      topic,
    ]);
    return new MemberProcess(member, child, {
      stopBy: 'SIGTERM',
      onStdout: (line, self) => {
        const envelope = JSON.parse(line) as Record<string, unknown>;
        self.apply({ ...envelope, event: 'record', value: envelope.payload });
      },
      // "% Group G rebalanced (memberid M): assigned: T [0], T [1]" (or "revoked: ...")
      onStderr: (line, self) => {
        const rebalance = /rebalanced \(memberid [^)]*\): (assigned|revoked): ?(.*)$/.exec(line);
        if (rebalance) {
          const partitions = [...rebalance[2]!.matchAll(/\[(\d+)\]/g)].map((match) => Number(match[1]));
          self.apply({ event: 'assigned', partitions: rebalance[1] === 'assigned' ? partitions : [] });
        } else if (/ERROR/.test(line)) {
          self.apply({ event: 'error', message: line });
        }
      },
    });
  },
};
