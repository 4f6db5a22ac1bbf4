/** Opening stores and logs for engine suites: several Log instances may share one pair of stores. */
import { openStores, type StoreLocations, type Stores } from '../../lib/storage/open.js';
import { Log, type LogOptions } from '../../lib/log/index.js';
import { afterEach } from 'vitest';
import { FaultyMetadataStore, FaultyObjectStore } from './faults.js';
import type { StoreKind } from './stores.js';
import { brokerKey, topicsPk } from '../../lib/keys.js';

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

/**
 * Stores and Logs for one test at a time, for an engine suite's top level (it registers an afterEach
 * hook): `open()` opens fresh stores of `kind` and answers them with `make`, a Log over them (several
 * Logs may share them, as agents share S3 and DynamoDB); whatever a test opened is closed after it.
 */
export function perTestLogs(kind: () => StoreKind) {
  const logs: Log[] = [];
  const opened: TestStores[] = [];
  afterEach(async () => {
    await closeAll(logs.splice(0), opened.splice(0));
  });
  return async () => {
    const locations = kind().locations();
    const stores = await openTestStores(locations);
    opened.push(stores);
    const make = (options: Partial<LogOptions> = {}) => {
      const log = newLog(stores, options);
      logs.push(log);
      return log;
    };
    return { stores, locations, make };
  };
}

export const text = (value: string) => Buffer.from(value, 'utf8');
export const str = (value: Buffer | null) => (value === null ? null : value.toString('utf8'));

/** Every record of a partition from its start, as `log` reads it (a fresh Log reads only what is stored), with its high watermark. */
export async function readAll(log: Log, topic: string, partition: number) {
  const out: { offset: number; value: string | null }[] = [];
  let offset = 0;
  for (;;) {
    const fetched = await log.fetch(topic, partition, offset, { maxRecords: 10_000, maxBytes: 64 * 1024 * 1024 });
    for (const record of fetched.records) out.push({ offset: record.offset, value: str(record.value) });
    if (fetched.nextOffset >= fetched.highWatermark) return { records: out, highWatermark: fetched.highWatermark };
    offset = fetched.nextOffset;
  }
}

/**
 * A packing agent's Log (packed commits on, lib/log/packing.ts; no timers) whose leases ride on a
 * registration at a random node: `lapse` lets the registration expire in the store, `renew` brings it back.
 */
export async function packingAgent(stores: TestStores, make: (options?: Partial<LogOptions>) => Log, options: Partial<LogOptions> = {}) {
  const log = make({ packedCommits: true, packedMaterializeMs: 0, leaseRenewIntervalMs: 0, ...options });
  const node = 500_000 + Math.floor(Math.random() * 100_000);
  const renew = () =>
    stores.metadata.write({ kind: 'put', key: brokerKey(node), attrs: { owner: log.writerId, expiresMs: Date.now() + 60_000 } });
  await renew();
  log.leaseOnRegistration(() => ({ nodeId: node, owner: log.writerId, expiresMs: Date.now() + 60_000 }));
  return {
    log,
    node,
    renew,
    lapse: () => stores.metadata.write({ kind: 'update', key: brokerKey(node), set: { expiresMs: Date.now() - 1 } }),
  };
}

/**
 * Holds the next listing of the topics on `stores` (a maintenance pass's first step) once it has
 * read them, until `release`: `listed` resolves when it is held. Later queries go through as usual.
 */
export function holdTopicsListing(stores: Stores): { listed: Promise<void>; release: () => void } {
  const query = stores.metadata.query.bind(stores.metadata);
  let listedNow!: () => void;
  const listed = new Promise<void>((resolve) => (listedNow = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  stores.metadata.query = async (pk, options) => {
    const items = await query(pk, options);
    if (pk === topicsPk) {
      stores.metadata.query = query;
      listedNow();
      await released;
    }
    return items;
  };
  return { listed, release };
}
