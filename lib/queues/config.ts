/**
 * A share group's settings, as Kafka names its group configs (KIP-932's `share.*`, set with
 * IncrementalAlterConfigs on a GROUP resource, or PATCH /v1/queues/{group}): the defaults, the range
 * each value must be in, and the stored item's fields. Pure.
 *
 * Invariant: a stored setting has passed `checkShareConfig`; what is not set is the default.
 */
import { SpoolError } from '../errors.js';
import type { Isolation } from '../log/index.js';

export interface ShareGroupConfig {
  /** Where a share partition the group has never read starts: the log's start or its end. */
  readonly 'share.auto.offset.reset': 'earliest' | 'latest';
  /** How long a record stays locked to the consumer it was handed to (the HTTP receive's default visibility). */
  readonly 'share.record.lock.duration.ms': number;
  /** How many times a record is delivered before it is archived (dead). */
  readonly 'share.delivery.count.limit': number;
  /** Whether records of open or aborted transactions are handed out. */
  readonly 'share.isolation.level': Isolation;
  /**
   * The dead-letter topic (Kafka 4.4's DLQ, KIP-1191): where a record rejected, or released or
   * expired at the delivery limit, is written before it is archived. Empty: none (archived only).
   */
  readonly 'errors.deadletterqueue.topic.name': string;
  /** Whether a dead letter carries the record's key and value (else its headers only). */
  readonly 'errors.deadletterqueue.copy.record.enable': boolean;
}

export type ShareConfigKey = keyof ShareGroupConfig;

/** Kafka's defaults (group.share.record.lock.duration.ms, group.share.delivery.count.limit, ...). */
export const defaultShareConfig: ShareGroupConfig = {
  'share.auto.offset.reset': 'latest',
  'share.record.lock.duration.ms': 30_000,
  'share.delivery.count.limit': 5,
  'share.isolation.level': 'read_uncommitted',
  'errors.deadletterqueue.topic.name': '',
  'errors.deadletterqueue.copy.record.enable': false,
};

export const shareConfigKeys = Object.keys(defaultShareConfig) as ShareConfigKey[];

type Rule =
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  | { readonly kind: 'boolean' }
  /** Any string but one starting with `__` (Kafka's internal topics): the dead-letter topic's name, checked again when a record is written. */
  | { readonly kind: 'topic' };

/**
 * What each setting accepts. Kafka bounds a group's lock duration by the broker's
 * group.share.{min,max}.record.lock.duration.ms (15 s to 60 s by default) and its delivery limit
 * by group.share.{min,max}.delivery.count.limit (2 to 10); Spool serves HTTP receivers too, whose
 * visibility timeouts run from a second to SQS's 12 hours, so the lock's range is theirs.
 */
export const shareConfigRules: Readonly<Record<ShareConfigKey, Rule>> = {
  'share.auto.offset.reset': { kind: 'enum', values: ['earliest', 'latest'] },
  'share.record.lock.duration.ms': { kind: 'integer', min: 1000, max: 43_200_000 },
  'share.delivery.count.limit': { kind: 'integer', min: 2, max: 10 },
  'share.isolation.level': { kind: 'enum', values: ['read_uncommitted', 'read_committed'] },
  'errors.deadletterqueue.topic.name': { kind: 'topic' },
  'errors.deadletterqueue.copy.record.enable': { kind: 'boolean' },
};

/** A visibility (lock) a receive may ask for: the lock duration's range. */
export const lockRangeMs = shareConfigRules['share.record.lock.duration.ms'] as { readonly min: number; readonly max: number };

/** The settings to store: `changes` checked (INVALID_CONFIG, nothing changed) over `set`; null removes a setting (back to its default). */
export function alteredShareConfig(
  set: Partial<ShareGroupConfig>,
  changes: Readonly<Record<string, unknown>>,
): Partial<Record<ShareConfigKey, string | number | boolean>> {
  const out: Partial<Record<ShareConfigKey, string | number | boolean>> = { ...set };
  for (const [key, value] of Object.entries(changes)) {
    if (!(shareConfigKeys as string[]).includes(key))
      throw new SpoolError(
        'INVALID_CONFIG',
        `unknown share group config ${JSON.stringify(key)}; expected one of ${shareConfigKeys.join(', ')}`,
        {
          details: { config: key },
        },
      );
    const name = key as ShareConfigKey;
    if (value === null) delete out[name];
    else out[name] = checkShareConfig(name, value);
  }
  return out;
}

export function checkShareConfig(key: ShareConfigKey, value: unknown): string | number | boolean {
  const rule = shareConfigRules[key];
  if (rule.kind === 'boolean') {
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    // Kafka's words (ConfigDef's BOOLEAN parse).
    throw new SpoolError(
      'INVALID_CONFIG',
      `Invalid value ${String(value)} for configuration ${key}: Expected value to be either true or false`,
      {
        details: { config: key },
      },
    );
  }
  if (rule.kind === 'topic') {
    if (typeof value !== 'string') throw invalid(key, 'a topic name', value);
    if (value.startsWith('__'))
      throw new SpoolError('INVALID_CONFIG', `${key}: DLQ topic name must not start with '__'`, { details: { config: key } });
    return value;
  }
  if (rule.kind === 'enum') {
    if (typeof value === 'string' && rule.values.includes(value)) return value;
    throw invalid(key, `one of ${rule.values.join(', ')}`, value);
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= rule.min && value <= rule.max) return value;
  throw invalid(key, `an integer from ${rule.min} to ${rule.max}`, value);
}

function invalid(key: ShareConfigKey, expected: string, value: unknown): SpoolError {
  return new SpoolError('INVALID_CONFIG', `${key}: expected ${expected}, got ${JSON.stringify(value)}`, { details: { config: key } });
}
