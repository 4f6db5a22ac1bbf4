/**
 * Share-group receivers for the queue benchmarks (queues.ts, queues-extras.ts): one round is one
 * receive of up to `batch` records and one acknowledgement settling every record received.
 *   HTTP   POST /v1/queues/{group}/topics/{topic}/receive, then .../ack with one entry per receipt,
 *          through the real hono app in process (app.request: routing, validation and JSON as
 *          served, no socket).
 *   Kafka  ShareFetch, then ShareAcknowledge with one batch per acquired range, as
 *          KafkaShareConsumer's commitSync sends them, over a socket to the agent's Kafka listener
 *          (the generated codecs). Each receiver is a member that joined with ShareGroupHeartbeat
 *          and fetches the partitions it was assigned; no heartbeats during the rounds.
 * A round that settles fewer records than it received throws: the figures are of full rounds only.
 */
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../lib/config.js';
import { createApp } from '../../lib/http/app.js';
import { ShareAcknowledge } from '../../lib/kafka/protocol/messages/share-acknowledge.js';
import { ShareFetch, type ShareFetchResponse } from '../../lib/kafka/protocol/messages/share-fetch.js';
import { ShareGroupHeartbeat } from '../../lib/kafka/protocol/messages/share-group-heartbeat.js';
import { silentLogger } from '../../lib/logger.js';
import { WireClient } from '../../test/kafka/support/wire-client.js';
import type { BenchAgent } from './embedded-agent.js';

export type AckOutcome = 'accept' | 'reject';

/** One round, waiting up to `waitMs` for a record: the partitions of the records settled. */
export type ShareReceiver = { round(options: { waitMs: number; outcome: AckOutcome }): Promise<number[]>; close(): void | Promise<void> };

/** An agent of the queue benchmarks: any free ports, no maintenance passes. */
export function queueAgentConfig(dataDir: string) {
  return loadConfig({
    SPOOL_DATA_DIR: dataDir,
    SPOOL_HTTP_PORT: '0',
    SPOOL_KAFKA_PORT: '0',
    SPOOL_BATCH_INTERVAL_MS: '10',
    SPOOL_MAINTENANCE_INTERVAL_MS: '0',
  });
}

export function httpReceiver(agent: BenchAgent, group: string, topic: string, batch: number): ShareReceiver {
  const { log, groups, queues } = agent.runtime;
  const app = createApp({ log, groups, queues, logger: silentLogger });
  const post = async (path: string, body: unknown) => {
    const response = await app.request(`/v1/queues/${group}/topics/${topic}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  return {
    async round({ waitMs, outcome }) {
      const received = (await post('receive', { max_records: batch, wait_ms: waitMs })) as {
        records: { partition: number; receipt: string }[];
      };
      if (received.records.length === 0) return [];
      const acked = (await post('ack', { acks: received.records.map((r) => ({ receipt: r.receipt, outcome })) })) as {
        results: { status: string }[];
      };
      const settled = acked.results.filter((r) => r.status === 'ok').length;
      if (settled !== received.records.length) throw new Error(`HTTP ack settled ${settled} of ${received.records.length}`);
      return received.records.map((r) => r.partition);
    },
    close() {},
  };
}

/** Kafka's AcknowledgeType. */
const kafkaAckType: Record<AckOutcome, number> = { accept: 1, reject: 3 };

/** `count` members that joined the group together and were assigned its partitions, each with a share session of its own. */
export async function kafkaReceivers(
  agent: BenchAgent,
  group: string,
  topic: string,
  batch: number,
  count: number,
): Promise<ShareReceiver[]> {
  const topicId = (await agent.runtime.log.requireTopic(topic)).id;
  const members = await Promise.all(
    Array.from({ length: count }, async () => ({
      client: await WireClient.open(agent.kafkaBootstrap!),
      memberId: randomUUID().replaceAll('-', '').slice(0, 22),
      memberEpoch: 0,
      assigned: [] as number[],
    })),
  );
  const beat = async (member: (typeof members)[number], topics: string[] | null) => {
    const answer = await member.client.callGenerated(ShareGroupHeartbeat, 1, {
      groupId: group,
      memberId: member.memberId,
      memberEpoch: member.memberEpoch,
      rackId: null,
      subscribedTopicNames: topics,
    });
    if (answer.errorCode !== 0) throw new Error(`ShareGroupHeartbeat: error ${answer.errorCode} ${answer.errorMessage}`);
    member.memberEpoch = answer.memberEpoch;
    if (answer.assignment) member.assigned = answer.assignment.topicPartitions.flatMap((t) => t.partitions);
  };
  for (const member of members) await beat(member, [topic]);
  for (const member of members) await beat(member, null); // every member hears the final assignment
  return members.map((member) => {
    let epoch = 0;
    return {
      async round({ waitMs, outcome }) {
        const fetched = await member.client.callGenerated(ShareFetch, 2, {
          groupId: group,
          memberId: member.memberId,
          shareSessionEpoch: epoch,
          maxWaitMs: waitMs,
          minBytes: 1,
          maxBytes: 1 << 20,
          maxRecords: batch,
          batchSize: batch,
          // The session remembers its partitions: only the opening request names them.
          topics:
            epoch === 0 ? [{ topicId, partitions: member.assigned.map((p) => ({ partitionIndex: p, acknowledgementBatches: [] })) }] : [],
          forgottenTopicsData: [],
        });
        if (fetched.errorCode !== 0) throw new Error(`ShareFetch: error ${fetched.errorCode} ${fetched.errorMessage}`);
        epoch++;
        const acquired = acquiredRanges(fetched);
        if (acquired.length === 0) return [];
        const acked = await member.client.callGenerated(ShareAcknowledge, 2, {
          groupId: group,
          memberId: member.memberId,
          shareSessionEpoch: epoch,
          isRenewAck: false,
          topics: [
            {
              topicId,
              partitions: [...new Set(acquired.map((r) => r.partition))].map((partitionIndex) => ({
                partitionIndex,
                acknowledgementBatches: acquired
                  .filter((r) => r.partition === partitionIndex)
                  .map((r) => ({ firstOffset: r.first, lastOffset: r.last, acknowledgeTypes: [kafkaAckType[outcome]] })),
              })),
            },
          ],
        });
        epoch++;
        const refused = acked.responses.flatMap((t) => t.partitions).filter((p) => p.errorCode !== 0);
        if (acked.errorCode !== 0 || refused.length > 0)
          throw new Error(`ShareAcknowledge: error ${acked.errorCode || refused[0]!.errorCode} ${refused[0]?.errorMessage ?? ''}`);
        return acquired.flatMap((r) => Array.from({ length: r.last - r.first + 1 }, () => r.partition));
      },
      close: () => member.client.close(),
    };
  });
}

function acquiredRanges(answer: ShareFetchResponse): { partition: number; first: number; last: number }[] {
  const refused = answer.responses.flatMap((t) => t.partitions).filter((p) => p.errorCode !== 0);
  if (refused.length > 0) throw new Error(`ShareFetch partition ${refused[0]!.partitionIndex}: error ${refused[0]!.errorCode}`);
  return answer.responses.flatMap((t) =>
    t.partitions.flatMap((p) => p.acquiredRecords.map((r) => ({ partition: p.partitionIndex, first: r.firstOffset, last: r.lastOffset }))),
  );
}
