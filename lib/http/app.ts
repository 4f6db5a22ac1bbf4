/**
 * The HTTP API: one hono app on Web Request/Response, served by the Node agent and by the Lambda
 * handler alike. Routes are declared once with their zod schemas, which both validate requests and
 * generate /openapi.json. Handlers translate between JSON and the engine; every error leaves through
 * errors.ts, so clients see a stable code and never an internal detail.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { streamSSE } from 'hono/streaming';
import { SpoolError } from '../errors.js';
import { topicConfigKeys, type Log, type TopicConfig, type TopicItem } from '../log/index.js';
import { jsonLogger, type Logger } from '../logger.js';
import { noMetrics, type Metrics } from '../metrics.js';
import { errorResponse, handleError, unsupportedMediaType, validationError } from './errors.js';
import { fromJsonRecords, fromNdjson, fromTextLines, toJsonRecord, type Encoding } from './records.js';
import * as s from './schemas.js';
import { errorResponses, json } from './responses.js';
import type { GroupCoordinator } from '../groups/coordinator.js';
import { registerGroupRoutes } from './groups.js';
import { registerKeyRoutes } from './keys.js';
import { allows, allowsGroup, type Action, type ApiKeys, type GroupAction, type Principal } from '../auth.js';
import { linkedSignal } from '../signals.js';

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
  /** Whether server-sent-event streams are served (Lambda buffers whole responses: it says no). @default true */
  readonly streaming?: boolean;
  /** Per-route requests, latency, errors and throttles; records and bytes produced and fetched. @default none */
  readonly metrics?: Metrics;
  /** API keys: every request but /healthz and /openapi.json must carry one with the permission it needs. @default none (open) */
  readonly auth?: ApiKeys;
}

/** Checks the request's principal may do `action` on `topic` (or on the whole service); open when auth is off. */
export type Authorize = (c: Context<AppEnv>, action: Action, topic?: string) => void;

/** Checks the request's principal may do `action` on the consumer group `group`; open when auth is off. */
export type AuthorizeGroup = (c: Context<AppEnv>, action: GroupAction, group: string) => void;

export type AppEnv = { Variables: { requestId: string; principal: Principal | undefined } };

