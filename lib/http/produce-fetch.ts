/**
 * Record routes of the HTTP API: produce (JSON, NDJSON or text lines), fetch (JSON, long-polled with
 * wait_ms, or a server-sent-event stream) and offset lookups, over the Log façade. Producing needs
 * write on the topic, the others read. A stream ends on client disconnect or server shutdown and
 * leaves no listener behind; an error inside it is sent as an `error` event, internal ones as
 * "internal error" only.
 */
import { z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { SpoolError } from '../errors.js';
import type { Log, ProduceRecord } from '../log/index.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { linkedSignal } from '../signals.js';
import { declareRoute } from './access.js';
import { unsupportedMediaType, validationError } from './errors.js';
import { newRouter } from './middleware.js';
import { fromJsonRecords, fromNdjson, fromTextLines, toJsonRecord, type Encoding } from './records.js';
import { errorResponses, json } from './responses.js';
import * as s from './schemas.js';

export interface RecordRoutesOptions {
  readonly log: Log;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Aborted when the server shuts down: long-polls and streams then end at once. */
  readonly shutdown?: AbortSignal;
  /** Long-poll slice of a server-sent-event stream. @default 15000 */
  readonly streamPollMs?: number;
  /** Whether server-sent-event streams are served. @default true */
  readonly streaming?: boolean;
}

export function recordRoutes(options: RecordRoutesOptions) {
  const { log, metrics, logger } = options;
  const app = newRouter();

  app.openapi(
    declareRoute('post', '/v1/topics/{topic}/records', {
      summary: 'Produce records (a JSON batch, NDJSON with one JSON record per line, or text with one value per line)',
      access: { topic: 'write', from: 'param:topic' },
      request: {
        params: s.TopicParams,
        query: s.ProduceQuery,
        body: {
          content: {
            'application/json': { schema: s.ProduceBody },
            'application/x-ndjson': {
              schema: z
                .string()
                .openapi({ description: "one JSON record per line, as in a JSON body's records; lines of only whitespace are skipped" }),
            },
            'text/plain': {
              schema: z
                .string()
                .openapi({ description: 'one record value per line, UTF-8, as a console producer sends; empty lines are skipped' }),
            },
          },
          required: false,
        },
      },
      responses: { 200: json(s.ProduceOut, 'offsets, in request order'), ...errorResponses(400, 404, 413, 415, 429, 503) },
    }),
    async (c) => {
      const { topic } = c.req.valid('param');
      const query = c.req.valid('query');
      const contentType = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      let records: ProduceRecord[];
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
      metrics.emit(
        {
          RecordsProduced: [records.length, 'Count'],
          BytesProduced: [records.reduce((sum, r) => sum + (r.value?.length ?? 0) + (r.key?.length ?? 0), 0), 'Bytes'],
        },
        {},
        { topic },
      );
      return c.json({ offsets }, 200);
    },
  );

  app.openapi(
    declareRoute('get', '/v1/topics/{topic}/partitions/{partition}/records', {
      summary: 'Fetch records from an offset (JSON), or stream them (Accept: text/event-stream)',
      access: { topic: 'read', from: 'param:topic' },
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
      const query = c.req.valid('query');
      const encoding: Encoding = query.encoding ?? 'utf8';
      const fetchOptions = { maxRecords: query.max_records, maxBytes: query.max_bytes, isolation: query.isolation };
      if ((c.req.header('accept') ?? '').includes('text/event-stream')) {
        if (options.streaming === false) {
          throw new SpoolError(
            'NOT_ACCEPTABLE',
            'server-sent events need the agent (this deployment buffers responses); ask for application/json and long-poll with wait_ms',
          );
        }
        const lastEventId = c.req.header('last-event-id');
        if (lastEventId !== undefined && !/^\d{1,16}$/.test(lastEventId)) {
          throw new SpoolError(
            'INVALID_ARGUMENT',
            `Last-Event-ID must be the offset of the last record received (an event id), got ${JSON.stringify(lastEventId.slice(0, 64))}`,
            {
              details: { field: 'Last-Event-ID' },
            },
          );
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
              const result = await log.fetch(topic, partition, offset, {
                ...fetchOptions,
                waitMs: options.streamPollMs ?? 15_000,
                signal: stop,
              });
              for (const record of result.records) {
                await stream.writeSSE({ id: String(record.offset), event: 'record', data: JSON.stringify(toJsonRecord(record, encoding)) });
              }
              if (result.records.length === 0 && !stop.aborted) await stream.write(': waiting\n\n');
              offset = result.nextOffset;
            }
          } catch (error) {
            const known = error instanceof SpoolError && error.code !== 'INTERNAL' ? error : new SpoolError('INTERNAL', 'internal error');
            if (!(error instanceof SpoolError))
              logger.log('error', 'stream failed', { request_id: c.get('requestId'), message: String(error) });
            await stream.writeSSE({ event: 'error', data: JSON.stringify({ error: { code: known.code, message: known.message } }) });
          } finally {
            linked.dispose();
          }
        });
      }
      const offset = await resolveOffset(log, topic, partition, query.offset);
      const result = await log.fetch(topic, partition, offset, { ...fetchOptions, waitMs: query.wait_ms, signal: options.shutdown });
      metrics.emit(
        {
          RecordsFetched: [result.records.length, 'Count'],
          BytesFetched: [result.records.reduce((sum, r) => sum + (r.value?.length ?? 0) + (r.key?.length ?? 0), 0), 'Bytes'],
        },
        {},
        { topic, partition },
      );
      return c.json(
        {
          records: result.records.map((r) => toJsonRecord(r, encoding)),
          next_offset: result.nextOffset,
          high_watermark: result.highWatermark,
        },
        200,
      );
    },
  );

  app.openapi(
    declareRoute('get', '/v1/topics/{topic}/partitions/{partition}/offsets', {
      summary: 'Offset for a timestamp, or the earliest / latest offset, or the record with the largest timestamp',
      access: { topic: 'read', from: 'param:topic' },
      request: { params: s.PartitionParams, query: s.OffsetsQuery },
      responses: { 200: json(s.OffsetOut, 'the offset'), ...errorResponses(400, 404) },
    }),
    async (c) => {
      const { topic, partition } = c.req.valid('param');
      const { timestamp } = c.req.valid('query');
      const query =
        timestamp === 'earliest' || timestamp === 'latest'
          ? timestamp
          : timestamp === 'max_timestamp'
            ? 'max-timestamp'
            : { timestampMs: Number(timestamp) };
      const found = await log.listOffset(topic, partition, query);
      return c.json({ offset: found?.offset ?? null, timestamp: found && found.timestampMs >= 0 ? found.timestampMs : null }, 200);
    },
  );

  return app;
}

async function resolveOffset(log: Log, topic: string, partition: number, offset: string | undefined): Promise<number> {
  if (offset === undefined || offset === 'earliest' || offset === 'latest')
    return (await log.listOffset(topic, partition, offset ?? 'earliest'))!.offset;
  const value = Number(offset);
  if (!Number.isSafeInteger(value))
    throw new SpoolError('INVALID_ARGUMENT', `offset: expected a safe integer, got ${JSON.stringify(offset)}`, {
      details: { field: 'offset' },
    });
  return value;
}
