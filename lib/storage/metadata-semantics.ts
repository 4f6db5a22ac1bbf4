/**
 * The meaning of MetadataStore conditions and writes, as pure functions over the item as it is now.
 * The memory and LMDB adapters apply these inside their own atomic sections, so both behave exactly as
 * the DynamoDB adapter's condition expressions do; the contract suite holds all three to it.
 */
import { isDeepStrictEqual } from 'node:util';
import { SpoolError } from '../errors.js';
import { ConditionFailedError, maxTransactionOps, TransactionConflictError } from './ports.js';
import type { Attributes, AttributeValue, Condition, Item, ItemKey, QueryOptions, WriteOp } from './ports.js';

/** How an adapter with an atomic section reads and stores one item inside it. */
export interface ItemAccess {
  read(key: ItemKey): Item | undefined;
  store(key: ItemKey, item: Item | undefined): void;
}

/** One conditional write, to be run inside the adapter's atomic section. */
export function runWrite(access: ItemAccess, op: WriteOp): void {
  checkWrite(op);
  const current = access.read(op.key);
  if (!conditionHolds(current, op.condition)) throw new ConditionFailedError(op.key, current);
  access.store(op.key, applyWrite(current, op));
}

/** A transaction, to be run inside the adapter's atomic section: every condition first, then every write. */
export function runTransaction(access: ItemAccess, ops: readonly WriteOp[]): void {
  checkTransaction(ops);
  const currents = ops.map((op) => access.read(op.key));
  const conflicts = ops.flatMap((op, index) =>
    conditionHolds(currents[index], op.condition) ? [] : [{ index, current: currents[index] }],
  );
  if (conflicts.length > 0) throw new TransactionConflictError(conflicts);
  for (const [index, op] of ops.entries()) access.store(op.key, applyWrite(currents[index], op));
}

export function checkTransaction(ops: readonly WriteOp[]): void {
  if (ops.length === 0 || ops.length > maxTransactionOps) {
    throw new SpoolError('INVALID_ARGUMENT', `a transaction holds 1 to ${maxTransactionOps} writes, got ${ops.length}`);
  }
  assertDistinctKeys(ops);
  ops.forEach(checkWrite);
}

export function conditionHolds(current: Item | undefined, condition: Condition | undefined): boolean {
  if (condition === undefined) return true;
  switch (condition.kind) {
    case 'absent':
      return current === undefined;
    case 'exists':
      return current !== undefined;
    case 'match':
      return (
        current !== undefined &&
        Object.entries(condition.fields).every(([name, expected]) => attributeEquals(current.attrs[name], expected))
      );
  }
}

function attributeEquals(actual: AttributeValue | undefined, expected: AttributeValue): boolean {
  if (expected === null) return actual === undefined || actual === null;
  return actual !== undefined && isDeepStrictEqual(normalise(actual), normalise(expected));
}

// Buffers and Uint8Arrays with the same bytes are the same attribute value.
function normalise(value: AttributeValue): unknown {
  return value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value;
}

/** The item after `op` (undefined: deleted), assuming its condition held. */
export function applyWrite(current: Item | undefined, op: WriteOp): Item | undefined {
  switch (op.kind) {
    case 'put':
      return { pk: op.key.pk, sk: op.key.sk, attrs: withoutUndefined(op.attrs) };
    case 'update': {
      const attrs: Record<string, AttributeValue> = { ...(current?.attrs ?? {}), ...withoutUndefined(op.set) };
      for (const name of op.remove ?? []) delete attrs[name];
      return { pk: op.key.pk, sk: op.key.sk, attrs };
    }
    case 'delete':
      return undefined;
    case 'check':
      return current;
  }
}

/** Shapes every adapter refuses alike (DynamoDB cannot express them). */
export function checkWrite(op: WriteOp): void {
  if (op.kind === 'update' && Object.keys(op.set).length === 0 && (op.remove ?? []).length === 0) {
    throw new SpoolError('INVALID_ARGUMENT', `an update must set or remove at least one attribute (${op.key.pk} / ${op.key.sk})`);
  }
  if (op.key.pk === '' || op.key.sk === '') throw new SpoolError('INVALID_ARGUMENT', 'item keys must be non-empty strings');
  const values = op.kind === 'put' ? op.attrs : op.kind === 'update' ? op.set : {};
  const condition = op.condition?.kind === 'match' ? op.condition.fields : {};
  for (const [name, value] of [...Object.entries(values), ...Object.entries(condition)]) {
    if (!finite(value))
      throw new SpoolError('INVALID_ARGUMENT', `attribute ${name} of ${op.key.pk} / ${op.key.sk} holds a number that is not finite`, {
        details: { attribute: name, pk: op.key.pk, sk: op.key.sk },
      });
  }
}

/** DynamoDB stores no NaN or Infinity: every adapter refuses them alike. */
function finite(value: AttributeValue | undefined): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(finite);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array))
    return Object.values(value as Record<string, AttributeValue>).every(finite);
  return true;
}

export function checkQuery(options: QueryOptions): void {
  if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 1)) {
    throw new SpoolError('INVALID_ARGUMENT', `a query limit must be a positive integer, got ${options.limit}`);
  }
}

export function assertDistinctKeys(ops: readonly WriteOp[]): void {
  const seen = new Set<string>();
  for (const op of ops) {
    const id = `${op.key.pk}\u0000${op.key.sk}`;
    if (seen.has(id)) {
      throw new SpoolError('INVALID_ARGUMENT', `a transaction may touch each item once, got ${op.key.pk} / ${op.key.sk} twice`);
    }
    seen.add(id);
  }
}

function withoutUndefined(attrs: Attributes): Attributes {
  const out: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) out[name] = value;
  return out;
}
