/**
 * What this process's storage calls cost at AWS list prices, over the last hour: the estimate the
 * console's cluster page and `GET /v1/cluster` show. It counts the calls the instrumented stores
 * report (lib/storage/instrumented.ts) into one bucket per minute, sixty kept.
 *
 * It is an estimate by request, not a bill, and a lower bound: S3 PUT and LIST at the PUT price (a
 * listing counts once, though S3 bills each page of 1,000 keys), GET and HEAD at the GET price, DELETE
 * free; on DynamoDB one read unit per GetItem or Query (strongly consistent, up to 4 KB) and one write
 * unit per item written (up to 1 KB), two inside a transaction; a write whose condition failed is
 * billed too, a throttled or failed call is not. Larger items and longer queries cost more units: the
 * cost-model benchmark (bench/cost-model.ts) counts exact units from item sizes. Only this process's
 * calls are counted: each agent (and each Lambda instance) knows its own; the fleet's total is the sum
 * of `spool_object_store_requests_total` and `spool_metadata_store_requests_total` over agents.
 */
import type { StoreCall } from './storage/instrumented.js';

/** List prices (us-east-1, DESIGN.md): dollars per request or per capacity unit. */
export const prices = {
  s3PutUsd: 0.005 / 1000,
  s3GetUsd: 0.0004 / 1000,
  dynamoWriteUnitUsd: 0.625 / 1e6,
  dynamoReadUnitUsd: 0.125 / 1e6,
} as const;

export interface RequestCounts {
  s3Puts: number;
  s3Gets: number;
  s3Lists: number;
  s3Deletes: number;
  dynamoReadUnits: number;
  dynamoWriteUnits: number;
}

export interface CostEstimate {
  /** The span counted: an hour, or less since the process started. */
  readonly windowSeconds: number;
  readonly requests: Readonly<RequestCounts>;
  readonly s3Usd: number;
  readonly dynamoUsd: number;
  readonly totalUsd: number;
}

const minuteMs = 60_000;
const windowMinutes = 60;

const zero = (): RequestCounts => ({ s3Puts: 0, s3Gets: 0, s3Lists: 0, s3Deletes: 0, dynamoReadUnits: 0, dynamoWriteUnits: 0 });

/** What one call adds to the counts (nothing for a call AWS does not bill: throttled or failed). */
export function billed(call: StoreCall): Partial<RequestCounts> {
  if (call.outcome === 'error') return {};
  if (call.store === 'object') {
    if (call.op === 'put') return { s3Puts: 1 };
    if (call.op === 'get' || call.op === 'head') return { s3Gets: 1 };
    if (call.op === 'list') return { s3Lists: 1 };
    if (call.op === 'delete') return { s3Deletes: 1 };
    return {};
  }
  if (call.op === 'get' || call.op === 'query') return { dynamoReadUnits: 1 };
  return { dynamoWriteUnits: call.op === 'transact' ? 2 * call.items : call.items };
}

export function dollarsOf(requests: Readonly<RequestCounts>): { s3Usd: number; dynamoUsd: number } {
  return {
    s3Usd: (requests.s3Puts + requests.s3Lists) * prices.s3PutUsd + requests.s3Gets * prices.s3GetUsd,
    dynamoUsd: requests.dynamoWriteUnits * prices.dynamoWriteUnitUsd + requests.dynamoReadUnits * prices.dynamoReadUnitUsd,
  };
}

export class CostMeter {
  /** Counts per minute (by minute number since the epoch), oldest first, the last `windowMinutes` at most. */
  private readonly minutes: { minute: number; counts: RequestCounts }[] = [];
  private readonly startedMs: number;

  constructor(private readonly now: () => number = Date.now) {
    this.startedMs = now();
  }

  /** A StoreCallObserver: never throws. */
  readonly observe = (call: StoreCall): void => {
    const added = billed(call);
    const minute = Math.floor(this.now() / minuteMs);
    let last = this.minutes.at(-1);
    if (last === undefined || last.minute !== minute) {
      last = { minute, counts: zero() };
      this.minutes.push(last);
      while (this.minutes.length > windowMinutes) this.minutes.shift();
    }
    for (const [name, count] of Object.entries(added) as [keyof RequestCounts, number][]) last.counts[name] += count;
  };

  /** The calls of the last hour (the current minute and the 59 before it), priced. */
  lastHour(): CostEstimate {
    const nowMs = this.now();
    const first = Math.floor(nowMs / minuteMs) - windowMinutes + 1;
    const requests = zero();
    for (const { minute, counts } of this.minutes) {
      if (minute < first) continue;
      for (const name of Object.keys(requests) as (keyof RequestCounts)[]) requests[name] += counts[name];
    }
    const { s3Usd, dynamoUsd } = dollarsOf(requests);
    const windowSeconds = Math.min(windowMinutes * minuteMs, nowMs - Math.max(this.startedMs, first * minuteMs)) / 1000;
    return { windowSeconds, requests, s3Usd, dynamoUsd, totalUsd: s3Usd + dynamoUsd };
  }
}
