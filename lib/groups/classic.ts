/**
 * The durable part of Kafka's classic groups (the protocol itself runs in the coordinating agent's
 * memory: lib/kafka/classic-groups.ts). Three writes, none per heartbeat:
 *
 * - the state item, with `classic` set, when a generation's assignment is in (Stable) and when the
 *   last member goes (Empty): compare-and-set on `version`, so a coordinator that lost the group to
 *   another (or to HTTP members) cannot overwrite it;
 * - the coordinator item, renewed about twice per the members' longest timeout: while it runs, every
 *   reader counts the group's members as live (items.ts);
 * - committed offsets, in the same items as HTTP groups', each transaction checking that the group's
 *   incarnation and generation are still the committer's (or, for a commit from outside the group,
 *   that it has no members).
 */
import { randomUUID } from 'node:crypto';
import { SpoolError } from '../errors.js';
import { ConditionFailedError, TransactionConflictError, type ItemKey, type MetadataStore, type WriteOp } from '../storage/ports.js';
import { groupIndexKey, groupStateKey, vouchKey } from '../keys.js';
import { groupStateFence, stateAttrs, writeOffsets, type OffsetUpdate } from './items.js';
import type { GroupState } from './state.js';

/** The stored state a write is based on: its version is the compare-and-set. */
export interface StoredState {
  readonly state: GroupState;
  readonly exists: boolean;
}

/**
 * Writes `next` over `base` if the item is still as `base` was read; the state as written.
 * Throws ConditionFailedError if it is not. `alongside`: a write made in the same transaction (the
 * vouch that must not outlive a refused state, nor the state appear without it).
 */
export async function saveClassicState(
  metadata: MetadataStore,
  group: string,
  base: StoredState,
  next: GroupState,
  nowMs: number,
  alongside?: WriteOp,
): Promise<GroupState> {
  const written: GroupState = { ...next, version: base.state.version + 1, incarnation: next.incarnation || randomUUID() };
  if (!base.exists) await metadata.write({ kind: 'put', key: groupIndexKey(group), attrs: { createdMs: nowMs } });
  const put: WriteOp = {
    kind: 'put',
    key: groupStateKey(group),
    attrs: stateAttrs(written),
    condition: base.exists ? { kind: 'match', fields: { version: base.state.version } } : { kind: 'absent' },
  };
  if (alongside === undefined) await metadata.write(put);
  else await transactOnState(metadata, group, [put, alongside]);
  return written;
}

/** The write of a vouch for the group's members until `aliveUntilMs`. */
export function vouchOp(group: string, aliveUntilMs: number, nowMs: number): WriteOp {
  return { kind: 'put', key: vouchKey(group), attrs: { aliveUntilMs, renewedMs: nowMs } };
}

/** `ops` (one of them conditional on the state item) in one transaction; ConditionFailedError if a condition failed. */
async function transactOnState(metadata: MetadataStore, group: string, ops: readonly WriteOp[]): Promise<void> {
  try {
    await metadata.transact(ops);
  } catch (error) {
    if (error instanceof TransactionConflictError) throw new ConditionFailedError(groupStateKey(group), undefined);
    throw error;
  }
}

/**
 * The coordinator vouches for the group's members until `aliveUntilMs`; with `ifVersion`, only while
 * the state item is still that version (else ConditionFailedError, and nothing is written).
 */
export async function vouchForMembers(
  metadata: MetadataStore,
  group: string,
  aliveUntilMs: number,
  nowMs: number,
  ifVersion?: number,
): Promise<void> {
  const put = vouchOp(group, aliveUntilMs, nowMs);
  if (ifVersion === undefined) return metadata.write(put);
  await transactOnState(metadata, group, [
    { kind: 'check', key: groupStateKey(group), condition: { kind: 'match', fields: { version: ifVersion } } },
    put,
  ]);
}

export interface ClassicCommit {
  /** `topic/partition` */
  readonly key: string;
  /** The id of the topic incarnation the offset is of. */
  readonly topicId: string;
  readonly offset: number;
  readonly metadata: string | null;
}

/** Commits as the offset items' updates, made at `nowMs` (removing `remove` in the same write). */
function offsetUpdates(commits: readonly ClassicCommit[], nowMs: number, remove?: readonly string[]): Map<string, OffsetUpdate> {
  return new Map(
    commits.map((c) => [
      c.key,
      { topicId: c.topicId, set: { committed: c.offset, committedMs: nowMs, metadata: c.metadata }, ...(remove ? { remove } : {}) },
    ]),
  );
}

/**
 * A committed transaction's offsets (lib/transactions): written whatever the group's generation now,
 * as Kafka's group coordinator applies pending offsets when the COMMIT marker reaches the offsets
 * partition (the member's right to commit was checked when they were staged), and only while the
 * transaction is still at the decision `fence` names: a stalled finisher of an old decision never
 * writes its offsets over a later transaction's (CONFLICT, nothing written).
 */
export async function commitTransactionalOffsets(
  metadata: MetadataStore,
  group: string,
  commits: readonly ClassicCommit[],
  nowMs: number,
  fence: { readonly key: ItemKey; readonly version: number },
): Promise<void> {
  // The transaction's marks go with it (items.ts markPendingOffsets).
  const updates = offsetUpdates(commits, nowMs, ['pendingTxn']);
  await writeOffsets(
    metadata,
    group,
    { kind: 'check', key: fence.key, condition: { kind: 'match', fields: { version: fence.version } } },
    updates,
    () => new SpoolError('CONFLICT', `the transaction deciding offsets of group ${group} has moved on; its offsets were not written`),
  );
}

/**
 * Commits offsets of a member of `generation` of the group `incarnation`. Throws
 * ILLEGAL_GENERATION if the stored group has moved on (another coordinator, or HTTP members, took it).
 */
export async function commitClassicOffsets(
  metadata: MetadataStore,
  group: string,
  fence: { readonly incarnation: string; readonly generation: number },
  commits: readonly ClassicCommit[],
  nowMs: number,
): Promise<void> {
  const updates = offsetUpdates(commits, nowMs);
  await writeOffsets(
    metadata,
    group,
    groupStateFence(group, { incarnation: fence.incarnation, generation: fence.generation }),
    updates,
    () =>
      new SpoolError('ILLEGAL_GENERATION', `group ${group} is no longer at generation ${fence.generation} as stored`, {
        details: { generation: fence.generation },
      }),
  );
}
