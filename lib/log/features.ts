/**
 * Cluster features: Kafka's finalized feature levels (KIP-584), kept in one metadata item
 * (`featuresKey`, lib/keys.ts) and raised through UpdateFeatures (`kafka-features.sh upgrade`).
 *
 * Spool versions one feature of its own, `spool.commit.version`: at level 1 agents pack their commits
 * (packing.ts; `SPOOL_PACKED_COMMITS=auto`, the default); at 0 (not finalized) every commit is per
 * partition. Writers of a version before packing ignore a partition item's `packedBy` and would
 * commit beside its packer (offsets assigned twice), so the level rises only once every writer knows
 * packing. A new cluster starts at the newest levels (`newestLevels`, `initialLevels`): the
 * first agent on a store where nothing shows that an earlier version wrote (lib/kafka/cluster.ts
 * `storeIsNew`) finalizes them with the cluster id. The invariants:
 *  - Every agent's registration names the levels its version supports (`features`, written by
 *    lib/kafka/cluster.ts from `supportedFeatures`); one without them is an agent of a version
 *    before features, which supports none. A level is finalized only if every live registration
 *    supports it (and every one of a version before features expired less than `oldAgentGraceMs`
 *    ago: its renewal, conditional on its owner alone, would still land), in one transaction that
 *    checks each registration as read and the free node ids an agent could register at next as still
 *    absent: an agent registering or renewing meanwhile makes it fail, and it is tried again on what
 *    is there now.
 *  - An agent of this version does not register where a finalized level is above what it supports
 *    (Kafka refuses such a broker), reading the levels before and after it registers.
 *  - Levels never go down (a downgrade below the finalized level is refused): a writer that read a
 *    level may act on it for ever.
 *  - Not seen here, since they have no registration: the Lambda API and agents without a Kafka
 *    listener (both commit per partition, respecting packing from this version on). Raise the level
 *    once all of them run a version that knows packing (a `cdk deploy` that has finished). Nor is an
 *    agent of a version before features cut off from the store for longer than `oldAgentGraceMs`,
 *    or started after the level rose (it does not read it).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SpoolError } from '../errors.js';
import { brokerKey, brokersPk, featuresKey } from '../keys.js';
import { maxTransactionOps, type Item, type MetadataStore, type WriteOp } from '../storage/ports.js';

/** Spool's own feature: 1 lets agents pack their commits (packed commits, issue 16). */
export const commitVersionFeature = 'spool.commit.version';
export const packedCommitsLevel = 1;

export interface SupportedRange {
  readonly min: number;
  readonly max: number;
}

/** The levels this version supports, per feature: advertised in ApiVersions and written into an agent's registration. */
export const supportedFeatures: Readonly<Record<string, SupportedRange>> = { [commitVersionFeature]: { min: 0, max: packedCommitsLevel } };

/**
 * The levels a new cluster starts at: the newest this version supports, as Kafka formats a new cluster
 * at its newest metadata.version (`SPOOL_INITIAL_FEATURES` sets others).
 */
export const newestLevels: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(supportedFeatures).map(([feature, { max }]) => [feature, max]),
);

/** The finalized levels (a feature not named is at 0) and the epoch that moves with each change. */
export interface FinalizedFeatures {
  readonly epoch: number;
  readonly levels: Readonly<Record<string, number>>;
}

/** Before the first change (ApiVersions has always answered epoch 1, for transaction.version, which is fixed). */
const noneFinalized: FinalizedFeatures = { epoch: 1, levels: {} };
/** How long the levels last read are used before they are read again. */
const levelsMaxAgeMs = 30_000;
/** Tries of a raise against agents registering or renewing meanwhile. */
const updateAttempts = 10;
/** How long after its registration expired an agent of a version before features still blocks a raise. */
export const oldAgentGraceMs = 300_000;
/** Free node ids past the highest registered that a raise checks stay absent: as many agents registering at once. */
const freeIdsPastHighest = 4;

export async function readFeatures(metadata: MetadataStore): Promise<FinalizedFeatures> {
  return featuresFromItem(await metadata.get(featuresKey));
}

function featuresFromItem(item: Item | undefined): FinalizedFeatures {
  if (item === undefined) return noneFinalized;
  return { epoch: item.attrs.epoch as number, levels: JSON.parse(item.attrs.levels as string) as Record<string, number> };
}

/**
 * The finalized levels this version does not support (a feature it does not know supports 0 only),
 * as Kafka refuses to register a broker that would run below the cluster's levels: empty if none.
 */
export function unsupportedLevels(finalized: FinalizedFeatures): string[] {
  return Object.entries(finalized.levels)
    .filter(([feature, level]) => level > (supportedFeatures[feature]?.max ?? 0))
    .map(([feature, level]) => `${feature} ${level} (this version supports up to ${supportedFeatures[feature]?.max ?? 0})`);
}

