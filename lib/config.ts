/**
 * Configuration, read once from the environment by typed helpers that name the variable in every
 * error. Every setting has a default that runs Spool locally with no account: embedded stores under
 * `SPOOL_DATA_DIR`. The table below is the single source for the README's configuration section.
 */
import { SpoolError } from './errors.js';
import type { Compression } from './format/index.js';

export interface SpoolConfig {
  readonly dataDir: string;
  readonly objectStoreUrl: string | undefined;
  readonly metadataStoreUrl: string | undefined;
  readonly createStores: boolean;
  readonly autoCreateTopics: boolean;
  readonly defaultPartitions: number;
  readonly lingerMs: number;
  readonly flushBytes: number;
  readonly compression: Compression;
  readonly cacheBytes: number;
  readonly leaseMs: number;
  readonly host: string;
  readonly httpPort: number;
}

type Env = Readonly<Record<string, string | undefined>>;

export const configVariables = [
  ['SPOOL_DATA_DIR', './.spool', 'directory of the embedded stores'],
  ['SPOOL_OBJECT_STORE', 'file://<data dir>/objects', 'segment objects: file:///dir, s3://bucket/prefix'],
  ['SPOOL_METADATA_STORE', 'lmdb://<data dir>/metadata', 'offsets, leases, topics: lmdb:///dir, dynamodb://table'],
  ['SPOOL_CREATE_STORES', 'true', 'create the bucket, table or directories when missing'],
  ['SPOOL_AUTO_CREATE_TOPICS', 'true', 'create a topic on first produce'],
  ['SPOOL_DEFAULT_PARTITIONS', '1', 'partitions of auto-created topics'],
  ['SPOOL_LINGER_MS', '10', 'how long a writer waits to batch records into one segment'],
  ['SPOOL_FLUSH_BYTES', '4194304', 'buffered bytes that start a flush at once'],
  ['SPOOL_COMPRESSION', 'none', 'codec of batches made from HTTP records: none, gzip'],
  ['SPOOL_CACHE_BYTES', '67108864', 'memory for recent chunks, so tail reads skip the object store'],
  ['SPOOL_LEASE_MS', '10000', 'partition leader lease length'],
  ['SPOOL_HOST', '127.0.0.1', 'address the agent listens on'],
  ['SPOOL_HTTP_PORT', '8080', 'HTTP API port'],
] as const;

export function loadConfig(env: Env = process.env): SpoolConfig {
  return {
    dataDir: stringVar(env, 'SPOOL_DATA_DIR', './.spool'),
    objectStoreUrl: env.SPOOL_OBJECT_STORE || undefined,
    metadataStoreUrl: env.SPOOL_METADATA_STORE || undefined,
    createStores: boolVar(env, 'SPOOL_CREATE_STORES', true),
    autoCreateTopics: boolVar(env, 'SPOOL_AUTO_CREATE_TOPICS', true),
    defaultPartitions: intVar(env, 'SPOOL_DEFAULT_PARTITIONS', 1, 1, 10_000),
    lingerMs: intVar(env, 'SPOOL_LINGER_MS', 10, 0, 60_000),
    flushBytes: intVar(env, 'SPOOL_FLUSH_BYTES', 4 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    compression: enumVar(env, 'SPOOL_COMPRESSION', ['none', 'gzip'] as const, 'none'),
    cacheBytes: intVar(env, 'SPOOL_CACHE_BYTES', 64 * 1024 * 1024, 0, Number.MAX_SAFE_INTEGER),
    leaseMs: intVar(env, 'SPOOL_LEASE_MS', 10_000, 100, 3_600_000),
    host: stringVar(env, 'SPOOL_HOST', '127.0.0.1'),
    httpPort: intVar(env, 'SPOOL_HTTP_PORT', 8080, 0, 65_535),
  };
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

function enumVar<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new SpoolError('INVALID_CONFIG', `${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}
