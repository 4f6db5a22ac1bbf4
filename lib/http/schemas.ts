/**
 * The HTTP API's shapes, as zod schemas: the same definitions validate requests and generate
 * /openapi.json, so the document cannot drift from what the server accepts. JSON is snake_case.
 */
import { z } from '@hono/zod-openapi';
import { maxPartitions, maxTopicNameLength, topicConfigKeys, topicConfigRules, type TopicConfigKey } from '../log/index.js';
import { lockRangeMs } from '../queues/config.js';
import { defaultRedriveRecords, maxRedriveRecords } from '../queues/redrive.js';
import { maxReceiveRecords } from '../queues/service.js';

const safeInt = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** An integer in a query or path: decimal digits only (no "", "0x1", "1e0" or " "), then range-checked. */
export const digits = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,16}$/, 'expected a non-negative integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** A topic config key as the HTTP API spells it: Kafka's name with "." replaced by "_". */
export function configField(key: TopicConfigKey): string {
  return key.replaceAll('.', '_');
}

/**
 * Built from the config table, so every key the engine knows is accepted and described the same way.
 * Only the type is checked here: the engine checks values, with the same INVALID_CONFIG as Kafka's
 * CreateTopics gets.
 */
const configSchema = (key: TopicConfigKey) => {
  const rule = topicConfigRules[key];
  switch (rule.kind) {
    case 'enum':
      return z.string().openapi({ enum: [...rule.values], description: rule.meaning });
    case 'integer':
    case 'double':
      return z.number().openapi({ minimum: rule.min, maximum: rule.max, description: rule.meaning });
    case 'boolean':
      return z.boolean().openapi({ description: rule.meaning });
    case 'list':
      return z.string().openapi({ description: `${rule.meaning}; a comma-separated list of ${rule.items}` });
    case 'string':
      return z.string().openapi({ description: `${rule.meaning}; ${rule.shape}` });
  }
};

export const TopicConfigBody = z
  .object(Object.fromEntries(topicConfigKeys.map((key) => [configField(key), configSchema(key).optional()])))
  .strict()
  .openapi('TopicConfig', { description: 'Per-topic settings, as Kafka names them with "." replaced by "_".' });

export const TopicConfigOut = z.object(Object.fromEntries(topicConfigKeys.map((key) => [configField(key), configSchema(key)])));

/** Checked by the engine (INVALID_TOPIC_NAME, as in a path): only the type is checked here. */
export const TopicName = z.string().openapi({
  example: 'orders',
  description: `1 to ${maxTopicNameLength} ASCII letters, digits, ".", "_" and "-"; not one of Kafka's internal names`,
});

/** Checked by the engine (INVALID_PARTITIONS, as Kafka's CreateTopics): only the type is checked here. */
const PartitionCount = z.number().openapi({ minimum: 1, maximum: maxPartitions, description: 'how many partitions; they only grow' });

export const CreateTopicBody = z
  .object({
    name: TopicName,
    partitions: PartitionCount.optional(),
    config: TopicConfigBody.optional(),
  })
  .strict()
  .openapi('CreateTopic');

export const AlterTopicBody = z
  .object({ partitions: PartitionCount.optional(), config: TopicConfigBody.optional() })
  .strict()
  .openapi('AlterTopic');

export const TopicOut = z.object({ name: z.string(), partitions: z.number().int(), config: TopicConfigOut }).openapi('Topic');

export const TopicListOut = z
  .object({
    topics: z.array(
      TopicOut.extend({
        stored_bytes: z.number().int().nullable().openapi({
          description: 'bytes its records take in the object store, as of the last maintenance pass (null: none counted it yet)',
        }),
      }),
    ),
  })
  .openapi('TopicList');

export const TopicDescriptionOut = z
  .object({
    name: z.string(),
    partitions: z.array(z.object({ partition: z.number().int(), earliest_offset: z.number().int(), high_watermark: z.number().int() })),
    config: TopicConfigOut,
  })
  .openapi('TopicDescription');

export const TopicParams = z.object({ topic: z.string().openapi({ param: { name: 'topic', in: 'path' }, example: 'orders' }) });

