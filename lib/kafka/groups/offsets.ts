/**
 * OffsetCommit and OffsetFetch for the groups this agent coordinates, over the offset items every
 * kind of group shares (lib/groups/items.ts). Whether a member may commit is its membership's
 * question (`CommitCheck`); what is written, and fenced, is the same for every kind.
 *
 * Topics are named (OffsetCommit v0–9, OffsetFetch v0–9) or given by id (v10+): an id is looked up as
 * Fetch v13 does, and one that names no topic is UNKNOWN_TOPIC_ID for each of its partitions.
 *
 * Invariants (test/kafka/classic-groups.test.ts):
 * - Offsets are committed only by a member of the current generation (or, from outside the group,
 *   only while the group has no members), checked here and again by the store: each commit is fenced
 *   by the stored incarnation and generation (a KIP-848 group's, by its stored version: the coordinator
 *   checks the member epoch on the group as held, and the store that it is still the group as held).
 * - Unchanged offsets (a consumer's periodic auto-commit of an idle partition) are not written again.
 */
import { SpoolError } from '../../errors.js';
import { parseTpKey, tpKey } from '../../groups/assignors.js';
import { commitClassicOffsets, type ClassicCommit } from '../../groups/classic.js';
import { loadOffsets } from '../../groups/items.js';
import type { OffsetCommitRequest, OffsetCommitResponse } from '../protocol/messages/offset-commit.js';
import type { OffsetFetchRequestGroup, OffsetFetchResponseGroup } from '../protocol/messages/offset-fetch.js';
import type { TxnOffsetCommitRequest } from '../protocol/messages/txn-offset-commit.js';
import { ZERO_UUID, type Encodable } from '../protocol/runtime.js';
import { KafkaErrors } from '../errors.js';
import { isDead } from './classic-state.js';
import { checkGroupId, type Group, type GroupContext } from './group.js';
import { codecs } from '../served.js';

/**
 * What the offsets ask of a group's membership: the one place that decides whether a commit's
 * member may commit. Classic groups fence by generation; a consumer-protocol (KIP-848) group would
 * fence by member epoch behind the same question.
 */
export interface CommitCheck {
  /**
   * NONE if `memberId` (holding `groupInstanceId`, if static) may commit at `generationIdOrMemberEpoch`
   * (its session renewed), or the error each partition is answered with.
   */
  checkCommit(group: Group, memberId: string, generationIdOrMemberEpoch: number, groupInstanceId: string | null): number;
}

/**
 * Consumer-protocol (KIP-848) groups' side of a member's commit (lib/kafka/consumer-groups.ts): they fence
 * by member epoch, and write in the group's queue, fenced in the store by the group's version as their
 * coordinator holds it.
 */
export interface ConsumerCommits {
  /** undefined when the group is not a consumer-protocol group (held, or as stored); else NONE or the error for every partition. */
  offsetFence(
    groupId: string,
    request: { readonly memberId: string; readonly memberEpoch: number; readonly kind: 'commit' | 'fetch' },
  ): Promise<number | undefined>;
  /** Checks the member's epoch again and writes: NONE, or the error for every partition. */
  commitOffsets(groupId: string, memberId: string, memberEpoch: number, commits: readonly ClassicCommit[]): Promise<number>;
}

const maxMetadataChars = 4096; // Kafka's offset.metadata.max.bytes

/** A request's topic, named or by id: its name once looked up (undefined when the id names no topic). */
interface ResolvedTopic {
  readonly name: string | undefined;
  readonly topicId: string;
}

/** The offsets the transaction `transactionalId` still holds (staged, not yet ended), by group and partition (lib/transactions). */
export type TransactionalOffsetPending = (
  transactionalId: string,
) => Promise<readonly { readonly group: string; readonly topic: string; readonly partition: number }[]>;

export class GroupOffsets {
  constructor(
    private readonly context: GroupContext,
    private readonly membership: CommitCheck,
    private readonly consumer?: ConsumerCommits,
    private readonly transactionalOffsetPending?: TransactionalOffsetPending,
  ) {}

