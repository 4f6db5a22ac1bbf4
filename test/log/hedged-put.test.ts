import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { HedgedPut } from '../../lib/log/hedged-put.js';
import { MemoryObjectStore } from '../../lib/storage/memory.js';

/** An object store whose PUTs take the next scripted delay (ms), or fail when the script says so. */
class ScriptedStore extends MemoryObjectStore {
  script: (number | 'fail')[] = [];
  override async put(key: string, body: Uint8Array): Promise<void> {
    const step = this.script.shift() ?? 0;
    await new Promise((resolve) => setTimeout(resolve, step === 'fail' ? 5 : step));
    if (step === 'fail') throw new SpoolError('STORAGE_UNAVAILABLE', 'put failed');
    return super.put(key, body);
  }
}

async function warmed(store: ScriptedStore, options = {}) {
  const uploads = new HedgedPut(store, { minDelayMs: 20, ...options });
  for (let i = 0; i < 20; i++) await uploads.put(`warm-${i}`, Buffer.from('w'));
  return uploads;
}

const keys = async (store: MemoryObjectStore) => {
  const out: string[] = [];
  for await (const info of store.list('seg')) out.push(info.key);
  return out;
};

describe('log > hedged segment uploads', () => {
  it('does not hedge before it has seen enough uploads to know what slow is', async () => {
    const store = new ScriptedStore();
    const uploads = new HedgedPut(store, { minDelayMs: 1 });
    store.script = [100];
    expect(await uploads.put('seg-1', Buffer.from('a'))).toBe('seg-1');
    expect(uploads.stats.hedges).toBe(0);
  });

  it('hedges a slow upload, uses the copy that lands first and deletes the other', async () => {
    const store = new ScriptedStore();
    const uploads = await warmed(store);
    store.script = [300, 5];
    expect(await uploads.put('seg-2', Buffer.from('b'))).toBe('seg-2.h');
    expect(uploads.stats).toMatchObject({ hedges: 1, hedgeWins: 1 });
    expect(await keys(store)).toEqual(['seg-2.h']);
    await new Promise((resolve) => setTimeout(resolve, 350)); // the slow first copy lands…
    expect(await keys(store)).toEqual(['seg-2.h']); // …and is deleted
    expect(await store.get('seg-2.h')).toEqual(Buffer.from('b'));
  });

  it('keeps the first copy when it lands before the hedge', async () => {
    const store = new ScriptedStore();
    const uploads = await warmed(store);
    store.script = [60, 300];
    expect(await uploads.put('seg-3', Buffer.from('c'))).toBe('seg-3');
    expect(uploads.stats).toMatchObject({ hedges: 1, hedgeWins: 0 });
  });

  it('fails when the only copy fails before the hedge is due, and succeeds when either copy lands', async () => {
    const store = new ScriptedStore();
    const uploads = await warmed(store);
    store.script = ['fail'];
    await expect(uploads.put('seg-4', Buffer.from('d'))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(uploads.stats.hedges).toBe(0);
    store.script = [100, 'fail'];
    expect(await uploads.put('seg-5', Buffer.from('e'))).toBe('seg-5'); // the hedge failed, the first landed
  });

  it('never hedges with a window of 0', async () => {
    const store = new ScriptedStore();
    const uploads = await warmed(store, { window: 0 });
    store.script = [150];
    expect(await uploads.put('seg-6', Buffer.from('f'))).toBe('seg-6');
    expect(uploads.stats.hedges).toBe(0);
  });
});