export const PartitionParams = TopicParams.extend({
  partition: digits(0, Number.MAX_SAFE_INTEGER).openapi({ param: { name: 'partition', in: 'path' }, example: '0' }),
});

export const Encoding = z.enum(['utf8', 'base64']);

export const RecordIn = z
  .object({
    key: z.string().nullable().optional(),
    value: z.string().nullable(),
    partition: z.number().int().min(0).optional(),
    headers: z.record(z.string(), z.string().nullable()).optional(),
    timestamp: safeInt.optional().openapi({ description: 'create time, ms since the epoch; defaults to the time of receipt' }),
    deliver_at: z
      .union([safeInt, z.string().max(64)])
      .optional()
      .openapi({
        description:
          'share groups and queue receivers first see the record then (ms since the epoch, or an ISO 8601 time); written as the header spool.deliver.at.ms. Ordinary consumers see it at once',
      }),
    deliver_after_ms: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().openapi({
      description: 'as deliver_at, this many ms after the time of receipt',
    }),
  })
  .strict();

export const ProduceBody = z
  .object({ records: z.array(RecordIn), encoding: Encoding.optional() })
  .strict()
  .openapi('Produce', { description: 'Keys, values and header values are UTF-8 text, or base64 with encoding "base64".' });

export const ProduceQuery = z.object({
  acks: z
    .enum(['0', '1', 'all'])
    .optional()
    .openapi({ description: '0: answer on receipt; 1 and all: after the commit (the same in Spool)' }),
  key_separator: z
    .string()
    .min(1)
    .optional()
    .openapi({ description: 'text/plain only: split each line into key and value at the first separator' }),
  partition: digits(0, Number.MAX_SAFE_INTEGER)
    .optional()
    .openapi({ description: 'text/plain and NDJSON: write every line to this partition (unless an NDJSON record names one)' }),
  encoding: Encoding.optional().openapi({ description: 'NDJSON only: keys, values and header values are UTF-8 text (default) or base64' }),
});

export const ProduceOut = z
  .object({ offsets: z.array(z.object({ partition: z.number().int(), offset: z.number().int() })) })
  .openapi('Produced');

const offsetSpec = z.union([
  z.literal('earliest'),
  z.literal('latest'),
  z.string().regex(/^\d+$/, 'expected a non-negative integer, "earliest" or "latest"'),
]);

export const FetchQuery = z.object({
  offset: offsetSpec.optional().openapi({ description: 'first offset to return: a number, earliest (default) or latest' }),
  max_records: digits(1, 100_000).optional(),
  max_bytes: digits(1, 64 * 1024 * 1024).optional(),
  wait_ms: digits(0, 60_000).optional().openapi({ description: 'long-poll: wait up to this long for records' }),
  encoding: Encoding.optional(),
  isolation: z.enum(['read_uncommitted', 'read_committed']).optional().openapi({
    description:
      "read_committed: only committed transactions' records, up to the last stable offset; read_uncommitted (default, as Kafka's consumer): every record but transaction markers",
  }),
});

export const RecordOut = z
  .object({
    offset: z.number().int(),
    timestamp: z.number().int(),
    key: z.string().nullable(),
    value: z.string().nullable(),
    headers: z.record(z.string(), z.string().nullable()),
  })
  .openapi('Record');

export const FetchOut = z
  .object({ records: z.array(RecordOut), next_offset: z.number().int(), high_watermark: z.number().int() })
  .openapi('Records');

export const OffsetsQuery = z.object({
  timestamp: z.union([offsetSpec, z.literal('max_timestamp')]).openapi({
    description:
      'ms since the epoch (the first record at or after it), earliest, latest, or max_timestamp (the record with the largest timestamp)',
  }),
});

export const OffsetOut = z
  .object({
    offset: z.number().int().nullable(),
    timestamp: z.number().int().nullable().openapi({ description: "the found record's timestamp; null for earliest and latest" }),
  })
  .openapi('Offset', {
    description: 'the earliest offset whose timestamp is at or after the one asked (or as asked); null when no record is that recent',
  });

