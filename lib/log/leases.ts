/**
 * Partition leadership by leases. The lease lives on the partition item itself (owner, epoch, and
 * what keeps it), so a leader's commit can require its epoch in the same condition that assigns
 * offsets (see commit.ts): fencing costs nothing extra.
 *
 * Two kinds of lease, told apart by the item's `ownerNode`:
 * - **On a registration** (an agent serving Kafka, once `rideOn` names its registration,
 *   lib/kafka/cluster.ts): the item names the owner and the node id of its registration, and the
 *   lease holds while that registration names the owner and is unexpired. Holding costs no write per
 *   partition: the agent renews its one registration item, whatever the number of leases (an idle
 *   agent leading 1,000 partitions wrote 288 lease renewals a second before). Taking it from another
 *   writer reads that registration and, if it is absent, another writer's, or expired, takes the
 *   lease in one transaction with a check that the registration is still exactly as read: a
 *   registration renewed meanwhile makes the takeover fail. `leaseExpiresMs` is the last time a Date
 *   can hold (`onRegistration`), so agents of the version before (which judge by it alone) never
 *   take such a lease; they take it once its owner releases it (idle, or on a graceful stop). An
 *   agent that registers again under another node id (it was away past its registration and the
 *   id was taken) points its leases at the new one at its next round, one write each.
 * - **Of its own** (a Log with no registration: tests, an agent without the Kafka listener): held
 *   until `leaseExpiresMs`, renewed by rounds as below. `ownerNode` is null.
 *
 * - Acquire: set owner := us, epoch := epoch + 1, conditional on the fields read (epoch, and the
 *   expiry or the registration's node id), when the item has no owner or its lease no longer holds.
 * - Renew (own leases): extend the expiry, conditional on owner = us and epoch = ours.
 * - Release: clear the owner, its node and the expiry, same condition.
 * Correctness never depends on clocks: a writer that still believes it leads after a takeover is
 * refused by the epoch condition. So a paused agent cannot commit beside its successor: the
 * successor's take moved the epoch, and every commit as leader requires the epoch it was taken at.
 * Clocks (the expiry, the registration's) only decide when a takeover may be tried.
 * A lost lease is dropped when found (an own lease by its renewal; any by a commit refused for its
 * epoch, `fenced`, or by its release as idle finding it taken); the
 * writer's later commits to that partition carry no epoch (leaderless, as a Lambda writer's), so a
 * transport that must only write as leader (Kafka) checks `epochFor`.
 *
 * Rounds run every renewIntervalMs while any lease is held, each starting only after the last one
 * ended (a round over thousands of leases never overlaps the next). A leader's commit extends an own
 * lease in the write it makes anyway (commit.ts), so a round renews only the own leases no commit
 * extended since the last one. A lease not used for `idleMs` is released at its next round rather
 * than kept: an idle partition is free for any agent, and its next write takes it again (epoch + 1);
 * a release whose write fails is held again and tried at the next round.
 * A writer known to have stopped (`ownerGone`) loses its leases to a takeover at once, whatever keeps them.
 * After a lease changes hands here (taken, released) `onHandsChanged` is told, after the write
 * (leadership.ts: caches of who leads what rely on that order).
 *
 * Packed commits (packing.ts, packed.ts): a take on a registration by a writer that packs also sets
 * `packedBy`/`packedSeq` in its write (conditional on `packedBy` absent). A partition packed by another
 * writer is taken only once that writer's lease no longer holds, and then only after fencing that
 * writer (writer-log.ts: in one transaction with the check that its registration is still as judged)
 * and unpacking its tail into rows; packed by an earlier incarnation of this writer, it is unpacked
 * with no check. A release runs `beforeRelease` first (the packer leaves the partition), and a take
 * waits for a release of the same lease still being written.
 */
import pMap from 'p-map';
import { SpoolError } from '../errors.js';
import { ConditionFailedError, TransactionConflictError, type MetadataStore, type WriteOp } from '../storage/ports.js';
import { partitionId } from './commit.js';
import { partitionStateFromItem, type PartitionState } from './layout.js';
import { unpackPartition } from './packed.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { fenceWriter, readFence, requestLeave } from './writer-log.js';
import { brokerKey, partitionKey } from '../keys.js';

