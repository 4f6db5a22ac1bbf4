/**
 * Per-topic configuration: every topic config Apache Kafka 3.9 and 4.x accept (their LogConfig),
 * what each accepts, its default, its broker-level synonyms and what it means here, as one table.
 * Creating, altering and describing a topic (HTTP, CLI, Kafka's CreateTopics, DescribeConfigs,
 * AlterConfigs and IncrementalAlterConfigs) all validate and render through it. Pure.
 *
 * Names, types, validators and defaults are Kafka's; where 3.9 and 4.x differ the table takes the
 * union of what they accept (segment.bytes down to 3.9's 14 bytes; the 3.x-only
 * message.format.version, message.downconversion.enable and message.timestamp.difference.max.ms)
 * and 4.x's defaults (a record may be at most an hour in the future). Unknown names are refused,
 * as Kafka refuses them. Some configs are honoured (`honoured`); the rest are validated, stored and
 * reported, and mean nothing to a log kept in object storage (README, "Topic configuration").
 *
 * Kafka's LONG settings go beyond 2^53; Spool keeps JS numbers, so a value at or above 2^53 - 1
 * (Kafka's Long.MAX_VALUE, "no bound") is stored as 2^53 - 1 and shown to Kafka tools as
 * 9223372036854775807 again. LIST values are kept as Kafka prints them: comma-separated, trimmed.
 */
import { describeValue, SpoolError } from '../errors.js';

export type TimestampType = 'CreateTime' | 'LogAppendTime';

export interface TopicConfig {
  readonly 'cleanup.policy': string;
  readonly 'compression.gzip.level': number;
  readonly 'compression.lz4.level': number;
  readonly 'compression.type': string;
  readonly 'compression.zstd.level': number;
  readonly 'delete.retention.ms': number;
  /** Whether share groups may write their dead letters to this topic (Kafka 4.4's DLQ opt-in). */
  readonly 'errors.deadletterqueue.group.enable': boolean;
  readonly 'file.delete.delay.ms': number;
  readonly 'flush.messages': number;
  readonly 'flush.ms': number;
  readonly 'follower.replication.throttled.replicas': string;
  readonly 'index.interval.bytes': number;
  readonly 'leader.replication.throttled.replicas': string;
  readonly 'local.retention.bytes': number;
  readonly 'local.retention.ms': number;
  readonly 'max.compaction.lag.ms': number;
  readonly 'max.message.bytes': number;
  readonly 'message.downconversion.enable': boolean;
  readonly 'message.format.version': string;
  /** How far after the time of append a CreateTime record may be, in ms. */
  readonly 'message.timestamp.after.max.ms': number;
  /** How far before the time of append a CreateTime record may be, in ms. */
  readonly 'message.timestamp.before.max.ms': number;
  readonly 'message.timestamp.difference.max.ms': number;
  /** Which time a record carries: the producer's (CreateTime) or the broker's at append (LogAppendTime). */
  readonly 'message.timestamp.type': TimestampType;
  readonly 'min.cleanable.dirty.ratio': number;
  readonly 'min.compaction.lag.ms': number;
  readonly 'min.insync.replicas': number;
  readonly preallocate: boolean;
  readonly 'remote.log.copy.disable': boolean;
  readonly 'remote.log.delete.on.disable': boolean;
  readonly 'remote.storage.enable': boolean;
  readonly 'retention.bytes': number;
  readonly 'retention.ms': number;
  readonly 'segment.bytes': number;
  readonly 'segment.index.bytes': number;
  readonly 'segment.jitter.ms': number;
  readonly 'segment.ms': number;
  readonly 'unclean.leader.election.enable': boolean;
}

export type TopicConfigKey = keyof TopicConfig;
export type TopicConfigValue = number | string | boolean;

/** Kafka's Long.MAX_VALUE as its tools print it. */
const kafkaLongMax = '9223372036854775807';
const unbounded = Number.MAX_SAFE_INTEGER;
const intMax = 2 ** 31 - 1;

