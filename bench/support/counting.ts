/**
 * Request and capacity counters for the storage ports: what the engine would be billed for on S3 and
 * DynamoDB, counted as it runs. For benchmarks only.
 *
 * Object store: PUT, GET, HEAD, LIST (each `list` call; S3 pages 1,000 keys per request) and DELETE
 * calls, and the bytes put and got.
 *
 * Metadata store: calls, and capacity units by DynamoDB's published rules, computed from the items as
 * they are before and after each write (read from the inner store, which is not counted):
 * - a write costs ceil(size / 1 KB) write units, the larger of the item's old and new size, at least
 *   1 (a delete: the old size; a write whose condition fails still costs the units of the item it
 *   checked);
 * - inside TransactWriteItems every op (ConditionCheck too) costs twice that;
 * - a strongly consistent GetItem costs ceil(size / 4 KB) read units, at least 1 (an absent item: 1);
 *   a strongly consistent Query costs ceil(total size of the items returned / 4 KB), at least 1.
 * Item size is the sum of attribute-name and value bytes (numbers: 1 byte per 2 significant digits
 * + 1), keys included. The adapter reads with ConsistentRead (lib/storage/dynamodb.ts), so reads are
 * counted as strongly consistent.
 */
import type {
  AttributeValue,
  Attributes,
  ByteRange,
  Item,
  ItemKey,
  MetadataStore,
  ObjectStore,
  QueryOptions,
  WriteOp,
} from '../../lib/storage/ports.js';
import { dollarsOf } from '../../lib/cost.js';
import { DelegatingMetadataStore, DelegatingObjectStore } from '../../test/support/delegating.js';

export { prices } from '../../lib/cost.js';

export interface ObjectCounts {
  puts: number;
  gets: number;
  heads: number;
  lists: number;
  deletes: number;
  bytesPut: number;
  bytesGot: number;
}

export interface MetadataCounts {
  gets: number;
  queries: number;
  writes: number;
  transactions: number;
  /** Items written by transactions (ConditionChecks included). */
  transactItems: number;
  /** Writes and transactions whose condition failed. */
  conflicts: number;
  readUnits: number;
  /** All write units, transactions' included. */
  writeUnits: number;
  /** The write units of transactions (commits, offset commits) alone. */
  transactWriteUnits: number;
}

export interface Counts {
  objects: ObjectCounts;
  metadata: MetadataCounts;
}

const zeroObjects = (): ObjectCounts => ({ puts: 0, gets: 0, heads: 0, lists: 0, deletes: 0, bytesPut: 0, bytesGot: 0 });
const zeroMetadata = (): MetadataCounts => ({
  gets: 0,
  queries: 0,
  writes: 0,
  transactions: 0,
  transactItems: 0,
  conflicts: 0,
  readUnits: 0,
  writeUnits: 0,
  transactWriteUnits: 0,
});

export class CountingObjectStore extends DelegatingObjectStore {
  counts = zeroObjects();
  override async put(key: string, body: Uint8Array) {
    this.counts.puts++;
    this.counts.bytesPut += body.length;
    return super.put(key, body);
  }
  override async get(key: string, range?: ByteRange) {
    this.counts.gets++;
    const bytes = await super.get(key, range);
    this.counts.bytesGot += bytes.length;
    return bytes;
  }
  override async head(key: string) {
    this.counts.heads++;
    return super.head(key);
  }
  override list(prefix: string) {
    this.counts.lists++;
    return super.list(prefix);
  }
  override async delete(keys: readonly string[]) {
    this.counts.deletes += keys.length;
    return super.delete(keys);
  }
}

export class CountingMetadataStore extends DelegatingMetadataStore {
  counts = zeroMetadata();
  /** Reads and written items by kind of item (kindOf), for telling where the units go. */
  readonly byKind = { reads: new Map<string, number>(), writes: new Map<string, number>() };
  override async get(key: ItemKey): Promise<Item | undefined> {
    this.counts.gets++;
    tally(this.byKind.reads, key);
    const item = await super.get(key);
    this.counts.readUnits += Math.max(1, Math.ceil(itemBytes(key, item?.attrs) / 4096));
    return item;
  }
  override async query(pk: string, options?: QueryOptions): Promise<Item[]> {
    this.counts.queries++;
    tally(this.byKind.reads, { pk, sk: options?.from ?? '' });
    const items = await super.query(pk, options);
    this.counts.readUnits += Math.max(1, Math.ceil(items.reduce((sum, item) => sum + itemBytes(item, item.attrs), 0) / 4096));
    return items;
  }
  override async write(op: WriteOp) {
    this.counts.writes++;
    // Not `writeUnits += await …`: that reads the counter before the await, and concurrent writes would lose units.
    const units = await this.charged([op], 1, () => super.write(op));
    this.counts.writeUnits += units;
  }
  override async transact(ops: readonly WriteOp[]) {
    this.counts.transactions++;
    this.counts.transactItems += ops.length;
    const units = await this.charged(ops, 2, () => super.transact(ops));
    this.counts.writeUnits += units;
    this.counts.transactWriteUnits += units;
  }

