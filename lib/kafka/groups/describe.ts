/**
 * DescribeGroups and ListGroups: the groups this agent coordinates as their members are now, and any
 * other group as the store has it (an HTTP group is shown as Kafka tools show consumers). Reads only.
 *
 * A group is listed (ListGroups v5) with Kafka's type for it:
 * - "consumer" for a consumer-protocol (KIP-848) group, as Kafka 4.x's ConsumerGroup.asListedGroup:
 *   protocol type "consumer", and its state as ConsumerGroupDescribe shows it (Empty, Assigning,
 *   Reconciling, Stable), computed from the group as written (its coordinator writes every change).
 *   Members whose coordinator's vouch has lapsed count as gone (Empty), as every reader of the store
 *   counts them. It stays a consumer group once its members have left, until a classic or HTTP member
 *   takes it.
 * - "classic" for every other group: Kafka's classic groups are, and an HTTP group is described through
 *   DescribeGroups like one (protocol type "consumer"; its state Empty, Stable, or PreparingRebalance
 *   while partitions move between members).
 *
 * DescribeGroups describes classic groups only, as Kafka's GroupMetadataManager.describeGroups: a
 * consumer-protocol group is answered as a group that does not exist (Dead; v6: GROUP_ID_NOT_FOUND,
 * "Group … is not a classic group."). Kafka's tools describe it with ConsumerGroupDescribe.
 */
import { SpoolError } from '../../errors.js';
import { loadGroup, type LoadedGroup } from '../../groups/items.js';
import { liveCount } from '../../groups/ownership.js';
import type { GroupPhase } from '../../groups/state.js';
import type { DescribedGroup } from '../protocol/messages/describe-groups.js';
import { encodeAssignment, encodeSubscription } from './consumer-protocol.js';
import { type ConsumerGroup, groupPhase } from './consumer-state.js';
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
  if (stored.kind === 'kafka' || stored.members.length === 0) {
    // No members here or live in HTTP: a classic group Empty, or a consumer-protocol group (the state item says which).
    const loaded = await loadGroup(context.metadata, groupId, context.groups.topicIdentities);
    if (loaded.state.consumer !== undefined) return described({ errorMessage: notClassic(groupId) });
    return described({ groupState: 'Empty', protocolType: group.protocolType ?? 'consumer' });
  }
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

/** DescribeGroups' message for a consumer-protocol group (GROUP_ID_NOT_FOUND at v6, Dead before), as Kafka's. */
function notClassic(groupId: string): string {
  return `Group ${groupId} is not a classic group.`;
}

export interface ListedGroup {
  readonly groupId: string;
  readonly protocolType: string;
  /**
   * Kafka's group state: for a classic group Empty, PreparingRebalance, CompletingRebalance, Stable;
   * for a consumer-protocol group Empty, Assigning, Reconciling, Stable.
   */
  readonly groupState: string;
  /** Kafka's group type (ListGroups v5): "consumer" for a consumer-protocol group, "classic" for any other (see the module comment). */
  readonly groupType: 'classic' | 'consumer';
}

const httpStates: Readonly<Record<GroupPhase, string>> = { empty: 'Empty', stable: 'Stable', rebalancing: 'PreparingRebalance' };

/** Every group in the store, and Kafka groups still forming here; with their protocol type, state and type. */
export async function listGroups(context: GroupContext): Promise<ListedGroup[]> {
  const now = context.scheduler.now();
  const stored = await context.groups.listLoaded();
  // Which groups are consumer-protocol groups, and their state, is in their state items (the HTTP listing does not say).
  const consumers = stored.map(({ group, loaded }) => listedConsumerGroup(group, loaded, now));
  const listed = new Map<string, ListedGroup>();
  stored.forEach((g, index) => {
    listed.set(
      g.group,
      consumers[index] ?? { groupId: g.group, protocolType: 'consumer', groupState: httpStates[g.state], groupType: 'classic' },
    );
  });
  for (const [groupId, group] of context.coordinated) {
    if (group.phase === 'Dead') continue;
    // An Empty classic group here adds nothing to the store's view, nor stands for a consumer-protocol group.
    const known = listed.get(groupId);
    if (group.phase === 'Empty' && (known === undefined || known.groupType === 'consumer')) continue;
    listed.set(groupId, { groupId, protocolType: group.protocolType ?? 'consumer', groupState: group.phase, groupType: 'classic' });
  }
  return [...listed.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
}

/**
 * A stored group as ListGroups shows it if it is a consumer-protocol group (see the module comment);
 * undefined for any other.
 */
export function listedConsumerGroup(groupId: string, loaded: LoadedGroup, nowMs: number): ListedGroup | undefined {
  const consumer = loaded.state.consumer;
  if (consumer === undefined) return undefined;
  const group = consumer.group as unknown as ConsumerGroup;
  return {
    groupId,
    protocolType: 'consumer',
    groupState: liveCount(loaded, nowMs) > 0 ? groupPhase(group) : 'Empty',
    groupType: 'consumer',
  };
}

function byTopic(partitions: readonly { topic: string; partition: number }[]): { topic: string; partitions: number[] }[] {
  const topics = new Map<string, number[]>();
  for (const { topic, partition } of partitions) topics.set(topic, [...(topics.get(topic) ?? []), partition]);
  return [...topics.entries()].map(([topic, list]) => ({ topic, partitions: list }));
}
