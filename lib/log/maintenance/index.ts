/**
 * One maintenance pass: finish cut-short topic deletions; per partition, retention (cleanup.policy
 * delete), compaction, then the log cleaner (cleanup.policy compact: cleaner.ts, which also reads the
 * checkpoint item and, when cleaning is due, the segments); then garbage collection of objects. Every step is a sequence of conditional writes that can stop at
 * any point and be run again (by this process, another agent or the scheduled Lambda) and leaves the
 * log consistent. The pass reports what it did and the objects and rows before and after, and logs
 * that report: the cost of the log is visible where it is run. The last pass's report is also kept in
 * one item (whichever agent or Lambda ran it), with the bytes each topic's rows point at, for the
 * console and `GET /v1/cluster`; one write per pass, and a failed write fails nothing. On shutdown a
 * pass stops at its next safe point and reports `stopped` (no census after it, no report kept).
 * Expired producer states are looked for at most once per check interval (producers.ts).
 * Reads per partition per pass: its item, and its rows three times (retention, whose read is also
 * the census before; compaction, after retention changed them; the collector's scan, also the
 * census after), each a page (`rowsPerPage`, 1,000) at a time: a pass holds a page of rows and one
 * compaction run, whatever a partition's backlog (retention also reads again the rows it drops, and
 * all of them when a partition is over retention.bytes, to find the cut once it knows the total). An idle partition
 * costs those four reads a pass, and one query of its producer states every check interval.
 */