export const ErrorOut = z
  .object({ error: z.object({ code: z.string(), message: z.string() }).catchall(z.unknown()) })
  .openapi('Error', { description: 'code is stable; message says what was expected and what came in' });

const count = z.number().int();
export const MaintenanceOut = z
  .object({
    segments_compacted: count,
    rows_merged: count,
    compaction_conflicts: count,
    partitions_cleaned: count.openapi({ description: 'compacted topics: partitions whose cleaner checkpoint the pass advanced' }),
    segments_cleaned: count,
    records_cleaned: count.openapi({
      description: 'records the log cleaner removed (superseded by a later record of their key, or tombstones past delete.retention.ms)',
    }),
    cleaner_conflicts: count,
    partitions_trimmed: count,
    records_expired: count,
    rows_deleted: count,
    objects_written: count,
    bytes_written: count,
    objects_deleted: count,
    bytes_deleted: count,
    topics_deletion_finished: count,
    objects_before: count,
    bytes_before: count,
    rows_before: count.openapi({ description: 'rows of the live partitions as the pass first read them' }),
    objects_after: count,
    bytes_after: count,
    rows_after: count,
    rows_timestamps_repaired: count,
    producer_states_expired: count,
    duration_ms: count,
    stopped: z.boolean().openapi({
      description:
        'the pass stopped early at a safe point (the agent shutting down); no census after it, rows_before of the partitions it reached',
    }),
  })
  .openapi('MaintenanceResult');

// ---- consumer groups ------------------------------------------------------------------------------

export const GroupParams = z.object({ group: z.string().openapi({ param: { name: 'group', in: 'path' }, example: 'billing' }) });
export const MemberParams = GroupParams.extend({ member: z.string().openapi({ param: { name: 'member', in: 'path' } }) });
const TopicPartitionOut = z.object({ topic: z.string(), partition: z.number().int() });

export const JoinBody = z
  .object({
    topics: z.array(z.string().min(1)).min(1),
    member_id: z.string().min(1).max(512).optional(),
    session_timeout_ms: z.number().int().min(1000).max(3_600_000).optional(),
    auto_offset_reset: z.enum(['earliest', 'latest', 'none']).optional(),
    assignor: z.enum(['range', 'roundrobin']).optional(),
    auto_commit: z.boolean().optional(),
  })
  .strict()
  .openapi('Join');

export const MembershipOut = z
  .object({
    member_id: z.string(),
    generation: z.number().int(),
    assignments: z.array(TopicPartitionOut),
    revoking: z
      .array(TopicPartitionOut)
      .openapi({ description: 'assigned partitions being moved to another member: commit them before the next request' }),
    state: z.enum(['empty', 'stable', 'rebalancing']),
  })
  .openapi('Membership');

export const PollQuery = z.object({
  max_records: digits(1, 100_000).optional(),
  max_bytes: digits(1, 64 * 1024 * 1024).optional(),
  wait_ms: digits(0, 60_000).optional(),
  encoding: Encoding.optional(),
});

export const PollOut = z
  .object({
    records: z.array(RecordOut.extend({ topic: z.string(), partition: z.number().int() })),
    generation: z.number().int(),
    assignments: z.array(TopicPartitionOut),
    revoking: z.array(TopicPartitionOut),
  })
  .openapi('GroupRecords');

export const CommitBody = z
  .object({
    member_id: z.string().optional(),
    generation: z.number().int().optional(),
    offsets: z.array(z.object({ topic: z.string(), partition: z.number().int().min(0), offset: z.number().int().min(0) }).strict()).min(1),
  })
  .strict()
  .openapi('Commit');

export const OffsetsOut = z
  .object({ offsets: z.array(z.object({ topic: z.string(), partition: z.number().int(), offset: z.number().int().nullable() })) })
  .openapi('GroupOffsets');

