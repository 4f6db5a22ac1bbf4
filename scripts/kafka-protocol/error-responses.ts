/**
 * What an API's answer to a request refused as a whole looks like: Kafka's
 * `AbstractRequest.getErrorResponse`, one per request class, written down here as data and turned by
 * emit.ts into a typed `errorResponse(request, version, errorCode, errorMessage)` in the API's module.
 *
 * The rules every entry shares (emit.ts applies them; the schemas give the fields):
 * - Every field named ErrorCode, at the top and in every item answered, is the error; every field
 *   named ErrorMessage is the message (null, or "" where the version cannot carry null).
 * - A response list named in `lists` answers the request list `from` one item for one, echoing the
 *   `keys` (a topic's name and id, a partition's index, a group's id, a resource's type and name);
 *   every other response list is empty, and every other field holds its schema default.
 * - `set` gives the fields whose error value is not their schema default: Kafka's "unknown" constants
 *   (INVALID_OFFSET -1 where the schema says 0), or null for a field Kafka leaves null (written as
 *   the default in versions where it cannot be null).
 *
 * Only the APIs listed get an `errorResponse`; serving an API (lib/kafka/served.ts) requires one, so
 * a new API is served only once its entry says, from its Kafka request class, what it echoes.
 */

/** A value a field takes in an error response. */
export type ErrorValue = number | string | boolean | null;

/** One response list answering a request list. */
export interface ErrorItems {
  /** The request list (a field of the request struct at the same level) whose items this list answers, one for one. */
  readonly from: string;
  /**
   * The fields echoed: a response field of the same name as the request's, or [response, request]
   * when the names differ. When `from` is a list of primitives: the one response field each value fills.
   */
  readonly keys: readonly (string | readonly [response: string, request: string])[];
  /** The versions in which the items are answered (Kafka's syntax, e.g. "0-12"); in others the list is empty. @default every version */
  readonly versions?: string;
  /** Fields whose error value is not their schema default. */
  readonly set?: Readonly<Record<string, ErrorValue>>;
  /** Lists within each item answered; several sources are answered one after the other. */
  readonly lists?: Readonly<Record<string, ErrorItems | readonly ErrorItems[]>>;
}

/** An API's error response: the top level's special values and the lists it answers. */
export interface ErrorResponseSpec {
  readonly set?: Readonly<Record<string, ErrorValue>>;
  readonly lists?: Readonly<Record<string, ErrorItems | readonly ErrorItems[]>>;
}

/** Kafka's ProduceResponse.INVALID_OFFSET, FetchResponse.INVALID_HIGH_WATERMARK, and their like. */
const unknown = -1;

