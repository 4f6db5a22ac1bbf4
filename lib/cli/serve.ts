/**
 * Runs the agent as a process (`npm start`, `spool serve`, the Docker image): configuration from the
 * environment, URLs printed when ready, graceful shutdown on SIGTERM or SIGINT.
 *
 * Signals are handled before startup begins, not only once the agent is ready: as PID 1 of a container
 * a signal without a handler is ignored, so `docker stop` during startup would wait for its SIGKILL
 * (or for ever, if startup hangs on a store it cannot reach). Before the agent is ready a stop request
 * exits at once: nothing has been accepted yet, so there is nothing to flush or commit.
 * One stop request can arrive as several signals (Ctrl-C reaches both npm and the agent, and npm
 * forwards its copy; a service manager may signal every process of the unit), so signals within
 * `repeatedSignalMs` of the first are that request; a later one exits at once.
 *
 * Started by npm (`npm start`, `npx spool serve`), the agent also stops when the process that started
 * it is gone: npm forwards a signal only to its child, and for `npx` that child is a shell, which dies
 * of the signal and leaves the agent to PID 1 with nobody to stop it.
 */
import { startAgent, type Agent } from '../agent.js';
import { loadConfig } from '../config.js';
import { SpoolError } from '../errors.js';
import { jsonLogger } from '../logger.js';

/** Signals this close to the first are the same stop request, not a second one. */
const repeatedSignalMs = 1000;
/** How often a process started by npm checks that its parent is still there. */
const parentCheckMs = 500;

export async function serveFromEnvironment(): Promise<void> {
  const logger = jsonLogger();
  let agent: Agent | undefined;
  let stopRequestedMs: number | undefined;
  const close = (running: Agent) =>
    running.close().then(
      () => {
        logger.log('info', 'stopped cleanly');
        process.exit(0);
      },
      (error) => {
        logger.log('error', 'shutdown failed', { message: String(error) });
        process.exit(1);
      },
    );
  const stop = (reason: string) => {
    if (stopRequestedMs !== undefined) {
      if (Date.now() - stopRequestedMs >= repeatedSignalMs) process.exit(1);
      return;
    }
    stopRequestedMs = Date.now();
    if (!agent) {
      process.stderr.write(`spool: stopped (${reason}) before the agent was ready\n`);
      process.exit(1);
    }
    logger.log('info', 'shutting down: no new requests; flushing and committing what was accepted', { signal: reason });
    void close(agent);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (process.env.npm_command !== undefined) {
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(watch);
      stop('parent exited');
    }, parentCheckMs).unref();
  }

  try {
    const config = loadConfig();
    agent = await startAgent(config, { logger });
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
  } catch (error) {
    const message = error instanceof SpoolError ? `${error.code}: ${error.message}` : String(error);
    process.stderr.write(`spool: could not start: ${message}\n`);
    process.exit(1);
  }
}
