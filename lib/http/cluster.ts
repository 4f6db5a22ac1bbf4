/**
 * GET /v1/cluster: agents, partition leadership, the last maintenance pass and this process's storage
 * cost of the last hour (lib/cluster-status.ts). It names every topic's stored bytes and every agent,
 * so it needs read on the service (topics `*`), as /metrics does.
 */
import { z } from '@hono/zod-openapi';
import type { ClusterStatus } from '../cluster-status.js';
import { declareRoute } from './access.js';
import { newRouter } from './middleware.js';
import { errorResponses, json } from './responses.js';
import { MaintenanceOut } from './schemas.js';

const count = z.number().int();
const usd = z.number().openapi({ description: 'US dollars at list prices (us-east-1)' });

const ClusterOut = z
  .object({
    writer_id: z.string().openapi({ description: 'this process: the owner its partition leases name' }),
    now_ms: count,
    agents: z.array(
      z.object({
        node_id: count,
        host: z.string(),
        port: count,
        rack: z.string().nullable(),
        writer_id: z.string(),
        registration_expires_ms: count,
        live: z.boolean(),
        partitions_led: count,
      }),
    ),
    leadership: z.object({
      partitions: count,
      partitions_read: count.openapi({ description: 'leadership is read for the first 2,000 partitions' }),
      by_writer: z.record(z.string(), count),
      without_leader: count.openapi({ description: 'no live lease: idle, or written by leaderless writers (Lambda)' }),
      packed: count.openapi({ description: 'packed (packed commits): their newest offsets are in their packing agent’s log' }),
    }),
    features: z.record(z.string(), count).openapi({
      description: 'the finalized feature levels (kafka-features.sh); spool.commit.version 1: agents pack their commits',
    }),
    maintenance: z
      .object({
        ended_ms: count,
        result: MaintenanceOut,
        topic_bytes: z.record(z.string(), count).openapi({ description: 'bytes the topic’s rows point at (the largest 1,000 topics)' }),
        topics_omitted: count,
      })
      .nullable()
      .openapi({ description: 'the last pass by any agent or Lambda; null before the first' }),
    cost_last_hour: z
      .object({
        window_seconds: z.number(),
        requests: z.object({
          s3_puts: count,
          s3_gets: count,
          s3_lists: count,
          s3_deletes: count,
          dynamodb_read_units: count,
          dynamodb_write_units: count,
        }),
        s3_usd: usd,
        dynamodb_usd: usd,
        total_usd: usd,
      })
      .nullable()
      .openapi({
        description: 'this process’s storage calls, estimated by request: a lower bound (README "Console"); null where not counted',
      }),
  })
  .openapi('Cluster');

export function clusterRoutes(status: () => Promise<ClusterStatus>) {
  return newRouter().openapi(
    declareRoute('get', '/v1/cluster', {
      summary: 'Agents, partition leadership, the last maintenance pass and the storage cost of the last hour',
      access: { service: 'read' },
      responses: { 200: json(ClusterOut, 'the cluster'), ...errorResponses(401, 403) },
    }),
    async (c) => c.json(clusterOut(await status()), 200),
  );
}

function clusterOut(s: ClusterStatus): z.infer<typeof ClusterOut> {
  const { maintenance: m, cost } = s;
  return {
    writer_id: s.writerId,
    now_ms: s.nowMs,
    agents: s.agents.map((a) => ({
      node_id: a.nodeId,
      host: a.host,
      port: a.port,
      rack: a.rack,
      writer_id: a.owner,
      registration_expires_ms: a.expiresMs,
      live: a.live,
      partitions_led: a.partitionsLed,
    })),
    leadership: {
      partitions: s.leadership.partitions,
      partitions_read: s.leadership.partitionsRead,
      by_writer: { ...s.leadership.byWriter },
      without_leader: s.leadership.withoutLeader,
      packed: s.leadership.packed,
    },
    features: { ...s.features },
    maintenance:
      m === undefined ? null : { ended_ms: m.endedMs, result: m.result, topic_bytes: { ...m.topicBytes }, topics_omitted: m.topicsOmitted },
    cost_last_hour:
      cost === undefined
        ? null
        : {
            window_seconds: cost.windowSeconds,
            requests: {
              s3_puts: cost.requests.s3Puts,
              s3_gets: cost.requests.s3Gets,
              s3_lists: cost.requests.s3Lists,
              s3_deletes: cost.requests.s3Deletes,
              dynamodb_read_units: cost.requests.dynamoReadUnits,
              dynamodb_write_units: cost.requests.dynamoWriteUnits,
            },
            s3_usd: cost.s3Usd,
            dynamodb_usd: cost.dynamoUsd,
            total_usd: cost.totalUsd,
          },
  };
}
