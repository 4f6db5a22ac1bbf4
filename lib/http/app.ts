/**
 * The HTTP API: one hono app on Web Request/Response, served by the Node agent and by the Lambda
 * handler alike, composed here from one sub-app per resource. Routes are declared once with their
 * zod schemas, which both validate requests and generate /openapi.json, and with the access they
 * need (access.ts), which is checked before the request is validated. Every request passes the same
 * middlewares, in this order: request id, metrics and request log, the shutdown gate, authentication,
 * the body limit. Every error leaves through errors.ts, so clients see a stable code and never an
 * internal detail.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { requestId } from 'hono/request-id';
import type { ApiKeys } from '../auth.js';
import type { ClusterStatus } from '../cluster-status.js';
import type { GroupCoordinator } from '../groups/coordinator.js';
import type { Log } from '../log/index.js';
import { QueueRedrive } from '../queues/redrive.js';
import type { QueueService } from '../queues/service.js';
import { jsonLogger, type Logger } from '../logger.js';
import { noMetrics, type Metrics } from '../metrics.js';
import { authenticate, requires } from './access.js';
import { adminRoutes } from './admin.js';
import { clusterRoutes } from './cluster.js';
import { consoleRoutes } from './console.js';
import { groupRoutes } from './groups.js';
import { keyRoutes, meRoutes } from './keys.js';
import { answerError, answerNoRoute, limitBody, newRouter, refuseAfterShutdown, requestMetrics, type AppEnv } from './middleware.js';
import { recordRoutes } from './produce-fetch.js';
import { queueRoutes } from './queues.js';
import { topicRoutes } from './topics.js';

export interface AppOptions {
  readonly log: Log;
  /** Largest request body accepted. @default 16 MiB */
  readonly maxBodyBytes?: number;
  /** Aborted when the server shuts down: long-polls and streams then end at once. */
  readonly shutdown?: AbortSignal;
  readonly logger?: Logger;
  /** Long-poll slice of a server-sent-event stream. @default 15000 */
  readonly streamPollMs?: number;
  /** Consumer groups over the same stores. */
  readonly groups: GroupCoordinator;
  /** Share groups (queues) over the same stores. */
  readonly queues: QueueService;
  /** Whether server-sent-event streams are served (Lambda buffers whole responses: it says no). @default true */
  readonly streaming?: boolean;
  /** Per-route requests, latency, errors and throttles; records and bytes produced and fetched. @default none */
  readonly metrics?: Metrics;
  /** API keys: every request but to routes declared public (/healthz, /openapi.json) needs one with the permission its route declares. @default none (open) */
  readonly auth?: ApiKeys;
  /** Metrics in Prometheus text format, served at GET /metrics (the agent's; lib/metrics-prometheus.ts). @default not served */
  readonly prometheus?: { readonly contentType: string; scrape(): Promise<string> };
  /** The cluster's status, served at GET /v1/cluster (lib/cluster-status.ts). @default not served */
  readonly cluster?: () => Promise<ClusterStatus>;
  /** The console's built bundle, served at /ui (lib/http/console.ts). @default not served */
  readonly consoleDir?: string;
}

export function createApp(options: AppOptions): OpenAPIHono<AppEnv> {
  const logger = options.logger ?? jsonLogger();
  const metrics = options.metrics ?? noMetrics;
  const app = newRouter();
  app.use(requestId());
  app.use(requestMetrics(metrics, logger));
  app.use(refuseAfterShutdown(options.shutdown));
  app.use(authenticate(options.auth));
  app.use(limitBody(options.maxBodyBytes ?? 16 * 1024 * 1024));
  app.onError(answerError(logger));
  app.notFound(answerNoRoute(app.routes));

  const describeApi = () => app.getOpenAPIDocument(openApiInfo);
  app.route('/', publicRoutes(describeApi));
  app.route('/', topicRoutes(options.log));
  app.route('/', recordRoutes({ ...options, metrics, logger }));
  app.route('/', groupRoutes(options.groups, options.shutdown));
  const redrive = new QueueRedrive({ log: options.log, offsets: options.groups, configOf: (group) => options.queues.configOf(group) });
  app.route('/', queueRoutes(options.queues, redrive, options.shutdown));
  if (options.auth) app.route('/', keyRoutes(options.auth));
  app.route('/', meRoutes(options.auth !== undefined));
  app.route('/', adminRoutes(options.log));
  if (options.cluster) app.route('/', clusterRoutes(options.cluster));
  if (options.prometheus) app.route('/', metricsRoutes(options.prometheus));
  if (options.consoleDir !== undefined) app.route('/', consoleRoutes(options.consoleDir));
  return app;
}

const openApiInfo = {
  openapi: '3.0.3',
  info: { title: 'Spool HTTP API', version: '1', description: 'Produce, fetch and administer topics of a Spool log.' },
};

/** What answers without credentials: liveness, and the API's own description. */
function publicRoutes(document: () => unknown) {
  const app = newRouter();
  app.get('/healthz', requires({ public: true }), (c) => c.json({ status: 'ok' }));
  app.get('/openapi.json', requires({ public: true }), (c) => c.json(document()));
  return app;
}

/**
 * Prometheus scrapes: read on every topic (a key with `{"topics": "*", "actions": ["read"]}`),
 * since the metrics name every topic and group and their offsets. Not in /openapi.json: the format is Prometheus's.
 */
function metricsRoutes(prometheus: NonNullable<AppOptions['prometheus']>) {
  const app = newRouter();
  app.get('/metrics', requires({ service: 'read' }), async (c) =>
    c.body(await prometheus.scrape(), 200, { 'content-type': prometheus.contentType }),
  );
  return app;
}
