/**
 * DeleteGroups and OffsetDelete for the groups this agent coordinates, of either kind, over the items
 * every group shares (lib/groups/items.ts). As Kafka's group coordinator:
 *
 * - A group is deleted only while it has no members (NON_EMPTY_GROUP otherwise); a group with neither
 *   state nor offsets is GROUP_ID_NOT_FOUND. Deleting removes every item of the group, as the HTTP
 *   delete does (GroupCoordinator.deleteGroup); then this agent, its coordinator, deletes the group's
 *   coordinator item (ClusterView.release, which the HTTP delete leaves) and forgets the group.
 * - An offset is deleted only for a topic the group is not subscribed to (GROUP_SUBSCRIBED_TO_TOPIC
 *   per partition otherwise): an Empty group is subscribed to nothing; a consumer group's members to
 *   the topics their subscriptions name; a group of another protocol type with members is
 *   NON_EMPTY_GROUP. Deleting an offset that is not there succeeds.
 *
 * Work already queued for the group (a generation or its end being written) is waited for first, so
 * the store is read as the coordinator last left it.
 */
import { SpoolError } from '../../errors.js';
import { tpKey } from '../../groups/assignors.js';
import { deleteOffsetItems, loadOffsets } from '../../groups/items.js';
import { KafkaErrors } from '../errors.js';
import type { OffsetDeleteRequest, OffsetDeleteResponse } from '../protocol/messages/offset-delete.js';
import type { Encodable } from '../protocol/runtime.js';
import { subscribedTopics } from './consumer-protocol.js';
import { checkGroupId, GroupRefusal, type Group, type GroupContext } from './group.js';

const notFound = (groupId: string) => new GroupRefusal(KafkaErrors.GROUP_ID_NOT_FOUND, `group ${groupId} does not exist`);
const notEmpty = (groupId: string) => new GroupRefusal(KafkaErrors.NON_EMPTY_GROUP, `group ${groupId} has members`);

/** The group, once its queued writes are done. */
async function settled(context: GroupContext, groupId: string): Promise<Group> {
  checkGroupId(groupId);
  const group = await context.group(groupId);
  await group.queue;
  return group;
}

/** Deletes an empty group and all its items; throws GroupRefusal (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, …). */
export async function deleteGroup(context: GroupContext, groupId: string): Promise<void> {
  const group = await settled(context, groupId);
  if (group.phase !== 'Empty' || group.members.size > 0) throw notEmpty(groupId);
  try {
    await context.groups.deleteGroup(groupId);
  } catch (error) {
    if (error instanceof SpoolError && error.code === 'GROUP_NOT_FOUND') throw notFound(groupId);
    if (error instanceof SpoolError && error.code === 'GROUP_NOT_EMPTY') throw notEmpty(groupId);
    throw error;
  }
  // Its state and coordinator item are gone: a group of the same name starts afresh (and is coordinated anew).
  await context.cluster.release(groupId);
  context.drop(groupId, KafkaErrors.NOT_COORDINATOR);
}

/** The topics the group's members consume, or 'all' when it cannot tell (a member's subscription unreadable). */
async function subscriptions(context: GroupContext, group: Group): Promise<ReadonlySet<string> | 'all'> {
  if (group.members.size > 0) {
    if (group.protocolType !== 'consumer') throw notEmpty(group.id);
    const topics = new Set<string>();
    for (const member of group.members.values()) {
      // Every protocol it offered: during a rebalance the chosen one is not known yet.
      for (const metadata of [member.metadata, ...member.protocols.map((p) => p.metadata)]) {
        if (metadata.length === 0) continue;
        const named = subscribedTopics(metadata);
        if (named === undefined) return 'all';
        for (const topic of named) topics.add(topic);
      }
    }
    return topics;
  }
  // No Kafka members here: an HTTP group's live members, as the store has them.
  const stored = await context.groups.describe(group.id).catch((error: unknown) => {
    if (error instanceof SpoolError && error.code === 'GROUP_NOT_FOUND') throw notFound(group.id);
    throw error;
  });
  if (stored.kind === 'kafka' && stored.members.length > 0) throw notEmpty(group.id);
  return new Set(stored.members.flatMap((m) => m.topics));
}

export async function deleteOffsets(
  context: GroupContext,
  request: OffsetDeleteRequest,
  allowed: (topic: string) => boolean,
): Promise<Encodable<OffsetDeleteResponse>> {
  const group = await settled(context, request.groupId);
  const subscribed = await subscriptions(context, group);
  const stored = await loadOffsets(context.metadata, group.id, context.groups.topicIdentities);
  const deleting: string[] = [];
  const topics = await Promise.all(
    request.topics.map(async (topic) => {
      const item = allowed(topic.name) ? await context.log.topic(topic.name) : undefined;
      const errorFor = (partitionIndex: number): number => {
        if (!allowed(topic.name)) return KafkaErrors.TOPIC_AUTHORIZATION_FAILED;
        if (item === undefined || partitionIndex < 0 || partitionIndex >= item.partitions) return KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION;
        if (subscribed === 'all' || subscribed.has(topic.name)) return KafkaErrors.GROUP_SUBSCRIBED_TO_TOPIC;
        const key = tpKey(topic.name, partitionIndex);
        if (stored.has(key)) deleting.push(key);
        return KafkaErrors.NONE;
      };
      return {
        name: topic.name,
        partitions: topic.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: errorFor(p.partitionIndex) })),
      };
    }),
  );
  await deleteOffsetItems(context.metadata, group.id, deleting);
  for (const key of deleting) group.committed.delete(key); // a commit of the same offset is written again
  return { errorCode: KafkaErrors.NONE, throttleTimeMs: 0, topics };
}
