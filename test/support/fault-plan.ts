/**
 * Seeded, probabilistic storage faults for the reliability harness (test/reliability). A FaultPlan
 * draws every decision from one seeded PRNG and counts each fault it injects, by kind; the wrappers
 * below apply it to real adapters. Failures are built as the AWS SDK throws them and mapped by the
 * adapters' own `mapAwsError`, so the engine sees exactly the SpoolError it would get from S3 or
 * DynamoDB after the SDK's own retries gave up:
 *
 *   kind                        calls                        the caller gets                        the call happened?
 *   s3.slowDown                 put, get                     THROTTLED (503 SlowDown)               no
 *   s3.internalError            put, get, head, delete       STORAGE_UNAVAILABLE (500)              no
 *   s3.timeoutAfterWrite        put, delete                  STORAGE_UNAVAILABLE (TimeoutError)     yes: the object is stored (deleted)
 *   s3.slow                     put, get, head, delete       a delay of 1 to `maxDelayMs`           yes
 *   dynamo.throttled            get, query, write, transact  THROTTLED (ProvisionedThroughputExceeded)  no
 *   dynamo.unavailable          get, query, write, transact  STORAGE_UNAVAILABLE (500)              no
 *   dynamo.transactionConflict  write, transact              CONFLICT, retriable (another transaction held an item)  no
 *   dynamo.lostResponse         write, transact              STORAGE_UNAVAILABLE (TimeoutError)     yes: the write landed, its answer was lost
 *   dynamo.slow                 every call                   a delay of 1 to `maxDelayMs`           yes
 *
 * Conditional-check failures are not invented here: a made-up ConditionFailedError would carry an
 * item whose condition holds, which no store ever returns. Tests make real ones with racing writers.
 *
 * Runs are seeded but not bit-for-bit repeatable: concurrent callers draw in the order the event loop
 * happens to run them. Every fault is counted once it has been delivered to the caller.
 */
import type { SpoolError } from '../../lib/errors.js';
import { mapAwsError } from '../../lib/storage/aws-errors.js';
import type { Stores } from '../../lib/storage/open.js';
import type { ByteRange, Item, ItemKey, MetadataStore, ObjectInfo, ObjectStore, QueryOptions, WriteOp } from '../../lib/storage/ports.js';
import { seededRandom } from '../../bench/support/latency-model.js';
import { DelegatingMetadataStore, DelegatingObjectStore } from './delegating.js';

export const faultKinds = [
  's3.slowDown',
  's3.internalError',
  's3.timeoutAfterWrite',
  's3.slow',
  'dynamo.throttled',
  'dynamo.unavailable',
  'dynamo.transactionConflict',
  'dynamo.lostResponse',
  'dynamo.slow',
] as const;

export type FaultKind = (typeof faultKinds)[number];

/** Probability of each fault per call that it applies to. */
export type FaultRates = Partial<Record<FaultKind, number>>;

export interface FaultPlanOptions {
  /** Longest injected delay. @default 40 */
  readonly maxDelayMs?: number;
}