/** By API name (the generated module's export). */
export const errorResponses: Readonly<Record<string, ErrorResponseSpec>> = {
  // ProduceRequest: base offset INVALID_OFFSET (log append time and log start offset default to -1).
  Produce: {
    lists: {
      Responses: {
        from: 'TopicData',
        keys: ['Name', 'TopicId'],
        lists: { PartitionResponses: { from: 'PartitionData', keys: ['Index'], set: { BaseOffset: unknown } } },
      },
    },
  },
  // FetchRequest: from v13 only the top-level error (clients read it), before that every partition too.
  Fetch: {
    lists: {
      Responses: {
        from: 'Topics',
        keys: ['Topic', 'TopicId'],
        versions: '0-12',
        lists: { Partitions: { from: 'Partitions', keys: [['PartitionIndex', 'Partition']], set: { HighWatermark: unknown } } },
      },
    },
  },
  // ListOffsetsRequest: offset and timestamp unknown (their defaults), no old-style offsets.
  ListOffsets: {
    lists: { Topics: { from: 'Topics', keys: ['Name'], lists: { Partitions: { from: 'Partitions', keys: ['PartitionIndex'] } } } },
  },
  // MetadataRequest: each topic asked for (none when all are), no partitions; the top-level error
  // (v13, for REBOOTSTRAP_REQUIRED) stays NONE.
  Metadata: { set: { ErrorCode: 0 }, lists: { Topics: { from: 'Topics', keys: ['Name', 'TopicId'] } } },
  OffsetCommit: {
    lists: {
      Topics: {
        from: 'Topics',
        keys: ['Name', 'TopicId'],
        lists: { Partitions: { from: 'Partitions', keys: ['PartitionIndex'] } },
      },
    },
  },
  // OffsetFetchRequest: v0–1 carry the error in every partition (INVALID_OFFSET), v2–7 at the top
  // with no partitions, v8+ in each group, with no partitions.
  OffsetFetch: {
    lists: {
      Topics: {
        from: 'Topics',
        keys: ['Name'],
        versions: '0-1',
        lists: { Partitions: { from: 'PartitionIndexes', keys: ['PartitionIndex'], set: { CommittedOffset: unknown } } },
      },
      Groups: { from: 'Groups', keys: ['GroupId'] },
    },
  },
  // FindCoordinatorRequest: Node.noNode() (id -1, host "", port -1), at the top (v0–3) or per key (v4+).
  FindCoordinator: {
    set: { NodeId: unknown, Port: unknown },
    lists: { Coordinators: { from: 'CoordinatorKeys', keys: ['Key'], set: { NodeId: unknown, Port: unknown } } },
  },
  // JoinGroupRequest: generation -1, member and leader "" (defaults), protocol name null (v7+).
  JoinGroup: { set: { ProtocolName: null } },
  Heartbeat: {},
  // LeaveGroupRequest: the top-level error only, no member answers.
  LeaveGroup: {},
  SyncGroup: {},
  DescribeGroups: { lists: { Groups: { from: 'Groups', keys: ['GroupId'] } } },
  ListGroups: {},
  SaslHandshake: {},
  ApiVersions: {},
  CreateTopics: { lists: { Topics: { from: 'Topics', keys: ['Name'] } } },
  // DeleteTopicsRequest: v6 names topics (by name or id) in Topics, earlier versions in TopicNames.
  DeleteTopics: {
    lists: {
      Responses: [
        { from: 'Topics', keys: ['Name', 'TopicId'] },
        { from: 'TopicNames', keys: ['Name'] },
      ],
    },
  },
  // DeleteRecordsRequest: low watermark INVALID_LOW_WATERMARK.
  DeleteRecords: {
    lists: {
      Topics: {
        from: 'Topics',
        keys: ['Name'],
        lists: { Partitions: { from: 'Partitions', keys: ['PartitionIndex'], set: { LowWatermark: unknown } } },
      },
    },
  },
  // InitProducerIdRequest: NO_PRODUCER_ID and NO_PRODUCER_EPOCH.
  InitProducerId: { set: { ProducerId: unknown, ProducerEpoch: unknown } },
  // AddPartitionsToTxnRequest: v0-3 every partition gets the error; v4+ the top-level error only.
  AddPartitionsToTxn: {
    lists: {
      ResultsByTopicV3AndBelow: {
        from: 'V3AndBelowTopics',
        keys: ['Name'],
        versions: '0-3',
        lists: { ResultsByPartition: { from: 'Partitions', keys: ['PartitionIndex'] } },
      },
    },
  },
  AddOffsetsToTxn: {},
  // EndTxnRequest: NO_PRODUCER_ID and NO_PRODUCER_EPOCH (v5+).
  EndTxn: { set: { ProducerId: unknown, ProducerEpoch: unknown } },
  TxnOffsetCommit: {
    lists: {
      Topics: { from: 'Topics', keys: ['Name', 'TopicId'], lists: { Partitions: { from: 'Partitions', keys: ['PartitionIndex'] } } },
    },
  },
  // WriteTxnMarkersRequest: every partition of every marker gets the error, under its producer id.
  WriteTxnMarkers: {
    lists: {
      Markers: {
        from: 'Markers',
        keys: ['ProducerId'],
        lists: {
          Topics: { from: 'Topics', keys: ['Name'], lists: { Partitions: { from: 'PartitionIndexes', keys: ['PartitionIndex'] } } },
        },
      },
    },
  },
  // DescribeTransactionsRequest: each id answered with the error.
  DescribeTransactions: { lists: { TransactionStates: { from: 'TransactionalIds', keys: ['TransactionalId'] } } },
  ListTransactions: {},
  DescribeConfigs: { lists: { Results: { from: 'Resources', keys: ['ResourceType', 'ResourceName'] } } },
  AlterConfigs: { lists: { Responses: { from: 'Resources', keys: ['ResourceType', 'ResourceName'] } } },
  IncrementalAlterConfigs: { lists: { Responses: { from: 'Resources', keys: ['ResourceType', 'ResourceName'] } } },
  SaslAuthenticate: {},
  // DescribeLogDirsRequest: the top-level error (v3+), no log dirs.
  DescribeLogDirs: {},
  CreatePartitions: { lists: { Results: { from: 'Topics', keys: ['Name'] } } },
  DescribeCluster: {},
  // UpdateFeaturesRequest: the top-level error, no per-feature results.
  UpdateFeatures: {},
  DescribeTopicPartitions: { lists: { Topics: { from: 'Topics', keys: ['Name'] } } },
  DeleteGroups: { lists: { Results: { from: 'GroupsNames', keys: ['GroupId'] } } },
  // OffsetDeleteRequest: the top-level error only, no topics.
  OffsetDelete: {},
  // ConsumerGroupHeartbeatRequest: the error alone (no member id or epoch).
  ConsumerGroupHeartbeat: {},
  ConsumerGroupDescribe: { lists: { Groups: { from: 'GroupIds', keys: ['GroupId'] } } },
  // ShareGroupHeartbeatRequest, ShareFetchRequest, ShareAcknowledgeRequest: the error alone (a share
  // fetch's or acknowledgement's error is the request's, with no partition answered).
  ShareGroupHeartbeat: {},
  ShareGroupDescribe: { lists: { Groups: { from: 'GroupIds', keys: ['GroupId'] } } },
  ShareFetch: {},
  ShareAcknowledge: {},
  // DescribeShareGroupOffsetsRequest: each group answered with the error; Alter/DeleteShareGroupOffsets: the error alone.
  DescribeShareGroupOffsets: { lists: { Groups: { from: 'Groups', keys: ['GroupId'] } } },
  AlterShareGroupOffsets: {},
  DeleteShareGroupOffsets: {},
  DescribeProducers: {
    lists: {
      Topics: {
        from: 'Topics',
        keys: ['Name'],
        lists: { Partitions: { from: 'PartitionIndexes', keys: ['PartitionIndex'] } },
      },
    },
  },
};
