/**
 * The cluster as Kafka clients see it: brokers (Spool agents serving the Kafka listener), partition
 * leaders and group coordinators. Partition leadership is a lease on the partition item
 * (log/leases.ts) and a group's coordinator is named by one item per group; both live as long as
 * their owner's broker registration: agents sharing one store split the work between them and take
 * over from an agent that stops renewing its registration. An idle agent renews one item, whatever
 * the number of partitions it leads and groups it coordinates.
 *
 * Group coordination rides on the registration (no write per group while it is held; an idle agent
 * renews one item, whatever the number of groups):
 *  - The coordinator item names the owner (writer id) and its node id, with an epoch. An agent takes
 *    a group whose item is absent, or whose owner's registration is absent, another writer's, or
 *    expired as read, in one transaction with a check that the registration is still exactly as read
 *    (so a registration renewed meanwhile makes the takeover fail).
 *  - An agent acts as coordinator only while its own registration is valid by its clock, and only
 *    for groups it confirmed since its registration last lapsed: a renewal that returns after the
 *    registration it extends had expired (a pause, a slow store) starts a new generation, and every
 *    group is confirmed again from the store before it is coordinated.
 *  - So a paused agent cannot coordinate beside its successor: the successor's takeover landed while
 *    the stored registration had expired, so the paused agent's next renewal lands after that expiry,
 *    returns after it, and drops its groups; until it returns, the expired registration stops it.
 *    (As for any lease, this assumes clocks agree to well within a lease.) Group state itself is
 *    written by compare-and-set (lib/groups), so even a write decided before a pause cannot overwrite
 *    a successor's.
 *  - `expiresMs` on the item is the largest safe integer, so agents of the version before, which
 *    renewed a lease per group, read it as held while its owner is registered.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpoolError } from '../errors.js';
import {
  initialLevels,
  newestLevels,
  readFeatures,
  registrationFeatures,
  unsupportedLevels,
  type Log,
  type TopicItem,
} from '../log/index.js';
import { ConditionFailedError, TransactionConflictError, type Item, type MetadataStore, type WriteOp } from '../storage/ports.js';
import {
  brokerKey,
  brokersPk,
  clusterIdKey,
  coordinatorKey,
  featuresKey,
  maintenanceReportKey,
  topicsPk,
  transactionShardOf,
} from '../keys.js';

export interface BrokerNode {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
  readonly rack: string | null;
}

export interface ClusterView {
  /** This agent. */
  readonly self: BrokerNode;
  readonly clusterId: string;
  /** Live brokers (this one included). */
  brokers(): Promise<BrokerNode[]>;
  /**
   * The agent coordinating a group: the one its coordinator item names while that agent is
   * registered, or this agent, which takes the group when it is free. Throws SpoolError('NOT_LEADER',
   * retriable) if no agent can be named now.
   */
  coordinatorFor(group: string): Promise<BrokerNode>;
  /** Whether this agent coordinates the group now (takes it if free). */
  coordinates(group: string): Promise<boolean>;
  /** The group was deleted here: its coordinator item goes if it names this agent, and the group is forgotten here. */
  release(group: string): Promise<void>;
  /** The agent FindCoordinator names for a transactional id (any agent serves any). */
  transactionCoordinatorFor(transactionalId: string): Promise<BrokerNode>;
}

export interface StoreClusterOptions {
  /** What clients are told to connect to. */
  readonly advertisedHost: string;
  /** @default the port given to `start` */
  readonly advertisedPort?: number;
  readonly rack?: string | null;
  /** Broker registrations (and with them the partition leases and groups held on them) last this long without renewal. @default the log's lease length */
  readonly leaseMs?: number;
  readonly now?: () => number;
  /**
   * The feature levels a new cluster starts at (lib/log/features.ts), finalized by the first agent
   * on a store no earlier version wrote (`storeIsNew`). @default newestLevels
   */
  readonly initialFeatures?: Readonly<Record<string, number>>;
}

export interface Registration extends BrokerNode {
  /** The writer id of the agent: partition leases name it as their owner. */
  readonly owner: string;
  readonly expiresMs: number;
}

/** Tries of one renewal against retriable refusals, `renewalRetryMs` × the try apart (jittered). */
const renewalAttempts = 5;
const renewalRetryMs = 20;
/** How long the list of live brokers is reused. */
const brokersCacheMs = 1000;
/** A group nobody asked about for this long is forgotten here (confirmed from the store when asked again); nothing is written. */
const groupIdleMs = 600_000;
/** The coordinator item's `expiresMs`: agents of the version before read it as a lease held while its owner is registered. */
const registrationBound = Number.MAX_SAFE_INTEGER;

