/**
 * OffsetCommit and OffsetFetch for the groups this agent coordinates, over the offset items every
 * kind of group shares (lib/groups/items.ts). Whether a member may commit is its membership's
 * question (`CommitCheck`); what is written, and fenced, is the same for every kind.
 *
 * Invariants (test/kafka/classic-groups.test.ts):
 * - Offsets are committed only by a member of the current generation (or, from outside the group,
 *   only while the group has no members), checked here and again by the store: each commit is fenced
 *   by the stored incarnation and generation.
 * - Unchanged offsets (a consumer's periodic auto-commit of an idle partition) are not written again.
 */
import { SpoolError } from '../../errors.js';
import { parseTpKey, tpKey } from '../../groups/assignors.js';
import { commitClassicOffsets } from '../../groups/classic.js';
import { loadOffsets } from '../../groups/items.js';
import type { OffsetCommitRequest, OffsetCommitResponse } from '../apis/offset-commit.js';
import type { OffsetFetchRequest, OffsetFetchResponse } from '../apis/offset-fetch.js';
import { KafkaErrors } from '../errors.js';
import { isDead } from './classic-state.js';
import { checkGroupId, type Group, type GroupContext } from './group.js';

/** What the offsets ask of a group's membership. */
export interface CommitCheck {
  /** NONE if the member may commit at this generation (its session renewed), or the error each partition is answered with. */
  checkCommit(group: Group, memberId: string, generationId: number): number;
}

const maxMetadataChars = 4096; // Kafka's offset.metadata.max.bytes

export class GroupOffsets {
  constructor(
    private readonly context: GroupContext,
    private readonly membership: CommitCheck,
  ) {}

  async commit(request: OffsetCommitRequest, allowed: (topic: string) => boolean): Promise<OffsetCommitResponse> {
    checkGroupId(request.groupId);
    const group = await this.context.group(request.groupId);
    const everyPartition = (errorCode: number): OffsetCommitResponse => ({
      throttleTimeMs: 0,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })),
      })),
    });
    const outsider = request.generationId < 0 && request.memberId === '';
    const asMember = !outsider || group.members.size > 0;
    if (asMember) {
      const refused = this.membership.checkCommit(group, request.memberId, request.generationId);
      if (refused !== KafkaErrors.NONE) return everyPartition(refused);
    }
    // Per partition: is it one to commit?
    const errors = new Map<string, number>();
    const commits: { key: string; offset: number; metadata: string | null; topicId: string }[] = [];
    for (const topic of request.topics) {
      const item = allowed(topic.name) ? await this.context.log.topic(topic.name) : undefined;
      for (const p of topic.partitions) {
        const key = tpKey(topic.name, p.partitionIndex);
        if (!allowed(topic.name)) errors.set(key, KafkaErrors.TOPIC_AUTHORIZATION_FAILED);
        else if (item === undefined || p.partitionIndex < 0 || p.partitionIndex >= item.partitions)
          errors.set(key, KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION);
        else if ((p.committedMetadata?.length ?? 0) > maxMetadataChars) errors.set(key, KafkaErrors.OFFSET_METADATA_TOO_LARGE);
        else if (p.committedOffset < 0) errors.set(key, KafkaErrors.OFFSET_OUT_OF_RANGE);
        else commits.push({ key, offset: p.committedOffset, metadata: p.committedMetadata, topicId: item.id });
      }
    }
    const failed = (code: number) => {
      for (const c of commits) errors.set(c.key, code);
    };
    if (asMember && (isDead(group) || group.generation !== request.generationId || !group.members.has(request.memberId))) {
      failed(
        isDead(group)
          ? KafkaErrors.NOT_COORDINATOR
          : group.members.has(request.memberId)
            ? KafkaErrors.ILLEGAL_GENERATION
            : KafkaErrors.UNKNOWN_MEMBER_ID,
      ); // changed while the topics were read
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
        if (changed.length > 0) {
          await commitClassicOffsets(
            this.context.metadata,
            group.id,
            { incarnation: group.stored.incarnation, generation: request.generationId },
            changed,
            this.context.scheduler.now(),
          );
          if (group.generation === request.generationId)
            for (const c of changed) group.committed.set(c.key, { offset: c.offset, metadata: c.metadata, topicId: c.topicId });
        }
      } catch (error) {
        if (!(error instanceof SpoolError && error.code === 'ILLEGAL_GENERATION')) throw error;
        // The store has moved past this coordinator's generation: someone else has the group now.
        this.context.drop(group.id, KafkaErrors.NOT_COORDINATOR);
        failed(KafkaErrors.NOT_COORDINATOR);
      }
    }
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partitionIndex,
          errorCode: errors.get(tpKey(t.name, p.partitionIndex)) ?? KafkaErrors.NONE,
        })),
      })),
    };
  }

  /** Committed offsets; -1 for a partition with none. `topics: null` answers every committed partition. */
  async fetch(request: OffsetFetchRequest, allowed: (topic: string) => boolean): Promise<OffsetFetchResponse> {
    checkGroupId(request.groupId);
    await this.context.requireCoordinator(request.groupId);
    const stored = await loadOffsets(this.context.metadata, request.groupId, this.context.groups.topicIdentities);
    const entry = (name: string, partitionIndex: number) => {
      const offset = allowed(name) ? stored.get(tpKey(name, partitionIndex)) : undefined;
      const committed = offset?.committed ?? null;
      return {
        partitionIndex,
        committedOffset: committed ?? -1,
        committedLeaderEpoch: -1,
        metadata: committed === null ? '' : (offset?.metadata ?? ''),
        errorCode: allowed(name) ? KafkaErrors.NONE : KafkaErrors.TOPIC_AUTHORIZATION_FAILED,
      };
    };
    let topics: { name: string; partitionIndexes: readonly number[] }[];
    if (request.topics !== null) topics = [...request.topics];
    else {
      const byTopic = new Map<string, number[]>();
      for (const [key, offset] of stored) {
        const { topic, partition } = parseTpKey(key);
        if (offset.committed !== null && allowed(topic)) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
      }
      topics = [...byTopic.entries()].map(([name, partitions]) => ({ name, partitionIndexes: partitions.sort((a, b) => a - b) }));
    }
    return {
      throttleTimeMs: 0,
      errorCode: KafkaErrors.NONE,
      topics: topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((p) => entry(t.name, p)) })),
    };
  }
}
