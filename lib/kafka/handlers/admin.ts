/**
 * CreateTopics, DeleteTopics and DescribeConfigs over the engine's topic registry. Replication
 * factors and replica assignments are accepted and ignored: durability is S3's, not replicas'.
 * Topic configs are those of lib/log/topic-config.ts, plus cleanup.policy=delete, the only policy
 * there is.
 */
import { describeValue, SpoolError } from '../../errors.js';
import {
  defaultTopicConfig,
  parseTopicConfigValue,
  renderTopicConfigValue,
  topicConfigKeys,
  validatePartitionCount,
  validateTopicConfig,
  validateTopicName,
  type TopicConfig,
  type TopicConfigKey,
} from '../../log/index.js';
import type { ApiHandler } from '../api.js';
import { codecs } from '../served.js';
import type { CreatableTopic, CreateTopicsRequest, CreateTopicsResponse } from '../apis/create-topics.js';
import type { DeleteTopicsRequest, DeleteTopicsResponse } from '../apis/delete-topics.js';
import {
  RESOURCE_BROKER,
  RESOURCE_TOPIC,
  SOURCE_DEFAULT,
  SOURCE_TOPIC,
  type ConfigEntry,
  type DescribeConfigsRequest,
  type DescribeConfigsResponse,
} from '../apis/describe-configs.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import { permits, type BrokerDeps } from './deps.js';

/** Kafka's "use the broker default" for partitions and replication. */
const serverDefault = -1;

export function createTopicsHandler({ log }: BrokerDeps): ApiHandler<CreateTopicsRequest, CreateTopicsResponse> {
  const plan = (topic: CreatableTopic): { name: string; partitions: number; config: Partial<TopicConfig> } => {
    const name = validateTopicName(topic.name);
    const partitions =
      topic.numPartitions === serverDefault
        ? log.settings.defaultPartitions
        : validatePartitionCount(topic.numPartitions, 'num_partitions');
    const config: Record<string, number | string> = {};
    for (const { name: key, value } of topic.configs) {
      if (key === 'cleanup.policy') {
        if (value !== 'delete')
          throw new SpoolError(
            'INVALID_CONFIG',
            `cleanup.policy must be "delete" (compaction by key is not supported), got ${describeValue(value)}`,
          );
        continue;
      }
      config[key] = parseTopicConfigValue(key, value);
    }
    return { name, partitions, config: validateTopicConfig(config) };
  };
  return {
    codec: codecs.createTopics,
    refuse: (request, errorCode) => ({ topics: request.topics.map((topic) => ({ name: topic.name, errorCode, errorMessage: null })) }),
    async handle(request, context) {
      const topics = [];
      for (const topic of request.topics) {
        try {
          if (!permits(context.principal, 'admin', topic.name))
            throw new SpoolError('FORBIDDEN', `not allowed to create topic ${topic.name}`);
          const planned = plan(topic);
          if (!request.validateOnly) {
            if (await log.topic(planned.name)) throw new SpoolError('TOPIC_ALREADY_EXISTS', `topic ${planned.name} already exists`);
            await log.createTopic(planned.name, planned.partitions, planned.config);
          }
          topics.push({ name: topic.name, errorCode: KafkaErrors.NONE, errorMessage: null });
        } catch (error) {
          const { code, message } = kafkaErrorFor(error);
          topics.push({ name: topic.name, errorCode: code, errorMessage: message });
        }
      }
      return { topics };
    },
  };
}

export function deleteTopicsHandler({ log }: BrokerDeps): ApiHandler<DeleteTopicsRequest, DeleteTopicsResponse> {
  return {
    codec: codecs.deleteTopics,
    refuse: (request, errorCode) => ({ responses: request.topicNames.map((name) => ({ name, errorCode })) }),
    async handle(request, context) {
      const responses = [];
      for (const name of request.topicNames) {
        try {
          if (!permits(context.principal, 'admin', name)) throw new SpoolError('FORBIDDEN', `not allowed to delete topic ${name}`);
          await log.deleteTopic(name);
          responses.push({ name, errorCode: KafkaErrors.NONE });
        } catch (error) {
          responses.push({ name, errorCode: kafkaErrorFor(error).code });
        }
      }
      return { responses };
    },
  };
}

export function describeConfigsHandler({ log }: BrokerDeps): ApiHandler<DescribeConfigsRequest, DescribeConfigsResponse> {
  const entries = (config: TopicConfig, source: (key: TopicConfigKey) => number): ConfigEntry[] => [
    { name: 'cleanup.policy', value: 'delete', readOnly: true, source: SOURCE_DEFAULT },
    ...topicConfigKeys.map((key) => ({ name: key, value: renderTopicConfigValue(key, config[key]), readOnly: false, source: source(key) })),
  ];
  return {
    codec: codecs.describeConfigs,
    refuse: (request, errorCode) => ({
      results: request.resources.map((r) => ({
        errorCode,
        errorMessage: null,
        resourceType: r.resourceType,
        resourceName: r.resourceName,
        configs: [],
      })),
    }),
    async handle(request, context) {
      const results = await Promise.all(
        request.resources.map(async (resource) => {
          const base = { resourceType: resource.resourceType, resourceName: resource.resourceName };
          const only = (configs: ConfigEntry[]) =>
            resource.keys === null ? configs : configs.filter((c) => resource.keys!.includes(c.name));
          try {
            if (resource.resourceType === RESOURCE_TOPIC) {
              if (!permits(context.principal, 'read', resource.resourceName))
                throw new SpoolError('FORBIDDEN', `not allowed to describe topic ${resource.resourceName}`);
              const topic = await log.requireTopic(resource.resourceName);
              return {
                ...base,
                errorCode: KafkaErrors.NONE,
                errorMessage: null,
                configs: only(
                  entries(topic.config, (key) => (topic.config[key] === defaultTopicConfig[key] ? SOURCE_DEFAULT : SOURCE_TOPIC)),
                ),
              };
            }
            if (resource.resourceType === RESOURCE_BROKER) {
              return {
                ...base,
                errorCode: KafkaErrors.NONE,
                errorMessage: null,
                configs: only(entries(log.settings.topicDefaults, () => SOURCE_DEFAULT)),
              };
            }
            return {
              ...base,
              errorCode: KafkaErrors.INVALID_REQUEST,
              errorMessage: `resource type ${resource.resourceType} is not supported; expected 2 (topic) or 4 (broker)`,
              configs: [],
            };
          } catch (error) {
            const { code, message } = kafkaErrorFor(error);
            return { ...base, errorCode: code, errorMessage: message, configs: [] };
          }
        }),
      );
      return { results };
    },
  };
}
