/**
 * HTTP's view of errors, in one place: each stable error code has one status, and every error body is
 * `{error: {code, message, ...details}}`. Internal failures answer a plain 500 with no detail (the
 * cause is logged); storage throttling answers 429 and unavailability 503, both with Retry-After.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { describeValue, SpoolError, type ErrorCode } from '../errors.js';

export const statusByCode: Readonly<Record<ErrorCode, ContentfulStatusCode>> = {
  INVALID_ARGUMENT: 400,
  MALFORMED_JSON: 400,
  INVALID_TOPIC_NAME: 400,
  INVALID_CONFIG: 400,
  INVALID_PARTITIONS: 400,
  CORRUPT_RECORD: 400,
  INVALID_RECORD: 400,
  INVALID_TIMESTAMP: 400,
  UNSUPPORTED_COMPRESSION: 400,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_ACCEPTABLE: 406,
  RECORD_TOO_LARGE: 413,
  PAYLOAD_TOO_LARGE: 413,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  TOPIC_NOT_FOUND: 404,
  PARTITION_NOT_FOUND: 404,
  TOPIC_ALREADY_EXISTS: 409,
  CONFLICT: 409,
  FENCED_LEADER_EPOCH: 409,
  INVALID_PRODUCER_EPOCH: 409,
  OUT_OF_ORDER_SEQUENCE: 409,
  PRODUCER_FENCED: 409,
  INVALID_PRODUCER_ID_MAPPING: 409,
  INVALID_TXN_STATE: 409,
  INVALID_TRANSACTION_TIMEOUT: 400,
  CONCURRENT_TRANSACTIONS: 409,
  TRANSACTION_ABORTABLE: 409,
  TRANSACTION_COORDINATOR_FENCED: 409,
  OFFSET_OUT_OF_RANGE: 416,
  THROTTLED: 429,
  NOT_LEADER: 503,
  STORAGE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  TIMEOUT: 504,
  OBJECT_NOT_FOUND: 500,
  GROUP_NOT_FOUND: 404,
  UNKNOWN_MEMBER_ID: 404,
  ILLEGAL_GENERATION: 409,
  REBALANCE_IN_PROGRESS: 409,
  GROUP_NOT_EMPTY: 409,
  INCONSISTENT_GROUP_PROTOCOL: 409,
  NO_COMMITTED_OFFSET: 409,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  KEY_NOT_FOUND: 404,
  INTERNAL: 500,
};

const retryAfterSeconds: Partial<Record<ErrorCode, number>> = { THROTTLED: 1, STORAGE_UNAVAILABLE: 1, SHUTTING_DOWN: 5, NOT_LEADER: 1 };

/** Which details a client may see, per code (never causes, stack traces or storage keys). */
const publicDetails: Partial<Record<ErrorCode, readonly string[]>> = {
  OFFSET_OUT_OF_RANGE: ['earliest_offset', 'high_watermark'],
  RECORD_TOO_LARGE: ['index', 'size_bytes', 'max_message_bytes'],
  PAYLOAD_TOO_LARGE: ['max_bytes'],
  INVALID_ARGUMENT: ['field'],
  METHOD_NOT_ALLOWED: ['allow'],
  INVALID_TIMESTAMP: ['index', 'timestamp_ms', 'earliest_ms', 'latest_ms'],
  INVALID_RECORD: ['index', 'cleanup_policy'],
  ILLEGAL_GENERATION: ['generation'],
  REBALANCE_IN_PROGRESS: ['generation'],
};

export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string; readonly [detail: string]: unknown };
}

/** Codes whose messages come from storage and may name its keys: clients get these words instead. */
const publicMessages: Partial<Record<ErrorCode, string>> = {
  THROTTLED: 'storage is throttling requests; retry after the Retry-After delay',
  STORAGE_UNAVAILABLE: 'storage is unavailable; retry after the Retry-After delay',
  NOT_LEADER: 'this agent does not lead the partition; retry',
};

