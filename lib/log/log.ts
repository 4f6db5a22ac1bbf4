/**
 * The log engine's façade: topics, produce, fetch, offsets and leadership over one pair of stores.
 * Everything a transport (HTTP, Kafka, Lambda) needs goes through here; it validates a whole request
 * before buffering any of it, so a request that fails writes nothing.
 */
import pMap from 'p-map';
import { describeValue, SpoolError } from '../errors.js';
import {
  encodeTxnMarker,
  partitionForKey,
  timestampWindow,
  validateAppend,
  type AppendSettings,
  type BatchHeader,
  type RecordHeader,
} from '../format/index.js';
import {
  defaultProducerIdExpirationMs,
  incrementSequence,
  ProducerIds,
  ProducerStates,
  type ProducerBatch,
  type ProducerState,
} from './idempotence.js';
import type { Stores } from '../storage/open.js';
import { ConditionFailedError } from '../storage/ports.js';
import { offsetSk, partitionKey, rowsPk } from '../keys.js';
import { ChunkCache } from './cache.js';
import { Committer, staleOperatorEpoch, type CommitChunk, type CommitOutcome } from './commit.js';
import { FeatureLevels, commitVersionFeature, packedCommitsLevel } from './features.js';
import { PackingWriter, packedCommitsByDefault, type PackedCommitsMode } from './packing.js';
import { producerStatesWithTail, readPackedPartition, unpackPartition, type TailChunk } from './packed.js';
import { readPackedCommits } from './writer-log.js';
import { batchRowFromItem, effectiveRows, partitionStateFromItem, type BatchRow, type PartitionState, type TopicItem } from './layout.js';
import { cleanupPolicy, type TopicConfig } from './topic-config.js';
import { LeadershipCache, type PartitionLeadership } from './leadership.js';
import { LeaseManager, type Lease, type WriterRegistration } from './leases.js';
import { Producer, recordSize, type Acks, type AppendRequest, type ProducerOptions } from './producer.js';
import { Reader, type FetchOptions, type FetchResult, type ReadBatchesResult, type ReadOptions, type TimestampedOffset } from './reader.js';
import { TopicRegistry, defaultTopicConfig, notFound, validatePartitionCount, type TopicChange } from './topics.js';
import { addActivity, emptyActivity, type Activity } from './activity.js';
import {
  Maintenance,
  readMaintenanceReport,
  type MaintenanceOptions,
  type MaintenanceReport,
  type MaintenanceResult,
} from './maintenance/index.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

export interface LogOptions {
  readonly stores: Stores;
  /** Create a topic on first produce to it. @default true */
  readonly autoCreateTopics?: boolean;
  /** Partitions of auto-created topics and of topics created without a count. @default 1 */
  readonly defaultPartitions?: number;
  /** Config of topics created without one. @default 7 days retention, no size limit, 1 MiB records */
  readonly topicDefaults?: Partial<TopicConfig>;
  readonly producer?: ProducerOptions;
  /** Bytes of recent chunks kept in memory for tail reads. @default 64 MiB */
  readonly cacheBytes?: number;
  /** Length of a partition lease of its own (one not on an agent's registration, leases.ts). @default 10 000 */
  readonly leaseMs?: number;
  /** How often lease rounds run (renewing own leases, releasing idle ones); 0: only on `leases.renewAll()`. @default leaseMs / 3 */
  readonly leaseRenewIntervalMs?: number;
  /** A partition lease not used for this long is released at its next round. @default 60 000 */
  readonly leaseIdleMs?: number;
  /** How often a partition someone long-polls is read for other writers' commits (once per partition, however many wait). @default 250 */
  readonly pollIntervalMs?: number;
  /** How long topic metadata is cached for produce. @default 2000 */
  readonly topicCacheMs?: number;
  /** Compaction, retention and garbage collection settings (see maintenance/context.ts). */
  readonly maintenance?: MaintenanceOptions;
  /**
   * Packed commits (packing.ts, docs/packed-commits.md): partitions whose leases ride on this writer's
   * registration are packed, and a flush's chunks of them commit as one item: always, never, or `'auto'`,
   * once the cluster's `spool.commit.version` is 1 (features.ts). @default packedCommitsByDefault ('auto')
   */
  readonly packedCommits?: PackedCommitsMode;
  /** How often a round turns the packed partitions' tails that are due into rows (packing.ts). @default 10 000 */
  readonly packedMaterializeMs?: number;
  /** A packed partition's tail is due once its oldest commit is this old, or it holds 1 MiB (packing.ts). @default 30 000 */
  readonly packedMaterializeAgeMs?: number;
  /**
   * How long a commit with no lease on a partition another writer packs waits for that writer to
   * leave it, once asked (leases.ts `unpackFor`): a busy packer leaves at its next commit, an idle one
   * within 5 s (it reads its fence every 5 s: packing.ts). @default 15 000
   */
  readonly packedLeaveWaitMs?: number;
  /** Kafka's producer.id.expiration.ms: an idempotent producer's state not written for this long is forgotten (idempotence.ts). @default 86 400 000 */
  readonly producerIdExpirationMs?: number;
  readonly logger?: Logger;
  /** Where the engine's metrics (commits, commit conflicts) go. @default none */
  readonly metrics?: Metrics;
  readonly now?: () => number;
}

export interface ProduceRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: readonly RecordHeader[];
  readonly timestampMs?: number;
  /** Explicit partition; otherwise murmur2(key) for keyed records, else the sticky partition. */
  readonly partition?: number;
}

export interface ProducedOffset {
  readonly partition: number;
  /** -1 with acks=0. */
  readonly offset: number;
}

export interface AppendedBatches {
  /** The offset of the first record; -1 with acks=0. */
  readonly baseOffset: number;
  /** The batches had been appended before (an idempotent producer's retry): the first offsets are answered again. */
  readonly duplicate: boolean;
  /** The time of append when the topic stores log-append time (Kafka's Produce answer), else -1. */
  readonly logAppendTimeMs: number;
}

/**
 * How a transport that serves transactions checks a transactional batch (lib/transactions, through
 * the Kafka listener): `verify` throws unless the producer's transaction (by its transactional id)
 * is open with the partition in it (TV2: adds it), as Kafka's partition leader asks its transaction
 * coordinator (KIP-890). Transports without it refuse transactional batches.
 */
export interface TransactionalAppend {
  readonly transactionalId: string;
  verify(topic: string, partition: number, producerId: number, producerEpoch: number): Promise<void>;
}

/** A transaction marker to write into a partition (lib/transactions writes them when a transaction ends). */
export interface TxnMarker {
  readonly topic: string;
  readonly partition: number;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly commit: boolean;
  /**
   * The coordinator's version of the decision (an integer: its state's version, lib/transactions): a
   * marker already written at this version or later is not written again. An operator's abort
   * (`abortTransaction`) writes at a fraction between the coordinator's (`operatorAbortVersion`).
   */
  readonly version: number;
  /** An operator's abort: refused at commit if the producer's epoch there has moved past the marker's (commit.ts ChunkMarker). */
  readonly operator?: { readonly tv2: boolean };
}

/** An operator's abort of a producer's open transaction on one partition (Kafka's WriteTxnMarkers from `Admin.abortTransaction`). */
export interface OperatorAbort {
  readonly producerId: number;
  readonly producerEpoch: number;
  /** The coordinator epoch the operator names (Kafka's; Spool's markers all carry 0). */
  readonly coordinatorEpoch: number;
  /** WriteTxnMarkers v2's transaction version: 2 (TV2) checks the epoch strictly, as Kafka's leader does. @default 0 */
  readonly transactionVersion?: number;
}

