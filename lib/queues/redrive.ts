/**
 * Redrive: moves a share group's dead letters back to the topics they came from (Spool's own, as
 * SQS's DLQ redrive; Kafka ships none). A dead letter is a record of the group's dead-letter topic
 * (`errors.deadletterqueue.topic.name`, Kafka 4.4's KIP-1191) whose headers name where it came from:
 * `__dlq.errors.topic`, `__dlq.errors.partition`, `__dlq.errors.offset`, `__dlq.errors.group`,
 * `__dlq.errors.delivery.count` and `__dlq.errors.message`, UTF-8 text. A redrive reads the
 * dead-letter topic from a saved position and produces each of the group's dead letters to its
 * source topic and partition, with its key, value and headers but none of the `__dlq.` ones, through
 * the log's ordinary produce (acks all): receivers of the group read it again as a new record.
 *
 * The position is an ordinary consumer group's committed offsets on the dead-letter topic
 * (`spool-redrive.<group>`, `redriveGroupOf`), so `spool groups describe` shows progress and
 * `spool groups reset-offsets` moves it (e.g. to redrive again from the start).
 *
 * Invariants:
 *  - Only dead letters of this group are produced; the dead-letter topic itself is never written,
 *    and no topic is created (a source topic or partition that is gone is passed over, counted).
 *  - The position passes a record only once it has been produced (acks all) or passed over: a call
 *    that fails or dies between the produce and the commit leaves the position behind, and the next
 *    call produces those records again. Delivery is at least once; two redrives of one group at the
 *    same time may both move the same records.
 *  - One call reads no further than each partition's last stable offset as the call began: records
 *    dead-lettered again while it runs are left for the next call (no loop within one), and records
 *    of open or aborted transactions are never moved.
 *  - At most `maxRecords` records of the dead-letter topic are looked at per call, moved or passed
 *    over, partition after partition.
 *
 * Cost per chunk (up to 1,000 records of one dead-letter partition): a fetch, one produce per
 * source topic the chunk moves records to, and one offset commit; plus, per call, a read of the
 * group's settings, of its committed offsets, and of each dead-letter partition's offsets.
 *
 * decide() and the header parsing are pure; the class does the reading, producing and committing
 * through narrow ports (the log, the consumer groups, the share groups' settings).
 */
import { SpoolError, describeValue } from '../errors.js';
import type { DecodedRecord, RecordHeader } from '../format/index.js';
import {
  type FetchOptions,
  type FetchResult,
  type ProduceRecord,
  type ProducedOffset,
  type TopicItem,
  validateTopicName,
} from '../log/index.js';
import type { StoredShareConfig } from './store.js';

// ---- dead letters, pure ------------------------------------------------------------------------------

/** The headers a dead letter carries (KIP-1191), in the order Kafka writes them. */
export const deadLetterHeaders = {
  topic: '__dlq.errors.topic',
  partition: '__dlq.errors.partition',
  offset: '__dlq.errors.offset',
  group: '__dlq.errors.group',
  deliveryCount: '__dlq.errors.delivery.count',
  message: '__dlq.errors.message',
} as const;

/** Headers with this prefix are the dead letter's, not the record's: never produced back. */
export const deadLetterHeaderPrefix = '__dlq.';

/** The consumer group whose committed offsets on the dead-letter topic are a share group's redrive position. */
export const redriveGroupPrefix = 'spool-redrive.';

export type PassedOver = 'other_group' | 'no_value' | 'missing_topic' | 'malformed';

export type Decision =
  | { readonly kind: 'move'; readonly topic: string; readonly record: ProduceRecord & { readonly partition: number } }
  | { readonly kind: 'pass'; readonly reason: PassedOver };

/** Where a dead letter came from, as its headers say; undefined fields are missing or not readable. */
export interface DeadLetterSource {
  readonly group: string | undefined;
  readonly topic: string | undefined;
  readonly partition: number | undefined;
}

const consumerGroupName = /^[a-zA-Z0-9._-]{1,249}$/;
/** Kafka's topic names (lib/log/topics.ts); a header naming anything else names no topic. */
const topicName = /^[a-zA-Z0-9._-]{1,249}$/;

/** `spool-redrive.<group>`, or INVALID_ARGUMENT when that is no consumer group name (1 to 249 of [a-zA-Z0-9._-]). */
export function redriveGroupOf(group: string): string {
  const name = `${redriveGroupPrefix}${group}`;
  if (group.length === 0 || !consumerGroupName.test(name))
    throw new SpoolError(
      'INVALID_ARGUMENT',
      `group: a redrive keeps its position in the consumer group ${redriveGroupPrefix}<group>, so the group must be 1 to ${249 - redriveGroupPrefix.length} ASCII letters, digits, ".", "_" or "-", got ${describeValue(group)}`,
      { details: { field: 'group' } },
    );
  return name;
}

