/**
 * DescribeGroups and ListGroups: the groups this agent coordinates as their members are now, and any
 * other group as the store has it (an HTTP group is shown as Kafka tools show consumers). Reads only.
 *
 * Every group is listed with type "classic" (ListGroups v5): Kafka's classic groups are, and an HTTP
 * group is described through DescribeGroups like one (protocol type "consumer"; its state Empty,
 * Stable, or PreparingRebalance while partitions move between members).
 */
import { SpoolError } from '../../errors.js';
import type { GroupPhase } from '../../groups/state.js';
import type { DescribedGroup } from '../protocol/messages/describe-groups.js';
import { encodeAssignment, encodeSubscription } from './consumer-protocol.js';
import { KafkaErrors } from '../errors.js';
import { checkGroupId, type GroupContext } from './group.js';

export async function describeGroup(context: GroupContext, groupId: string): Promise<DescribedGroup> {
  const described = (fields: Partial<DescribedGroup>): DescribedGroup => ({
    errorCode: KafkaErrors.NONE,
    errorMessage: null,
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
    return described({ errorCode: KafkaErrors.INVALID_GROUP_ID, errorMessage: `invalid group id ${JSON.stringify(groupId)}` });
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
  // Kafka answers Dead with no error up to v5; v6 adds GROUP_ID_NOT_FOUND (the handler decides by version).
  if (stored === undefined) return described({ errorMessage: notFound(groupId) });
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

/** The message DescribeGroups v6+ answers with GROUP_ID_NOT_FOUND; earlier versions show the group Dead without an error. */
export function notFound(groupId: string): string {
  return `group ${groupId} not found`;
}

export interface ListedGroup {
  readonly groupId: string;
  readonly protocolType: string;
  /** Kafka's classic group state: Empty, PreparingRebalance, CompletingRebalance, Stable. */
  readonly groupState: string;
  /** Kafka's group type (ListGroups v5): "classic" for every group here (see the module comment). */
  readonly groupType: 'classic';
}

const httpStates: Readonly<Record<GroupPhase, string>> = { empty: 'Empty', stable: 'Stable', rebalancing: 'PreparingRebalance' };

/** Every group in the store, and Kafka groups still forming here; with their protocol type and state. */
export async function listGroups(context: GroupContext): Promise<ListedGroup[]> {
  const listed = new Map<string, ListedGroup>();
  for (const g of await context.groups.list()) {
    listed.set(g.group, { groupId: g.group, protocolType: 'consumer', groupState: httpStates[g.state], groupType: 'classic' });
  }
  for (const [groupId, group] of context.coordinated) {
    if (group.phase === 'Dead' || (group.phase === 'Empty' && !listed.has(groupId))) continue;
    listed.set(groupId, { groupId, protocolType: group.protocolType ?? 'consumer', groupState: group.phase, groupType: 'classic' });
  }
  return [...listed.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
}
function byTopic(partitions: readonly { topic: string; partition: number }[]): { topic: string; partitions: number[] }[] {
  const topics = new Map<string, number[]>();
  for (const { topic, partition } of partitions) topics.set(topic, [...(topics.get(topic) ?? []), partition]);
  return [...topics.entries()].map(([topic, list]) => ({ topic, partitions: list }));
}
