/**
 * Differential conformance: the Kafka quickstart with Apache Kafka's own command-line tools
 * (differential-scenario.ts), run step by step against a Spool agent, Apache Kafka 3.9.1 and Apache
 * Kafka 4.x, each started here; each step's normalised exit status, stdout and stderr on Spool must
 * equal Kafka's, for each Kafka, unless intended-differences.ts lists the difference with its
 * reason. The three servers run each step at the same time; steps run in order. Then the
 * quickstart's produce, consume and group part with two Python clients (confluent-kafka and
 * kafka-python), and admin steps with franz-go, sarama and kafkajs, against the same servers: each
 * program's steps on Spool must equal each Kafka's, unless intended-differences.ts lists the
 * difference too (a row with `client`).
 *
 * After the run, .build/differential-report.md holds every step's normalised results side by side
 * (Kafka 3.9.1 against 4.x too).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  kafka3Version,
  kafka4Version,
  producerIdExpirationMs,
  type Session,
  startSession,
  type TargetName,
  type ToolResult,
} from './differential-targets.js';
import { kip848Steps, normalise, shareSteps, steps } from './differential-scenario.js';
import { canonical, clientRows, expectedClientResults, expectedToolResult, rowName, toolStepRows } from './difference-rows.js';
import { intendedDifferences } from './intended-differences.js';
import { javaProgram } from './clients.js';
import { buildDir, interopDir } from './support.js';
import { kafkaCliClasspath } from './tool-runner.js';

const kafkas = [kafka3Version, kafka4Version] as const;
const targets: readonly TargetName[] = ['spool', ...kafkas.map((version) => `kafka-${version}` as const)];

const sessions = new Map<TargetName, Session>();
const results = new Map<string, Map<TargetName, ToolResult>>();
/** Each client program's step results (JSON text) per server: the Python clients and the admin clients. */
const clientResults = new Map<string, Map<TargetName, Map<string, string>>>();

