/**
 * KIP-932 share groups over the Kafka protocol, for `KafkaShareConsumer`: ShareGroupHeartbeat and
 * ShareGroupDescribe (the membership, lib/queues/members.ts), ShareFetch and ShareAcknowledge
 * (records acquired and settled through lib/queues/service.ts: the same share partitions, settings
 * and locks as the HTTP API's queues, so a share group is one object whichever protocol its
 * members use). There is no share coordinator: the membership and each share partition are items
 * changed by compare-and-set, so any agent serves any request.
 *
 * Share sessions (KIP-932's, Kafka's ShareSessionCache) are this agent's, per (group, member): the
 * partitions the member fetches here and the epoch its next ShareFetch or ShareAcknowledge must
 * carry, and the deliveries it handed out that its member has not settled through it. Epoch 0 opens
 * one (taking over the old one's deliveries), -1 closes it; a session also ends when its
 * connection closes. A session that ends releases its deliveries the member still holds (the same
 * delivery: a record the member acquired again through another session stays its), as Kafka's
 * broker releases a departing member's records; records of a member that vanished otherwise come
 * back when their locks expire. Kafka's admin calls (kafka-share-groups.sh) are here too.
 *
 * Invariants:
 *  - Only the member a record is locked to settles it, under a live lock (share-partition.ts); a
 *    partition's acknowledgements in one request are all taken or none (INVALID_RECORD_STATE).
 *  - Every acquired offset a response names is covered by the batches it carries, or is settled
 *    here first: an aborted transaction's records read_committed are archived as gaps (never
 *    handed out), offsets not read (not readable yet, or past the response's byte budget) are given
 *    back unread (their delivery not counted). The client acknowledges the rest of the offsets
 *    without a record (markers, compacted holes) as GAP itself.
 *  - A session that closed (or whose connection did) acquires nothing more; what it acquired as it
 *    closed is given back.
 *  - A session's epoch advances only on a request it accepted; a refused epoch changes nothing.
 */
import pMap from 'p-map';
import { type AbortedTransaction, type Log, skippedBatches, type TopicItem } from '../log/index.js';
import { readBatchHeader, decodeRecordBatch } from '../format/index.js';
import { SpoolError } from '../errors.js';
import { groupStateKey } from '../keys.js';
import type { ShareGroupConfig } from '../queues/config.js';
import {
  assignments,
  emptyMembership,
  heartbeat,
  type ShareMembership,
  ShareMembershipError,
  shareHeartbeatIntervalMs,
  shareSessionTimeoutMs,
  withoutExpired,
} from '../queues/members.js';
import type { QueueService } from '../queues/service.js';
import type { AckType, Acknowledgement, AcquiredRecords } from '../queues/share-partition.js';
import { deferrals, delayHeaderPrefix } from '../queues/delay.js';
import { maxDelayEntries, SharePartitionStore } from '../queues/store.js';
import type { MetadataStore } from '../storage/ports.js';
import { KafkaErrors, kafkaErrorFor } from './errors.js';
import type { AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse } from './protocol/messages/alter-share-group-offsets.js';
import type { DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse } from './protocol/messages/delete-share-group-offsets.js';
import type {
  DescribeShareGroupOffsetsResponseGroup,
  DescribeShareGroupOffsetsResponseTopic,
} from './protocol/messages/describe-share-group-offsets.js';
import type { ShareAcknowledgeRequest, ShareAcknowledgeResponse } from './protocol/messages/share-acknowledge.js';
import type { PartitionData, ShareFetchRequest, ShareFetchResponse } from './protocol/messages/share-fetch.js';
import type { ShareGroupDescribeResponse } from './protocol/messages/share-group-describe.js';
import type { ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse } from './protocol/messages/share-group-heartbeat.js';
import { type Encodable, ZERO_UUID } from './protocol/runtime.js';

/** How stale a member's stored liveness may get before a heartbeat that changes nothing writes it again. */
const livenessRefreshMs = shareSessionTimeoutMs / 3;
/** group.share.max.share.sessions: sessions this agent holds at most. */
const maxSessions = 2000;
/** Longest wait a ShareFetch may ask for. */
const maxWaitCapMs = 30_000;
/** Bytes of batches one ShareFetch carries at most, whatever it asks (a batch is never split). */
const maxResponseBytes = 64 * 1024 * 1024;

const ackTypes: readonly AckType[] = ['gap', 'accept', 'release', 'reject', 'renew'];

type FetchAnswer = Encodable<ShareFetchResponse>;
type PartitionAnswer = PartitionData;

interface Session {
  readonly group: string;
  readonly member: string;
  /** The epoch the next request must carry. */
  expectedEpoch: number;
  /** topicId → partitions fetched. */
  readonly partitions: Map<string, Set<number>>;
  /** What this session handed out and its member has not settled through it, by `topicId:partition`: released when it ends. */
  readonly held: Map<string, AcquiredRecords[]>;
  readonly connection: object;
}

