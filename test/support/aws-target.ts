/**
 * Where the `aws` test project runs, read once from the environment by its global setup:
 *
 *   (nothing set)                   DynamoDB Local and s3rver, started and stopped by the global setup
 *   SPOOL_TEST_S3_ENDPOINT and      endpoints someone else runs: LocalStack (`npm run test:localstack`
 *   SPOOL_TEST_DYNAMODB_ENDPOINT    starts one) or another emulator; credentials `test`/`test`
 *   SPOOL_TEST_AWS=1                a real AWS account, with the SDK's own credentials and region; an
 *                                   endpoint variable set beside it still wins for its service
 *   SPOOL_TEST_PREFIX               how every bucket and table name starts (default `spool-test-`)
 *
 * Invariant: every bucket and table a run creates is named `<prefix><run id>-<label>-<8 hex>`, the run
 * id being random per run. So runs sharing an account or an emulator never meet, and the teardown of a
 * run on external endpoints deletes exactly what that run created (`deleteAwsResources`) and nothing
 * else. Against DynamoDB Local and s3rver nothing is deleted one by one: their data dies with them.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient, ListTablesCommand, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import {
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';

export type AwsTargetKind = 'local' | 'localstack' | 'endpoints' | 'aws';

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Plain data: the global setup hands it to every test file through vitest's `provide`. */
export interface AwsTarget {
  readonly kind: AwsTargetKind;
  /** For test names and logs: `DynamoDB Local + s3rver`, `LocalStack 2026.3.0`, `AWS`. */
  readonly name: string;
  /** @default the service's AWS endpoint for the region */
  readonly s3Endpoint?: string;
  readonly dynamoEndpoint?: string;
  /** @default resolved by the SDK (AWS_REGION, the profile), as the product does */
  readonly region?: string;
  /** @default the SDK's credential chain */
  readonly credentials?: AwsCredentials;
  /** Start of every bucket and table name this run creates: `<SPOOL_TEST_PREFIX><run id>-`. */
  readonly resourcePrefix: string;
}

export const defaultResourcePrefix = 'spool-test-';
const emulatorCredentials: AwsCredentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const emulatorRegion = 'us-east-1';
// Lowercase, digits and hyphens: valid in bucket names (the stricter of the two) and table names. Short
// enough that `<prefix><run id>-maintenance-<8 hex>` stays within S3's 63 characters.
const prefixPattern = /^[a-z0-9][a-z0-9-]{0,29}$/;

/** The external target the environment asks for, or undefined for DynamoDB Local and s3rver. */
export function externalTargetFromEnv(env: Readonly<Record<string, string | undefined>>): AwsTarget | undefined {
  const s3Endpoint = nonEmpty(env.SPOOL_TEST_S3_ENDPOINT);
  const dynamoEndpoint = nonEmpty(env.SPOOL_TEST_DYNAMODB_ENDPOINT);
  const realAws = env.SPOOL_TEST_AWS === '1' || env.SPOOL_TEST_AWS === 'true';
  if (
    env.SPOOL_TEST_AWS !== undefined &&
    env.SPOOL_TEST_AWS !== '' &&
    !realAws &&
    env.SPOOL_TEST_AWS !== '0' &&
    env.SPOOL_TEST_AWS !== 'false'
  ) {
    throw new Error(`SPOOL_TEST_AWS must be 1 or 0, got ${JSON.stringify(env.SPOOL_TEST_AWS)}`);
  }
  const prefix = nonEmpty(env.SPOOL_TEST_PREFIX) ?? defaultResourcePrefix;
  if (!prefixPattern.test(prefix)) {
    throw new Error(
      `SPOOL_TEST_PREFIX must be 1-30 lowercase letters, digits or hyphens, starting with a letter or digit, got ${JSON.stringify(prefix)}`,
    );
  }
  for (const [variable, value] of [
    ['SPOOL_TEST_S3_ENDPOINT', s3Endpoint],
    ['SPOOL_TEST_DYNAMODB_ENDPOINT', dynamoEndpoint],
  ] as const) {
    if (value !== undefined && !/^https?:\/\/[^/]+\/?$/.test(value))
      throw new Error(`${variable} must be http(s)://host[:port], got ${JSON.stringify(value)}`);
  }
  const resourcePrefix = `${prefix}${runId()}-`;
  if (realAws) {
    return {
      kind: 'aws',
      name: s3Endpoint || dynamoEndpoint ? 'AWS (with endpoints from SPOOL_TEST_*_ENDPOINT)' : 'AWS',
      ...defined({ s3Endpoint: trimSlash(s3Endpoint), dynamoEndpoint: trimSlash(dynamoEndpoint) }),
      resourcePrefix,
    };
  }
  if (s3Endpoint === undefined && dynamoEndpoint === undefined) return undefined;
  if (s3Endpoint === undefined || dynamoEndpoint === undefined) {
    const missing = s3Endpoint === undefined ? 'SPOOL_TEST_S3_ENDPOINT' : 'SPOOL_TEST_DYNAMODB_ENDPOINT';
    throw new Error(`${missing} is not set: give both endpoints, or set SPOOL_TEST_AWS=1 to use AWS's own endpoint for the other service`);
  }
  return {
    kind: 'endpoints',
    name: `endpoints ${trimSlash(s3Endpoint)} and ${trimSlash(dynamoEndpoint)}`,
    s3Endpoint: trimSlash(s3Endpoint)!,
    dynamoEndpoint: trimSlash(dynamoEndpoint)!,
    region: nonEmpty(env.AWS_REGION) ?? emulatorRegion,
    credentials: emulatorCredentials,
    resourcePrefix,
  };
}

