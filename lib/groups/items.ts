/**
 * Consumer groups in the MetadataStore, shared by the HTTP groups (coordinator.ts) and Kafka's
 * classic groups (classic.ts), so both kinds are listed, described, reset and deleted alike, and a
 * committed offset is one item whichever protocol wrote it. The group's items, under its partition
 * key, are listed with every other kind in lib/keys.ts: its state, HTTP members' leases, offsets, the
 * Kafka coordinator's vouch and lease, and the index entry listing it.
 *
 * Liveness differs by kind: an HTTP member is live while its own lease runs; a Kafka group's members
 * live in the coordinating agent's memory (heartbeats are not written), and the store knows only that
 * the agent vouched for them until `aliveUntilMs`. Past it (the agent died and no other took over)
 * every reader counts the group as having no live members (ownership.ts asks both).
 */
import { describeValue, SpoolError } from '../errors.js';
import {
  ConditionFailedError,
  TransactionConflictError,
  type Attributes,
  type AttributeValue,
  type Item,
  type MetadataStore,
  type WriteOp,
} from '../storage/ports.js';
import { groupOffsetKey, groupPk, groupStateKey, groupStateSk, memberSkPrefix, offsetSkPrefix, vouchSk } from '../keys.js';
import { parseTpKey } from './assignors.js';
import { emptyGroup, type GroupState, type MemberState } from './state.js';

/** Offset items per transaction: one more op checks the group. */
export const offsetsPerTransaction = 99;

const groupName = /^[a-zA-Z0-9._-]{1,249}$/;

export function checkGroupName(group: string): void {
  if (!groupName.test(group)) {
    throw new SpoolError('INVALID_ARGUMENT', `group must be 1 to 249 ASCII letters, digits, ".", "_" or "-", got ${describeValue(group)}`, {
      details: { field: 'group' },
    });
  }
}

export interface Lease {
  readonly lastHeartbeatMs: number;
  readonly sessionTimeoutMs: number;
}

/**
 * Per (group, partition): the committed offset (and Kafka's metadata string), and the position an
 * HTTP member's polls reached, as they stand for the topic as it is now. Offsets belong to one
 * incarnation of a topic: a commit stores the topic's id beside the offset (`topicId`), a poll
 * beside the position (`positionTopicId`), and an offset of a topic since deleted, or deleted and
 * created again, reads as none (as Kafka drops a deleted topic's offsets from every group). An
 * item written before topics' ids were stored counts as the current incarnation's if it was
 * committed after the topic was created.
 */
export interface OffsetEntry {
  readonly committed: number | null;
  readonly metadata: string | null;
  readonly position: number | null;
  readonly positionRun: string | null;
  readonly positionGeneration: number | null;
  /** The topic incarnation the position was reached in. */
  readonly positionTopicId: string | null;
  /** The committed offset as stored, of whichever incarnation: what a conditional write must expect. */
  readonly storedCommitted: number | null;
  /**
   * The transactional id of a transaction that staged an offset for this partition (TxnOffsetCommit)
   * and may not have ended: an OffsetFetch with require_stable asks the coordinator (lib/transactions).
   */
  readonly pendingTransaction: string | null;
}

/** What offsets are checked against: a topic's id and creation time. */
export interface TopicIdentity {
  readonly id: string;
  readonly createdMs: number;
}

/** Looks a topic up by name, from a short-lived cache or, when `fresh`, from the store; undefined when it does not exist. */
export type TopicIdentities = (topic: string, fresh: boolean) => Promise<TopicIdentity | undefined>;

export interface Vouch {
  readonly aliveUntilMs: number;
  readonly renewedMs: number;
}

export interface LoadedGroup {
  readonly state: GroupState;
  readonly exists: boolean;
  readonly leases: ReadonlyMap<string, Lease>;
  /** Offsets of the topics as they are now (see OffsetEntry), by `topic/partition`. */
  readonly offsets: ReadonlyMap<string, OffsetEntry>;
  /** Every offset item's key, current or not: what deleting the group removes. */
  readonly storedOffsetKeys: readonly string[];
  readonly vouch: Vouch | undefined;
}

