/**
 * The server the interop suite talks to, chosen by the environment:
 *
 * - `INTEROP_BOOTSTRAP=host:port`: a server that is already running (Spool or Kafka), left alone.
 * - `INTEROP_TARGET=kafka`: a real Apache Kafka 3.9 broker started by kafka-broker.sh in a
 *   temporary directory, with its request log on: when it stops, the log is kept as
 *   test/interop/.build/kafka-requests.log and the API keys and versions each client sent are
 *   summarised in test/interop/.build/kafka-api-versions.md.
 * - otherwise (`INTEROP_TARGET=spool`, the default): a Spool agent in this process, on the embedded
 *   stores in a temporary directory, with its Kafka listener on a free port. Its HTTP API is on a
 *   free port too (`httpUrl`): tests run a maintenance pass through it (POST /v1/admin/maintenance),
 *   since the agent runs none on its own here.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { summariseRequestLog } from './api-versions.js';

export const interopDir = fileURLToPath(new URL('.', import.meta.url));
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** Build output of setup.sh (gitignored). */
export const buildDir = join(interopDir, '.build');

export interface Target {
  /** What is listening: `spool`, `kafka` or `external`. */
  readonly kind: string;
  /** bootstrap.servers for the clients, `host:port`. */
  readonly bootstrap: string;
  /** Base URL of the Spool agent's HTTP API when the agent runs here; undefined for Kafka and external servers. */
  readonly httpUrl?: string | undefined;
  close(): Promise<void>;
}

/** `settings`: SPOOL_ variables for a Spool agent started here (not read from the environment). */
export async function startTarget(env: NodeJS.ProcessEnv = process.env, settings: Readonly<Record<string, string>> = {}): Promise<Target> {
  if (env.INTEROP_BOOTSTRAP) return { kind: 'external', bootstrap: env.INTEROP_BOOTSTRAP, close: async () => {} };
  const target = env.INTEROP_TARGET ?? 'spool';
  if (target === 'kafka') return startKafka();
  if (target === 'spool') return startSpool(settings);
  throw new Error(`INTEROP_TARGET must be spool or kafka, got ${JSON.stringify(target)}`);
}

const run = promisify(execFile);

/**
 * An Apache Kafka 3.9.1 broker (kafka-broker.sh) in a temporary directory. `requestLog`: the suite's
 * own broker keeps its request log and API-version summary in .build/ when it stops; brokers that
 * single test files start for a scenario of their own (onKafka) leave them alone.
 */
export async function startKafka(options: { requestLog: boolean } = { requestLog: true }): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), 'spool-interop-kafka-'));
  const [port, controllerPort] = [await freePort(), await freePort()];
  const script = join(interopDir, 'kafka-broker.sh');
  const where = ['--dir', dir, '--port', String(port), '--controller-port', String(controllerPort)];
  let bootstrap: string;
  try {
    const { stdout } = await run(script, ['start', ...where, ...(options.requestLog ? ['--request-log'] : [])], { timeout: 180_000 });
    bootstrap = stdout.trim().split('\n').at(-1)!;
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`kafka-broker.sh could not start a broker (did test/interop/setup.sh run?): ${stderr || String(error)}`);
  }
  return {
    kind: 'kafka',
    bootstrap,
    close: async () => {
      await run(script, ['stop', ...where]);
      if (options.requestLog) {
        await mkdir(buildDir, { recursive: true });
        const requestLog = join(dir, 'requests.log');
        await writeFile(join(buildDir, 'kafka-api-versions.md'), await summariseRequestLog(requestLog));
        await copyFile(requestLog, join(buildDir, 'kafka-requests.log')).catch(() => {});
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The part of lib/agent.ts this suite relies on (typed here so the suite does not pin the rest). */
interface SpoolAgent {
  readonly kafkaBootstrap?: string | undefined;
  readonly httpUrl?: string | undefined;
  close(): Promise<void>;
}

/** `settings` are the agent's, but for the suite's own (data directory, ports, no maintenance). */
async function startSpool(settings: Readonly<Record<string, string>>): Promise<Target> {
  const dataDir = await mkdtemp(join(tmpdir(), 'spool-interop-'));
  const { startAgent } = (await import('../../lib/agent.js')) as unknown as {
    startAgent(config: unknown, options?: { logger?: unknown }): Promise<SpoolAgent>;
  };
  const { loadConfig } = await import('../../lib/config.js');
  const { jsonLogger } = await import('../../lib/logger.js');
  const config = loadConfig({
    ...settings,
    SPOOL_DATA_DIR: dataDir,
    SPOOL_HTTP_PORT: '0',
    SPOOL_KAFKA_PORT: '0',
    SPOOL_MAINTENANCE_INTERVAL_MS: '0',
  });
  const logLevel = (process.env.SPOOL_LOG_LEVEL ?? 'warn') as Parameters<typeof jsonLogger>[0];
  const agent = await startAgent({ ...config }, { logger: jsonLogger(logLevel) });
  if (!agent.kafkaBootstrap) {
    await agent.close();
    throw new Error('the Spool agent started without a Kafka listener (no kafkaBootstrap); is SPOOL_KAFKA_PORT honoured?');
  }
  return {
    kind: 'spool',
    bootstrap: agent.kafkaBootstrap,
    httpUrl: agent.httpUrl,
    close: async () => {
      await agent.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A maintenance pass on the Spool agent at `httpUrl` (POST /v1/admin/maintenance), answering the
 * records its log cleaner removed; undefined for a server with no such API (Kafka runs its own).
 */
export function maintenancePass(httpUrl: string | undefined): (() => Promise<number>) | undefined {
  if (!httpUrl) return undefined;
  return async () => {
    const response = await fetch(`${httpUrl}/v1/admin/maintenance`, { method: 'POST' });
    if (!response.ok) throw new Error(`POST /v1/admin/maintenance: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { records_cleaned: number }).records_cleaned;
  };
}

/** A port nothing listens on now, on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
