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
 * Nothing reachable is ever deleted.
 */
import { batchRowFromItem, objectsOf, topicFromItem } from '../layout.js';
import { ledgerKey, ledgerPk, rowsPk, topicsPk } from '../../keys.js';
import { checkpoint, type MaintenanceContext, type MaintenanceResult } from './context.js';

export const objectPrefixes = ['segments/', 'partitions/'] as const;

export async function collectGarbage(ctx: MaintenanceContext, result: MaintenanceResult): Promise<void> {
  const scanStartedMs = ctx.now();
  const referenced = new Set<string>();
  for (const topic of (await ctx.metadata.query(topicsPk)).map(topicFromItem)) {
    for (let partition = 0; partition < topic.partitions; partition++) {
      checkpoint(ctx);
      for (const item of await ctx.metadata.query(rowsPk(topic.id, partition)))
        for (const key of objectsOf(batchRowFromItem(item))) referenced.add(key);
    }
  }
  const ledger = new Map((await ctx.metadata.query(ledgerPk)).map((item) => [item.sk, item.attrs.sinceMs as number]));
  const now = ctx.now();
  const doomed: string[] = [];
  let doomedBytes = 0;
  const existing = new Set<string>();
  for (const prefix of objectPrefixes) {
    for await (const object of ctx.objects.list(prefix)) {
      checkpoint(ctx);
      existing.add(object.key);
      if (referenced.has(object.key)) continue;
      const sinceMs = Math.max(ledger.get(object.key) ?? 0, object.lastModifiedMs);
      if (now - sinceMs < ctx.gcGraceMs) continue;
      doomed.push(object.key);
      doomedBytes += object.sizeBytes;
    }
  }
  // The reasoning above holds only if the scan of rows is recent: a pass this slow deletes nothing.
  if (ctx.now() - scanStartedMs > ctx.gcGraceMs / 4) return;
  await ctx.objects.delete(doomed);
  result.objects_deleted += doomed.length;
  result.bytes_deleted += doomedBytes;
  // Ledger entries of objects that are gone (deleted now, or before) are done with.
  const gone = new Set(doomed);
  for (const key of ledger.keys()) {
    checkpoint(ctx);
    if (!existing.has(key) || gone.has(key)) await ctx.metadata.write({ kind: 'delete', key: ledgerKey(key) });
  }
}

/** Objects and rows right now, and the bytes each topic's rows point at, for the cost report. */
export async function census(
  ctx: MaintenanceContext,
): Promise<{ objects: number; bytes: number; rows: number; topicBytes: Record<string, number> }> {
  let objects = 0;
  let bytes = 0;
  for (const prefix of objectPrefixes) {
    for await (const object of ctx.objects.list(prefix)) {
      checkpoint(ctx);
      objects++;
      bytes += object.sizeBytes;
    }
  }
  let rows = 0;
  const topicBytes: Record<string, number> = {};
  for (const topic of (await ctx.metadata.query(topicsPk)).map(topicFromItem)) {
    let topicTotal = 0;
    for (let partition = 0; partition < topic.partitions; partition++) {
      checkpoint(ctx);
      const items = await ctx.metadata.query(rowsPk(topic.id, partition));
      rows += items.length;
      for (const item of items) topicTotal += batchRowFromItem(item).sizeBytes;
    }
    if (!topic.deleting) topicBytes[topic.name] = topicTotal;
  }
  return { objects, bytes, rows, topicBytes };
}