/** Everything under the group's key, in one range read. */
export async function loadGroup(metadata: MetadataStore, group: string, topics: TopicIdentities): Promise<LoadedGroup> {
  const items = await metadata.query(groupPk(group));
  let state: GroupState = emptyGroup;
  let exists = false;
  let vouch: Vouch | undefined;
  const leases = new Map<string, Lease>();
  const offsetItems: Item[] = [];
  for (const item of items) {
    if (item.sk === groupStateSk) {
      state = stateFromItem(item);
      exists = true;
    } else if (item.sk === vouchSk) {
      vouch = item.attrs as unknown as Vouch;
    } else if (item.sk.startsWith(memberSkPrefix)) {
      leases.set(item.sk.slice(memberSkPrefix.length), item.attrs as unknown as Lease);
    } else if (item.sk.startsWith(offsetSkPrefix)) {
      offsetItems.push(item);
    }
  }
  const offsets = await currentOffsets(offsetItems, topics);
  return { state, exists, leases, offsets, storedOffsetKeys: offsetItems.map((item) => item.sk.slice(offsetSkPrefix.length)), vouch };
}

/** Only the offset items (a range read that skips the state and the leases), as they stand now. */
export async function loadOffsets(metadata: MetadataStore, group: string, topics: TopicIdentities): Promise<Map<string, OffsetEntry>> {
  return currentOffsets(await metadata.query(groupPk(group), { from: offsetSkPrefix, to: `${offsetSkPrefix}\uffff` }), topics);
}

/** Deletes the offset items of these `topic/partition` keys (OffsetDelete): each goes as a whole, committed offset and position. */
export async function deleteOffsetItems(metadata: MetadataStore, group: string, keys: readonly string[]): Promise<void> {
  for (const key of keys) await metadata.write({ kind: 'delete', key: groupOffsetKey(group, key) });
}

/**
 * The entries of offset items that belong to the topics as they are now; a topic that does not
 * exist has none. Each topic is looked up once from the cache, and again from the store only when
 * an item names an id the cache does not know (a topic created again moments ago).
 */
async function currentOffsets(items: readonly Item[], topics: TopicIdentities): Promise<Map<string, OffsetEntry>> {
  const byTopic = new Map<string, Item[]>();
  for (const item of items) {
    const { topic } = parseTpKey(item.sk.slice(offsetSkPrefix.length));
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), item]);
  }
  const offsets = new Map<string, OffsetEntry>();
  for (const [topic, topicItems] of byTopic) {
    let identity = await topics(topic, false);
    const ids = topicItems.flatMap((item) => [item.attrs.topicId, item.attrs.positionTopicId]).filter((id) => typeof id === 'string');
    if (identity === undefined || ids.some((id) => id !== identity!.id)) identity = await topics(topic, true);
    if (identity === undefined) continue;
    for (const item of topicItems) {
      const entry = offsetEntry(item, identity);
      if (entry.committed !== null || entry.position !== null || entry.pendingTransaction !== null)
        offsets.set(item.sk.slice(offsetSkPrefix.length), entry);
    }
  }
  return offsets;
}

function offsetEntry(item: Item, topic: TopicIdentity): OffsetEntry {
  const a = item.attrs;
  const storedCommitted = (a.committed as number | null | undefined) ?? null;
  const committedMs = a.committedMs as number | undefined;
  const committedHere =
    typeof a.topicId === 'string' ? a.topicId === topic.id : committedMs === undefined || committedMs >= topic.createdMs;
  const positionHere = typeof a.positionTopicId === 'string' ? a.positionTopicId === topic.id : true;
  return {
    committed: committedHere ? storedCommitted : null,
    metadata: committedHere ? ((a.metadata as string | null | undefined) ?? null) : null,
    position: positionHere ? ((a.position as number | null | undefined) ?? null) : null,
    positionRun: positionHere ? ((a.positionRun as string | null | undefined) ?? null) : null,
    positionGeneration: positionHere ? ((a.positionGeneration as number | null | undefined) ?? null) : null,
    positionTopicId: positionHere ? ((a.positionTopicId as string | null | undefined) ?? null) : null,
    storedCommitted,
    pendingTransaction: (a.pendingTxn as string | undefined) ?? null,
  };
}

/**
 * Marks offsets a transaction staged (TxnOffsetCommit) on the group's offset items, so an OffsetFetch
 * with require_stable knows to ask whether it is still open. Written after the transaction holds
 * the offsets: a marker whose transaction ended is read as stable (and a later commit removes it).
 */
