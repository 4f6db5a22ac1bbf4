/**
 * Picks the storage adapters from URLs, so the engine never branches on a backend:
 *
 *   object store    file:///abs/dir (default: <data dir>/objects) | s3://bucket[/prefix] | memory://
 *   metadata store  lmdb:///abs/dir (default: <data dir>/metadata) | dynamodb://table   | memory://
 *
 * AWS clients take their region, credentials and endpoints from the SDK's standard environment
 * (`AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB`, …), so the
 * same URLs work against AWS, LocalStack, DynamoDB Local and s3rver.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpoolError } from '../errors.js';
import { DynamoMetadataStore } from './dynamodb.js';
import { FileObjectStore } from './filesystem.js';
import { MemoryMetadataStore, MemoryObjectStore } from './memory.js';
import type { MetadataStore, ObjectStore } from './ports.js';
import { S3ObjectStore } from './s3.js';

export interface StoreLocations {
  /** Where embedded stores live unless a URL says otherwise. */
  readonly dataDir: string;
  readonly objectStoreUrl?: string;
  readonly metadataStoreUrl?: string;
  /** Extra AWS client settings (tests pass endpoints and credentials here). */
  readonly s3ClientConfig?: S3ClientConfig;
  readonly dynamoClientConfig?: DynamoDBClientConfig;
}

export interface Stores {
  readonly objects: ObjectStore;
  readonly metadata: MetadataStore;
}

export function openObjectStore(locations: StoreLocations): ObjectStore {
  const url = parseUrl(locations.objectStoreUrl ?? pathUrl('file', join(locations.dataDir, 'objects')), 'SPOOL_OBJECT_STORE', [
    'file:',
    's3:',
    'memory:',
  ]);
  switch (url.protocol) {
    case 'file:':
      return new FileObjectStore(fileURLToPath(url));
    case 's3:': {
      if (url.hostname === '') throw invalidUrl('SPOOL_OBJECT_STORE', url.href, 's3://bucket[/prefix]');
      const customEndpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
      const client = new S3Client({
        // Emulators (LocalStack, s3rver) answer on one host: address buckets by path there.
        forcePathStyle: customEndpoint !== undefined,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        ...locations.s3ClientConfig,
      });
      return new S3ObjectStore(client, url.hostname, decodeURIComponent(url.pathname.replace(/^\//, '')));
    }
    default:
      return new MemoryObjectStore();
  }
}

/** LMDB is loaded only when used: the Lambda bundle, which speaks DynamoDB, does not ship it. */
export async function openMetadataStore(locations: StoreLocations): Promise<MetadataStore> {
  const url = parseUrl(locations.metadataStoreUrl ?? pathUrl('lmdb', join(locations.dataDir, 'metadata')), 'SPOOL_METADATA_STORE', [
    'lmdb:',
    'dynamodb:',
    'memory:',
  ]);
  switch (url.protocol) {
    case 'lmdb:': {
      const { LmdbMetadataStore } = await import('./lmdb.js');
      return new LmdbMetadataStore(decodeURIComponent(url.pathname));
    }
    case 'dynamodb:':
      if (url.hostname === '') throw invalidUrl('SPOOL_METADATA_STORE', url.href, 'dynamodb://table');
      return new DynamoMetadataStore(new DynamoDBClient({ ...locations.dynamoClientConfig }), url.hostname);
    default:
      return new MemoryMetadataStore();
  }
}

/** Opens both stores and, when `createIfMissing`, creates the bucket, table or directories. */
export async function openStores(locations: StoreLocations, options: { createIfMissing: boolean }): Promise<Stores> {
  const objects = openObjectStore(locations);
  const metadata = await openMetadataStore(locations);
  if (options.createIfMissing) await Promise.all([objects.ensureReady(), metadata.ensureReady()]);
  return { objects, metadata };
}

function pathUrl(scheme: string, path: string): string {
  return `${scheme}://${resolve(path)}`;
}

function parseUrl(value: string, variable: string, schemes: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidUrl(variable, value, schemes.map((scheme) => `${scheme}//…`).join(' or '));
  }
  if (!schemes.includes(url.protocol)) throw invalidUrl(variable, value, schemes.map((scheme) => `${scheme}//…`).join(' or '));
  return url;
}

function invalidUrl(variable: string, value: string, expected: string): SpoolError {
  return new SpoolError('INVALID_CONFIG', `${variable} must be ${expected}, got ${JSON.stringify(value)}`);
}
