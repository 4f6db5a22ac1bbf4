/**
 * Fault-injecting wrappers for the storage ports: they delegate to a real adapter and let a test run
 * code before or after an operation (to fail it, delay it, or apply it and then lose the response).
 */
import type { ByteRange, Item, ItemKey, MetadataStore, ObjectInfo, ObjectStore, QueryOptions, WriteOp } from '../../lib/storage/ports.js';

export class FaultyMetadataStore implements MetadataStore {
  beforeTransact: ((ops: readonly WriteOp[]) => Promise<void> | void) | undefined;
  afterTransact: ((ops: readonly WriteOp[]) => Promise<void> | void) | undefined;
  readonly calls = { get: 0, query: 0, write: 0, transact: 0 };

  constructor(readonly inner: MetadataStore) {}

  get url(): string {
    return this.inner.url;
  }

  get(key: ItemKey): Promise<Item | undefined> {
    this.calls.get++;
    return this.inner.get(key);
  }

  query(pk: string, options?: QueryOptions): Promise<Item[]> {
    this.calls.query++;
    return this.inner.query(pk, options);
  }

  write(op: WriteOp): Promise<void> {
    this.calls.write++;
    return this.inner.write(op);
  }

  async transact(ops: readonly WriteOp[]): Promise<void> {
    this.calls.transact++;
    await this.beforeTransact?.(ops);
    await this.inner.transact(ops);
    await this.afterTransact?.(ops);
  }

  ensureReady(): Promise<void> {
    return this.inner.ensureReady();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

export class FaultyObjectStore implements ObjectStore {
  beforePut: ((key: string) => Promise<void> | void) | undefined;
  readonly calls = { put: 0, get: 0 };

  constructor(readonly inner: ObjectStore) {}

  get url(): string {
    return this.inner.url;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    this.calls.put++;
    await this.beforePut?.(key);
    await this.inner.put(key, body);
  }

  get(key: string, range?: ByteRange): Promise<Buffer> {
    this.calls.get++;
    return this.inner.get(key, range);
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }

  delete(keys: readonly string[]): Promise<void> {
    return this.inner.delete(keys);
  }

  ensureReady(): Promise<void> {
    return this.inner.ensureReady();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