export async function markPendingOffsets(
  metadata: MetadataStore,
  group: string,
  keys: readonly string[],
  transactionalId: string,
): Promise<void> {
  for (let start = 0; start < keys.length; start += offsetsPerTransaction)
    await metadata.transact(
      keys
        .slice(start, start + offsetsPerTransaction)
        .map((key) => ({ kind: 'update', key: groupOffsetKey(group, key), set: { pendingTxn: transactionalId } })),
    );
}

/** Removes an aborted transaction's marks (only those still naming it); best effort: a mark left is read as stable once the transaction ended. */
export async function clearPendingOffsets(
  metadata: MetadataStore,
  group: string,
  keys: readonly string[],
  transactionalId: string,
): Promise<void> {
  for (const key of keys)
    await metadata
      .write({
        kind: 'update',
        key: groupOffsetKey(group, key),
        set: {},
        remove: ['pendingTxn'],
        condition: { kind: 'match', fields: { pendingTxn: transactionalId } },
      })
      .catch((error: unknown) => {
        if (!(error instanceof ConditionFailedError)) throw error;
      });
}

/** HTTP members whose lease is still running; a member whose lease was never written counts from its join. */
export function liveMembers(loaded: LoadedGroup, now: number): Record<string, MemberState> {
  const live: Record<string, MemberState> = {};
  for (const [id, member] of Object.entries(loaded.state.members)) {
    const lastSeenMs = loaded.leases.get(id)?.lastHeartbeatMs ?? member.joinedMs;
    if (lastSeenMs + member.sessionTimeoutMs > now) live[id] = member;
  }
  return live;
}

export interface OffsetUpdate {
  /** The id of the topic incarnation the offset or position is of: stored beside what `set` sets. */
  readonly topicId: string;
  readonly set: Attributes;
  /** Attributes removed in the same write. */
  readonly remove?: readonly string[];
  /** Required of the offset item as it is now (auto-commit: unchanged since read). */
  readonly expect?: Attributes;
}

/** The check an offset write goes with: the group's state item as the writer knew it, or another item (a transaction's). */
export type OffsetFence = WriteOp & { readonly kind: 'check' };

/** The group's state item still matches `fields` (its incarnation and generation, say). */
export function groupStateFence(group: string, fields: Attributes): OffsetFence {
  return { kind: 'check', key: groupStateKey(group), condition: { kind: 'match', fields } };
}

/**
 * Offset updates in transactions of at most `offsetsPerTransaction`, each with `fence`. A failed
 * fence is `fenceError()`; a failed offset-item expectation is CONFLICT.
 */
export async function writeOffsets(
  metadata: MetadataStore,
  group: string,
  fence: OffsetFence,
  updates: ReadonlyMap<string, OffsetUpdate>,
  fenceError: () => SpoolError,
): Promise<void> {
  const entries = [...updates.entries()];
  for (let start = 0; start < entries.length; start += offsetsPerTransaction) {
    const ops: WriteOp[] = [
      fence,
      ...entries.slice(start, start + offsetsPerTransaction).map(
        ([key, update]): WriteOp => ({
          kind: 'update',
          key: groupOffsetKey(group, key),
          set: withTopicId(update),
          ...(update.remove ? { remove: update.remove } : {}),
          condition: update.expect && { kind: 'match', fields: update.expect },
        }),
      ),
    ];
    try {
      await metadata.transact(ops);
    } catch (error) {
      if (!(error instanceof TransactionConflictError)) throw error;
      if (error.conflicts.some((conflict) => conflict.index === 0)) throw fenceError();
      throw new SpoolError('CONFLICT', `offsets of group ${group} changed concurrently`, { retriable: true });
    }
  }
}

/** An update's fields with the topic id beside each offset it sets (see OffsetEntry). */
function withTopicId(update: OffsetUpdate): Attributes {
  return {
    ...update.set,
    ...('committed' in update.set ? { topicId: update.topicId } : {}),
    ...('position' in update.set ? { positionTopicId: update.topicId } : {}),
  };
}

/** The state as an item: plain data, `undefined` fields dropped, byte strings kept as bytes. */
export function stateAttrs(state: GroupState): Attributes {
  return plain(state) as Attributes;
}

export function stateFromItem(item: Item): GroupState {
  return { ...emptyGroup, ...(item.attrs as unknown as GroupState) };
}

function plain(value: unknown): AttributeValue {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value as AttributeValue;
  if (Array.isArray(value)) return value.map(plain);
  const out: Record<string, AttributeValue> = {};
  for (const [name, field] of Object.entries(value)) if (field !== undefined) out[name] = plain(field);
  return out;
}
