/**
 * Share partitions' states in the MetadataStore (keys.ts `sharePartitionKey`, one item per share
 * group and partition): read, decided by share-partition.ts, and written with a compare-and-set on
 * `version` (absent, for a partition the group has not read yet); when another agent wrote first,
 * decided again on the item the refusal carries. Any agent may serve any member of a share group:
 * there is no share coordinator process, and no cache to invalidate.
 *
 * Invariant: a state is written only as share-partition.ts decided it from the state it replaces,
 * so every invariant of share-partition.ts holds of the stored sequence of states, whatever the
 * number of agents (test/queues/store.suite.ts races them on the embedded store and DynamoDB Local).
 *
 * Cost: one read and one conditional put per change (an acquire that hands out records, an
 * acknowledgement), a retry after a lost race costs no read; an acquire that finds nothing to hand
 * out writes nothing. A change that defers records is a transaction of the put and one put per
 * delay index entry, and a return of due records one of the put and the entries' deletes, after a
 * read of the state and a query of the index (DynamoDB bills a transaction's writes twice). The item holds a range per batch in flight, so it stays small: at most
 * `maxInFlight` records in flight (2,000 by default in Kafka), and far fewer ranges.
 */
import { SpoolError } from '../errors.js';
import {
  groupOfSharePk as groupOfPk,
  shareConfigKey,
  shareDelayKey,
  shareDelayPk,
  shareIndexKey,
  shareMembersKey,
  sharePartitionKey,
  sharePartitionOf,
  sharePartitionSks,
  sharePk,
  sharesPk,
} from '../keys.js';
import { alteredShareConfig, defaultShareConfig, type ShareConfigKey, type ShareGroupConfig } from './config.js';
import {
  type Attributes,
  type AttributeValue,
  ConditionFailedError,
  type Item,
  type ItemKey,
  type MetadataStore,
  maxTransactionOps,
  TransactionConflictError,
  type WriteOp,
} from '../storage/ports.js';
import { emptyMembership, type ShareMembership } from './members.js';
import {
  type DeathCause,
  type DelayedRange,
  type InFlightRange,
  type RecordState,
  type SharePartitionState,
  returnDue,
} from './share-partition.js';

/** A stored state and its version (the compare-and-set's). */
export interface StoredSharePartition extends SharePartitionState {
  readonly version: number;
}

/**
 * Decides from the state as read (undefined: none yet): the state to write (null: none), the
 * answer, and the records it defers, for the delay index (written in the same transaction).
 */
export type DecideShare<T> = (
  state: SharePartitionState | undefined,
  nowMs: number,
) => { readonly next: SharePartitionState | null; readonly answer: T; readonly deferred?: readonly DelayedRange[] };

/** A share partition as listed: which topic incarnation and partition, and its stored state. */
export interface ListedSharePartition {
  readonly topicId: string;
  readonly partition: number;
  readonly state: StoredSharePartition;
}

/** A group's settings: those set, and those in effect (the defaults for the rest). */
export interface StoredShareConfig {
  /** Whether the group has a settings item (even one with nothing set). */
  readonly exists: boolean;
  readonly set: Partial<ShareGroupConfig>;
  readonly effective: ShareGroupConfig;
}

/** Lost races before giving up: each means another agent changed this share partition meanwhile. */
const maxAttempts = 16;
/** Delay index entries one change writes or returns at most: a transaction holds the state's put and these. */
export const maxDelayEntries = maxTransactionOps - 1;