export function createApp(options: AppOptions): OpenAPIHono<AppEnv> {
  const { log } = options;
  const logger = options.logger ?? jsonLogger();
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target, (result as { data?: unknown }).data);
    },
  });

  app.use(requestId());
  const metrics = options.metrics ?? noMetrics;
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const status = c.res.status;
    metrics.emit(
      {
        Requests: [1, 'Count'],
        Latency: [performance.now() - started, 'Milliseconds'],
        Errors: [status >= 500 && status !== 503 ? 1 : 0, 'Count'],
        ClientErrors: [status >= 400 && status < 500 && status !== 429 ? 1 : 0, 'Count'],
        Throttles: [status === 429 || status === 503 ? 1 : 0, 'Count'],
      },
      { Route: `${c.req.method} ${c.req.routePath}` },
      { request_id: c.get('requestId'), status },
    );
    logger.log('debug', 'request', { request_id: c.get('requestId'), method: c.req.method, route: c.req.routePath, status, duration_ms: Math.round(performance.now() - started) });
  });
  // Once shutdown has begun, new requests (even on kept-alive connections) are turned away.
  app.use(async (c, next) => {
    if (options.shutdown?.aborted) {
      c.header('Connection', 'close');
      return errorResponse(c, new SpoolError('SHUTTING_DOWN', 'the server is shutting down; retry against another instance'));
    }
    await next();
  });
  // Who is asking: resolved once per request from the bearer token, before any body is read.
  app.use(async (c, next) => {
    const path = new URL(c.req.url).pathname;
    if (options.auth && path !== '/healthz' && path !== '/openapi.json') {
      const header = c.req.header('authorization') ?? '';
      c.set('principal', await options.auth.authenticate(/^Bearer /i.test(header) ? header.slice(7).trim() : undefined));
    }
    await next();
  });
  const authorize: Authorize = (c, action, topic) => {
    const principal = c.get('principal');
    if (!options.auth || !principal) return;
    if (!allows(principal, action, topic)) {
      throw new SpoolError('FORBIDDEN', `API key ${principal.name} may not ${action} ${topic === undefined ? 'the service' : `topic ${topic}`}`);
    }
  };
  const authorizeGroup: AuthorizeGroup = (c, action, group) => {
    const principal = c.get('principal');
    if (!options.auth || !principal) return;
    if (!allowsGroup(principal, action, group)) throw new SpoolError('FORBIDDEN', `API key ${principal.name} may not ${action} group ${group}`);
  };
  // Every body, on every route, is bounded.
  app.use(bodyLimit({ maxSize: maxBodyBytes, onError: (c) => tooLarge(c, maxBodyBytes) }));
  app.onError((error, c) => handleError(error, c, (message, fields) => logger.log('error', message, { request_id: c.get('requestId'), ...fields })));
  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    // A path served with other methods: 405 with Allow, as HTTP says.
    const allowed = allowedMethods(app.routes, path);
    if (allowed.length > 0) {
      c.header('Allow', allowed.join(', '));
      return errorResponse(c, new SpoolError('METHOD_NOT_ALLOWED', `${path} takes ${allowed.join(', ')}, got ${c.req.method}`, { details: { allow: allowed } }));
    }
    return errorResponse(c, new SpoolError('ROUTE_NOT_FOUND', `no route for ${c.req.method} ${path}`));
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.doc('/openapi.json', {
    openapi: '3.0.3',
    info: { title: 'Spool HTTP API', version: '1', description: 'Produce, fetch and administer topics of a Spool log.' },
  });

  // ---- topics ---------------------------------------------------------------------------------------

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/topics',
      summary: 'Create a topic',
      request: { body: { content: { 'application/json': { schema: s.CreateTopicBody } }, required: true } },
      responses: { 201: json(s.TopicOut, 'created'), ...errorResponses(400, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      authorize(c, 'admin', body.name);
      const topic = await log.createTopic(body.name, body.partitions, toTopicConfig(body.config));
      return c.json(topicOut(topic), 201);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/v1/topics', summary: 'List topics', responses: { 200: json(s.TopicListOut, 'topics') } }),
    async (c) => {
      const readable = (await log.listTopics()).filter((t) => readableBy(c.get('principal'), t.name));
      return c.json({ topics: readable.map((t) => ({ name: t.name, partitions: t.partitions })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics/{topic}',
      summary: 'Describe a topic: its partitions’ offsets and its config',
      request: { params: s.TopicParams },
      responses: { 200: json(s.TopicDescriptionOut, 'the topic'), ...errorResponses(404) },
    }),
    async (c) => {
      authorize(c, 'read', c.req.valid('param').topic);
      const { topic, partitions } = await log.describeTopic(c.req.valid('param').topic);
      return c.json(
        {
          name: topic.name,
          partitions: partitions.map((p) => ({ partition: p.partition, earliest_offset: p.logStartOffset, high_watermark: p.nextOffset })),
          config: configOut(topic.config),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/topics/{topic}',
      summary: 'Add partitions or change config',
      request: { params: s.TopicParams, body: { content: { 'application/json': { schema: s.AlterTopicBody } }, required: true } },
      responses: { 200: json(s.TopicOut, 'the topic as changed'), ...errorResponses(400, 404, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      authorize(c, 'admin', c.req.valid('param').topic);
      const topic = await log.alterTopic(c.req.valid('param').topic, { partitions: body.partitions, config: toTopicConfig(body.config) });
      return c.json(topicOut(topic), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/topics/{topic}',
      summary: 'Delete a topic and its records',
      request: { params: s.TopicParams },
      responses: { 204: { description: 'deleted' }, ...errorResponses(404) },
    }),
    async (c) => {
      authorize(c, 'admin', c.req.valid('param').topic);
      await log.deleteTopic(c.req.valid('param').topic);
      return c.body(null, 204);
    },
  );

  // ---- records --------------------------------------------------------------------------------------

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/topics/{topic}/records',
      summary: 'Produce records (a JSON batch, NDJSON with one JSON record per line, or text with one value per line)',
      request: {
        params: s.TopicParams,
        query: s.ProduceQuery,
        body: {
          content: {
            'application/json': { schema: s.ProduceBody },
            'application/x-ndjson': { schema: z.string().openapi({ description: 'one JSON record per line, as in a JSON body\'s records; lines of only whitespace are skipped' }) },
            'text/plain': { schema: z.string().openapi({ description: 'one record value per line, UTF-8, as a console producer sends; empty lines are skipped' }) },
          },
          required: false,
        },
      },
      responses: { 200: json(s.ProduceOut, 'offsets, in request order'), ...errorResponses(400, 404, 413, 415, 429, 503) },
    }),
    async (c) => {
      const { topic } = c.req.valid('param');
      authorize(c, 'write', topic);
      const query = c.req.valid('query');
      const contentType = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      let records;
      if (/^application\/([a-z.-]+\+)?json$/.test(contentType)) {
        // The json validator ran (content-type is JSON), so the body has the ProduceBody shape.
        const body = c.req.valid('json') as z.infer<typeof s.ProduceBody>;
        records = fromJsonRecords(body.records, body.encoding ?? 'utf8');
      } else if (contentType === 'application/x-ndjson') {
        records = fromNdjson(await c.req.text(), query.encoding ?? 'utf8', query.partition, (record, field) => {
          const checked = s.RecordIn.safeParse(record);
          if (!checked.success) throw validationError(checked.error, field, record, field);
          return checked.data;
        });
      } else if (contentType === 'text/plain') {
        records = fromTextLines(await c.req.text(), query.key_separator, query.partition);
      } else {
        throw unsupportedMediaType(c.req.header('content-type'));
      }
      const acks = query.acks === undefined || query.acks === 'all' ? 'all' : query.acks === '1' ? 1 : 0;
      const offsets = await log.produce(topic, records, { acks });
      metrics.emit({ RecordsProduced: [records.length, 'Count'], BytesProduced: [records.reduce((sum, r) => sum + (r.value?.length ?? 0) + (r.key?.length ?? 0), 0), 'Bytes'] }, {}, { topic });
      return c.json({ offsets }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics/{topic}/partitions/{partition}/records',
      summary: 'Fetch records from an offset (JSON), or stream them (Accept: text/event-stream)',
      request: { params: s.PartitionParams, query: s.FetchQuery },
      responses: {
        200: {
          description: 'records; as server-sent events, each record is an event whose id is its offset',
          content: { 'application/json': { schema: s.FetchOut }, 'text/event-stream': { schema: z.string() } },
        },
        ...errorResponses(400, 404, 416),
      },
    }),
    async (c) => {
      const { topic, partition } = c.req.valid('param');
      authorize(c, 'read', topic);
      const query = c.req.valid('query');
      const encoding: Encoding = query.encoding ?? 'utf8';
      const fetchOptions = { maxRecords: query.max_records, maxBytes: query.max_bytes };
      if ((c.req.header('accept') ?? '').includes('text/event-stream')) {
        if (options.streaming === false) {
          throw new SpoolError('NOT_ACCEPTABLE', 'server-sent events need the agent (this deployment buffers responses); ask for application/json and long-poll with wait_ms');
        }
        const lastEventId = c.req.header('last-event-id');
        if (lastEventId !== undefined && !/^\d{1,16}$/.test(lastEventId)) {
          throw new SpoolError('INVALID_ARGUMENT', `Last-Event-ID must be the offset of the last record received (an event id), got ${JSON.stringify(lastEventId.slice(0, 64))}`, {
            details: { field: 'Last-Event-ID' },
          });
        }
        let offset = lastEventId !== undefined ? Number(lastEventId) + 1 : await resolveOffset(log, topic, partition, query.offset);
        // Fail before the stream starts, so a bad offset is a plain 416.
        await log.fetch(topic, partition, offset, { ...fetchOptions, maxRecords: 1 });
        return streamSSE(c, async (stream) => {
          const closed = new AbortController();
          stream.onAbort(() => closed.abort());
          // Ends on client disconnect or server shutdown, without leaving listeners behind.
          const linked = linkedSignal([closed.signal, options.shutdown]);
          const stop = linked.signal;
          try {
            while (!stop.aborted) {
              const result = await log.fetch(topic, partition, offset, { ...fetchOptions, waitMs: options.streamPollMs ?? 15_000, signal: stop });
              for (const record of result.records) {
                await stream.writeSSE({ id: String(record.offset), event: 'record', data: JSON.stringify(toJsonRecord(record, encoding)) });
              }
              if (result.records.length === 0 && !stop.aborted) await stream.write(': waiting\n\n');
              offset = result.nextOffset;
            }
          } catch (error) {
            const known = error instanceof SpoolError && error.code !== 'INTERNAL' ? error : new SpoolError('INTERNAL', 'internal error');
            if (!(error instanceof SpoolError)) logger.log('error', 'stream failed', { request_id: c.get('requestId'), message: String(error) });
            await stream.writeSSE({ event: 'error', data: JSON.stringify({ error: { code: known.code, message: known.message } }) });
          } finally {
            linked.dispose();
          }
        });
      }
      const offset = await resolveOffset(log, topic, partition, query.offset);
      const result = await log.fetch(topic, partition, offset, { ...fetchOptions, waitMs: query.wait_ms, signal: options.shutdown });
      metrics.emit({ RecordsFetched: [result.records.length, 'Count'] }, {}, { topic, partition });
      return c.json(
        { records: result.records.map((r) => toJsonRecord(r, encoding)), next_offset: result.nextOffset, high_watermark: result.highWatermark },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics/{topic}/partitions/{partition}/offsets',
      summary: 'Offset for a timestamp, or the earliest / latest offset, or the record with the largest timestamp',
      request: { params: s.PartitionParams, query: s.OffsetsQuery },
      responses: { 200: json(s.OffsetOut, 'the offset'), ...errorResponses(400, 404) },
    }),
    async (c) => {
      const { topic, partition } = c.req.valid('param');
      authorize(c, 'read', topic);
      const { timestamp } = c.req.valid('query');
      const query = timestamp === 'earliest' || timestamp === 'latest' ? timestamp : timestamp === 'max_timestamp' ? 'max-timestamp' : { timestampMs: Number(timestamp) };
      const found = await log.listOffset(topic, partition, query);
      return c.json({ offset: found?.offset ?? null, timestamp: found && found.timestampMs >= 0 ? found.timestampMs : null }, 200);
    },
  );

  registerGroupRoutes(app, options.groups, { shutdown: options.shutdown, authorize, authorizeGroup, readable: (c, group) => readableGroup(c.get('principal'), group) });
  if (options.auth) registerKeyRoutes(app, options.auth, authorize);

  // ---- admin ----------------------------------------------------------------------------------------

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/maintenance',
      summary: 'Run one maintenance pass now (compaction, retention, garbage collection) and report it',
      responses: { 200: json(s.MaintenanceOut, 'what the pass did, and objects and rows before and after'), ...errorResponses(503) },
    }),
    async (c) => {
      authorize(c, 'admin');
      return c.json(await log.runMaintenance(), 200);
    },
  );

  return app;
}