/** The `features` attribute of a registration: what this version supports. */
export function registrationFeatures(): string {
  return JSON.stringify(supportedFeatures);
}

export interface FeatureUpdate {
  readonly feature: string;
  readonly level: number;
  /** Kafka's upgrade types; only upgrades are done (levels never go down). */
  readonly kind: 'upgrade' | 'safe-downgrade' | 'unsafe-downgrade';
}

/**
 * Raises finalized levels, all of `updates` or none (`validateOnly`: checks them, writes nothing).
 * Throws INVALID_ARGUMENT (details.reason `invalid-update`: a feature unknown to this version, a
 * level outside its range, a downgrade, a feature named twice; `unsupported`: a live agent does not
 * support the level), or CONFLICT after agents kept registering meanwhile.
 */
export async function updateFeatures(
  metadata: MetadataStore,
  updates: readonly FeatureUpdate[],
  options: { readonly now?: () => number; readonly validateOnly?: boolean } = {},
): Promise<FinalizedFeatures> {
  const now = options.now ?? Date.now;
  const seen = new Set<string>();
  for (const { feature, level } of updates) {
    if (seen.has(feature)) throw invalid(feature, `the feature ${feature} was named more than once`);
    seen.add(feature);
    const unsupported = unsupportedLevel(feature, level);
    if (unsupported) throw invalid(feature, unsupported);
  }
  for (let attempt = 1; ; attempt++) {
    const item = await metadata.get(featuresKey);
    const current = featuresFromItem(item);
    for (const { feature, level, kind } of updates) {
      const at = current.levels[feature] ?? 0;
      if (level < at)
        throw invalid(feature, `${feature} is finalized at level ${at}; it cannot go down to ${level} (${kind}): levels only rise here`);
      // As Kafka's controller: a downgrade names a level not above the finalized one (the same: nothing to do).
      if (kind !== 'upgrade' && level > at) throw invalid(feature, `${feature} is at level ${at}: a ${kind} cannot go up to ${level}`);
    }
    const levels = { ...current.levels };
    for (const { feature, level } of updates) if (level > 0) levels[feature] = level;
    const registrations = await metadata.query(brokersPk);
    const checks = registrationChecks(registrations, updates, now());
    if (options.validateOnly) return current;
    const changed = updates.some(({ feature, level }) => level !== (current.levels[feature] ?? 0));
    if (!changed) return current;
    const next = { epoch: current.epoch + 1, levels };
    const write: WriteOp = {
      kind: 'put',
      key: featuresKey,
      attrs: { epoch: next.epoch, levels: JSON.stringify(levels) },
      condition: item === undefined ? { kind: 'absent' } : { kind: 'match', fields: { epoch: current.epoch } },
    };
    if (checks.length + 1 > maxTransactionOps)
      throw new SpoolError('CONFLICT', `${checks.length} registrations and free node ids to check: more than one transaction holds`, {
        retriable: false,
      });
    try {
      await metadata.transact([...checks, write]);
      return next;
    } catch (error) {
      // A condition that no longer held (TransactionConflictError), or a concurrent transaction: both CONFLICT.
      if (!(error instanceof SpoolError && error.code === 'CONFLICT')) throw error;
      if (attempt >= updateAttempts)
        throw new SpoolError('CONFLICT', `agents kept registering while ${updates.map((u) => u.feature).join(', ')} was raised; try again`);
      await sleep(attempt * (10 + Math.random() * 40));
    }
  }
}

/**
 * Checks that every live registration supports the levels, and the transaction's conditions that keep
 * it so: each registration as read, and each node id a new agent could take next (the absent ones up
 * to `freeIdsPastHighest` past the highest) still absent. Registration takes the lowest absent or
 * expired id (or a live one at its own address, which changes the item read). A registration of a
 * version before features that expired less than `oldAgentGraceMs` ago counts as live: its agent may
 * only have been cut off from the store, and its renewal (conditional on its owner alone) would land.
 */
