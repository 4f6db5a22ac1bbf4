/**
 * A share group's members (KIP-932's ShareGroupHeartbeat), as pure functions over the group's
 * membership: who is in it, what each subscribes to, and the partitions each is assigned. A share
 * group needs no revocation: every record is locked to the member that acquired it, so a partition
 * may move, or be shared by several members, at once; an assignment only spreads members over the
 * partitions, as Kafka's SimpleAssignor does.
 *
 * Invariants (test/queues/members.test.ts):
 *  1. Every partition of a topic some live member subscribes to is assigned to at least one member
 *     subscribed to it; a member is assigned only partitions of topics it subscribes to.
 *  2. With no more subscribers than partitions, each partition goes to exactly one of them, and
 *     their counts differ by at most one; with more, each member gets one partition and the
 *     partitions' sharers differ by at most one.
 *  3. The group epoch grows by one whenever the members, their subscriptions or the partition counts
 *     change, and never otherwise; a member is told its assignment when its epoch is behind the group's.
 *  4. A member whose session ended (no heartbeat for `sessionTimeoutMs`) is no longer a member; a
 *     group holds at most `maxShareGroupMembers` (GROUP_MAX_SIZE_REACHED for one more).
 *  5. A member's heartbeat carries the epoch it was last told, or the one before (its answer lost),
 *     else it is fenced (FENCED_MEMBER_EPOCH: it rejoins with epoch 0), as Kafka's coordinator does.
 */

/** group.share.session.timeout.ms, group.share.heartbeat.interval.ms and group.share.max.size, Kafka's defaults. */
export const shareSessionTimeoutMs = 45_000;
export const shareHeartbeatIntervalMs = 5000;
export const maxShareGroupMembers = 200;

export interface ShareMember {
  readonly topics: readonly string[];
  readonly rackId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  /** The group epoch of the assignment it was last told. */
  readonly epoch: number;
  /** The one it was told before (a heartbeat may carry it when the answer with `epoch` was lost). */
  readonly previousEpoch?: number;
  readonly lastSeenMs: number;
}

export interface ShareMembership {
  readonly groupEpoch: number;
  /** Partition counts of the subscribed topics the assignment was computed with. */
  readonly partitionCounts: Readonly<Record<string, number>>;
  readonly members: Readonly<Record<string, ShareMember>>;
}

/** topic name → partitions, ascending. */
export type ShareAssignment = Readonly<Record<string, readonly number[]>>;

export const emptyMembership: ShareMembership = { groupEpoch: 0, partitionCounts: {}, members: {} };

/** A heartbeat, as ShareGroupHeartbeat carries it. */
export interface ShareHeartbeat {
  readonly memberId: string;
  /** 0: joining; -1: leaving; else the epoch it was last told. */
  readonly memberEpoch: number;
  /** null: unchanged since the last heartbeat. */
  readonly topics: readonly string[] | null;
  readonly rackId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
}

export class ShareMembershipError extends Error {
  constructor(
    readonly code: 'UNKNOWN_MEMBER_ID' | 'FENCED_MEMBER_EPOCH' | 'INVALID_REQUEST' | 'GROUP_MAX_SIZE_REACHED',
    message: string,
  ) {
    super(message);
  }
}

/** Members whose session ended by `nowMs` removed (invariant 4). */
export function withoutExpired(membership: ShareMembership, nowMs: number, sessionTimeoutMs: number): ShareMembership {
  const members = Object.fromEntries(Object.entries(membership.members).filter(([, m]) => m.lastSeenMs + sessionTimeoutMs > nowMs));
  if (Object.keys(members).length === Object.keys(membership.members).length) return membership;
  return { ...membership, members, groupEpoch: membership.groupEpoch + 1 };
}

/**
 * The membership after a heartbeat, and whether it changed anything a reader must see (members,
 * subscriptions, the epoch): the caller writes it then, or when the member's last write of its
 * liveness is older than `refreshMs`. `partitionCounts(topics)` answers the existing topics' counts.
 */