/** The last header named `key`, as UTF-8 text (a dead letter's header appears once; the last wins, as Kafka's lastHeader). */
function headerText(headers: readonly RecordHeader[], key: string): string | undefined {
  for (let i = headers.length - 1; i >= 0; i--) if (headers[i]!.key === key) return headers[i]!.value?.toString('utf8');
  return undefined;
}

export function deadLetterSource(record: Pick<DecodedRecord, 'headers'>): DeadLetterSource {
  const partition = headerText(record.headers, deadLetterHeaders.partition);
  const topic = headerText(record.headers, deadLetterHeaders.topic);
  return {
    group: headerText(record.headers, deadLetterHeaders.group),
    topic: topic !== undefined && topicName.test(topic) ? topic : undefined,
    partition: partition !== undefined && /^\d{1,9}$/.test(partition) ? Number(partition) : undefined,
  };
}

/**
 * What a redrive of `group` does with one record of the dead-letter topic. `partitionsOf` answers a
 * source topic's partition count, undefined when it does not exist. A record with neither key nor
 * value was dead-lettered with errors.deadletterqueue.copy.record.enable off: it holds nothing to
 * send back (`no_value`). One with a key and no value was a tombstone, copied: it is sent back.
 */
export function decide(record: DecodedRecord, group: string, partitionsOf: (topic: string) => number | undefined): Decision {
  const source = deadLetterSource(record);
  if (source.group !== group) return { kind: 'pass', reason: 'other_group' };
  if (source.topic === undefined || source.partition === undefined) return { kind: 'pass', reason: 'malformed' };
  if (record.key === null && record.value === null) return { kind: 'pass', reason: 'no_value' };
  const partitions = partitionsOf(source.topic);
  if (partitions === undefined || source.partition >= partitions) return { kind: 'pass', reason: 'missing_topic' };
  return {
    kind: 'move',
    topic: source.topic,
    record: {
      key: record.key,
      value: record.value,
      headers: record.headers.filter((h) => !h.key.startsWith(deadLetterHeaderPrefix)),
      partition: source.partition,
    },
  };
}

// ---- the redrive -------------------------------------------------------------------------------------

/** The log as a redrive uses it (lib/log's Log). */
export interface RedriveLog {
  topic(name: string): Promise<TopicItem | undefined>;
  requireTopic(name: string): Promise<TopicItem>;
  offsetRange(topic: string, partition: number): Promise<{ earliest: number; latest: number; lastStable: number }>;
  fetch(topic: string, partition: number, offset: number, options?: FetchOptions): Promise<FetchResult>;
  produce(topic: string, records: readonly ProduceRecord[], options?: { acks?: 'all' }): Promise<ProducedOffset[]>;
}

/** Committed offsets of consumer groups (lib/groups' GroupCoordinator). */
export interface RedriveOffsets {
  /** GROUP_NOT_FOUND for a group that never committed. */
  offsets(group: string): Promise<readonly { topic: string; partition: number; committed: number | null }[]>;
  /** As a commit with no member: refused while the group has live members. */
  commit(group: string, request: { offsets: readonly { topic: string; partition: number; offset: number }[] }): Promise<void>;
}

export interface RedrivePorts {
  readonly log: RedriveLog;
  readonly offsets: RedriveOffsets;
  /** A share group's settings (QueueService.configOf). */
  readonly configOf: (group: string) => Promise<StoredShareConfig>;
}

export interface RedriveOptions {
  /** Records of the dead-letter topic to look at, moved or passed over. @default 1000 */
  readonly maxRecords?: number;
  /** @default the group's errors.deadletterqueue.topic.name */
  readonly deadLetterTopic?: string;
  /**
   * Called before the dead-letter topic is read (`read`) and before records are produced to a
   * source topic (`write`); throws to refuse. The HTTP route checks the caller's permissions here.
   */
  readonly authorize?: (action: 'read' | 'write', topic: string) => void;
  /** Stops between chunks, with the position saved. */
  readonly signal?: AbortSignal;
}

export interface RedrivePosition {
  readonly partition: number;
  /** The position now: the next offset of the dead-letter partition a redrive reads. */
  readonly offset: number;
  /** How far this call could read: the partition's last stable offset as it began. */
  readonly endOffset: number;
}

export interface RedriveResult {
  readonly group: string;
  readonly deadLetterTopic: string;
  /** The consumer group holding the position. */
  readonly redriveGroup: string;
  readonly moved: number;
  readonly passedOver: Readonly<Record<PassedOver, number>>;
  /** Per partition of the dead-letter topic. */
  readonly positions: readonly RedrivePosition[];
}

export const defaultRedriveRecords = 1000;
export const maxRedriveRecords = 10_000;
/** Records read, and produced back, at a time: each chunk is one commit of the position. */
const chunkRecords = 1000;

export class QueueRedrive {
  constructor(private readonly ports: RedrivePorts) {}

