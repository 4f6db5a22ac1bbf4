/**
 * The server-side assignors of KIP-848 consumer groups ("uniform", the default, and "range"), and the
 * topic regex subscriptions they resolve. Pure: an assignor maps the members' subscriptions, their
 * current target and the topics' partition counts to the next target.
 *
 * Invariants (test/kafka/consumer-state.test.ts):
 *  - every partition of a topic some member subscribes to goes to exactly one member subscribed to it;
 *  - uniform: member sizes differ by at most one whenever the subscriptions allow it, and a member keeps
 *    every partition it had that balance does not require to move (sticky);
 *  - range: per topic, the members subscribed to it, sorted by member id, take contiguous ranges, the first
 *    `partitions % members` one extra, so co-partitioned topics line up.
 *
 * Kafka's UniformAssignor balances heterogeneous subscriptions by an optimised search; this one moves one
 * partition at a time from a member to one with at least two fewer, which ends balanced as far as the
 * subscriptions allow (each move lowers the sum of squared sizes) and is deterministic.
 */
import { RE2JS } from 're2js';

/** topic name → its partitions, ascending. */
export type TopicPartitions = Readonly<Record<string, readonly number[]>>;

export interface AssignorMember {
  readonly memberId: string;
  /** The topics the member subscribes to (a regex already resolved), existing or not. */
  readonly topics: readonly string[];
  /** What the previous target gave it. */
  readonly current: TopicPartitions;
}

export type ConsumerAssignorName = 'uniform' | 'range';

export const consumerAssignorNames: readonly ConsumerAssignorName[] = ['uniform', 'range'];

/** Kafka's group.consumer.assignors default order: the first is used when no member names one. */
export const defaultConsumerAssignor: ConsumerAssignorName = 'uniform';

export function isConsumerAssignor(name: string): name is ConsumerAssignorName {
  return (consumerAssignorNames as readonly string[]).includes(name);
}

export function assignConsumers(
  name: ConsumerAssignorName,
  members: readonly AssignorMember[],
  partitionCounts: Readonly<Record<string, number>>,
): Record<string, TopicPartitions> {
  return name === 'range' ? rangeAssign(members, partitionCounts) : uniformAssign(members, partitionCounts);
}

function rangeAssign(
  members: readonly AssignorMember[],
  partitionCounts: Readonly<Record<string, number>>,
): Record<string, TopicPartitions> {
  const out = new Map<string, Map<string, number[]>>(members.map((m) => [m.memberId, new Map()]));
  for (const topic of subscribedTopics(members, partitionCounts)) {
    const subscribers = members
      .filter((m) => m.topics.includes(topic))
      .map((m) => m.memberId)
      .sort(compareIds);
    const count = partitionCounts[topic]!;
    const base = Math.floor(count / subscribers.length);
    const extra = count % subscribers.length;
    let next = 0;
    subscribers.forEach((memberId, i) => {
      const size = base + (i < extra ? 1 : 0);
      if (size > 0) out.get(memberId)!.set(topic, range(next, next + size));
      next += size;
    });
  }
  return finish(out);
}

function uniformAssign(
  members: readonly AssignorMember[],
  partitionCounts: Readonly<Record<string, number>>,
): Record<string, TopicPartitions> {
  const byId = new Map(members.map((m) => [m.memberId, m]));
  const owned = new Map<string, Set<string>>(members.map((m) => [m.memberId, new Set()]));
  const ownerOf = new Map<string, string>();
  const give = (memberId: string, key: string): void => {
    const previous = ownerOf.get(key);
    if (previous !== undefined) owned.get(previous)!.delete(key);
    owned.get(memberId)!.add(key);
    ownerOf.set(key, memberId);
  };
  const eligible = (memberId: string, key: string): boolean => byId.get(memberId)!.topics.includes(topicOf(key));
  // 1. Sticky: each member keeps what it had that still exists, it still subscribes to, and no one kept first.
  for (const m of [...members].sort((a, b) => compareIds(a.memberId, b.memberId))) {
    for (const [topic, partitions] of Object.entries(m.current)) {
      const count = partitionCounts[topic];
      if (count === undefined || !m.topics.includes(topic)) continue;
      for (const p of partitions) if (p < count && !ownerOf.has(key(topic, p))) give(m.memberId, key(topic, p));
    }
  }
  // 2. Each partition no one has goes to the least loaded member subscribed to its topic.
  for (const topic of subscribedTopics(members, partitionCounts)) {
    for (let p = 0; p < partitionCounts[topic]!; p++) {
      const k = key(topic, p);
      if (ownerOf.has(k)) continue;
      const to = leastLoaded(
        [...owned.keys()].filter((id) => eligible(id, k)),
        owned,
      );
      if (to !== undefined) give(to, k);
    }
  }
  // 3. Balance: move one partition from a member to an eligible one with at least two fewer, until none can move.
  for (;;) {
    const ids = [...owned.keys()].sort((a, b) => owned.get(b)!.size - owned.get(a)!.size || compareIds(a, b));
    const move = findMove(ids, owned, eligible);
    if (move === undefined) break;
    give(move.to, move.key);
  }
  const out = new Map<string, Map<string, number[]>>(members.map((m) => [m.memberId, new Map()]));
  for (const [k, memberId] of ownerOf) {
    const topics = out.get(memberId)!;
    const topic = topicOf(k);
    topics.set(topic, [...(topics.get(topic) ?? []), partitionOf(k)]);
  }
  return finish(out);
}

