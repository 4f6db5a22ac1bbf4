/** lib/log: the engine. See log.ts for the façade and commit.ts for the invariants. */
export {
  Log,
  type LogOptions,
  type LogInternals,
  type LogSettings,
  type ProduceRecord,
  type ProducedOffset,
  type OffsetSpec,
  type OffsetQuery,
  type PartitionDescription,
} from './log.js';
export type { Acks } from './producer.js';
export type { TopicItem, PartitionState } from './layout.js';
export { maxPartitions, maxTopicNameLength, validatePartitionCount, validateTopicName } from './topics.js';
export {
  defaultTopicConfig,
  parseTopicConfigValue,
  renderTopicConfigValue,
  topicConfigKeys,
  topicConfigRules,
  validateTopicConfig,
  type TimestampType,
  type TopicConfig,
  type TopicConfigKey,
} from './topic-config.js';
export type { FetchResult, FetchOptions, TimestampedOffset } from './reader.js';
export type { MaintenanceOptions, MaintenanceResult } from './maintenance/index.js';
