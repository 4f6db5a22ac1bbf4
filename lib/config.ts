/**
 * Configuration, read once from the environment by typed helpers that name the variable in every
 * error. Every setting has a default that runs Spool locally with no account: embedded stores under
 * `SPOOL_DATA_DIR`. The README's configuration table documents each (a test checks it names them all).
 */
import { SpoolError } from './errors.js';
import type { Compression } from './format/index.js';
import {
  defaultProducerIdExpirationMs,
  newestLevels,
  packedCommitsByDefault,
  unsupportedLevel,
  type PackedCommitsMode,
} from './log/index.js';
import type { MigrationPolicy } from './kafka/groups/consumer-classic.js';

export interface SpoolConfig {
  readonly dataDir: string;
  readonly objectStoreUrl: string | undefined;
  readonly metadataStoreUrl: string | undefined;
  readonly createStores: boolean;
  readonly autoCreateTopics: boolean;
  readonly defaultPartitions: number;
  /** Least time between the starts of a writer's flushes (group commit; producer.ts). */
  readonly batchIntervalMs: number;
  readonly flushBytes: number;
  readonly compression: Compression;
  readonly cacheBytes: number;
  readonly leaseMs: number;
  readonly leaseIdleMs: number;
  /** Packed commits (lib/log/packing.ts): an agent's flush commits its led partitions' chunks as one item. */
  readonly packedCommits: PackedCommitsMode;
  /** How often packed partitions' tails that are due become rows. */
  readonly packedMaterializeMs: number;
  /** A packed partition's tail is due once its oldest commit is this old (or it holds 1 MiB). */
  readonly packedMaterializeAgeMs: number;
  /** The feature levels a new cluster starts at (lib/log/features.ts newestLevels, or SPOOL_INITIAL_FEATURES). */
  readonly initialFeatures: Readonly<Record<string, number>>;
  readonly pollIntervalMs: number;
  readonly host: string;
  readonly httpPort: number;
  readonly httpMaxBodyBytes: number;
  /** Kafka listener port; -1: no Kafka listener. */
  readonly kafkaPort: number;
  readonly kafkaAdvertisedHost: string | undefined;
  readonly kafkaAdvertisedPort: number | undefined;
  readonly kafkaMaxRequestBytes: number;
  readonly kafkaMaxBufferedBytes: number;
  readonly kafkaInitialRebalanceDelayMs: number;
  /** Kafka's group.consumer.migration.policy. */
  readonly kafkaGroupMigrationPolicy: MigrationPolicy;
  /** Kafka's errors.deadletterqueue.topic.name.prefix: share groups' dead-letter topics must start with it ("" for any name). */
  readonly deadLetterTopicPrefix: string;
  /** Kafka's errors.deadletterqueue.auto.create.topics.enable. */
  readonly autoCreateDeadLetterTopics: boolean;
  readonly maintenanceIntervalMs: number;
  readonly compactionTargetBytes: number;
  readonly compactionTailAgeMs: number;
  readonly gcGraceMs: number;
  /** Kafka's producer.id.expiration.ms. */
  readonly producerIdExpirationMs: number;
  readonly metrics: 'off' | 'emf';
  /** How long the agent's GET /metrics reuses consumer lag read from the stores. */
  readonly metricsLagCacheMs: number;
  /** API keys required on the HTTP API: with SPOOL_AUTH=keys, or when a bootstrap token is set. */
  readonly auth: boolean;
  readonly authToken: string | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Every variable `loadConfig` reads, with a line of help: `spool serve` offers each as a flag. */
export const configVariables: readonly (readonly [name: string, help: string])[] = [
  ['SPOOL_DATA_DIR', 'directory of the embedded stores (default ./.spool)'],
  ['SPOOL_OBJECT_STORE', 'segment objects: file:///dir or s3://bucket/prefix'],
  ['SPOOL_METADATA_STORE', 'topics, offsets, leases: lmdb:///dir or dynamodb://table'],
  ['SPOOL_CREATE_STORES', 'create the bucket, table or directories when missing (default true)'],
  ['SPOOL_AUTO_CREATE_TOPICS', 'create a topic on first produce (default true)'],
  ['SPOOL_DEFAULT_PARTITIONS', 'partitions of auto-created topics (default 1)'],
  [
    'SPOOL_BATCH_INTERVAL_MS',
    "least time between the starts of a writer's flushes; a flush starts when a flush slot is free and this has passed, or at SPOOL_FLUSH_BYTES buffered (default 10)",
  ],
  ['SPOOL_LINGER_MS', 'former name of SPOOL_BATCH_INTERVAL_MS, read when that is not set'],
  ['SPOOL_FLUSH_BYTES', 'buffered bytes that start a flush (default 4194304)'],
  ['SPOOL_COMPRESSION', 'none, gzip, snappy, lz4 or zstd (default none)'],
  ['SPOOL_CACHE_BYTES', 'memory for recent chunks (default 67108864)'],
  [
    'SPOOL_LEASE_MS',
    'how long an agent registration, and the partition leases and groups held on it, lives unless renewed (default 10000)',
  ],
  ['SPOOL_LEASE_IDLE_MS', 'a partition lease unused this long is released (default 60000)'],
  [
    'SPOOL_PACKED_COMMITS',
    "packed commits: an agent serving Kafka commits a flush's chunks of the partitions it leads as one item, not one write per partition: auto (the default) once the cluster's spool.commit.version is 1 (a new cluster's, or kafka-features.sh upgrade), true always, false never (docs/packed-commits.md)",
  ],
  [
    'SPOOL_INITIAL_FEATURES',
    'the feature levels a new cluster starts at, feature=level comma-separated (default the newest: spool.commit.version=1); read by the first agent on an empty store',
  ],
  ['SPOOL_PACKED_MATERIALIZE_MS', "how often packed partitions' recent commits that are due become batch rows (default 10000)"],
  [
    'SPOOL_PACKED_MATERIALIZE_AGE_MS',
    "a packed partition's recent commits become rows at the first round after the oldest is this old, or they hold 1 MiB (default 30000, at most 45000)",
  ],
  ['SPOOL_POLL_INTERVAL_MS', "how often a long-poll checks for other writers' commits (default 250)"],
  ['SPOOL_HOST', 'address to listen on (default 127.0.0.1)'],
  ['SPOOL_HTTP_PORT', 'HTTP port (default 8080; 0: any free port)'],
  ['SPOOL_HTTP_MAX_BODY_BYTES', 'largest request body (default 16777216)'],
  ['SPOOL_KAFKA_PORT', 'Kafka protocol port (default 9092; 0: any free port; -1: no Kafka listener)'],
  [
    'SPOOL_KAFKA_ADVERTISED_HOST',
    "host Kafka clients are told to connect to; auto: this machine's first non-loopback IPv4 address (default SPOOL_HOST)",
  ],
  ['SPOOL_KAFKA_ADVERTISED_PORT', 'port Kafka clients are told to connect to (default the bound Kafka port)'],
  ['SPOOL_KAFKA_MAX_REQUEST_BYTES', 'largest Kafka request frame (default 104857600)'],
  ['SPOOL_KAFKA_MAX_BUFFERED_BYTES', 'Kafka request bytes held at once across connections; more waits unread (default 268435456)'],
  [
    'SPOOL_KAFKA_INITIAL_REBALANCE_DELAY_MS',
    "how long a new consumer group waits for more members before its first generation, as Kafka's group.initial.rebalance.delay.ms (default 3000)",
  ],
  [
    'SPOOL_KAFKA_GROUP_MIGRATION_POLICY',
    "online conversion of a live classic group to a consumer group (KIP-848) and back, as Kafka's group.consumer.migration.policy: bidirectional, upgrade, downgrade or disabled (default bidirectional)",
  ],
  [
    'SPOOL_DLQ_TOPIC_PREFIX',
    "the prefix every share group's dead-letter topic must have, as Kafka's errors.deadletterqueue.topic.name.prefix (default dlq.; empty: any name)",
  ],
  [
    'SPOOL_DLQ_AUTO_CREATE_TOPICS',
    "create a missing dead-letter topic, as Kafka's errors.deadletterqueue.auto.create.topics.enable (default false)",
  ],
  ['SPOOL_MAINTENANCE_INTERVAL_MS', 'maintenance pass interval (default 60000; 0: never)'],
  ['SPOOL_COMPACTION_TARGET_BYTES', 'compacted segment size (default 67108864)'],
  ['SPOOL_COMPACTION_TAIL_AGE_MS', 'records younger than this wait uncompacted unless they fill a segment (default 600000)'],
  ['SPOOL_GC_GRACE_MS', 'grace period before unreferenced objects are deleted (default 3600000)'],
  [
    'SPOOL_PRODUCER_ID_EXPIRATION_MS',
    "an idempotent producer's state not written for this long is forgotten, as Kafka's producer.id.expiration.ms (default 86400000)",
  ],
  ['SPOOL_AUTH', 'off, or keys: every API request needs an API key with the right permission (default off)'],
  ['SPOOL_AUTH_TOKEN', 'a bootstrap admin token (turns keys on); make API keys with it'],
  ['SPOOL_METRICS', 'off, or emf: CloudWatch Embedded Metric Format lines on stdout (default off)'],
  ['SPOOL_METRICS_LAG_CACHE_MS', 'how long GET /metrics reuses consumer lag read from the stores (default 15000)'],
  ['SPOOL_LOG_LEVEL', 'debug, info, warn or error (default info)'],
];

/** Kafka's group.consumer.migration.policy values (a type-only import: the Lambda bundle stays without the Kafka listener). */
const migrationPolicies = ['bidirectional', 'upgrade', 'downgrade', 'disabled'] as const satisfies readonly MigrationPolicy[];

/** Defaults a deployment changes (a Lambda: no batch interval, no store creation); the environment still wins. */
export interface ConfigDefaults {
  readonly batchIntervalMs?: number;
  readonly createStores?: boolean;
}

export function loadConfig(env: Env = process.env, defaults: ConfigDefaults = {}): SpoolConfig {
  return {
    dataDir: stringVar(env, 'SPOOL_DATA_DIR', './.spool'),
    objectStoreUrl: env.SPOOL_OBJECT_STORE || undefined,
    metadataStoreUrl: env.SPOOL_METADATA_STORE || undefined,
    createStores: boolVar(env, 'SPOOL_CREATE_STORES', defaults.createStores ?? true),
    autoCreateTopics: boolVar(env, 'SPOOL_AUTO_CREATE_TOPICS', true),
    defaultPartitions: intVar(env, 'SPOOL_DEFAULT_PARTITIONS', 1, 1, 10_000),
    batchIntervalMs: intVar(env, renamed(env, 'SPOOL_LINGER_MS', 'SPOOL_BATCH_INTERVAL_MS'), defaults.batchIntervalMs ?? 10, 0, 60_000),
    flushBytes: intVar(env, 'SPOOL_FLUSH_BYTES', 4 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    compression: enumVar(env, 'SPOOL_COMPRESSION', ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const, 'none'),
    cacheBytes: intVar(env, 'SPOOL_CACHE_BYTES', 64 * 1024 * 1024, 0, Number.MAX_SAFE_INTEGER),
    leaseMs: intVar(env, 'SPOOL_LEASE_MS', 10_000, 100, 3_600_000),
    leaseIdleMs: intVar(env, 'SPOOL_LEASE_IDLE_MS', 60_000, 1000, 86_400_000),
    packedCommits: packedCommitsVar(env, 'SPOOL_PACKED_COMMITS'),
    packedMaterializeMs: intVar(env, 'SPOOL_PACKED_MATERIALIZE_MS', 10_000, 100, 3_600_000),
    packedMaterializeAgeMs: intVar(env, 'SPOOL_PACKED_MATERIALIZE_AGE_MS', 30_000, 0, 45_000),
    initialFeatures: featureLevelsVar(env, 'SPOOL_INITIAL_FEATURES'),
    pollIntervalMs: intVar(env, 'SPOOL_POLL_INTERVAL_MS', 250, 10, 60_000),
    host: stringVar(env, 'SPOOL_HOST', '127.0.0.1'),
    httpPort: intVar(env, 'SPOOL_HTTP_PORT', 8080, 0, 65_535),
    httpMaxBodyBytes: intVar(env, 'SPOOL_HTTP_MAX_BODY_BYTES', 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    kafkaPort: intVar(env, 'SPOOL_KAFKA_PORT', 9092, -1, 65_535),
    kafkaAdvertisedHost: env.SPOOL_KAFKA_ADVERTISED_HOST || undefined,
    kafkaAdvertisedPort: env.SPOOL_KAFKA_ADVERTISED_PORT ? intVar(env, 'SPOOL_KAFKA_ADVERTISED_PORT', 9092, 1, 65_535) : undefined,
    kafkaMaxRequestBytes: intVar(env, 'SPOOL_KAFKA_MAX_REQUEST_BYTES', 100 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    kafkaMaxBufferedBytes: intVar(env, 'SPOOL_KAFKA_MAX_BUFFERED_BYTES', 256 * 1024 * 1024, 1024, 16 * 1024 * 1024 * 1024),
    kafkaInitialRebalanceDelayMs: intVar(env, 'SPOOL_KAFKA_INITIAL_REBALANCE_DELAY_MS', 3000, 0, 300_000),
    kafkaGroupMigrationPolicy: enumVar(env, 'SPOOL_KAFKA_GROUP_MIGRATION_POLICY', migrationPolicies, 'bidirectional'),
    deadLetterTopicPrefix: env.SPOOL_DLQ_TOPIC_PREFIX ?? 'dlq.',
    autoCreateDeadLetterTopics: boolVar(env, 'SPOOL_DLQ_AUTO_CREATE_TOPICS', false),
    maintenanceIntervalMs: intVar(env, 'SPOOL_MAINTENANCE_INTERVAL_MS', 60_000, 0, 86_400_000),
    compactionTargetBytes: intVar(env, 'SPOOL_COMPACTION_TARGET_BYTES', 64 * 1024 * 1024, 1024, 2 ** 31 - 1),
    compactionTailAgeMs: intVar(env, 'SPOOL_COMPACTION_TAIL_AGE_MS', 600_000, 0, 30 * 86_400_000),
    gcGraceMs: intVar(env, 'SPOOL_GC_GRACE_MS', 3_600_000, 1000, 30 * 86_400_000),
    producerIdExpirationMs: intVar(env, 'SPOOL_PRODUCER_ID_EXPIRATION_MS', defaultProducerIdExpirationMs, 1, 2 ** 31 - 1),
    metrics: enumVar(env, 'SPOOL_METRICS', ['off', 'emf'] as const, 'off'),
    metricsLagCacheMs: intVar(env, 'SPOOL_METRICS_LAG_CACHE_MS', 15_000, 0, 3_600_000),
    auth: enumVar(env, 'SPOOL_AUTH', ['off', 'keys'] as const, 'off') === 'keys' || Boolean(env.SPOOL_AUTH_TOKEN),
    authToken: env.SPOOL_AUTH_TOKEN || undefined,
  };
}

/** The variable to read of a renamed one: the new name, unless only the former one is set (errors then name what the user set). */
function renamed(env: Env, former: string, name: string): string {
  return (env[name] === undefined || env[name] === '') && env[former] !== undefined && env[former] !== '' ? former : name;
}

function stringVar(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

function intVar(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new SpoolError('INVALID_CONFIG', `${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return value;
}

function boolVar(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new SpoolError('INVALID_CONFIG', `${name} must be true or false, got ${JSON.stringify(env[name])}`);
}

/** `auto`, or a boolean as boolVar reads it. */
function packedCommitsVar(env: Env, name: string): PackedCommitsMode {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return packedCommitsByDefault;
  if (raw === 'auto') return 'auto';
  try {
    return boolVar(env, name, false);
  } catch {
    throw new SpoolError('INVALID_CONFIG', `${name} must be auto, true or false, got ${JSON.stringify(env[name])}`);
  }
}

/**
 * Feature levels as `feature=level,…` (as `kafka-storage format --feature`): each feature this
 * version supports at a level in its range; a feature not named starts at its newest level.
 */
function featureLevelsVar(env: Env, name: string): Readonly<Record<string, number>> {
  const raw = env[name]?.trim();
  const levels: Record<string, number> = { ...newestLevels };
  if (raw === undefined || raw === '') return levels;
  const named = new Set<string>();
  for (const entry of raw.split(',')) {
    const match = /^\s*([^=\s]+)\s*=\s*(\d+)\s*$/.exec(entry);
    if (!match) throw new SpoolError('INVALID_CONFIG', `${name} must be feature=level, comma-separated, got ${JSON.stringify(raw)}`);
    const [, feature, level] = match as unknown as [string, string, string];
    const unsupported = named.has(feature) ? `${feature} is named twice` : unsupportedLevel(feature, Number(level));
    if (unsupported) throw new SpoolError('INVALID_CONFIG', `${name}: ${unsupported}`);
    named.add(feature);
    levels[feature] = Number(level);
  }
  return levels;
}

function enumVar<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new SpoolError('INVALID_CONFIG', `${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}