interface RuleCommon {
  /** What the config does here (DescribeConfigs' documentation, the HTTP API's description). */
  readonly meaning: string;
  /** Whether Spool acts on the value; otherwise it is validated, stored and reported only. */
  readonly honoured: boolean;
  /**
   * Kafka's broker configs behind the topic config, most specific first. Kafka reports the default
   * as a synonym only when the first carries it (not log.retention.ms, whose default is in hours).
   */
  readonly synonyms?: readonly string[];
}

export type ConfigRule = RuleCommon &
  (
    | {
        readonly kind: 'integer';
        readonly long: boolean;
        readonly min: number;
        readonly max: number;
        readonly or?: number;
        readonly default: number;
      }
    | { readonly kind: 'double'; readonly min: number; readonly max: number; readonly default: number }
    | { readonly kind: 'boolean'; readonly default: boolean }
    | { readonly kind: 'enum'; readonly values: readonly string[]; readonly default: string }
    /** Comma-separated items, each matching `item` (described by `items`). */
    | { readonly kind: 'list'; readonly item: RegExp; readonly items: string; readonly default: string }
    | { readonly kind: 'string'; readonly pattern: RegExp; readonly shape: string; readonly default: string }
  );

const long = (min: number, defaultValue: number, meaning: string, honoured: boolean, synonyms?: readonly string[]) =>
  ({ kind: 'integer', long: true, min, max: unbounded, default: defaultValue, meaning, honoured, synonyms }) as const;
const int = (min: number, defaultValue: number, meaning: string, synonyms?: readonly string[], max = intMax) =>
  ({ kind: 'integer', long: false, min, max, default: defaultValue, meaning, honoured: false, synonyms }) as const;
const bool = (defaultValue: boolean, meaning: string, synonyms?: readonly string[]) =>
  ({ kind: 'boolean', default: defaultValue, meaning, honoured: false, synonyms }) as const;
const throttledReplicas = (meaning: string) =>
  ({
    kind: 'list',
    item: /^(\*|\d+:\d+)$/,
    items: '[partitionId]:[brokerId] pairs or *',
    default: '',
    meaning,
    honoured: false,
  }) as const;

const noReplicas = 'no effect: partitions are not replicated between brokers; durability is the object store';
const noSegments = 'no effect: Spool lays out its own objects and indexes in object storage';
/** What a config of the log cleaner (cleanup.policy=compact, maintenance/cleaner.ts) does. */
const cleaner = (what: string) => `${what}; only with cleanup.policy=compact`;