  /** The topic each request topic names: by id when `byTopicId` (v10+), else by name. */
  private async resolve(
    topics: readonly { readonly name: string; readonly topicId: string }[],
    byTopicId: boolean,
  ): Promise<ResolvedTopic[]> {
    return Promise.all(
      topics.map(async (t) => {
        if (!byTopicId) return { name: t.name, topicId: t.topicId };
        return { name: (await this.context.log.topicById(t.topicId))?.name, topicId: t.topicId };
      }),
    );
  }

  /** OffsetCommit at `version` (v10+ names its topics by id). */
  async commit(
    request: OffsetCommitRequest,
    allowed: (topic: string) => boolean,
    version: number,
  ): Promise<Encodable<OffsetCommitResponse>> {
    const byTopicId = version >= 10;
    checkGroupId(request.groupId);
    const group = await this.context.group(request.groupId);
    const generation = request.generationIdOrMemberEpoch;
    const resolved = await this.resolve(request.topics, byTopicId);
    // errors[topic index][partition index]
    const errors = request.topics.map((t) => t.partitions.map((): number => KafkaErrors.NONE));
    const answer = (): Encodable<OffsetCommitResponse> => ({
      throttleTimeMs: 0,
      topics: request.topics.map((t, ti) => ({
        name: t.name,
        topicId: t.topicId,
        partitions: t.partitions.map((p, pi) => ({ partitionIndex: p.partitionIndex, errorCode: errors[ti]![pi]! })),
      })),
    });
    const outsider = generation < 0 && request.memberId === '';
    const asMember = !outsider || group.members.size > 0;
    // A member of a consumer-protocol group (not a classic group with members here): fenced by its member epoch.
    const consumerCheck = async () =>
      outsider || group.members.size > 0
        ? undefined
        : this.consumer?.offsetFence(request.groupId, { memberId: request.memberId, memberEpoch: generation, kind: 'commit' });
    const byEpoch = (await consumerCheck()) !== undefined;
    // The one membership question, asked before the topics are read and again after (the group may have moved on meanwhile).
    const fenced = async () =>
      byEpoch
        ? ((await consumerCheck()) ?? KafkaErrors.NOT_COORDINATOR)
        : isDead(group)
          ? KafkaErrors.NOT_COORDINATOR
          : this.membership.checkCommit(group, request.memberId, generation, request.groupInstanceId);
    if (asMember) {
      const refused = await fenced();
      if (refused !== KafkaErrors.NONE) return codecs.offsetCommit.errorResponse(request, version, refused);
    }
    const commits = await this.committable(request.topics, resolved, allowed, byTopicId, errors);
    const failed = (code: number) => {
      for (const { at } of commits) errors[at[0]]![at[1]] = code;
    };
    const refusedNow = asMember ? await fenced() : KafkaErrors.NONE;
    if (refusedNow !== KafkaErrors.NONE) {
      failed(refusedNow); // changed while the topics were read
    } else if (!asMember) {
      // From outside the group, while it has no members: through the HTTP groups' rule, which also
      // expires HTTP members whose leases ran out and refuses while live ones remain.
      try {
        if (commits.length > 0) {
          await this.context.groups.commit(request.groupId, {
            offsets: commits.map((c) => ({ ...parseTpKey(c.key), offset: c.offset, metadata: c.metadata })),
          });
        }
      } catch (error) {
        if (!(error instanceof SpoolError && error.code === 'GROUP_NOT_EMPTY')) throw error;
        failed(KafkaErrors.UNKNOWN_MEMBER_ID);
      }
    } else {
      const changed = commits.filter((c) => {
        const known = group.committed.get(c.key);
        return known === undefined || known.offset !== c.offset || known.metadata !== c.metadata || known.topicId !== c.topicId;
      });
      try {
        if (byEpoch) {
          if (commits.length > 0) failed(await this.consumer!.commitOffsets(group.id, request.memberId, generation, commits));
        } else if (changed.length > 0) {
          await commitClassicOffsets(
            this.context.metadata,
            group.id,
            { incarnation: group.stored.incarnation, generation },
            changed,
            this.context.scheduler.now(),
          );
          if (group.generation === generation)
            for (const c of changed) group.committed.set(c.key, { offset: c.offset, metadata: c.metadata, topicId: c.topicId });
        }
      } catch (error) {
        if (!(error instanceof SpoolError && error.code === 'ILLEGAL_GENERATION')) throw error;
        // The store has moved past this coordinator's generation: someone else has the group now.
        this.context.drop(group.id, KafkaErrors.NOT_COORDINATOR);
        failed(KafkaErrors.NOT_COORDINATOR);
      }
    }
    return answer();
  }