export const ResetBody = z
  .object({
    to: z.union([
      z.enum(['earliest', 'latest']),
      z.object({ timestamp: z.number().int() }).strict(),
      z.object({ offset: z.number().int().min(0) }).strict(),
    ]),
    topics: z.array(z.string()).optional(),
    /** Answer the offsets the reset would set, changing nothing (kafka-consumer-groups --dry-run). */
    dry_run: z.boolean().optional(),
  })
  .strict()
  .openapi('ResetOffsets');

export const GroupListOut = z
  .object({ groups: z.array(z.object({ group: z.string(), state: z.string(), generation: z.number().int(), members: z.number().int() })) })
  .openapi('GroupList');

export const GroupOut = z
  .object({
    group: z.string(),
    kind: z.enum(['http', 'kafka']).openapi({ description: 'who manages the membership: HTTP members, or Kafka consumers' }),
    protocol: z.enum(['http', 'classic', 'consumer']).openapi({
      description: "Kafka's classic protocol (JoinGroup/SyncGroup) or its consumer protocol (KIP-848; generation is the group epoch)",
    }),
    state: z.enum(['empty', 'stable', 'rebalancing']),
    generation: z.number().int(),
    assignor: z.string().nullable().openapi({ description: 'the assignor (for a Kafka group, the protocol its members chose)' }),
    members: z.array(
      z.object({
        member_id: z.string(),
        topics: z.array(z.string()),
        assignments: z.array(TopicPartitionOut),
        last_heartbeat_ms: z.number().int(),
        session_timeout_ms: z.number().int(),
      }),
    ),
    partitions: z.array(
      z.object({
        topic: z.string(),
        partition: z.number().int(),
        committed_offset: z.number().int().nullable(),
        high_watermark: z.number().int(),
        lag: z.number().int().nullable(),
        member_id: z.string().nullable(),
      }),
    ),
  })
  .openapi('Group');

// ---- queues (share groups) ------------------------------------------------------------------------

export const QueueParams = GroupParams.extend({ topic: z.string().openapi({ param: { name: 'topic', in: 'path' }, example: 'orders' }) });

const Visibility = z
  .number()
  .int()
  .min(lockRangeMs.min)
  .max(lockRangeMs.max)
  .openapi({ description: 'how long the records stay locked to this receive (ms); the group’s share.record.lock.duration.ms if absent' });

export const ReceiveBody = z
  .object({
    max_records: z
      .number()
      .int()
      .min(1)
      .max(maxReceiveRecords)
      .optional()
      .openapi({ description: 'at most this many records (default 10)' }),
    visibility_ms: Visibility.optional(),
    wait_ms: z.number().int().min(0).max(60_000).optional().openapi({ description: 'wait up to this long for a record (long poll)' }),
    encoding: Encoding.optional(),
  })
  .strict()
  .openapi('Receive');

export const ReceiveOut = z
  .object({
    holder: z.string().openapi({ description: 'this receive’s holder: what an acknowledgement by offset range names' }),
    records: z.array(
      RecordOut.extend({
        partition: z.number().int(),
        delivery_count: z.number().int().openapi({ description: 'times the record was handed out, this time included' }),
        receipt: z.string().openapi({ description: 'what acknowledges this record' }),
      }),
    ),
  })
  .openapi('Received');

/** Records to settle: by receipt, or by the holder and an offset range of one partition. */
const QueueTarget = z.union([
  z.object({ receipt: z.string().min(1).max(1000) }).strict(),
  z
    .object({
      holder: z.string().min(1).max(100),
      partition: z.number().int().min(0).max(maxPartitions),
      first_offset: safeInt,
      last_offset: safeInt.optional().openapi({ description: 'inclusive; first_offset if absent' }),
    })
    .strict(),
]);

export const AckBody = z
  .object({
    acks: z
      .array(
        z.intersection(
          QueueTarget,
          z.object({
            outcome: z.enum(['accept', 'release', 'reject']).optional().openapi({
              description: 'accept: done; release: deliver again; reject: dead (archived). Default accept',
            }),
            error: z.string().min(1).max(1000).optional().openapi({
              description: 'reject only: why, written as the dead letter’s __dlq.errors.message (default "Offset rejected by client.")',
            }),
          }),
        ),
      )
      .min(1)
      .max(maxReceiveRecords),
  })
  .strict()
  .openapi('Acknowledge');

