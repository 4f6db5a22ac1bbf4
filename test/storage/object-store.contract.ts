/** The ObjectStore contract, written once and run against every adapter (memory, filesystem, s3rver). */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectNotFoundError, type ObjectStore } from '../../lib/storage/ports.js';
import { readyObjectStore, type StoreKind } from '../support/stores.js';

export function objectStoreContract(kind: () => StoreKind): void {
  describe('storage > object store contract', () => {
    let store: ObjectStore;
    beforeAll(async () => {
      store = await readyObjectStore(kind());
    });
    afterAll(async () => {
      await store?.close();
    });
    const prefix = () => `t-${randomUUID()}/`;

    it('gets back the bytes it put, whole and by range', async () => {
      const key = `${prefix()}segment`;
      const body = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
      await store.put(key, body);
      expect(await store.get(key)).toEqual(body);
      expect(await store.get(key, { offset: 100, length: 50 })).toEqual(body.subarray(100, 150));
      expect(await store.get(key, { offset: 4990, length: 10 })).toEqual(body.subarray(4990));
      expect(await store.get(key, { offset: 0, length: 0 })).toEqual(Buffer.alloc(0));
    });

    it('reports a missing object as ObjectNotFoundError and head as undefined', async () => {
      const key = `${prefix()}missing`;
      await expect(store.get(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(await store.head(key)).toBeUndefined();
    });

    it('heads an object with its size and a recent modification time', async () => {
      const key = `${prefix()}h`;
      await store.put(key, Buffer.alloc(1234, 7));
      const info = await store.head(key);
      expect(info?.sizeBytes).toBe(1234);
      expect(Math.abs(Date.now() - info!.lastModifiedMs)).toBeLessThan(60_000);
    });

    it('lists by prefix in key order, and deletes', async () => {
      const p = prefix();
      const keys = [`${p}a/1`, `${p}a/2`, `${p}b/1`];
      for (const key of keys) await store.put(key, Buffer.from(key));
      const listed = async (q: string) => {
        const out: string[] = [];
        for await (const info of store.list(q)) out.push(info.key);
        return out;
      };
      expect(await listed(p)).toEqual(keys);
      expect(await listed(`${p}a/`)).toEqual(keys.slice(0, 2));
      await store.delete([`${p}a/1`, `${p}nope`]);
      expect(await listed(p)).toEqual([`${p}a/2`, `${p}b/1`]);
    });
  });
}
