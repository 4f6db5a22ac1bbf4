/**
 * Turns AWS SDK failures into SpoolErrors with stable codes, so nothing above the adapters sees the
 * SDK. Throttling becomes THROTTLED and 5xx or network failures STORAGE_UNAVAILABLE (both retriable);
 * anything else is INTERNAL. The SDK has already retried with backoff before we get here.
 */
import { SpoolError } from '../errors.js';

const throttlingNames = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'SlowDown',
  'TooManyRequestsException',
]);

export function mapAwsError(error: unknown, action: string): SpoolError {
  if (error instanceof SpoolError) return error;
  const name = (error as { name?: string })?.name ?? 'Error';
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  const message = (error as { message?: string })?.message ?? String(error);
  if (throttlingNames.has(name) || status === 429 || (name === 'TransactionCanceledException' && message.includes('ThrottlingError'))) {
    return new SpoolError('THROTTLED', `${action} was throttled by storage (${name})`, { cause: error });
  }
  if (status === undefined || status >= 500 || name === 'TimeoutError' || name === 'RequestTimeout') {
    return new SpoolError('STORAGE_UNAVAILABLE', `${action} failed: storage unavailable (${name})`, { cause: error });
  }
  return new SpoolError('INTERNAL', `${action} failed (${name}: ${message})`, { cause: error, retriable: false });
}
