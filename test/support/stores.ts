/**
 * Store factories for suites written once and run against every adapter. The `aws` ones need the
 * endpoints the aws project's global setup provides.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMetadataStore, openObjectStore, type StoreLocations } from '../../lib/storage/open.js';
import type { MetadataStore, ObjectStore } from '../../lib/storage/ports.js';

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

const testCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export function awsKind(endpoints: { dynamoEndpoint: string; s3Endpoint: string }): StoreKind {
  return {
    name: 'aws (DynamoDB Local + s3rver)',
    locations: () => ({
      dataDir: tempDir(),
      objectStoreUrl: `s3://spool-${randomUUID().slice(0, 8)}/data`,
      metadataStoreUrl: `dynamodb://spool-${randomUUID().slice(0, 8)}`,
      s3ClientConfig: { endpoint: endpoints.s3Endpoint, region: 'us-east-1', credentials: testCredentials, forcePathStyle: true },
      dynamoClientConfig: { endpoint: endpoints.dynamoEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } },
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
