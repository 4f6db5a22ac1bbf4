/**
 * Queue routes of the HTTP API, over lib/queues: receive records with a lock, acknowledge them one
 * by one (by receipt or offset range), extend a lock, describe, configure and delete a share
 * group, and redrive its dead letters (lib/queues/redrive.ts). Permissions as Kafka's for share
 * groups: receiving and settling need read on the group and on the topic; describing needs describe
 * on the group and read on its topics; deleting, delete; settings are the service admin's (Kafka
 * asks ALTER_CONFIGS on the group, which Spool's keys do not grant separately). A redrive consumes
 * the dead-letter topic as a consumer group and produces to the source topics: read on the share
 * group, on the dead-letter topic and on the position's group (`spool-redrive.<group>`), and write
 * on each topic it sends records back to.
 */
import type { Context } from 'hono';
import { SpoolError } from '../errors.js';
import type { Encoding } from './records.js';
import { type QueueRedrive, redriveGroupOf } from '../queues/redrive.js';
import { type QueueAck, type QueueService, decodeReceipt } from '../queues/service.js';
import type { ShareGroupConfig } from '../queues/config.js';
import { linkedSignal } from '../signals.js';
import { declareRoute, requireGroup, requireTopics } from './access.js';
import { type AppEnv, newRouter } from './middleware.js';
import { toJsonRecord } from './records.js';
import { errorResponses as errors, json } from './responses.js';
import * as s from './schemas.js';

type Target = { receipt: string } | { holder: string; partition: number; first_offset: number; last_offset?: number | undefined };

