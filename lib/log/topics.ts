/**
 * Topics: create, list, describe, grow, delete, with Kafka's naming rules and per-topic config.
 *
 * A topic becomes visible only when its topic item is created (create-if-absent), and its partition
 * items are created before that, under a fresh topic id; so readers never see a half-made topic, and
 * two racing creators cannot both win. Partitions only grow: new partition items first, then the
 * count in the topic item, conditional on the count read. Deletion marks the topic item first (the
 * topic is then unreachable), then removes its partition, producer-state and row items, then the
 * topic item; segment objects are collected by maintenance, since they are shared between topics. A
 * packed partition's writer (packing.ts) is fenced before its partition item goes.
 */
import { randomUUID } from 'node:crypto';
import { describeValue, SpoolError } from '../errors.js';
import {
  ConditionFailedError,
  TransactionConflictError,
  maxTransactionOps,
  type Item,
  type MetadataStore,
  type WriteOp,
} from '../storage/ports.js';
import { markUnreferenced } from './maintenance/ledger.js';
import { fenceWriter } from './writer-log.js';
import {
  batchRowFromItem,
  newPartitionAttrs,
  objectsOf,
  partitionStateFromItem,
  topicAttrs,
  topicFromItem,
  type TopicItem,
} from './layout.js';
import { partitionKey, partitionPk, rowsPk, topicKey, topicsPk } from '../keys.js';
import {
  defaultTopicConfig,
  checkTopicConfigKey,
  validateTopicConfig,
  validateTopicConfigSet,
  withDefaults,
  type TopicConfig,
  type TopicConfigKey,
} from './topic-config.js';

export { defaultTopicConfig, topicConfigRules, validateTopicConfig } from './topic-config.js';

export const maxTopicNameLength = 249;
/** Names Kafka keeps for its own topics (its Topic.INTERNAL_TOPICS and the KRaft metadata log): no client may create them. */
export const reservedTopicNames: ReadonlySet<string> = new Set([
  '__consumer_offsets',
  '__transaction_state',
  '__share_group_state',
  '__cluster_metadata',
]);
export const maxPartitions = 10_000;
const legalName = /^[a-zA-Z0-9._-]+$/;

export function validateTopicName(name: unknown): string {
  const problem =
    typeof name !== 'string'
      ? 'a string'
      : name.length === 0 || name.length > maxTopicNameLength
        ? `1 to ${maxTopicNameLength} characters`
        : name === '.' || name === '..'
          ? 'not "." or ".."'
          : !legalName.test(name)
            ? 'only ASCII letters, digits, ".", "_" and "-"'
            : reservedTopicNames.has(name)
              ? 'not one of the names Kafka keeps for its internal topics (__consumer_offsets, __transaction_state, __share_group_state, __cluster_metadata)'
              : undefined;
  if (problem !== undefined) {
    throw new SpoolError('INVALID_TOPIC_NAME', `topic name must be ${problem}, got ${describeValue(name)}`, { details: { topic: name } });
  }
  return name as string;
}

export function validatePartitionCount(count: unknown, field = 'partitions'): number {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > maxPartitions) {
    throw new SpoolError('INVALID_PARTITIONS', `${field} must be an integer in [1, ${maxPartitions}], got ${describeValue(count)}`);
  }
  return count;
}

/** Kafka refuses two topics whose names differ only by "." versus "_" (their metric names collide). */
function collisionName(name: string): string {
  return name.replaceAll('.', '_');
}

/** A change to a topic: more partitions, configs set (overrides), configs reset to the defaults. */
export interface TopicChange {
  readonly partitions?: number;
  readonly config?: Partial<TopicConfig>;
  readonly reset?: readonly TopicConfigKey[];
}

/**
 * The keys a topic sets itself (Kafka's topic overrides). Topics stored before these were kept
 * count the keys whose values differ from the defaults.
 */
export function overridesOf(topic: Pick<TopicItem, 'config' | 'configOverrides'>, defaults: TopicConfig): readonly string[] {
  return (
    topic.configOverrides ??
    Object.keys(topic.config).filter((key) => topic.config[key as TopicConfigKey] !== defaults[key as TopicConfigKey])
  );
}

export interface TopicRegistryOptions {
  readonly defaultConfig?: Partial<TopicConfig>;
  readonly now?: () => number;
}

export class TopicRegistry {
  private readonly defaults: TopicConfig;
  private readonly now: () => number;

  constructor(
    private readonly metadata: MetadataStore,
    options: TopicRegistryOptions = {},
  ) {
    this.defaults = { ...defaultTopicConfig, ...options.defaultConfig };
    this.now = options.now ?? Date.now;
  }