export class SharePartitionStore {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly now: () => number = Date.now,
  ) {}

  async get(group: string, topicId: string, partition: number): Promise<StoredSharePartition | undefined> {
    const item = await this.metadata.get(sharePartitionKey(group, topicId, partition));
    return item ? stateFromItem(item) : undefined;
  }

  /** Every share group (one query of the index). */
  async groups(): Promise<string[]> {
    return (await this.metadata.query(sharesPk)).map((item) => item.sk);
  }

  /** Every share partition the group has read (one query). */
  async list(group: string): Promise<ListedSharePartition[]> {
    const items = await this.metadata.query(sharePk(group), sharePartitionSks);
    return items.map((item) => ({ ...sharePartitionOf(item.sk), state: stateFromItem(item) }));
  }

  async config(group: string): Promise<StoredShareConfig> {
    return configOf(await this.metadata.get(shareConfigKey(group)));
  }

  /** Applies `changes` (Kafka's config names; null: back to the default) with a compare-and-set; answers the settings after. */
  alterConfig(group: string, changes: Readonly<Record<string, unknown>>): Promise<StoredShareConfig> {
    return this.compareAndSet(
      shareConfigKey(group),
      `share group ${group}'s settings`,
      (item) => {
        const set = alteredShareConfig(configOf(item).set, changes);
        return { attrs: set, answer: configOf({ ...shareConfigKey(group), attrs: set }) };
      },
      false,
    );
  }

  async membership(group: string): Promise<ShareMembership> {
    return membershipOf(await this.metadata.get(shareMembersKey(group)));
  }

  /** Runs `decide` on the group's membership and writes what it decides, if anything; answers its answer. */
  applyMembership<T>(
    group: string,
    decide: (membership: ShareMembership, nowMs: number) => { next: ShareMembership | null; answer: T },
  ): Promise<T> {
    return this.compareAndSet(shareMembersKey(group), `share group ${group}'s members`, (item, nowMs) => {
      const { next, answer } = decide(membershipOf(item), nowMs);
      return {
        attrs:
          next === null
            ? null
            : { groupEpoch: next.groupEpoch, partitionCounts: next.partitionCounts, members: next.members as unknown as Attributes },
        answer,
      };
    });
  }

  /**
   * Deletes the group's items in one transaction, each share partition and the members on the
   * condition that they are as `check` saw them (which throws to refuse, e.g. while records are
   * locked or members live): one changed meanwhile is read and checked again, and nothing is
   * deleted until every check passes. A group with more share partitions than a transaction holds
   * is deleted in several, in which case a refusal after the first may leave it partly deleted.
   */
  delete(group: string, check: (partitions: readonly ListedSharePartition[], membership: ShareMembership) => void): Promise<void> {
    return this.deleteChecked(async () => {
      const [partitions, members] = await Promise.all([this.list(group), this.metadata.get(shareMembersKey(group))]);
      check(partitions, membershipOf(members));
      return [
        ...partitions.map((p) => partitionDelete(group, p)),
        { kind: 'delete', key: shareConfigKey(group) },
        // The members as checked: a member joining meanwhile makes the delete look again.
        {
          kind: 'delete',
          key: shareMembersKey(group),
          condition: members ? { kind: 'match', fields: { version: members.attrs.version as number } } : { kind: 'absent' },
        },
        { kind: 'delete', key: shareIndexKey(group) },
      ];
    });
  }

  /** Deletes the group's share partitions of one topic incarnation, in one transaction, once `check` passes on them as read. */
  deletePartitions(group: string, topicId: string, check: (partitions: readonly ListedSharePartition[]) => void): Promise<void> {
    return this.deleteChecked(async () => {
      const partitions = (await this.list(group)).filter((p) => p.topicId === topicId);
      check(partitions);
      return partitions.map((p) => partitionDelete(group, p));
    });
  }

  /** Reads, checks (`plan` throws to refuse) and deletes, conditionally; a condition that failed reads and checks again. */
  private async deleteChecked(plan: () => Promise<WriteOp[]>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const ops = await plan();
      try {
        for (let i = 0; i < ops.length; i += maxTransactionOps) await this.metadata.transact(ops.slice(i, i + maxTransactionOps));
        return;
      } catch (error) {
        if (!(error instanceof TransactionConflictError || error instanceof ConditionFailedError) || attempt >= maxAttempts) throw error;
      }
    }
  }

  /**
   * Runs `decide` on the share partition's state and writes what it decides, if anything, with the
   * records it defers in the delay index (one transaction; at most `maxDelayEntries`); answers its answer.
   */
  apply<T>(group: string, topicId: string, partition: number, decide: DecideShare<T>): Promise<T> {
    return this.compareAndSet(
      sharePartitionKey(group, topicId, partition),
      `share partition ${group} ${topicId}/${partition}`,
      (item, nowMs) => {
        const { next, answer, deferred = [] } = decide(item ? stateFromItem(item) : undefined, nowMs);
        if (deferred.length > maxDelayEntries)
          throw new SpoolError('INTERNAL', `${deferred.length} delay index entries in one change; at most ${maxDelayEntries}`);
        const extra = next === null ? [] : deferred.map((range) => delayEntryPut(group, topicId, partition, range, next.delayEpoch));
        return { attrs: next === null ? null : stateAttrs(next), answer, extra };
      },
    );
  }

  /**
   * Brings back the records due by `nowMs` from the share partition's delay index (share-partition.ts
   * `returnDue`), at most `maxDelayEntries` entries at once: the state, conditional on the version
   * the index was read after, and the entries' deletes, in one transaction (entries of an earlier
   * beginning of the state, since reset or deleted, are deleted without coming back). Answers
   * whether it brought any back; nothing if none is due.
   */
  async returnDue(group: string, topicId: string, partition: number): Promise<boolean> {
    const key = sharePartitionKey(group, topicId, partition);
    for (let attempt = 1; ; attempt++) {
      const nowMs = this.now();
      const item = await this.metadata.get(key);
      const state = item ? stateFromItem(item) : undefined;
      if (state?.nextDueMs === undefined || state.nextDueMs > nowMs) return false;
      // Read after the state: an entry deferred since is in the index, or moves the state's version.
      const entries = (await this.metadata.query(shareDelayPk(group, topicId, partition), { limit: maxDelayEntries + 1 })).map(entryOf);
      const due = entries.filter((entry) => entry.dueMs <= nowMs).slice(0, maxDelayEntries);
      const nextDueMs = entries[due.length]?.dueMs;
      const next = returnDue(
        state,
        due.filter((entry) => entry.epoch === state.delayEpoch),
        nextDueMs,
      );
      try {
        await this.metadata.transact([
          {
            kind: 'put',
            key,
            attrs: { ...stateAttrs(next), version: state.version + 1 },
            condition: { kind: 'match', fields: { version: state.version } },
          },
          ...due.map((entry): WriteOp => ({ kind: 'delete', key: shareDelayKey(group, topicId, partition, entry.dueMs, entry.first) })),
        ]);
        return due.some((entry) => entry.epoch === state.delayEpoch);
      } catch (error) {
        const raced = isTransactionRace(error);
        if (!raced || attempt >= maxAttempts) throw error;
      }
    }
  }

  /**
   * The one write path: `decide` on the item as read (undefined: absent) answers the attributes to
   * put (null: nothing to write), put on the condition that the item's version is still the one
   * read; after a lost race, decided again on the item the refusal carries (no second read).
   */
  private async compareAndSet<T>(
    key: ItemKey,
    what: string,
    decide: (item: Item | undefined, nowMs: number) => { attrs: Attributes | null; answer: T; extra?: readonly WriteOp[] },
    listsGroup = true,
  ): Promise<T> {
    let item = await this.metadata.get(key);
    for (let attempt = 1; ; attempt++) {
      const version = item?.attrs.version as number | undefined;
      const nowMs = this.now();
      const { attrs, answer, extra = [] } = decide(item, nowMs);
      if (attrs === null) return answer;
      // A group's first members or share partition lists it, first (an idempotent put), so that no
      // group with state goes unlisted; settings alone make no group, as in Kafka.
      if (version === undefined && listsGroup)
        await this.metadata.write({ kind: 'put', key: shareIndexKey(groupOfPk(key.pk)), attrs: { createdMs: nowMs } });
      const put: WriteOp = {
        kind: 'put',
        key,
        attrs: { ...attrs, version: (version ?? -1) + 1 },
        condition: version === undefined ? { kind: 'absent' } : { kind: 'match', fields: { version } },
      };
      try {
        if (extra.length === 0) await this.metadata.write(put);
        else await this.metadata.transact([put, ...extra]);
        return answer;
      } catch (error) {
        // Refused for a condition, or for a transaction on the item in flight (a defer's or a
        // return's; DynamoDB's TransactionConflict): nothing was written. Only a failed single
        // write's condition carries the item; else it is read again.
        const raced = isTransactionRace(error);
        if (!raced) throw error;
        if (attempt >= maxAttempts)
          throw new SpoolError('CONFLICT', `${what} changed concurrently ${attempt} times; retry`, { retriable: true });
        item = error instanceof ConditionFailedError ? error.current : await this.metadata.get(key);
      }
    }
  }
}

