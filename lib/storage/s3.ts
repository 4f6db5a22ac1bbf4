/**
 * ObjectStore on Amazon S3 (or anything speaking its API: LocalStack, s3rver). Keys live under an
 * optional prefix of one bucket. Objects are written once under unique keys, so plain PutObject is
 * enough; no conditional S3 write is used.
 */
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { mapAwsError } from './aws-errors.js';
import { ObjectNotFoundError } from './ports.js';
import type { ByteRange, ObjectInfo, ObjectStore } from './ports.js';

const maxKeysPerDelete = 1000;

export class S3ObjectStore implements ObjectStore {
  readonly url: string;
  private readonly prefix: string;

  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    prefix = '',
  ) {
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.url = `s3://${bucket}/${this.prefix}`;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Body: body, ContentLength: body.length }));
    } catch (error) {
      throw mapAwsError(error, `PUT ${key}`);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    if (range !== undefined && range.length === 0) return Buffer.alloc(0);
    try {
      const response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Range: range && `bytes=${range.offset}-${range.offset + range.length - 1}`,
        }),
      );
      return Buffer.from(await response.Body!.transformToByteArray());
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      throw mapAwsError(error, `GET ${key}`);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      return { key, sizeBytes: response.ContentLength ?? 0, lastModifiedMs: response.LastModified?.getTime() ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw mapAwsError(error, `HEAD ${key}`);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let continuationToken: string | undefined;
    do {
      let response: ListObjectsV2CommandOutput;
      try {
        response = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: continuationToken }),
        );
      } catch (error) {
        throw mapAwsError(error, `LIST ${prefix}`);
      }
      for (const object of response.Contents ?? []) {
        yield {
          key: object.Key!.slice(this.prefix.length),
          sizeBytes: object.Size ?? 0,
          lastModifiedMs: object.LastModified?.getTime() ?? 0,
        };
      }
      continuationToken = response.IsTruncated ? response.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += maxKeysPerDelete) {
      const chunk = keys.slice(start, start + maxKeysPerDelete);
      try {
        const response = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: chunk.map((key) => ({ Key: this.prefix + key })), Quiet: true },
          }),
        );
        const failed = (response.Errors ?? []).filter((error) => error.Code !== 'NoSuchKey');
        if (failed.length > 0) throw new Error(`${failed.length} deletes failed, first: ${failed[0]!.Key} ${failed[0]!.Code}`);
      } catch (error) {
        throw mapAwsError(error, `DELETE ${chunk.length} objects`);
      }
    }
  }

  async ensureReady(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      if (!isNotFound(error)) throw mapAwsError(error, `HEAD bucket ${this.bucket}`);
      try {
        // Outside us-east-1, S3 wants the bucket's region named (IllegalLocationConstraintException otherwise).
        const region = await this.client.config.region();
        await this.client.send(
          new CreateBucketCommand({
            Bucket: this.bucket,
            ...(region && region !== 'us-east-1'
              ? { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }
              : {}),
          }),
        );
      } catch (createError) {
        const name = (createError as { name?: string }).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists')
          throw mapAwsError(createError, `CREATE bucket ${this.bucket}`);
      }
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket' || status === 404;
}
