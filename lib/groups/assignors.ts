/**
 * Partition assignment strategies, as Kafka's client assignors. Pure and deterministic: members and
 * partitions are sorted first, so every instance computes the same answer from the same group state.
 * A member gets partitions only of topics it subscribes to; members beyond the partition count get
 * none.
 *
 * - range (Kafka's RangeAssignor): per topic, the partitions in order are cut into contiguous ranges,
 *   the first `partitions % members` members taking one extra.
 * - roundrobin (Kafka's RoundRobinAssignor): all (topic, partition) pairs in order are dealt to the
 *   members in turn, skipping members not subscribed to the pair's topic.
 */
export type AssignorName = 'range' | 'roundrobin';
export const assignorNames: readonly AssignorName[] = ['range', 'roundrobin'];

export interface MemberSubscription {
  readonly memberId: string;
  readonly topics: readonly string[];
}

/** `topic/partition` → member id. */
export type Assignment = Record<string, string>;

export const tpKey = (topic: string, partition: number) => `${topic}/${partition}`;

export function parseTpKey(key: string): { topic: string; partition: number } {
  const slash = key.lastIndexOf('/');
  return { topic: key.slice(0, slash), partition: Number(key.slice(slash + 1)) };
}

export function assign(
  name: AssignorName,
  members: readonly MemberSubscription[],
  partitionsByTopic: Readonly<Record<string, number>>,
): Assignment {
  const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  const topics = [...new Set(sorted.flatMap((m) => m.topics))].filter((t) => (partitionsByTopic[t] ?? 0) > 0).sort();
  const out: Assignment = {};
  if (name === 'range') {
    for (const topic of topics) {
      const subscribers = sorted.filter((m) => m.topics.includes(topic));
      const count = partitionsByTopic[topic]!;
      const each = Math.floor(count / subscribers.length);
      const extra = count % subscribers.length;
      let partition = 0;
      subscribers.forEach((member, index) => {
        const take = each + (index < extra ? 1 : 0);
        for (let i = 0; i < take; i++) out[tpKey(topic, partition++)] = member.memberId;
      });
    }
    return out;
  }
  let turn = 0;
  for (const topic of topics) {
    for (let partition = 0; partition < partitionsByTopic[topic]!; partition++) {
      for (let tries = 0; tries < sorted.length; tries++) {
        const member = sorted[turn++ % sorted.length]!;
        if (member.topics.includes(topic)) {
          out[tpKey(topic, partition)] = member.memberId;
          break;
        }
      }
    }
  }
  return out;
}