/**
 * The marker version of an operator's abort, given the producer's stored marker version on the
 * partition (-1: none): halfway between it and the next integer. Why that works:
 * - The coordinator's versions are integers (its state's version, bumped by one on every write), and
 *   for one producer id they only grow (a producer id belongs to one transactional id; a forgotten
 *   id that comes back gets a new producer id). The last coordinator marker on the partition was at
 *   m = floor(stored) (operators' aborts since then are fractions above it), so every marker the
 *   coordinator writes there later (the Prepare of the transaction open now, or of any later one)
 *   is at m + 1 or above.
 * - So the abort's version lies strictly above the stored one (it is written: writeMarkers and the
 *   commit skip a marker at or below the stored version) and strictly below any marker the
 *   coordinator will write for the producer (which is then not skipped against it, and closes
 *   whatever the producer wrote to the partition after the abort, as Kafka's would).
 * - A version is never used twice: each abort of the same partition halves the distance to m + 1,
 *   and a marker already at the version (a racing abort) is answered as written, not written again.
 * Undefined once the halving reaches the precision of a number (some fifty aborts of the partition
 * between two markers of the coordinator): the operator must let the coordinator end the transaction.
 */
export function operatorAbortVersion(stored: number): number | undefined {
  const next = Math.floor(stored) + 1;
  const version = (stored + next) / 2;
  return version > stored && version < next ? version : undefined;
}

export interface PartitionDescription extends PartitionState {
  readonly partition: number;
}

export type OffsetSpec = number | 'earliest' | 'latest';

/** What `listOffset` looks up. */
/** `last-stable`: the end a read_committed reader sees (Kafka's ListOffsets LATEST with isolation_level 1). */
export type OffsetQuery = 'earliest' | 'latest' | 'last-stable' | 'max-timestamp' | { readonly timestampMs: number };

/** The engine's parts: for lib/log and tests only; no transport reaches them (test/architecture.test.ts). */
export interface LogInternals {
  readonly options: LogOptions;
  readonly topics: TopicRegistry;
  readonly producer: Producer;
  readonly reader: Reader;
  readonly leases: LeaseManager;
  readonly leadership: LeadershipCache;
  readonly committer: Committer;
  readonly cache: ChunkCache;
  readonly maintenance: Maintenance;
  readonly producerStates: ProducerStates;
  readonly producerIds: ProducerIds;
  readonly packing: PackingWriter | undefined;
}

/** What a transport may know of how the engine was configured. */
export interface LogSettings {
  readonly autoCreateTopics: boolean;
  readonly defaultPartitions: number;
  /** The config of a topic created without one (Kafka's broker defaults, as DescribeConfigs shows them). */
  readonly topicDefaults: TopicConfig;
  /** Kafka's producer.id.expiration.ms (a broker config). */
  readonly producerIdExpirationMs: number;
}

/** Counters and gauges of this process's engine, read when metrics are scraped (lib/metrics-prometheus.ts). */
export interface LogStats {
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly flushes: number;
  readonly objectsPut: number;
  readonly bytesPut: number;
  readonly recordsCommitted: number;
  readonly leasesHeld: number;
  readonly maintenancePasses: number;
  /** The last maintenance pass this process ran (or joined), and when it ended. */
  readonly lastMaintenance: { readonly result: MaintenanceResult; readonly endedMs: number } | undefined;
}

export class Log {
  readonly settings: LogSettings;
  private readonly topics: TopicRegistry;
  private readonly producer: Producer;
  private readonly reader: Reader;
  private readonly leases: LeaseManager;
  private readonly leadership: LeadershipCache;
  private readonly committer: Committer;
  /** Packed commits, unless `packedCommits` is off (packing.ts): with `'auto'`, partitions are packed once `packingFinalized`. */
  private readonly packing: PackingWriter | undefined;
  /** Whether the cluster's `spool.commit.version` was seen at the packed level (it never goes down). */
  private packingAllowed = false;
  /** The cluster's finalized feature levels (features.ts): ApiVersions and UpdateFeatures use them too. */
  readonly features: FeatureLevels;
  /** Partitions let go when this writer's packing was fenced (their items may still name it): released on a graceful stop. */
  private readonly fencedLeases = new Map<string, { readonly id: string; readonly name: string; readonly partition: number }>();
  private readonly cache: ChunkCache;
  private readonly maintenance: Maintenance;
  private readonly producerStates: ProducerStates;
  private readonly producerIds: ProducerIds;
  private readonly autoCreate: boolean;
  private readonly defaultPartitions: number;
  private readonly topicCacheMs: number;
  private readonly now: () => number;
  private readonly topicCache = new Map<string, { topic: TopicItem; expiresMs: number }>();
  private readonly sticky = new Map<string, { partition: number; flush: number }>();
  private maintenancePasses = 0;
  /** The results of passes counted in `maintenancePasses`. */
  private readonly passesCounted = new WeakSet<MaintenanceResult>();
  private lastMaintenance: LogStats['lastMaintenance'];

