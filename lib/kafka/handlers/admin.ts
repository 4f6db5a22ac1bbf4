/**
 * Topic administration over the engine's topic registry: CreateTopics, DeleteTopics,
 * CreatePartitions, DeleteRecords, DescribeLogDirs, DescribeCluster and DescribeTopicPartitions.
 * Replication factors and replica assignments are accepted and ignored: durability is S3's, not
 * replicas', so every partition has one replica, its leader. Topic configs are those of
 * lib/log/topic-config.ts (the config APIs are in configs.ts). Partitions only grow; DeleteRecords
 * only raises a partition's log start offset (Log.deleteRecordsBefore).
 */
import { SpoolError } from '../../errors.js';
import {
  parseTopicConfigValue,
  renderTopicConfigValue,
  topicConfigKeys,
  validatePartitionCount,
  validateTopicConfig,
  validateTopicName,
  type TopicConfig,
  type TopicItem,
} from '../../log/index.js';
import type { ApiHandler, RequestContext } from '../api.js';
import { codecs } from '../served.js';
import type {
  CreatableTopic,
  CreatableTopicConfigs,
  CreatableTopicResult,
  CreateTopicsRequest,
  CreateTopicsResponse,
} from '../protocol/messages/create-topics.js';
import type { CreatePartitionsRequest, CreatePartitionsResponse } from '../protocol/messages/create-partitions.js';
import type { DeleteRecordsRequest, DeleteRecordsResponse } from '../protocol/messages/delete-records.js';
import type { DeletableTopicResult, DeleteTopicsRequest, DeleteTopicsResponse } from '../protocol/messages/delete-topics.js';
import type { DescribeClusterRequest, DescribeClusterResponse } from '../protocol/messages/describe-cluster.js';
import type { DescribeLogDirsRequest, DescribeLogDirsResponse, DescribeLogDirsTopic } from '../protocol/messages/describe-log-dirs.js';
import type {
  Cursor,
  DescribeTopicPartitionsRequest,
  DescribeTopicPartitionsResponse,
  DescribeTopicPartitionsResponseTopic,
} from '../protocol/messages/describe-topic-partitions.js';
import { ZERO_UUID, type Encodable } from '../protocol/runtime.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import { topicConfigSource } from './configs.js';
import { permits, type BrokerDeps } from './deps.js';
import { partitionLeaders } from './metadata.js';

/** Kafka's "use the broker default" for partitions and replication. */
const serverDefault = -1;

/** The replication factor reported for every topic: one replica, the leader (durability is the object store's). */
const replicationFactor = 1;

/** Names given more than once in one request: Kafka answers each of them INVALID_REQUEST and acts on none. */
function duplicatesOf(names: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const name of names) (seen.has(name) ? duplicates : seen).add(name);
  return duplicates;
}

const duplicateError = (name: string) =>
  new SpoolError('INVALID_ARGUMENT', `the request names topic ${name} more than once; none of its entries are acted on`);

/** A created topic's configs as CreateTopics v5+ reports them: each with where its value comes from. */
function createdConfigs(
  config: TopicConfig,
  overrides: ReadonlySet<string>,
  brokerDefaults: TopicConfig,
): Encodable<CreatableTopicConfigs>[] {
  return topicConfigKeys.map((key) => ({
    name: key,
    value: renderTopicConfigValue(key, config[key]),
    readOnly: false,
    configSource: topicConfigSource(key, overrides.has(key), brokerDefaults),
    isSensitive: false,
  }));
}