/**
 * The cluster kept in the MetadataStore (its items in lib/keys.ts): a registration lease per broker,
 * the cluster id, and a coordinator lease per Kafka group.
 *
 * A node id is the lowest whose registration is absent or expired, taken by compare-and-set. A
 * partition's leader is its lease holder (log/leases.ts) when that agent is live; otherwise the live
 * broker chosen by the partition's index (from an offset the topic id picks), which takes the lease
 * on its first produce. So with
 * several agents partitions spread over them, and an agent's partitions move once its registration
 * expires (or at once, when it stops and deregisters).
 */
export class StoreCluster implements ClusterView {
  private registration: Registration | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private brokersCache: { brokers: Registration[]; atMs: number } | undefined;
  /** The read of the registrations under way: concurrent callers (a Metadata's partitions) share it. */
  private brokersReading: Promise<Registration[]> | undefined;
  /** Groups this agent coordinates, each with the registration generation it was confirmed in. */
  private readonly groups = new Map<string, { generation: number; usedMs: number }>();
  /** Moves on whenever this agent's registration may have lapsed: groups confirmed before are confirmed again. */
  private generation = 0;
  /** Groups released so far: a confirmation under way across a release does not count (it may have read the item the release deleted). */
  private releases = 0;
  private readonly leaseMs: number;
  private readonly now: () => number;
  clusterId = '';
  private port = 0;

  constructor(
    private readonly metadata: MetadataStore,
    private readonly log: Log,
    private readonly options: StoreClusterOptions,
  ) {
    this.leaseMs = options.leaseMs ?? log.leaseMs;
    this.now = options.now ?? Date.now;
  }

  get self(): BrokerNode {
    if (!this.registration) throw new SpoolError('INTERNAL', 'the cluster was not started');
    return this.registration;
  }