export function heartbeat(
  current: ShareMembership,
  request: ShareHeartbeat,
  nowMs: number,
  partitionCounts: Readonly<Record<string, number>>,
): { readonly next: ShareMembership; readonly changed: boolean } {
  const known = current.members[request.memberId];
  if (request.memberEpoch === -1) {
    if (!known) throw new ShareMembershipError('UNKNOWN_MEMBER_ID', `member ${request.memberId} is not in the share group`);
    const { [request.memberId]: _, ...members } = current.members;
    return { next: rebalanced({ ...current, members }, partitionCounts, true), changed: true };
  }
  if (request.memberEpoch !== 0 && !known)
    throw new ShareMembershipError(
      'UNKNOWN_MEMBER_ID',
      `member ${request.memberId} is not in the share group (its session ended): join again`,
    );
  if (!known && Object.keys(current.members).length >= maxShareGroupMembers)
    throw new ShareMembershipError(
      'GROUP_MAX_SIZE_REACHED',
      `the share group has reached its maximum size of ${maxShareGroupMembers} members`,
    );
  if (known && request.memberEpoch > known.epoch)
    throw new ShareMembershipError(
      'FENCED_MEMBER_EPOCH',
      `The share group member has a greater member epoch (${request.memberEpoch}) than the one known by the group coordinator (${known.epoch}). The member must abandon all its partitions and rejoin.`,
    );
  if (known && request.memberEpoch !== 0 && request.memberEpoch < known.epoch && request.memberEpoch !== known.previousEpoch)
    throw new ShareMembershipError(
      'FENCED_MEMBER_EPOCH',
      `The share group member has a smaller member epoch (${request.memberEpoch}) than the one known by the group coordinator (${known.epoch}). The member must abandon all its partitions and rejoin.`,
    );
  const topics = request.topics ?? known?.topics;
  if (topics === undefined)
    throw new ShareMembershipError('INVALID_REQUEST', 'a joining member must name its subscribed topics (SubscribedTopicNames)');
  const member: ShareMember = {
    topics: [...new Set(topics)].sort(),
    rackId: request.rackId,
    clientId: request.clientId,
    clientHost: request.clientHost,
    epoch: known?.epoch ?? 0,
    lastSeenMs: nowMs,
  };
  const joined = !known || request.memberEpoch === 0;
  const resubscribed = known !== undefined && !sameList(known.topics, member.topics);
  const next = rebalanced(
    { ...current, members: { ...current.members, [request.memberId]: member } },
    partitionCounts,
    joined || resubscribed,
  );
  const told: ShareMember = {
    ...next.members[request.memberId]!,
    epoch: next.groupEpoch,
    ...(known && known.epoch !== next.groupEpoch
      ? { previousEpoch: known.epoch }
      : known?.previousEpoch === undefined
        ? {}
        : { previousEpoch: known.previousEpoch }),
  };
  return {
    next: { ...next, members: { ...next.members, [request.memberId]: told } },
    changed: next.groupEpoch !== current.groupEpoch || known?.epoch !== next.groupEpoch,
  };
}

/**
 * The group epoch bumped if the members' subscriptions or the partition counts changed (invariant 3).
 * A subscribed topic `counts` does not name keeps the count stored (the caller looked its topics up
 * before another member's change, which the compare-and-set then showed it).
 */
function rebalanced(membership: ShareMembership, counts: Readonly<Record<string, number>>, force = false): ShareMembership {
  const subscribed = [...new Set(Object.values(membership.members).flatMap((m) => m.topics))].sort();
  const countOf = (topic: string) => counts[topic] ?? membership.partitionCounts[topic];
  const partitionCounts = Object.fromEntries(subscribed.filter((t) => countOf(t) !== undefined).map((t) => [t, countOf(t)!]));
  const same = sameCounts(partitionCounts, membership.partitionCounts);
  return same && !force ? membership : { ...membership, partitionCounts, groupEpoch: membership.groupEpoch + 1 };
}

/** Each member's partitions (invariants 1 and 2): per topic, its subscribers sorted by id share its partitions round-robin. */
export function assignments(membership: ShareMembership): Record<string, ShareAssignment> {
  const out: Record<string, Record<string, number[]>> = Object.fromEntries(Object.keys(membership.members).map((id) => [id, {}]));
  for (const [topic, count] of Object.entries(membership.partitionCounts)) {
    const subscribers = Object.keys(membership.members)
      .filter((id) => membership.members[id]!.topics.includes(topic))
      .sort();
    if (subscribers.length === 0 || count === 0) continue;
    subscribers.forEach((id, index) => {
      const partitions: number[] = [];
      if (subscribers.length <= count) for (let p = index; p < count; p += subscribers.length) partitions.push(p);
      else partitions.push(index % count);
      out[id]![topic] = partitions;
    });
  }
  return out;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameCounts(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}