export function queueRoutes(queues: QueueService, redrive: QueueRedrive, shutdown: AbortSignal | undefined) {
  const app = newRouter();

  app.openapi(
    declareRoute('post', '/v1/queues/{group}/topics/{topic}/receive', {
      summary: 'Receive records, each locked to this receive until acknowledged or its visibility ends',
      access: { group: 'read', from: 'param:group' },
      request: { params: s.QueueParams, body: { content: { 'application/json': { schema: s.ReceiveBody } }, required: true } },
      responses: { 200: json(s.ReceiveOut, 'records'), ...errors(400, 404) },
    }),
    async (c) => {
      const { group, topic } = params(c);
      const body = c.req.valid('json');
      const stop = linkedSignal([c.req.raw.signal, shutdown]);
      const received = await queues
        .receive(group, topic, { maxRecords: body.max_records, lockMs: body.visibility_ms, waitMs: body.wait_ms, signal: stop.signal })
        .finally(() => stop.dispose());
      const encoding: Encoding = body.encoding ?? 'utf8';
      return c.json(
        {
          holder: received.holder,
          records: received.records.map((r) => ({
            partition: r.partition,
            ...toJsonRecord(r, encoding),
            delivery_count: r.deliveryCount,
            receipt: r.receipt,
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    declareRoute('post', '/v1/queues/{group}/topics/{topic}/ack', {
      summary: 'Settle received records: accept, release (deliver again) or reject (dead); answers per entry',
      access: { group: 'read', from: 'param:group' },
      request: { params: s.QueueParams, body: { content: { 'application/json': { schema: s.AckBody } }, required: true } },
      responses: { 200: json(s.AckOut, 'a result per entry, in order'), ...errors(400, 404) },
    }),
    async (c) => {
      const { group, topic } = params(c);
      const acks = c.req.valid('json').acks.map((entry, index) => {
        const type = entry.outcome ?? 'accept';
        if (entry.error !== undefined && type !== 'reject')
          throw new SpoolError('INVALID_ARGUMENT', `acks[${index}].error: only a reject carries an error; got outcome ${type}`, {
            details: { field: `acks[${index}].error` },
          });
        return { ...target(entry, `acks[${index}]`), type, ...(entry.error === undefined ? {} : { error: entry.error }) };
      });
      return c.json({ results: await queues.acknowledge(group, topic, acks) }, 200);
    },
  );

  app.openapi(
    declareRoute('post', '/v1/queues/{group}/topics/{topic}/extend', {
      summary: 'Keep received records locked for visibility_ms from now; answers per entry',
      access: { group: 'read', from: 'param:group' },
      request: { params: s.QueueParams, body: { content: { 'application/json': { schema: s.ExtendBody } }, required: true } },
      responses: { 200: json(s.AckOut, 'a result per entry, in order'), ...errors(400, 404) },
    }),
    async (c) => {
      const { group, topic } = params(c);
      const body = c.req.valid('json');
      const records = body.records.map((entry, index) => target(entry, `records[${index}]`));
      return c.json({ results: await queues.extend(group, topic, records, body.visibility_ms) }, 200);
    },
  );

  app.openapi(
    declareRoute('get', '/v1/queues/{group}', {
      summary: 'Describe a share group: its settings, and per partition the records locked, available and dead',
      access: { group: 'describe', from: 'param:group' },
      request: { params: s.GroupParams, query: s.QueueQuery },
      responses: { 200: json(s.QueueOut, 'the share group'), ...errors(404) },
    }),
    async (c) => {
      const { topic } = c.req.valid('query');
      if (topic !== undefined) requireTopics(c, 'read', [topic]);
      const d = await queues.describe(c.req.valid('param').group, topic);
      requireTopics(c, 'read', new Set(d.partitions.map((p) => p.topic)));
      return c.json(
        {
          group: d.group,
          config: configOut(d.config),
          partitions: d.partitions.map((p) => ({
            topic: p.topic,
            partition: p.partition,
            start_offset: p.startOffset,
            end_offset: p.endOffset,
            log_end_offset: p.logEndOffset,
            acquired: p.acquired,
            available: p.available,
            dead: p.dead,
            delayed: p.delayed,
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    declareRoute('patch', '/v1/queues/{group}', {
      summary: 'Change a share group’s settings (Kafka’s share.* group configs)',
      access: { service: 'admin' },
      request: { params: s.GroupParams, body: { content: { 'application/json': { schema: s.QueueConfigBody } }, required: true } },
      responses: { 200: json(s.QueueOut.pick({ group: true, config: true }), 'the settings in effect'), ...errors(400) },
    }),
    async (c) => {
      const { group } = c.req.valid('param');
      const changes = Object.fromEntries(
        Object.entries(c.req.valid('json').config).map(([field, value]) => [field.replaceAll('_', '.'), value]),
      );
      const altered = await queues.alterConfig(group, changes);
      return c.json({ group, config: configOut(altered.effective) }, 200);
    },
  );

  app.openapi(
    declareRoute('delete', '/v1/queues/{group}', {
      summary: 'Delete a share group’s state and settings (refused while records are locked to a holder)',
      access: { group: 'delete', from: 'param:group' },
      request: { params: s.GroupParams },
      responses: { 204: { description: 'deleted' }, ...errors(404, 409) },
    }),
    async (c) => {
      await queues.delete(c.req.valid('param').group);
      return c.body(null, 204);
    },
  );

  app.openapi(
    declareRoute('post', '/v1/queues/{group}/redrive', {
      summary: 'Move the group’s dead letters back to the topics and partitions they came from, from where the last redrive stopped',
      access: { group: 'read', from: 'param:group' },
      request: { params: s.GroupParams, body: { content: { 'application/json': { schema: s.RedriveBody } }, required: true } },
      responses: { 200: json(s.RedriveOut, 'what was moved and passed over, and the position'), ...errors(400, 404, 409) },
    }),
    async (c) => {
      const { group } = c.req.valid('param');
      const body = c.req.valid('json');
      requireGroup(c, 'read', redriveGroupOf(group));
      const stop = linkedSignal([c.req.raw.signal, shutdown]);
      const result = await redrive
        .redrive(group, {
          maxRecords: body.max_records,
          deadLetterTopic: body.dead_letter_topic,
          authorize: (action, topic) => requireTopics(c, action, [topic]),
          signal: stop.signal,
        })
        .finally(() => stop.dispose());
      return c.json(
        {
          group: result.group,
          dead_letter_topic: result.deadLetterTopic,
          redrive_group: result.redriveGroup,
          moved: result.moved,
          passed_over: result.passedOver,
          positions: result.positions.map((p) => ({ partition: p.partition, offset: p.offset, end_offset: p.endOffset })),
        },
        200,
      );
    },
  );

  return app;
}

/** The path's group and topic, with read on the topic checked (the route declares read on the group). */
function params(c: Context<AppEnv, string, { out: { param: { group: string; topic: string } } }>) {
  const { group, topic } = c.req.valid('param');
  requireTopics(c, 'read', [topic]);
  return { group, topic };
}

function target(entry: Target, field: string): Omit<QueueAck, 'type'> {
  if ('receipt' in entry) {
    const receipt = decodeReceipt(entry.receipt, `${field}.receipt`);
    return { holder: receipt.holder, partition: receipt.partition, first: receipt.offset, last: receipt.offset, topicId: receipt.topicId };
  }
  return { holder: entry.holder, partition: entry.partition, first: entry.first_offset, last: entry.last_offset ?? entry.first_offset };
}

function configOut(config: ShareGroupConfig) {
  return {
    share_auto_offset_reset: config['share.auto.offset.reset'],
    share_record_lock_duration_ms: config['share.record.lock.duration.ms'],
    share_delivery_count_limit: config['share.delivery.count.limit'],
    share_isolation_level: config['share.isolation.level'],
    errors_deadletterqueue_topic_name: config['errors.deadletterqueue.topic.name'],
    errors_deadletterqueue_copy_record_enable: config['errors.deadletterqueue.copy.record.enable'],
  };
}
