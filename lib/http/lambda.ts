/**
 * The HTTP API as an AWS Lambda handler (API Gateway HTTP API v2 or a function URL), through hono's
 * Lambda adapter. The engine is opened once per execution environment, at the first invocation.
 * Lambda writers are leaderless and, by default, linger 0 ms: a container serves one request at a
 * time, so there is nothing to batch with. Before returning, the handler flushes, so even acks=0
 * records are committed before the environment may be frozen.
 */
import { handle } from 'hono/aws-lambda';
import { loadConfig } from '../config.js';
import { jsonLogger } from '../logger.js';
import { openRuntime, type Runtime } from '../runtime.js';
import { createApp } from './app.js';

type LambdaHandler = ReturnType<typeof handle>;

export function createLambdaHandler(env: Readonly<Record<string, string | undefined>> = process.env) {
  let ready: Promise<{ runtime: Runtime; serve: LambdaHandler }> | undefined;
  const start = async () => {
    const runtime = await openRuntime(loadConfig({ SPOOL_LINGER_MS: '0', SPOOL_CREATE_STORES: 'false', ...env }));
    return {
      runtime,
      serve: handle(
        createApp({
          log: runtime.log,
          groups: runtime.groups,
          logger: jsonLogger(),
          maxBodyBytes: runtime.config.httpMaxBodyBytes,
          streaming: false,
          metrics: runtime.metrics,
          auth: runtime.auth,
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
