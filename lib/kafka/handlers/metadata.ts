/**
 * ApiVersions and Metadata: what this broker speaks, and where each partition's leader is.
 * Metadata may create topics (as Kafka's auto.create.topics.enable), when the request allows it and
 * the engine is configured to.
 */
import { SpoolError } from '../../errors.js';
import type { TopicItem } from '../../log/index.js';
import type { ApiHandler, RequestContext } from '../api.js';
import { codecs } from '../served.js';
import type { ApiVersionRange, ApiVersionsRequest, ApiVersionsResponse } from '../apis/api-versions.js';
import type { MetadataRequest, MetadataResponse, MetadataResponseTopic } from '../protocol/messages/metadata.js';
import { ZERO_UUID, type Encodable } from '../protocol/runtime.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import { permits, type BrokerDeps } from './deps.js';

export function apiVersionsHandler(versions: () => readonly ApiVersionRange[]): ApiHandler<ApiVersionsRequest, ApiVersionsResponse> {
  return {
    codec: codecs.apiVersions,
    handle: async () => ({ errorCode: KafkaErrors.NONE, apiKeys: versions(), throttleTimeMs: 0 }),
  };
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
  const partitionsOf = async (topic: TopicItem): Promise<Topic> => {
    const { partitions } = await log.describeTopic(topic.name);
    return {
      errorCode: KafkaErrors.NONE,
      name: topic.name,
      topicId: topic.id,
      partitions: await Promise.all(
        partitions.map(async (state) => {
          const { leader, epoch } = await cluster.leaderOf(topic, state.partition, state);
          return {
            errorCode: KafkaErrors.NONE,
            partitionIndex: state.partition,
            leaderId: leader.nodeId,
            leaderEpoch: epoch,
            replicaNodes: [leader.nodeId],
            isrNodes: [leader.nodeId],
          };
        }),
      ),
    };
  };
  const allowed = (context: RequestContext, name: string) =>
    permits(context.principal, 'read', name) || permits(context.principal, 'write', name);
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
