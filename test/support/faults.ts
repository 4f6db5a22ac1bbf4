/**
 * Fault-injecting wrappers for the storage ports: they delegate to a real adapter and let a test run
 * code before or after an operation (to fail it, delay it, or apply it and then lose the response).
 */
import type { ByteRange, Item, ItemKey, QueryOptions, WriteOp } from '../../lib/storage/ports.js';
import { DelegatingMetadataStore, DelegatingObjectStore } from './delegating.js';

export class FaultyMetadataStore extends DelegatingMetadataStore {
  beforeGet: ((key: ItemKey) => Promise<void> | void) | undefined;
  beforeQuery: ((pk: string) => Promise<void> | void) | undefined;
  beforeWrite: ((op: WriteOp) => Promise<void> | void) | undefined;
  beforeTransact: ((ops: readonly WriteOp[]) => Promise<void> | void) | undefined;
  afterTransact: ((ops: readonly WriteOp[]) => Promise<void> | void) | undefined;
  readonly calls = { get: 0, query: 0, write: 0, transact: 0 };

  override async get(key: ItemKey): Promise<Item | undefined> {
    this.calls.get++;
    await this.beforeGet?.(key);
    return super.get(key);
  }

  override async query(pk: string, options?: QueryOptions): Promise<Item[]> {
    this.calls.query++;
    await this.beforeQuery?.(pk);
    return super.query(pk, options);
  }

  private readonly writesInFlight = { now: 0, most: 0 };

  override async write(op: WriteOp): Promise<void> {
    this.calls.write++;
    this.writesInFlight.most = Math.max(this.writesInFlight.most, ++this.writesInFlight.now);
    try {
      await this.beforeWrite?.(op);
      await super.write(op);
    } finally {
      this.writesInFlight.now--;
    }
  }

  /**
   * Runs `work` with every single write slowed by `delayMs` (so writes issued together are seen in
   * flight together) and returns the most that were in flight at once.
   */
  async mostWritesInFlight(work: () => Promise<unknown>, delayMs = 5): Promise<number> {
    this.writesInFlight.most = 0;
    this.beforeWrite = () => new Promise((resolve) => setTimeout(resolve, delayMs));
    try {
      await work();
    } finally {
      this.beforeWrite = undefined;
    }
    return this.writesInFlight.most;
  }

  override async transact(ops: readonly WriteOp[]): Promise<void> {
    this.calls.transact++;
    await this.beforeTransact?.(ops);
    await super.transact(ops);
    await this.afterTransact?.(ops);
  }
}

export class FaultyObjectStore extends DelegatingObjectStore {
  beforePut: ((key: string) => Promise<void> | void) | undefined;
  readonly calls = { put: 0, get: 0 };

  override async put(key: string, body: Uint8Array): Promise<void> {
    this.calls.put++;
    await this.beforePut?.(key);
    await super.put(key, body);
  }

  override get(key: string, range?: ByteRange): Promise<Buffer> {
    this.calls.get++;
    return super.get(key, range);
  }
}