/** Validation as data: every topic config, what it accepts, its default and what it means. */
export const topicConfigRules: Readonly<Record<TopicConfigKey, ConfigRule>> = {
  'cleanup.policy': {
    kind: 'list',
    item: /^(compact|delete)$/,
    items: 'compact, delete',
    default: 'delete',
    meaning:
      'delete: records are removed by retention.ms and retention.bytes; compact: the latest record per key is kept (older ones and, after delete.retention.ms, tombstones are removed); both: compact, then delete; empty: kept until deleted by hand',
    honoured: true,
    synonyms: ['log.cleanup.policy'],
  },
  'compression.gzip.level': {
    ...int(
      1,
      -1,
      'the gzip level if compression.type=gzip; stored and reported: batches are stored as produced',
      ['compression.gzip.level'],
      9,
    ),
    or: -1,
  },
  'compression.lz4.level': int(
    1,
    9,
    'the lz4 level if compression.type=lz4; stored and reported: batches are stored as produced',
    ['compression.lz4.level'],
    17,
  ),
  'compression.type': {
    kind: 'enum',
    values: ['uncompressed', 'zstd', 'lz4', 'snappy', 'gzip', 'producer'],
    default: 'producer',
    meaning: 'stored and reported; batches are always stored as the producer compressed them (as producer), never re-compressed',
    honoured: false,
    synonyms: ['compression.type'],
  },
  'compression.zstd.level': int(
    -131_072,
    3,
    'the zstd level if compression.type=zstd; stored and reported',
    ['compression.zstd.level'],
    22,
  ),
  'delete.retention.ms': long(
    0,
    86_400_000,
    cleaner('how long a tombstone (a record with a null value) stays readable after the cleaner first reaches it, in ms'),
    true,
    ['log.cleaner.delete.retention.ms'],
  ),
  'errors.deadletterqueue.group.enable': {
    ...bool(false, 'whether share groups may write dead letters to this topic (their errors.deadletterqueue.topic.name)'),
    honoured: true,
  },
  'file.delete.delay.ms': long(0, 60_000, 'no effect: expired objects are deleted by the garbage collector', false, [
    'log.segment.delete.delay.ms',
  ]),
  'flush.messages': long(1, unbounded, 'no effect: every acknowledged batch is already in object storage', false, [
    'log.flush.interval.messages',
  ]),
  'flush.ms': long(0, unbounded, 'no effect: every acknowledged batch is already in object storage', false, [
    'log.flush.interval.ms',
    'log.flush.scheduler.interval.ms',
  ]),
  'follower.replication.throttled.replicas': throttledReplicas(noReplicas),
  'index.interval.bytes': int(0, 4096, noSegments, ['log.index.interval.bytes']),
  'leader.replication.throttled.replicas': throttledReplicas(noReplicas),
  'local.retention.bytes': long(-2, -2, 'no effect: there is no local tier; retention.bytes applies', false, ['log.local.retention.bytes']),
  'local.retention.ms': long(-2, -2, 'no effect: there is no local tier; retention.ms applies', false, ['log.local.retention.ms']),
  'max.compaction.lag.ms': long(
    1,
    unbounded,
    cleaner('the longest a record waits to be cleaned, in ms, whatever min.cleanable.dirty.ratio says (after the merge of its flush rows)'),
    true,
    ['log.cleaner.max.compaction.lag.ms'],
  ),
  'max.message.bytes': {
    kind: 'integer',
    long: false,
    min: 0,
    max: 64 * 1024 * 1024,
    default: 1_048_588,
    meaning: 'the largest record batch (or record, over HTTP) accepted, in bytes; at most 64 MiB here',
    honoured: true,
    synonyms: ['message.max.bytes'],
  },
  'message.downconversion.enable': bool(true, 'Kafka 3.x only; no effect: batches are never down-converted', [
    'log.message.downconversion.enable',
  ]),
  'message.format.version': {
    kind: 'string',
    pattern: /^\d+\.\d+(\.\d+)?(-IV\d+)?$/,
    shape: 'a Kafka version such as 3.0-IV1',
    default: '3.0-IV1',
    meaning: 'Kafka 3.x only; no effect: batches are stored in format v2 as produced',
    honoured: false,
    synonyms: ['log.message.format.version'],
  },
  'message.timestamp.after.max.ms': long(0, 3_600_000, 'how far after the time of append a CreateTime record may be, in ms', true, [
    'log.message.timestamp.after.max.ms',
  ]),
  'message.timestamp.before.max.ms': long(0, unbounded, 'how far before the time of append a CreateTime record may be, in ms', true, [
    'log.message.timestamp.before.max.ms',
  ]),
  'message.timestamp.difference.max.ms': long(
    0,
    unbounded,
    'Kafka 3.x only (deprecated); stored and reported: set message.timestamp.before.max.ms and after.max.ms instead',
    false,
    ['log.message.timestamp.difference.max.ms'],
  ),
  'message.timestamp.type': {
    kind: 'enum',
    values: ['CreateTime', 'LogAppendTime'],
    default: 'CreateTime',
    meaning: "the time records carry: the producer's (CreateTime) or the time of append (LogAppendTime)",
    honoured: true,
    synonyms: ['log.message.timestamp.type'],
  },
  'min.cleanable.dirty.ratio': {
    kind: 'double',
    min: 0,
    max: 1,
    default: 0.5,
    meaning: cleaner('a partition is cleaned once this share of its cleanable bytes has not been cleaned yet'),
    honoured: true,
    synonyms: ['log.cleaner.min.cleanable.ratio'],
  },
  'min.compaction.lag.ms': long(
    0,
    0,
    cleaner('the least time a record stays uncleaned, in ms (judged by the newest record timestamp of its segment)'),
    true,
    ['log.cleaner.min.compaction.lag.ms'],
  ),
  'min.insync.replicas': int(1, 1, `${noReplicas}; an acknowledged batch is durable in object storage`, ['min.insync.replicas']),
  preallocate: bool(false, noSegments, ['log.preallocate']),
  'remote.log.copy.disable': bool(false, 'no effect: there is no local tier to copy from'),
  'remote.log.delete.on.disable': bool(false, 'no effect: there is no local tier'),
  'remote.storage.enable': bool(false, 'no effect: every topic is kept in object storage'),
  'retention.bytes': long(-1, -1, 'how many bytes a partition keeps; -1 for no limit', true, ['log.retention.bytes']),
  'retention.ms': long(-1, 7 * 24 * 60 * 60 * 1000, 'how long records are kept, in ms; -1 keeps them forever', true, [
    'log.retention.ms',
    'log.retention.minutes',
    'log.retention.hours',
  ]),
  'segment.bytes': int(14, 1_073_741_824, noSegments, ['log.segment.bytes']),
  'segment.index.bytes': int(4, 10_485_760, noSegments, ['log.index.size.max.bytes']),
  'segment.jitter.ms': long(0, 0, noSegments, false, ['log.roll.jitter.ms', 'log.roll.jitter.hours']),
  'segment.ms': long(
    1,
    7 * 24 * 60 * 60 * 1000,
    "compacted topics: the longest a flush's records wait to be merged into a per-partition segment (and so become cleanable), in ms, if less than the agent's SPOOL_COMPACTION_TAIL_AGE_MS; no effect on other topics",
    true,
    ['log.roll.ms', 'log.roll.hours'],
  ),
  'unclean.leader.election.enable': bool(false, `${noReplicas}; there is no leader election to be unclean`, [
    'unclean.leader.election.enable',
  ]),
};