  constructor(private readonly options: LogOptions) {
    const { metadata, objects } = options.stores;
    this.now = options.now ?? Date.now;
    this.autoCreate = options.autoCreateTopics ?? true;
    this.defaultPartitions = validatePartitionCount(options.defaultPartitions ?? 1, 'default partitions');
    this.topicCacheMs = options.topicCacheMs ?? 2000;
    this.cache = new ChunkCache(options.cacheBytes ?? 64 * 1024 * 1024);
    this.topics = new TopicRegistry(metadata, { defaultConfig: options.topicDefaults, now: this.now });
    this.features = new FeatureLevels(metadata, { now: this.now });
    this.reader = new Reader(metadata, objects, this.cache, {
      pollIntervalMs: options.pollIntervalMs,
      localCommits: (writerId, topicId, partition, afterSeq) => this.packing?.localCommits(writerId, topicId, partition, afterSeq),
      localEnd: (topicId, partition) => this.packing?.endOf(topicId, partition),
    });
    const producerIdExpirationMs = options.producerIdExpirationMs ?? defaultProducerIdExpirationMs;
    this.producerStates = new ProducerStates(metadata, {
      now: this.now,
      expirationMs: producerIdExpirationMs,
      readState: (topicId, partition, producerId) =>
        this.packing?.packs(topicId, partition) ? this.packing.producerState(topicId, partition, producerId) : undefined,
      // (a packed partition's end is past its item's: it has held records if its tail has any)
      partitionEnd: async (topicId, partition) =>
        (await readPackedPartition(metadata, topicId, partition, this.packedCommitsOf(topicId, partition)))?.state.nextOffset,
    });
    this.producerIds = new ProducerIds(metadata);
    this.committer = new Committer(metadata, {
      now: this.now,
      metrics: options.metrics,
      producerStates: this.producerStates,
      leaseExtensionMs: () => this.leases.commitExtensionMs,
      onFenced: (topicId, partition, epoch) => {
        this.leases.fenced(topicId, partition, epoch);
        this.leadership.forget(topicId);
      },
      onCommitted: (topicId, partition, _nextOffset, lease) => {
        this.reader.notify(topicId, partition);
        if (lease) this.leases.extendedByCommit(topicId, partition, lease);
      },
    });
    // Writers must commit within the bound the garbage collector assumes (half its grace period).
    const maxCommitAgeMs = options.maintenance?.maxCommitAgeMs ?? (options.maintenance?.gcGraceMs ?? 3_600_000) / 2;
    this.producer = new Producer(objects, { commit: (chunks, commitOptions) => this.commitChunks(chunks, commitOptions) }, this.cache, {
      now: this.now,
      maxCommitAgeMs,
      ...options.producer,
    });
    const packedCommits = options.packedCommits ?? packedCommitsByDefault;
    this.packing =
      packedCommits !== false
        ? new PackingWriter(metadata, this.producer.writerId, () => this.leases.registrationNode, {
            now: this.now,
            producerStates: this.producerStates,
            materializeMs: options.packedMaterializeMs,
            materializeAgeMs: options.packedMaterializeAgeMs,
            producerIdExpirationMs,
            onCommitted: (topicId, partition) => this.reader.notify(topicId, partition),
            metrics: options.metrics,
            merge: {
              readChunk: async (objectKey, position, sizeBytes) =>
                this.cache.get(objectKey, position, sizeBytes) ?? objects.get(objectKey, { offset: position, length: sizeBytes }),
              upload: (runs, createdMs) => this.producer.uploadChunks(runs, createdMs),
              remember: (objectKey, position, bytes) => this.cache.set(objectKey, position, bytes),
              maxCommitAgeMs,
            },
            // Fenced: every partition it packed is let go. Those no one took (its registration was renewed
            // in time) still name this writer: its clients' next write takes each again (leases.ts: its
            // old commits become rows first), and a graceful stop takes and releases them (`fencedLeases`).
            onFenced: (lost) => {
              for (const { topicId, topicName, partition, epoch } of lost) {
                this.leases.fenced(topicId, partition, epoch);
                this.leadership.forget(topicId);
                this.fencedLeases.set(`${topicId}#${partition}`, { id: topicId, name: topicName, partition });
              }
            },
          })
        : undefined;
    this.maintenance = new Maintenance(options.stores, this.topics, {
      ...options.maintenance,
      maxCommitAgeMs,
      producerIdExpirationMs,
      now: this.now,
      logger: options.logger,
    });
    // The lease fields only: one read of the partition item, packed or not (a packed one's tail is not needed).
    const leaseFields = async (topic: TopicItem, partition: number): Promise<PartitionState> => {
      const item = await metadata.get(partitionKey(topic.id, partition));
      if (item === undefined) throw new SpoolError('PARTITION_NOT_FOUND', `topic ${topic.name} has no partition ${partition}`);
      return partitionStateFromItem(item);
    };
    this.leadership = new LeadershipCache(metadata, leaseFields, { now: this.now });
    this.leases = new LeaseManager(metadata, {
      owner: this.producer.writerId,
      leaseMs: options.leaseMs,
      renewIntervalMs: options.leaseRenewIntervalMs,
      idleMs: options.leaseIdleMs,
      now: this.now,
      onHandsChanged: (topic) => void this.leadership.changed(topic),
      onHandsSeen: (topicId) => this.leadership.forget(topicId),
      ...(this.packing
        ? {
            packer: () => this.packing?.writerId,
            mayPack: () => (packedCommits === true ? true : this.packingFinalized()),
            packedSeq: () => this.packing?.lastSeq ?? 0,
            onPacked: (lease, end, packer) => this.adoptPacked(lease, end, packer),
            packs: (topicId, partition) => this.packing?.packs(topicId, partition) ?? false,
            onPackedFound: async (lease, packer) => {
              const read = await readPackedPartition(metadata, lease.topicId, lease.partition);
              if (read) this.adoptPacked(lease, read.state.nextOffset, packer, read.tail);
            },
            beforeRelease: (topicId, partition) => this.packing?.leave(topicId, partition) ?? Promise.resolve(),
          }
        : {}),
    });
    this.settings = {
      autoCreateTopics: this.autoCreate,
      defaultPartitions: this.defaultPartitions,
      topicDefaults: { ...defaultTopicConfig, ...options.topicDefaults },
      producerIdExpirationMs,
    };
  }

  get internals(): LogInternals {
    const { options, topics, producer, reader, leases, leadership, committer, cache, maintenance, producerStates, producerIds, packing } =
      this;
    return { options, topics, producer, reader, leases, leadership, committer, cache, maintenance, producerStates, producerIds, packing };
  }

  // ---- topics -------------------------------------------------------------------------------------

  topic(name: string): Promise<TopicItem | undefined> {
    return this.topics.get(name);
  }

  /** The topic, or TOPIC_NOT_FOUND. */
  requireTopic(name: string): Promise<TopicItem> {
    return this.topics.require(name);
  }

  listTopics(): Promise<TopicItem[]> {
    return this.topics.list();
  }

  async createTopic(name: string, partitions = this.defaultPartitions, config: Partial<TopicConfig> = {}): Promise<TopicItem> {
    const topic = await this.topics.create(name, partitions, config);
    this.topicCache.delete(name);
    return topic;
  }

  async alterTopic(name: string, change: TopicChange): Promise<TopicItem> {
    this.topicCache.delete(name);
    try {
      return await this.topics.alter(name, change);
    } finally {
      this.topicCache.delete(name); // a read while it was written may have cached the topic as it was
    }
  }

  async deleteTopic(name: string): Promise<void> {
    this.topicCache.delete(name);
    const topic = await this.topics.delete(name);
    for (let partition = 0; partition < topic.partitions; partition++) this.committer.forget(topic.id, partition);
  }

  /**
   * Each partition's lease fields (who leads it, in which epoch, until when), in partition order,
   * without reading every partition item each time: cached, and checked against `topic` as the caller
   * read it (leadership.ts). For Kafka's Metadata; offsets come from describeTopic.
   */
  partitionLeadership(topic: TopicItem): Promise<PartitionLeadership[]> {
    return this.leadership.of(topic);
  }

  async describeTopic(name: string): Promise<{ topic: TopicItem; partitions: PartitionDescription[] }> {
    const topic = await this.topics.require(name);
    const partitions = await Promise.all(
      Array.from({ length: topic.partitions }, async (_, partition) => ({ partition, ...(await this.reader.state(topic, partition)) })),
    );
    return { topic, partitions };
  }

  // ---- produce ------------------------------------------------------------------------------------

  /**
   * Appends records and returns, in request order, each record's partition and offset. The whole
   * request is validated first and committed together: all of it or none of it becomes visible.
   */
  async produce(topicName: string, records: readonly ProduceRecord[], options: { acks?: Acks } = {}): Promise<ProducedOffset[]> {
    if (records.length === 0) return [];
    // A topic to be auto-created is created only for a request it would accept.
    const nowMs = this.now();
    const topic = await this.topicForProduce(topicName, (shape) => checkRecords(shape, records, nowMs));
    checkRecords(topic, records, nowMs);
    // As Kafka: with LogAppendTime every record carries the time of append, whatever it was sent with.
    const logAppendTime = topic.config['message.timestamp.type'] === 'LogAppendTime';
    const byPartition = new Map<number, { indexes: number[]; records: (ProduceRecord & { timestampMs: number })[] }>();
    records.forEach((record, index) => {
      const partition = this.choosePartition(topic, record);
      let group = byPartition.get(partition);
      if (!group) byPartition.set(partition, (group = { indexes: [], records: [] }));
      group.indexes.push(index);
      group.records.push({ ...record, timestampMs: logAppendTime ? nowMs : (record.timestampMs ?? nowMs) });
    });
    const groups = [...byPartition.entries()];
    const requests: AppendRequest[] = groups.map(([partition, group]) => ({
      topic,
      partition,
      payload: { kind: 'records', records: group.records, timestampType: logAppendTime ? 'log-append' : 'create' },
      leaderEpoch: this.leases.epochFor(topic.id, partition),
    }));
    const acks = options.acks ?? 'all';
    const bases = await this.producer.appendAll(requests, acks).catch((error) => {
      if (error instanceof SpoolError && error.code === 'TOPIC_NOT_FOUND') this.topicCache.delete(topicName);
      throw error;
    });
    const out: ProducedOffset[] = new Array(records.length);
    groups.forEach(([partition, group], g) => {
      for (const [i, index] of group.indexes.entries()) out[index] = { partition, offset: acks === 0 ? -1 : bases[g]! + i };
    });
    return out;
  }

