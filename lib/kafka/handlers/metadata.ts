/**
 * ApiVersions and Metadata: what this broker speaks, and where each partition's leader is.
 * Metadata may create topics (as Kafka's auto.create.topics.enable), when the request allows it and
 * the engine is configured to.
 */
import { SpoolError } from '../../errors.js';
import { supportedFeatures, type FeatureLevels, type TopicItem } from '../../log/index.js';
import type { ApiHandler, RequestContext } from '../api.js';
import { codecs } from '../served.js';
import type { ApiVersion, ApiVersionsRequest, ApiVersionsResponse } from '../protocol/messages/api-versions.js';
import type { MetadataRequest, MetadataResponse, MetadataResponseTopic } from '../protocol/messages/metadata.js';
import { ZERO_UUID, type Encodable } from '../protocol/runtime.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import { permits, permitsDescribe, type BrokerDeps } from './deps.js';

/** A client software name or version as Kafka accepts it (ApiVersions v3+; KIP-511). */
const clientSoftwarePattern = /^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$/;

/**
 * The features as Kafka 4.x brokers give them (v3+ tagged fields): `transaction.version`, always
 * finalized at 2, and Spool's own (lib/log/features.ts), supported by this version and finalized at
 * the levels last read (a feature at 0 is not finalized, as Kafka lists it).
 */
async function features(
  levels: Pick<FeatureLevels, 'recent' | 'known'>,
): Promise<Pick<ApiVersionsResponse, 'supportedFeatures' | 'finalizedFeaturesEpoch' | 'finalizedFeatures'>> {
  // Once read, the levels last read (read again in the background): a connection waits for no store
  // read, and does not fail on one (the store out of reach: the levels last read).
  const finalized = await levels.recent().catch(() => levels.known());
  return {
    supportedFeatures: [
      { name: 'transaction.version', minVersion: 0, maxVersion: 2 },
      ...Object.entries(supportedFeatures).map(([name, { min, max }]) => ({ name, minVersion: min, maxVersion: max })),
    ],
    finalizedFeaturesEpoch: finalized.epoch,
    finalizedFeatures: [
      { name: 'transaction.version', maxVersionLevel: 2, minVersionLevel: 2 },
      ...Object.entries(finalized.levels).map(([name, level]) => ({ name, maxVersionLevel: level, minVersionLevel: level })),
    ],
  };
}

/**
 * ApiVersions v0–4: the ranges the registered codecs advertise. v3+ names the client software, which
 * must match Kafka's pattern (INVALID_REQUEST and no ranges otherwise), and carries the features:
 * `transaction.version` 2 (KIP-890 part 2, lib/transactions) makes Kafka 4.x clients use TV2 (EndTxn
 * v5 bumps the epoch per transaction, Produce v12+ and TxnOffsetCommit v5 add their partition or group
 * themselves); older clients ignore it and keep TV1, which is served too; `spool.commit.version` is
 * what `kafka-features.sh describe` shows of packed commits. (A version beyond 4 is answered by the
 * server itself: v0, UNSUPPORTED_VERSION.)
 */
export function apiVersionsHandler(
  versions: () => readonly ApiVersion[],
  levels: Pick<FeatureLevels, 'recent' | 'known'>,
): ApiHandler<ApiVersionsRequest, Encodable<ApiVersionsResponse>> {
  return {
    codec: codecs.apiVersions,
    beforeAuthentication: true,
    async handle(request, context) {
      const valid =
        context.apiVersion < 3 ||
        (clientSoftwarePattern.test(request.clientSoftwareName) && clientSoftwarePattern.test(request.clientSoftwareVersion));
      if (!valid) return { errorCode: KafkaErrors.INVALID_REQUEST, apiKeys: [] };
      return { errorCode: KafkaErrors.NONE, apiKeys: versions(), ...(context.apiVersion >= 3 ? await features(levels) : {}) };
    },
  };
}

/** A partition as Metadata and DescribeTopicPartitions report it: its leader (the one replica, in sync) and epoch. */
export interface PartitionLeader {
  readonly errorCode: number;
  readonly partitionIndex: number;
  readonly leaderId: number;
  readonly leaderEpoch: number;
  readonly replicaNodes: number[];
  readonly isrNodes: number[];
}

/** Every partition of `topic` with its leader from the cluster view. */
export async function partitionLeaders(
  { log, cluster }: Pick<BrokerDeps, 'log' | 'cluster'>,
  topic: TopicItem,
): Promise<PartitionLeader[]> {
  const partitions = await log.partitionLeadership(topic);
  return Promise.all(
    partitions.map(async (state, partition) => {
      const { leader, epoch } = await cluster.leaderOf(topic, partition, state);
      return {
        errorCode: KafkaErrors.NONE,
        partitionIndex: partition,
        leaderId: leader.nodeId,
        leaderEpoch: epoch,
        replicaNodes: [leader.nodeId],
        isrNodes: [leader.nodeId],
      };
    }),
  );
}

export function metadataHandler({ log, cluster }: BrokerDeps): ApiHandler<MetadataRequest, Encodable<MetadataResponse>> {
  type Topic = Encodable<MetadataResponseTopic>;
  const describe = async (name: string, allowCreate: boolean): Promise<Topic> => {
    try {
      let topic = await log.topic(name);
      if (topic === undefined && allowCreate && log.settings.autoCreateTopics) {
        topic = await log.createTopic(name).catch(async (error) => {
          if (error instanceof SpoolError && error.code === 'TOPIC_ALREADY_EXISTS') return log.requireTopic(name);
          throw error;
        });
      }
      if (topic === undefined) return { errorCode: KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION, name, topicId: ZERO_UUID, partitions: [] };
      return await partitionsOf(topic);
    } catch (error) {
      return { errorCode: kafkaErrorFor(error).code, name, topicId: ZERO_UUID, partitions: [] };
    }
  };
  const partitionsOf = async (topic: TopicItem): Promise<Topic> => ({
    errorCode: KafkaErrors.NONE,
    name: topic.name,
    topicId: topic.id,
    partitions: await partitionLeaders({ log, cluster }, topic),
  });
  const allowed = (context: RequestContext, name: string) => permitsDescribe(context.principal, name);
  return {
    codec: codecs.metadata,
    async handle(request, context) {
      // All topics: a null list (v1+), or an empty one in v0.
      const all = request.topics === null || (context.apiVersion === 0 && request.topics.length === 0);
      const wanted: readonly { readonly name: string | null; readonly topicId: string }[] = all
        ? (await log.listTopics())
            .filter((topic) => permits(context.principal, 'read', topic.name))
            .map((topic) => ({ name: topic.name, topicId: topic.id }))
        : request.topics!;
      const topics = await Promise.all(
        wanted.map(async ({ name, topicId }): Promise<Topic> => {
          // v10+ may name a topic by id alone.
          const resolved = name ?? (await log.topicById(topicId))?.name;
          if (resolved === undefined) return { errorCode: KafkaErrors.UNKNOWN_TOPIC_ID, name: null, topicId, partitions: [] };
          if (!allowed(context, resolved))
            return { errorCode: KafkaErrors.TOPIC_AUTHORIZATION_FAILED, name: resolved, topicId: ZERO_UUID, partitions: [] };
          return describe(
            resolved,
            request.allowAutoTopicCreation && !all && name !== null && permits(context.principal, 'write', resolved),
          );
        }),
      );
      return { brokers: await cluster.brokers(), clusterId: cluster.clusterId, controllerId: cluster.self.nodeId, topics };
    },
  };
}
