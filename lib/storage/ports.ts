/**
 * The two storage ports. The engine sees only these interfaces; adapters (S3, DynamoDB, filesystem,
 * LMDB, memory) implement them and are the only code that imports a storage SDK.
 *
 * ObjectStore holds immutable objects under unique keys, each written once (so no conditional S3 write
 * is ever needed): put, ranged get, head, list by prefix, delete.
 *
 * MetadataStore holds small items addressed by (pk, sk), read strongly consistently, range-read in sk
 * order within one pk, and changed by writes that carry a *meaning* (create-if-absent,
 * update-if-fields-match, delete-if) rather than a backend's expression language. A write whose
 * condition fails throws ConditionFailedError carrying the item as it is now, so the caller can decide
 * without another read. `transact` applies several writes atomically: all or none.
 */
import { SpoolError } from '../errors.js';

// ---------------------------------------------------------------------------------------------------
// ObjectStore

export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

export interface ObjectInfo {
  readonly key: string;
  readonly sizeBytes: number;
  readonly lastModifiedMs: number;
}

export interface ObjectStore {
  /** Stores `body` under `key`. Keys are unique: callers never overwrite an object. */
  put(key: string, body: Uint8Array): Promise<void>;
  /** The whole object, or `range` of it. Throws ObjectNotFoundError when absent. */
  get(key: string, range?: ByteRange): Promise<Buffer>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Objects whose key starts with `prefix`, in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Deletes the objects; keys that do not exist are ignored. */
  delete(keys: readonly string[]): Promise<void>;
  /** Creates the bucket or directory when missing (local use; CDK creates it in the cloud). */
  ensureReady(): Promise<void>;
  close(): Promise<void>;
  /** Human-readable location, e.g. `s3://bucket/prefix` or `file:///data/objects`. */
  readonly url: string;
}

export class ObjectNotFoundError extends SpoolError {
  constructor(readonly key: string) {
    super('OBJECT_NOT_FOUND', `object ${key} does not exist`, { details: { key } });
  }
}

// ---------------------------------------------------------------------------------------------------
// MetadataStore

/** Attribute values: what JSON holds, plus byte strings. Numbers must be safe integers or finite floats. */
export type AttributeValue =
  | string
  | number
  | boolean
  | null
  | Buffer
  | readonly AttributeValue[]
  | { readonly [name: string]: AttributeValue };

export type Attributes = { readonly [name: string]: AttributeValue };

export interface Item {
  readonly pk: string;
  readonly sk: string;
  readonly attrs: Attributes;
}

export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

/**
 * What must be true of the item, as it is now, for a write to happen.
 * - `absent`: no item with that key exists (create-if-absent).
 * - `exists`: an item exists.
 * - `match`: the item exists and every listed attribute equals the given value; `null` in `fields`
 *   means the attribute must be absent or null.
 */
export type Condition = { readonly kind: 'absent' } | { readonly kind: 'exists' } | { readonly kind: 'match'; readonly fields: Attributes };

export type WriteOp =
  /** Replaces the whole item. */
  | { readonly kind: 'put'; readonly key: ItemKey; readonly attrs: Attributes; readonly condition?: Condition }
  /** Sets and removes the named attributes, creating the item when absent (unless the condition says otherwise). */
  | {
      readonly kind: 'update';
      readonly key: ItemKey;
      readonly set: Attributes;
      readonly remove?: readonly string[];
      readonly condition?: Condition;
    }
  | { readonly kind: 'delete'; readonly key: ItemKey; readonly condition?: Condition }
  /** Writes nothing; only makes the transaction depend on the condition. */
  | { readonly kind: 'check'; readonly key: ItemKey; readonly condition: Condition };

export interface QueryOptions {
  /** Lowest sk to return, inclusive. */
  readonly from?: string;
  /** Highest sk to return, inclusive. */
  readonly to?: string;
  /** Descending sk order. */
  readonly reverse?: boolean;
  readonly limit?: number;
}

/** The most operations one transaction may hold (DynamoDB's TransactWriteItems limit). */
export const maxTransactionOps = 100;

export interface MetadataStore {
  get(key: ItemKey): Promise<Item | undefined>;
  query(pk: string, options?: QueryOptions): Promise<Item[]>;
  write(op: WriteOp): Promise<void>;
  /**
   * All of `ops` or none. At most `maxTransactionOps`, each on a different key. A failed condition
   * throws TransactionConflictError; a retriable 'CONFLICT' (a concurrent transaction on the same
   * item) means this call wrote nothing; any other retriable error leaves it unknown whether it did.
   */
  transact(ops: readonly WriteOp[]): Promise<void>;
  ensureReady(): Promise<void>;
  close(): Promise<void>;
  readonly url: string;
}

/** A single write's condition did not hold. `current` is the item as it is now (undefined: absent). */
export class ConditionFailedError extends SpoolError {
  constructor(
    readonly key: ItemKey,
    readonly current: Item | undefined,
  ) {
    super('CONFLICT', `condition failed on ${key.pk} / ${key.sk}`, { details: { pk: key.pk, sk: key.sk } });
  }
}

/**
 * A transaction was not applied because at least one condition did not hold. `conflicts` lists, by
 * index into the ops, the ones that failed with the item as it is now.
 */
export class TransactionConflictError extends SpoolError {
  constructor(readonly conflicts: ReadonlyArray<{ readonly index: number; readonly current: Item | undefined }>) {
    super('CONFLICT', `transaction cancelled: condition failed on op ${conflicts.map((c) => c.index).join(', ')}`);
  }
}