/**
 * A range as stored: [first, last, state, deliveryCount, who, untilMs]; who and untilMs only while
 * acquired (the member and its lock's end) or archiving (the death's cause and the claim's end).
 */
type StoredRange = readonly [number, number, RecordState, number, string?, number?];

export function stateAttrs(state: SharePartitionState): Attributes {
  return {
    startOffset: state.startOffset,
    endOffset: state.endOffset,
    ranges: state.ranges.map((r): AttributeValue[] => {
      const who = r.state === 'archiving' ? r.cause : r.member;
      return who === undefined
        ? [r.first, r.last, r.state, r.deliveryCount]
        : [r.first, r.last, r.state, r.deliveryCount, who, r.lockedUntilMs!];
    }),
    deadRecords: state.deadRecords,
    delayedRecords: state.delayedRecords,
    delayEpoch: state.delayEpoch,
    ...(state.nextDueMs === undefined ? {} : { nextDueMs: state.nextDueMs }),
  };
}

export function stateFromItem(item: Item): StoredSharePartition {
  const a = item.attrs;
  return {
    startOffset: a.startOffset as number,
    endOffset: a.endOffset as number,
    ranges: (a.ranges as unknown as StoredRange[]).map(
      ([first, last, state, deliveryCount, who, lockedUntilMs]): InFlightRange =>
        who === undefined
          ? { first, last, state, deliveryCount }
          : state === 'archiving'
            ? { first, last, state, deliveryCount, cause: who as DeathCause, lockedUntilMs: lockedUntilMs! }
            : { first, last, state, deliveryCount, member: who, lockedUntilMs: lockedUntilMs! },
    ),
    deadRecords: a.deadRecords as number,
    delayedRecords: (a.delayedRecords as number | undefined) ?? 0,
    delayEpoch: (a.delayEpoch as number | undefined) ?? 0,
    ...(a.nextDueMs === undefined || a.nextDueMs === null ? {} : { nextDueMs: a.nextDueMs as number }),
    version: a.version as number,
  };
}

