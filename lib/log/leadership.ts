/**
 * Who leads each partition of a topic, for Kafka's Metadata, without reading every partition item per
 * request: the partitions' lease fields are cached per topic and checked against one value on the
 * topic item, `leadership`, which the topic cache reads anyway.
 *
 * Writers: after a partition's lease changes hands here (taken, released: leases.ts tells after its
 * write landed), the topic item's `leadership` is set to a fresh value, conditional on the topic
 * being the same live incarnation. Changes coalesce: one such write in flight per topic, at most one
 * per `minBumpIntervalMs`, the last always after the last change.
 * Readers: a topic's cache is filled from partition reads made after the topic item it is tagged
 * with was read, and used while the topic item (as the caller read it, at most the topic cache's age)
 * shows the same value. A cached lease that has expired by our clock is read again (its holder may
 * have renewed it: renewals move no value).
 * Why a cache never hides a change for long: a change is written before its value moves, and a cache
 * is tagged with a value read before its partitions were. A cache that missed a change is therefore
 * tagged with a value from before that change's write, which the next topic read after the change's
 * value moved no longer shows. Stale answers last at most that write's delay plus the topic cache's
 * age; a value that never moves (its writer died in between) at most `maxAgeMs`. A stale answer
 * costs a client a NOT_LEADER and a retry, never data: commits are fenced by the partition's epoch.
 */
import { randomUUID } from 'node:crypto';
import type { MetadataStore } from '../storage/ports.js';
import { topicKey } from '../keys.js';
import type { PartitionState, TopicItem } from './layout.js';

export type PartitionLeadership = Pick<PartitionState, 'owner' | 'epoch' | 'leaseExpiresMs'>;

export interface LeadershipOptions {
  readonly now?: () => number;
  /** A topic's cache is read again after this long whatever its value. @default 30 000 */
  readonly maxAgeMs?: number;
  /** Least time between two writes of one topic's value by this process. @default 100 */
  readonly minBumpIntervalMs?: number;
}

interface Cached {
  readonly leadership: string | undefined;
  readonly filledMs: number;
  readonly partitions: PartitionLeadership[];
}

export class LeadershipCache {
  private readonly cached = new Map<string, Cached>();
  /** Per topic id: the write of its value in flight, and whether another is due after it. */
  private readonly bumps = new Map<string, { again: boolean; done: Promise<void> }>();
  private readonly now: () => number;
  private readonly maxAgeMs: number;
  private readonly minBumpIntervalMs: number;
  /** Counters for tests and cost reports. */
  readonly stats = { partitionReads: 0, bumps: 0 };

  constructor(
    private readonly metadata: MetadataStore,
    private readonly readPartition: (topic: TopicItem, partition: number) => Promise<PartitionState>,
    options: LeadershipOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.maxAgeMs = options.maxAgeMs ?? 30_000;
    this.minBumpIntervalMs = options.minBumpIntervalMs ?? 100;
  }

  /** Each partition's lease fields, in partition order. `topic` must have been read before this call. */
  async of(topic: TopicItem): Promise<PartitionLeadership[]> {
    const nowMs = this.now();
    const cached = this.cached.get(topic.id);
    const usable = cached !== undefined && cached.leadership === topic.leadership && nowMs - cached.filledMs < this.maxAgeMs;
    const partitions: (PartitionLeadership | undefined)[] = Array.from({ length: topic.partitions }, (_, partition) => {
      const known = usable ? cached.partitions[partition] : undefined;
      return known && !(known.owner !== null && known.leaseExpiresMs <= nowMs) ? known : undefined;
    });
    const read = await Promise.all(
      partitions.map(async (known, partition) => {
        if (known) return known;
        this.stats.partitionReads++;
        const { owner, epoch, leaseExpiresMs } = await this.readPartition(topic, partition);
        return { owner, epoch, leaseExpiresMs };
      }),
    );
    for (const [id, entry] of this.cached) if (nowMs - entry.filledMs >= this.maxAgeMs) this.cached.delete(id);
    this.cached.set(topic.id, { leadership: topic.leadership, filledMs: usable ? cached.filledMs : nowMs, partitions: read });
    return read;
  }

  /**
   * A partition of `topic` changed hands here (its write landed): this process's cache of the topic
   * is dropped now, and the topic's value moves soon. Resolves when it has (or failed to: the
   * caches of other processes then wait out `maxAgeMs`).
   */
  changed(topic: { readonly id: string; readonly name: string }): Promise<void> {
    this.cached.delete(topic.id);
    const inFlight = this.bumps.get(topic.id);
    if (inFlight) {
      inFlight.again = true;
      return inFlight.done;
    }
    const bump = { again: false, done: Promise.resolve() };
    bump.done = (async () => {
      try {
        do {
          bump.again = false;
          const startedMs = performance.now();
          await this.bump(topic);
          const waitMs = this.minBumpIntervalMs - (performance.now() - startedMs);
          if (bump.again && waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
        } while (bump.again);
      } finally {
        this.bumps.delete(topic.id);
      }
    })();
    this.bumps.set(topic.id, bump);
    return bump.done;
  }

  /** Resolves when no value is being written. */
  async settled(): Promise<void> {
    while (this.bumps.size > 0) await Promise.all([...this.bumps.values()].map((bump) => bump.done));
  }

  private async bump(topic: { readonly id: string; readonly name: string }): Promise<void> {
    this.stats.bumps++;
    // A failed condition: the topic was deleted (or is being, or was created again), and nobody asks
    // who leads the old one. Any other failure leaves other processes' caches to maxAgeMs.
    await this.metadata
      .write({
        kind: 'update',
        key: topicKey(topic.name),
        set: { leadership: randomUUID() },
        condition: { kind: 'match', fields: { id: topic.id, deleting: null } },
      })
      .catch(() => undefined);
  }
}