  /** Per partition of a commit: the offset to write, or (in `errors`) why not. */
  private async committable(
    topics: readonly {
      readonly partitions: readonly {
        readonly partitionIndex: number;
        readonly committedOffset: number;
        readonly committedMetadata: string | null;
      }[];
    }[],
    resolved: readonly ResolvedTopic[],
    allowed: (topic: string) => boolean,
    byTopicId: boolean,
    errors: number[][],
  ): Promise<(ClassicCommit & { readonly at: readonly [number, number] })[]> {
    const commits: (ClassicCommit & { at: [number, number] })[] = [];
    for (const [ti, topic] of topics.entries()) {
      const name = resolved[ti]!.name;
      const permitted = name !== undefined && allowed(name);
      const item = permitted ? await this.context.log.topic(name) : undefined;
      for (const [pi, p] of topic.partitions.entries()) {
        const row = errors[ti]!;
        if (name === undefined) row[pi] = KafkaErrors.UNKNOWN_TOPIC_ID;
        else if (!permitted) row[pi] = KafkaErrors.TOPIC_AUTHORIZATION_FAILED;
        else if (item === undefined || p.partitionIndex < 0 || p.partitionIndex >= item.partitions)
          row[pi] = byTopicId ? KafkaErrors.UNKNOWN_TOPIC_ID : KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION;
        else if ((p.committedMetadata?.length ?? 0) > maxMetadataChars) row[pi] = KafkaErrors.OFFSET_METADATA_TOO_LARGE;
        else if (p.committedOffset < 0) row[pi] = KafkaErrors.OFFSET_OUT_OF_RANGE;
        else
          commits.push({
            key: tpKey(name, p.partitionIndex),
            offset: p.committedOffset,
            metadata: p.committedMetadata,
            topicId: item.id,
            at: [ti, pi],
          });
      }
    }
    return commits;
  }

  /**
   * TxnOffsetCommit's group side (KIP-447): the member's right to commit, checked as OffsetCommit's
   * (a member id and generation given; v0-2, or -1 and "", make no check), and each partition's
   * offset; nothing is written (the transaction holds the offsets until it ends). Answers the errors
   * per partition and the offsets to stage.
   */
  async checkTransactional(
    request: TxnOffsetCommitRequest,
    allowed: (topic: string) => boolean,
  ): Promise<{ errors: number[][]; commits: (ClassicCommit & { readonly at: readonly [number, number] })[] }> {
    checkGroupId(request.groupId);
    const errors = request.topics.map((t) => t.partitions.map((): number => KafkaErrors.NONE));
    const generation = request.generationIdOrMemberEpoch;
    // The group's coordinator answers (NOT_COORDINATOR elsewhere, as Kafka), whether or not the member is checked.
    const group = await this.context.group(request.groupId);
    if (request.memberId !== '' || generation >= 0) {
      const byEpoch =
        group.members.size > 0
          ? undefined
          : await this.consumer?.offsetFence(request.groupId, { memberId: request.memberId, memberEpoch: generation, kind: 'commit' });
      const refused =
        byEpoch ??
        (isDead(group)
          ? KafkaErrors.NOT_COORDINATOR
          : this.membership.checkCommit(group, request.memberId, generation, request.groupInstanceId));
      if (refused !== KafkaErrors.NONE) return { errors: errors.map((row) => row.map(() => refused)), commits: [] };
    }
    const resolved = request.topics.map((t) => ({ name: t.name, topicId: t.topicId }));
    const commits = await this.committable(request.topics, resolved, allowed, false, errors);
    // The transaction writes these offsets behind this coordinator's view of what is committed: a
    // later OffsetCommit of the value last seen must be written, not skipped as unchanged.
    for (const { key } of commits) group.committed.delete(key);
    return { errors, commits };
  }

