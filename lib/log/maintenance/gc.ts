/**
 * Garbage collection of objects: segments never committed (a writer died between upload and commit,
 * a compactor lost a race, a hedged PUT lost), and segments and indexes no row points at any more.
 * An object is deleted only when (1) no row of any topic references it, in a scan made before the
 * objects are listed, and (2) the grace period has passed since it was dereferenced (the ledger) or,
 * if it never was referenced, since it was written. Writers and the compactor commit within half the
 * grace period of their upload, so an object younger than the grace period may still be committed,
 * and is never touched. That argument needs the row scan to be recent when objects are deleted, so
 * a pass whose scan and listing took over a quarter of the grace period deletes nothing. Object ages
 * come from the object store's clock against ours: they must agree to well within the grace period.
 * Objects of packed partitions' tails (chunks committed in a packing writer's log, not rows yet:
 * packed.ts) are referenced too, from reads made before the scan. Nothing reachable is ever deleted. Its scan and listing are also the pass's census after it (what
 * the cost report counts), so a pass reads each partition's rows for it once, a page at a time; it
 * holds the keys of the objects rows reference (one per segment and index, not per row).
 */
import pMap from 'p-map';
import { objectsOf, topicFromItem } from '../layout.js';
import { ledgerKey, ledgerPk, topicsPk } from '../../keys.js';
import { checkpoint, rowPages, type MaintenanceContext, type MaintenanceResult } from './context.js';

export const objectPrefixes = ['segments/', 'partitions/'] as const;

/** Ledger deletes in flight. */
const parallelWrites = 16;

/** Objects and rows after a pass, and the bytes each live topic's rows point at, for the cost report. */
export interface Census {
  readonly objects: number;
  readonly bytes: number;
  readonly rows: number;
  readonly topicBytes: Record<string, number>;
}

/** Deletes what may be deleted; returns the census of what is left. */
export async function collectGarbage(
  ctx: MaintenanceContext,
  result: MaintenanceResult,
  packedObjects: ReadonlySet<string> = new Set(),
): Promise<Census> {
  const scanStartedMs = ctx.now();
  // Objects of packed partitions' tails (packed.ts), read before this scan: referenced, though by no row yet.
  const referenced = new Set<string>(packedObjects);
  let rows = 0;
  const topicBytes: Record<string, number> = {};
  for (const topic of (await ctx.metadata.query(topicsPk)).map(topicFromItem)) {
    let topicTotal = 0;
    for (let partition = 0; partition < topic.partitions; partition++) {
      for await (const page of rowPages(ctx, topic, partition)) {
        checkpoint(ctx);
        rows += page.length;
        for (const row of page) {
          topicTotal += row.sizeBytes;
          for (const key of objectsOf(row)) referenced.add(key);
        }
      }
    }
    if (!topic.deleting) topicBytes[topic.name] = topicTotal;
  }
  const ledger = new Map((await ctx.metadata.query(ledgerPk)).map((item) => [item.sk, item.attrs.sinceMs as number]));
  const now = ctx.now();
  const doomed: string[] = [];
  let doomedBytes = 0;
  let existingBytes = 0;
  const existing = new Set<string>();
  for (const prefix of objectPrefixes) {
    for await (const object of ctx.objects.list(prefix)) {
      checkpoint(ctx);
      existing.add(object.key);
      existingBytes += object.sizeBytes;
      if (referenced.has(object.key)) continue;
      const sinceMs = Math.max(ledger.get(object.key) ?? 0, object.lastModifiedMs);
      if (now - sinceMs < ctx.gcGraceMs) continue;
      doomed.push(object.key);
      doomedBytes += object.sizeBytes;
    }
  }
  // The reasoning above holds only if the scan of rows is recent: a pass this slow deletes nothing.
  if (ctx.now() - scanStartedMs > ctx.gcGraceMs / 4) return { objects: existing.size, bytes: existingBytes, rows, topicBytes };
  await ctx.objects.delete(doomed);
  result.objects_deleted += doomed.length;
  result.bytes_deleted += doomedBytes;
  // Ledger entries of objects that are gone (deleted now, or before) are done with.
  const gone = new Set(doomed);
  await pMap(
    [...ledger.keys()].filter((key) => !existing.has(key) || gone.has(key)),
    (key) => {
      checkpoint(ctx);
      return ctx.metadata.write({ kind: 'delete', key: ledgerKey(key) });
    },
    { concurrency: parallelWrites },
  );
  return { objects: existing.size - doomed.length, bytes: existingBytes - doomedBytes, rows, topicBytes };
}

/** The objects stored now, and their bytes (the census before a pass; its rows are counted as the pass reads them). */
export async function countObjects(ctx: MaintenanceContext): Promise<{ objects: number; bytes: number }> {
  let objects = 0;
  let bytes = 0;
  for (const prefix of objectPrefixes) {
    for await (const object of ctx.objects.list(prefix)) {
      checkpoint(ctx);
      objects++;
      bytes += object.sizeBytes;
    }
  }
  return { objects, bytes };
}
