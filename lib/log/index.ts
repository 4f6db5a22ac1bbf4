/** lib/log: the engine. See log.ts for the façade and commit.ts for the invariants. */
export {
  Log,
  type LogOptions,
  type LogInternals,
  type LogSettings,
  type LogStats,
  type ProduceRecord,
  type ProducedOffset,
  type OffsetSpec,
  type OffsetQuery,
  type PartitionDescription,
  type TransactionalAppend,
  type TxnMarker,
  type OperatorAbort,
  operatorAbortVersion,
} from './log.js';
export type { Acks } from './producer.js';
export type { TopicItem, PartitionState } from './layout.js';
export { leaseHolds, onRegistration, type WriterRegistration } from './leases.js';
export { maxPartitions, maxTopicNameLength, overridesOf, validatePartitionCount, validateTopicName, type TopicChange } from './topics.js';
export {
  defaultTopicConfig,
  checkTopicConfigKey,
  isTopicConfigKey,
  listItems,
  parseTopicConfigValue,
  renderTopicConfigValue,
  topicConfigKeys,
  topicConfigRules,
  validateTopicConfig,
  validateTopicConfigSet,
  type ConfigRule,
  type TimestampType,
  type TopicConfig,
  type TopicConfigKey,
  type TopicConfigValue,
} from './topic-config.js';
export type { AbortedTransaction, FetchResult, FetchOptions, Isolation, TimestampedOffset } from './reader.js';
export { skippedBatches } from './reader.js';
export { defaultProducerIdExpirationMs } from './idempotence.js';
export { packedCommitsByDefault, type PackedCommitsMode } from './packing.js';
export {
  FeatureLevels,
  commitVersionFeature,
  initialLevels,
  newestLevels,
  packedCommitsLevel,
  readFeatures,
  registrationFeatures,
  unsupportedLevel,
  unsupportedLevels,
  supportedFeatures,
  type FeatureUpdate,
  type FinalizedFeatures,
} from './features.js';
export type { MaintenanceOptions, MaintenanceReport, MaintenanceResult } from './maintenance/index.js';