  /**
   * Appends a record batch as a client sent it (Kafka Produce): validated and normalised as Kafka's
   * broker does (format/log-validator.ts: one batch, CRC, counts, timestamps against the topic's
   * message.timestamp.* settings; the header's timestamp fields set from the records), stored as
   * validated, acknowledged with its base offset. An idempotent producer's batch that was already
   * appended answers its first offset again and is not appended twice; a gap in its sequence is
   * refused (idempotence.ts). Resolves once the batch is accepted (buffered, in call order); `done`
   * once it is committed.
   */
  async appendBatches(
    topicName: string,
    partition: number,
    bytes: Buffer,
    options: { acks?: Acks; asLeader?: boolean; transaction?: TransactionalAppend } = {},
  ): Promise<{ done: Promise<AppendedBatches>; records: number }> {
    const topic = await this.topicForProduce(topicName);
    checkPartition(topic, partition);
    // A transport that writes only as leader (Kafka) holds the partition's lease, taking it when free;
    // NOT_LEADER when another live writer holds it.
    if (options.asLeader && this.leases.epochFor(topic.id, partition) === undefined) await this.leases.acquire(topic, partition);
    const batch = validateAppend(bytes, appendSettings(topic.config, this.now()));
    const { header } = batch;
    const acks = options.acks ?? 'all';
    let producer = idempotentBatch(header);
    if (producer) producer = await this.checkTransactional(topic, partition, producer, header, options.transaction);
    let settle: ((baseOffset: Promise<number>) => void) | undefined;
    if (producer) {
      const check = await this.producerStates.accept(topic.id, partition, producer, `${topic.name}/${partition}`);
      if (check.verdict.kind === 'refuse') throw check.verdict.error;
      if (check.verdict.kind === 'duplicate') {
        return {
          done: Promise.resolve(check.verdict.baseOffset).then((baseOffset) => ({
            baseOffset,
            duplicate: true,
            logAppendTimeMs: batch.logAppendTimeMs,
          })),
          records: 0,
        };
      }
      settle = check.settle;
    }
    // Nothing waits between here and appendAll buffering the batch: a caller that awaits this method
    // before its next append (as the Kafka listener does per connection) is buffered in its order.
    await this.producer.whenAccepting();
    const appended = this.producer
      .appendAll(
        [
          {
            topic,
            partition,
            payload: { kind: 'batches', bytes: batch.bytes, recordCount: header.recordCount, maxTimestampMs: header.maxTimestampMs },
            leaderEpoch: this.leases.epochFor(topic.id, partition),
            producer,
          },
        ],
        // An idempotent batch waits for its commit even with acks=0: its offset is what a retry is answered with.
        producer ? 'all' : acks,
      )
      .then((bases) => bases[0]!);
    settle?.(appended);
    const done = appended.then(
      (baseOffset) => ({ baseOffset: acks === 0 ? -1 : baseOffset, duplicate: false, logAppendTimeMs: batch.logAppendTimeMs }),
      (error: unknown) => {
        if (error instanceof SpoolError && error.code === 'TOPIC_NOT_FOUND') this.topicCache.delete(topicName);
        throw error;
      },
    );
    return { done, records: header.recordCount };
  }

  /**
   * A transactional batch must belong to its producer's open transaction: open on this partition
   * already (its state, read afresh, has the transaction's first offset, same epoch), or checked by
   * the transport (`transaction.verify`). The batch carries the marker version it was checked under, and its
   * commit is refused if a marker was written since (commit.ts). A non-transactional batch of a
   * producer with a transaction open, or a transactional batch of it pending, is refused, as in Kafka.
   */
  private async checkTransactional(
    topic: TopicItem,
    partition: number,
    producer: ProducerBatch,
    header: BatchHeader,
    transaction: TransactionalAppend | undefined,
  ): Promise<ProducerBatch> {
    const where = `${topic.name}/${partition}`;
    const openOn = (stored: ProducerState | null) => {
      const live = this.producerStates.live(stored);
      return live?.txnFirstOffset !== undefined && live.producerEpoch === producer.producerEpoch;
    };
    let stored = await this.producerStates.load(topic.id, partition, producer.producerId);
    if (!header.isTransactional) {
      if (
        this.producerStates.live(stored)?.txnFirstOffset !== undefined ||
        this.producerStates.transactionalPending(topic.id, partition, producer.producerId)
      )
        throw new SpoolError(
          'INVALID_TXN_STATE',
          `producer ${producer.producerId} has a transaction open on ${where}: a non-transactional batch is refused until it ends`,
        );
      return producer;
    }
    if (transaction === undefined)
      throw new SpoolError('INVALID_RECORD', 'transactional batches are only accepted over the Kafka protocol, with a transactional id');
    // Read afresh (one consistent read; not while its earlier batches are pending here): the leader of
    // a partition is rarely the agent that wrote the last marker, and a stale view would cost the
    // client a refused batch and a retry at every transaction's first batch.
    stored = await this.producerStates.fresh(topic.id, partition, producer.producerId);
    if (!openOn(stored)) await transaction.verify(topic.name, partition, producer.producerId, producer.producerEpoch);
    // The marker version as stored, expired or not: the commit compares it with the item as it is (commit.ts).
    return { ...producer, transaction: { markerVersion: stored?.markerVersion ?? -1 } };
  }

  /**
   * Writes transaction markers (control batches) into their partitions: one segment object for all
   * of them, then one commit per partition, each moving the producer's state, the partition's open
   * transactions and last stable offset, and (an abort) its aborted-transaction entry in the same
   * transaction (commit.ts). Idempotent: a marker already written at its version, by any writer, is
   * not written again. Throws a retriable error if some could not be written (the caller tries
   * again); a partition whose topic is gone needs no marker.
   */
  async writeMarkers(markers: readonly TxnMarker[]): Promise<void> {
    const pending: { marker: TxnMarker; topic: TopicItem }[] = [];
    for (const marker of markers) {
      const topic = await this.topics.get(marker.topic);
      if (topic === undefined || marker.partition >= topic.partitions) continue;
      const state = await this.producerStates.load(topic.id, marker.partition, marker.producerId);
      if ((state?.markerVersion ?? -1) < marker.version) pending.push({ marker, topic });
    }
    if (pending.length === 0) return;
    const nowMs = this.now();
    const { chunks, bytesByChunk } = await this.producer.uploadChunks(
      pending.map(({ marker, topic }) => ({
        topic,
        partition: marker.partition,
        bytes: encodeTxnMarker({ ...marker, coordinatorEpoch: 0, timestampMs: nowMs }),
        recordCount: 1,
        maxTimestampMs: nowMs,
      })),
      nowMs,
    );
    const outcomes = await this.commitChunks(
      chunks.map((chunk, index) => {
        const { producerId, producerEpoch, commit, version, operator } = pending[index]!.marker;
        return { ...chunk, marker: { producerId, producerEpoch, commit, version, ...(operator ? { operator } : {}) } };
      }),
      { notAfterMs: this.producer.commitDeadlineMs(nowMs) },
    );
    const failed = outcomes.flatMap((outcome, index) => {
      if (outcome.ok) {
        if (!outcome.repeated) this.cache.set(chunks[index]!.objectKey, chunks[index]!.position, Buffer.from(bytesByChunk[index]!));
        return [];
      }
      return outcome.error.code === 'TOPIC_NOT_FOUND' ? [] : [outcome.error];
    });
    // A refusal (an operator's stale abort) is answered as itself; anything else is for the caller to try again.
    const refusal = failed.find((error) => !error.retriable);
    if (refusal) throw refusal;
    if (failed.length > 0)
      throw new SpoolError(
        'STORAGE_UNAVAILABLE',
        `${failed.length} of ${pending.length} transaction markers were not written: ${failed[0]!.message}`,
        {
          retriable: true,
          cause: failed[0],
        },
      );
  }