export const ExtendBody = z
  .object({ records: z.array(QueueTarget).min(1).max(maxReceiveRecords), visibility_ms: Visibility })
  .strict()
  .openapi('Extend');

export const AckOut = z
  .object({
    results: z.array(
      z.object({
        status: z.enum(['ok', 'already_settled', 'lock_expired', 'invalid']).openapi({
          description:
            'ok: settled now; already_settled: acknowledged or archived before (a retry); lock_expired: available again or handed to another holder; invalid: never handed out',
        }),
        reason: z.string().optional(),
      }),
    ),
  })
  .openapi('Acknowledged');

const ShareConfigFields = {
  share_auto_offset_reset: z.enum(['earliest', 'latest']),
  share_record_lock_duration_ms: z.number().int(),
  share_delivery_count_limit: z.number().int(),
  share_isolation_level: z.enum(['read_uncommitted', 'read_committed']),
  errors_deadletterqueue_topic_name: z.string().max(249),
  errors_deadletterqueue_copy_record_enable: z.boolean(),
};

export const QueueConfigBody = z
  .object({
    config: z
      .object(Object.fromEntries(Object.entries(ShareConfigFields).map(([key, schema]) => [key, schema.nullable().optional()])))
      .strict()
      .openapi({ description: 'Kafka’s share group configs with "." replaced by "_"; null: back to the default' }),
  })
  .strict()
  .openapi('AlterQueue');

export const QueueOut = z
  .object({
    group: z.string(),
    config: z.object(ShareConfigFields),
    partitions: z.array(
      z.object({
        topic: z.string(),
        partition: z.number().int(),
        start_offset: z.number().int().openapi({ description: 'every record before it is settled' }),
        end_offset: z.number().int().openapi({ description: 'the next offset never handed out' }),
        log_end_offset: z.number().int(),
        acquired: z.number().int().openapi({ description: 'records locked to a holder' }),
        available: z.number().int().openapi({ description: 'records that may be handed out now' }),
        dead: z.number().int().openapi({ description: 'records rejected or delivered the limit of times' }),
        delayed: z.number().int().openapi({ description: 'records waiting for their deliver-at time (spool.deliver.at.ms)' }),
      }),
    ),
  })
  .openapi('Queue');

export const QueueQuery = z.object({ topic: z.string().optional().openapi({ description: 'only this topic’s partitions' }) });

export const RedriveBody = z
  .object({
    max_records: z
      .number()
      .int()
      .min(1)
      .max(maxRedriveRecords)
      .optional()
      .openapi({ description: `records of the dead-letter topic to look at, moved or passed over (default ${defaultRedriveRecords})` }),
    dead_letter_topic: z
      .string()
      .min(1)
      .max(maxTopicNameLength)
      .optional()
      .openapi({ description: 'the dead-letter topic to read; the group’s errors.deadletterqueue.topic.name if absent' }),
  })
  .strict()
  .openapi('Redrive');

export const RedriveOut = z
  .object({
    group: z.string(),
    dead_letter_topic: z.string(),
    redrive_group: z
      .string()
      .openapi({ description: 'the consumer group whose committed offsets on the dead-letter topic are the position' }),
    moved: z.number().int().openapi({ description: 'dead letters produced back to their topic and partition' }),
    passed_over: z.object({
      other_group: z.number().int().openapi({ description: 'records that are not this group’s dead letters' }),
      no_value: z.number().int().openapi({ description: 'dead letters with neither key nor value (copy.record.enable was off)' }),
      missing_topic: z.number().int().openapi({ description: 'dead letters whose topic or partition no longer exists' }),
      malformed: z.number().int().openapi({ description: 'dead letters of this group without a readable topic or partition header' }),
    }),
    positions: z.array(
      z.object({
        partition: z.number().int(),
        offset: z.number().int().openapi({ description: 'the position now: the next offset a redrive reads' }),
        end_offset: z.number().int().openapi({ description: 'how far this call could read (the last stable offset as it began)' }),
      }),
    ),
  })
  .openapi('Redriven');
