import { describe, expect, it } from 'vitest';
import { mapAwsError, mapCancellation } from '../../lib/storage/aws-errors.js';

const awsError = (name: string, status?: number, code?: string) =>
  Object.assign(new Error(`${name} happened`), { name, code, $metadata: status === undefined ? undefined : { httpStatusCode: status } });

describe('storage > AWS error mapping', () => {
  it.each([
    ['ThrottlingException', 400, undefined, 'THROTTLED', true],
    ['ProvisionedThroughputExceededException', 400, undefined, 'THROTTLED', true],
    ['SlowDown', 503, undefined, 'THROTTLED', true],
    ['TransactionConflictException', 400, undefined, 'CONFLICT', true],
    ['TransactionInProgressException', 400, undefined, 'STORAGE_UNAVAILABLE', true],
    ['InternalServerError', 500, undefined, 'STORAGE_UNAVAILABLE', true],
    ['TimeoutError', undefined, undefined, 'STORAGE_UNAVAILABLE', true],
    ['Error', undefined, 'ECONNRESET', 'STORAGE_UNAVAILABLE', true],
    ['ValidationException', 400, undefined, 'INTERNAL', false],
    ['CredentialsProviderError', undefined, undefined, 'INTERNAL', false],
    ['Error', undefined, undefined, 'INTERNAL', false],
  ])('maps %s (status %s, code %s) to %s', (name, status, code, expected, retriable) => {
    const mapped = mapAwsError(awsError(name, status, code), 'PutItem');
    expect(mapped.code).toBe(expected);
    expect(mapped.retriable).toBe(retriable);
    expect(mapped.message).toContain('PutItem');
  });

  // A CONFLICT tells the committer this call wrote nothing (lib/log/commit.ts): only concurrent transactions may say so.
  it.each([
    [['None', 'TransactionConflict'], 'CONFLICT', true],
    [['TransactionConflict', 'ThrottlingError'], 'THROTTLED', true],
    [['None', 'ProvisionedThroughputExceeded'], 'THROTTLED', true],
    [['ValidationError', 'None'], 'INTERNAL', false],
    [['ItemCollectionSizeLimitExceeded'], 'INTERNAL', false],
    [['None', 'None'], 'STORAGE_UNAVAILABLE', true],
    [[], 'STORAGE_UNAVAILABLE', true],
    [['SomethingNew'], 'STORAGE_UNAVAILABLE', true],
  ])('maps a transaction cancelled for %j to %s', (codes, expected, retriable) => {
    const mapped = mapCancellation(codes, new Error('cancelled'));
    expect(mapped.code).toBe(expected);
    expect(mapped.retriable).toBe(retriable);
  });
});