  /**
   * An operator's abort of a producer's transaction on one partition: Kafka's partition leader
   * appending the ABORT marker of a WriteTxnMarkers request (`kafka-transactions.sh abort`, KIP-664),
   * with its checks, in its order. An epoch older than the producer's on the partition is
   * INVALID_PRODUCER_EPOCH (TV2: one not newer, unless it is the same and nothing is open); a
   * coordinator epoch older than the last marker's (0 for every marker Spool writes, -1 before any)
   * TRANSACTION_COORDINATOR_FENCED. Otherwise the marker is written, as Kafka writes it whatever the
   * producer's state: it closes the open transaction if there is one (its records are aborted, the
   * last stable offset moves past them), else closes nothing, and moves the producer to the
   * request's epoch if that is newer. The coordinator's state is left alone: the producer may go on
   * writing to the partition, and its transaction's own end closes what it writes after the abort,
   * as in Kafka. Answers whether a marker was written (or found written at its version by a racing
   * abort); none is when the marker versions between the coordinator's are used up and a marker
   * would change nothing.
   */
  async abortTransaction(topicName: string, partition: number, request: OperatorAbort): Promise<{ readonly written: boolean }> {
    const { producerId, producerEpoch, coordinatorEpoch } = request;
    // Kafka answers these UNKNOWN_SERVER_ERROR (it cannot build the marker); they are bad input.
    if (!Number.isSafeInteger(producerId) || producerId < 0)
      throw new SpoolError('INVALID_ARGUMENT', `the producer id must be an integer >= 0, got ${describeValue(producerId)}`);
    if (!Number.isInteger(producerEpoch) || producerEpoch < 0 || producerEpoch > 0x7fff)
      throw new SpoolError('INVALID_ARGUMENT', `the producer epoch must be an integer in [0, 32767], got ${describeValue(producerEpoch)}`);
    const topic = await this.requirePartition(topicName, partition);
    const where = `${topic.name}/${partition}`;
    const details = { topic: topic.name, partition, producer_id: producerId };
    const stored = await this.producerStates.fresh(topic.id, partition, producerId);
    const live = this.producerStates.live(stored);
    const currentEpoch = live?.producerEpoch ?? -1;
    const open = live?.txnFirstOffset !== undefined;
    const tv2 = (request.transactionVersion ?? 0) >= 2;
    if (live && staleOperatorEpoch(producerEpoch, live, tv2))
      throw new SpoolError(
        'INVALID_PRODUCER_EPOCH',
        `the epoch of producer ${producerId} on ${where} is ${currentEpoch}; an abort with epoch ${producerEpoch} is stale`,
        { details },
      );
    const lastCoordinatorEpoch = live?.markerVersion === undefined ? -1 : 0;
    if (coordinatorEpoch < lastCoordinatorEpoch)
      throw new SpoolError(
        'TRANSACTION_COORDINATOR_FENCED',
        `the last marker of producer ${producerId} on ${where} has coordinator epoch ${lastCoordinatorEpoch}; ${coordinatorEpoch} is older`,
        { details },
      );
    // The stored version, expired or not: writeMarkers and the commit compare with the item as it is.
    const version = operatorAbortVersion(stored?.markerVersion ?? -1);
    if (version === undefined) {
      if (!open && producerEpoch <= currentEpoch) return { written: false };
      throw new SpoolError(
        'INVALID_TXN_STATE',
        `producer ${producerId} was aborted on ${where} too many times since its coordinator's last marker; let the coordinator end its transaction`,
        { details },
      );
    }
    await this.writeMarkers([{ topic: topic.name, partition, producerId, producerEpoch, commit: false, version, operator: { tv2 } }]);
    return { written: true };
  }

  // ---- fetch --------------------------------------------------------------------------------------

  async fetch(topicName: string, partition: number, offset: OffsetSpec, options: FetchOptions = {}): Promise<FetchResult> {
    return this.reading(topicName, partition, async (topic) =>
      this.reader.fetch(topic, partition, await this.resolveOffset(topic, partition, offset), options),
    );
  }

  async readBatches(topicName: string, partition: number, offset: number, options: ReadOptions = {}): Promise<ReadBatchesResult> {
    return this.reading(topicName, partition, (topic) => this.reader.readBatches(topic, partition, offset, options));
  }

  /**
   * Waits until any of the partitions may hold records past its offset (see Reader.waitForAny), for
   * at most `waitMs`: true if there is news, false if the wait ended without. Partitions that do not
   * exist are not waited on (news: the caller reads again and meets the error).
   */
  async waitForRecords(
    targets: readonly { topic: string; partition: number; offset: number }[],
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const known = await Promise.all(
      targets.map(async ({ topic, partition, offset }) => ({
        topic: await this.requirePartition(topic, partition).catch(() => undefined),
        partition,
        offset,
      })),
    );
    const waits = known.filter((target): target is { topic: TopicItem; partition: number; offset: number } => target.topic !== undefined);
    if (waits.length < known.length) return true;
    return this.reader.waitForAny(waits, waitMs, signal);
  }

  /**
   * An offset of the partition, as Kafka's ListOffsets answers it: `earliest` (the log start),
   * `latest` (the high watermark), `max-timestamp` (the record with the largest timestamp), or
   * `{ timestampMs }` (the first record at or after that time). The timestamp is the record's, or
   * -1 for earliest and latest; undefined when no record matches.
   */
  async listOffset(topicName: string, partition: number, query: OffsetQuery): Promise<TimestampedOffset | undefined> {
    return this.reading(topicName, partition, async (topic) => {
      if (query === 'earliest' || query === 'latest') return { offset: await this.resolveOffset(topic, partition, query), timestampMs: -1 };
      if (query === 'last-stable') return { offset: (await this.reader.state(topic, partition)).lastStableOffset, timestampMs: -1 };
      if (query === 'max-timestamp') return this.reader.maxTimestampOffset(topic, partition);
      return this.reader.offsetForTimestamp(topic, partition, query.timestampMs);
    });
  }

  /** The valid offsets of a partition, in one consistent read: [earliest, latest], and the last stable offset. */
  async offsetRange(topicName: string, partition: number): Promise<{ earliest: number; latest: number; lastStable: number }> {
    return this.reading(topicName, partition, async (topic) => {
      const state = await this.reader.state(topic, partition);
      return { earliest: state.logStartOffset, latest: state.nextOffset, lastStable: state.lastStableOffset };
    });
  }

  /** Where segment objects are stored (the object store's URL): DescribeLogDirs' one log dir. */
  get storageUrl(): string {
    return this.options.stores.objects.url;
  }

  /**
   * The stored bytes of a partition's readable records: the sizes of its rows not wholly below the log
   * start, from one query of the row items (no object is read). Rows below the start still awaiting
   * retention's deletion are not counted.
   */
  async partitionSizeBytes(topicName: string, partition: number): Promise<number> {
    return this.reading(topicName, partition, async (topic) => {
      const state = await this.reader.state(topic, partition);
      const rows = (await this.options.stores.metadata.query(rowsPk(topic.id, partition))).map(batchRowFromItem);
      return effectiveRows(rows)
        .live.filter((row) => row.baseOffset + row.recordCount > state.logStartOffset && row.baseOffset < state.nextOffset)
        .reduce((bytes, row) => bytes + row.sizeBytes, 0);
    });
  }

  /**
   * What was committed to a topic per time step since `fromMs` (activity.ts): per partition, its rows
   * newest first, a page at a time, until one committed before the window; `maxPartitions` partitions
   * at most (the lowest), 8 at a time.
   */
  async topicActivity(
    topicName: string,
    window: { readonly fromMs: number; readonly stepMs: number; readonly steps: number; readonly maxPartitions: number },
  ): Promise<Activity & { readonly partitionsRead: number; readonly partitions: number }> {
    const topic = await this.topics.require(topicName);
    const activity = emptyActivity(window.fromMs, window.stepMs, window.steps);
    const partitionsRead = Math.min(topic.partitions, window.maxPartitions);
    const pageRows = 200;
    await pMap(
      Array.from({ length: partitionsRead }, (_, partition) => partition),
      async (partition) => {
        const rows: BatchRow[] = [];
        let to: string | undefined;
        for (;;) {
          const page = (await this.options.stores.metadata.query(rowsPk(topic.id, partition), { reverse: true, limit: pageRows, to })).map(
            batchRowFromItem,
          );
          rows.push(...page);
          const oldest = page.at(-1);
          if (page.length < pageRows || oldest === undefined || oldest.committedMs < window.fromMs || oldest.baseOffset === 0) break;
          to = offsetSk(oldest.baseOffset - 1);
        }
        addActivity(activity, effectiveRows(rows.reverse()).live);
      },
      { concurrency: 8 },
    );
    return { ...activity, partitionsRead, partitions: topic.partitions };
  }

