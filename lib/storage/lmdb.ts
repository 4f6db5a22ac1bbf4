/**
 * MetadataStore on LMDB (the `lmdb` npm package: a real embedded, transactional, memory-mapped
 * key-value database shipped with prebuilt binaries). This is the embedded default: no account, no
 * server. Items are stored under the ordered key [pk, sk] so a query is a cursor walk in sk order.
 *
 * Every conditional write runs inside one synchronous LMDB write transaction: the condition is read
 * and the write applied under LMDB's single-writer lock, which is shared between processes, so
 * several agents on one data directory stay correct. A write returns only once LMDB reports it flushed
 * to disk (`flushed`; LMDB syncs after the commit, off the event loop), so an acknowledged commit
 * survives a crash of the process or of the machine.
 */
import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { Attributes, Item, ItemKey, MetadataStore, QueryOptions, WriteOp } from './ports.js';
import { checkQuery, runTransaction, runWrite, type ItemAccess } from './metadata-semantics.js';

type Key = [string, string];

// Sorts after every sk the engine writes (they are non-empty ASCII).
const skMax = '\uffff';

export class LmdbMetadataStore implements MetadataStore {
  readonly url: string;
  private readonly root: RootDatabase;
  private readonly db: Database<Attributes, Key>;

  constructor(readonly path: string) {
    this.url = `lmdb://${path}`;
    mkdirSync(path, { recursive: true });
    this.root = open({ path, name: undefined });
    this.db = this.root.openDB<Attributes, Key>({ name: 'items', encoding: 'msgpack' });
  }

  async get(key: ItemKey): Promise<Item | undefined> {
    this.root.resetReadTxn(); // another process may have committed since our snapshot
    return this.access.read(key);
  }

  async query(pk: string, options: QueryOptions = {}): Promise<Item[]> {
    checkQuery(options);
    this.root.resetReadTxn();
    // LMDB ranges include `start` and exclude `end`, in either direction; the walk stops at the far bound.
    const range = options.reverse
      ? this.db.getRange({ start: [pk, options.to ?? skMax], end: [pk, ''], reverse: true })
      : this.db.getRange({ start: [pk, options.from ?? ''], end: [pk, skMax] });
    const items: Item[] = [];
    for (const { key, value } of range) {
      const sk = key[1];
      if (options.reverse ? options.from !== undefined && sk < options.from : options.to !== undefined && sk > options.to) break;
      items.push({ pk, sk, attrs: value });
      if (options.limit !== undefined && items.length >= options.limit) break;
    }
    return items;
  }

  async write(op: WriteOp): Promise<void> {
    this.root.transactionSync(() => runWrite(this.access, op));
    await this.root.flushed;
  }

  async transact(ops: readonly WriteOp[]): Promise<void> {
    this.root.transactionSync(() => runTransaction(this.access, ops));
    await this.root.flushed;
  }

  async ensureReady(): Promise<void> {}

  async close(): Promise<void> {
    await this.root.close();
  }

  private readonly access: ItemAccess = {
    read: (key) => {
      const attrs = this.db.get([key.pk, key.sk]);
      return attrs === undefined ? undefined : { pk: key.pk, sk: key.sk, attrs };
    },
    store: (key, item) => {
      if (item === undefined) this.db.removeSync([key.pk, key.sk]);
      else this.db.putSync([key.pk, key.sk], item.attrs);
    },
  };
}
