/**
 * Per-topic configuration: every key Spool honours, what it accepts, its default and what it means,
 * as one table. Creating, altering and describing a topic (HTTP, CLI, Kafka's CreateTopics and
 * DescribeConfigs) all validate and render through it. Pure.
 *
 * Names and defaults are Apache Kafka's (4.x where 3.9 and 4.x differ, e.g. a record may be at most
 * an hour in the future). Kafka's LONG settings go beyond 2^53; Spool keeps JS numbers, so a value
 * at or above 2^53 - 1 (Kafka's Long.MAX_VALUE, "no bound") is stored as 2^53 - 1 and shown to
 * Kafka tools as 9223372036854775807 again.
 */
import { describeValue, SpoolError } from '../errors.js';

export type TimestampType = 'CreateTime' | 'LogAppendTime';

export interface TopicConfig {
  readonly 'retention.ms': number;
  readonly 'retention.bytes': number;
  readonly 'max.message.bytes': number;
  /** Which time a record carries: the producer's (CreateTime) or the broker's at append (LogAppendTime). */
  readonly 'message.timestamp.type': TimestampType;
  /** How far in the past a CreateTime record may be, in ms. */
  readonly 'message.timestamp.before.max.ms': number;
  /** How far in the future a CreateTime record may be, in ms. */
  readonly 'message.timestamp.after.max.ms': number;
}

export type TopicConfigKey = keyof TopicConfig;

/** Kafka's Long.MAX_VALUE as its tools print it. */
const kafkaLongMax = '9223372036854775807';
const unbounded = Number.MAX_SAFE_INTEGER;

type ConfigRule =
  | {
      readonly kind: 'integer';
      readonly min: number;
      readonly max: number;
      readonly long?: boolean;
      readonly default: number;
      readonly meaning: string;
    }
  | { readonly kind: 'enum'; readonly values: readonly string[]; readonly default: string; readonly meaning: string };

/** Validation as data: every topic config key, what it accepts, its default and what it means. */
export const topicConfigRules: Readonly<Record<TopicConfigKey, ConfigRule>> = {
  'retention.ms': {
    kind: 'integer',
    min: -1,
    max: unbounded,
    long: true,
    default: 7 * 24 * 60 * 60 * 1000,
    meaning: 'how long records are kept, in ms; -1 keeps them forever',
  },
  'retention.bytes': {
    kind: 'integer',
    min: -1,
    max: unbounded,
    long: true,
    default: -1,
    meaning: 'how many bytes a partition keeps; -1 for no limit',
  },
  'max.message.bytes': {
    kind: 'integer',
    min: 1,
    max: 64 * 1024 * 1024,
    default: 1_048_588,
    meaning: 'the largest record batch (or record, over HTTP) accepted, in bytes',
  },
  'message.timestamp.type': {
    kind: 'enum',
    values: ['CreateTime', 'LogAppendTime'],
    default: 'CreateTime',
    meaning: "the time records carry: the producer's (CreateTime) or the time of append (LogAppendTime)",
  },
  'message.timestamp.before.max.ms': {
    kind: 'integer',
    min: 0,
    max: unbounded,
    long: true,
    default: unbounded,
    meaning: 'how far before the time of append a CreateTime record may be, in ms',
  },
  'message.timestamp.after.max.ms': {
    kind: 'integer',
    min: 0,
    max: unbounded,
    long: true,
    default: 3_600_000,
    meaning: 'how far after the time of append a CreateTime record may be, in ms',
  },
};

export const topicConfigKeys = Object.keys(topicConfigRules) as TopicConfigKey[];

export const defaultTopicConfig: TopicConfig = Object.fromEntries(
  topicConfigKeys.map((key) => [key, topicConfigRules[key].default]),
) as unknown as TopicConfig;

/** Checks a partial config against the rules; unknown keys are refused, not ignored. */
export function validateTopicConfig(config: unknown): Partial<TopicConfig> {
  if (config === undefined) return {};
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new SpoolError('INVALID_CONFIG', `config must be an object, got ${describeValue(config)}`);
  }
  const out: Record<string, number | string> = {};
  for (const [key, value] of Object.entries(config)) out[key] = checkValue(ruleFor(key), key, value);
  return out as Partial<TopicConfig>;
}

/**
 * A value as Kafka's tools send it (a string, in CreateTopics and AlterConfigs), checked against the
 * rule: integers in decimal (a LONG beyond 2^53 - 1 means "no bound"), enums by exact name.
 */
export function parseTopicConfigValue(key: string, text: string | null): number | string {
  const rule = ruleFor(key);
  if (rule.kind === 'enum') return checkValue(rule, key, text);
  if (text === null || !/^-?\d{1,25}$/.test(text)) return checkValue(rule, key, text);
  const value = BigInt(text);
  if (rule.long === true && value >= BigInt(unbounded)) return unbounded;
  return checkValue(rule, key, value > BigInt(unbounded) || value < -BigInt(unbounded) ? text : Number(value));
}

/** A value as Kafka's DescribeConfigs shows it. */
export function renderTopicConfigValue(key: TopicConfigKey, value: number | string): string {
  const rule = topicConfigRules[key];
  return rule.kind === 'integer' && rule.long === true && value === unbounded ? kafkaLongMax : String(value);
}

/** A stored topic's config: keys added to Spool after the topic was created take the current defaults. */
export function withDefaults(stored: Partial<TopicConfig> | undefined, defaults: TopicConfig = defaultTopicConfig): TopicConfig {
  return { ...defaults, ...stored };
}

function ruleFor(key: string): ConfigRule {
  const rule = topicConfigRules[key as TopicConfigKey];
  if (rule === undefined)
    throw new SpoolError('INVALID_CONFIG', `unknown topic config ${JSON.stringify(key)}; known: ${topicConfigKeys.join(', ')}`, {
      details: { key },
    });
  return rule;
}

function checkValue(rule: ConfigRule, key: string, value: unknown): number | string {
  if (rule.kind === 'enum') {
    if (typeof value === 'string' && rule.values.includes(value)) return value;
    throw new SpoolError(
      'INVALID_CONFIG',
      `${key} must be one of ${rule.values.join(', ')} (${rule.meaning}), got ${describeValue(value)}`,
      { details: { key } },
    );
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > rule.max) {
    throw new SpoolError(
      'INVALID_CONFIG',
      `${key} must be an integer in [${rule.min}, ${rule.max}] (${rule.meaning}), got ${describeValue(value)}`,
      { details: { key } },
    );
  }
  return value;
}