  /**
   * Kafka's DeleteRecords: raises the partition's log start offset to `beforeOffset` (or to the high
   * watermark), after which the offsets below it are out of range for every reader. The write is
   * conditional on the start offset as read, so it never lowers it (a racing raise wins or is retried
   * against), and it never touches nextOffset, so it cannot collide with a commit (commit.ts) nor let
   * an offset be assigned twice. Rows below the new start are deleted by retention's next pass.
   * Answers the log start after the call: the low watermark.
   */
  async deleteRecordsBefore(
    topicName: string,
    partition: number,
    beforeOffset: number | 'high-watermark',
  ): Promise<{ logStartOffset: number }> {
    return this.reading(topicName, partition, async (topic) => {
      for (let attempt = 0; ; attempt++) {
        const state = await this.reader.state(topic, partition);
        const target = beforeOffset === 'high-watermark' ? state.nextOffset : beforeOffset;
        if (!Number.isSafeInteger(target) || target < 0 || target > state.nextOffset) {
          throw new SpoolError(
            'OFFSET_OUT_OF_RANGE',
            `cannot delete records of ${topic.name}/${partition} before offset ${describeValue(beforeOffset)}: the high watermark is ${state.nextOffset}`,
            { details: { topic: topic.name, partition, earliest_offset: state.logStartOffset, high_watermark: state.nextOffset } },
          );
        }
        if (target <= state.logStartOffset) return { logStartOffset: state.logStartOffset };
        // A packed partition's end is past its rows (packed.ts): its tail becomes rows first, so the
        // log start stays within them (anyone may unpack a writer's landed commits), and the raise is
        // conditional on the rows' end as read.
        let rowsEnd: number | undefined;
        if (state.packedBy !== null) {
          const unpacked = await unpackPartition(this.options.stores.metadata, topic.id, partition, state.packedBy, { nowMs: this.now });
          if (unpacked === undefined || target > unpacked.nextOffset) {
            if (attempt >= 4)
              throw new SpoolError('STORAGE_UNAVAILABLE', `${topic.name}/${partition}: its rows kept moving; try again`, {
                retriable: true,
              });
            continue;
          }
          rowsEnd = unpacked.nextOffset;
        }
        try {
          await this.options.stores.metadata.write({
            kind: 'update',
            key: partitionKey(topic.id, partition),
            set: { logStartOffset: target },
            condition: {
              kind: 'match',
              fields: { logStartOffset: state.logStartOffset, ...(rowsEnd === undefined ? { packedBy: null } : { nextOffset: rowsEnd }) },
            },
          });
          this.reader.forget(topic.id, partition);
          return { logStartOffset: target };
        } catch (error) {
          // Another raise (retention, a racing delete) or the partition's deletion: read again.
          if (!(error instanceof ConditionFailedError) || attempt >= 4) throw error;
        }
      }
    });
  }

  // ---- leadership ---------------------------------------------------------------------------------

  /** This process's writer identity: the owner of the leases it holds (partitions here; brokers and group coordination in lib/kafka). */
  get writerId(): string {
    return this.producer.writerId;
  }

  /** How long a lease lasts unless renewed. */
  get leaseMs(): number {
    return this.leases.leaseMs;
  }

  /**
   * Partition leases taken from now on ride on this agent's registration (lib/kafka/cluster.ts): held
   * while it lives, with no write per lease (leases.ts). `registration` gives it as it is now.
   */
  leaseOnRegistration(registration: () => WriterRegistration | undefined): void {
    this.leases.rideOn(registration);
  }

  /** The writer `owner` is known to have stopped (an agent restarted in its place): its partition leases are taken over without waiting for them to expire. */
  writerGone(owner: string): void {
    this.leases.ownerGone(owner);
  }

  async acquireLeadership(topicName: string, partition: number): Promise<Lease> {
    const topic = await this.requirePartition(topicName, partition);
    return this.leases.acquire(topic, partition);
  }

  /**
   * The idempotent producers with live (unexpired) state on a partition (Kafka's DescribeProducers):
   * each one's epoch, the last sequence it committed and when (-1: before expiry existed), and the
   * first offset of its open transaction (-1: none), by producer id.
   */
  async producers(
    topicName: string,
    partition: number,
  ): Promise<
    {
      readonly producerId: number;
      readonly producerEpoch: number;
      readonly lastSequence: number;
      readonly lastWriteMs: number;
      readonly coordinatorEpoch: number;
      readonly currentTxnStartOffset: number;
    }[]
  > {
    return this.reading(topicName, partition, async (topic) =>
      (
        await producerStatesWithTail(
          this.options.stores.metadata,
          topic.id,
          partition,
          () => this.producerStates.list(topic.id, partition),
          this.packedCommitsOf(topic.id, partition),
          this.producerStates.expirationMs,
        )
      )
        .filter(({ state }) => this.producerStates.live(state) !== null)
        .map(({ producerId, state }) => ({
          producerId,
          producerEpoch: state.producerEpoch,
          lastSequence: state.batches.at(-1)?.lastSequence ?? -1,
          lastWriteMs: state.lastWriteMs ?? -1,
          // Kafka's: the coordinator epoch of the producer's last marker, -1 before any; Spool's markers all carry 0.
          coordinatorEpoch: state.markerVersion === undefined ? -1 : 0,
          currentTxnStartOffset: state.txnFirstOffset ?? -1,
        }))
        .sort((a, b) => a.producerId - b.producerId),
    );
  }

  /** A new idempotent producer's id (Kafka's InitProducerId), unique across every writer. */
  allocateProducerId(): Promise<number> {
    return this.producerIds.allocate();
  }

  /** Commits everything accepted so far (a Lambda invocation's end). */
  flush(): Promise<void> {
    return this.producer.flush();
  }

  /**
   * One maintenance pass (compaction, retention, garbage collection); joins a pass already running,
   * or with `startAfterCall` waits for it and gets the next (Maintenance.run).
   */
  runMaintenance(options: { readonly startAfterCall?: boolean } = {}): Promise<MaintenanceResult> {
    return this.maintenance.run(options).then((result) => {
      // Callers of one pass get the same result: counted once. A pass stopped by shutdown is counted, but not kept as the last.
      if (!this.passesCounted.has(result)) {
        this.passesCounted.add(result);
        this.maintenancePasses++;
        if (!result.stopped) this.lastMaintenance = { result, endedMs: this.now() };
      }
      return result;
    });
  }

  /** The last maintenance pass of any agent or Lambda on these stores (one read). */
  maintenanceReport(): Promise<MaintenanceReport | undefined> {
    return readMaintenanceReport(this.options.stores.metadata);
  }

  get stats(): LogStats {
    const { cache, producer, leases } = this;
    return {
      cacheHits: cache.stats.hits,
      cacheMisses: cache.stats.misses,
      flushes: producer.stats.flushes,
      objectsPut: producer.stats.objectsPut,
      bytesPut: producer.stats.bytesPut,
      recordsCommitted: producer.stats.recordsCommitted,
      leasesHeld: leases.heldCount,
      maintenancePasses: this.maintenancePasses,
      lastMaintenance: this.lastMaintenance,
    };
  }