export interface Lease {
  readonly topicId: string;
  readonly topicName: string;
  readonly partition: number;
  readonly epoch: number;
  /** An own lease's expiry; `onRegistration` for one on a registration. */
  readonly expiresMs: number;
  /** The node id of the registration a lease rides on; undefined: an own lease. */
  readonly node?: number;
}

/** An agent's registration as leases judge it (the broker registration item, keys.ts brokerKey). */
export interface WriterRegistration {
  readonly nodeId: number;
  readonly owner: string;
  readonly expiresMs: number;
}

export const defaultLeaseMs = 10_000;

/**
 * `leaseExpiresMs` of a lease on a registration: the latest time a Date can hold (agents of the
 * version before, which judge by it alone, read it as held, and can print it: a larger number would
 * make their NOT_LEADER message throw).
 */
export const onRegistration = 8_640_000_000_000_000;

/** Lease writes one round (renewals, releases) has in flight. */
const parallelLeaseWrites = 32;

export interface LeaseManagerOptions {
  readonly owner: string;
  readonly leaseMs?: number;
  /** How often rounds run (own leases renewed, idle ones released); 0: only when asked. @default leaseMs / 3 */
  readonly renewIntervalMs?: number;
  /** A lease not used (epochFor, acquire) for this long is released at its next round. @default 60 000 */
  readonly idleMs?: number;
  readonly now?: () => number;
  /** Told after this writer took a partition's lease from no one or from another writer, and after it released one. */
  readonly onHandsChanged?: (topic: { readonly id: string; readonly name: string }) => void;
  /** Told when this writer finds a partition of the topic led by another (a take refused, a renewal fenced). */
  readonly onHandsSeen?: (topicId: string) => void;
  /**
   * This writer's packing writer id (packing.ts), if it packs: a lease it takes on its registration
   * packs the partition (`packedBy`, and `packedSeq` from `packedSeq()`, in the take's write), and a
   * partition packed by it is not taken from a packer.
   */
  readonly packer?: () => string | undefined;
  /** Whether a take may pack the partition now (the cluster's feature level: features.ts). @default true */
  readonly mayPack?: () => boolean | Promise<boolean>;
  readonly packedSeq?: () => number;
  /**
   * Told after a take that packs the partition: the lease, the end of its rows (where its offsets go
   * on) and the packing writer id the take wrote (the writer may have moved to another since).
   */
  readonly onPacked?: (lease: Lease, end: number, packer: string) => boolean;
  /** Whether the packing writer packs the partition now. */
  readonly packs?: (topicId: string, partition: number) => boolean;
  /** A held lease whose item names this packing writer, which does not pack it: adopt it (its end read through its tail). */
  readonly onPackedFound?: (lease: Lease, packer: string) => Promise<void>;
  /** Runs before a lease is released (a packing writer leaves the partition first); a failure keeps the lease. */
  readonly beforeRelease?: (topicId: string, partition: number) => Promise<void>;
}

/**
 * Whether a partition's lease holds at `nowMs`: one on a registration while the registration at its
 * node (`registrationAt`, as read) names its owner and is unexpired; an own lease until its expiry.
 */
