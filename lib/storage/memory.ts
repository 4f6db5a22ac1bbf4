/**
 * In-memory adapters for unit tests only: the same semantics as the real ones (the contract suite runs
 * against them too), no durability. Never chosen by default.
 */
import { ObjectNotFoundError } from './ports.js';
import type { ByteRange, Item, ItemKey, MetadataStore, ObjectInfo, ObjectStore, QueryOptions, WriteOp } from './ports.js';
import { checkQuery, runTransaction, runWrite, type ItemAccess } from './metadata-semantics.js';

export class MemoryObjectStore implements ObjectStore {
  readonly url = 'memory://';
  private readonly objects = new Map<string, { body: Buffer; lastModifiedMs: number }>();

  async put(key: string, body: Uint8Array): Promise<void> {
    this.objects.set(key, { body: Buffer.from(body), lastModifiedMs: Date.now() });
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    const object = this.objects.get(key);
    if (object === undefined) throw new ObjectNotFoundError(key);
    return range === undefined ? object.body : object.body.subarray(range.offset, range.offset + range.length);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const object = this.objects.get(key);
    return object && { key, sizeBytes: object.body.length, lastModifiedMs: object.lastModifiedMs };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const keys = [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
    for (const key of keys) {
      const info = await this.head(key);
      if (info) yield info;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.objects.delete(key);
  }

  async ensureReady(): Promise<void> {}
  async close(): Promise<void> {}
}

export class MemoryMetadataStore implements MetadataStore {
  readonly url = 'memory://';
  private readonly items = new Map<string, Item>();

  async get(key: ItemKey): Promise<Item | undefined> {
    return this.items.get(id(key));
  }

  async query(pk: string, options: QueryOptions = {}): Promise<Item[]> {
    checkQuery(options);
    const matching = [...this.items.values()]
      .filter((item) => item.pk === pk && inRange(item.sk, options))
      .sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0));
    if (options.reverse) matching.reverse();
    return options.limit === undefined ? matching : matching.slice(0, options.limit);
  }

  async write(op: WriteOp): Promise<void> {
    runWrite(this.access, op);
  }

  async transact(ops: readonly WriteOp[]): Promise<void> {
    runTransaction(this.access, ops);
  }

  async ensureReady(): Promise<void> {}
  async close(): Promise<void> {}

  private readonly access: ItemAccess = {
    read: (key) => this.items.get(id(key)),
    store: (key, item) => {
      if (item === undefined) this.items.delete(id(key));
      else this.items.set(id(key), item);
    },
  };
}

function inRange(sk: string, options: QueryOptions): boolean {
  return (options.from === undefined || sk >= options.from) && (options.to === undefined || sk <= options.to);
}

function id(key: ItemKey): string {
  return `${key.pk}\u0000${key.sk}`;
}