  /**
   * Commits what was accepted, then gives up every partition lease (an agent leaving the cluster,
   * before its registration goes): writes after it commit leaderless, so no successor fences them.
   */
  async releaseLeadership(): Promise<void> {
    await this.producer.flush().catch(() => undefined); // what fails here fails for its producers, as under a takeover
    await this.releaseFencedLeases();
    await this.leases.releaseAll();
  }

  /** Flushes and commits everything accepted, stops a maintenance pass at its next safe point, releases leases. The stores stay open. */
  async close(): Promise<void> {
    this.maintenance.stop(); // a running pass ends at its next safe point, within one step
    this.packing?.close(); // (releasing the leases below leaves every packed partition)
    await this.producer.close();
    await this.maintenance.settled();
    await this.releaseFencedLeases();
    await this.leases.releaseAll();
    await this.leadership.settled();
  }

  // ---- helpers ------------------------------------------------------------------------------------

  /**
   * Whether takes may pack (`packedCommits: 'auto'`): once the cluster's `spool.commit.version` is read
   * at 1. Read at most every 30 s by the takes that ask, none once seen (levels only rise); a failed
   * read packs nothing.
   */
  private async packingFinalized(): Promise<boolean> {
    if (!this.packingAllowed) this.packingAllowed = (await this.features.level(commitVersionFeature).catch(() => 0)) >= packedCommitsLevel;
    return this.packingAllowed;
  }

  /** A packed partition's commits after a sequence number: this writer's own from memory (packing.ts), another writer's read from its log. */
  private packedCommitsOf(topicId: string, partition: number) {
    return async (writerId: string, afterSeq: number) =>
      this.packing?.localCommits(writerId, topicId, partition, afterSeq) ??
      readPackedCommits(this.options.stores.metadata, writerId, afterSeq);
  }

  /**
   * A partition this writer's lease take packed under `packer`: adopted if that is still its packing
   * writer id, with `tail` (its commits not yet rows) and its producers' cached states dropped (they
   * may predate other writers' commits: read again, through the tail). Under an id fenced since: false
   * (leases.ts takes it again, unpacking that id's commits first).
   */
  private adoptPacked(lease: Lease, end: number, packer: string, tail: readonly TailChunk[] = []): boolean {
    if (this.packing === undefined || packer !== this.packing.writerId) return false;
    this.producerStates.forgetPartition(lease.topicId, lease.partition);
    this.packing.adopt(lease.topicId, lease.topicName, lease.partition, lease.epoch, end, tail);
    return true;
  }

  /**
   * Takes again the partitions let go when this writer's packing was fenced that still name it, so the
   * release that follows frees them (agents of the version before take only a released lease).
   */
  private async releaseFencedLeases(): Promise<void> {
    const fenced = [...this.fencedLeases.values()];
    this.fencedLeases.clear();
    await pMap(fenced, ({ id, name, partition }) => this.leases.reclaim({ id, name }, partition), { concurrency: 16 });
  }

  /**
   * Commits a flush's chunks: those of partitions packed here in one packed commit (packing.ts), the
   * rest per partition (commit.ts). A commit unit (a request's partitions) is packed only whole: one
   * mixing packed and other partitions, or holding a transaction's batches or marker, is committed per
   * partition, after its packed partitions are left (their tails turned into rows, `packedBy` cleared).
   */
  private async commitChunks(chunks: readonly CommitChunk[], options: { notAfterMs?: number } = {}): Promise<CommitOutcome[]> {
    const outcomes = await this.routeChunks(chunks, options);
    // Chunks with no lease refused for a packed partition: its packer is asked to leave it (or, if its
    // lease no longer holds, fenced and its tail unpacked, as a takeover would), and they are committed again.
    const deadlineMs = Math.min(options.notAfterMs ?? Infinity, this.now() + (this.options.packedLeaveWaitMs ?? 15_000));
    const freed = (
      await Promise.all(
        chunks.map(async (chunk, index) => {
          const outcome = outcomes[index]!;
          if (outcome.ok || chunk.leaderEpoch !== undefined || outcome.error.details.packed_by === undefined) return undefined;
          return (await this.leases.unpackFor({ id: chunk.topicId, name: chunk.topic }, chunk.partition, deadlineMs)) ? index : undefined;
        }),
      )
    ).filter((index) => index !== undefined);
    if (freed.length === 0) return outcomes;
    const again = await this.committer.commit(
      freed.map((index) => chunks[index]!),
      options,
    );
    for (const [i, index] of freed.entries()) outcomes[index] = again[i]!;
    return outcomes;
  }

  private async routeChunks(chunks: readonly CommitChunk[], options: { notAfterMs?: number }): Promise<CommitOutcome[]> {
    const packing = this.packing;
    if (packing === undefined || packing.packedCount === 0) return this.committer.commit(chunks, options);
    const packable = (chunk: CommitChunk) =>
      chunk.marker === undefined &&
      !(chunk.producers ?? []).some((producer) => producer.transaction) &&
      chunk.leaderEpoch !== undefined &&
      packing.packs(chunk.topicId, chunk.partition, chunk.leaderEpoch);
    const units = new Map<string, number[]>();
    chunks.forEach((chunk, index) => {
      const unit = chunk.unit ?? `#${index}`;
      units.set(unit, [...(units.get(unit) ?? []), index]);
    });
    const packed: number[] = [];
    const plain: number[] = [];
    const leaving: CommitChunk[] = [];
    for (const indexes of units.values()) {
      if (indexes.every((index) => packable(chunks[index]!))) packed.push(...indexes);
      else {
        plain.push(...indexes);
        leaving.push(...indexes.map((index) => chunks[index]!).filter((chunk) => packing.holds(chunk.topicId, chunk.partition)));
      }
    }
    const outcomes: CommitOutcome[] = new Array(chunks.length);
    const left = await Promise.all(
      leaving.map((chunk) =>
        packing.leave(chunk.topicId, chunk.partition).then(
          () => undefined,
          (error: unknown) => error,
        ),
      ),
    );
    const failure = left.find((error) => error !== undefined);
    const [packedOutcomes, plainOutcomes] = await Promise.all([
      packing.commit(
        packed.map((index) => chunks[index]!),
        options.notAfterMs,
      ),
      failure === undefined
        ? this.committer.commit(
            plain.map((index) => chunks[index]!),
            options,
          )
        : plain.map(
            (): CommitOutcome => ({
              ok: false,
              error:
                failure instanceof SpoolError ? failure : new SpoolError('INTERNAL', 'leaving packed commits failed', { cause: failure }),
            }),
          ),
    ]);
    for (const [i, index] of packed.entries()) outcomes[index] = packedOutcomes[i]!;
    for (const [i, index] of plain.entries()) outcomes[index] = plainOutcomes[i]!;
    return outcomes;
  }

  private async resolveOffset(topic: TopicItem, partition: number, offset: OffsetSpec): Promise<number> {
    if (offset === 'earliest' || offset === 'latest') {
      const state = await this.reader.state(topic, partition);
      return offset === 'earliest' ? state.logStartOffset : state.nextOffset;
    }
    return offset;
  }

  /**
   * A topic's identity, as committed offsets are checked against it (a topic deleted and created
   * again has a new id): from the short-lived topic cache, or from the store when `fresh`.
   */
  async topicIdentity(topicName: string, fresh = false): Promise<{ id: string; createdMs: number } | undefined> {
    const topic = fresh ? await this.topics.get(topicName) : await this.cachedTopic(topicName);
    if (fresh) {
      if (topic === undefined) this.topicCache.delete(topicName);
      else this.topicCache.set(topicName, { topic, expiresMs: this.now() + this.topicCacheMs });
    }
    return topic && { id: topic.id, createdMs: topic.createdMs };
  }