function findMove(
  idsBySizeDesc: readonly string[],
  owned: ReadonlyMap<string, ReadonlySet<string>>,
  eligible: (memberId: string, key: string) => boolean,
): { readonly to: string; readonly key: string } | undefined {
  for (const from of idsBySizeDesc) {
    const fromSize = owned.get(from)!.size;
    // The smallest receivers first; the last partitions of the giver first (they are the newest in key order).
    for (const to of [...idsBySizeDesc].reverse()) {
      if (fromSize - owned.get(to)!.size < 2) break;
      const keys = [...owned.get(from)!].sort(compareKeys).reverse();
      const k = keys.find((candidate) => eligible(to, candidate));
      if (k !== undefined) return { to, key: k };
    }
  }
  return undefined;
}

function leastLoaded(ids: readonly string[], owned: ReadonlyMap<string, ReadonlySet<string>>): string | undefined {
  let best: string | undefined;
  for (const id of ids) {
    if (
      best === undefined ||
      owned.get(id)!.size < owned.get(best)!.size ||
      (owned.get(id)!.size === owned.get(best)!.size && compareIds(id, best) < 0)
    ) {
      best = id;
    }
  }
  return best;
}

/** Existing topics some member subscribes to, sorted. */
function subscribedTopics(members: readonly AssignorMember[], partitionCounts: Readonly<Record<string, number>>): string[] {
  return [...new Set(members.flatMap((m) => m.topics))].filter((t) => partitionCounts[t] !== undefined).sort();
}

function finish(out: ReadonlyMap<string, ReadonlyMap<string, number[]>>): Record<string, TopicPartitions> {
  const result: Record<string, TopicPartitions> = {};
  for (const [memberId, topics] of out) {
    result[memberId] = Object.fromEntries(
      [...topics].sort(([a], [b]) => compareIds(a, b)).map(([t, ps]) => [t, [...ps].sort((x, y) => x - y)]),
    );
  }
  return result;
}

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
const topicOf = (k: string): string => k.slice(0, k.lastIndexOf('\u0000'));
const partitionOf = (k: string): number => Number(k.slice(k.lastIndexOf('\u0000') + 1));
const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const compareKeys = (a: string, b: string): number => compareIds(topicOf(a), topicOf(b)) || partitionOf(a) - partitionOf(b);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** A compiled topic regex subscription: whether a whole topic name matches. */
export interface TopicRegex {
  test(topic: string): boolean;
}

/** Compiled subscriptions, shared by every heartbeat that resolves the same source (bounded). */
const compiledRegexes = new Map<string, TopicRegex | string>();
const maxCompiledRegexes = 1000;

/**
 * A topic regex subscription in RE2/J syntax, which is what Kafka compiles it with, by re2js (a port
 * of RE2/J): matching takes time linear in the topic name whatever the pattern, so a subscription
 * cannot stall the agent (a backtracking engine took 40 s on `(.*.*)*x`). The whole topic name must
 * match (RE2/J `matches()`). A pattern RE2 refuses (back-references, look-around, bad syntax) is the
 * message of INVALID_REGULAR_EXPRESSION.
 */
export function compileTopicRegex(source: string): TopicRegex | string {
  const known = compiledRegexes.get(source);
  if (known !== undefined) return known;
  let compiled: TopicRegex | string;
  try {
    const pattern = RE2JS.compile(source);
    compiled = { test: (topic) => pattern.matches(topic) };
  } catch (error) {
    compiled = `regular expression ${JSON.stringify(source)} is not valid: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (compiledRegexes.size >= maxCompiledRegexes) compiledRegexes.delete(compiledRegexes.keys().next().value!);
  compiledRegexes.set(source, compiled);
  return compiled;
}

/** The topics a subscription names: the names themselves (existing or not) and the existing topics the regex matches. Sorted. */
export function resolveSubscription(
  names: readonly string[],
  regex: TopicRegex | null,
  topics: Readonly<Record<string, number>>,
): string[] {
  const matching = regex === null ? [] : Object.keys(topics).filter((t) => regex.test(t));
  return [...new Set([...names, ...matching])].sort();
}