export interface ShareClient {
  readonly clientId: string;
  readonly clientHost: string;
  /** The connection: its sessions end when it closes (`signal`). */
  readonly connection: object;
  readonly signal: AbortSignal;
  /** Whether the client may read the topic (TOPIC_AUTHORIZATION_FAILED for its partitions otherwise). */
  mayRead(topic: string): boolean;
}

export class ShareGroups {
  private readonly store: SharePartitionStore;
  private readonly sessions = new Map<string, Session>();
  private readonly watched = new WeakSet<object>();

  constructor(
    private readonly log: Log,
    private readonly metadata: MetadataStore,
    private readonly queues: QueueService,
    private readonly now: () => number = Date.now,
  ) {
    this.store = new SharePartitionStore(metadata, now);
  }

  // ---- membership ---------------------------------------------------------------------------------

  async heartbeat(
    request: ShareGroupHeartbeatRequest,
    client: Pick<ShareClient, 'clientId' | 'clientHost'>,
  ): Promise<Encodable<ShareGroupHeartbeatResponse>> {
    const refuse = (errorCode: number, errorMessage: string) => ({ errorCode, errorMessage, memberEpoch: 0, heartbeatIntervalMs: 0 });
    const invalid = checkHeartbeat(request);
    if (invalid) return refuse(KafkaErrors.INVALID_REQUEST, invalid);
    const group = request.groupId;
    if (request.memberEpoch === 0 && (await this.metadata.get(groupStateKey(group))) !== undefined)
      return refuse(KafkaErrors.GROUP_ID_NOT_FOUND, `Group ${group} is not a share group.`);
    const beat = {
      memberId: request.memberId,
      memberEpoch: request.memberEpoch,
      topics: request.subscribedTopicNames,
      rackId: request.rackId,
      clientId: client.clientId,
      clientHost: client.clientHost,
    };
    const current = await this.store.membership(group);
    const counts = await this.partitionCounts([
      ...new Set([...(request.subscribedTopicNames ?? []), ...Object.values(current.members).flatMap((m) => m.topics)]),
    ]);
    try {
      const membership = await this.store.applyMembership(group, (stored, nowMs) => {
        const live = withoutExpired(stored, nowMs, shareSessionTimeoutMs);
        const { next, changed } = heartbeat(live, beat, nowMs, counts);
        const lastSeenMs = stored.members[request.memberId]?.lastSeenMs ?? 0;
        const write = changed || live !== stored || nowMs - lastSeenMs >= livenessRefreshMs;
        return { next: write ? next : null, answer: next };
      });
      if (request.memberEpoch === -1) return { memberId: request.memberId, memberEpoch: -1, heartbeatIntervalMs: 0, assignment: null };
      const epoch = membership.members[request.memberId]!.epoch;
      const assignment =
        epoch === request.memberEpoch
          ? null
          : { topicPartitions: await this.topicPartitions(assignments(membership)[request.memberId] ?? {}) };
      return { memberId: request.memberId, memberEpoch: epoch, heartbeatIntervalMs: shareHeartbeatIntervalMs, assignment };
    } catch (error) {
      if (error instanceof ShareMembershipError) return refuse(KafkaErrors[error.code], error.message);
      throw error;
    }
  }

  async describe(group: string): Promise<Encodable<ShareGroupDescribeResponse['groups'][number]>> {
    // As Kafka: a group exists once it has had members or its offsets were set (both write its
    // members item; none read is `emptyMembership` itself) or it has state; settings alone make none.
    const [stored, partitions] = await Promise.all([this.store.membership(group), this.store.list(group)]);
    if (stored === emptyMembership && partitions.length === 0)
      return { errorCode: KafkaErrors.GROUP_ID_NOT_FOUND, errorMessage: `Group ${group} not found.`, groupId: group, groupState: '' };
    const membership = withoutExpired(stored, this.now(), shareSessionTimeoutMs);
    const assigned = assignments(membership);
    const members = await Promise.all(
      Object.entries(membership.members).map(async ([memberId, m]) => ({
        memberId,
        rackId: m.rackId,
        memberEpoch: m.epoch,
        clientId: m.clientId,
        clientHost: m.clientHost,
        subscribedTopicNames: [...m.topics],
        assignment: { topicPartitions: await this.topicPartitions(assigned[memberId] ?? {}, true) },
      })),
    );
    return {
      groupId: group,
      groupState: members.length > 0 ? 'Stable' : 'Empty',
      groupEpoch: membership.groupEpoch,
      assignmentEpoch: membership.groupEpoch,
      assignorName: 'simple',
      members,
    };
  }

