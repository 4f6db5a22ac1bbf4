/**
 * The HTTP API as an AWS Lambda handler (API Gateway HTTP API v2 or a function URL), through hono's
 * Lambda adapter. The engine is opened once per execution environment, at the first invocation.
 * Lambda writers are leaderless and, by default, flush with a batch interval of 0 ms: a container
 * serves one request at a time, so there is nothing to batch with. Before returning, the handler flushes, so even acks=0
 * records are committed before the environment may be frozen. The console is served from the
 * directory given (functions/api.ts: the `console/` the stack copies beside the bundle), read at the
 * first invocation with the engine, not at init.
 */
import { handle } from 'hono/aws-lambda';
import { clusterStatusSource } from '../cluster-status.js';
import { loadConfig, type SpoolConfig } from '../config.js';
import { jsonLogger } from '../logger.js';
import { openRuntime, type Runtime } from '../runtime.js';
import { createApp } from './app.js';

type LambdaHandler = ReturnType<typeof handle>;

export interface LambdaHandlerOptions {
  /** The console's built bundle, served at /ui (lib/http/console.ts). @default not served */
  readonly consoleDir?: string;
}

/** A Lambda's configuration: the environment's, with a batch interval of 0 and no store creation where it is silent. */
export function lambdaConfig(env: Readonly<Record<string, string | undefined>>): SpoolConfig {
  return loadConfig(env, { batchIntervalMs: 0, createStores: false });
}

export function createLambdaHandler(env: Readonly<Record<string, string | undefined>> = process.env, options: LambdaHandlerOptions = {}) {
  let ready: Promise<{ runtime: Runtime; serve: LambdaHandler }> | undefined;
  const start = async () => {
    const runtime = await openRuntime(lambdaConfig(env));
    return {
      runtime,
      serve: handle(
        createApp({
          log: runtime.log,
          groups: runtime.groups,
          queues: runtime.queues,
          logger: jsonLogger(),
          maxBodyBytes: runtime.config.httpMaxBodyBytes,
          streaming: false,
          metrics: runtime.metrics,
          auth: runtime.auth,
          consoleDir: options.consoleDir,
          // No cost meter: an instance sees only its own calls, a misleading share of the fleet's.
          cluster: clusterStatusSource({ log: runtime.log, metadata: runtime.stores.metadata }),
        }),
      ),
    };
  };
  const handler = async (...args: Parameters<LambdaHandler>): Promise<Awaited<ReturnType<LambdaHandler>>> => {
    ready ??= start().catch((error) => {
      ready = undefined; // a failed cold start is tried again by the next invocation
      throw error;
    });
    const { runtime, serve } = await ready;
    const response = await serve(...args);
    await runtime.log.flush();
    return response;
  };
  return Object.assign(handler, { runtime: async () => (await ready)?.runtime });
}