export const topicConfigKeys = Object.keys(topicConfigRules) as TopicConfigKey[];

export const defaultTopicConfig: TopicConfig = Object.fromEntries(
  topicConfigKeys.map((key) => [key, topicConfigRules[key].default]),
) as unknown as TopicConfig;

export function isTopicConfigKey(key: string): key is TopicConfigKey {
  return Object.hasOwn(topicConfigRules, key);
}

/** Checks a partial config against the rules; unknown keys are refused, not ignored. */
export function validateTopicConfig(config: unknown): Partial<TopicConfig> {
  if (config === undefined) return {};
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new SpoolError('INVALID_CONFIG', `config must be an object, got ${describeValue(config)}`);
  }
  const out: Record<string, TopicConfigValue> = {};
  for (const [key, value] of Object.entries(config)) out[key] = checkValue(ruleFor(key), key, value);
  return out as Partial<TopicConfig>;
}

/** Checks what no single value shows: a whole config's values against each other, as Kafka's LogConfig.validateValues. */
export function validateTopicConfigSet(config: TopicConfig): TopicConfig {
  const [min, max] = [config['min.compaction.lag.ms'], config['max.compaction.lag.ms']];
  if (min > max)
    throw new SpoolError('INVALID_CONFIG', `conflict topic config setting min.compaction.lag.ms (${min}) > max.compaction.lag.ms (${max})`);
  return config;
}

/**
 * A value as Kafka's tools send it (a string, in CreateTopics and AlterConfigs), checked against the
 * rule as Kafka parses it (trimmed): numbers in decimal (a LONG beyond 2^53 - 1 means "no bound"),
 * booleans in any case, lists comma-separated, enums by exact name.
 */