  /** Moves up to `maxRecords` records' worth of `group`'s dead letters back to their topics; see the module comment. */
  async redrive(group: string, options: RedriveOptions = {}): Promise<RedriveResult> {
    const redriveGroup = redriveGroupOf(group);
    const maxRecords = options.maxRecords ?? defaultRedriveRecords;
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1 || maxRecords > maxRedriveRecords)
      throw new SpoolError('INVALID_ARGUMENT', `max_records: expected 1 to ${maxRedriveRecords}, got ${describeValue(maxRecords)}`, {
        details: { field: 'max_records' },
      });
    const deadLetterTopic = await this.deadLetterTopic(group, options.deadLetterTopic);
    options.authorize?.('read', deadLetterTopic);
    const dlq = await this.ports.log.requireTopic(deadLetterTopic);
    const committed = await this.committed(redriveGroup, dlq.name);
    const passedOver: Record<PassedOver, number> = { other_group: 0, no_value: 0, missing_topic: 0, malformed: 0 };
    const partitionCounts = new Map<string, number | undefined>();
    const positions: RedrivePosition[] = [];
    let moved = 0;
    let budget = maxRecords;
    // Every partition's end first: what is dead-lettered while this call runs is the next call's.
    const ranges = await Promise.all(Array.from({ length: dlq.partitions }, (_, p) => this.ports.log.offsetRange(dlq.name, p)));
    for (const [partition, range] of ranges.entries()) {
      const endOffset = range.lastStable;
      let offset = Math.max(committed.get(partition) ?? range.earliest, range.earliest);
      while (budget > 0 && offset < endOffset && !options.signal?.aborted) {
        const fetched = await this.ports.log.fetch(dlq.name, partition, offset, {
          maxRecords: Math.min(budget, chunkRecords),
          isolation: 'read_committed',
        });
        const records = fetched.records.filter((r) => r.offset >= offset && r.offset < endOffset);
        const next = Math.min(fetched.nextOffset, endOffset);
        if (next <= offset) break; // nothing readable below the end (cannot happen below the last stable offset)
        const decisions = await this.decideAll(records, group, partitionCounts);
        const byTopic = new Map<string, ProduceRecord[]>();
        for (const decision of decisions) {
          if (decision.kind === 'pass') passedOver[decision.reason]++;
          else byTopic.set(decision.topic, [...(byTopic.get(decision.topic) ?? []), decision.record]);
        }
        for (const topic of byTopic.keys()) options.authorize?.('write', topic);
        await Promise.all([...byTopic].map(([topic, batch]) => this.ports.log.produce(topic, batch, { acks: 'all' })));
        // Only now past them: a failure above leaves the position where it was, and the next call sends them again.
        await this.ports.offsets.commit(redriveGroup, { offsets: [{ topic: dlq.name, partition, offset: next }] });
        moved += decisions.filter((d) => d.kind === 'move').length;
        budget -= records.length;
        offset = next;
      }
      positions.push({ partition, offset, endOffset });
    }
    return { group, deadLetterTopic: dlq.name, redriveGroup, moved, passedOver, positions };
  }

  /** Each record's decision, looking up (once per call) the source topics of the group's dead letters. */
  private async decideAll(
    records: readonly DecodedRecord[],
    group: string,
    partitionCounts: Map<string, number | undefined>,
  ): Promise<Decision[]> {
    for (const record of records) {
      const source = deadLetterSource(record);
      if (source.group === group && source.topic !== undefined && !partitionCounts.has(source.topic))
        partitionCounts.set(source.topic, (await this.ports.log.topic(source.topic))?.partitions);
    }
    return records.map((record) => decide(record, group, (topic) => partitionCounts.get(topic)));
  }

  /** The explicit name, else the group's errors.deadletterqueue.topic.name; INVALID_ARGUMENT when neither names one. */
  private async deadLetterTopic(group: string, explicit: string | undefined): Promise<string> {
    if (explicit !== undefined) {
      if (explicit.length === 0)
        throw new SpoolError('INVALID_ARGUMENT', 'dead_letter_topic: expected a topic name, got ""', {
          details: { field: 'dead_letter_topic' },
        });
      return validateTopicName(explicit);
    }
    const configured = (await this.ports.configOf(group)).effective['errors.deadletterqueue.topic.name'];
    if (configured === '')
      throw new SpoolError(
        'INVALID_ARGUMENT',
        `share group ${group} has no dead-letter topic (errors.deadletterqueue.topic.name is not set): set it, or name the topic with dead_letter_topic`,
        { details: { field: 'dead_letter_topic' } },
      );
    return configured;
  }

  /** The redrive group's committed offsets on the dead-letter topic, by partition (none before its first redrive). */
  private async committed(redriveGroup: string, topic: string): Promise<Map<number, number>> {
    const offsets = await this.ports.offsets.offsets(redriveGroup).catch((error: unknown) => {
      if (error instanceof SpoolError && error.code === 'GROUP_NOT_FOUND') return [];
      throw error;
    });
    return new Map(offsets.flatMap((o) => (o.topic === topic && o.committed !== null ? [[o.partition, o.committed] as const] : [])));
  }
}
