/**
 * Runs the agent as a process (`npm start`, `spool serve`): configuration from the environment,
 * URLs printed when ready, graceful shutdown on SIGTERM or SIGINT (a second signal exits at once).
 */
import { startAgent } from '../agent.js';
import { loadConfig } from '../config.js';
import { SpoolError } from '../errors.js';
import { jsonLogger } from '../logger.js';

export async function serveFromEnvironment(): Promise<void> {
  const logger = jsonLogger();
  try {
    const config = loadConfig();
    const agent = await startAgent(config, { logger });
    const { objects, metadata } = agent.runtime.stores;
    process.stdout.write(
      [
        `Spool agent ready`,
        `  HTTP API   ${agent.httpUrl}/v1/topics`,
        `  OpenAPI    ${agent.httpUrl}/openapi.json`,
        `  health     ${agent.httpUrl}/healthz`,
        `  Kafka      ${agent.kafkaBootstrap ?? 'off (SPOOL_KAFKA_PORT=-1)'}`,
        `  objects    ${objects.url}`,
        `  metadata   ${metadata.url}`,
        '',
      ].join('\n'),
    );
    let signals = 0;
    const stop = (signal: string) => {
      if (++signals > 1) process.exit(1);
      logger.log('info', 'shutting down: no new requests; flushing and committing what was accepted', { signal });
      agent.close().then(
        () => {
          logger.log('info', 'stopped cleanly');
          process.exit(0);
        },
        (error) => {
          logger.log('error', 'shutdown failed', { message: String(error) });
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  } catch (error) {
    const message = error instanceof SpoolError ? `${error.code}: ${error.message}` : String(error);
    process.stderr.write(`spool: could not start: ${message}\n`);
    process.exit(1);
  }
}