function configOf(item: Item | undefined): StoredShareConfig {
  const set: Partial<Record<ShareConfigKey, unknown>> = {};
  for (const key of Object.keys(defaultShareConfig) as ShareConfigKey[]) if (item?.attrs[key] !== undefined) set[key] = item.attrs[key];
  return {
    exists: item !== undefined,
    set: set as Partial<ShareGroupConfig>,
    effective: { ...defaultShareConfig, ...(set as Partial<ShareGroupConfig>) },
  };
}

/** A write refused for a condition, or for another transaction on the same item: it wrote nothing. */
function isTransactionRace(error: unknown): boolean {
  return (
    error instanceof TransactionConflictError ||
    error instanceof ConditionFailedError ||
    (error instanceof SpoolError && error.code === 'CONFLICT' && error.retriable === true)
  );
}

/** A delay index entry: the records, their due time and the delay epoch of the state that deferred them. */
interface DelayEntry extends DelayedRange {
  readonly epoch: number;
}

function delayEntryPut(group: string, topicId: string, partition: number, range: DelayedRange, epoch: number): WriteOp {
  return {
    kind: 'put',
    key: shareDelayKey(group, topicId, partition, range.dueMs, range.first),
    attrs: { first: range.first, last: range.last, deliveryCount: range.deliveryCount, dueMs: range.dueMs, epoch },
  };
}

function entryOf(item: Item): DelayEntry {
  const a = item.attrs;
  return {
    first: a.first as number,
    last: a.last as number,
    deliveryCount: a.deliveryCount as number,
    dueMs: a.dueMs as number,
    epoch: a.epoch as number,
  };
}

/** A share partition's delete, on the condition that it is still the version read. */
function partitionDelete(group: string, { topicId, partition, state }: ListedSharePartition): WriteOp {
  return {
    kind: 'delete',
    key: sharePartitionKey(group, topicId, partition),
    condition: { kind: 'match', fields: { version: state.version } },
  };
}

function membershipOf(item: Item | undefined): ShareMembership {
  if (!item) return emptyMembership;
  const a = item.attrs;
  return {
    groupEpoch: a.groupEpoch as number,
    partitionCounts: a.partitionCounts as unknown as ShareMembership['partitionCounts'],
    members: a.members as unknown as ShareMembership['members'],
  };
}