export function leaseHolds(
  state: Pick<PartitionState, 'owner' | 'ownerNode' | 'leaseExpiresMs'>,
  registrationAt: (nodeId: number) => Pick<WriterRegistration, 'owner' | 'expiresMs'> | undefined,
  nowMs: number,
): boolean {
  if (state.owner === null) return false;
  if (state.ownerNode === null) return state.leaseExpiresMs > nowMs;
  const registration = registrationAt(state.ownerNode);
  return registration?.owner === state.owner && registration.expiresMs > nowMs;
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
  /** Releases whose write is under way, by partition. */
  private readonly releasing = new Map<string, Promise<void>>();
  /** Writers known to have stopped (ownerGone): their leases are taken over without waiting for expiry. */
  private readonly gone = new Set<string>();
  private renewTimer: NodeJS.Timeout | undefined;
  /** This writer's registration, once leases ride on it (rideOn). */
  private registration: () => WriterRegistration | undefined = () => undefined;

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

  /**
   * Leases taken from now on ride on this writer's registration (`registration()`, undefined while
   * there is none): no renewal per lease. The registration item must be the one at brokerKey(nodeId).
   */
  rideOn(registration: () => WriterRegistration | undefined): void {
    this.registration = registration;
  }

  /** Takes the lease (or confirms ours). Throws NOT_LEADER, naming the owner, if another live lease holds it. */
  async acquire(topic: { readonly id: string; readonly name: string }, partition: number): Promise<Lease> {
    const topicId = topic.id;
    const key = partitionKey(topicId, partition);
    await this.releasing.get(partitionId(topicId, partition))?.catch(() => undefined);
    const mayPack = this.registration() !== undefined && (await (this.options.mayPack?.() ?? true));
    const item = await this.metadata.get(key);
    if (item === undefined) throw new SpoolError('PARTITION_NOT_FOUND', `partition ${partition} of topic id ${topicId} does not exist`);
    const state = partitionStateFromItem(item);
    const mine = this.registration();
    const packer = mine === undefined ? undefined : this.options.packer?.();
    // A partition with a transaction open is not packed (its marker is written per partition, by the
    // coordinator's agent): the take's condition on its end keeps one from opening before the take lands.
    const packing = packer !== undefined && mayPack && Object.keys(state.openTransactions).length === 0 ? packer : undefined;
    // Packed by a writer that is not this one (packed.ts): its commits become rows first, once it is fenced.
    if (state.packedBy !== null && state.packedBy !== packer) {
      await this.takeFromPacker(topic, partition, state);
      return this.acquire(topic, partition);
    }
    if (state.owner === this.owner) {
      // Ours already: on our registration as it is now, nothing to write (unless it is to be packed again).
      if (mine !== undefined && state.ownerNode === mine.nodeId) {
        const lease = { topicId, topicName: topic.name, partition, epoch: state.epoch, expiresMs: onRegistration, node: mine.nodeId };
        if (packing !== undefined && state.packedBy === null) await this.packAgain(lease, state, packing);
        // Packed by this writer already (a take whose answer was lost, say) but not packed here: adopted, its end read through its tail.
        else if (packer !== undefined && state.packedBy === packer && !this.options.packs?.(topicId, partition))
          await this.options.onPackedFound?.(lease, packer);
        return this.hold(lease);
      }
      return this.hold(await this.renewFrom(topic.name, topicId, partition, state.epoch));
    }
    const lease: Lease = {
      topicId,
      topicName: topic.name,
      partition,
      epoch: state.epoch + 1,
      ...(mine ? { expiresMs: onRegistration, node: mine.nodeId } : { expiresMs: this.now() + this.leaseMs }),
    };
    const set = {
      owner: this.owner,
      ownerNode: lease.node ?? null,
      epoch: lease.epoch,
      leaseExpiresMs: lease.expiresMs,
      ...(packing === undefined ? {} : { packedBy: packing, packedSeq: this.options.packedSeq?.() ?? 0 }),
    };
    // A take that packs adopts the end it read: it must still be the end (a lease-less commit may land between).
    const packedFrom: Record<string, number> = packing === undefined ? {} : { nextOffset: state.nextOffset };
    try {
      if (state.owner !== null && state.ownerNode !== null) {
        // Rides on its owner's registration: free once that registration no longer holds it, checked in the same transaction.
        const held = await this.metadata.get(brokerKey(state.ownerNode));
        const holder = held && { owner: held.attrs.owner as string, expiresMs: held.attrs.expiresMs as number };
        if (leaseHolds(state, () => holder, this.now()) && !this.gone.has(state.owner))
          throw this.ledBy(topicId, partition, state, `while its registration as node ${state.ownerNode} lives`);
        await this.metadata.transact([
          {
            kind: 'check',
            key: brokerKey(state.ownerNode),
            // The owner's registration must still be the one judged (a renewal moves its expiry); another
            // writer's there only must stay another's (the lease holds again only if its owner claims the node back).
            condition: !holder
              ? { kind: 'absent' }
              : holder.owner === state.owner
                ? { kind: 'match', fields: { owner: holder.owner, expiresMs: holder.expiresMs } }
                : { kind: 'match', fields: { owner: holder.owner } },
          },
          {
            kind: 'update',
            key,
            set,
            condition: { kind: 'match', fields: { epoch: state.epoch, ownerNode: state.ownerNode, packedBy: null, ...packedFrom } },
          },
        ]);
      } else {
        if (leaseHolds(state, () => undefined, this.now()) && !this.gone.has(state.owner!))
          throw this.ledBy(topicId, partition, state, `until ${new Date(state.leaseExpiresMs).toISOString()}`);
        await this.metadata.write({
          kind: 'update',
          key,
          set,
          condition: { kind: 'match', fields: { epoch: state.epoch, leaseExpiresMs: state.leaseExpiresMs, packedBy: null, ...packedFrom } },
        });
      }
    } catch (error) {
      // A condition refused, or (DynamoDB) a transaction cancelled for a concurrent one on these items.
      if (error instanceof ConditionFailedError || (error instanceof SpoolError && error.code === 'CONFLICT')) {
        this.options.onHandsSeen?.(topicId);
        throw new SpoolError('NOT_LEADER', `lost the race for partition ${partition}: another writer took it first`, { retriable: true });
      }
      throw error;
    }
    this.options.onHandsChanged?.(topic);
    // Packed under an id its writer has since left (fenced meanwhile): taken again, that id's commits unpacked first.
    if (packing !== undefined && this.options.onPacked?.(lease, state.nextOffset, packing) === false) return this.acquire(topic, partition);
    return this.hold(lease);
  }

  /**
   * Takes the lease again only if the partition is still ours in the store (after this writer's
   * packing was fenced: packing.ts); a partition another writer took is left to it. Answers whether
   * it is held.
   */
  async reclaim(topic: { readonly id: string; readonly name: string }, partition: number): Promise<boolean> {
    const item = await this.metadata.get(partitionKey(topic.id, partition));
    if (item === undefined || partitionStateFromItem(item).owner !== this.owner) return false;
    try {
      await this.acquire(topic, partition);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * For a writer with no lease on the partition (the Lambda API, an agent's HTTP produce, a transaction
   * marker from the agent of its coordinator): frees a packed partition for a per-partition commit.
   * One whose packer's lease no longer holds (it crashed) is freed as a takeover would (that writer
   * fenced, its tail unpacked, `packedBy` cleared), without taking the lease; one packed under an id
   * fenced already (its writer goes on under its next one), unpacked outright. A live packer is asked
   * to leave it (writer-log.ts `requestLeave`: at its next commit, or within 5 s when idle) and
   * waited for, until `deadlineMs`. Answers whether the partition is free of packing now.
   */
  async unpackFor(topic: { readonly id: string; readonly name: string }, partition: number, deadlineMs: number): Promise<boolean> {
    let asked: { packer: string; atMs: number } | undefined;
    for (let waitMs = 20; ; waitMs = Math.min(2 * waitMs, 500)) {
      const item = await this.metadata.get(partitionKey(topic.id, partition));
      if (item === undefined) return false;
      const state = partitionStateFromItem(item);
      if (state.packedBy === null) return true;
      if (state.packedBy !== this.options.packer?.()) {
        try {
          // Packed under an id already fenced (its live writer goes on under another): that log is
          // final, so its commits become rows with no takeover. Else taken from a packer whose lease lapsed.
          if ((await readFence(this.metadata, state.packedBy))?.fencedMs != null)
            await unpackPartition(this.metadata, topic.id, partition, state.packedBy, { release: true, nowMs: this.now });
          else await this.takeFromPacker(topic, partition, state);
          return true;
        } catch {
          // (its packer's lease holds, or a racing takeover: asked, and read again)
        }
      }
      // Asked again every 2 s: a request can be cleared unanswered (its packer's leave failed, or the
      // partition was not in its memory yet: a take whose answer is on its way; or its log not open yet).
      if (asked?.packer !== state.packedBy || this.now() - asked.atMs >= 2_000) {
        await requestLeave(this.metadata, state.packedBy, topic.id, partition, this.now());
        asked = { packer: state.packedBy, atMs: this.now() };
      }
      if (this.now() + waitMs > deadlineMs) return false;
      await sleep(waitMs);
    }
  }

  /** A lease of ours whose partition is not packed (it was left, or its packer was an earlier incarnation): packed again, in one conditional write. */
  private async packAgain(lease: Lease, state: PartitionState, packer: string): Promise<void> {
    try {
      await this.metadata.write({
        kind: 'update',
        key: partitionKey(lease.topicId, lease.partition),
        set: { packedBy: packer, packedSeq: this.options.packedSeq?.() ?? 0 },
        condition: { kind: 'match', fields: { owner: this.owner, epoch: lease.epoch, packedBy: null, nextOffset: state.nextOffset } },
      });
    } catch (error) {
      if (error instanceof ConditionFailedError) {
        this.options.onHandsSeen?.(lease.topicId);
        throw new SpoolError('NOT_LEADER', `lost the race for partition ${lease.partition}: another writer took it first`, {
          retriable: true,
        });
      }
      throw error;
    }
    if (this.options.onPacked?.(lease, state.nextOffset, packer) === false)
      throw new SpoolError('NOT_LEADER', `partition ${lease.partition}: packed under an id fenced meanwhile; try again`, {
        retriable: true,
      });
  }

  /**
   * A partition packed by another writer (packed.ts), whose lease no longer holds: fences that writer
   * (writer-log.ts: in one transaction with the check that its registration is still as judged, as a
   * takeover's), so none of its commits can land after, then turns its commits into rows and clears
   * `packedBy`. A packer with no lease on the partition (it died releasing it) is fenced outright.
   */
  private async takeFromPacker(
    topic: { readonly id: string; readonly name: string },
    partition: number,
    state: PartitionState,
  ): Promise<void> {
    const packer = state.packedBy!;
    const checks: WriteOp[] = [];
    if (state.owner === this.owner) {
      // Packed by an earlier incarnation of this writer (fenced: packing.ts): nothing to check.
    } else if (state.owner !== null && state.ownerNode !== null) {
      const held = await this.metadata.get(brokerKey(state.ownerNode));
      const holder = held && { owner: held.attrs.owner as string, expiresMs: held.attrs.expiresMs as number };
      if (leaseHolds(state, () => holder, this.now()) && !this.gone.has(state.owner))
        throw this.ledBy(topic.id, partition, state, `while its registration as node ${state.ownerNode} lives`);
      checks.push({
        kind: 'check',
        key: brokerKey(state.ownerNode),
        condition: !holder ? { kind: 'absent' } : { kind: 'match', fields: { owner: holder.owner, expiresMs: holder.expiresMs } },
      });
    } else if (state.owner !== null && leaseHolds(state, () => undefined, this.now()) && !this.gone.has(state.owner)) {
      throw this.ledBy(topic.id, partition, state, `until ${new Date(state.leaseExpiresMs).toISOString()}`);
    }
    try {
      await fenceWriter(this.metadata, packer, this.now(), checks);
    } catch (error) {
      if (error instanceof TransactionConflictError || (error instanceof SpoolError && error.code === 'CONFLICT')) {
        this.options.onHandsSeen?.(topic.id);
        throw new SpoolError('NOT_LEADER', `partition ${partition}: its packing writer renewed its registration; try again`, {
          retriable: true,
        });
      }
      throw error;
    }
    await unpackPartition(this.metadata, topic.id, partition, packer, { release: true, nowMs: this.now });
  }

  private ledBy(topicId: string, partition: number, state: PartitionState, how: string): SpoolError {
    this.options.onHandsSeen?.(topicId);
    return new SpoolError('NOT_LEADER', `partition ${partition} is led by ${state.owner} ${how}`, {
      details: { leader: state.owner, epoch: state.epoch },
    });
  }

  private hold(lease: Lease): Lease {
    const id = partitionId(lease.topicId, lease.partition);
    this.held.set(id, lease);
    this.usedMs.set(id, this.now());
    this.keepRenewing();
    return lease;
  }

  /**
   * A round: releases the leases idle for `idleMs`; extends the own leases in use, and points those on
   * a registration at ours if it changed; drops (and returns) those we turn out to have lost. A
   * transient failure on one lease does not stop the others; it is retried on the next round.
   */
  async renewAll(): Promise<Lease[]> {
    const lost: Lease[] = [];
    const idleBefore = this.now() - this.idleMs;
    const mine = this.registration();
    await pMap(
      [...this.held.values()],
      async (lease) => {
        const id = partitionId(lease.topicId, lease.partition);
        if ((this.usedMs.get(id) ?? 0) < idleBefore) return this.release(lease.topicId, lease.partition).catch(() => undefined);
        // On our registration as it is now: held as long as it lives.
        if (lease.node !== undefined && lease.node === mine?.nodeId) return;
        // Extended by a commit since the last round: still as long as a renewal would leave it at the next one.
        if (lease.node === undefined && lease.expiresMs - this.now() > this.leaseMs - this.renewIntervalMs) return;
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

  /** A commit as leader found the partition in a later epoch (commit.ts): the lease taken at `epoch` is lost. */
  fenced(topicId: string, partition: number, epoch: number): void {
    const id = partitionId(topicId, partition);
    if (this.held.get(id)?.epoch !== epoch) return;
    this.held.delete(id);
    this.usedMs.delete(id);
  }

  /** How long a leader's commit extends its lease (commit.ts): 0 while leases ride on a registration (nothing to extend). */
  get commitExtensionMs(): number {
    return this.registration() === undefined ? this.leaseMs : 0;
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

  /** The node id of the registration leases ride on now; undefined: none. */
  get registrationNode(): number | undefined {
    return this.registration()?.nodeId;
  }

  /** How many leases are held now. */
  get heldCount(): number {
    return this.held.size;
  }

  /**
   * Releases the lease. Until its write is answered a take of the partition here waits for it: taken
   * before, it would find the item still ours and keep the epoch, and the release would then clear the
   * owner of a lease this writer believes it holds.
   */
  release(topicId: string, partition: number): Promise<void> {
    const id = partitionId(topicId, partition);
    const running = this.releasing.get(id);
    if (running) return running;
    const lease = this.held.get(id);
    if (!lease) return Promise.resolve();
    const done = this.releaseHeld(id, lease).finally(() => this.releasing.delete(id));
    this.releasing.set(id, done);
    return done;
  }

  private async releaseHeld(id: string, lease: Lease): Promise<void> {
    const { topicId, partition } = lease;
    await this.options.beforeRelease?.(topicId, partition);
    const usedMs = this.usedMs.get(id) ?? 0;
    this.held.delete(id);
    this.usedMs.delete(id);
    try {
      await this.metadata.write({
        kind: 'update',
        key: partitionKey(topicId, partition),
        set: { owner: null, ownerNode: null, leaseExpiresMs: 0 },
        condition: { kind: 'match', fields: { owner: this.owner, epoch: lease.epoch } },
      });
    } catch (error) {
      if (error instanceof ConditionFailedError) {
        this.options.onHandsSeen?.(topicId); // taken over already (its taker moves the topic's value; this process learns now)
        return;
      }
      // Still ours in the store (a lease on our registration would stay so while we live): held again,
      // so a later round releases it, unless it was taken again here meanwhile.
      if (!this.held.has(id)) {
        this.held.set(id, lease);
        this.usedMs.set(id, usedMs);
        this.keepRenewing();
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

  /** Keeps our lease at `epoch`: on our registration as it is now if there is one, else extended by leaseMs. */
  private async renewFrom(topicName: string, topicId: string, partition: number, epoch: number): Promise<Lease> {
    const mine = this.registration();
    const lease: Lease = {
      topicId,
      topicName,
      partition,
      epoch,
      ...(mine ? { expiresMs: onRegistration, node: mine.nodeId } : { expiresMs: this.now() + this.leaseMs }),
    };
    try {
      await this.metadata.write({
        kind: 'update',
        key: partitionKey(topicId, partition),
        set: { ownerNode: lease.node ?? null, leaseExpiresMs: lease.expiresMs },
        condition: { kind: 'match', fields: { owner: this.owner, epoch } },
      });
    } catch (error) {
      if (error instanceof ConditionFailedError) {
        const id = partitionId(topicId, partition);
        // Not a lease taken again since (at a later epoch) while this write was under way.
        if (this.held.get(id)?.epoch === epoch) {
          this.held.delete(id);
          this.usedMs.delete(id);
        }
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
