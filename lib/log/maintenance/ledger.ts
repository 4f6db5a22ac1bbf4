/**
 * The unreferenced-object ledger: when a row stops pointing at an object (compaction replaced it,
 * retention dropped it, its topic was deleted), the object's key is written here with the time. The
 * garbage collector deletes an object only once no row references it AND the grace period has passed
 * since it was last dereferenced (or, for an object never committed, since it was written), so a
 * reader that found a row a moment before it changed can still read the bytes. Items: lib/keys.ts,
 * "unreferenced object".
 */
import pMap from 'p-map';
import type { MetadataStore } from '../../storage/ports.js';
import { ledgerKey } from '../../keys.js';

/** Ledger writes in flight at once. */
const parallelWrites = 16;

export async function markUnreferenced(metadata: MetadataStore, objectKeys: Iterable<string>, nowMs: number): Promise<void> {
  await pMap(new Set(objectKeys), (key) => metadata.write({ kind: 'put', key: ledgerKey(key), attrs: { sinceMs: nowMs } }), {
    concurrency: parallelWrites,
  });
}
