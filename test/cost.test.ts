/** The cost of the last hour (lib/cost.ts): which calls are billed, how, and the hour's window. */
import { describe, expect, it } from 'vitest';
import { billed, CostMeter, dollarsOf, prices } from '../lib/cost.js';
import type { StoreCall } from '../lib/storage/instrumented.js';

const call = (store: StoreCall['store'], op: string, outcome: StoreCall['outcome'] = 'ok', items = 1): StoreCall => ({
  store,
  op,
  outcome,
  seconds: 0.001,
  items,
});

describe('cost > billed calls', () => {
  it('bills S3 by request, DynamoDB by unit, transactions twice per item, conflicts too, failures not', () => {
    expect(billed(call('object', 'put'))).toEqual({ s3Puts: 1 });
    expect(billed(call('object', 'head'))).toEqual({ s3Gets: 1 });
    expect(billed(call('object', 'list'))).toEqual({ s3Lists: 1 });
    expect(billed(call('metadata', 'query'))).toEqual({ dynamoReadUnits: 1 });
    expect(billed(call('metadata', 'update', 'conflict'))).toEqual({ dynamoWriteUnits: 1 });
    expect(billed(call('metadata', 'transact', 'ok', 3))).toEqual({ dynamoWriteUnits: 6 });
    expect(billed(call('metadata', 'put', 'error'))).toEqual({});
    expect(billed(call('object', 'put', 'error'))).toEqual({});
  });

  it('prices PUT and LIST at the PUT price, GET at the GET price, DELETE free', () => {
    const { s3Usd, dynamoUsd } = dollarsOf({
      s3Puts: 1000,
      s3Lists: 1000,
      s3Gets: 1000,
      s3Deletes: 1000,
      dynamoReadUnits: 1e6,
      dynamoWriteUnits: 1e6,
    });
    expect(s3Usd).toBeCloseTo(2000 * prices.s3PutUsd + 1000 * prices.s3GetUsd, 12);
    expect(dynamoUsd).toBeCloseTo(0.625 + 0.125, 12);
  });
});

describe('cost > the last hour', () => {
  it('sums the last sixty minutes, forgets older ones, and says how long it counted', () => {
    let nowMs = 10 * 3_600_000; // on a minute boundary
    const meter = new CostMeter(() => nowMs);
    meter.observe(call('object', 'put'));
    nowMs += 30 * 60_000;
    meter.observe(call('object', 'put'));
    meter.observe(call('metadata', 'transact', 'ok', 2));
    expect(meter.lastHour()).toMatchObject({ windowSeconds: 1800, requests: { s3Puts: 2, dynamoWriteUnits: 4 } });
    nowMs += 30 * 60_000 + 1; // the first minute has left the window: 59 whole minutes and 1 ms of this one are counted
    const hour = meter.lastHour();
    expect(hour.requests).toMatchObject({ s3Puts: 1, dynamoWriteUnits: 4 });
    expect(hour.windowSeconds).toBe(3540.001);
    expect(hour.totalUsd).toBeCloseTo(prices.s3PutUsd + 4 * prices.dynamoWriteUnitUsd, 12);
    nowMs += 2 * 3_600_000;
    expect(meter.lastHour()).toMatchObject({ requests: { s3Puts: 0, dynamoWriteUnits: 0 }, totalUsd: 0 });
  });
});