beforeAll(async () => {
  kafkaCliClasspath(); // built by setup.sh; here on first use otherwise
  const started = await Promise.allSettled(targets.map(async (name) => sessions.set(name, await startSession(name))));
  const failed = started.find((outcome) => outcome.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}, 240_000);

afterAll(async () => {
  await Promise.allSettled([...sessions.values()].map((session) => session.close()));
  writeReport();
}, 120_000);

async function runStep(step: (typeof steps)[number], name: TargetName): Promise<ToolResult> {
  const session = sessions.get(name);
  if (!session) throw new Error(`${name} did not start`);
  try {
    return normalise(await step.run(session), step);
  } catch (error) {
    return { exit: -1, stdout: '', stderr: `the step threw: ${(error as Error).message}` };
  }
}

describe('interop > differential: Kafka CLI quickstart on Spool vs Apache Kafka', () => {
  it('every intended difference names a step of the scenario or a client program and is in the README table', () => {
    const readme = readFileSync(join(interopDir, 'README.md'), 'utf8');
    for (const row of intendedDifferences) {
      // A client program's steps are known once it has run: its test checks that Kafka's run printed the row's step.
      if (row.client === undefined)
        expect(
          [...steps, ...kip848Steps, ...shareSteps].map((step) => step.id),
          row.step,
        ).toContain(row.step);
      else expect(Object.keys(clientPrograms), rowName(row)).toContain(row.client);
      expect(readme, `README's table of intended differences lacks ${rowName(row)}`).toContain(`| \`${rowName(row)}\` |`);
    }
  });

  for (const step of steps) {
    it(`${step.id}: ${step.command}`, () => compareStep(step, kafkas));
  }
});

/**
 * Runs a step on Spool and on each of `against`, and compares: Kafka's exit status must be the
 * scenario's, and Spool's normalised result Kafka's (after the intended differences for that release).
 */
async function compareStep(step: (typeof steps)[number], against: readonly string[]): Promise<void> {
  const byTarget = new Map<TargetName, ToolResult>();
  const names: TargetName[] = ['spool', ...against.map((version) => `kafka-${version}` as const)];
  await Promise.all(names.map(async (name) => byTarget.set(name, await runStep(step, name))));
  results.set(step.id, byTarget);
  const spool = byTarget.get('spool')!;
  for (const version of against) {
    const kafka = byTarget.get(`kafka-${version}`)!;
    expect
      .soft(kafka.exit, `Kafka ${version}'s exit status (the scenario's own check): ${kafka.stdout} ${kafka.stderr}`)
      .toBe(step.kafkaExit ?? 0);
    const rows = toolStepRows(intendedDifferences, step.id, version);
    expect.soft(spool, `Spool vs Kafka ${version}`).toEqual(expectedToolResult(rows, kafka));
    if (rows.length > 0)
      expect.soft(spool, `Spool vs Kafka ${version}: the intended difference no longer occurs; remove its row`).not.toEqual(kafka);
  }
}

describe('interop > differential: KIP-848 consumers (group.protocol=consumer) with Kafka 4.x tools on Spool vs Apache Kafka 4.x', () => {
  for (const step of kip848Steps) {
    it(`${step.id}: ${step.command}`, () => compareStep(step, [kafka4Version]));
  }
});

/**
 * The client programs: each prints its steps' results as JSON lines ({"step", "result"}), in an
 * order that does not depend on timing, and each step's result must be the same on Spool as on each
 * Kafka it is compared with, unless intended-differences.ts has a row for the program's step.
 *
 * The produce, consume and group part of the quickstart with the Python clients (python/
 * differential_clients.py, in setup.sh's venv); confluent-kafka (librdkafka) with
 * group.protocol=consumer too, against Kafka 4.x only, which serves KIP-848 by default.
 *
 * The admin steps (create a topic with configs, add partitions, alter and describe configs, produce
 * and consume in a group with commits, list and describe groups, lag, delete offsets, delete records,
 * list offsets at start, end and by time, delete groups and topics, each also where it must fail)
 * with three more clients: franz-go (franz/, kgo and kadm), sarama's ClusterAdmin (go/admin.go, the
 * `admin` command of sarama-interop) and kafkajs (kafkajs/admin.ts). Each has a topic and group of
 * its own on the same servers.
 */
interface ClientProgram {
  /** The program and its arguments against a server. */
  readonly command: (bootstrap: string) => string[];
  /** The Kafka releases it is compared with. */
  readonly against: readonly string[];
  /** The step a complete run ends with, checked on Kafka. */
  readonly lastStep?: string;
}

const python = join(buildDir, 'python-clients', 'bin', 'python');
const pythonClient = (client: string, against: readonly string[]): ClientProgram => ({
  command: (bootstrap) => [
    python,
    join(interopDir, 'python', 'differential_clients.py'),
    client,
    bootstrap,
    `py-${client}`,
    `py-${client}-group`,
  ],
  against,
});

const pythonClients: Readonly<Record<string, ClientProgram>> = {
  confluent: pythonClient('confluent', kafkas),
  'kafka-python': pythonClient('kafka-python', kafkas),
  'confluent-consumer-protocol': pythonClient('confluent-consumer-protocol', [kafka4Version]),
};

const adminClients: Readonly<Record<string, ClientProgram>> = {
  'franz-go': {
    command: (bootstrap) => [join(buildDir, 'franz-interop'), bootstrap, 'admin-franz', 'admin-franz-group'],
    against: kafkas,
    lastStep: 'delete-topics-again',
  },
  sarama: {
    command: (bootstrap) => [
      join(buildDir, 'sarama-interop'),
      'admin',
      '--bootstrap',
      bootstrap,
      '--topic',
      'admin-sarama',
      '--group',
      'admin-sarama-group',
    ],
    against: kafkas,
    lastStep: 'delete-topics-again',
  },
  kafkajs: {
    command: (bootstrap) => [
      process.execPath,
      '--import',
      'tsx',
      join(interopDir, 'kafkajs', 'admin.ts'),
      bootstrap,
      'admin-kafkajs',
      'admin-kafkajs-group',
    ],
    against: kafkas,
    lastStep: 'delete-topics-again',
  },
};

/**
 * Kafka 4.x's online migration of a live group between the protocols with kafka-clients 4.4 (kip848/
 * MigrationInterop.java): a classic consumer's group upgraded by a consumer-protocol member joining it,
 * downgraded back when that member leaves. Against Kafka 4.x only (Kafka 3.9 does not serve KIP-848 by
 * default); each server's run has its own topic and group.
 */
const kip848Build = join(buildDir, 'kip848');
/** A Java program's command (clients.ts); until setup.sh has built it, one that fails saying so. */
const javaMain = (build: string, mainClass: string): string[] =>
  existsSync(join(build, 'classpath.txt'))
    ? javaProgram(build, mainClass)
    : ['java', `${mainClass} is not built in ${build}: run setup.sh`];
/**
 * Share groups (KIP-932) with kafka-clients 4.4's KafkaShareConsumer (kip848/ ShareInterop): a group
 * config set with Admin, a consumer that leaves holding records, three workers releasing, rejecting
 * and accepting, and the group as Admin describes it; against Kafka 4.x only (3.9 has no share groups).
 * And share-group dead letters (KIP-1191, kip848/ ShareDlqInterop): groups whose DLQ topic is opted in
 * (with and without errors.deadletterqueue.copy.record.enable), missing, not opted in, or off the dlq.
 * prefix, each rejecting a record and releasing two to share.delivery.count.limit=2; the dead letters
 * read back (partition, key, value, the __dlq.errors.* headers in order), and nothing written where
 * the topic does not qualify. Each run has topics and groups of its own, printed as placeholders.
 */
const shareClients: Readonly<Record<string, ClientProgram>> = {
  'java4-share': {
    command: (bootstrap) => [
      ...javaMain(kip848Build, 'spool.interop.ShareInterop'),
      bootstrap,
      'java-share',
      'java-share-group',
      '3',
      '300',
    ],
    against: [kafka4Version],
    lastStep: 'describe-after',
  },
  'java4-share-dlq': {
    command: (bootstrap) => [
      ...javaMain(kip848Build, 'spool.interop.ShareDlqInterop'),
      bootstrap,
      'java-share-dlq',
      'java-share-dlq-group',
    ],
    against: [kafka4Version],
    lastStep: 'not-written',
  },
};
const javaClients: Readonly<Record<string, ClientProgram>> = {
  'java-group-migration': {
    command: (bootstrap) => [
      ...javaMain(kip848Build, 'spool.interop.MigrationInterop'),
      bootstrap,
      'java-migration',
      'java-migration-group',
      '6',
      '200',
    ],
    against: [kafka4Version],
    lastStep: 'consumed',
  },
};

/**
 * Producer id expiration (producer.id.expiration.ms, 2 s on every server here: differential-targets.ts):
 * an idempotent producer writes, idles past it, and goes on with its sequences; its state is listed
 * before, not while idle, and again after (java/ ProducerExpiryInterop, kafka-clients 3.9 and 4.4), and
 * librdkafka's does the same (python/ confluent-producer-expiry). Each program idles 4 s.
 */
const expiryIdleMs = producerIdExpirationMs * 2;
const javaExpiry = (build: string): ClientProgram => ({
  command: (bootstrap) => [
    ...javaMain(build, 'spool.interop.ProducerExpiryInterop'),
    bootstrap,
    `expiry-${basename(build)}`,
    String(expiryIdleMs),
  ],
  against: kafkas,
  lastStep: 'consume',
});
const expiryClients: Readonly<Record<string, ClientProgram>> = {
  'java-producer-expiry': javaExpiry(join(buildDir, 'java')),
  'java4-producer-expiry': javaExpiry(join(buildDir, 'java4')),
  'confluent-producer-expiry': { ...pythonClient('confluent-producer-expiry', kafkas), lastStep: 'consume' },
};

/** librdkafka on a compacted topic (python/ confluent-compacted): its config, keys, a record without a key refused, a tombstone, read back. */
const compactedClients: Readonly<Record<string, ClientProgram>> = {
  'confluent-compacted': { ...pythonClient('confluent-compacted', kafkas), lastStep: 'consume' },
};

/**
 * Transactions (python/ confluent-transactions, java/ TransactionsInterop on kafka-clients 3.9 and 4.4):
 * a transactional producer commits, aborts and commits again on a 2-partition topic (each marker takes
 * an offset), read_committed and read_uncommitted consumers read it, a transaction left open shows the
 * last stable offset below the high watermark (ListOffsets per isolation level; the Java program also
 * ListTransactions, DescribeTransactions and DescribeProducers), consume-transform-produce commits a
 * group's offsets with sendOffsetsToTransaction, and a second instance of the transactional id fences
 * the first. kafka-clients 4.4 is compared with Kafka 4.x only: Kafka 4 finalizes transaction.version 2
 * (KIP-890), which a 4.x client then uses, so its fenced zombie's send and commit fail with the
 * abortable InvalidProducerEpochException (its Produce is refused; its abort then hears PRODUCER_FENCED),
 * where on Kafka 3.9 (transaction.version 0) they fail with ProducerFencedException (AddPartitionsToTxn
 * is refused), as for the 3.9 client on either; librdkafka 2.16 uses the pre-KIP-890 requests on both.
 */
const javaTransactions = (build: string, against: readonly string[]): ClientProgram => ({
  command: (bootstrap) => [
    ...javaMain(build, 'spool.interop.TransactionsInterop'),
    bootstrap,
    `txn-${basename(build)}`,
    `txn-${basename(build)}-group`,
  ],
  against,
  lastStep: 'transactions-final',
});
const transactionClients: Readonly<Record<string, ClientProgram>> = {
  'confluent-transactions': { ...pythonClient('confluent-transactions', kafkas), lastStep: 'fenced' },
  'java-transactions': javaTransactions(join(buildDir, 'java'), kafkas),
  'java4-transactions': javaTransactions(join(buildDir, 'java4'), [kafka4Version]),
};

/** Every client program, by the name intended-differences.ts's rows give in `client`. */
const clientPrograms: Readonly<Record<string, ClientProgram>> = {
  ...pythonClients,
  ...adminClients,
  ...javaClients,
  ...shareClients,
  ...expiryClients,
  ...compactedClients,
  ...transactionClients,
};

/** Runs a client program: each step's result, and `exit` when the program failed. */
function runJsonLines([file, ...args]: readonly string[]): Promise<Map<string, string>> {
  return new Promise((resolve) => {
    execFile(file!, args, { timeout: 150_000 }, (error, stdout, stderr) => {
      const steps = new Map<string, string>();
      for (const line of stdout.split('\n').filter((text) => text.startsWith('{'))) {
        const { step, result } = JSON.parse(line) as { step: string; result: unknown };
        steps.set(step, canonical(result));
      }
      if (error) steps.set('exit', `${error.message.split('\n')[0]}: ${stderr.trim().split('\n').at(-1)}`);
      resolve(steps);
    });
  });
}

/** Runs a client program on Spool and on each Kafka it is compared with, and compares (after the intended differences). */
async function compareClientProgram(client: string, program: ClientProgram): Promise<void> {
  // A built program (not `java`, whose classes setup.sh builds too): missing means setup.sh did not run.
  const executable = program.command('')[0]!;
  if (isAbsolute(executable) && !existsSync(executable)) throw new Error(`${executable} is missing: run test/interop/setup.sh`);
  const byTarget = new Map<TargetName, Map<string, string>>();
  const names: TargetName[] = ['spool', ...program.against.map((version) => `kafka-${version}` as const)];
  await Promise.all(names.map(async (name) => byTarget.set(name, await runJsonLines(program.command(sessions.get(name)!.bootstrap)))));
  clientResults.set(client, byTarget);
  const spool = byTarget.get('spool')!;
  for (const version of program.against) {
    const kafka = byTarget.get(`kafka-${version}`)!;
    expect.soft(kafka.get('exit') ?? 'ok', `${client} on Kafka ${version} (the program's own check)`).toBe('ok');
    if (program.lastStep) expect.soft(kafka.has(program.lastStep), `${client} on Kafka ${version} ran every step`).toBe(true);
    const rows = clientRows(intendedDifferences, client, version);
    const { expected, unmatched } = expectedClientResults(rows, kafka);
    expect.soft(unmatched.map(rowName), `intended differences naming a step ${client} did not print on Kafka ${version}`).toEqual([]);
    expect.soft(Object.fromEntries(spool), `${client}: Spool vs Kafka ${version}`).toEqual(Object.fromEntries(expected));
    for (const row of rows.filter((row) => !unmatched.includes(row)))
      expect
        .soft(spool.get(row.step), `${rowName(row)} vs Kafka ${version}: the intended difference no longer occurs; remove its row`)
        .not.toEqual(kafka.get(row.step));
  }
}

describe('interop > differential: Python clients (produce, consume, group) on Spool vs Apache Kafka', () => {
  for (const [client, program] of Object.entries(pythonClients)) {
    it(`${client}: every step's result on Spool equals Kafka's`, () => compareClientProgram(client, program), 180_000);
  }
});

describe('interop > differential: admin steps with franz-go, sarama and kafkajs on Spool vs Apache Kafka', () => {
  for (const [client, program] of Object.entries(adminClients)) {
    it(`${client}: every step's result on Spool equals Kafka's`, () => compareClientProgram(client, program), 180_000);
  }
});

describe('interop > differential: online group migration (classic ⇄ consumer protocol) with kafka-clients 4.4 on Spool vs Apache Kafka 4.x', () => {
  for (const [client, program] of Object.entries(javaClients)) {
    it(`${client}: every step's result on Spool equals Kafka's`, () => compareClientProgram(client, program), 180_000);
  }
});

describe('interop > differential: share groups (KIP-932) with Kafka 4.x tools (kafka-share-groups, kafka-configs) on Spool vs Apache Kafka 4.x', () => {
  for (const step of shareSteps) {
    it(`${step.id}: ${step.command}`, () => compareStep(step, [kafka4Version]));
  }
});

describe('interop > differential: share groups (KIP-932) with kafka-clients 4.4 on Spool vs Apache Kafka 4.x', () => {
  for (const [client, program] of Object.entries(shareClients)) {
    it(`${client}: every step's result on Spool equals Kafka's`, () => compareClientProgram(client, program), 180_000);
  }
});

describe('interop > differential: producer id expiration with kafka-clients 3.9 and 4.4 and confluent-kafka on Spool vs Apache Kafka', () => {
  for (const [client, program] of Object.entries(expiryClients)) {
    it(`${client}: every step's result on Spool equals Kafka's`, () => compareClientProgram(client, program), 180_000);
  }
});

describe('interop > differential: a compacted topic with confluent-kafka (librdkafka) on Spool vs Apache Kafka', () => {
  for (const [client, program] of Object.entries(compactedClients)) {
    it(`${client}: every step's result on Spool equals Kafka's`, () => compareClientProgram(client, program), 180_000);
  }
});

describe('interop > differential: transactions with confluent-kafka and kafka-clients 3.9 / 4.4 on Spool vs Apache Kafka', () => {
  for (const [client, program] of Object.entries(transactionClients)) {
    it(`${client}: every step's result on Spool equals Kafka's`, () => compareClientProgram(client, program), 180_000);
  }
});

/** Every step's normalised results on the three servers, for reading (and for the README table). */
function writeReport(): void {
  const block = (result: ToolResult | undefined) =>
    result ? `exit ${result.exit}\n${result.stdout}${result.stderr ? `\n[stderr]\n${result.stderr}` : ''}` : '(not run)';
  const lines = ['# Differential run: Kafka CLI quickstart', ''];
  for (const step of [...steps, ...kip848Steps, ...shareSteps]) {
    const byTarget = results.get(step.id);
    const [spool, kafka3, kafka4] = targets.map((name) => byTarget?.get(name));
    const same = (a?: ToolResult, b?: ToolResult) => JSON.stringify(a) === JSON.stringify(b);
    const verdict = `Spool ${same(spool, kafka3) ? '=' : '≠'} ${kafka3Version}, ${same(spool, kafka4) ? '=' : '≠'} ${kafka4Version}; ${kafka3Version} ${same(kafka3, kafka4) ? '=' : '≠'} ${kafka4Version}`;
    lines.push(`## ${step.id}: ${verdict}`, '', `\`${step.command}\``, '');
    for (const name of targets) lines.push(`${name}:`, '```', block(byTarget?.get(name)), '```');
    lines.push('');
  }
  for (const [client, byTarget] of clientResults) {
    lines.push(`## Client: ${client}`, '');
    for (const name of targets)
      lines.push(`${name}:`, '```', ...[...(byTarget.get(name) ?? [])].map(([step, result]) => `${step}: ${result}`), '```');
    lines.push('');
  }
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(join(buildDir, 'differential-report.md'), lines.join('\n'));
}