  /** Runs the write and returns its units: per op, the larger of old and new item size in KB, × factor. */
  private async charged(ops: readonly WriteOp[], factor: number, run: () => Promise<void>): Promise<number> {
    for (const op of ops) tally(this.byKind.writes, op.key);
    const inner = this.inner;
    const olds = await Promise.all(ops.map((op) => inner.get(op.key)));
    let failed: unknown;
    await run().catch((error: unknown) => {
      failed = error;
    });
    const news = failed === undefined ? await Promise.all(ops.map((op) => inner.get(op.key))) : olds;
    const units = ops.reduce(
      (sum, op, i) =>
        sum + factor * Math.max(1, Math.ceil(Math.max(itemBytes(op.key, olds[i]?.attrs), itemBytes(op.key, news[i]?.attrs)) / 1024)),
      0,
    );
    if (failed !== undefined) {
      this.counts.conflicts++;
      this.counts.writeUnits += units;
      if (factor === 2) this.counts.transactWriteUnits += units;
      throw failed;
    }
    return units;
  }
}

/**
 * The kind of an item, from its key: the pk up to its first '#' and the sk up to its first '#'
 * (numbers as <n>), e.g. `part/state`, `group/offset`, `rows/<n>`.
 */
export function kindOf(key: ItemKey): string {
  const head = (part: string) => (/^\d+$/.test(part) ? '<n>' : part.split('#')[0]!);
  return `${head(key.pk)}/${head(key.sk)}`;
}

function tally(map: Map<string, number>, key: ItemKey): void {
  const kind = kindOf(key);
  map.set(kind, (map.get(kind) ?? 0) + 1);
}

/** `after − before` per kind, largest first, as `kind n` pairs. */
export function kindsBetween(after: ReadonlyMap<string, number>, before: ReadonlyMap<string, number>): [string, number][] {
  return [...after]
    .map(([kind, n]): [string, number] => [kind, n - (before.get(kind) ?? 0)])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
}

/** Wraps both stores in counters. */
export function counting(stores: { objects: ObjectStore; metadata: MetadataStore }): {
  objects: CountingObjectStore;
  metadata: CountingMetadataStore;
} {
  return { objects: new CountingObjectStore(stores.objects), metadata: new CountingMetadataStore(stores.metadata) };
}

export function snapshot(stores: { objects: CountingObjectStore; metadata: CountingMetadataStore }): Counts {
  return { objects: { ...stores.objects.counts }, metadata: { ...stores.metadata.counts } };
}

/** `after − before`, field by field. */
export function difference(after: Counts, before: Counts): Counts {
  const minus = <T extends object>(a: T, b: T): T =>
    Object.fromEntries(Object.entries(a).map(([name, value]) => [name, (value as number) - (b[name as keyof T] as number)])) as T;
  return { objects: minus(after.objects, before.objects), metadata: minus(after.metadata, before.metadata) };
}

/** Dollars at list prices for the counted requests and units, priced as the console's estimate prices them (lib/cost.ts). */
export function dollars(counts: Counts): { s3: number; dynamo: number; total: number } {
  const { s3Usd, dynamoUsd } = dollarsOf({
    s3Puts: counts.objects.puts,
    s3Gets: counts.objects.gets + counts.objects.heads,
    s3Lists: counts.objects.lists,
    s3Deletes: counts.objects.deletes,
    dynamoReadUnits: counts.metadata.readUnits,
    dynamoWriteUnits: counts.metadata.writeUnits,
  });
  return { s3: s3Usd, dynamo: dynamoUsd, total: s3Usd + dynamoUsd };
}

/** An item's size as DynamoDB bills it: attribute names and values, keys included. */
export function itemBytes(key: ItemKey, attrs: Attributes | undefined): number {
  if (attrs === undefined) return 0;
  let bytes = 2 + Buffer.byteLength(key.pk) + 2 + Buffer.byteLength(key.sk);
  for (const [name, value] of Object.entries(attrs)) bytes += Buffer.byteLength(name) + valueBytes(value);
  return bytes;
}

function valueBytes(value: AttributeValue): number {
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') return Math.ceil(String(Math.abs(value)).replace(/^0+|\./g, '').length / 2) + 1;
  if (Buffer.isBuffer(value)) return value.length;
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, v: AttributeValue) => sum + 1 + valueBytes(v), 0);
  return 3 + Object.entries(value).reduce((sum, [name, v]) => sum + 1 + Buffer.byteLength(name) + valueBytes(v as AttributeValue), 0);
}
