/**
 * Storage ports that report every call — which store, which operation, how it ended, how long it took —
 * and otherwise pass it to the adapter unchanged: same arguments, same results, same errors, thrown as
 * they were. A listing counts once when it is first iterated, however many pages the adapter reads.
 * The observer must not throw (it runs beside the call, not in it).
 */
import { SpoolError } from '../errors.js';
import type { Stores } from './open.js';
import type { ByteRange, Item, ItemKey, MetadataStore, ObjectInfo, ObjectStore, QueryOptions, WriteOp } from './ports.js';

export type StoreCallOutcome = 'ok' | 'conflict' | 'error';

export interface StoreCall {
  readonly store: 'object' | 'metadata';
  readonly op: string;
  readonly outcome: StoreCallOutcome;
  readonly seconds: number;
  /** Items the call wrote (a transaction: its ops); 1 for every other call. */
  readonly items: number;
}

export type StoreCallObserver = (call: StoreCall) => void;

export function instrumentStores(stores: Stores, observe: StoreCallObserver): Stores {
  return { objects: instrumentObjectStore(stores.objects, observe), metadata: instrumentMetadataStore(stores.metadata, observe) };
}

/** A failed condition, or a transaction cancelled for a concurrent one, is the caller's answer, not a fault: it is told apart from errors. */
const outcomeOf = (error: unknown): StoreCallOutcome => (error instanceof SpoolError && error.code === 'CONFLICT' ? 'conflict' : 'error');

function timed<T>(observe: StoreCallObserver, store: StoreCall['store'], op: string, call: () => Promise<T>, items = 1): Promise<T> {
  const started = performance.now();
  const report = (outcome: StoreCallOutcome) => observe({ store, op, outcome, seconds: (performance.now() - started) / 1000, items });
  return call().then(
    (value) => {
      report('ok');
      return value;
    },
    (error: unknown) => {
      report(outcomeOf(error));
      throw error;
    },
  );
}

export function instrumentObjectStore(inner: ObjectStore, observe: StoreCallObserver): ObjectStore {
  const call = <T>(op: string, run: () => Promise<T>) => timed(observe, 'object', op, run);
  return {
    get url() {
      return inner.url;
    },
    put: (key: string, body: Uint8Array) => call('put', () => inner.put(key, body)),
    get: (key: string, range?: ByteRange) => call('get', () => inner.get(key, range)),
    head: (key: string) => call('head', () => inner.head(key)),
    list: (prefix: string) => countedListing(inner.list(prefix), observe),
    delete: (keys: readonly string[]) => call('delete', () => inner.delete(keys)),
    ensureReady: () => inner.ensureReady(),
    close: () => inner.close(),
  };
}

function countedListing(listing: AsyncIterable<ObjectInfo>, observe: StoreCallObserver): AsyncIterable<ObjectInfo> {
  return {
    [Symbol.asyncIterator]() {
      const started = performance.now();
      const report = (outcome: StoreCallOutcome) =>
        observe({ store: 'object', op: 'list', outcome, seconds: (performance.now() - started) / 1000, items: 1 });
      const iterator = listing[Symbol.asyncIterator]();
      let reported = false;
      const once = (outcome: StoreCallOutcome) => {
        if (!reported) report(outcome);
        reported = true;
      };
      return {
        next: (...args: [] | [unknown]) =>
          iterator.next(...args).then(
            (result) => {
              once('ok');
              return result;
            },
            (error: unknown) => {
              once('error');
              throw error;
            },
          ),
        return: iterator.return ? (value?: unknown) => iterator.return!(value) : undefined,
        throw: iterator.throw ? (error?: unknown) => iterator.throw!(error) : undefined,
      } as AsyncIterator<ObjectInfo>;
    },
  };
}

export function instrumentMetadataStore(inner: MetadataStore, observe: StoreCallObserver): MetadataStore {
  const call = <T>(op: string, run: () => Promise<T>, items?: number) => timed(observe, 'metadata', op, run, items);
  return {
    get url() {
      return inner.url;
    },
    get: (key: ItemKey): Promise<Item | undefined> => call('get', () => inner.get(key)),
    query: (pk: string, options?: QueryOptions) => call('query', () => inner.query(pk, options)),
    write: (op: WriteOp) => call(op.kind, () => inner.write(op)),
    transact: (ops: readonly WriteOp[]) => call('transact', () => inner.transact(ops), ops.length),
    ensureReady: () => inner.ensureReady(),
    close: () => inner.close(),
  };
}