  /** Members' count, and the group's membership, for ListGroups and DeleteGroups. */
  async membership(group: string): Promise<ShareMembership> {
    return withoutExpired(await this.store.membership(group), this.now(), shareSessionTimeoutMs);
  }

  // ---- administration (kafka-share-groups.sh) ----------------------------------------------------------

  /** Every share group with its state, for ListGroups (type `share`). */
  async list(): Promise<{ groupId: string; groupState: 'Empty' | 'Stable' }[]> {
    const names = await this.queues.groups();
    const live = await pMap(names, (group) => this.queues.liveMembers(group), { concurrency: 16 });
    return names.map((groupId, i) => ({ groupId, groupState: live[i]! > 0 ? 'Stable' : 'Empty' }));
  }

  /** DeleteGroups of a share group: NON_EMPTY_GROUP while it has members or locked records, GROUP_ID_NOT_FOUND when there is none. */
  deleteGroup(group: string): Promise<void> {
    return this.queues.delete(group);
  }

  /** DescribeShareGroupOffsets: each share partition's start offset and lag (records not yet settled, delayed ones included); -1 for one the group never read. */
  async describeOffsets(
    group: string,
    topics: readonly { readonly topicName: string; readonly partitions: readonly number[] }[] | null,
  ): Promise<Encodable<DescribeShareGroupOffsetsResponseGroup>> {
    let described: Awaited<ReturnType<QueueService['describe']>>;
    try {
      described = await this.queues.describe(group);
    } catch (error) {
      if (!(error instanceof SpoolError && error.code === 'GROUP_NOT_FOUND') || topics === null) throw error;
      described = { group, config: await this.queues.settings(group), configSet: {}, partitions: [] };
    }
    const views = new Map(described.partitions.map((p) => [`${p.topic}:${p.partition}`, p]));
    const wanted = topics ?? [...new Set(described.partitions.map((p) => p.topic))].map((topicName) => ({ topicName, partitions: null }));
    const out: Encodable<DescribeShareGroupOffsetsResponseTopic>[] = [];
    for (const { topicName, partitions } of wanted) {
      const topic = await this.log.cachedTopic(topicName);
      const indexes = partitions ?? described.partitions.filter((p) => p.topic === topicName).map((p) => p.partition);
      out.push({
        topicName,
        topicId: topic?.id ?? ZERO_UUID,
        partitions: indexes.map((partitionIndex) => {
          if (!topic || partitionIndex < 0 || partitionIndex >= topic.partitions)
            return { partitionIndex, startOffset: -1, leaderEpoch: -1, lag: -1, errorCode: KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION };
          const view = views.get(`${topicName}:${partitionIndex}`);
          if (!view) return { partitionIndex, startOffset: -1, leaderEpoch: -1, lag: -1, errorCode: KafkaErrors.NONE };
          return {
            partitionIndex,
            startOffset: view.startOffset,
            leaderEpoch: 0,
            lag: view.acquired + view.available + view.delayed,
            errorCode: KafkaErrors.NONE,
          };
        }),
      });
    }
    return { groupId: group, topics: out, errorCode: KafkaErrors.NONE, errorMessage: null };
  }

  /** AlterShareGroupOffsets: each partition starts at the offset given; only while the group has no members. */
  async alterOffsets(request: AlterShareGroupOffsetsRequest): Promise<Encodable<AlterShareGroupOffsetsResponse>> {
    const refused = await this.refusedWhileMembers(request.groupId);
    if (refused) return refused;
    const responses = [];
    for (const { topicName, partitions } of request.topics) {
      const topic = await this.log.cachedTopic(topicName);
      const answers = [];
      for (const { partitionIndex, startOffset } of partitions) {
        if (!topic || partitionIndex < 0 || partitionIndex >= topic.partitions) {
          answers.push({
            partitionIndex,
            errorCode: KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION,
            errorMessage: `no partition ${partitionIndex} of ${topicName}`,
          });
          continue;
        }
        try {
          await this.queues.resetStart(request.groupId, topic, partitionIndex, startOffset);
          answers.push({ partitionIndex, errorCode: KafkaErrors.NONE, errorMessage: null });
        } catch (error) {
          const { code, message, unexpected } = kafkaErrorFor(error);
          if (unexpected) throw error;
          answers.push({ partitionIndex, errorCode: code, errorMessage: message });
        }
      }
      responses.push({ topicName, topicId: topic?.id ?? ZERO_UUID, partitions: answers });
    }
    // The group now exists, as Kafka's coordinator creates it, whatever becomes of its offsets.
    await this.store.applyMembership(request.groupId, (membership) => ({
      next: membership === emptyMembership ? membership : null,
      answer: null,
    }));
    return { errorCode: KafkaErrors.NONE, errorMessage: null, responses };
  }