export function errorResponse(c: Context, error: SpoolError): Response {
  const status = statusByCode[error.code];
  const internal = status >= 500 && status !== 503 && status !== 504;
  // A conflict reported by storage itself (it has a cause) is described, not quoted.
  const fromStorage = error.code === 'CONFLICT' && error.cause !== undefined ? 'a concurrent change got there first; retry' : undefined;
  const body: ErrorBody = {
    error: {
      code: error.code,
      message: internal ? 'internal error' : (publicMessages[error.code] ?? fromStorage ?? error.message),
      ...pick(error.details, publicDetails[error.code] ?? []),
    },
  };
  const retryAfter = retryAfterSeconds[error.code];
  if (retryAfter !== undefined) c.header('Retry-After', String(retryAfter));
  return c.json(body, status);
}

/** The app's onError: known errors keep their code; anything else becomes a logged, plain 500. */
export function handleError(error: Error, c: Context, log: (message: string, fields: Record<string, unknown>) => void): Response {
  if (error instanceof SpoolError) {
    if (statusByCode[error.code] >= 500 || error.code in publicMessages || error.cause !== undefined) {
      log('request failed', { code: error.code, message: error.message, cause: String(error.cause ?? '') });
    }
    return errorResponse(c, error);
  }
  if (error instanceof HTTPException) {
    if (error.status === 400 && /malformed json/i.test(error.message)) {
      return errorResponse(c, new SpoolError('MALFORMED_JSON', 'request body is not valid JSON'));
    }
    if (error.status === 413) return errorResponse(c, new SpoolError('PAYLOAD_TOO_LARGE', 'request body is too large'));
    if (error.status === 415) return errorResponse(c, unsupportedMediaType(c.req.header('content-type')));
    if (error.status < 500) return errorResponse(c, new SpoolError('INVALID_ARGUMENT', error.message));
  }
  log('unexpected error', { message: error.message, stack: error.stack });
  return errorResponse(c, new SpoolError('INTERNAL', 'internal error'));
}

export function unsupportedMediaType(contentType: string | undefined): SpoolError {
  return new SpoolError(
    'UNSUPPORTED_MEDIA_TYPE',
    `content-type must be application/json, application/x-ndjson or text/plain, got ${JSON.stringify(contentType ?? 'none')}`,
  );
}

/**
 * Turns the first zod issue into a message naming the field, what was expected and what came in:
 * `records[0].value: expected string or null, got 42` (or `line 3.value: …` for an NDJSON line).
 */
export function validationError(error: ZodError, target: string, input: unknown, prefix?: string): SpoolError {
  const issue = error.issues[0]!;
  const path = issue.path.reduce<string>(
    (out, part) => (typeof part === 'number' ? `${out}[${part}]` : out === '' ? String(part) : `${out}.${String(part)}`),
    '',
  );
  // `prefix` names where `input` sits in a larger body (an NDJSON line: `line 3.value`).
  const field = path === '' ? (prefix ?? target) : prefix === undefined ? path : `${prefix}.${path}`;
  const got = valueAt(input, issue.path) ?? 'nothing';
  const expected =
    issue.code === 'invalid_type'
      ? `expected ${issue.expected}`
      : issue.code === 'invalid_union'
        ? 'expected one of the documented forms (see /openapi.json)'
        : issue.code === 'unrecognized_keys'
          ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}; expected only the documented fields`
          : issue.message.replace(/^Invalid input: /, '');
  const message = issue.code === 'unrecognized_keys' ? `${field}: ${expected}` : `${field}: ${expected}, got ${got}`;
  return new SpoolError('INVALID_ARGUMENT', message, { details: { field } });
}

function valueAt(input: unknown, path: readonly PropertyKey[]): string | undefined {
  let value: unknown = input;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  if (value === undefined) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return describeValue(value); // too deep to print
  }
  return text === undefined ? undefined : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function pick(details: Readonly<Record<string, unknown>>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (details[key] !== undefined) out[key] = details[key];
  return out;
}
