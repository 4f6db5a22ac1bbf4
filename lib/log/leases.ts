/**
 * Partition leadership by leases. The lease lives on the partition item itself (owner, epoch,
 * leaseExpiresMs), so a leader's commit can require its epoch in the same condition that assigns
 * offsets (see commit.ts): fencing costs nothing extra.
 *
 * - Acquire: when the item has no owner, or its lease has expired by our clock, set owner := us,
 *   epoch := epoch + 1, conditional on the epoch and expiry we read. A racing renewal changes the
 *   expiry, so a takeover cannot slip past a lease that was just renewed.
 * - Renew: extend the expiry, conditional on owner = us and epoch = ours.
 * - Release: clear the owner and expiry, same condition.
 * Correctness never depends on clocks: a writer that still believes it leads after a takeover is
 * refused by the epoch condition. Clocks only decide when a takeover may be tried.
 * A lost lease is dropped; the writer's later commits to that partition carry no epoch (leaderless,
 * as a Lambda writer's), so a transport that must only write as leader (Kafka) checks `epochFor`.
 *
 * Held leases are renewed in rounds, many at once, each round starting only after the last one
 * ended (a round over thousands of leases never overlaps the next). A leader's commit extends its
 * lease in the write it makes anyway (commit.ts), so a round renews only the leases no commit
 * extended since the last one. A lease not used for `idleMs` is released at its next round rather
 * than renewed: an idle partition costs nothing, and its next write takes the lease again (epoch + 1).
 * A writer known to have stopped (`ownerGone`) loses its leases to a takeover before they expire.
 * After a lease changes hands here (taken, released) `onHandsChanged` is told, after the write
 * (leadership.ts: caches of who leads what rely on that order).
 */
import pMap from 'p-map';
import { SpoolError } from '../errors.js';
import { ConditionFailedError, type MetadataStore } from '../storage/ports.js';
import { partitionId } from './commit.js';
import { partitionStateFromItem } from './layout.js';
import { partitionKey } from '../keys.js';

export interface Lease {
  readonly topicId: string;
  readonly topicName: string;
  readonly partition: number;
  readonly epoch: number;
  readonly expiresMs: number;
}

export const defaultLeaseMs = 10_000;

/** Lease writes one round (renewals, releases) has in flight. */
const parallelLeaseWrites = 32;

export interface LeaseManagerOptions {
  readonly owner: string;
  readonly leaseMs?: number;
  /** How often held leases are renewed; 0 renews only when asked. @default leaseMs / 3 */
  readonly renewIntervalMs?: number;
  /** A lease not used (epochFor, acquire) for this long is released instead of renewed. @default 60 000 */
  readonly idleMs?: number;
  readonly now?: () => number;
  /** Told after this writer took a partition's lease from no one or from another writer, and after it released one. */
  readonly onHandsChanged?: (topic: { readonly id: string; readonly name: string }) => void;
  /** Told when this writer finds a partition of the topic led by another (a take refused, a renewal fenced). */
  readonly onHandsSeen?: (topicId: string) => void;
}

