import { describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config.js';
import { openMetadataStore, openObjectStore } from '../lib/storage/open.js';

describe('config', () => {
  it('runs locally with no variables set', async () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      dataDir: './.spool',
      objectStoreUrl: undefined,
      metadataStoreUrl: undefined,
      autoCreateTopics: true,
      defaultPartitions: 1,
    });
    expect(openObjectStore({ dataDir: '/tmp/x' }).url).toBe('file:///tmp/x/objects');
    expect((await openMetadataStore({ dataDir: '/tmp/spool-config-test' })).url).toBe('lmdb:///tmp/spool-config-test/metadata');
  });

  it('reads typed values', () => {
    const config = loadConfig({
      SPOOL_AUTO_CREATE_TOPICS: 'false',
      SPOOL_DEFAULT_PARTITIONS: '6',
      SPOOL_COMPRESSION: 'gzip',
      SPOOL_BATCH_INTERVAL_MS: '0',
    });
    expect(config).toMatchObject({ autoCreateTopics: false, defaultPartitions: 6, compression: 'gzip', batchIntervalMs: 0 });
  });

  it("reads SPOOL_LINGER_MS, the batch interval's former name, only when SPOOL_BATCH_INTERVAL_MS is not set", () => {
    expect(loadConfig({}).batchIntervalMs).toBe(10);
    expect(loadConfig({ SPOOL_LINGER_MS: '40' }).batchIntervalMs).toBe(40);
    expect(loadConfig({ SPOOL_LINGER_MS: '40', SPOOL_BATCH_INTERVAL_MS: '250' }).batchIntervalMs).toBe(250);
    expect(() => loadConfig({ SPOOL_LINGER_MS: 'soon' })).toThrow(/SPOOL_LINGER_MS must be an integer in \[0, 60000\], got "soon"/);
  });

  it('reads SPOOL_INITIAL_FEATURES as feature=level pairs over the newest levels, refusing a feature or level this version does not support', () => {
    expect(loadConfig({}).initialFeatures).toEqual({ 'spool.commit.version': 1 });
    expect(loadConfig({ SPOOL_INITIAL_FEATURES: ' spool.commit.version = 0 ' }).initialFeatures).toEqual({ 'spool.commit.version': 0 });
    for (const [value, message] of [
      ['spool.commit.version=2', /SPOOL_INITIAL_FEATURES: the level 2 of spool.commit.version is not supported; expected 0 to 1/],
      ['metadata.version=1', /SPOOL_INITIAL_FEATURES: the feature metadata.version is not supported/],
      ['spool.commit.version=0,spool.commit.version=1', /spool.commit.version is named twice/],
      ['spool.commit.version', /SPOOL_INITIAL_FEATURES must be feature=level, comma-separated, got "spool.commit.version"/],
      ['spool.commit.version=-1', /must be feature=level/],
    ] as const)
      expect(() => loadConfig({ SPOOL_INITIAL_FEATURES: value }), value).toThrow(message);
  });

  it("reads SPOOL_PACKED_COMMITS as auto (the default: the cluster's spool.commit.version decides), true or false", () => {
    expect(loadConfig({}).packedCommits).toBe('auto');
    expect(loadConfig({ SPOOL_PACKED_COMMITS: 'AUTO' }).packedCommits).toBe('auto');
    expect(loadConfig({ SPOOL_PACKED_COMMITS: 'true' }).packedCommits).toBe(true);
    expect(loadConfig({ SPOOL_PACKED_COMMITS: 'off' }).packedCommits).toBe(false);
    expect(() => loadConfig({ SPOOL_PACKED_COMMITS: 'sometimes' })).toThrow(
      /SPOOL_PACKED_COMMITS must be auto, true or false, got "sometimes"/,
    );
  });

  it("reads SPOOL_PACKED_MATERIALIZE_AGE_MS, the age at which a packed partition's tail is due to become rows (30 s unless set)", () => {
    expect(loadConfig({}).packedMaterializeAgeMs).toBe(30_000);
    expect(loadConfig({ SPOOL_PACKED_MATERIALIZE_AGE_MS: '0' }).packedMaterializeAgeMs).toBe(0);
  });

  it('gives a Lambda a batch interval of 0 unless one is set, under either name', async () => {
    const { lambdaConfig } = await import('../lib/http/lambda.js');
    expect(lambdaConfig({})).toMatchObject({ batchIntervalMs: 0, createStores: false });
    expect(lambdaConfig({ SPOOL_LINGER_MS: '25' }).batchIntervalMs).toBe(25);
    expect(lambdaConfig({ SPOOL_BATCH_INTERVAL_MS: '40' }).batchIntervalMs).toBe(40);
    expect(lambdaConfig({ SPOOL_CREATE_STORES: 'true' }).createStores).toBe(true);
  });

  it.each([
    ['SPOOL_DEFAULT_PARTITIONS', 'many', /SPOOL_DEFAULT_PARTITIONS must be an integer in \[1, 10000\], got "many"/],
    ['SPOOL_DEFAULT_PARTITIONS', '0', /got "0"/],
    ['SPOOL_PACKED_MATERIALIZE_AGE_MS', '45001', /SPOOL_PACKED_MATERIALIZE_AGE_MS must be an integer in \[0, 45000\], got "45001"/],
    ['SPOOL_AUTO_CREATE_TOPICS', 'maybe', /SPOOL_AUTO_CREATE_TOPICS must be true or false, got "maybe"/],
    ['SPOOL_COMPRESSION', 'brotli', /SPOOL_COMPRESSION must be one of none, gzip, snappy, lz4, zstd, got "brotli"/],
  ])('refuses %s=%s, naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('refuses store URLs of unknown schemes, saying what is accepted', async () => {
    expect(() => openObjectStore({ dataDir: '.', objectStoreUrl: 'ftp://x' })).toThrow(
      /SPOOL_OBJECT_STORE must be file:\/\/… or s3:\/\/… or memory:\/\/…, got "ftp:\/\/x"/,
    );
    await expect(openMetadataStore({ dataDir: '.', metadataStoreUrl: 'dynamodb://' })).rejects.toThrow(
      /SPOOL_METADATA_STORE must be dynamodb:\/\/table/,
    );
  });
});

describe('config > documentation', () => {
  it('documents in the README every SPOOL_ variable the code reads', async () => {
    const { readFileSync, readdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const sources = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
      );
    const read = new Set<string>();
    for (const file of [...sources('lib'), ...sources('functions'), ...sources('bin')]) {
      for (const match of readFileSync(file, 'utf8').matchAll(/\bSPOOL_[A-Z_]+\b/g)) read.add(match[0]);
    }
    const readme = readFileSync('README.md', 'utf8');
    expect([...read].filter((name) => !readme.includes(`\`${name}\``))).toEqual([]);
    expect(read.size).toBeGreaterThan(10);
  });

  it('offers `spool serve` a flag for every variable loadConfig reads', async () => {
    const { readFileSync } = await import('node:fs');
    const { configVariables } = await import('../lib/config.js');
    const source = readFileSync('lib/config.ts', 'utf8');
    const loadConfigBody = source.slice(source.indexOf('export function loadConfig'));
    const read = new Set([...loadConfigBody.matchAll(/(?:'|env\.)(SPOOL_[A-Z_]+)/g)].map((m) => m[1]!));
    read.add('SPOOL_LOG_LEVEL'); // read by the logger
    expect(configVariables.map(([name]) => name).sort()).toEqual([...read].sort());
  });
});
