/**
 * The agent: a long-running process serving, over one engine, the HTTP API on Node and the Kafka
 * protocol on its own port (lib/kafka). Shutdown is graceful: stop accepting connections, end
 * long-polls and streams, let requests in flight finish, flush and commit what was accepted, release
 * leases, close stores.
 */
import { clusterStatusSource } from './cluster-status.js';
import { CostMeter } from './cost.js';
import { defaultConsoleDir } from './http/console.js';
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { SpoolConfig } from './config.js';
import { createApp } from './http/app.js';
import { emitGroupLag } from './groups/metrics.js';
import { jsonLogger, type Logger } from './logger.js';
import { prometheusMetrics } from './metrics-prometheus.js';
import { openRuntime, type Runtime } from './runtime.js';
import { instrumentStores } from './storage/instrumented.js';
import { startKafkaListener, type KafkaListener } from './kafka/broker.js';

export interface Agent {
  readonly runtime: Runtime;
  /** Base URL of the HTTP API. */
  readonly httpUrl: string;
  /** host:port for Kafka clients' bootstrap.servers; undefined with the listener off. */
  readonly kafkaBootstrap: string | undefined;
  /** Graceful shutdown; safe to call more than once. */
  close(): Promise<void>;
}

/** How long requests in flight may take to finish once shutdown begins. */
const shutdownGraceMs = 5000;

export async function startAgent(config: SpoolConfig, options: { logger?: Logger; runtime?: Runtime } = {}): Promise<Agent> {
  const logger = options.logger ?? jsonLogger();
  // Prometheus at GET /metrics; EMF too when SPOOL_METRICS=emf. A runtime handed in keeps its own metrics and stores.
  const prometheus = prometheusMetrics({ lagCacheMs: config.metricsLagCacheMs });
  // The storage calls this agent makes, priced, for the console's cluster page (a runtime handed in is not counted).
  const cost = options.runtime ? undefined : new CostMeter();
  const runtime =
    options.runtime ??
    (await openRuntime(config, {
      log: { logger },
      metrics: prometheus,
      stores: (stores) =>
        instrumentStores(stores, (call) => {
          prometheus.observeStoreCall(call);
          cost?.observe(call);
        }),
    }));
  const shutdown = new AbortController();
  const { groups } = runtime;
  prometheus.watch({ log: runtime.log, groups });
  const app = createApp({
    log: runtime.log,
    shutdown: shutdown.signal,
    logger,
    maxBodyBytes: config.httpMaxBodyBytes,
    metrics: runtime.metrics,
    groups,
    queues: runtime.queues,
    auth: runtime.auth,
    prometheus,
    cluster: clusterStatusSource({ log: runtime.log, metadata: runtime.stores.metadata, cost }),
    consoleDir: defaultConsoleDir(),
  });
  const server = await new Promise<ServerType>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, hostname: config.host, port: config.httpPort }, () => resolve(started));
    started.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  let kafka: KafkaListener | undefined;
  if (config.kafkaPort >= 0) {
    kafka = await startKafkaListener({
      log: runtime.log,
      metadata: runtime.stores.metadata,
      queues: runtime.queues,
      logger,
      metrics: runtime.metrics,
      host: config.host,
      port: config.kafkaPort,
      advertisedHost: config.kafkaAdvertisedHost,
      advertisedPort: config.kafkaAdvertisedPort,
      maxRequestBytes: config.kafkaMaxRequestBytes,
      maxBufferedBytes: config.kafkaMaxBufferedBytes,
      apiKeys: runtime.auth,
      groups,
      groupTimeouts: { initialRebalanceDelayMs: config.kafkaInitialRebalanceDelayMs },
      groupMigrationPolicy: config.kafkaGroupMigrationPolicy,
      initialFeatures: config.initialFeatures,
    }).catch(async (error) => {
      await new Promise((resolve) => server.close(resolve));
      throw error;
    });
  }
  // Maintenance in the background; a pass never overlaps another (Maintenance.run joins a running one).
  const maintenance =
    config.maintenanceIntervalMs > 0
      ? setInterval(() => {
          runtime.log
            .runMaintenance()
            .then(() => emitGroupLag(groups, runtime.metrics))
            .catch((error) => logger.log('error', 'maintenance pass failed', { message: String(error) }));
        }, config.maintenanceIntervalMs).unref()
      : undefined;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let closing: Promise<void> | undefined;
  return {
    runtime,
    httpUrl: `http://${host}:${port}`,
    kafkaBootstrap: kafka?.bootstrap,
    close: () =>
      (closing ??= (async () => {
        shutdown.abort();
        clearInterval(maintenance);
        const kafkaClosed = kafka?.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          const http = server as { closeIdleConnections?: () => void; closeAllConnections?: () => void };
          http.closeIdleConnections?.();
          // Requests still open after the grace period (a slow client, a stream) are cut.
          setTimeout(() => http.closeAllConnections?.(), shutdownGraceMs).unref();
        });
        await kafkaClosed;
        await runtime.close();
      })()),
  };
}