  /** NON_EMPTY_GROUP while the group has live members: its offsets change only while it is empty, as in Kafka. */
  private async refusedWhileMembers(group: string) {
    const members = await this.queues.liveMembers(group);
    if (members === 0) return undefined;
    return { errorCode: KafkaErrors.NON_EMPTY_GROUP, errorMessage: `share group ${group} has ${members} member(s)`, responses: [] };
  }

  /** DeleteShareGroupOffsets: the group forgets the topics (read again from share.auto.offset.reset); only while it has no members. */
  async deleteOffsets(request: DeleteShareGroupOffsetsRequest): Promise<Encodable<DeleteShareGroupOffsetsResponse>> {
    const refused = await this.refusedWhileMembers(request.groupId);
    if (refused) return refused;
    const responses = [];
    for (const { topicName } of request.topics) {
      const topic = await this.log.cachedTopic(topicName);
      if (!topic) {
        responses.push({ topicName, topicId: ZERO_UUID, errorCode: KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null });
        continue;
      }
      try {
        await this.queues.forgetTopic(request.groupId, topic.id);
        responses.push({ topicName, topicId: topic.id, errorCode: KafkaErrors.NONE, errorMessage: null });
      } catch (error) {
        const { code, message, unexpected } = kafkaErrorFor(error);
        if (unexpected) throw error;
        responses.push({ topicName, topicId: topic.id, errorCode: code, errorMessage: message });
      }
    }
    return { errorCode: KafkaErrors.NONE, errorMessage: null, responses };
  }

  // ---- ShareFetch and ShareAcknowledge --------------------------------------------------------------

  async fetch(request: ShareFetchRequest, client: ShareClient): Promise<FetchAnswer> {
    const refuse = (errorCode: number, errorMessage: string): FetchAnswer => ({ errorCode, errorMessage, responses: [] });
    if (!request.groupId || !request.memberId) return refuse(KafkaErrors.INVALID_REQUEST, 'GroupId and MemberId must be set');
    const group = request.groupId;
    const member = request.memberId;
    const key = sessionKey(group, member);
    const epoch = request.shareSessionEpoch;
    const hasAcks = request.topics.some((t) => t.partitions.some((p) => p.acknowledgementBatches.length > 0));
    let session = this.sessions.get(key);
    if (epoch === 0) {
      if (hasAcks) return refuse(KafkaErrors.INVALID_REQUEST, 'a request opening a share session (epoch 0) cannot acknowledge');
      if (!session && this.sessions.size >= maxSessions)
        return refuse(KafkaErrors.SHARE_SESSION_LIMIT_REACHED, `this agent holds ${maxSessions} share sessions`);
      if (session) this.sessions.delete(key);
      // The same member's new session answers for what the old one handed out.
      const held = session?.held ?? new Map<string, AcquiredRecords[]>();
      session = { group, member, expectedEpoch: 0, partitions: new Map(), held, connection: client.connection };
      this.sessions.set(key, session);
      this.watchConnection(client);
    } else {
      const refusal = sessionRefusal(session, epoch);
      if (refusal) return refuse(refusal.code, refusal.message);
    }
    const open = session!;
    open.expectedEpoch = nextEpoch(epoch);
    if (epoch !== -1) {
      for (const topic of request.topics) for (const p of topic.partitions) addPartition(open, topic.topicId, p.partitionIndex);
      for (const topic of request.forgottenTopicsData) for (const p of topic.partitions) open.partitions.get(topic.topicId)?.delete(p);
    }
    const config = await this.queues.settings(group);
    const answers = new Map<string, PartitionAnswer>();
    const answerFor = (topicId: string, partition: number): PartitionAnswer =>
      answers.get(`${topicId}:${partition}`) ?? blankAnswer(partition);
    const put = (topicId: string, partition: number, change: Partial<PartitionAnswer>) =>
      answers.set(`${topicId}:${partition}`, { ...answerFor(topicId, partition), ...change });

    // Acknowledgements first, as Kafka takes them before it acquires more.
    for (const topic of request.topics)
      for (const p of topic.partitions) {
        if (p.acknowledgementBatches.length === 0) {
          if (epoch === 0) put(topic.topicId, p.partitionIndex, {});
          continue;
        }
        const { errorCode, errorMessage } = await this.settle(
          open,
          topic.topicId,
          p.partitionIndex,
          p.acknowledgementBatches,
          config,
          client.mayRead,
        );
        put(topic.topicId, p.partitionIndex, { acknowledgeErrorCode: errorCode, acknowledgeErrorMessage: errorMessage });
      }
    if (epoch === -1) {
      await this.close(key, open, config);
    } else {
      const fetched = await this.acquireIn(open, request, config, client);
      for (const [id, answer] of fetched)
        answers.set(id, {
          ...answerFor(answer.topicId, answer.partition.partitionIndex),
          ...answer.partition,
          ...pickAck(answers.get(id)),
        });
    }
    return {
      acquisitionLockTimeoutMs: config['share.record.lock.duration.ms'],
      responses: byTopic(answers),
    };
  }