/** The target for the stand-ins `startLocalAws` runs (test/support/services.ts). */
export function localTarget(endpoints: { readonly dynamoEndpoint: string; readonly s3Endpoint: string }): AwsTarget {
  return {
    kind: 'local',
    name: 'DynamoDB Local + s3rver',
    s3Endpoint: endpoints.s3Endpoint,
    dynamoEndpoint: endpoints.dynamoEndpoint,
    region: emulatorRegion,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    resourcePrefix: `${defaultResourcePrefix}${runId()}-`,
  };
}

/**
 * Names LocalStack when an endpoint is one (it answers `/_localstack/health` with its version), so
 * test names and logs say what ran, and a target-specific skip can name it.
 */
export async function identifyEndpoints(target: AwsTarget): Promise<AwsTarget> {
  if (target.kind !== 'endpoints') return target;
  for (const endpoint of [target.s3Endpoint, target.dynamoEndpoint]) {
    try {
      const response = await fetch(`${endpoint}/_localstack/health`, { signal: AbortSignal.timeout(3000) });
      const body = (await response.json()) as { version?: unknown; services?: unknown };
      if (response.ok && typeof body.version === 'string' && typeof body.services === 'object') {
        return { ...target, kind: 'localstack', name: `LocalStack ${body.version}` };
      }
    } catch {
      // Not LocalStack, or not answering yet: checkReachable says which.
    }
  }
  return target;
}

/** One cheap call per service, so a wrong endpoint or missing credentials fail the setup with a clear message. */
export async function checkReachable(target: AwsTarget): Promise<void> {
  const dynamo = new DynamoDBClient(dynamoClientConfig(target));
  const s3 = new S3Client(s3ClientConfig(target));
  try {
    await dynamo.send(new ListTablesCommand({ Limit: 1 })).catch((error: unknown) => {
      throw new Error(`DynamoDB on ${target.name} did not answer ListTables: ${describeError(error)}`);
    });
    await s3.send(new ListBucketsCommand({ MaxBuckets: 1 })).catch((error: unknown) => {
      throw new Error(`S3 on ${target.name} did not answer ListBuckets: ${describeError(error)}`);
    });
  } finally {
    dynamo.destroy();
    s3.destroy();
  }
}

/** A bucket or table name of this run: `<resourcePrefix><label>-<8 hex>`. */
export function awsResourceName(target: AwsTarget, label: string): string {
  return `${target.resourcePrefix}${label}-${randomUUID().slice(0, 8)}`;
}

export function s3ClientConfig(target: AwsTarget): S3ClientConfig {
  return defined({
    endpoint: target.s3Endpoint,
    region: target.region,
    credentials: target.credentials,
    // Emulators answer every bucket on one host; AWS takes virtual-hosted names.
    forcePathStyle: target.s3Endpoint !== undefined ? true : undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED' as const,
    responseChecksumValidation: 'WHEN_REQUIRED' as const,
  });
}

