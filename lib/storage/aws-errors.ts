/**
 * Turns AWS SDK failures into SpoolErrors with stable codes, so nothing above the adapters sees the
 * SDK. The SDK has already retried with backoff before we get here.
 * - Throttling: THROTTLED (retriable).
 * - A write that met a concurrent transaction on the same item (TransactionConflictException, which the
 *   SDK does not retry): CONFLICT (retriable; nothing was written).
 * - 5xx, timeouts, network failures, and a transaction still in progress (TransactionInProgressException):
 *   STORAGE_UNAVAILABLE (retriable; the write may have happened).
 * - Anything else — bad requests, missing credentials, values the SDK cannot marshal: INTERNAL, not
 *   retriable, because trying again cannot help.
 */
import { SpoolError } from '../errors.js';

const throttlingNames = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'SlowDown',
  'TooManyRequestsException',
]);

const networkNames = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'AbortError', 'NetworkingError']);
const networkCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ECONNABORTED',
]);

/**
 * A TransactWriteItems cancelled for no failed condition, by its per-item reason codes: nothing was
 * written. Only concurrent transactions on the same items (every reason TransactionConflict) are a
 * CONFLICT, which a caller may read as "this call wrote nothing"; throttling may pass; a request
 * DynamoDB refuses (ValidationError, a full item collection) will not; no reason, or one not known
 * here, is taken as ambiguous.
 */
export function mapCancellation(codes: readonly string[], cause: unknown): SpoolError {
  const given = codes.filter((code) => code !== 'None');
  const message = `transaction cancelled (${given.join(', ') || 'no reason given'})`;
  if (given.length > 0 && given.every((code) => code === 'TransactionConflict'))
    return new SpoolError('CONFLICT', message, { cause, retriable: true });
  if (given.some((code) => code === 'ThrottlingError' || code === 'ProvisionedThroughputExceeded'))
    return new SpoolError('THROTTLED', message, { cause, retriable: true });
  if (given.some((code) => code === 'ValidationError' || code === 'ItemCollectionSizeLimitExceeded'))
    return new SpoolError('INTERNAL', message, { cause, retriable: false });
  return new SpoolError('STORAGE_UNAVAILABLE', message, { cause, retriable: true });
}

export function mapAwsError(error: unknown, action: string): SpoolError {
  if (error instanceof SpoolError) return error;
  const name = (error as { name?: string })?.name ?? 'Error';
  const code = (error as { code?: string })?.code;
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  const message = (error as { message?: string })?.message ?? String(error);
  if (throttlingNames.has(name) || status === 429) {
    return new SpoolError('THROTTLED', `${action} was throttled by storage (${name})`, { cause: error });
  }
  // The same request (its token) is still being applied: it may yet land.
  if (name === 'TransactionInProgressException') {
    return new SpoolError('STORAGE_UNAVAILABLE', `${action} is still in progress at storage`, { cause: error });
  }
  if (name === 'TransactionConflictException') {
    return new SpoolError('CONFLICT', `${action} met a concurrent transaction on the same item`, { cause: error, retriable: true });
  }
  if ((status !== undefined && status >= 500) || networkNames.has(name) || (code !== undefined && networkCodes.has(code))) {
    return new SpoolError('STORAGE_UNAVAILABLE', `${action} failed: storage unavailable (${name})`, { cause: error });
  }
  return new SpoolError('INTERNAL', `${action} failed (${name}: ${message})`, { cause: error, retriable: false });
}