export class LeaseManager {
  readonly owner: string;
  readonly leaseMs: number;
  private readonly renewIntervalMs: number;
  private readonly idleMs: number;
  private readonly now: () => number;
  private readonly held = new Map<string, Lease>();
  /** When each held lease was last used. */
  private readonly usedMs = new Map<string, number>();
  /** Writers known to have stopped (ownerGone): their leases are taken over without waiting for expiry. */
  private readonly gone = new Set<string>();
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly metadata: MetadataStore,
    private readonly options: LeaseManagerOptions,
  ) {
    this.owner = options.owner;
    this.leaseMs = options.leaseMs ?? defaultLeaseMs;
    this.renewIntervalMs = options.renewIntervalMs ?? Math.max(10, Math.floor(this.leaseMs / 3));
    this.idleMs = options.idleMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Takes (or renews) the lease. Throws NOT_LEADER, naming the owner, if another live lease holds it. */
  async acquire(topic: { readonly id: string; readonly name: string }, partition: number): Promise<Lease> {
    const topicId = topic.id;
    const key = partitionKey(topicId, partition);
    const item = await this.metadata.get(key);
    if (item === undefined) throw new SpoolError('PARTITION_NOT_FOUND', `partition ${partition} of topic id ${topicId} does not exist`);
    const state = partitionStateFromItem(item);
    const now = this.now();
    if (state.owner === this.owner) return this.hold(await this.renewFrom(topic.name, topicId, partition, state.epoch));
    if (state.owner !== null && state.leaseExpiresMs > now && !this.gone.has(state.owner)) {
      this.options.onHandsSeen?.(topicId);
      throw new SpoolError(
        'NOT_LEADER',
        `partition ${partition} is led by ${state.owner} until ${new Date(state.leaseExpiresMs).toISOString()}`,
        {
          details: { leader: state.owner, epoch: state.epoch },
        },
      );
    }
    const lease: Lease = { topicId, topicName: topic.name, partition, epoch: state.epoch + 1, expiresMs: now + this.leaseMs };
    try {
      await this.metadata.write({
        kind: 'update',
        key,
        set: { owner: this.owner, epoch: lease.epoch, leaseExpiresMs: lease.expiresMs },
        condition: { kind: 'match', fields: { epoch: state.epoch, leaseExpiresMs: state.leaseExpiresMs } },
      });
    } catch (error) {
      if (error instanceof ConditionFailedError) {
        this.options.onHandsSeen?.(topicId);
        throw new SpoolError('NOT_LEADER', `lost the race for partition ${partition}: another writer took it first`, { retriable: true });
      }
      throw error;
    }
    this.options.onHandsChanged?.(topic);
    return this.hold(lease);
  }

  private hold(lease: Lease): Lease {
    const id = partitionId(lease.topicId, lease.partition);
    this.held.set(id, lease);
    this.usedMs.set(id, this.now());
    this.keepRenewing();
    return lease;
  }

  /**
   * Extends every lease held and in use; releases those idle for `idleMs`; drops (and returns) those
   * we turn out to have lost. A transient failure on one lease does not stop the others; it is
   * retried on the next round.
   */
  async renewAll(): Promise<Lease[]> {
    const lost: Lease[] = [];
    const idleBefore = this.now() - this.idleMs;
    await pMap(
      [...this.held.values()],
      async (lease) => {
        const id = partitionId(lease.topicId, lease.partition);
        if ((this.usedMs.get(id) ?? 0) < idleBefore) return this.release(lease.topicId, lease.partition).catch(() => undefined);
        // Extended by a commit since the last round: still as long as a renewal would leave it at the next one.
        if (lease.expiresMs - this.now() > this.leaseMs - this.renewIntervalMs) return;
        try {
          const renewed = await this.renewFrom(lease.topicName, lease.topicId, lease.partition, lease.epoch);
          // Unless it was released (or lost) meanwhile.
          if (this.held.get(id)?.epoch === lease.epoch) this.held.set(id, renewed);
        } catch (error) {
          if (error instanceof SpoolError && error.code === 'FENCED_LEADER_EPOCH') lost.push(lease);
          else if (!(error instanceof SpoolError && error.retriable)) throw error;
        }
      },
      { concurrency: parallelLeaseWrites },
    );
    return lost;
  }

  /**
   * Another writer is known to have stopped (an agent restarted in its place): its leases may be
   * taken over before they expire. The takeover still moves the epoch, fencing it should it live.
   */
  ownerGone(owner: string): void {
    if (owner !== this.owner) this.gone.add(owner);
  }

  /** A commit as leader extended the lease (commit.ts): the next rounds need not renew it. */
  extendedByCommit(topicId: string, partition: number, extension: { readonly epoch: number; readonly expiresMs: number }): void {
    const id = partitionId(topicId, partition);
    const lease = this.held.get(id);
    if (lease?.epoch === extension.epoch && extension.expiresMs > lease.expiresMs)
      this.held.set(id, { ...lease, expiresMs: extension.expiresMs });
  }

  /** The epoch to fence commits with, if we hold the lease (even one past its expiry: the epoch decides). */
  epochFor(topicId: string, partition: number): number | undefined {
    const id = partitionId(topicId, partition);
    const lease = this.held.get(id);
    if (lease) this.usedMs.set(id, this.now());
    return lease?.epoch;
  }

  /** How many leases are held now. */
  get heldCount(): number {
    return this.held.size;
  }

  async release(topicId: string, partition: number): Promise<void> {
    const id = partitionId(topicId, partition);
    const lease = this.held.get(id);
    if (!lease) return;
    this.held.delete(id);
    this.usedMs.delete(id);
    try {
      await this.metadata.write({
        kind: 'update',
        key: partitionKey(topicId, partition),
        set: { owner: null, leaseExpiresMs: 0 },
        condition: { kind: 'match', fields: { owner: this.owner, epoch: lease.epoch } },
      });
    } catch (error) {
      if (error instanceof ConditionFailedError) {
        this.options.onHandsSeen?.(topicId); // taken over already (its taker moves the topic's value; this process learns now)
        return;
      }
      throw error;
    }
    this.options.onHandsChanged?.({ id: topicId, name: lease.topicName });
  }

  /** Releases every lease, many at once, and stops renewing. */
  async releaseAll(): Promise<void> {
    clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    await pMap([...this.held.values()], (lease) => this.release(lease.topicId, lease.partition), { concurrency: parallelLeaseWrites });
  }

  /** Runs a renewal round renewIntervalMs after the last one ended, while any lease is held. */
  private keepRenewing(): void {
    if (this.renewTimer || this.renewIntervalMs === 0) return;
    this.renewTimer = setTimeout(() => {
      void this.renewAll()
        .catch(() => undefined) // a failed round is retried on the next one
        .finally(() => {
          this.renewTimer = undefined;
          if (this.held.size > 0) this.keepRenewing();
        });
    }, this.renewIntervalMs);
    this.renewTimer.unref();
  }

  private async renewFrom(topicName: string, topicId: string, partition: number, epoch: number): Promise<Lease> {
    const lease: Lease = { topicId, topicName, partition, epoch, expiresMs: this.now() + this.leaseMs };
    try {
      await this.metadata.write({
        kind: 'update',
        key: partitionKey(topicId, partition),
        set: { leaseExpiresMs: lease.expiresMs },
        condition: { kind: 'match', fields: { owner: this.owner, epoch } },
      });
    } catch (error) {
      if (error instanceof ConditionFailedError) {
        this.held.delete(partitionId(topicId, partition));
        this.usedMs.delete(partitionId(topicId, partition));
        this.options.onHandsSeen?.(topicId);
        const now = error.current && partitionStateFromItem(error.current);
        throw new SpoolError(
          'FENCED_LEADER_EPOCH',
          `lease on partition ${partition} was taken over (epoch ${now?.epoch ?? 'gone'} > ${epoch})`,
          {
            details: { epoch: now?.epoch },
          },
        );
      }
      throw error;
    }
    return lease;
  }
}
