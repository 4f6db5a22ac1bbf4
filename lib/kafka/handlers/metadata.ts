/**
 * ApiVersions and Metadata: what this broker speaks, and where each partition's leader is.
 * Metadata may create topics (as Kafka's auto.create.topics.enable), when the request allows it and
 * the engine is configured to.
 */
import { SpoolError } from '../../errors.js';
import type { TopicItem } from '../../log/index.js';
import type { ApiHandler } from '../api.js';
import { apiVersions, type ApiVersionRange, type ApiVersionsRequest, type ApiVersionsResponse } from '../apis/api-versions.js';
import { metadata, type MetadataRequest, type MetadataResponse, type MetadataTopic } from '../apis/metadata.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import { permits, type BrokerDeps } from './deps.js';

export function apiVersionsHandler(versions: () => readonly ApiVersionRange[]): ApiHandler<ApiVersionsRequest, ApiVersionsResponse> {
  return {
    codec: apiVersions,
    handle: async () => ({ errorCode: KafkaErrors.NONE, apiKeys: versions(), throttleTimeMs: 0 }),
  };
}

export function metadataHandler({ log, cluster }: BrokerDeps): ApiHandler<MetadataRequest, MetadataResponse> {
  const describe = async (name: string, allowCreate: boolean): Promise<MetadataTopic> => {
    try {
      let topic = await log.topics.get(name);
      if (topic === undefined && allowCreate && log.options.autoCreateTopics !== false) {
        topic = await log.createTopic(name).catch(async (error) => {
          if (error instanceof SpoolError && error.code === 'TOPIC_ALREADY_EXISTS') return log.topics.require(name);
          throw error;
        });
      }
      if (topic === undefined) return { errorCode: KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION, name, partitions: [] };
      return await partitionsOf(topic);
    } catch (error) {
      return { errorCode: kafkaErrorFor(error).code, name, partitions: [] };
    }
  };
  const partitionsOf = async (topic: TopicItem): Promise<MetadataTopic> => {
    const { partitions } = await log.describeTopic(topic.name);
    return {
      errorCode: KafkaErrors.NONE,
      name: topic.name,
      partitions: await Promise.all(
        partitions.map(async (state) => {
          const { leader, epoch } = await cluster.leaderOf(topic, state.partition, state);
          return { errorCode: KafkaErrors.NONE, partitionIndex: state.partition, leaderId: leader.nodeId, leaderEpoch: epoch, replicaNodes: [leader.nodeId], isrNodes: [leader.nodeId] };
        }),
      ),
    };
  };
  return {
    codec: metadata,
    async handle(request, context) {
      const names = request.topics ?? (await log.topics.list()).map((topic) => topic.name).filter((name) => permits(context.principal, 'read', name));
      const topics = await Promise.all(
        names.map((name) =>
          permits(context.principal, 'read', name) || permits(context.principal, 'write', name)
            ? describe(name, request.allowAutoTopicCreation && request.topics !== null && permits(context.principal, 'write', name))
            : { errorCode: KafkaErrors.TOPIC_AUTHORIZATION_FAILED, name, partitions: [] },
        ),
      );
      return { brokers: await cluster.brokers(), clusterId: cluster.clusterId, controllerId: cluster.self.nodeId, topics };
    },
  };
}