  async acknowledge(request: ShareAcknowledgeRequest, client: ShareClient): Promise<Encodable<ShareAcknowledgeResponse>> {
    const mayRead = client.mayRead;
    const refuse = (errorCode: number, errorMessage: string) => ({ errorCode, errorMessage, responses: [] });
    if (!request.groupId || !request.memberId) return refuse(KafkaErrors.INVALID_REQUEST, 'GroupId and MemberId must be set');
    const key = sessionKey(request.groupId, request.memberId);
    const session = this.sessions.get(key);
    if (request.shareSessionEpoch === 0)
      return refuse(KafkaErrors.INVALID_SHARE_SESSION_EPOCH, 'ShareAcknowledge cannot open a share session (epoch 0)');
    const refusal = sessionRefusal(session, request.shareSessionEpoch);
    if (refusal) return refuse(refusal.code, refusal.message);
    session!.expectedEpoch = nextEpoch(request.shareSessionEpoch);
    const config = await this.queues.settings(request.groupId);
    const responses = await Promise.all(
      request.topics.map(async (topic) => ({
        topicId: topic.topicId,
        partitions: await Promise.all(
          topic.partitions.map(async (p) => {
            const { errorCode, errorMessage } = await this.settle(
              session!,
              topic.topicId,
              p.partitionIndex,
              p.acknowledgementBatches,
              config,
              mayRead,
            );
            return { partitionIndex: p.partitionIndex, errorCode, errorMessage, currentLeader: noLeader };
          }),
        ),
      })),
    );
    if (request.shareSessionEpoch === -1) await this.close(key, session!, config);
    return { acquisitionLockTimeoutMs: config['share.record.lock.duration.ms'], responses };
  }

  /** Ends every session of this agent (shutdown): their members' records are released. */
  async closeAll(): Promise<void> {
    await Promise.all(
      [...this.sessions].map(async ([key, session]) =>
        this.close(key, session, await this.queues.settings(session.group)).catch(() => undefined),
      ),
    );
  }

  // ---- internals --------------------------------------------------------------------------------------

  /** A partition's acknowledgement batches, settled all or nothing as the session's member: the partition's acknowledge error. */
  private async settle(
    session: Session,
    topicId: string,
    partition: number,
    batches: ShareFetchRequest['topics'][number]['partitions'][number]['acknowledgementBatches'],
    config: ShareGroupConfig,
    mayRead: (topic: string) => boolean,
  ): Promise<{ errorCode: number; errorMessage: string | null }> {
    const acks = toAcknowledgements(batches);
    if (typeof acks === 'string') return { errorCode: KafkaErrors.INVALID_REQUEST, errorMessage: acks };
    const topic = await this.log.topicById(topicId);
    if (!topic || partition < 0 || partition >= topic.partitions)
      return { errorCode: KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `no partition ${partition} of topic ${topicId}` };
    if (!mayRead(topic.name)) return { errorCode: KafkaErrors.TOPIC_AUTHORIZATION_FAILED, errorMessage: null };
    try {
      const refused = await this.queues.settle(session.group, topicId, partition, session.member, acks, config);
      if (refused.length === 0) {
        // Settled (a RENEW keeps them held): no longer this session's to release when it ends.
        const id = `${topicId}:${partition}`;
        const held = without(
          session.held.get(id) ?? [],
          acks.filter((a) => a.type !== 'renew'),
        );
        if (held.length > 0) session.held.set(id, held);
        else session.held.delete(id);
        return { errorCode: KafkaErrors.NONE, errorMessage: null };
      }
      return { errorCode: KafkaErrors.INVALID_RECORD_STATE, errorMessage: refused.map((r) => r.reason).join('; ') };
    } catch (error) {
      if (error instanceof SpoolError && error.retriable)
        return { errorCode: KafkaErrors.INVALID_RECORD_STATE, errorMessage: error.message };
      throw error;
    }
  }