export class FaultPlan {
  readonly counts: Record<FaultKind, number> = Object.fromEntries(faultKinds.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  /** Off: every call passes through untouched (e.g. to drain, or to read the final state). */
  active = true;
  readonly random: () => number;
  private readonly maxDelayMs: number;

  constructor(
    readonly seed: number,
    readonly rates: FaultRates,
    options: FaultPlanOptions = {},
  ) {
    this.random = seededRandom(seed);
    this.maxDelayMs = options.maxDelayMs ?? 40;
  }

  /** Which of `kinds` strikes this call, if any: one draw against their rates, stacked in order. Not counted yet. */
  draw(kinds: readonly FaultKind[]): FaultKind | undefined {
    if (!this.active) return undefined;
    let threshold = this.random();
    for (const kind of kinds) {
      threshold -= this.rates[kind] ?? 0;
      if (threshold < 0) return kind;
    }
    return undefined;
  }

  count(kind: FaultKind): void {
    this.counts[kind]++;
  }

  /** Waits a random time when the delay `kind` strikes. */
  async delay(kind: 's3.slow' | 'dynamo.slow'): Promise<void> {
    if (this.draw([kind]) === undefined) return;
    this.count(kind);
    await new Promise((resolve) => setTimeout(resolve, 1 + Math.floor(this.random() * this.maxDelayMs)));
  }

  total(): number {
    return Object.values(this.counts).reduce((sum, n) => sum + n, 0);
  }
}

/** The stores with the plan's faults in front of them. */
export function withFaults(stores: Stores, plan: FaultPlan): { objects: FaultPlanObjectStore; metadata: FaultPlanMetadataStore } {
  return { objects: new FaultPlanObjectStore(stores.objects, plan), metadata: new FaultPlanMetadataStore(stores.metadata, plan) };
}

/** An error shaped as the AWS SDK v3 throws it (name, HTTP status), for the adapters' mapping. */
function sdkError(name: string, status: number | undefined, message: string): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

const sdkErrors: Partial<Record<FaultKind, () => Error>> = {
  's3.slowDown': () => sdkError('SlowDown', 503, 'Please reduce your request rate.'),
  's3.internalError': () => sdkError('InternalError', 500, 'We encountered an internal error. Please try again.'),
  's3.timeoutAfterWrite': () => sdkError('TimeoutError', undefined, 'socket timed out after the request was sent'),
  'dynamo.throttled': () =>
    sdkError('ProvisionedThroughputExceededException', 400, 'The level of configured provisioned throughput for the table was exceeded.'),
  'dynamo.unavailable': () => sdkError('InternalServerError', 500, 'Internal server error'),
  'dynamo.transactionConflict': () => sdkError('TransactionConflictException', 400, 'Transaction is ongoing for the item'),
  'dynamo.lostResponse': () => sdkError('TimeoutError', undefined, 'socket timed out after the request was sent'),
};

function failure(kind: FaultKind, action: string): SpoolError {
  return mapAwsError(sdkErrors[kind]!(), action);
}

/**
 * Runs `call` under the fault `kinds` (before-the-call failures first, in the order given): a failure
 * throws before the call, a "-AfterWrite" or lost-response fault after the call succeeded.
 */
async function underFaults<T>(plan: FaultPlan, kinds: readonly FaultKind[], action: string, call: () => Promise<T>): Promise<T> {
  const kind = plan.draw(kinds);
  if (kind === undefined) return call();
  if (kind !== 's3.timeoutAfterWrite' && kind !== 'dynamo.lostResponse') {
    plan.count(kind);
    throw failure(kind, action);
  }
  await call(); // a real failure of the call itself is passed on, and no fault is counted
  plan.count(kind);
  throw failure(kind, action);
}

export class FaultPlanObjectStore extends DelegatingObjectStore {
  constructor(
    inner: ObjectStore,
    readonly plan: FaultPlan,
  ) {
    super(inner);
  }

  override async put(key: string, body: Uint8Array): Promise<void> {
    await this.plan.delay('s3.slow');
    return underFaults(this.plan, ['s3.slowDown', 's3.internalError', 's3.timeoutAfterWrite'], `PUT ${key}`, () => super.put(key, body));
  }

  override async get(key: string, range?: ByteRange): Promise<Buffer> {
    await this.plan.delay('s3.slow');
    return underFaults(this.plan, ['s3.slowDown', 's3.internalError'], `GET ${key}`, () => super.get(key, range));
  }

  override async head(key: string): Promise<ObjectInfo | undefined> {
    await this.plan.delay('s3.slow');
    return underFaults(this.plan, ['s3.internalError'], `HEAD ${key}`, () => super.head(key));
  }

  override async delete(keys: readonly string[]): Promise<void> {
    await this.plan.delay('s3.slow');
    return underFaults(this.plan, ['s3.internalError', 's3.timeoutAfterWrite'], `DELETE ${keys.length} objects`, () => super.delete(keys));
  }
}

export class FaultPlanMetadataStore extends DelegatingMetadataStore {
  constructor(
    inner: MetadataStore,
    readonly plan: FaultPlan,
  ) {
    super(inner);
  }

  override async get(key: ItemKey): Promise<Item | undefined> {
    await this.plan.delay('dynamo.slow');
    return underFaults(this.plan, ['dynamo.throttled', 'dynamo.unavailable'], `GetItem ${key.pk}`, () => super.get(key));
  }

  override async query(pk: string, options?: QueryOptions): Promise<Item[]> {
    await this.plan.delay('dynamo.slow');
    return underFaults(this.plan, ['dynamo.throttled', 'dynamo.unavailable'], `Query ${pk}`, () => super.query(pk, options));
  }

  override async write(op: WriteOp): Promise<void> {
    await this.plan.delay('dynamo.slow');
    return underFaults(this.plan, writeFaults, `${op.kind} ${op.key.pk}`, () => super.write(op));
  }

  override async transact(ops: readonly WriteOp[]): Promise<void> {
    await this.plan.delay('dynamo.slow');
    return underFaults(this.plan, writeFaults, `TransactWriteItems of ${ops.length}`, () => super.transact(ops));
  }
}

const writeFaults: readonly FaultKind[] = ['dynamo.throttled', 'dynamo.unavailable', 'dynamo.transactionConflict', 'dynamo.lostResponse'];
