import { describe, expect, it } from 'vitest';
import { awsResourceName, externalTargetFromEnv, s3ClientConfig, sdkEnvironment } from './aws-target.js';

describe('test support > aws target from the environment', () => {
  it('starts the local stand-ins when no SPOOL_TEST_* variable is set', () => {
    expect(externalTargetFromEnv({})).toBeUndefined();
    expect(externalTargetFromEnv({ SPOOL_TEST_AWS: '0', SPOOL_TEST_PREFIX: 'mine-' })).toBeUndefined();
  });

  it('uses both given endpoints with test credentials and us-east-1', () => {
    const target = externalTargetFromEnv({
      SPOOL_TEST_S3_ENDPOINT: 'http://127.0.0.1:4566/',
      SPOOL_TEST_DYNAMODB_ENDPOINT: 'http://127.0.0.1:4566',
    })!;
    expect(target).toMatchObject({
      kind: 'endpoints',
      s3Endpoint: 'http://127.0.0.1:4566',
      dynamoEndpoint: 'http://127.0.0.1:4566',
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    expect(target.resourcePrefix).toMatch(/^spool-test-[0-9a-f]{6}-$/);
    expect(s3ClientConfig(target)).toMatchObject({ endpoint: 'http://127.0.0.1:4566', forcePathStyle: true });
  });

  it('refuses one endpoint alone, naming the missing variable', () => {
    expect(() => externalTargetFromEnv({ SPOOL_TEST_S3_ENDPOINT: 'http://127.0.0.1:4566' })).toThrow(
      /SPOOL_TEST_DYNAMODB_ENDPOINT is not set/,
    );
    expect(() => externalTargetFromEnv({ SPOOL_TEST_DYNAMODB_ENDPOINT: 'localhost:4566', SPOOL_TEST_S3_ENDPOINT: 'http://x' })).toThrow(
      /SPOOL_TEST_DYNAMODB_ENDPOINT must be http\(s\):\/\/host\[:port\], got "localhost:4566"/,
    );
  });

  it('leaves region, credentials and endpoints to the SDK on AWS, and clears emulator endpoints from the environment', () => {
    const target = externalTargetFromEnv({ SPOOL_TEST_AWS: '1', SPOOL_TEST_PREFIX: 'ci-spool-' })!;
    expect(target.kind).toBe('aws');
    expect(target).not.toHaveProperty('region');
    expect(target).not.toHaveProperty('credentials');
    expect(target).not.toHaveProperty('s3Endpoint');
    expect(target.resourcePrefix).toMatch(/^ci-spool-[0-9a-f]{6}-$/);
    expect(s3ClientConfig(target)).not.toHaveProperty('endpoint');
    const env = sdkEnvironment(target);
    expect(env).toMatchObject({ AWS_ENDPOINT_URL: undefined, AWS_ENDPOINT_URL_S3: undefined, AWS_ENDPOINT_URL_DYNAMODB: undefined });
    expect(env).not.toHaveProperty('AWS_ACCESS_KEY_ID');
    expect(env).not.toHaveProperty('AWS_REGION');
  });

  it('refuses a prefix that would make invalid or too long bucket names', () => {
    expect(() => externalTargetFromEnv({ SPOOL_TEST_AWS: '1', SPOOL_TEST_PREFIX: 'Spool_' })).toThrow(
      /SPOOL_TEST_PREFIX must be .* got "Spool_"/,
    );
    expect(() => externalTargetFromEnv({ SPOOL_TEST_AWS: 'yes' })).toThrow(/SPOOL_TEST_AWS must be 1 or 0, got "yes"/);
    const longest = externalTargetFromEnv({ SPOOL_TEST_AWS: '1', SPOOL_TEST_PREFIX: 'a'.repeat(30) })!;
    const name = awsResourceName(longest, 'maintenance');
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z0-9][a-z0-9-]+[a-z0-9]$/);
  });
});
