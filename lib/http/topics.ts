/**
 * Topic routes of the HTTP API: create, list, describe, alter and delete, over the Log façade.
 * Config travels as Kafka's keys with "." spelled "_" (schemas.ts); the engine checks the values.
 * Creating, altering and deleting need admin on the topic; describing, read; the list holds only the
 * topics the key may read. Deleting records (Kafka's DeleteRecords) raises a partition's earliest offset
 * and needs admin.
 */
import { z } from '@hono/zod-openapi';
import { topicConfigKeys, type Log, type TopicConfig, type TopicItem } from '../log/index.js';
import { SpoolError } from '../errors.js';
import { declareRoute, permitted } from './access.js';
import { newRouter } from './middleware.js';
import { errorResponses, json } from './responses.js';
import * as s from './schemas.js';

export function topicRoutes(log: Log) {
  const app = newRouter();

  app.openapi(
    declareRoute('post', '/v1/topics', {
      summary: 'Create a topic',
      access: { topic: 'admin', from: 'body:name' },
      request: { body: { content: { 'application/json': { schema: s.CreateTopicBody } }, required: true } },
      responses: { 201: json(s.TopicOut, 'created'), ...errorResponses(400, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const topic = await log.createTopic(body.name, body.partitions, toTopicConfig(body.config));
      return c.json(topicOut(topic), 201);
    },
  );

  app.openapi(
    declareRoute('get', '/v1/topics', {
      summary: 'List topics',
      access: { topic: 'read', from: 'listed' },
      responses: { 200: json(s.TopicListOut, 'topics') },
    }),
    async (c) => {
      // The stored bytes are an extra: a failed read of them leaves them null, not the list failed.
      const [topics, report] = await Promise.all([log.listTopics(), log.maintenanceReport().catch(() => undefined)]);
      const readable = topics.filter((t) => permitted(c, { topic: 'read' }, t.name));
      // null for a topic the last pass did not count: made since, or among the smallest it left out
      const storedBytes = (name: string) => report?.topicBytes[name] ?? null;
      return c.json({ topics: readable.map((t) => ({ ...topicOut(t), stored_bytes: storedBytes(t.name) })) }, 200);
    },
  );

  app.openapi(
    declareRoute('get', '/v1/topics/{topic}', {
      summary: 'Describe a topic: its partitions’ offsets and its config',
      access: { topic: 'read', from: 'param:topic' },
      request: { params: s.TopicParams },
      responses: { 200: json(s.TopicDescriptionOut, 'the topic'), ...errorResponses(404) },
    }),
    async (c) => {
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
    declareRoute('patch', '/v1/topics/{topic}', {
      summary: 'Add partitions or change config',
      access: { topic: 'admin', from: 'param:topic' },
      request: { params: s.TopicParams, body: { content: { 'application/json': { schema: s.AlterTopicBody } }, required: true } },
      responses: { 200: json(s.TopicOut, 'the topic as changed'), ...errorResponses(400, 404, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const topic = await log.alterTopic(c.req.valid('param').topic, { partitions: body.partitions, config: toTopicConfig(body.config) });
      return c.json(topicOut(topic), 200);
    },
  );

  app.openapi(
    declareRoute('delete', '/v1/topics/{topic}', {
      summary: 'Delete a topic and its records',
      access: { topic: 'admin', from: 'param:topic' },
      request: { params: s.TopicParams },
      responses: { 204: { description: 'deleted' }, ...errorResponses(404) },
    }),
    async (c) => {
      await log.deleteTopic(c.req.valid('param').topic);
      return c.body(null, 204);
    },
  );

  app.openapi(
    declareRoute('get', '/v1/topics/{topic}/activity', {
      summary: 'Records and bytes committed per time step, from the partitions’ rows (no record is read)',
      access: { topic: 'read', from: 'param:topic' },
      request: { params: s.TopicParams, query: ActivityQuery },
      responses: { 200: json(ActivityOut, 'the topic’s activity'), ...errorResponses(400, 404) },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const stepMs = (query.step_seconds ?? 60) * 1000;
      const windowMs = (query.minutes ?? 60) * 60_000;
      const steps = Math.ceil(windowMs / stepMs);
      if (steps > maxActivitySteps)
        throw new SpoolError('INVALID_ARGUMENT', `expected at most ${maxActivitySteps} steps (minutes × 60 / step_seconds), got ${steps}`, {
          details: { field: 'step_seconds' },
        });
      // Steps end at the next step boundary after now: the last one is still filling.
      const toMs = Math.ceil((Date.now() + 1) / stepMs) * stepMs;
      const activity = await log.topicActivity(c.req.valid('param').topic, {
        fromMs: toMs - steps * stepMs,
        stepMs,
        steps,
        maxPartitions: maxActivityPartitions,
      });
      return c.json(
        {
          from_ms: activity.fromMs,
          step_ms: activity.stepMs,
          records: activity.records.map(thousandths),
          bytes: activity.bytes.map(thousandths),
          partitions: activity.partitions,
          partitions_read: activity.partitionsRead,
        },
        200,
      );
    },
  );

  app.openapi(
    declareRoute('post', '/v1/topics/{topic}/partitions/{partition}/delete-records', {
      summary: 'Delete the records before an offset: raise the partition’s earliest offset (Kafka’s DeleteRecords)',
      access: { topic: 'admin', from: 'param:topic' },
      request: {
        params: s.PartitionParams,
        body: { content: { 'application/json': { schema: DeleteRecordsBody } }, required: true },
      },
      responses: { 200: json(DeleteRecordsOut, 'the earliest offset now'), ...errorResponses(400, 404, 416) },
    }),
    async (c) => {
      const { topic, partition } = c.req.valid('param');
      const { before_offset } = c.req.valid('json');
      const before = before_offset === 'high_watermark' ? 'high-watermark' : before_offset;
      const { logStartOffset } = await log.deleteRecordsBefore(topic, partition, before);
      return c.json({ earliest_offset: logStartOffset }, 200);
    },
  );

  return app;
}

/** Steps one activity answer holds, and partitions whose rows it reads (one query each). */
const maxActivitySteps = 1440;
const maxActivityPartitions = 256;

/** Fractions of a record or byte kept, so that the steps of a quiet topic still add up. */
const thousandths = (n: number) => Math.round(n * 1000) / 1000;

const ActivityQuery = z.object({
  minutes: s
    .digits(1, 7 * 24 * 60)
    .optional()
    .openapi({ description: 'how far back, up to a week (default 60)' }),
  step_seconds: s.digits(1, 86_400).optional().openapi({ description: 'the step (default 60); at most 1,440 steps' }),
});

const ActivityOut = z
  .object({
    from_ms: z.number().int().openapi({ description: 'start of the first step' }),
    step_ms: z.number().int(),
    records: z.array(z.number()).openapi({
      description: 'records committed in each step; a compacted row’s spread evenly over the commits it merged, so fractions occur',
    }),
    bytes: z.array(z.number()).openapi({ description: 'bytes stored (compressed batches) committed in each step' }),
    partitions: z.number().int(),
    partitions_read: z.number().int().openapi({ description: 'the first 256 partitions are counted' }),
  })
  .openapi('TopicActivity');

const DeleteRecordsBody = z
  .object({
    before_offset: z
      .union([z.number().int().min(0), z.literal('high_watermark')])
      .openapi({ description: 'records at offsets below this are deleted; "high_watermark" deletes every record', example: 100 }),
  })
  .openapi('DeleteRecords');

const DeleteRecordsOut = z
  .object({ earliest_offset: z.number().int().openapi({ description: 'the first offset still readable (never lowered)' }) })
  .openapi('DeleteRecordsResult');

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