  /**
   * One group's committed offsets; -1 for a partition with none. `topics: null` answers every
   * committed partition. `requireStable` (v7+, KIP-447): a partition whose offset a transaction still
   * holds answers UNSTABLE_OFFSET_COMMIT (the consumer asks again), as Kafka's coordinator does. (v9's member id and epoch matter only to consumer-protocol groups: a classic
   * group's offsets are read by anyone allowed to describe it, as in Kafka.)
   */
  async fetch(
    request: Pick<OffsetFetchRequestGroup, 'groupId' | 'topics'> & Partial<Pick<OffsetFetchRequestGroup, 'memberId' | 'memberEpoch'>>,
    allowed: (topic: string) => boolean,
    byTopicId: boolean,
    requireStable = false,
  ): Promise<Encodable<OffsetFetchResponseGroup>> {
    checkGroupId(request.groupId);
    await this.context.requireCoordinator(request.groupId);
    // v9+ from a member of a consumer-protocol group: fenced by its epoch, as Kafka's validateOffsetFetch.
    if (request.memberId !== undefined && request.memberId !== null) {
      const refused = await this.consumer?.offsetFence(request.groupId, {
        memberId: request.memberId,
        memberEpoch: request.memberEpoch ?? -1,
        kind: 'fetch',
      });
      if (refused !== undefined && refused !== KafkaErrors.NONE) return { groupId: request.groupId, errorCode: refused, topics: [] };
    }
    const stored = await loadOffsets(this.context.metadata, request.groupId, this.context.groups.topicIdentities);
    // The partitions a transaction still holds (one coordinator read per transactional id marked here).
    const unstable = new Set<string>();
    if (requireStable && this.transactionalOffsetPending) {
      const held = new Map<string, Promise<readonly { group: string; topic: string; partition: number }[]>>();
      for (const [key, offset] of stored) {
        const id = offset.pendingTransaction;
        if (id === null) continue;
        if (!held.has(id)) held.set(id, this.transactionalOffsetPending(id));
        if ((await held.get(id)!).some((o) => o.group === request.groupId && tpKey(o.topic, o.partition) === key)) unstable.add(key);
      }
    }
    const entry = (name: string | undefined, partitionIndex: number) => {
      const offset = name !== undefined && allowed(name) ? stored.get(tpKey(name, partitionIndex)) : undefined;
      if (name !== undefined && unstable.has(tpKey(name, partitionIndex)))
        return {
          partitionIndex,
          committedOffset: -1,
          committedLeaderEpoch: -1,
          metadata: '',
          errorCode: KafkaErrors.UNSTABLE_OFFSET_COMMIT,
        };
      const committed = offset?.committed ?? null;
      return {
        partitionIndex,
        committedOffset: committed ?? -1,
        committedLeaderEpoch: -1,
        metadata: committed === null ? '' : (offset?.metadata ?? ''),
        errorCode:
          name === undefined ? KafkaErrors.UNKNOWN_TOPIC_ID : allowed(name) ? KafkaErrors.NONE : KafkaErrors.TOPIC_AUTHORIZATION_FAILED,
      };
    };
    let topics: { name: string; topicId: string; resolved: string | undefined; partitionIndexes: readonly number[] }[];
    if (request.topics !== null) {
      const resolved = await this.resolve(request.topics, byTopicId);
      topics = request.topics.map((t, i) => ({ ...t, resolved: resolved[i]!.name }));
    } else {
      const byTopic = new Map<string, number[]>();
      for (const [key, offset] of stored) {
        const { topic, partition } = parseTpKey(key);
        if (offset.committed !== null && allowed(topic)) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
      }
      topics = await Promise.all(
        [...byTopic.entries()].map(async ([name, partitions]) => ({
          name,
          topicId: (await this.context.log.topic(name))?.id ?? ZERO_UUID,
          resolved: name,
          partitionIndexes: partitions.sort((a, b) => a - b),
        })),
      );
    }
    return {
      groupId: request.groupId,
      errorCode: KafkaErrors.NONE,
      topics: topics.map((t) => ({ name: t.name, topicId: t.topicId, partitions: t.partitionIndexes.map((p) => entry(t.resolved, p)) })),
    };
  }
}
