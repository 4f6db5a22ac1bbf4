/** Opening stores and logs for engine suites: several Log instances may share one pair of stores. */
import { openStores, type StoreLocations, type Stores } from '../../lib/storage/open.js';
import { Log, type LogOptions } from '../../lib/log/index.js';
import { FaultyMetadataStore, FaultyObjectStore } from './faults.js';

export interface TestStores extends Stores {
  readonly metadata: FaultyMetadataStore;
  readonly objects: FaultyObjectStore;
}

export async function openTestStores(locations: StoreLocations): Promise<TestStores> {
  const stores = await openStores(locations, { createIfMissing: true });
  return { metadata: new FaultyMetadataStore(stores.metadata), objects: new FaultyObjectStore(stores.objects) };
}

export function newLog(stores: Stores, options: Partial<LogOptions> = {}): Log {
  return new Log({ stores, pollIntervalMs: 20, topicCacheMs: 0, ...options, producer: { batchIntervalMs: 2, ...options.producer } });
}

export async function closeAll(logs: readonly Log[], stores: readonly Stores[]): Promise<void> {
  for (const log of logs) await log.close().catch(() => undefined);
  for (const store of stores) {
    await store.objects.close();
    await store.metadata.close();
  }
}

export const text = (value: string) => Buffer.from(value, 'utf8');
export const str = (value: Buffer | null) => (value === null ? null : value.toString('utf8'));