export function dynamoClientConfig(target: AwsTarget): DynamoDBClientConfig {
  return defined({ endpoint: target.dynamoEndpoint, region: target.region, credentials: target.credentials });
}

/**
 * The SDK's standard variables for code that configures itself from the process environment (the
 * Lambda handlers, as in Lambda). Undefined values are to be removed from the environment, so a
 * target without an endpoint reaches AWS whatever the shell had set.
 */
export function sdkEnvironment(target: AwsTarget): Record<string, string | undefined> {
  return {
    AWS_ENDPOINT_URL: undefined,
    AWS_ENDPOINT_URL_S3: target.s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: target.dynamoEndpoint,
    ...(target.region !== undefined && { AWS_REGION: target.region }),
    ...(target.credentials !== undefined && {
      AWS_ACCESS_KEY_ID: target.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: target.credentials.secretAccessKey,
      AWS_SESSION_TOKEN: undefined,
    }),
  };
}

/** Applies `sdkEnvironment` to `process.env`. */
export function useSdkEnvironment(target: AwsTarget): void {
  for (const [name, value] of Object.entries(sdkEnvironment(target))) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

export interface DeletedResources {
  readonly buckets: readonly string[];
  readonly tables: readonly string[];
}

/**
 * Deletes every bucket (with its objects) and table whose name starts with `prefix`. The teardown
 * passes the run's own prefix; test/aws/cleanup.ts passes one given by hand, after an interrupted run.
 */
export async function deleteAwsResources(target: AwsTarget, prefix: string): Promise<DeletedResources> {
  if (!/^[a-z0-9][a-z0-9-]{3,62}$/.test(prefix))
    throw new Error(`refusing to delete by the prefix ${JSON.stringify(prefix)}: want 4-63 lowercase letters, digits or hyphens`);
  const dynamo = new DynamoDBClient(dynamoClientConfig(target));
  const s3 = new S3Client(s3ClientConfig(target));
  try {
    const tables: string[] = [];
    let startTable: string | undefined;
    do {
      const page = await dynamo.send(new ListTablesCommand({ ExclusiveStartTableName: startTable }));
      tables.push(...(page.TableNames ?? []).filter((name) => name.startsWith(prefix)));
      startTable = page.LastEvaluatedTableName;
    } while (startTable !== undefined);
    const buckets: string[] = [];
    let bucketToken: string | undefined;
    do {
      const page = await s3.send(new ListBucketsCommand({ Prefix: prefix, ContinuationToken: bucketToken }));
      // Filtered here too: not every emulator honours ListBuckets' Prefix.
      buckets.push(...(page.Buckets ?? []).map((bucket) => bucket.Name!).filter((name) => name.startsWith(prefix)));
      bucketToken = page.ContinuationToken;
    } while (bucketToken !== undefined);

    await Promise.all([
      ...tables.map((TableName) =>
        dynamo.send(new DeleteTableCommand({ TableName })).catch((error: unknown) => {
          if ((error as { name?: string }).name !== 'ResourceNotFoundException') throw error;
        }),
      ),
      ...buckets.map((bucket) => emptyAndDeleteBucket(s3, bucket)),
    ]);
    return { buckets, tables };
  } finally {
    dynamo.destroy();
    s3.destroy();
  }
}

async function emptyAndDeleteBucket(s3: S3Client, bucket: string): Promise<void> {
  // Listing from the start each time: what was listed is deleted, so the next page is the next batch.
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).map((object) => ({ Key: object.Key! }));
    if (keys.length === 0) break;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

function runId(): string {
  return randomUUID().slice(0, 6);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function trimSlash(value: string | undefined): string | undefined {
  return value?.replace(/\/$/, '');
}

function describeError(error: unknown): string {
  const { name, message } = error as { name?: string; message?: string };
  return `${name ?? 'Error'}: ${message ?? String(error)}`;
}

/** The object without its undefined properties: the SDK treats a present `endpoint: undefined` unlike an absent one in places. */
function defined<T extends object>(object: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