export function createTopicsHandler({ log }: BrokerDeps): ApiHandler<CreateTopicsRequest, Encodable<CreateTopicsResponse>> {
  const plan = (topic: CreatableTopic): { name: string; partitions: number; config: Partial<TopicConfig> } => {
    const name = validateTopicName(topic.name);
    // Manual assignments give the partition count (their brokers are ignored), and exclude the counts, as in Kafka.
    if (topic.assignments.length > 0 && (topic.numPartitions !== serverDefault || topic.replicationFactor !== serverDefault)) {
      throw new SpoolError(
        'INVALID_ARGUMENT',
        'Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.',
      );
    }
    const partitions =
      topic.assignments.length > 0
        ? validatePartitionCount(topic.assignments.length, 'assignments')
        : topic.numPartitions === serverDefault
          ? log.settings.defaultPartitions
          : validatePartitionCount(topic.numPartitions, 'num_partitions');
    const config: Record<string, unknown> = {};
    for (const { name: key, value } of topic.configs) config[key] = parseTopicConfigValue(key, value);
    return { name, partitions, config: validateTopicConfig(config) };
  };
  return {
    codec: codecs.createTopics,
    async handle(request, context) {
      const duplicates = duplicatesOf(request.topics.map((topic) => topic.name));
      const topics: Encodable<CreatableTopicResult>[] = [];
      for (const topic of request.topics) {
        try {
          if (duplicates.has(topic.name)) throw duplicateError(topic.name);
          if (!permits(context.principal, 'admin', topic.name))
            throw new SpoolError('FORBIDDEN', `not allowed to create topic ${topic.name}`);
          const planned = plan(topic);
          if (await log.topic(planned.name)) throw new SpoolError('TOPIC_ALREADY_EXISTS', `Topic '${planned.name}' already exists.`);
          // validate_only answers as a creation would, with no topic id (as Kafka).
          const topicId = request.validateOnly ? ZERO_UUID : (await log.createTopic(planned.name, planned.partitions, planned.config)).id;
          const defaults = log.settings.topicDefaults;
          topics.push({
            name: topic.name,
            topicId,
            errorCode: KafkaErrors.NONE,
            errorMessage: null,
            numPartitions: planned.partitions,
            replicationFactor,
            configs: createdConfigs({ ...defaults, ...planned.config }, new Set(Object.keys(planned.config)), defaults),
          });
        } catch (error) {
          const { code, message } = kafkaErrorFor(error);
          topics.push({ name: topic.name, errorCode: code, errorMessage: message });
        }
      }
      return { topics };
    },
  };
}

export function deleteTopicsHandler({ log }: BrokerDeps): ApiHandler<DeleteTopicsRequest, Encodable<DeleteTopicsResponse>> {
  /** v6 names a topic by name or by id (not both), in `topics`; earlier versions by name, in `topicNames`. */
  const targets = (request: DeleteTopicsRequest) => [
    ...request.topics,
    ...request.topicNames.map((name) => ({ name, topicId: ZERO_UUID })),
  ];
  return {
    codec: codecs.deleteTopics,
    async handle(request, context) {
      const responses: Encodable<DeletableTopicResult>[] = [];
      for (const { name, topicId } of targets(request)) {
        try {
          if (name !== null && topicId !== ZERO_UUID) {
            throw new SpoolError('INVALID_ARGUMENT', 'you may not specify both a topic name and a topic id');
          }
          const resolved = name ?? (await log.topicById(topicId))?.name;
          if (resolved === undefined) {
            responses.push({ name: null, topicId, errorCode: KafkaErrors.UNKNOWN_TOPIC_ID, errorMessage: `no topic has id ${topicId}` });
            continue;
          }
          if (!permits(context.principal, 'admin', resolved)) throw new SpoolError('FORBIDDEN', `not allowed to delete topic ${resolved}`);
          const deleted = await log.topic(resolved);
          await log.deleteTopic(resolved);
          responses.push({ name: resolved, topicId: deleted?.id ?? topicId, errorCode: KafkaErrors.NONE });
        } catch (error) {
          const { code, message } = kafkaErrorFor(error);
          responses.push({ name, topicId, errorCode: code, errorMessage: message });
        }
      }
      return { responses };
    },
  };
}

export function createPartitionsHandler({ log }: BrokerDeps): ApiHandler<CreatePartitionsRequest, Encodable<CreatePartitionsResponse>> {
  return {
    codec: codecs.createPartitions,
    async handle(request, context) {
      const duplicates = duplicatesOf(request.topics.map((topic) => topic.name));
      const results = [];
      for (const { name, count } of request.topics) {
        try {
          if (duplicates.has(name)) throw duplicateError(name);
          if (!permits(context.principal, 'admin', name)) throw new SpoolError('FORBIDDEN', `not allowed to alter topic ${name}`);
          const topic = await log.requireTopic(name);
          // Kafka's (KRaft) words, which kafka-topics prints.
          if (count === topic.partitions) throw new SpoolError('INVALID_PARTITIONS', `Topic already has ${topic.partitions} partition(s).`);
          if (count < topic.partitions) {
            throw new SpoolError(
              'INVALID_PARTITIONS',
              `The topic ${name} currently has ${topic.partitions} partition(s); ${count} would not be an increase.`,
            );
          }
          validatePartitionCount(count, 'count');
          // Growth is one conditional write on the partition count as read: a racing change makes it fail, never shrink.
          if (!request.validateOnly) await log.alterTopic(name, { partitions: count });
          results.push({ name, errorCode: KafkaErrors.NONE, errorMessage: null });
        } catch (error) {
          const { code, message } = kafkaErrorFor(error);
          results.push({ name, errorCode: code, errorMessage: message });
        }
      }
      return { results };
    },
  };
}

