/**
 * One error type for the whole library. Every failure a caller can act on carries a stable `code`
 * (never renamed once shipped), says whether retrying the same call may succeed (`retriable`), and
 * carries `details` that the HTTP and Kafka layers may show to clients. Messages name what was
 * expected and what came in. The HTTP status / Kafka error code mapping lives at those edges, in one
 * place each; nothing below them knows about transports.
 */
export type ErrorCode =
  // input
  | 'INVALID_ARGUMENT'
  | 'MALFORMED_JSON'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'NOT_ACCEPTABLE'
  | 'PAYLOAD_TOO_LARGE'
  | 'ROUTE_NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'INVALID_TOPIC_NAME'
  | 'INVALID_CONFIG'
  | 'INVALID_PARTITIONS'
  | 'CORRUPT_RECORD'
  | 'INVALID_RECORD'
  | 'INVALID_TIMESTAMP'
  | 'UNSUPPORTED_COMPRESSION'
  | 'RECORD_TOO_LARGE'
  // state
  | 'TOPIC_NOT_FOUND'
  | 'TOPIC_ALREADY_EXISTS'
  | 'PARTITION_NOT_FOUND'
  | 'OFFSET_OUT_OF_RANGE'
  | 'FENCED_LEADER_EPOCH'
  | 'INVALID_PRODUCER_EPOCH'
  | 'OUT_OF_ORDER_SEQUENCE'
  // transactions (lib/transactions): Kafka's codes of the same names
  | 'PRODUCER_FENCED'
  | 'INVALID_PRODUCER_ID_MAPPING'
  | 'INVALID_TXN_STATE'
  | 'INVALID_TRANSACTION_TIMEOUT'
  | 'CONCURRENT_TRANSACTIONS'
  | 'TRANSACTION_ABORTABLE'
  | 'TRANSACTION_COORDINATOR_FENCED'
  | 'NOT_LEADER'
  | 'CONFLICT'
  | 'OBJECT_NOT_FOUND'
  | 'GROUP_NOT_FOUND'
  | 'UNKNOWN_MEMBER_ID'
  | 'ILLEGAL_GENERATION'
  | 'REBALANCE_IN_PROGRESS'
  | 'GROUP_NOT_EMPTY'
  | 'INCONSISTENT_GROUP_PROTOCOL'
  | 'NO_COMMITTED_OFFSET'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'KEY_NOT_FOUND'
  // infrastructure
  | 'THROTTLED'
  | 'STORAGE_UNAVAILABLE'
  | 'SHUTTING_DOWN'
  | 'TIMEOUT'
  | 'INTERNAL';

export interface SpoolErrorOptions {
  readonly retriable?: boolean;
  readonly cause?: unknown;
  readonly details?: Readonly<Record<string, unknown>>;
}

const retriableByDefault: ReadonlySet<ErrorCode> = new Set([
  'THROTTLED',
  'STORAGE_UNAVAILABLE',
  'TIMEOUT',
  'NOT_LEADER',
  'CONFLICT',
  'REBALANCE_IN_PROGRESS',
  'CONCURRENT_TRANSACTIONS',
]);

export class SpoolError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: SpoolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SpoolError';
    this.code = code;
    this.retriable = options.retriable ?? retriableByDefault.has(code);
    this.details = options.details ?? {};
  }
}

/** Quote a value the way error messages show "what came in": short, and never an object dump. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 61)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return `an ${typeof value}`;
}