  /**
   * The live topic with this id (Kafka's Fetch v13+ and Metadata v10+ name topics by id), undefined
   * when there is none. A topic seen before, by name, is read again by name; an id never seen is
   * looked for in the list of topics.
   */
  async topicById(id: string): Promise<TopicItem | undefined> {
    const known = [...this.topicCache.values()].find((entry) => entry.topic.id === id);
    if (known !== undefined) {
      const topic = await this.cachedTopic(known.topic.name);
      if (topic?.id === id) return topic;
    }
    const topics = await this.topics.list();
    const expiresMs = this.now() + this.topicCacheMs;
    for (const topic of topics) this.topicCache.set(topic.name, { topic, expiresMs });
    return topics.find((topic) => topic.id === id);
  }

  /** The topic from the short-lived cache reads share with produce, read again once the entry is old. */
  async cachedTopic(topicName: string): Promise<TopicItem | undefined> {
    const cached = this.topicCache.get(topicName);
    if (cached && cached.expiresMs > this.now()) return cached.topic;
    const topic = await this.topics.get(topicName);
    if (topic !== undefined) this.topicCache.set(topicName, { topic, expiresMs: this.now() + this.topicCacheMs });
    else this.topicCache.delete(topicName);
    return topic;
  }

  /**
   * A read of a partition, through the topic cache. A partition item gone under the read means the
   * topic was deleted meanwhile (it is TOPIC_NOT_FOUND then, not PARTITION_NOT_FOUND), or deleted and
   * created again under a new id, which the read is made once more against.
   */
  private async reading<T>(topicName: string, partition: number, read: (topic: TopicItem) => Promise<T>): Promise<T> {
    const topic = await this.requirePartition(topicName, partition);
    try {
      return await read(topic);
    } catch (error) {
      if (!(error instanceof SpoolError && error.code === 'PARTITION_NOT_FOUND')) throw error;
      const current = await this.topics.get(topicName);
      if (current === undefined) {
        this.topicCache.delete(topicName);
        throw notFound(topicName);
      }
      if (current.id === topic.id) throw error;
      this.topicCache.set(topicName, { topic: current, expiresMs: this.now() + this.topicCacheMs });
      checkPartition(current, partition);
      return read(current);
    }
  }

  /** Reads use the same short-lived topic cache as produce: a stale entry at worst names a partition whose state is gone (PARTITION_NOT_FOUND). */
  private async requirePartition(topicName: string, partition: number): Promise<TopicItem> {
    const cached = this.topicCache.get(topicName);
    let topic = await this.cachedTopic(topicName);
    if (topic === undefined) throw notFound(topicName);
    // A partition beyond a cached count may have been added since: look again before refusing.
    if (cached?.topic === topic && (partition as number) >= topic.partitions) {
      topic = (await this.topics.get(topicName)) ?? topic;
      this.topicCache.set(topicName, { topic, expiresMs: this.now() + this.topicCacheMs });
    }
    checkPartition(topic, partition);
    return topic;
  }

  /** The topic, auto-created when allowed — after `accepts` passed on the shape it would have. */
  private async topicForProduce(name: string, accepts?: (shape: TopicShape) => void): Promise<TopicItem> {
    const cached = this.topicCache.get(name);
    if (cached && cached.expiresMs > this.now()) return cached.topic;
    let topic = await this.topics.get(name);
    if (topic === undefined) {
      if (!this.autoCreate) throw notFound(name);
      accepts?.({ name, partitions: this.defaultPartitions, config: { ...defaultTopicConfig, ...this.options.topicDefaults } });
      topic = await this.topics.create(name, this.defaultPartitions).catch(async (error) => {
        if (error instanceof SpoolError && error.code === 'TOPIC_ALREADY_EXISTS') return this.topics.require(name);
        throw error;
      });
    }
    this.topicCache.set(name, { topic, expiresMs: this.now() + this.topicCacheMs });
    return topic;
  }

  private choosePartition(topic: TopicItem, record: ProduceRecord): number {
    if (record.partition !== undefined) return record.partition; // checked by checkRecords
    if (record.key !== null && record.key !== undefined) return partitionForKey(record.key, topic.partitions);
    // Sticky: keyless records go to one partition until a flush, then to another (as Kafka's client).
    const flush = this.producer.stats.flushes;
    const current = this.sticky.get(topic.id);
    if (current && current.flush === flush && current.partition < topic.partitions) return current.partition;
    const partition = Math.floor(Math.random() * topic.partitions);
    this.sticky.set(topic.id, { partition, flush });
    return partition;
  }
}

/** The producer of a batch sent with a producer id (idempotent or transactional), as its span of sequences; undefined when the producer is not idempotent. */
function idempotentBatch(header: BatchHeader): ProducerBatch | undefined {
  if (header.producerId < 0) {
    if (header.isTransactional) throw new SpoolError('INVALID_RECORD', 'a transactional batch must carry a producer id, got -1');
    return undefined;
  }
  return {
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    firstSequence: header.baseSequence,
    lastSequence: incrementSequence(header.baseSequence, header.lastOffsetDelta),
  };
}

/** What validation takes from a topic's config, at the time of append. */
export function appendSettings(config: TopicConfig, nowMs: number): AppendSettings {
  return {
    timestampType: config['message.timestamp.type'],
    timestampBeforeMaxMs: config['message.timestamp.before.max.ms'],
    timestampAfterMaxMs: config['message.timestamp.after.max.ms'],
    maxBatchBytes: config['max.message.bytes'],
    nowMs,
    keysRequired: cleanupPolicy(config).compact,
  };
}

type TopicShape = Pick<TopicItem, 'name' | 'partitions' | 'config'>;

/** What of a produce request can be refused knowing only the topic's shape: explicit partitions, record sizes, and CreateTime timestamps out of the topic's bounds. */
function checkRecords(topic: TopicShape, records: readonly ProduceRecord[], nowMs: number): void {
  const maxRecordBytes = topic.config['max.message.bytes'];
  const settings = appendSettings(topic.config, nowMs);
  const { earliestMs, latestMs } = timestampWindow(settings);
  records.forEach((record, index) => {
    if (record.partition !== undefined) checkPartition(topic, record.partition, `record ${index}: `);
    const size = recordSize(record);
    if (size > maxRecordBytes) {
      throw new SpoolError(
        'RECORD_TOO_LARGE',
        `record ${index} is ${size} bytes, over max.message.bytes ${maxRecordBytes} of topic ${topic.name}`,
        {
          details: { index, size_bytes: size, max_message_bytes: maxRecordBytes },
        },
      );
    }
    if (settings.keysRequired && (record.key === null || record.key === undefined)) {
      throw new SpoolError(
        'INVALID_RECORD',
        `record ${index} has no key: topic ${topic.name} is compacted (cleanup.policy=${topic.config['cleanup.policy']}), which keeps the latest record per key, so every record needs one`,
        { details: { index, cleanup_policy: topic.config['cleanup.policy'] } },
      );
    }
    const timestampMs = record.timestampMs;
    if (timestampMs !== undefined && settings.timestampType === 'CreateTime' && (timestampMs < earliestMs || timestampMs > latestMs)) {
      throw new SpoolError(
        'INVALID_TIMESTAMP',
        `record ${index} timestamp ${timestampMs} is out of range for topic ${topic.name}: it should be within [${earliestMs}, ${latestMs}] (message.timestamp.before.max.ms / after.max.ms)`,
        { details: { index, timestamp_ms: timestampMs, earliest_ms: earliestMs, latest_ms: latestMs } },
      );
    }
  });
}

function checkPartition(topic: TopicShape, partition: unknown, prefix = ''): void {
  if (typeof partition !== 'number' || !Number.isInteger(partition) || partition < 0 || partition >= topic.partitions) {
    throw new SpoolError(
      'PARTITION_NOT_FOUND',
      `${prefix}partition must be an integer in [0, ${topic.partitions}) for topic ${topic.name}, got ${describeValue(partition)}`,
      { details: { topic: topic.name, partition, partitions: topic.partitions } },
    );
  }
}