function registrationChecks(registrations: readonly Item[], updates: readonly FeatureUpdate[], nowMs: number): WriteOp[] {
  const checks: WriteOp[] = [];
  let highest = 0;
  const taken = new Set<number>();
  for (const item of registrations) {
    const nodeId = Number(item.sk);
    taken.add(nodeId);
    highest = Math.max(highest, nodeId);
    const { owner, expiresMs } = item.attrs as { owner: string; expiresMs: number };
    checks.push({ kind: 'check', key: brokerKey(nodeId), condition: { kind: 'match', fields: { owner, expiresMs } } });
    const old = typeof item.attrs.features !== 'string';
    if (expiresMs <= nowMs - (old ? oldAgentGraceMs : 0)) continue;
    const supported = old ? {} : (JSON.parse(item.attrs.features as string) as Record<string, SupportedRange>);
    for (const { feature, level } of updates) {
      const range = supported[feature];
      if (level > 0 && (range === undefined || level > range.max))
        throw new SpoolError(
          'INVALID_ARGUMENT',
          `the agent registered as node ${nodeId} (writer ${owner}) does not support ${feature} level ${level}` +
            (range === undefined ? ' (it runs a version before it)' : `; it supports up to ${range.max}`),
          { details: { feature, reason: 'unsupported', nodeId } },
        );
    }
  }
  for (let nodeId = 1; nodeId <= highest + freeIdsPastHighest; nodeId++)
    if (!taken.has(nodeId)) checks.push({ kind: 'check', key: brokerKey(nodeId), condition: { kind: 'absent' } });
  return checks;
}

/** Why this version cannot finalize `level` of `feature` (unknown, or out of its range); undefined if it can. Pure. */
export function unsupportedLevel(feature: string, level: number): string | undefined {
  const range = supportedFeatures[feature];
  if (range === undefined) return `the feature ${feature} is not supported; supported: ${Object.keys(supportedFeatures).join(', ')}`;
  if (!Number.isInteger(level) || level < range.min || level > range.max)
    return `the level ${level} of ${feature} is not supported; expected ${range.min} to ${range.max}`;
  return undefined;
}

/**
 * A new cluster's levels (those above 0; undefined if none) and the write that finalizes them, for the
 * transaction that names the cluster (lib/kafka/cluster.ts): conditional on no levels being there,
 * at epoch 2, past the epoch 1 answered while none were, so a process that read none takes it.
 */
export function initialLevels(levels: Readonly<Record<string, number>>): { features: FinalizedFeatures; write: WriteOp } | undefined {
  const finalized = Object.fromEntries(Object.entries(levels).filter(([, level]) => level > 0));
  if (Object.keys(finalized).length === 0) return undefined;
  const features = { epoch: noneFinalized.epoch + 1, levels: finalized };
  return {
    features,
    write: {
      kind: 'put',
      key: featuresKey,
      attrs: { epoch: features.epoch, levels: JSON.stringify(finalized) },
      condition: { kind: 'absent' },
    },
  };
}

function invalid(feature: string, message: string): SpoolError {
  return new SpoolError('INVALID_ARGUMENT', message, { details: { feature, reason: 'invalid-update' } });
}

/**
 * The finalized levels as this process last read them, read again at most every `levelsMaxAgeMs` when
 * asked, and at once after this process changed them. Once a level is seen it stays (levels only rise).
 */
export class FeatureLevels {
  private read: { features: FinalizedFeatures; atMs: number } | undefined;
  private reading: Promise<FinalizedFeatures> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly metadata: MetadataStore,
    options: { readonly now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The finalized levels, read again if the last read is older than `levelsMaxAgeMs` (30 s). */
  async current(): Promise<FinalizedFeatures> {
    const read = this.read;
    if (read && this.now() - read.atMs < levelsMaxAgeMs) return read.features;
    this.reading ??= readFeatures(this.metadata)
      .then((features) => {
        this.keep(features);
        return this.read!.features;
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  /** The levels last read (none read yet: none finalized). */
  known(): FinalizedFeatures {
    return this.read?.features ?? noneFinalized;
  }

  /** The levels last read, read again in the background when older than `levelsMaxAgeMs`; the first time, read and awaited. */
  async recent(): Promise<FinalizedFeatures> {
    if (this.read === undefined) return this.current();
    void this.current().catch(() => undefined);
    return this.read.features;
  }

  /**
   * Keeps `features`, as read or as this process wrote them (a raise, a new cluster's levels), unless
   * what is kept is newer (a read that started before an update may end after it).
   */
  keep(features: FinalizedFeatures): void {
    if (this.read === undefined || features.epoch >= this.read.features.epoch) this.read = { features, atMs: this.now() };
    else this.read = { ...this.read, atMs: this.now() };
  }

  /** The level of `feature`, read as `current` does. */
  async level(feature: string): Promise<number> {
    return (await this.current()).levels[feature] ?? 0;
  }

  /** Raises levels (`updateFeatures`) and keeps what was written. */
  async update(updates: readonly FeatureUpdate[], options: { readonly validateOnly?: boolean } = {}): Promise<FinalizedFeatures> {
    const features = await updateFeatures(this.metadata, updates, { now: this.now, ...options });
    if (!options.validateOnly) this.keep(features);
    return features;
  }
}
