/** lib/log: the engine. See log.ts for the façade and commit.ts for the invariants. */
export { Log, type LogOptions, type ProduceRecord, type ProducedOffset, type OffsetSpec, type PartitionDescription } from './log.js';
export type { Acks } from './producer.js';
export type { TopicConfig, TopicItem, PartitionState } from './layout.js';
export { defaultTopicConfig, topicConfigRules, validatePartitionCount, validateTopicName, validateTopicConfig } from './topics.js';
export type { FetchResult, FetchOptions } from './reader.js';
export type { MaintenanceOptions, MaintenanceResult } from './maintenance/index.js';
