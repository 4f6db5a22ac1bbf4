/**
 * Stopping the agent as users and service managers do it, from outside: `npm start`, `spool serve`
 * started through npm (as `npx spool serve` runs it: npm, a shell, then the agent), and the Docker
 * image's command as PID 1. The signal goes to the process the user knows (npm's PID, the
 * container's PID 1); afterwards both ports must refuse connections and no process of the tree may be
 * left (each runs in its own process group, which must end up empty, and the output pipes it inherited
 * must be closed by every holder).
 *
 * These run the built agent (dist/), as users do; beforeAll builds it (`tsc -b`: at once when current).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/stores.js';

/** Generous: `npm start` may have to compile first on a loaded machine. */
const readyBoundMs = 120_000;
/** From the signal to every port closed and every process gone. */
const stopBoundMs = 20_000;

interface Started {
  readonly child: ChildProcess;
  readonly httpUrl: string;
  readonly kafkaPort: number;
  /** The exit of the process signalled (npm, unshare). */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** stdout and stderr once every process holding them has closed them: the agent's too, wherever it ended up. */
  readonly output: Promise<string>;
}

const started: ChildProcess[] = [];
afterEach(() => {
  // Whatever a failed test left: every process of each group this file started, by its group id.
  for (const child of started.splice(0)) if (groupAlive(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
});

/** The environment of a user's shell: none of the npm_* variables `npm test` sets for this process. */
function userEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('npm_')));
  return {
    ...clean,
    SPOOL_HTTP_PORT: '0',
    SPOOL_KAFKA_PORT: '0',
    SPOOL_DATA_DIR: tempDir('spool-stop-'),
    SPOOL_MAINTENANCE_INTERVAL_MS: '0',
    ...env,
  };
}

