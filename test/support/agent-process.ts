/**
 * The agent as users run it (`npm start`: bin/agent.ts) in a child process, for tests that need a
 * real process: to kill it with SIGKILL, or to run several over one data directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Log } from '../../lib/log/index.js';
import { openStores } from '../../lib/storage/open.js';

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly httpUrl: string;
  readonly kafkaBootstrap: string;
  /** SIGTERM, and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL: no shutdown at all, leases left to expire. */
  kill(): Promise<void>;
}

export async function startAgentProcess(env: Record<string, string>): Promise<AgentProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/agent.ts'], {
    env: {
      ...process.env,
      SPOOL_HTTP_PORT: '0',
      SPOOL_KAFKA_PORT: '0',
      SPOOL_MAINTENANCE_INTERVAL_MS: '0',
      SPOOL_LOG_LEVEL: 'error',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<{ httpUrl: string; kafkaBootstrap: string }>((resolve, reject) => {
    let httpUrl = '';
    lines.on('line', (line) => {
      const http = /HTTP API\s+(\S+)\/v1\/topics/.exec(line);
      if (http) httpUrl = http[1]!;
      const kafka = /Kafka\s+(\S+:\d+)/.exec(line);
      if (kafka) resolve({ httpUrl, kafkaBootstrap: kafka[1]! });
    });
    child.once('exit', (code) => reject(new Error(`the agent exited with ${code} before it was ready`)));
  });
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };
  return { child, ...ready, stop: () => signal('SIGTERM'), kill: () => signal('SIGKILL') };
}

/** A Log of this process over the agents' data directory (LMDB allows several processes). */
export async function withLog<T>(dataDir: string, use: (log: Log) => Promise<T>): Promise<T> {
  const stores = await openStores({ dataDir }, { createIfMissing: false });
  try {
    return await use(new Log({ stores }));
  } finally {
    await stores.objects.close();
    await stores.metadata.close();
  }
}
