/**
 * The consumer protocol: what Kafka consumers put in JoinGroup's protocol metadata (a subscription)
 * and SyncGroup's assignment. The coordinator treats both as opaque; Spool decodes them only to show
 * a Kafka group's subscriptions and assignments beside HTTP groups (GET /v1/groups/{group}), and
 * encodes them to show HTTP groups to Kafka tools (DescribeGroups).
 *
 * Each starts with its version; a reader of an older version reads the fields it knows and ignores
 * the rest (Kafka never removes or reorders fields here), so any version ≥ 0 is read.
 *
 *   ConsumerProtocolSubscription => version topics user_data [owned_partitions (v1+)] [generation_id (v2+)] [rack_id (v3+)]
 *     version => INT16
 *     topics => [STRING]
 *     user_data => NULLABLE_BYTES
 *     owned_partitions => [topic [partitions]]
 *       topic => STRING
 *       partitions => INT32
 *     generation_id => INT32            -1 when unknown
 *     rack_id => NULLABLE_STRING
 *
 *   ConsumerProtocolAssignment => version [assigned_partitions] user_data
 *     version => INT16
 *     assigned_partitions => topic [partitions]
 *       topic => STRING
 *       partitions => INT32
 *     user_data => NULLABLE_BYTES
 */
import { KafkaReader, KafkaWriter } from '../wire.js';

export interface TopicPartitions {
  readonly topic: string;
  readonly partitions: readonly number[];
}

export interface ConsumerSubscription {
  readonly version: number;
  readonly topics: readonly string[];
  readonly userData: Buffer | null;
  readonly ownedPartitions: readonly TopicPartitions[];
  readonly generationId: number;
  readonly rackId: string | null;
}

export interface ConsumerAssignment {
  readonly version: number;
  readonly partitions: readonly TopicPartitions[];
  readonly userData: Buffer | null;
}

const topicPartitions = (r: KafkaReader): TopicPartitions => ({
  topic: r.string('topic'),
  partitions: r.array('partitions', (p) => p.int32('partition')),
});

export function decodeSubscription(bytes: Buffer): ConsumerSubscription {
  const reader = new KafkaReader(bytes, false, 'ConsumerProtocolSubscription');
  const version = reader.int16('version');
  const topics = reader.array('topics', (r) => r.string('topic'));
  const userData = reader.nullableBytes('user_data');
  const more = (since: number) => version >= since && reader.remaining > 0;
  const ownedPartitions = more(1) ? reader.array('owned_partitions', topicPartitions) : [];
  const generationId = more(2) ? reader.int32('generation_id') : -1;
  const rackId = more(3) ? reader.nullableString('rack_id') : null;
  return { version, topics, userData, ownedPartitions, generationId, rackId };
}

export function encodeSubscription(subscription: Pick<ConsumerSubscription, 'topics'> & Partial<ConsumerSubscription>): Buffer {
  const version = subscription.version ?? 0;
  const writer = new KafkaWriter();
  writer
    .int16(version)
    .array(subscription.topics, (w, topic) => void w.string(topic))
    .nullableBytes(subscription.userData ?? null);
  if (version >= 1) writer.array(subscription.ownedPartitions ?? [], writeTopicPartitions);
  if (version >= 2) writer.int32(subscription.generationId ?? -1);
  if (version >= 3) writer.nullableString(subscription.rackId ?? null);
  return Buffer.concat(writer.finish());
}

/** An empty buffer is "no assignment" (a member the leader left out). */
export function decodeAssignment(bytes: Buffer): ConsumerAssignment {
  if (bytes.length === 0) return { version: 0, partitions: [], userData: null };
  const reader = new KafkaReader(bytes, false, 'ConsumerProtocolAssignment');
  const version = reader.int16('version');
  const partitions = reader.array('assigned_partitions', topicPartitions);
  const userData = reader.remaining > 0 ? reader.nullableBytes('user_data') : null;
  return { version, partitions, userData };
}

export function encodeAssignment(assignment: Pick<ConsumerAssignment, 'partitions'> & Partial<ConsumerAssignment>): Buffer {
  const writer = new KafkaWriter();
  writer
    .int16(assignment.version ?? 0)
    .array(assignment.partitions, writeTopicPartitions)
    .nullableBytes(assignment.userData ?? null);
  return Buffer.concat(writer.finish());
}

function writeTopicPartitions(writer: KafkaWriter, value: TopicPartitions): void {
  writer.string(value.topic).array(value.partitions, (w, partition) => void w.int32(partition));
}