/** Spawns in a new process group, as a shell starts a job; resolves once /healthz answers. */
async function start(command: string, args: string[], env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: userEnv(env) });
  started.push(child);
  let text = '';
  const closed = (stream: NodeJS.ReadableStream) => new Promise<void>((resolve) => stream.once('close', resolve));
  child.stdout!.on('data', (chunk: Buffer) => void (text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => void (text += chunk.toString()));
  const output = Promise.all([closed(child.stdout!), closed(child.stderr!)]).then(() => text);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = await within(readyBoundMs, `${command} ${args.join(' ')} to be ready`, async () => {
    const http = /HTTP API\s+(http:\/\/\S+)\/v1\/topics/.exec(text);
    const kafka = /Kafka\s+\S+:(\d+)/.exec(text);
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before it was ready:\n${text}`);
    if (!http || !kafka) return undefined;
    const health = await fetch(`${http[1]}/healthz`).catch(() => undefined);
    return health?.ok ? { httpUrl: http[1]!, kafkaPort: Number(kafka[1]) } : undefined;
  });
  return { child, ...ready, exit, output };
}

/** Polls `probe` until it answers something, failing after `boundMs`. */
async function within<T>(boundMs: number, what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const answer = await probe();
    if (answer !== undefined) return answer;
    if (Date.now() > deadline) throw new Error(`waited ${boundMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/** After the signal: both ports closed, every process of the group gone, the output's pipes closed. */
async function expectStopped(agent: Started): Promise<string> {
  const port = Number(new URL(agent.httpUrl).port);
  await within(stopBoundMs, 'both ports to close', async () =>
    (await refusesConnections(port)) && (await refusesConnections(agent.kafkaPort)) ? true : undefined,
  );
  await within(stopBoundMs, 'every process of the group to end', () => (groupAlive(agent.child.pid!) ? undefined : true));
  const output = await Promise.race([
    agent.output,
    new Promise<string>((_, reject) => setTimeout(() => reject(new Error('a process still holds the output pipes')), stopBoundMs)),
  ]);
  expect(output).toContain('"message":"stopped cleanly"'); // the graceful path: flushed, committed, leases released
  return output;
}

beforeAll(() => {
  const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-b', 'tsconfig.build.json'], { encoding: 'utf8' });
  expect(build.status, build.stdout + build.stderr).toBe(0);
}, readyBoundMs);

describe('cli > npm start', () => {
  it(
    'stops gracefully on SIGTERM to npm, leaving no process and no port behind',
    async () => {
      const agent = await start('npm', ['start']);
      process.kill(agent.child.pid!, 'SIGTERM');
      await expectStopped(agent);
      expect(await agent.exit).toEqual({ code: 0, signal: null });
    },
    readyBoundMs + 3 * stopBoundMs,
  );

  it(
    'stops gracefully on Ctrl-C (SIGINT to the whole process group, which npm forwards again)',
    async () => {
      const agent = await start('npm', ['start']);
      process.kill(-agent.child.pid!, 'SIGINT');
      const output = await expectStopped(agent);
      expect(output).not.toContain('shutdown failed');
    },
    readyBoundMs + 3 * stopBoundMs,
  );

  it(
    'starts without compiling when the build is current',
    async () => {
      const compiled = statSync('dist/bin/agent.js').mtimeMs; // built by beforeAll
      const agent = await start('npm', ['start']);
      expect(statSync('dist/bin/agent.js').mtimeMs).toBe(compiled);
      process.kill(agent.child.pid!, 'SIGTERM');
      await expectStopped(agent);
    },
    readyBoundMs + 3 * stopBoundMs,
  );
});

describe('cli > spool serve started by npm (as npx spool serve)', () => {
  it(
    'stops gracefully on SIGTERM to npm, though npm forwards it only to the shell between them',
    async () => {
      const agent = await start('npm', ['exec', '--call', 'node dist/bin/spool.js serve --http-port 0 --kafka-port 0']);
      process.kill(agent.child.pid!, 'SIGTERM');
      await expectStopped(agent);
    },
    readyBoundMs + 3 * stopBoundMs,
  );
});

/** The image's command, from the Dockerfile's exec-form CMD. */
function dockerCommand(): string[] {
  const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(readFileSync('Dockerfile', 'utf8'));
  if (!cmd) throw new Error('the Dockerfile has no exec-form CMD');
  return JSON.parse(cmd[1]!) as string[];
}

// PID 1 of a new PID namespace is what a container's command is: signals it has no handler for are
// ignored. Creating the namespace needs unshare(1) and the right to use it (root, or user namespaces).
const pidNamespace = ['--pid', '--fork'];
const canUnshare = spawnSync('unshare', [...pidNamespace, 'true']).status === 0;

describe.skipIf(!canUnshare)('cli > the Docker image command as PID 1 (needs unshare with PID namespaces)', () => {
  /** The host PID of the namespace's PID 1: the only child of unshare. */
  const pid1 = (unshare: ChildProcess) =>
    within(
      stopBoundMs,
      'PID 1 of the namespace',
      () => Number(readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, 'utf8').trim()) || undefined,
    );

  it(
    'stops gracefully on SIGTERM, as docker stop sends it',
    async () => {
      const agent = await start('unshare', [...pidNamespace, ...dockerCommand()]);
      process.kill(await pid1(agent.child), 'SIGTERM');
      await expectStopped(agent);
      expect(await agent.exit).toEqual({ code: 0, signal: null });
    },
    readyBoundMs + 3 * stopBoundMs,
  );

  it(
    'stops on SIGTERM while startup waits for a store that does not answer',
    async () => {
      // An S3 endpoint that accepts connections and never answers: startup waits on it for ever.
      const sockets: Socket[] = [];
      let connectedResolve: () => void = () => undefined;
      const connected = new Promise<void>((resolve) => (connectedResolve = resolve));
      const blackHole: Server = createServer((socket) => {
        sockets.push(socket);
        connectedResolve();
      });
      await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = blackHole.address() as { port: number };
        const env = userEnv({
          SPOOL_OBJECT_STORE: 's3://spool-stop/data',
          AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
        });
        const child = spawn('unshare', [...pidNamespace, ...dockerCommand()], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
        started.push(child);
        let text = '';
        child.stderr!.on('data', (chunk: Buffer) => void (text += chunk.toString()));
        const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
        await connected; // the agent's code is running: it is waiting for the store
        process.kill(await pid1(child), 'SIGTERM');
        const code = await Promise.race([
          exit,
          new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), stopBoundMs)),
        ]);
        expect(code).toBe(1);
        expect(text).toContain('spool: stopped (SIGTERM) before the agent was ready\n');
        await within(stopBoundMs, 'every process of the group to end', () => (groupAlive(child.pid!) ? undefined : true));
      } finally {
        for (const socket of sockets) socket.destroy();
        blackHole.close();
      }
    },
    3 * stopBoundMs,
  );
});