  /**
   * Acquires records of the session's partitions for its member, up to the request's MaxRecords,
   * starting each round at another partition; waits up to MaxWaitMs for some when there are none.
   */
  private async acquireIn(
    session: Session,
    request: ShareFetchRequest,
    config: ShareGroupConfig,
    client: ShareClient,
  ): Promise<Map<string, { topicId: string; partition: PartitionAnswer }>> {
    const { signal } = client;
    const targets: { topicId: string; partition: number }[] = [];
    for (const [topicId, partitions] of session.partitions) for (const partition of partitions) targets.push({ topicId, partition });
    const out = new Map<string, { topicId: string; partition: PartitionAnswer }>();
    if (targets.length === 0) return out;
    const deadlineMs = this.now() + Math.min(Math.max(0, request.maxWaitMs), maxWaitCapMs);
    const first = Math.floor(Math.random() * targets.length);
    const lockMs = config['share.record.lock.duration.ms'];
    const budgetBytes = Math.min(Math.max(1, request.maxBytes), maxResponseBytes);
    const open = () => this.sessions.get(sessionKey(session.group, session.member)) === session && !signal.aborted;
    for (;;) {
      // A session closed meanwhile (or a connection gone) acquires nothing more: no record is locked for no one.
      if (!open()) return out;
      let budget = Math.max(1, request.maxRecords);
      let bytes = 0;
      const waits: { topic: string; partition: number; offset: number }[] = [];
      const topicIds = new Set<string>();
      let wakeMs = deadlineMs;
      for (let i = 0; i < targets.length && budget > 0 && bytes < budgetBytes && open(); i++) {
        const { topicId, partition } = targets[(first + i) % targets.length]!;
        const id = `${topicId}:${partition}`;
        const topic = await this.log.topicById(topicId);
        if (!topic || partition >= topic.partitions) {
          out.set(id, { topicId, partition: { ...blankAnswer(partition), errorCode: KafkaErrors.UNKNOWN_TOPIC_ID } });
          continue;
        }
        if (!client.mayRead(topic.name)) {
          out.set(id, { topicId, partition: { ...blankAnswer(partition), errorCode: KafkaErrors.TOPIC_AUTHORIZATION_FAILED } });
          continue;
        }
        topicIds.add(topicId);
        const taken = await this.queues.acquire(session.group, topic, partition, session.member, budget, lockMs, config);
        if (taken.nextExpiryMs !== undefined) wakeMs = Math.min(wakeMs, taken.nextExpiryMs);
        if (taken.waitOffset !== undefined) waits.push({ topic: topic.name, partition, offset: taken.waitOffset });
        if (taken.acquired.length === 0) continue;
        const read = await this.readAcquired(session, topic, partition, taken.acquired, config, budgetBytes - bytes);
        if (read.acquired.length === 0) continue;
        for (const range of read.acquired) budget -= range.last - range.first + 1;
        bytes += read.records.length;
        if (!open()) {
          // Closed while this was read: nothing may stay locked for it.
          await this.queues
            .settle(session.group, topic.id, partition, session.member, unread(read.acquired), config)
            .catch(() => undefined);
          continue;
        }
        // What it holds now replaces what it held of the same offsets (an expired lock acquired again).
        session.held.set(id, [...without(session.held.get(id) ?? [], read.acquired), ...read.acquired]);
        const acquiredRecords = read.acquired.map((r) => ({ firstOffset: r.first, lastOffset: r.last, deliveryCount: r.deliveryCount }));
        out.set(id, { topicId, partition: { ...blankAnswer(partition), records: read.records, acquiredRecords } });
      }
      if (out.size > 0 || this.now() >= deadlineMs || !open()) return out;
      await this.queues.waitForWork(session.group, [...topicIds], waits, wakeMs, signal);
      if (this.now() >= deadlineMs) return out;
    }
  }

