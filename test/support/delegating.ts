/**
 * Storage port wrappers that pass every call to a real adapter. Tests and benchmarks extend them to
 * inject faults, delay calls or count them, overriding only what they change.
 */
import type { ByteRange, Item, ItemKey, MetadataStore, ObjectInfo, ObjectStore, QueryOptions, WriteOp } from '../../lib/storage/ports.js';

export class DelegatingObjectStore implements ObjectStore {
  constructor(readonly inner: ObjectStore) {}
  get url(): string {
    return this.inner.url;
  }
  put(key: string, body: Uint8Array): Promise<void> {
    return this.inner.put(key, body);
  }
  get(key: string, range?: ByteRange): Promise<Buffer> {
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

export class DelegatingMetadataStore implements MetadataStore {
  constructor(readonly inner: MetadataStore) {}
  get url(): string {
    return this.inner.url;
  }
  get(key: ItemKey): Promise<Item | undefined> {
    return this.inner.get(key);
  }
  query(pk: string, options?: QueryOptions): Promise<Item[]> {
    return this.inner.query(pk, options);
  }
  write(op: WriteOp): Promise<void> {
    return this.inner.write(op);
  }
  transact(ops: readonly WriteOp[]): Promise<void> {
    return this.inner.transact(ops);
  }
  ensureReady(): Promise<void> {
    return this.inner.ensureReady();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
