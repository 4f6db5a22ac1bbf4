/**
 * Differential conformance: the Kafka quickstart with Apache Kafka's own command-line tools
 * (differential-scenario.ts), run step by step against a Spool agent, Apache Kafka 3.9.1 and Apache
 * Kafka 4.x, each started here; each step's normalised exit status, stdout and stderr on Spool must
 * equal Kafka's, for each Kafka, unless intended-differences.ts lists the difference with its
 * reason. The three servers run each step at the same time; steps run in order. Then the
 * quickstart's produce, consume and group part with two Python clients (confluent-kafka and
 * kafka-python), and admin steps with franz-go, sarama and kafkajs, against the same servers.
 *
 * After the run, .build/differential-report.md holds every step's normalised results side by side
 * (Kafka 3.9.1 against 4.x too).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  kafka3Version,
  kafka4Version,
  kafkaCliClasspath,
  type Session,
  startSession,
  type TargetName,
  type ToolResult,
} from './differential-targets.js';
import { kip848Steps, normalise, steps } from './differential-scenario.js';
import { intendedDifferences } from './intended-differences.js';
import { buildDir, interopDir } from './support.js';

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
  it('every intended difference names a step of the scenario and is in the README table', () => {
    const readme = readFileSync(join(interopDir, 'README.md'), 'utf8');
    for (const row of intendedDifferences) {
      expect(
        [...steps, ...kip848Steps].map((step) => step.id),
        row.step,
      ).toContain(row.step);
      expect(readme, `README's table of intended differences lacks ${row.step}`).toContain(`| \`${row.step}\` |`);
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
    const rows = intendedDifferences.filter((row) => row.step === step.id && (!row.kafka || row.kafka.includes(version)));
    const expected = rows.reduce((result, row) => row.spool(result), kafka);
    expect.soft(spool, `Spool vs Kafka ${version}`).toEqual(expected);
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
 * The produce, consume and group part of the quickstart with the Python clients (python/
 * differential_clients.py, in setup.sh's venv): each prints its steps' results as JSON lines, in an
 * order that does not depend on timing; each step's must be the same on Spool as on each Kafka.
 */
const python = join(buildDir, 'python-clients', 'bin', 'python');

function runPythonClient(client: string, session: Session): Promise<Map<string, string>> {
  if (!existsSync(python)) throw new Error(`${python} is missing: run test/interop/setup.sh`);
  const program = join(interopDir, 'python', 'differential_clients.py');
  return runJsonLines([python, program, client, session.bootstrap, `py-${client}`, `py-${client}-group`]);
}

/** JSON text with object keys sorted, so that the order a client prints its fields in does not matter. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : 1)))
      : inner,
  );
}

/** Runs a client program that prints {"step", "result"} JSON lines: each step's result, and `exit` when the program failed. */
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

describe('interop > differential: Python clients (produce, consume, group) on Spool vs Apache Kafka', () => {
  // confluent-kafka (librdkafka) with group.protocol=consumer too: against Kafka 4.x, which serves KIP-848 by default.
  const clients: Readonly<Record<string, readonly string[]>> = {
    confluent: kafkas,
    'kafka-python': kafkas,
    'confluent-consumer-protocol': [kafka4Version],
  };
  for (const [client, against] of Object.entries(clients)) {
    it(`${client}: every step's result on Spool equals Kafka's`, async () => {
      const byTarget = new Map<TargetName, Map<string, string>>();
      const names: TargetName[] = ['spool', ...against.map((version) => `kafka-${version}` as const)];
      await Promise.all(names.map(async (name) => byTarget.set(name, await runPythonClient(client, sessions.get(name)!))));
      clientResults.set(client, byTarget);
      const spool = byTarget.get('spool')!;
      for (const version of against) {
        const kafka = byTarget.get(`kafka-${version}`)!;
        expect.soft(kafka.has('exit') ? kafka.get('exit') : 'ok', `${client} on Kafka ${version} (the program's own check)`).toBe('ok');
        expect.soft(Object.fromEntries(spool), `${client}: Spool vs Kafka ${version}`).toEqual(Object.fromEntries(kafka));
      }
    }, 180_000);
  }
});

/**
 * The admin steps (create a topic with configs, add partitions, alter and describe configs, produce
 * and consume in a group with commits, list and describe groups, lag, delete offsets, delete records,
 * list offsets at start, end and by time, delete groups and topics, each also where it must fail)
 * with three more clients, each printing its steps' results as JSON lines: franz-go (franz/, kgo
 * and kadm), sarama's ClusterAdmin (go/admin.go, the `admin` command of sarama-interop) and kafkajs
 * (kafkajs/admin.ts). Each has a topic and group of its own on the same servers; each step's result
 * must be the same on Spool as on each Kafka.
 */
const adminClients: Readonly<Record<string, (bootstrap: string) => string[]>> = {
  'franz-go': (bootstrap) => [join(buildDir, 'franz-interop'), bootstrap, 'admin-franz', 'admin-franz-group'],
  sarama: (bootstrap) => [
    join(buildDir, 'sarama-interop'),
    'admin',
    '--bootstrap',
    bootstrap,
    '--topic',
    'admin-sarama',
    '--group',
    'admin-sarama-group',
  ],
  kafkajs: (bootstrap) => [
    process.execPath,
    '--import',
    'tsx',
    join(interopDir, 'kafkajs', 'admin.ts'),
    bootstrap,
    'admin-kafkajs',
    'admin-kafkajs-group',
  ],
};

describe('interop > differential: admin steps with franz-go, sarama and kafkajs on Spool vs Apache Kafka', () => {
  for (const [client, command] of Object.entries(adminClients)) {
    it(`${client}: every step's result on Spool equals Kafka's`, async () => {
      const program = command('')[0]!;
      if (!existsSync(program)) throw new Error(`${program} is missing: run test/interop/setup.sh`);
      const byTarget = new Map<TargetName, Map<string, string>>();
      await Promise.all(targets.map(async (name) => byTarget.set(name, await runJsonLines(command(sessions.get(name)!.bootstrap)))));
      clientResults.set(client, byTarget);
      const spool = byTarget.get('spool')!;
      for (const version of kafkas) {
        const kafka = byTarget.get(`kafka-${version}`)!;
        expect.soft(kafka.get('exit') ?? 'ok', `${client} on Kafka ${version} (the program's own check)`).toBe('ok');
        expect.soft(kafka.has('delete-topics-again'), `${client} on Kafka ${version} ran every step`).toBe(true);
        expect.soft(Object.fromEntries(spool), `${client}: Spool vs Kafka ${version}`).toEqual(Object.fromEntries(kafka));
      }
    }, 180_000);
  }
});

/** Every step's normalised results on the three servers, for reading (and for the README table). */
function writeReport(): void {
  const block = (result: ToolResult | undefined) =>
    result ? `exit ${result.exit}\n${result.stdout}${result.stderr ? `\n[stderr]\n${result.stderr}` : ''}` : '(not run)';
  const lines = ['# Differential run: Kafka CLI quickstart', ''];
  for (const step of [...steps, ...kip848Steps]) {
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