import { SpoolError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { MetadataStore, ObjectStore } from '../../storage/ports.js';
import { partitionStateFromItem, topicFromItem } from '../layout.js';
import { readPackedPartition, unpackPartition } from '../packed.js';
import { cleanupPolicy } from '../topic-config.js';
import { maintenanceReportKey, partitionKey, topicsPk } from '../../keys.js';
import type { TopicRegistry } from '../topics.js';
import { cleanPartition } from './cleaner.js';
import { compactPartition } from './compaction.js';
import {
  checkpoint,
  emptyResult,
  MaintenanceStopped,
  type MaintenanceContext,
  type MaintenanceOptions,
  type MaintenanceResult,
} from './context.js';
import { collectGarbage, countObjects } from './gc.js';
import { expireProducerStates } from './producers.js';
import { retainPartition } from './retention.js';
import { defaultProducerIdExpirationMs } from '../idempotence.js';

export type { MaintenanceOptions, MaintenanceResult } from './context.js';

/** The last pass, as kept in the metadata store. */
export interface MaintenanceReport {
  readonly endedMs: number;
  readonly result: MaintenanceResult;
  /** Bytes of record batches each topic's rows point at after the pass: the largest `maxReportTopics` topics. */
  readonly topicBytes: Readonly<Record<string, number>>;
  /** Topics left out of `topicBytes` (the smallest), keeping the item far below DynamoDB's 400 KB. */
  readonly topicsOmitted: number;
}

/** ~300 bytes a topic at most (a 249-character name and a number): 1,000 topics stay under 300 KB. */
const maxReportTopics = 1000;

export function maintenanceReport(
  endedMs: number,
  result: MaintenanceResult,
  topicBytes: Readonly<Record<string, number>>,
): MaintenanceReport {
  const largest = Object.entries(topicBytes).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return {
    endedMs,
    result,
    topicBytes: Object.fromEntries(largest.slice(0, maxReportTopics)),
    topicsOmitted: Math.max(0, largest.length - maxReportTopics),
  };
}

/** The last pass's report, if any pass has ended since the store was made; an item not in this shape (another version's) is none. */
export async function readMaintenanceReport(metadata: MetadataStore): Promise<MaintenanceReport | undefined> {
  const item = await metadata.get(maintenanceReportKey);
  if (typeof item?.attrs.report !== 'string') return undefined;
  try {
    const report = JSON.parse(item.attrs.report) as Partial<MaintenanceReport> | null;
    const isRecord = (value: unknown) => typeof value === 'object' && value !== null;
    if (!isRecord(report) || typeof report!.endedMs !== 'number' || !isRecord(report!.result) || !isRecord(report!.topicBytes))
      return undefined;
    return { topicsOmitted: 0, ...report } as MaintenanceReport;
  } catch {
    return undefined;
  }
}

/** A count option, checked: a whole number of at least 1. */
function countOf(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new SpoolError('INVALID_CONFIG', `${name} must be a whole number of at least 1, got ${value}`);
  return value;
}

/**
 * What every step of a pass works with, from the options (MaintenanceOptions' defaults), checked;
 * `stopping`: aborted when the process shuts down. Maintenance builds its own; tests that run steps
 * one at a time build theirs here.
 */
export function maintenanceContext(
  stores: { readonly metadata: MetadataStore; readonly objects: ObjectStore },
  /** `producerIdExpirationMs`: the Log's (LogOptions). */
  options: MaintenanceOptions & { now?: () => number; producerIdExpirationMs?: number } = {},
  stopping: AbortSignal = new AbortController().signal,
): MaintenanceContext {
  const gcGraceMs = options.gcGraceMs ?? 3_600_000;
  const rowsPerPage = countOf('rows per page', options.rowsPerPage ?? 1000);
  const maxCommitAgeMs = options.maxCommitAgeMs ?? gcGraceMs / 2;
  if (maxCommitAgeMs >= gcGraceMs && gcGraceMs > 0) {
    throw new SpoolError('INVALID_CONFIG', `the commit bound (${maxCommitAgeMs} ms) must be below the GC grace period (${gcGraceMs} ms)`);
  }
  return {
    metadata: stores.metadata,
    objects: stores.objects,
    now: options.now ?? Date.now,
    compactionTargetBytes: options.compactionTargetBytes ?? 64 * 1024 * 1024,
    compactionTailAgeMs: options.compactionTailAgeMs ?? 600_000,
    compactionRunRows: countOf('compaction run rows', options.compactionRunRows ?? 1000),
    gcGraceMs,
    maxCommitAgeMs,
    indexIntervalBytes: options.indexIntervalBytes ?? 4096,
    producerIdExpirationMs: options.producerIdExpirationMs ?? defaultProducerIdExpirationMs,
    rowsPerPage,
    cleanerMapKeys: countOf('cleaner map keys', options.cleanerMapKeys ?? 500_000),
    stopping,
  };
}

export class Maintenance {
  private readonly ctx: MaintenanceContext;
  private running: Promise<MaintenanceResult> | undefined;
  /** The pass that follows the running one, for callers that asked for one while it ran (`startAfterCall`). */
  private following: Promise<MaintenanceResult> | undefined;
  private readonly stopper = new AbortController();

  constructor(
    stores: { readonly metadata: MetadataStore; readonly objects: ObjectStore },
    private readonly topics: TopicRegistry,
    /** `producerIdExpirationMs`: the Log's (LogOptions). */
    options: MaintenanceOptions & { now?: () => number; logger?: Logger; producerIdExpirationMs?: number } = {},
  ) {
    this.ctx = maintenanceContext(stores, options, this.stopper.signal);
    this.logger = options.logger;
    this.producerCheckIntervalMs = options.producerIdExpirationCheckIntervalMs ?? 600_000;
  }

  private readonly logger: Logger | undefined;
  private readonly producerCheckIntervalMs: number;
  /** When a pass of this process last looked at every partition's producer states (producers.ts); none yet: -Infinity. */
  private producersCheckedMs = -Infinity;

  /**
   * Runs one pass; passes never overlap. A call while a pass is running joins it, or, with
   * `startAfterCall` (an operator asking for a pass now), gets the pass after it, which every such
   * caller shares: that pass reads what was written before the call, the running one may not have.
   */
  run({ startAfterCall = false }: { readonly startAfterCall?: boolean } = {}): Promise<MaintenanceResult> {
    if (startAfterCall && this.running) {
      this.following ??= this.running
        .catch(() => undefined)
        .then(() => {
          this.following = undefined;
          return this.run();
        });
      return this.following;
    }
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Ends a running pass at its next safe point (context.ts `checkpoint`: between partitions, between
   * compaction groups and a group's chunk reads, within the scans; a group being uploaded is committed
   * first), and any later pass at its start. For shutdown: the process will not run another.
   */
  stop(): void {
    this.stopper.abort();
  }

  /** Resolves when no pass is running or waiting to follow one (a failure is not rethrown here). */
  async settled(): Promise<void> {
    await this.running?.catch(() => undefined);
    await this.following?.catch(() => undefined);
  }

  private async pass(): Promise<MaintenanceResult> {
    const started = this.ctx.now();
    const result = emptyResult();
    let topicBytes: Record<string, number>;
    try {
      topicBytes = await this.steps(result);
    } catch (error) {
      if (!(error instanceof MaintenanceStopped)) throw error;
      result.stopped = true;
      result.duration_ms = this.ctx.now() - started;
      this.logger?.log('info', 'maintenance pass stopped at a safe point', { ...result });
      return result;
    }
    result.duration_ms = this.ctx.now() - started;
    this.logger?.log('info', 'maintenance pass', { ...result });
    const report = maintenanceReport(this.ctx.now(), result, topicBytes);
    await this.ctx.metadata
      .write({ kind: 'put', key: maintenanceReportKey, attrs: { report: JSON.stringify(report) } })
      .catch((error: unknown) => this.logger?.log('warn', 'maintenance report not kept', { error: String(error) }));
    return result;
  }

  /** The steps of a pass, counted into `result`; answers the bytes each topic's rows point at after them. */
  private async steps(result: MaintenanceResult): Promise<Record<string, number>> {
    checkpoint(this.ctx); // a pass that starts after stop() (one that followed a running pass) touches no store
    const before = await countObjects(this.ctx);
    Object.assign(result, { objects_before: before.objects, bytes_before: before.bytes }); // rows_before: counted by retention
    const started = this.ctx.now();
    const checkProducers = started - this.producersCheckedMs >= this.producerCheckIntervalMs;

    const packedObjects = new Set<string>();
    for (const topic of (await this.ctx.metadata.query(topicsPk)).map(topicFromItem)) {
      if (topic.deleting) {
        await this.topics.delete(topic.name).catch(() => undefined); // resumes the deletion
        result.topics_deletion_finished++;
        continue;
      }
      for (let partition = 0; partition < topic.partitions; partition++) {
        checkpoint(this.ctx);
        const item = await this.ctx.metadata.get(partitionKey(topic.id, partition));
        if (item === undefined) continue;
        let stored = partitionStateFromItem(item);
        if (stored.packedBy !== null) {
          // A packed partition's tail (packed.ts) is its packer's to turn into rows, once due (packing.ts: 1 MiB, or 30 s old by default).
          // A pass does it first (anyone may: its commits landed) where the tail is a minute old (the
          // packer is gone or behind) or the topic is compacted (the cleaner reads rows), so retention,
          // compaction and cleaning see every record committed before the pass.
          const read = await readPackedPartition(this.ctx.metadata, topic.id, partition);
          const oldestMs = read?.tail[0]?.committedMs;
          if (oldestMs !== undefined && (this.ctx.now() - oldestMs >= 60_000 || cleanupPolicy(topic.config).compact))
            stored =
              (await unpackPartition(this.ctx.metadata, topic.id, partition, stored.packedBy, {
                nowMs: this.ctx.now,
                producerIdExpirationMs: this.ctx.producerIdExpirationMs,
              })) ?? stored;
          // What is left holds objects no row points at yet: the collector keeps them (read before its
          // scan of rows, so a chunk that becomes a row meanwhile is in one or the other).
          for (const chunk of (await readPackedPartition(this.ctx.metadata, topic.id, partition))?.tail ?? [])
            packedObjects.add(chunk.objectKey);
        }
        const state = await retainPartition(this.ctx, topic, partition, stored, result);
        await compactPartition(this.ctx, topic, partition, state, result);
        await cleanPartition(this.ctx, topic, partition, state, result);
        if (checkProducers) await expireProducerStates(this.ctx, topic, partition, result);
      }
    }
    if (checkProducers) this.producersCheckedMs = started;
    checkpoint(this.ctx);
    const after = await collectGarbage(this.ctx, result, packedObjects);
    Object.assign(result, { objects_after: after.objects, bytes_after: after.bytes, rows_after: after.rows });
    return after.topicBytes;
  }
}
