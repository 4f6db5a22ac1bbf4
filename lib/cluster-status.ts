/**
 * The cluster at a glance, for the console's cluster page and `GET /v1/cluster`: the agents registered
 * (Kafka brokers: lib/kafka/cluster.ts), who leads which partitions, the last maintenance pass (its
 * report item: objects, rows and bytes stored, the bytes of each topic), and what this process's
 * storage calls cost in the last hour (lib/cost.ts).
 *
 * Cost of one answer: one query of the registrations, one read of the maintenance report, the topic
 * list, the feature levels (read at most every 30 s), and for leadership one read of each topic and
 * of each of its partitions, 8 topics at a time, whole topics up to `maxLeadershipPartitions`
 * partitions in all (a topic that does not fit is skipped; the answer says how many partitions it read). An answer is reused for `cacheMs` after it
 * was read, however many pages ask; callers meanwhile share one read.
 */
import pMap from 'p-map';
import type { CostEstimate, CostMeter } from './cost.js';
import { leaseHolds, type Log, type MaintenanceReport } from './log/index.js';
import { readRegistrations, type Registration } from './kafka/cluster.js';
import type { MetadataStore } from './storage/ports.js';

export interface ClusterStatus {
  /** This process's writer id (the owner its partition leases name). */
  readonly writerId: string;
  readonly nowMs: number;
  /** Registered agents, live ones first, by node id. */
  readonly agents: readonly (Registration & { readonly live: boolean; readonly partitionsLed: number })[];
  readonly leadership: {
    readonly partitions: number;
    /** Partition items read (all of them up to `maxLeadershipPartitions`). */
    readonly partitionsRead: number;
    /** Of those read, held under a live lease by each writer (by writer id), registered as an agent or not. */
    readonly byWriter: Readonly<Record<string, number>>;
    /** Of those read, with no live lease: idle (their next write takes one) or written by leaderless writers (Lambda). */
    readonly withoutLeader: number;
    /** Of those read, packed (packed commits: their newest offsets are in their packer's log, lib/log/packed.ts). */
    readonly packed: number;
  };
  /** The cluster's finalized feature levels (lib/log/features.ts; `spool.commit.version` 1: agents pack their commits). */
  readonly features: Readonly<Record<string, number>>;
  readonly maintenance: MaintenanceReport | undefined;
  /** This process's storage calls of the last hour at list prices; undefined where they are not counted. */
  readonly cost: CostEstimate | undefined;
}

export interface ClusterStatusOptions {
  readonly log: Log;
  readonly metadata: MetadataStore;
  readonly cost?: CostMeter;
  /** @default 2000 */
  readonly maxLeadershipPartitions?: number;
  /** @default 5000 */
  readonly cacheMs?: number;
  readonly now?: () => number;
}

/** A source of the status, reused for `cacheMs` after each read; concurrent callers share one read, and a failed read is not kept. */
export function clusterStatusSource(options: ClusterStatusOptions): () => Promise<ClusterStatus> {
  const now = options.now ?? Date.now;
  const cacheMs = options.cacheMs ?? 5000;
  let cached: { readonly atMs: number; readonly status: ClusterStatus } | undefined;
  let reading: Promise<ClusterStatus> | undefined;
  return () => {
    if (cached !== undefined && now() - cached.atMs < cacheMs) return Promise.resolve(cached.status);
    reading ??= readStatus(options, now)
      .then((status) => {
        cached = { atMs: now(), status };
        return status;
      })
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };
}

async function readStatus(options: ClusterStatusOptions, now: () => number): Promise<ClusterStatus> {
  const { log, metadata } = options;
  const maxPartitions = options.maxLeadershipPartitions ?? 2000;
  const [registrations, maintenance, topics, features] = await Promise.all([
    readRegistrations(metadata),
    log.maintenanceReport(),
    log.listTopics(),
    log.features.current(),
  ]);
  const nowMs = now();
  const partitions = topics.reduce((sum, topic) => sum + topic.partitions, 0);
  const readable: typeof topics = [];
  let budget = maxPartitions;
  for (const topic of topics) {
    if (topic.partitions > budget) continue;
    readable.push(topic);
    budget -= topic.partitions;
  }
  // A topic deleted meanwhile is not counted.
  const described = await pMap(readable, (topic) => log.describeTopic(topic.name).catch(() => undefined), { concurrency: 8 });
  const byWriter: Record<string, number> = {};
  let partitionsRead = 0;
  let withoutLeader = 0;
  let packed = 0;
  for (const state of described.flatMap((d) => d?.partitions ?? [])) {
    partitionsRead++;
    if (state.packedBy !== null) packed++;
    if (!leaseHolds(state, (nodeId) => registrations.find((r) => r.nodeId === nodeId), nowMs)) withoutLeader++;
    else byWriter[state.owner!] = (byWriter[state.owner!] ?? 0) + 1;
  }
  const agents = registrations
    .map((r) => ({ ...r, live: r.expiresMs > nowMs, partitionsLed: byWriter[r.owner] ?? 0 }))
    .sort((a, b) => Number(b.live) - Number(a.live) || a.nodeId - b.nodeId);
  return {
    writerId: log.writerId,
    nowMs,
    agents,
    leadership: { partitions, partitionsRead, byWriter, withoutLeader, packed },
    features: features.levels,
    maintenance,
    cost: options.cost?.lastHour(),
  };
}
