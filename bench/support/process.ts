/** Benchmarks' agent process and statistics. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../test/support/stores.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface Agent {
  url: string;
  /** Kafka bootstrap address. */
  kafka: string;
  child: ChildProcess;
  dataDir: string;
}

/**
 * The agent (support/agent.ts) in its own process, on a fresh data directory, with any free ports.
 * `root`: another checkout of the repository whose agent to run (an A/B against an earlier commit).
 */
export async function startAgent(env: Record<string, string>, options: { root?: string } = {}): Promise<Agent> {
  const dataDir = tempDir('spool-bench-');
  const script = options.root === undefined ? join(here, 'agent.ts') : join(options.root, 'bench', 'support', 'agent.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, SPOOL_DATA_DIR: dataDir, SPOOL_HTTP_PORT: '0', SPOOL_KAFKA_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`agent exited with ${code}`)));
  });
  const started = JSON.parse(line) as { url: string; kafka: string };
  return { url: started.url, kafka: started.kafka, child, dataDir };
}

/** Stops the agent (SIGTERM), removes its data, and returns its peak RSS in MiB. */
export async function stopAgent(agent: Agent): Promise<number> {
  const status = readFileSync(`/proc/${agent.child.pid}/status`, 'utf8');
  const peakKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const exited = new Promise((resolve) => agent.child.once('exit', resolve));
  agent.child.kill('SIGTERM');
  await exited;
  rmSync(agent.dataDir, { recursive: true, force: true });
  return peakKb / 1024;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
export const median = (values: number[]) => percentile(values, 50);
