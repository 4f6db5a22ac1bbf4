/**
 * DescribeGroups and ListGroups: the groups this agent coordinates as their members are now, and any
 * other group as the store has it (an HTTP group is shown as Kafka tools show consumers). Reads only.
 */
import { SpoolError } from '../../errors.js';
import { encodeAssignment, encodeSubscription } from '../apis/consumer-protocol.js';
import type { DescribedGroup } from '../apis/describe-groups.js';
import { KafkaErrors } from '../errors.js';
import { checkGroupId, type GroupContext } from './group.js';

export async function describeGroup(context: GroupContext, groupId: string): Promise<DescribedGroup> {
  const described = (fields: Partial<DescribedGroup>): DescribedGroup => ({
    errorCode: KafkaErrors.NONE,
    groupId,
    groupState: 'Dead',
    protocolType: '',
    protocolData: '',
    members: [],
    authorizedOperations: -2147483648,
    ...fields,
  });
  try {
    checkGroupId(groupId);
  } catch {
    return described({ errorCode: KafkaErrors.INVALID_GROUP_ID });
  }
  const group = await context.group(groupId);
  if (group.phase !== 'Empty') {
    return described({
      groupState: group.phase,
      protocolType: group.protocolType ?? '',
      protocolData: group.phase === 'PreparingRebalance' ? '' : (group.protocol ?? ''),
      members: [...group.members.values()].map((m) => ({
        memberId: m.id,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: group.phase === 'PreparingRebalance' ? Buffer.alloc(0) : m.metadata,
        memberAssignment: group.phase === 'Stable' ? m.assignment : Buffer.alloc(0),
      })),
    });
  }
  // No Kafka members here: the group as the store has it (an HTTP group, shown as consumers would be).
  const stored = await context.groups.describe(groupId).catch((error: unknown) => {
    if (error instanceof SpoolError && error.code === 'GROUP_NOT_FOUND') return undefined;
    throw error;
  });
  if (stored === undefined) return described({});
  if (stored.kind === 'kafka' || stored.members.length === 0)
    return described({ groupState: 'Empty', protocolType: group.protocolType ?? 'consumer' });
  return described({
    groupState: stored.state === 'stable' ? 'Stable' : 'PreparingRebalance',
    protocolType: 'consumer',
    protocolData: stored.assignor ?? '',
    members: stored.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: null,
      clientId: 'spool-http',
      clientHost: '',
      memberMetadata: encodeSubscription({ topics: m.topics }),
      memberAssignment: encodeAssignment({ partitions: byTopic(m.assignments) }),
    })),
  });
}

/** Every group in the store, and Kafka groups still forming here; with their protocol type. */
export async function listGroups(context: GroupContext): Promise<{ groupId: string; protocolType: string }[]> {
  const names = new Set((await context.groups.list()).map((g) => g.group));
  for (const [id, group] of context.coordinated) if (group.phase !== 'Empty') names.add(id);
  return [...names].sort().map((groupId) => ({ groupId, protocolType: context.coordinated.get(groupId)?.protocolType ?? 'consumer' }));
}

function byTopic(partitions: readonly { topic: string; partition: number }[]): { topic: string; partitions: number[] }[] {
  const topics = new Map<string, number[]>();
  for (const { topic, partition } of partitions) topics.set(topic, [...(topics.get(topic) ?? []), partition]);
  return [...topics.entries()].map(([topic, list]) => ({ topic, partitions: list }));
}