export function parseTopicConfigValue(key: string, text: string | null): TopicConfigValue {
  const rule = ruleFor(key);
  if (text === null) return checkValue(rule, key, text);
  const trimmed = text.trim();
  switch (rule.kind) {
    case 'enum':
    case 'list':
    case 'string':
      return checkValue(rule, key, trimmed);
    case 'boolean':
      return checkValue(rule, key, /^(true|false)$/i.test(trimmed) ? trimmed.toLowerCase() === 'true' : text);
    case 'double':
      return checkValue(rule, key, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(trimmed) ? Number(trimmed) : text);
    case 'integer': {
      if (!/^[-+]?\d{1,25}$/.test(trimmed)) return checkValue(rule, key, text);
      const value = BigInt(trimmed);
      if (rule.long && value >= BigInt(unbounded)) return unbounded;
      return checkValue(rule, key, value > BigInt(unbounded) || value < -BigInt(unbounded) ? text : Number(value));
    }
  }
}

/** A value as Kafka's DescribeConfigs shows it (Java's rendering: 0.5, 1.0, true, 9223372036854775807). */
export function renderTopicConfigValue(key: TopicConfigKey, value: TopicConfigValue): string {
  const rule = topicConfigRules[key];
  if (rule.kind === 'integer' && rule.long && value === unbounded) return kafkaLongMax;
  if (rule.kind === 'double' && typeof value === 'number' && Number.isInteger(value)) return value.toFixed(1);
  return String(value);
}

/** The items of a LIST config's value ("" has none). */
export function listItems(value: string): string[] {
  return value === '' ? [] : value.split(',');
}

/** What cleanup.policy asks of maintenance: retention (delete), the log cleaner (compact), both, or neither (""). */
export function cleanupPolicy(config: Pick<TopicConfig, 'cleanup.policy'>): { readonly compact: boolean; readonly delete: boolean } {
  const items = listItems(config['cleanup.policy']);
  return { compact: items.includes('compact'), delete: items.includes('delete') };
}

/** A stored topic's config: keys added to Spool after the topic was created take the current defaults. */
export function withDefaults(stored: Partial<TopicConfig> | undefined, defaults: TopicConfig = defaultTopicConfig): TopicConfig {
  return { ...defaults, ...stored };
}

/** The key, if it is a topic config; INVALID_CONFIG otherwise. */
export function checkTopicConfigKey(key: string): TopicConfigKey {
  ruleFor(key);
  return key as TopicConfigKey;
}

function ruleFor(key: string): ConfigRule {
  if (!isTopicConfigKey(key))
    throw new SpoolError('INVALID_CONFIG', `Unknown topic config name: ${key}`, {
      details: { key },
    });
  return topicConfigRules[key];
}

function checkValue(rule: ConfigRule, key: string, value: unknown): TopicConfigValue {
  const refuse = (expected: string): never => {
    throw new SpoolError('INVALID_CONFIG', `${key} must be ${expected} (${rule.meaning}), got ${describeValue(value)}`, {
      details: { key },
    });
  };
  switch (rule.kind) {
    case 'enum':
      if (typeof value === 'string' && rule.values.includes(value)) return value;
      return refuse(`one of ${rule.values.join(', ')}`);
    case 'boolean':
      if (typeof value === 'boolean') return value;
      return refuse('true or false');
    case 'string':
      if (typeof value === 'string' && rule.pattern.test(value)) return value;
      return refuse(rule.shape);
    case 'double':
      if (typeof value === 'number' && Number.isFinite(value) && value >= rule.min && value <= rule.max) return value;
      return refuse(`a number in [${rule.min}, ${rule.max}]`);
    case 'integer': {
      const inRange = typeof value === 'number' && Number.isInteger(value) && value >= rule.min && value <= rule.max;
      if (inRange || (rule.or !== undefined && value === rule.or)) return value as number;
      return refuse(`an integer in [${rule.min}, ${rule.max}]${rule.or === undefined ? '' : ` or ${rule.or}`}`);
    }
    case 'list': {
      if (typeof value !== 'string') return refuse(`a comma-separated list of ${rule.items}`);
      const items = listItems(value).map((item) => item.trim());
      if (items.some((item) => !rule.item.test(item))) return refuse(`a comma-separated list of ${rule.items}`);
      return [...new Set(items)].join(',');
    }
  }
}
