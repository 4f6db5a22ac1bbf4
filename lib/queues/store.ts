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
 * out writes nothing. The item holds a range per batch in flight, so it stays small: at most
 * `maxInFlight` records in flight (2,000 by default in Kafka), and far fewer ranges.
 */
import { SpoolError } from '../errors.js';
import { shareConfigKey, sharePartitionKey, sharePartitionOf, sharePartitionSks, sharePk } from '../keys.js';
import { alteredShareConfig, defaultShareConfig, type ShareConfigKey, type ShareGroupConfig } from './config.js';
import { type Attributes, type AttributeValue, ConditionFailedError, type Item, type MetadataStore } from '../storage/ports.js';
import type { InFlightRange, RecordState, SharePartitionState } from './share-partition.js';

/** A stored state and its version (the compare-and-set's). */
export interface StoredSharePartition extends SharePartitionState {
  readonly version: number;
}

/** Decides from the state as read (undefined: none yet): the state to write (null: none) and the answer. */
export type DecideShare<T> = (
  state: SharePartitionState | undefined,
  nowMs: number,
) => { readonly next: SharePartitionState | null; readonly answer: T };

/** A share partition as listed: which topic incarnation and partition, and its stored state. */
export interface ListedSharePartition {
  readonly topicId: string;
  readonly partition: number;
  readonly state: StoredSharePartition;
}

/** A group's settings: those set, and those in effect (the defaults for the rest). */
export interface StoredShareConfig {
  readonly set: Partial<ShareGroupConfig>;
  readonly effective: ShareGroupConfig;
}

/** Lost races before giving up: each means another agent changed this share partition meanwhile. */
const maxAttempts = 16;

export class SharePartitionStore {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly now: () => number = Date.now,
  ) {}

  async get(group: string, topicId: string, partition: number): Promise<StoredSharePartition | undefined> {
    const item = await this.metadata.get(sharePartitionKey(group, topicId, partition));
    return item ? stateFromItem(item) : undefined;
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
  async alterConfig(group: string, changes: Readonly<Record<string, unknown>>): Promise<StoredShareConfig> {
    const key = shareConfigKey(group);
    let item = await this.metadata.get(key);
    for (let attempt = 1; ; attempt++) {
      const version = item?.attrs.version as number | undefined;
      const set = alteredShareConfig(configOf(item).set, changes);
      try {
        await this.metadata.write({
          kind: 'put',
          key,
          attrs: { ...set, version: (version ?? -1) + 1 },
          condition: version === undefined ? { kind: 'absent' } : { kind: 'match', fields: { version } },
        });
        return configOf({ ...key, attrs: set });
      } catch (error) {
        if (!(error instanceof ConditionFailedError) || attempt >= maxAttempts) throw error;
        item = error.current;
      }
    }
  }

  /**
   * Deletes the group's items, each on the condition that it is as `check` saw it (which throws to
   * refuse, e.g. while records are locked): a share partition changed meanwhile is read again.
   */
  async delete(group: string, check: (partitions: readonly ListedSharePartition[]) => void): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const partitions = await this.list(group);
      check(partitions);
      try {
        for (const { topicId, partition, state } of partitions)
          await this.metadata.write({
            kind: 'delete',
            key: sharePartitionKey(group, topicId, partition),
            condition: { kind: 'match', fields: { version: state.version } },
          });
        await this.metadata.write({ kind: 'delete', key: shareConfigKey(group) });
        return;
      } catch (error) {
        if (!(error instanceof ConditionFailedError) || attempt >= maxAttempts) throw error;
      }
    }
  }

  /** Runs `decide` on the share partition's state and writes what it decides, if anything; answers its answer. */
  async apply<T>(group: string, topicId: string, partition: number, decide: DecideShare<T>): Promise<T> {
    const key = sharePartitionKey(group, topicId, partition);
    let item = await this.metadata.get(key);
    for (let attempt = 1; ; attempt++) {
      const stored = item ? stateFromItem(item) : undefined;
      const { next, answer } = decide(stored, this.now());
      if (next === null) return answer;
      try {
        await this.metadata.write({
          kind: 'put',
          key,
          attrs: stateAttrs({ ...next, version: (stored?.version ?? -1) + 1 }),
          condition: stored ? { kind: 'match', fields: { version: stored.version } } : { kind: 'absent' },
        });
        return answer;
      } catch (error) {
        if (!(error instanceof ConditionFailedError)) throw error;
        if (attempt >= maxAttempts)
          throw new SpoolError(
            'CONFLICT',
            `share partition ${group} ${topicId}/${partition} changed concurrently ${attempt} times; retry`,
            {
              retriable: true,
            },
          );
        item = error.current;
      }
    }
  }
}

/** A range as stored: [first, last, state, deliveryCount, member, lockedUntilMs] (member and lock only while acquired). */
type StoredRange = readonly [number, number, RecordState, number, string?, number?];

export function stateAttrs(state: StoredSharePartition): Attributes {
  return {
    startOffset: state.startOffset,
    endOffset: state.endOffset,
    ranges: state.ranges.map((r): AttributeValue[] =>
      r.member === undefined
        ? [r.first, r.last, r.state, r.deliveryCount]
        : [r.first, r.last, r.state, r.deliveryCount, r.member, r.lockedUntilMs!],
    ),
    deadRecords: state.deadRecords,
    version: state.version,
  };
}

export function stateFromItem(item: Item): StoredSharePartition {
  const a = item.attrs;
  return {
    startOffset: a.startOffset as number,
    endOffset: a.endOffset as number,
    ranges: (a.ranges as unknown as StoredRange[]).map(
      ([first, last, state, deliveryCount, member, lockedUntilMs]): InFlightRange =>
        member === undefined
          ? { first, last, state, deliveryCount }
          : { first, last, state, deliveryCount, member, lockedUntilMs: lockedUntilMs! },
    ),
    deadRecords: a.deadRecords as number,
    version: a.version as number,
  };
}

function configOf(item: Item | undefined): StoredShareConfig {
  const set: Partial<Record<ShareConfigKey, unknown>> = {};
  for (const key of Object.keys(defaultShareConfig) as ShareConfigKey[]) if (item?.attrs[key] !== undefined) set[key] = item.attrs[key];
  return { set: set as Partial<ShareGroupConfig>, effective: { ...defaultShareConfig, ...(set as Partial<ShareGroupConfig>) } };
}
