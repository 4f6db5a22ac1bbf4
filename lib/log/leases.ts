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
 */
import { SpoolError } from '../errors.js';
import { ConditionFailedError, type MetadataStore } from '../storage/ports.js';
import { partitionId } from './commit.js';
import { partitionKey, partitionStateFromItem } from './layout.js';

export interface Lease {
  readonly topicId: string;
  readonly partition: number;
  readonly epoch: number;
  readonly expiresMs: number;
}

export interface LeaseManagerOptions {
  readonly owner: string;
  readonly leaseMs?: number;
  /** How often held leases are renewed; 0 renews only when asked. @default leaseMs / 3 */
  readonly renewIntervalMs?: number;
  readonly now?: () => number;
}

export class LeaseManager {
  readonly owner: string;
  readonly leaseMs: number;
  private readonly renewIntervalMs: number;
  private readonly now: () => number;
  private readonly held = new Map<string, Lease>();
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly metadata: MetadataStore,
    options: LeaseManagerOptions,
  ) {
    this.owner = options.owner;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.renewIntervalMs = options.renewIntervalMs ?? Math.max(10, Math.floor(this.leaseMs / 3));
    this.now = options.now ?? Date.now;
  }

  /** Takes (or renews) the lease. Throws NOT_LEADER, naming the owner, if another live lease holds it. */
  async acquire(topicId: string, partition: number): Promise<Lease> {
    const key = partitionKey(topicId, partition);
    const item = await this.metadata.get(key);
    if (item === undefined) throw new SpoolError('PARTITION_NOT_FOUND', `partition ${partition} of topic id ${topicId} does not exist`);
    const state = partitionStateFromItem(item);
    const now = this.now();
    if (state.owner === this.owner) return this.renewFrom(topicId, partition, state.epoch);
    if (state.owner !== null && state.leaseExpiresMs > now) {
      throw new SpoolError('NOT_LEADER', `partition ${partition} is led by ${state.owner} until ${new Date(state.leaseExpiresMs).toISOString()}`, {
        details: { leader: state.owner, epoch: state.epoch },
      });
    }
    const lease: Lease = { topicId, partition, epoch: state.epoch + 1, expiresMs: now + this.leaseMs };
    try {
      await this.metadata.write({
        kind: 'update',
        key,
        set: { owner: this.owner, epoch: lease.epoch, leaseExpiresMs: lease.expiresMs },
        condition: { kind: 'match', fields: { epoch: state.epoch, leaseExpiresMs: state.leaseExpiresMs } },
      });
    } catch (error) {
      if (error instanceof ConditionFailedError) {
        throw new SpoolError('NOT_LEADER', `lost the race for partition ${partition}: another writer took it first`, { retriable: true });
      }
      throw error;
    }
    this.held.set(partitionId(topicId, partition), lease);
    this.keepRenewing();
    return lease;
  }

  /**
   * Extends every lease held; drops (and returns) those we turn out to have lost. A transient failure
   * on one lease does not stop the others from being renewed; it is retried on the next round.
   */
  async renewAll(): Promise<Lease[]> {
    const lost: Lease[] = [];
    for (const lease of [...this.held.values()]) {
      try {
        await this.renewFrom(lease.topicId, lease.partition, lease.epoch);
      } catch (error) {
        if (error instanceof SpoolError && error.code === 'FENCED_LEADER_EPOCH') lost.push(lease);
        else if (!(error instanceof SpoolError && error.retriable)) throw error;
      }
    }
    return lost;
  }

  /** The epoch to fence commits with, if we hold the lease (even one past its expiry: the epoch decides). */
  epochFor(topicId: string, partition: number): number | undefined {
    return this.held.get(partitionId(topicId, partition))?.epoch;
  }

  async release(topicId: string, partition: number): Promise<void> {
    const id = partitionId(topicId, partition);
    const lease = this.held.get(id);
    if (!lease) return;
    this.held.delete(id);
    await this.metadata
      .write({
        kind: 'update',
        key: partitionKey(topicId, partition),
        set: { owner: null, leaseExpiresMs: 0 },
        condition: { kind: 'match', fields: { owner: this.owner, epoch: lease.epoch } },
      })
      .catch((error) => {
        if (!(error instanceof ConditionFailedError)) throw error;
      });
  }

  async releaseAll(): Promise<void> {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    for (const lease of [...this.held.values()]) await this.release(lease.topicId, lease.partition);
  }

  /** Renews held leases every renewIntervalMs while any is held. */
  private keepRenewing(): void {
    if (this.renewTimer || this.renewIntervalMs === 0) return;
    this.renewTimer = setInterval(() => {
      if (this.held.size === 0) {
        clearInterval(this.renewTimer);
        this.renewTimer = undefined;
        return;
      }
      this.renewAll().catch(() => undefined); // a failed round is retried on the next tick
    }, this.renewIntervalMs);
    this.renewTimer.unref();
  }

  private async renewFrom(topicId: string, partition: number, epoch: number): Promise<Lease> {
    const lease: Lease = { topicId, partition, epoch, expiresMs: this.now() + this.leaseMs };
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
        const now = error.current && partitionStateFromItem(error.current);
        throw new SpoolError('FENCED_LEADER_EPOCH', `lease on partition ${partition} was taken over (epoch ${now?.epoch ?? 'gone'} > ${epoch})`, {
          details: { epoch: now?.epoch },
        });
      }
      throw error;
    }
    this.held.set(partitionId(topicId, partition), lease);
    return lease;
  }
}