  /**
   * The batches covering the acquired offsets, whole (the client skips offsets it was not handed),
   * within `budgetBytes` (the first batch whatever its size). Read read_committed, an aborted
   * transaction's records are archived as gaps and left out of the acquired ranges, as Kafka does,
   * judged over every read together (a transaction may begin in one read and end in another);
   * offsets no read reached (past the end it reads to, or the budget) are given back unread: not a
   * delivery, so a client whose records outgrow its fetch's bytes never sees them archived unread.
   */
  private async readAcquired(
    session: Session,
    topic: TopicItem,
    partition: number,
    acquired: readonly AcquiredRecords[],
    config: ShareGroupConfig,
    budgetBytes: number,
  ): Promise<{ records: Buffer; acquired: AcquiredRecords[] }> {
    const isolation = config['share.isolation.level'];
    const read: Buffer[] = [];
    const aborted = new Map<string, AbortedTransaction>();
    const settled: Acknowledgement[] = [];
    const last = acquired.at(-1)!.last;
    let covered = acquired[0]!.first;
    let bytes = 0;
    while (covered <= last && (bytes === 0 || bytes < budgetBytes)) {
      let answer: Awaited<ReturnType<Log['readBatches']>>;
      try {
        answer = await this.log.readBatches(topic.name, partition, covered, { isolation, maxBytes: Math.max(1, budgetBytes - bytes) });
      } catch (error) {
        const earliest = error instanceof SpoolError && error.code === 'OFFSET_OUT_OF_RANGE' ? error.details?.earliest_offset : undefined;
        if (typeof earliest !== 'number' || earliest <= covered) throw error;
        settled.push(...within(acquired, covered, Math.min(earliest, last + 1) - 1, 'gap')); // removed since acquired
        covered = earliest;
        continue;
      }
      for (const txn of answer.abortedTransactions ?? []) aborted.set(`${txn.producerId}:${txn.firstOffset}`, txn);
      for (const batch of answer.batches) {
        read.push(batch);
        bytes += batch.length;
      }
      if (answer.endOffset <= covered) break; // nothing more readable now
      covered = answer.endOffset;
    }
    const skipped = skippedBatches([...aborted.values()]);
    const batches: Buffer[] = [];
    for (const batch of read) {
      const header = readBatchHeader(batch, 0);
      const batchLast = header.baseOffset + header.lastOffsetDelta;
      const skip = skipped(header, header.isControl ? decodeRecordBatch(batch).records : []);
      if (skip && !header.isControl && isolation === 'read_committed') {
        settled.push(...within(acquired, header.baseOffset, batchLast, 'gap'));
        continue;
      }
      if (acquired.some((r) => r.first <= batchLast && r.last >= header.baseOffset)) batches.push(batch);
    }
    // Records not due yet (a deliver-at header) wait in the delay index: left out of the acquired
    // ranges (the client skips what it was not handed, as it does another member's in a batch).
    // Not for offsets settled here already (gaps: a defer of one would refuse the whole settle).
    const open = without(acquired, settled);
    const records = batches.flatMap((batch) => {
      const header = readBatchHeader(batch, 0);
      // An uncompressed batch shows its records' header names as they are: without the delay
      // headers' prefix, no record of it waits, and it is not decoded.
      if (header.isControl || (header.compression === 'none' && !batch.includes(delayHeaderPrefix))) return [];
      return decodeRecordBatch(batch).records.filter((r) => open.some((a) => a.first <= r.offset && r.offset <= a.last));
    });
    settled.push(...deferrals(records, this.now(), maxDelayEntries).acks);
    if (covered <= last) settled.push(...within(acquired, covered, last, 'unread'));
    if (settled.length > 0)
      await this.queues.settle(session.group, topic.id, partition, session.member, settled, config).catch(() => undefined);
    return { records: Buffer.concat(batches), acquired: without(acquired, settled) };
  }

  private async close(key: string, session: Session, config: ShareGroupConfig): Promise<void> {
    if (this.sessions.get(key) === session) this.sessions.delete(key);
    for (const [id, ranges] of session.held) {
      const separator = id.lastIndexOf(':');
      const [topicId, partition] = [id.slice(0, separator), Number(id.slice(separator + 1))];
      await this.queues.releaseHeld(session.group, topicId, partition, session.member, ranges, config).catch(() => undefined);
    }
    session.held.clear();
  }

  /** Ends the connection's sessions when it closes. */
  private watchConnection(client: ShareClient): void {
    if (this.watched.has(client.connection)) return;
    this.watched.add(client.connection);
    client.signal.addEventListener(
      'abort',
      () => {
        for (const [key, session] of this.sessions)
          if (session.connection === client.connection)
            void this.queues
              .settings(session.group)
              .then((config) => this.close(key, session, config))
              .catch(() => undefined);
      },
      { once: true },
    );
  }

  private async partitionCounts(topics: readonly string[]): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const name of topics) {
      const topic = await this.log.cachedTopic(name);
      if (topic) counts[name] = topic.partitions;
    }
    return counts;
  }

  private async topicPartitions(assignment: Readonly<Record<string, readonly number[]>>, withNames = false) {
    const out: { topicId: string; topicName: string; partitions: number[] }[] = [];
    for (const [name, partitions] of Object.entries(assignment)) {
      const topic = await this.log.cachedTopic(name);
      if (topic) out.push({ topicId: topic.id, topicName: withNames ? name : '', partitions: [...partitions] });
    }
    return out;
  }
}

const noLeader = { leaderId: -1, leaderEpoch: -1 };

function blankAnswer(partitionIndex: number): PartitionAnswer {
  return {
    partitionIndex,
    errorCode: KafkaErrors.NONE,
    errorMessage: null,
    acknowledgeErrorCode: KafkaErrors.NONE,
    acknowledgeErrorMessage: null,
    currentLeader: noLeader,
    records: Buffer.alloc(0),
    acquiredRecords: [],
  };
}

function pickAck(answer: PartitionAnswer | undefined): Partial<PartitionAnswer> {
  return answer ? { acknowledgeErrorCode: answer.acknowledgeErrorCode, acknowledgeErrorMessage: answer.acknowledgeErrorMessage } : {};
}

