/**
 * Store factories for suites written once and run against every adapter. The `aws` ones need the
 * target the aws project's global setup provides.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { openMetadataStore, openObjectStore, type StoreLocations } from '../../lib/storage/open.js';
import type { MetadataStore, ObjectStore } from '../../lib/storage/ports.js';
import { awsResourceName, dynamoClientConfig, s3ClientConfig, type AwsTarget } from './aws-target.js';

export interface StoreKind {
  readonly name: string;
  readonly locations: () => StoreLocations;
}

export function tempDir(label = 'spool-test-'): string {
  return mkdtempSync(join(tmpdir(), label));
}

export const embedded: StoreKind = { name: 'embedded (lmdb + filesystem)', locations: () => ({ dataDir: tempDir() }) };

export const memory: StoreKind = {
  name: 'memory',
  locations: () => ({ dataDir: tempDir(), objectStoreUrl: 'memory://', metadataStoreUrl: 'memory://' }),
};

/** The DynamoDB and S3 adapters on the aws project's target (test/support/aws-target.ts). */
export function awsKind(target: AwsTarget): StoreKind {
  return {
    name: `aws (${target.name})`,
    locations: () => ({
      dataDir: tempDir(),
      objectStoreUrl: `s3://${awsResourceName(target, 'store')}/data`,
      metadataStoreUrl: `dynamodb://${awsResourceName(target, 'store')}`,
      s3ClientConfig: s3ClientConfig(target),
      dynamoClientConfig: dynamoClientConfig(target),
    }),
  };
}

export async function readyObjectStore(kind: StoreKind): Promise<ObjectStore> {
  const store = openObjectStore(kind.locations());
  await store.ensureReady();
  return store;
}

export async function readyMetadataStore(kind: StoreKind): Promise<MetadataStore> {
  const store = await openMetadataStore(kind.locations());
  await store.ensureReady();
  return store;
}

/**
 * Metadata stores for one test at a time, for a suite's top level (it registers an afterEach hook):
 * `open()` answers a ready store of `kind`, closed after the test.
 */
export function perTestMetadata(kind: () => StoreKind): () => Promise<MetadataStore> {
  const opened: MetadataStore[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });
  return async () => {
    const store = await readyMetadataStore(kind());
    opened.push(store);
    return store;
  };
}