/** DeleteRecords' offset meaning "up to the high watermark". */
const highWatermarkOffset = -1;

export function deleteRecordsHandler({ log }: BrokerDeps): ApiHandler<DeleteRecordsRequest, Encodable<DeleteRecordsResponse>> {
  return {
    codec: codecs.deleteRecords,
    async handle(request, context) {
      const topics = [];
      for (const { name, partitions } of request.topics) {
        const allowed = permits(context.principal, 'admin', name);
        const results = [];
        for (const { partitionIndex, offset } of partitions) {
          try {
            if (!allowed) throw new SpoolError('FORBIDDEN', `not allowed to delete records of topic ${name}`);
            const before = offset === highWatermarkOffset ? 'high-watermark' : offset;
            const { logStartOffset } = await log.deleteRecordsBefore(name, partitionIndex, before);
            results.push({ partitionIndex, lowWatermark: logStartOffset, errorCode: KafkaErrors.NONE });
          } catch (error) {
            results.push({ partitionIndex, lowWatermark: -1, errorCode: kafkaErrorFor(error).code });
          }
        }
        topics.push({ name, partitions: results });
      }
      return { topics };
    },
  };
}

/** Kafka's "unknown" for a log dir's total and usable bytes: an object store has no fixed capacity. */
const unknownBytes = -1;

export function describeLogDirsHandler({ log }: BrokerDeps): ApiHandler<DescribeLogDirsRequest, Encodable<DescribeLogDirsResponse>> {
  const describeTopic = async (
    topic: TopicItem,
    wanted: readonly number[] | null,
  ): Promise<Encodable<DescribeLogDirsTopic> & Described> => {
    const indexes = (wanted ?? Array.from({ length: topic.partitions }, (_, partition) => partition)).filter(
      (partition) => partition >= 0 && partition < topic.partitions,
    );
    const partitions = await Promise.all(
      indexes.map(async (partitionIndex) => ({
        partitionIndex,
        partitionSize: await log.partitionSizeBytes(topic.name, partitionIndex),
        offsetLag: 0,
        isFutureKey: false,
      })),
    );
    return { name: topic.name, partitions };
  };
  type Described = { name: string; partitions: unknown[] };
  return {
    codec: codecs.describeLogDirs,
    async handle(request, context) {
      // Kafka requires DESCRIBE on the cluster, and answers no log dir without it.
      if (!permits(context.principal, 'admin'))
        return codecs.describeLogDirs.errorResponse(request, context.apiVersion, KafkaErrors.CLUSTER_AUTHORIZATION_FAILED);
      const topics: (Encodable<DescribeLogDirsTopic> & Described)[] = [];
      if (request.topics === null) {
        for (const topic of await log.listTopics()) topics.push(await describeTopic(topic, null));
      } else {
        // Partitions this broker does not have are left out, as Kafka does.
        for (const { topic: name, partitions } of request.topics) {
          const topic = await log.topic(name);
          if (topic !== undefined) topics.push(await describeTopic(topic, partitions));
        }
      }
      return {
        errorCode: KafkaErrors.NONE,
        results: [
          {
            errorCode: KafkaErrors.NONE,
            logDir: log.storageUrl,
            topics: topics.filter((topic) => topic.partitions.length > 0),
            totalBytes: unknownBytes,
            usableBytes: unknownBytes,
          },
        ],
      };
    },
  };
}

/** DescribeCluster's endpoint types: brokers (the one served) and controllers. */
const EndpointType = { BROKERS: 1, CONTROLLERS: 2 } as const;