function readableBy(principal: Principal | undefined, topic: string): boolean {
  return principal === undefined || allows(principal, 'read', topic);
}

function readableGroup(principal: Principal | undefined, group: string): boolean {
  return principal === undefined || allowsGroup(principal, 'describe', group);
}

async function resolveOffset(log: Log, topic: string, partition: number, offset: string | undefined): Promise<number> {
  if (offset === undefined || offset === 'earliest' || offset === 'latest') return (await log.listOffset(topic, partition, offset ?? 'earliest'))!.offset;
  const value = Number(offset);
  if (!Number.isSafeInteger(value)) throw new SpoolError('INVALID_ARGUMENT', `offset: expected a safe integer, got ${JSON.stringify(offset)}`, { details: { field: 'offset' } });
  return value;
}

function tooLarge(c: Context, maxBytes: number): Response {
  return errorResponse(c, new SpoolError('PAYLOAD_TOO_LARGE', `request body must be at most ${maxBytes} bytes`, { details: { max_bytes: maxBytes } }));
}

function toTopicConfig(config: z.infer<typeof s.TopicConfigBody> | undefined): Partial<TopicConfig> {
  const out: Record<string, unknown> = {};
  for (const key of topicConfigKeys) if (config?.[s.configField(key)] !== undefined) out[key] = config[s.configField(key)];
  return out as Partial<TopicConfig>;
}

function configOut(config: TopicConfig) {
  return Object.fromEntries(topicConfigKeys.map((key) => [s.configField(key), config[key]]));
}

function topicOut(topic: TopicItem) {
  return { name: topic.name, partitions: topic.partitions, config: configOut(topic.config) };
}

/** The methods the app serves `path` with (route patterns such as /v1/topics/:topic matched segment by segment). */
function allowedMethods(routes: readonly { readonly method: string; readonly path: string }[], path: string): string[] {
  const segments = path.split('/');
  const matches = (pattern: string) => {
    const parts = pattern.split('/');
    return parts.length === segments.length && parts.every((part, i) => part.startsWith(':') ? segments[i] !== '' : part === segments[i]);
  };
  const methods = new Set(routes.filter((route) => route.method !== 'ALL' && matches(route.path)).map((route) => route.method));
  return [...methods].sort();
}