function byTopic(answers: ReadonlyMap<string, PartitionAnswer>): FetchAnswer['responses'] {
  const topics = new Map<string, PartitionAnswer[]>();
  for (const [id, answer] of answers) {
    const topicId = id.slice(0, id.lastIndexOf(':'));
    topics.set(topicId, [...(topics.get(topicId) ?? []), answer]);
  }
  return [...topics].map(([topicId, partitions]) => ({ topicId, partitions }));
}

const sessionKey = (group: string, member: string) => `${group}\u0000${member}`;

/** Kafka's ShareRequestMetadata.nextEpoch: n+1, 1 after the largest int32; -1 stays. */
function nextEpoch(epoch: number): number {
  if (epoch < 0) return -1;
  return epoch === 0x7fffffff ? 1 : epoch + 1;
}

function sessionRefusal(session: Session | undefined, epoch: number): { code: number; message: string } | undefined {
  if (!session) return { code: KafkaErrors.SHARE_SESSION_NOT_FOUND, message: 'no share session for this member on this broker' };
  if (epoch !== -1 && epoch !== session.expectedEpoch)
    return {
      code: KafkaErrors.INVALID_SHARE_SESSION_EPOCH,
      message: `expected share session epoch ${session.expectedEpoch}, got ${epoch}`,
    };
  return undefined;
}

function addPartition(session: Session, topicId: string, partition: number): void {
  let partitions = session.partitions.get(topicId);
  if (!partitions) session.partitions.set(topicId, (partitions = new Set()));
  partitions.add(partition);
}

function checkHeartbeat(request: ShareGroupHeartbeatRequest): string | undefined {
  if (request.groupId.length === 0) return 'GroupId can not be empty.';
  if (request.memberId.length === 0) return 'MemberId can not be empty.';
  if (request.memberEpoch < -1) return `MemberEpoch is ${request.memberEpoch}, but must be greater than or equal to -1.`;
  if (request.rackId !== null && request.rackId.length === 0) return 'RackId can not be empty.';
  if (request.memberEpoch === 0 && (request.subscribedTopicNames === null || request.subscribedTopicNames.length === 0))
    return 'SubscribedTopicNames must be set in first request.';
  return undefined;
}

/**
 * A partition's acknowledgement batches as acknowledgements: each batch's AcknowledgeTypes holds
 * one type for the whole range, or one per offset (runs of one type become one acknowledgement).
 * A string says why the batches are malformed.
 */
export function toAcknowledgements(
  batches: readonly { readonly firstOffset: number; readonly lastOffset: number; readonly acknowledgeTypes: readonly number[] }[],
): Acknowledgement[] | string {
  const out: Acknowledgement[] = [];
  for (const batch of batches) {
    const { firstOffset: first, lastOffset: last, acknowledgeTypes: types } = batch;
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 0 || last < first)
      return `acknowledgement batch ${first}-${last}: FirstOffset must be <= LastOffset, both >= 0`;
    const size = last - first + 1;
    if (types.length !== 1 && types.length !== size)
      return `acknowledgement batch ${first}-${last}: AcknowledgeTypes must hold 1 or ${size} types, got ${types.length}`;
    const bad = types.find((t) => ackTypes[t] === undefined);
    if (bad !== undefined) return `acknowledgement batch ${first}-${last}: unknown AcknowledgeType ${bad}`;
    if (types.length === 1) {
      out.push({ first, last, type: ackTypes[types[0]!]! });
      continue;
    }
    let runFirst = first;
    for (let i = 1; i <= size; i++)
      if (i === size || types[i] !== types[i - 1]) {
        out.push({ first: runFirst, last: first + i - 1, type: ackTypes[types[i - 1]!]! });
        runFirst = first + i;
      }
  }
  return out;
}

/** Acquired ranges as given back unread. */
function unread(acquired: readonly AcquiredRecords[]): Acknowledgement[] {
  return acquired.map((r) => ({ first: r.first, last: r.last, type: 'unread' }));
}

/** The parts of the acquired ranges within [first, last], as acknowledgements of `type`. */
function within(acquired: readonly AcquiredRecords[], first: number, last: number, type: AckType): Acknowledgement[] {
  return acquired
    .filter((r) => r.first <= last && r.last >= first)
    .map((r) => ({ first: Math.max(r.first, first), last: Math.min(r.last, last), type }));
}

/** The acquired ranges less the offsets of `settled`. */
function without(
  acquired: readonly AcquiredRecords[],
  settled: readonly { readonly first: number; readonly last: number }[],
): AcquiredRecords[] {
  let out = [...acquired];
  for (const s of settled)
    out = out.flatMap((r) => {
      if (r.last < s.first || r.first > s.last) return [r];
      return [...(r.first < s.first ? [{ ...r, last: s.first - 1 }] : []), ...(r.last > s.last ? [{ ...r, first: s.last + 1 }] : [])];
    });
  return out;
}