export function describeClusterHandler({ cluster }: BrokerDeps): ApiHandler<DescribeClusterRequest, Encodable<DescribeClusterResponse>> {
  return {
    codec: codecs.describeCluster,
    async handle(request, context) {
      if (context.apiVersion >= 1 && request.endpointType !== EndpointType.BROKERS) {
        return {
          errorCode: KafkaErrors.UNSUPPORTED_ENDPOINT_TYPE,
          errorMessage: `The endpoint type ${request.endpointType} is not supported by this broker; only brokers (1) are`,
          endpointType: request.endpointType,
          clusterId: cluster.clusterId,
          brokers: [],
        };
      }
      const brokers = await cluster.brokers();
      return {
        errorCode: KafkaErrors.NONE,
        endpointType: EndpointType.BROKERS,
        clusterId: cluster.clusterId,
        // As Metadata answers: every agent can act for the cluster, this one is named.
        controllerId: cluster.self.nodeId,
        brokers: brokers.map(({ nodeId, host, port, rack }) => ({ brokerId: nodeId, host, port, rack, isFenced: false })),
      };
    },
  };
}

/** The most partitions one DescribeTopicPartitions response carries, whatever the request asks (Kafka's default). */
const maxResponsePartitions = 2000;

export function describeTopicPartitionsHandler(
  deps: BrokerDeps,
): ApiHandler<DescribeTopicPartitionsRequest, Encodable<DescribeTopicPartitionsResponse>> {
  const { log } = deps;
  type Topic = Encodable<DescribeTopicPartitionsResponseTopic>;
  const allowed = (context: RequestContext, name: string) =>
    permits(context.principal, 'read', name) || permits(context.principal, 'write', name);
  const failed = (name: string, errorCode: number): Topic => ({ errorCode, name, topicId: ZERO_UUID, partitions: [] });
  return {
    codec: codecs.describeTopicPartitions,
    async handle(request, context) {
      const cursor = request.cursor;
      // Kafka refuses a negative cursor partition as an invalid request, for every topic named.
      if (cursor !== null && cursor.partitionIndex < 0)
        return codecs.describeTopicPartitions.errorResponse(request, context.apiVersion, KafkaErrors.INVALID_REQUEST);
      // All topics the principal may describe when none are named; in name order, from the cursor's topic on.
      const names = (
        request.topics.length === 0
          ? (await log.listTopics()).map((topic) => topic.name).filter((name) => allowed(context, name))
          : [...new Set(request.topics.map(({ name }) => name))]
      )
        .sort()
        .filter((name) => cursor === null || name >= cursor.topicName);
      let budget = Math.max(1, Math.min(request.responsePartitionLimit, maxResponsePartitions));
      const topics: Topic[] = [];
      let nextCursor: Cursor | null = null;
      for (const name of names) {
        if (budget === 0) {
          nextCursor = { topicName: name, partitionIndex: 0 };
          break;
        }
        if (!allowed(context, name)) {
          topics.push(failed(name, KafkaErrors.TOPIC_AUTHORIZATION_FAILED));
          continue;
        }
        try {
          const topic = await log.topic(name);
          if (topic === undefined) {
            topics.push(failed(name, KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION));
            continue;
          }
          const first = cursor !== null && name === cursor.topicName ? cursor.partitionIndex : 0;
          const partitions = (await partitionLeaders(deps, topic)).filter(({ partitionIndex }) => partitionIndex >= first);
          const taken = partitions.slice(0, budget);
          budget -= taken.length;
          if (taken.length < partitions.length)
            nextCursor = { topicName: name, partitionIndex: taken[taken.length - 1]!.partitionIndex + 1 };
          topics.push({
            errorCode: KafkaErrors.NONE,
            name,
            topicId: topic.id,
            isInternal: false,
            // Empty lists, not null, as Kafka's brokers send: the 3.9 admin client reads them without a null check.
            partitions: taken.map((partition) => ({ ...partition, eligibleLeaderReplicas: [], lastKnownElr: [], offlineReplicas: [] })),
          });
          if (nextCursor !== null) break;
        } catch (error) {
          topics.push(failed(name, kafkaErrorFor(error).code));
        }
      }
      return { topics, nextCursor };
    },
  };
}