  /**
   * Registers this agent under a free node id and keeps the registration renewed. Refused, as Kafka
   * refuses a broker's registration, where the cluster's feature levels are above what this version
   * supports (lib/log/features.ts): read before registering, and again after, since a raise that read
   * the registrations before this one was written may have landed in between.
   */
  async start(boundPort?: number): Promise<void> {
    this.port = this.options.advertisedPort ?? boundPort ?? this.port;
    this.clusterId = await this.ensureClusterId();
    await this.checkFeatureLevels();
    await this.register();
    try {
      await this.checkFeatureLevels();
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.stopped = false;
    this.log.leaseOnRegistration(() => this.registration);
    this.scheduleRenewal();
  }

  /**
   * Takes a node id: that of a predecessor at our own address (below), else the lowest whose
   * registration is absent or expired.
   *
   * A live registration at the address we advertise, by another writer, is a predecessor that died
   * without deregistering (we hold its port now): an agent restarted after a crash. We take over its
   * node id, so clients never see two brokers at one address (kafkajs merges them into one and then
   * sends produce requests that name no partition, silently writing nothing). Its partition leases
   * name this node id, now ours: any agent may take them at once. The log is also told the writer is
   * gone, for leases of its own (of an agent that had no registration then), which it takes at once.
   * Leases are fenced by epoch, so even a wrong guess (two live agents advertising one address,
   * which Kafka forbids too) costs leadership moves, never a second writer's commit.
   */
  private async register(): Promise<void> {
    const port = this.port;
    const mine = (await this.metadata.query(brokersPk))
      .map(registrationFromItem)
      .find(
        (broker) =>
          broker.host === this.options.advertisedHost &&
          broker.port === port &&
          broker.owner !== this.log.writerId &&
          broker.expiresMs > this.now(),
      );
    if (mine && (await this.claim(mine.nodeId, mine))) {
      this.log.writerGone(mine.owner);
      return;
    }
    for (let nodeId = 1; ; nodeId++) {
      const current = await this.metadata.get(brokerKey(nodeId));
      const registration = current && registrationFromItem(current);
      if (registration && registration.expiresMs > this.now() && registration.owner !== this.log.writerId) continue;
      if (await this.claim(nodeId, registration)) return;
    }
  }

  /** Writes our registration under `nodeId`, if it is still as read (`current`; undefined: absent). */
  private async claim(nodeId: number, current: Registration | undefined): Promise<boolean> {
    const registration = this.registrationFor(nodeId);
    try {
      await this.metadata.write({
        kind: 'put',
        key: brokerKey(nodeId),
        attrs: { ...registration, features: registrationFeatures() },
        condition: current ? { kind: 'match', fields: { owner: current.owner, expiresMs: current.expiresMs } } : { kind: 'absent' },
      });
      this.registration = registration;
      this.generation++;
      this.brokersCache = undefined;
      return true;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
      return false;
    }
  }

  /** A renewal round every leaseMs / 3, each starting after the last one ended. */
  private scheduleRenewal(): void {
    if (this.stopped) return;
    this.renewTimer = setTimeout(
      () => {
        void this.renew()
          .catch(() => undefined) // a failed round is retried on the next one
          .finally(() => this.scheduleRenewal());
      },
      Math.max(10, Math.floor(this.leaseMs / 3)),
    );
    this.renewTimer.unref();
  }

  private async checkFeatureLevels(): Promise<void> {
    const unsupported = unsupportedLevels(await readFeatures(this.metadata));
    if (unsupported.length > 0)
      throw new SpoolError(
        'INVALID_CONFIG',
        `the cluster's feature levels are above what this version supports: ${unsupported.join(', ')}; run a version that supports them`,
      );
  }

  /**
   * Gives up the registration (and so its groups), so others take over at once. Records accepted
   * before are committed first, under the leases they were accepted with, then the leases are
   * released (agents of the version before take a released lease, not one whose registration went).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.renewTimer);
    const registration = this.registration;
    if (!registration) return;
    this.groups.clear();
    this.generation++;
    await this.log.releaseLeadership();
    await this.metadata
      .write({ kind: 'delete', key: brokerKey(registration.nodeId), condition: { kind: 'match', fields: { owner: registration.owner } } })
      .catch((error) => {
        if (!(error instanceof ConditionFailedError)) throw error;
      });
  }

  async brokers(): Promise<BrokerNode[]> {
    return (await this.liveRegistrations()).map(publicNode);
  }

  /**
   * The broker clients should send a partition's produce requests to, with the leader epoch. Only
   * reads: the chosen broker takes the lease itself when the produce arrives. The lease's owner while
   * its agent's registration lives, whatever the expiry `state` shows (a cached state's is as old as
   * the cache, log/leadership.ts; a live agent's leases hold on its registration until it releases
   * them, which clears the owner, or they are taken, which changes it); else a broker chosen by the
   * partition.
   */
  async leaderOf(
    topic: TopicItem,
    partition: number,
    state: { readonly owner: string | null; readonly epoch: number },
  ): Promise<{ leader: BrokerNode; epoch: number }> {
    const live = await this.liveRegistrations();
    const holder = state.owner !== null ? live.find((broker) => broker.owner === state.owner) : undefined;
    if (holder) return { leader: publicNode(holder), epoch: state.epoch };
    // Consecutive partitions go to consecutive brokers, from a place the topic picks: an even spread.
    const chosen = live[(hashOf(topic.id) + partition) % live.length] ?? this.registration!;
    return { leader: publicNode(chosen), epoch: state.epoch };
  }

  /**
   * The agent FindCoordinator names for a transactional id: any agent serves any id (its state is in
   * the store), so this only spreads ids over the live agents, by the id's shard (keys.ts).
   */
  async transactionCoordinatorFor(transactionalId: string): Promise<BrokerNode> {
    const live = await this.liveRegistrations();
    return publicNode(live[transactionShardOf(transactionalId) % live.length] ?? this.registration!);
  }

  /** Which transactional ids FindCoordinator gives this agent (ListTransactions answers for those: the admin client asks every agent). */
  async transactionCoordinatorIds(): Promise<(transactionalId: string) => boolean> {
    const live = await this.liveRegistrations();
    const self = this.self.nodeId;
    return (transactionalId) => (live[transactionShardOf(transactionalId) % live.length]?.nodeId ?? self) === self;
  }

  async coordinatorFor(group: string): Promise<BrokerNode> {
    if (await this.coordinates(group)) return this.self;
    const lease = await this.metadata.get(coordinatorKey(group));
    const owner = lease?.attrs.owner as string | undefined;
    const holder = (await this.liveRegistrations()).find((broker) => broker.owner === owner);
    if (!holder) throw new SpoolError('NOT_LEADER', `no agent coordinates group ${group} yet; ask again`, { details: { group } });
    return publicNode(holder);
  }

  async coordinates(group: string): Promise<boolean> {
    const registration = this.registration;
    // A lapsed registration coordinates nothing until it is renewed (its groups may be taken meanwhile).
    if (!registration || this.stopped || registration.expiresMs <= this.now()) return false;
    const held = this.groups.get(group);
    if (held?.generation === this.generation) {
      held.usedMs = this.now();
      return true;
    }
    this.groups.delete(group);
    const [generation, releases] = [this.generation, this.releases];
    if (!(await this.take(group, registration))) return false;
    // Confirmed in a generation that ended meanwhile, past the registration it was confirmed under,
    // or across a release: not to be trusted; a later call confirms it again.
    if (generation !== this.generation || releases !== this.releases || this.registration!.expiresMs <= this.now()) return false;
    this.groups.set(group, { generation, usedMs: this.now() });
    return true;
  }

  /**
   * Deletes the group's coordinator item if it names this agent, then forgets the group here (in
   * that order: forgetting first would let a request in between confirm the group from the item
   * about to go, and keep it beside whoever takes it next).
   */
  async release(group: string): Promise<void> {
    this.releases++;
    await this.metadata
      .write({ kind: 'delete', key: coordinatorKey(group), condition: { kind: 'match', fields: { owner: this.log.writerId } } })
      .catch((error: unknown) => {
        if (!(error instanceof ConditionFailedError)) throw error;
      });
    this.groups.delete(group);
  }

  /** Whether the group is this agent's per the store: its item names us, or we take it (see the module comment). */
  private async take(group: string, registration: Registration): Promise<boolean> {
    const key = coordinatorKey(group);
    const current = await this.metadata.get(key);
    const attrs = current?.attrs;
    const owner = attrs?.owner as string | undefined;
    const epoch = (attrs?.epoch as number | undefined) ?? 0;
    const mine = { owner: this.log.writerId, nodeId: registration.nodeId, epoch: epoch + 1, expiresMs: registrationBound };
    try {
      if (owner === this.log.writerId) {
        if (attrs?.nodeId === registration.nodeId) return true;
        // Ours under another node id (we registered afresh after a pause): others judge the item by the
        // registration it names, which may be someone else's now. Name ours.
        await this.metadata.write({ kind: 'put', key, attrs: mine, condition: { kind: 'match', fields: { owner, epoch } } });
        return true;
      }
      if (current === undefined) {
        await this.metadata.write({ kind: 'put', key, attrs: mine, condition: { kind: 'absent' } });
        return true;
      }
      const ownerNode = attrs?.nodeId as number | undefined;
      if (ownerNode === undefined) {
        // An item of the version before: a lease of its own, renewed by its holder.
        const expiresMs = (attrs?.expiresMs as number | undefined) ?? 0;
        if (expiresMs > this.now() && (await this.liveRegistrations()).some((broker) => broker.owner === owner)) return false;
        await this.metadata.write({ kind: 'put', key, attrs: mine, condition: { kind: 'match', fields: { epoch, expiresMs } } });
        return true;
      }
      const held = await this.metadata.get(brokerKey(ownerNode));
      const holder = held && registrationFromItem(held);
      if (holder && holder.owner === owner && holder.expiresMs > this.now()) return false;
      await this.metadata.transact([
        {
          kind: 'check',
          key: brokerKey(ownerNode),
          condition: holder ? { kind: 'match', fields: { owner: holder.owner, expiresMs: holder.expiresMs } } : { kind: 'absent' },
        },
        { kind: 'put', key, attrs: mine, condition: { kind: 'match', fields: { owner: owner!, epoch } } },
      ]);
      return true;
    } catch (error) {
      if (error instanceof ConditionFailedError || error instanceof TransactionConflictError) return false;
      throw error;
    }
  }

  /**
   * Renews the registration (the timer calls it every leaseMs / 3): one write, whatever the number of
   * groups. A renewal that returns after the registration it extended had expired starts a new
   * generation (groups are confirmed again); groups unused for 10 minutes are forgotten here.
   */
  async renew(): Promise<void> {
    const registration = this.registration;
    if (!registration) return;
    const renewed = this.registrationFor(registration.nodeId);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.metadata.write({
          kind: 'put',
          key: brokerKey(registration.nodeId),
          attrs: { ...renewed, features: registrationFeatures() },
          condition: { kind: 'match', fields: { owner: registration.owner } },
        });
        if (this.now() >= registration.expiresMs) this.generation++;
        this.registration = renewed;
        break;
      } catch (error) {
        if (error instanceof ConditionFailedError) {
          // Our node id was taken while we were away (paused past the lease): register afresh.
          await this.register();
          break;
        }
        // DynamoDB refuses a write to an item a transaction in flight checks (another agent's takeover of
        // a partition or group on this node id): try again at once, not a round (a third of the lease) later.
        if (!(error instanceof SpoolError && error.retriable) || attempt >= renewalAttempts) throw error;
        await sleep(renewalRetryMs * attempt * (0.5 + Math.random()));
      }
    }
    for (const [group, held] of this.groups) if (this.now() - held.usedMs > groupIdleMs) this.groups.delete(group);
  }

  private registrationFor(nodeId: number): Registration {
    return {
      nodeId,
      host: this.options.advertisedHost,
      port: this.port,
      rack: this.options.rack ?? null,
      owner: this.log.writerId,
      expiresMs: this.now() + this.leaseMs,
    };
  }

  private async liveRegistrations(): Promise<Registration[]> {
    const cached = this.brokersCache;
    if (cached && this.now() - cached.atMs < brokersCacheMs) return cached.brokers;
    this.brokersReading ??= (async () => {
      const generation = this.generation;
      try {
        const brokers = (await readRegistrations(this.metadata)).filter(
          (broker) => broker.expiresMs > this.now() || broker.owner === this.registration?.owner,
        );
        if (this.registration && !brokers.some((broker) => broker.nodeId === this.registration!.nodeId)) brokers.push(this.registration);
        brokers.sort((a, b) => a.nodeId - b.nodeId);
        // Not kept across a registration of ours made meanwhile (which dropped the cache).
        if (generation === this.generation) this.brokersCache = { brokers, atMs: this.now() };
        return brokers;
      } finally {
        this.brokersReading = undefined;
      }
    })();
    return this.brokersReading;
  }

  /**
   * The cluster id, named by the first agent on the store. Naming it is Kafka's format: where
   * nothing shows that an earlier version wrote the store (`storeIsNew`: a new cluster), the same
   * transaction finalizes `initialFeatures`. A store already written stays at the levels it has (0
   * where none were raised). An earlier version run on a cluster at level 1 does not read the level
   * (README: Feature levels).
   */
  private async ensureClusterId(): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const existing = await this.metadata.get(clusterIdKey);
      if (existing) return existing.attrs.clusterId as string;
      const clusterId = randomUUID().replace(/-/g, '').slice(0, 22);
      const name: WriteOp = { kind: 'put', key: clusterIdKey, attrs: { clusterId }, condition: { kind: 'absent' } };
      const levels = (await this.storeIsNew()) ? initialLevels(this.options.initialFeatures ?? newestLevels) : undefined;
      try {
        if (levels) await this.metadata.transact([name, levels.write]);
        else await this.metadata.write(name);
        if (levels) this.log.features.keep(levels.features); // what ApiVersions and the next take see, whatever was read before
        return clusterId;
      } catch (error) {
        // Another agent named it first (read on the next attempt), or a concurrent transaction wrote nothing (CONFLICT).
        const lost = error instanceof ConditionFailedError || (error instanceof SpoolError && error.code === 'CONFLICT');
        if (!lost || attempt >= 5) throw error;
        await sleep(attempt * (10 + Math.random() * 40));
      }
    }
  }

  /**
   * Whether nothing of an earlier version can have been here: no topic, no registration, no levels
   * and no maintenance report (the scheduled maintenance function writes one every pass, even over
   * an empty store), beside the absent cluster id. Reads at most four items, once per cluster.
   */
  private async storeIsNew(): Promise<boolean> {
    const [topics, registrations] = await Promise.all([topicsPk, brokersPk].map((pk) => this.metadata.query(pk, { limit: 1 })));
    if (topics!.length > 0 || registrations!.length > 0) return false;
    const [levels, report] = await Promise.all([featuresKey, maintenanceReportKey].map((key) => this.metadata.get(key)));
    return levels === undefined && report === undefined;
  }
}

/** Every broker registration in the store, live or expired (one query). */
export async function readRegistrations(metadata: MetadataStore): Promise<Registration[]> {
  return (await metadata.query(brokersPk)).map(registrationFromItem);
}

function registrationFromItem(item: Item): Registration {
  const a = item.attrs;
  return {
    nodeId: Number(item.sk),
    host: a.host as string,
    port: a.port as number,
    rack: (a.rack as string | null) ?? null,
    owner: a.owner as string,
    expiresMs: a.expiresMs as number,
  };
}

function publicNode(broker: BrokerNode): BrokerNode {
  return { nodeId: broker.nodeId, host: broker.host, port: broker.port, rack: broker.rack };
}

/** A stable spread of partitions over brokers (FNV-1a). */
function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}