  async create(name: string, partitions: number, config: Partial<TopicConfig> = {}): Promise<TopicItem> {
    validateTopicName(name);
    validatePartitionCount(partitions);
    const checked = validateTopicConfig(config);
    const existing = await this.list();
    const clash = existing.find((topic) => topic.name !== name && collisionName(topic.name) === collisionName(name));
    if (clash) {
      throw new SpoolError(
        'INVALID_TOPIC_NAME',
        `topic ${name} collides with existing topic ${clash.name} ("." and "_" are interchangeable in Kafka names)`,
      );
    }
    if (existing.some((topic) => topic.name === name)) throw alreadyExists(name);
    const dying = await this.getIncludingDeleted(name);
    if (dying?.deleting) await this.finishDeletion(dying);

    const full = validateTopicConfigSet({ ...this.defaults, ...checked });
    const configOverrides = Object.keys(checked).sort();
    const topic: TopicItem = { id: randomUUID(), name, partitions, config: full, configOverrides, createdMs: this.now() };
    await this.createPartitionItems(topic.id, 0, partitions);
    try {
      await this.metadata.write({ kind: 'put', key: topicKey(name), attrs: topicAttrs(topic), condition: { kind: 'absent' } });
    } catch (error) {
      if (error instanceof ConditionFailedError) throw alreadyExists(name);
      throw error;
    }
    return topic;
  }

  /** The topic, unless it does not exist or is being deleted. */
  async get(name: string): Promise<TopicItem | undefined> {
    const topic = await this.getIncludingDeleted(name);
    return topic?.deleting ? undefined : topic;
  }

  async require(name: string): Promise<TopicItem> {
    const topic = await this.get(name);
    if (topic === undefined) throw notFound(name);
    return topic;
  }

  async list(): Promise<TopicItem[]> {
    return (await this.metadata.query(topicsPk)).map((item) => this.fromItem(item)).filter((topic) => !topic.deleting);
  }

  /**
   * Grows the partition count and/or changes config: `config` sets keys (they become the topic's
   * overrides), `reset` returns keys to the defaults. Partitions never shrink. The write is
   * conditional on the config as read too, so of two racing alters of different keys neither is lost.
   */
  async alter(name: string, change: TopicChange): Promise<TopicItem> {
    const checked = validateTopicConfig(change.config);
    const reset = new Set(change.reset ?? []);
    for (const key of reset) checkTopicConfigKey(key);
    const item = await this.metadata.get(topicKey(name));
    if (item === undefined || item.attrs.deleting) throw notFound(name);
    const topic = this.fromItem(item);
    if (change.partitions !== undefined) {
      validatePartitionCount(change.partitions);
      if (change.partitions < topic.partitions) {
        throw new SpoolError(
          'INVALID_PARTITIONS',
          `partitions may only grow: topic ${name} has ${topic.partitions}, got ${change.partitions}`,
        );
      }
    }
    const partitions = change.partitions ?? topic.partitions;
    if (partitions > topic.partitions) await this.createPartitionItems(topic.id, topic.partitions, partitions);
    const defaults = Object.fromEntries([...reset].map((key) => [key, this.defaults[key]]));
    const config = validateTopicConfigSet({ ...topic.config, ...defaults, ...checked });
    const configOverrides = [...new Set([...overridesOf(topic, this.defaults), ...Object.keys(checked)])]
      .filter((key) => !reset.has(key as TopicConfigKey) || Object.hasOwn(checked, key))
      .sort();
    try {
      await this.metadata.write({
        kind: 'update',
        key: topicKey(name),
        set: { partitions, config: { ...config }, configOverrides },
        condition: {
          kind: 'match',
          fields: {
            id: topic.id,
            partitions: topic.partitions,
            deleting: null,
            config: item.attrs.config ?? null,
            configOverrides: item.attrs.configOverrides ?? null,
          },
        },
      });
    } catch (error) {
      if (error instanceof ConditionFailedError) {
        throw new SpoolError('CONFLICT', `topic ${name} changed while being altered; read it again and retry`, { retriable: true });
      }
      throw error;
    }
    return { ...topic, partitions, config, configOverrides };
  }

