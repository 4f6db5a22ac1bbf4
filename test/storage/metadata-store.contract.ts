/**
 * The MetadataStore contract, written once and run against every adapter (memory, LMDB, DynamoDB
 * Local). The engine's correctness rests on exactly these behaviours.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConditionFailedError, TransactionConflictError, type MetadataStore, type WriteOp } from '../../lib/storage/ports.js';
import { readyMetadataStore, type StoreKind } from '../support/stores.js';

export function metadataStoreContract(kind: () => StoreKind): void {
  describe('storage > metadata store contract', () => {
    let store: MetadataStore;
    beforeAll(async () => {
      store = await readyMetadataStore(kind());
    });
    afterAll(async () => {
      await store?.close();
    });
    const pk = () => `pk-${randomUUID()}`;

    it('reads back what it put, with every attribute type', async () => {
      const key = { pk: pk(), sk: 'a' };
      const attrs = {
        s: 'text',
        n: 42,
        f: 1.5,
        big: 2 ** 52,
        t: true,
        nil: null,
        b: Buffer.from([0, 1, 255]),
        list: [1, 'two'],
        map: { x: 1 },
      };
      await store.write({ kind: 'put', key, attrs });
      const item = await store.get(key);
      expect(item?.attrs).toEqual(attrs);
      expect(Buffer.isBuffer(item?.attrs.b)).toBe(true);
    });

    it('answers undefined for a missing item', async () => {
      expect(await store.get({ pk: pk(), sk: 'none' })).toBeUndefined();
    });

    it('creates an item only if absent, and returns the current item on conflict', async () => {
      const key = { pk: pk(), sk: 'x' };
      await store.write({ kind: 'put', key, attrs: { owner: 'a' }, condition: { kind: 'absent' } });
      const failure = await store.write({ kind: 'put', key, attrs: { owner: 'b' }, condition: { kind: 'absent' } }).catch((e) => e);
      expect(failure).toBeInstanceOf(ConditionFailedError);
      expect(failure.code).toBe('CONFLICT');
      expect(failure.current?.attrs).toEqual({ owner: 'a' });
      expect((await store.get(key))?.attrs).toEqual({ owner: 'a' });
    });

    it('updates only when the named fields match, leaving other fields alone', async () => {
      const key = { pk: pk(), sk: 'p' };
      await store.write({ kind: 'put', key, attrs: { epoch: 1, next: 10, other: 'keep' } });
      await store.write({ kind: 'update', key, set: { next: 15 }, condition: { kind: 'match', fields: { epoch: 1, next: 10 } } });
      expect((await store.get(key))?.attrs).toEqual({ epoch: 1, next: 15, other: 'keep' });
      const failure = await store
        .write({ kind: 'update', key, set: { next: 99 }, condition: { kind: 'match', fields: { epoch: 1, next: 10 } } })
        .catch((e) => e);
      expect(failure).toBeInstanceOf(ConditionFailedError);
      expect(failure.current?.attrs.next).toBe(15);
      expect((await store.get(key))?.attrs.next).toBe(15);
    });

    it('treats a null expectation as "absent or null", and match on a missing item as a conflict', async () => {
      const key = { pk: pk(), sk: 'n' };
      await expect(
        store.write({ kind: 'update', key, set: { a: 1 }, condition: { kind: 'match', fields: { owner: null } } }),
      ).rejects.toBeInstanceOf(ConditionFailedError);
      expect(await store.get(key)).toBeUndefined();
      await store.write({ kind: 'put', key, attrs: { a: 0 } });
      await store.write({ kind: 'update', key, set: { owner: 'me' }, condition: { kind: 'match', fields: { owner: null } } });
      await expect(
        store.write({ kind: 'update', key, set: { owner: 'you' }, condition: { kind: 'match', fields: { owner: null } } }),
      ).rejects.toBeInstanceOf(ConditionFailedError);
    });

    it('creates the item on an unconditional update and removes named attributes', async () => {
      const key = { pk: pk(), sk: 'u' };
      await store.write({ kind: 'update', key, set: { a: 1, b: 2 } });
      await store.write({ kind: 'update', key, set: { c: 3 }, remove: ['a'] });
      expect((await store.get(key))?.attrs).toEqual({ b: 2, c: 3 });
    });

    it('deletes only if the condition holds', async () => {
      const key = { pk: pk(), sk: 'd' };
      await store.write({ kind: 'put', key, attrs: { v: 1 } });
      await expect(store.write({ kind: 'delete', key, condition: { kind: 'match', fields: { v: 2 } } })).rejects.toBeInstanceOf(
        ConditionFailedError,
      );
      await store.write({ kind: 'delete', key, condition: { kind: 'match', fields: { v: 1 } } });
      expect(await store.get(key)).toBeUndefined();
    });

    it('range-reads one pk in sk order, both directions, with bounds and limits', async () => {
      const p = pk();
      const sks = ['000', '001', '002', '010', '011', '100'];
      for (const sk of [...sks].reverse()) await store.write({ kind: 'put', key: { pk: p, sk }, attrs: { label: sk } });
      await store.write({ kind: 'put', key: { pk: `${p}x`, sk: '005' }, attrs: {} });
      const sksOf = (items: { sk: string }[]) => items.map((item) => item.sk);
      expect(sksOf(await store.query(p))).toEqual(sks);
      expect(sksOf(await store.query(p, { reverse: true }))).toEqual([...sks].reverse());
      expect(sksOf(await store.query(p, { from: '001', to: '010' }))).toEqual(['001', '002', '010']);
      expect(sksOf(await store.query(p, { to: '010', reverse: true, limit: 1 }))).toEqual(['010']);
      expect(sksOf(await store.query(p, { to: '009', reverse: true, limit: 1 }))).toEqual(['002']);
      expect(sksOf(await store.query(p, { from: '003', limit: 2 }))).toEqual(['010', '011']);
      expect(sksOf(await store.query(p, { from: '001', to: '011', reverse: true }))).toEqual(['011', '010', '002', '001']);
      expect(sksOf(await store.query(p, { from: '101' }))).toEqual([]);
      expect(sksOf(await store.query(p, { from: '011', to: '002' }))).toEqual([]);
    });

    it('applies a transaction wholly, or not at all when any condition fails', async () => {
      const p = pk();
      const a = { pk: p, sk: 'a' };
      const b = { pk: p, sk: 'b' };
      await store.write({ kind: 'put', key: a, attrs: { next: 0 } });
      await store.transact([
        { kind: 'update', key: a, set: { next: 5 }, condition: { kind: 'match', fields: { next: 0 } } },
        { kind: 'put', key: b, attrs: { base: 0 }, condition: { kind: 'absent' } },
      ]);
      const failure = await store
        .transact([
          { kind: 'update', key: a, set: { next: 9 }, condition: { kind: 'match', fields: { next: 5 } } },
          { kind: 'put', key: b, attrs: { base: 5 }, condition: { kind: 'absent' } },
          { kind: 'put', key: { pk: p, sk: 'c' }, attrs: {} },
        ])
        .catch((e) => e);
      expect(failure).toBeInstanceOf(TransactionConflictError);
      expect(failure.conflicts).toEqual([{ index: 1, current: { pk: p, sk: 'b', attrs: { base: 0 } } }]);
      expect((await store.get(a))?.attrs.next).toBe(5);
      expect(await store.get({ pk: p, sk: 'c' })).toBeUndefined();
    });

    it('fails a transaction on a check of another item without writing it', async () => {
      const p = pk();
      await store.write({ kind: 'put', key: { pk: p, sk: 'lease' }, attrs: { epoch: 2 } });
      await expect(
        store.transact([
          { kind: 'check', key: { pk: p, sk: 'lease' }, condition: { kind: 'match', fields: { epoch: 1 } } },
          { kind: 'put', key: { pk: p, sk: 'row' }, attrs: {} },
        ]),
      ).rejects.toBeInstanceOf(TransactionConflictError);
      expect(await store.get({ pk: p, sk: 'row' })).toBeUndefined();
      expect((await store.get({ pk: p, sk: 'lease' }))?.attrs).toEqual({ epoch: 2 });
    });

    it('refuses an update that changes nothing, and a query limit below 1', async () => {
      const key = { pk: pk(), sk: 'empty' };
      await expect(store.write({ kind: 'update', key, set: {} })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(await store.get(key)).toBeUndefined();
      await expect(store.query(key.pk, { limit: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('refuses a number that is not finite, as DynamoDB does, and writes nothing', async () => {
      const key = { pk: pk(), sk: 'nan' };
      await store.write({ kind: 'put', key, attrs: { n: 1 } });
      const refused: WriteOp[] = [
        { kind: 'put', key, attrs: { n: Number.NaN } },
        { kind: 'update', key, set: { nested: { list: [1, Number.POSITIVE_INFINITY] } } },
        { kind: 'update', key, set: { n: 2 }, condition: { kind: 'match', fields: { n: Number.NaN } } },
      ];
      for (const op of refused) {
        await expect(store.write(op)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { attribute: expect.any(String) } });
        await expect(store.transact([op, { kind: 'put', key: { pk: key.pk, sk: 'other' }, attrs: {} }])).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
        });
      }
      expect((await store.get(key))?.attrs).toEqual({ n: 1 });
      expect(await store.get({ pk: key.pk, sk: 'other' })).toBeUndefined();
    });

    it('refuses a transaction touching one item twice', async () => {
      const key = { pk: pk(), sk: 'twice' };
      await expect(
        store.transact([
          { kind: 'put', key, attrs: {} },
          { kind: 'delete', key },
        ]),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('lets exactly one of many racing compare-and-sets win each round', async () => {
      const key = { pk: pk(), sk: 'counter' };
      await store.write({ kind: 'put', key, attrs: { n: 0 } });
      const wins = await Promise.all(
        Array.from({ length: 8 }, () =>
          store.write({ kind: 'update', key, set: { n: 1 }, condition: { kind: 'match', fields: { n: 0 } } }).then(
            () => 1,
            (error) => {
              expect(error).toBeInstanceOf(ConditionFailedError);
              return 0;
            },
          ),
        ),
      );
      expect(wins.reduce((a: number, b: number) => a + b, 0)).toBe(1);
    });
  });
}
