/**
 * Who leads each partition of a topic, for Kafka's Metadata, without reading every partition item per
 * request: the partitions' lease fields are cached per topic and checked against one value on the
 * topic item, `leadership`, which the Metadata handler reads anyway.
 *
 * Writers: after a partition's lease changes hands here (taken, released: leases.ts tells after its
 * write landed), the topic item's `leadership` is set to a fresh value, conditional on the topic
 * being the same live incarnation. Changes coalesce: one such write in flight per topic, at most one
 * per `minBumpIntervalMs`, the last always after the last change.
 * Readers: a topic's cache is filled from partition reads made after the topic item it is tagged
 * with was read, and used while the topic item (as the caller read it) shows the same value. Lease
 * expiry is not watched (a lease on a registration has none; an own lease's renewals move no value,
 * so its cached expiry is as old as the cache): the owner is what counts, and Metadata sends clients
 * to it while its agent's registration lives (kafka/cluster.ts), which is exactly while a lease on it
 * holds. A fill that was under way when
 * this process saw a change is not kept.
 * Why a cache never hides a change for long: a change is written before its value moves, and a cache
 * is tagged with a value read before its partitions were. A cache that missed a change is therefore
 * tagged with a value from before that change's write, which the next topic read after the change's
 * value moved no longer shows. Stale answers last at most that write's delay. A stale answer never
 * costs data (commits are fenced by the partition's epoch) but it costs clients: the agent it names
 * answers NOT_LEADER, drops its own cache (leases.ts: onHandsSeen) and answers right from then on,
 * while a client that asks another agent is sent back until that agent's cache moves on. So the
 * value's write is retried for about 3 s; a value that still never moves (storage refused it
 * throughout, or its writer died in between) leaves other agents stale for at most `maxAgeMs`. A
 * writer that died there heals sooner: once its registration expires the agent the stale answers
 * name takes the partition, which moves the value.
 * Cost: a Metadata request reads the topic item (which the handler reads anyway) and no partition
 * item while the value stands; each change of hands costs one write (coalesced) and, at each agent
 * asked for Metadata after it, one read of every partition of the topic. A topic whose leases change
 * hands often (partitions written now and then, their leases released after SPOOL_LEASE_IDLE_MS and
 * taken again) gains little.
 */
import { randomUUID } from 'node:crypto';
import { ConditionFailedError, type MetadataStore } from '../storage/ports.js';
import { topicKey } from '../keys.js';
import type { PartitionState, TopicItem } from './layout.js';

/** Tries at moving a topic's value before giving up (waits of 0.1, 0.2, 0.4, 0.8, 1.6 s between). */
const bumpAttempts = 6;

/** A partition's lease as last read; an own lease's `leaseExpiresMs` may be older than the lease (renewals move no value). */
export type PartitionLeadership = Pick<PartitionState, 'owner' | 'epoch' | 'leaseExpiresMs'>;

export interface LeadershipOptions {
  readonly now?: () => number;
  /**
   * A topic's cache is read again after this long whatever its value: how long a value that could
   * not be moved leaves this process stale. @default 300 000 (Kafka's metadata.max.age.ms; shorter
   * reads every partition of every topic asked for that much more often)
   */
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
  /** Per topic id, changes seen here: a fill during which one was seen is not kept. */
  private readonly changes = new Map<string, number>();
  /** Per topic id: the write of its value in flight, and whether another is due after it. */
  private readonly bumps = new Map<string, { again: boolean; done: Promise<void> }>();
  private readonly now: () => number;
  private readonly maxAgeMs: number;
  private readonly minBumpIntervalMs: number;
  /** Counters for tests and cost reports. */
  readonly stats = { partitionReads: 0, bumps: 0, bumpsFailed: 0 };

  constructor(
    private readonly metadata: MetadataStore,
    private readonly readPartition: (topic: TopicItem, partition: number) => Promise<PartitionState>,
    options: LeadershipOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.maxAgeMs = options.maxAgeMs ?? 300_000;
    this.minBumpIntervalMs = options.minBumpIntervalMs ?? 100;
  }

  /** Each partition's lease fields, in partition order. `topic` must have been read before this call. */
  async of(topic: TopicItem): Promise<PartitionLeadership[]> {
    const nowMs = this.now();
    const cached = this.cached.get(topic.id);
    const usable = cached !== undefined && cached.leadership === topic.leadership && nowMs - cached.filledMs < this.maxAgeMs;
    if (usable && cached.partitions.length >= topic.partitions) return cached.partitions.slice(0, topic.partitions);
    // A fill (or, for partitions added since, a top-up).
    const changesBefore = this.changes.get(topic.id) ?? 0;
    const known = usable ? cached.partitions : [];
    const partitions = await Promise.all(
      Array.from({ length: topic.partitions }, async (_, partition): Promise<PartitionLeadership> => {
        const cachedLease = known[partition];
        if (cachedLease) return cachedLease;
        this.stats.partitionReads++;
        const { owner, epoch, leaseExpiresMs } = await this.readPartition(topic, partition);
        return { owner, epoch, leaseExpiresMs };
      }),
    );
    if ((this.changes.get(topic.id) ?? 0) === changesBefore) {
      for (const [id, entry] of this.cached) if (nowMs - entry.filledMs >= this.maxAgeMs) this.cached.delete(id);
      this.cached.set(topic.id, { leadership: topic.leadership, filledMs: usable ? cached.filledMs : nowMs, partitions });
    }
    return partitions;
  }

  /** A partition of the topic was seen led by another writer than this process thought: its cache here is dropped. */
  forget(topicId: string): void {
    this.changes.set(topicId, (this.changes.get(topicId) ?? 0) + 1);
    this.cached.delete(topicId);
  }

  /**
   * A partition of `topic` changed hands here (its write landed): this process's cache of the topic
   * is dropped now, and the topic's value moves soon. Resolves when it has (or could not: the
   * caches of other processes then wait out `maxAgeMs`).
   */
  changed(topic: { readonly id: string; readonly name: string }): Promise<void> {
    this.forget(topic.id);
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

  /**
   * Moves the topic's value. A failed condition: the topic was deleted (or is being, or was created
   * again), and nobody asks who leads the old one. Any other failure is tried again, `bumpAttempts`
   * times in all over about 3 s (a takeover often comes when storage struggles); then other
   * processes' caches wait out `maxAgeMs`.
   */
  private async bump(topic: { readonly id: string; readonly name: string }): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.stats.bumps++;
      try {
        await this.metadata.write({
          kind: 'update',
          key: topicKey(topic.name),
          set: { leadership: randomUUID() },
          condition: { kind: 'match', fields: { id: topic.id, deleting: null } },
        });
        return;
      } catch (error) {
        if (error instanceof ConditionFailedError) return;
        if (attempt >= bumpAttempts) {
          this.stats.bumpsFailed++;
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** (attempt - 1)));
      }
    }
  }
}