  /**
   * Deletes a topic in steps that can be resumed: mark the topic item `deleting` (it disappears from
   * get and list, and can no longer grow), then per partition delete the partition item — after
   * which no commit can land, since commits require it — then its rows, and last the topic item. A
   * deletion cut short is finished by the next delete or create of that name.
   */
  async delete(name: string): Promise<TopicItem> {
    const found = await this.getIncludingDeleted(name);
    if (found === undefined) throw notFound(name);
    if (!found.deleting) {
      try {
        await this.metadata.write({
          kind: 'update',
          key: topicKey(name),
          set: { deleting: true },
          condition: { kind: 'match', fields: { id: found.id, deleting: null } },
        });
      } catch (error) {
        if (!(error instanceof ConditionFailedError)) throw error;
        if (error.current === undefined) throw notFound(name);
      }
    }
    // Read again: a racing alter may have grown the topic before our mark, never after it.
    const marked = await this.getIncludingDeleted(name);
    if (marked === undefined || marked.id !== found.id) throw notFound(name);
    await this.finishDeletion(marked);
    return marked;
  }

  private async finishDeletion(topic: TopicItem): Promise<void> {
    for (let partition = 0; partition < topic.partitions; partition++) {
      await this.deletePartitionItem(topic.id, partition);
      // With the partition item gone no commit can write here again (its transaction checks that item): the
      // producer states, aborted-transaction entries and cleaner checkpoint under the partition's key go.
      for (const item of await this.metadata.query(partitionPk(topic.id, partition)))
        await this.metadata.write({ kind: 'delete', key: { pk: item.pk, sk: item.sk } });
      for (const row of await this.metadata.query(rowsPk(topic.id, partition))) {
        // The ledger first: a row gone without its entry would leave its objects to the orphan rule.
        await markUnreferenced(this.metadata, objectsOf(batchRowFromItem(row)), this.now());
        await this.metadata.write({ kind: 'delete', key: { pk: row.pk, sk: row.sk } });
      }
    }
    await this.metadata
      .write({ kind: 'delete', key: topicKey(topic.name), condition: { kind: 'match', fields: { id: topic.id } } })
      .catch(ignoreConditionFailed);
  }

  /**
   * Deletes the partition item, after which no per-partition commit can land. A packed partition's
   * commits do not read its item (packed.ts): its packer is fenced first (writer-log.ts), so none of
   * its commits, to any partition, lands after; it packs under a new id from its next commit on. The
   * delete is conditional on the packer fenced, so a take packing the partition meanwhile is fenced too.
   */
  private async deletePartitionItem(topicId: string, partition: number): Promise<void> {
    const key = partitionKey(topicId, partition);
    for (;;) {
      const item = await this.metadata.get(key);
      if (item === undefined) return;
      const { packedBy } = partitionStateFromItem(item);
      if (packedBy !== null) await fenceWriter(this.metadata, packedBy, this.now());
      try {
        await this.metadata.write({ kind: 'delete', key, condition: { kind: 'match', fields: { packedBy } } });
        return;
      } catch (error) {
        if (!(error instanceof ConditionFailedError)) throw error;
      }
    }
  }

  private async getIncludingDeleted(name: string): Promise<TopicItem | undefined> {
    const item = await this.metadata.get(topicKey(name));
    return item && this.fromItem(item);
  }

  /** A stored topic, with the current defaults for config keys it was created without. */
  private fromItem(item: Item): TopicItem {
    const topic = topicFromItem(item);
    return { ...topic, config: withDefaults(topic.config, this.defaults) };
  }

  /** Creates the missing partition items in [from, to); ones left by an earlier attempt are kept as they are. */
  private async createPartitionItems(topicId: string, from: number, to: number): Promise<void> {
    const ops: WriteOp[] = [];
    for (let partition = from; partition < to; partition++) {
      ops.push({ kind: 'put', key: partitionKey(topicId, partition), attrs: newPartitionAttrs(), condition: { kind: 'absent' } });
    }
    for (let start = 0; start < ops.length; start += maxTransactionOps) {
      const group = ops.slice(start, start + maxTransactionOps);
      try {
        await this.metadata.transact(group);
      } catch (error) {
        if (!(error instanceof TransactionConflictError)) throw error;
        for (const op of group) await this.metadata.write(op).catch(ignoreConditionFailed);
      }
    }
  }
}

function ignoreConditionFailed(error: unknown): void {
  if (!(error instanceof ConditionFailedError)) throw error;
}

function alreadyExists(name: string): SpoolError {
  return new SpoolError('TOPIC_ALREADY_EXISTS', `topic ${name} already exists`, { details: { topic: name } });
}

export function notFound(name: string): SpoolError {
  return new SpoolError('TOPIC_NOT_FOUND', `topic ${name} does not exist`, { details: { topic: name } });
}
