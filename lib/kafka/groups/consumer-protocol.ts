/**
 * The consumer protocol as it travels inside the group APIs: JoinGroup's protocol metadata (a
 * ConsumerProtocolSubscription) and SyncGroup's assignment (a ConsumerProtocolAssignment), each an
 * int16 version followed by the generated schema (protocol/messages/consumer-protocol.ts). The
 * coordinator treats both as opaque; Spool reads them only to show a Kafka group's subscriptions and
 * assignments beside HTTP groups, to answer OffsetDelete's "is the group subscribed to this topic",
 * and writes them to show HTTP groups to Kafka tools (DescribeGroups).
 *
 * As Kafka's ConsumerProtocol: a version newer than the newest known is read as the newest (Kafka only
 * ever appends fields here); an empty assignment is "none" (a member the leader left out).
 */
import { KafkaReader, KafkaWriter } from '../wire.js';
import {
  ConsumerProtocolAssignmentData,
  ConsumerProtocolSubscriptionData,
  type ConsumerProtocolSubscription,
  type TopicPartition,
} from '../protocol/messages/consumer-protocol.js';

export interface ConsumerSubscription extends ConsumerProtocolSubscription {
  readonly version: number;
}

export interface ConsumerAssignment {
  readonly version: number;
  readonly partitions: readonly TopicPartition[];
  readonly userData: Buffer | null;
}

const knownVersion = (version: number, data: { readonly minVersion: number; readonly maxVersion: number }, what: string) => {
  if (version < data.minVersion) throw new RangeError(`${what} version ${version} is below ${data.minVersion}`);
  return Math.min(version, data.maxVersion);
};

/**
 * A subscription; one cut short (a client that names a version but writes only the older fields) is
 * read at the newest version its bytes hold, as Spool always has.
 */
export function decodeSubscription(bytes: Buffer): ConsumerSubscription {
  const version = new KafkaReader(bytes, false, 'ConsumerProtocolSubscription').int16('version');
  for (let readAs = knownVersion(version, ConsumerProtocolSubscriptionData, 'ConsumerProtocolSubscription'); ; readAs--) {
    const reader = new KafkaReader(bytes, false, 'ConsumerProtocolSubscription');
    reader.int16('version');
    try {
      return { version, ...ConsumerProtocolSubscriptionData.decode(reader, readAs) };
    } catch (error) {
      if (readAs === 0) throw error;
    }
  }
}

export function encodeSubscription(subscription: Pick<ConsumerSubscription, 'topics'> & Partial<ConsumerSubscription>): Buffer {
  const { version = 0, ...fields } = subscription;
  const writer = new KafkaWriter(false);
  writer.int16(version);
  ConsumerProtocolSubscriptionData.encode(writer, version, fields);
  return Buffer.concat(writer.finish());
}

const noUserData = Buffer.from([0xff, 0xff, 0xff, 0xff]);

export function decodeAssignment(bytes: Buffer): ConsumerAssignment {
  if (bytes.length === 0) return { version: 0, partitions: [], userData: null };
  const read = (withUserData: Buffer) => {
    const reader = new KafkaReader(withUserData, false, 'ConsumerProtocolAssignment');
    const version = reader.int16('version');
    const data = ConsumerProtocolAssignmentData.decode(
      reader,
      knownVersion(version, ConsumerProtocolAssignmentData, 'ConsumerProtocolAssignment'),
    );
    return { version, partitions: data.assignedPartitions, userData: data.userData };
  };
  try {
    return read(bytes);
  } catch {
    return read(Buffer.concat([bytes, noUserData])); // some clients leave user_data out
  }
}

export function encodeAssignment(assignment: Pick<ConsumerAssignment, 'partitions'> & Partial<ConsumerAssignment>): Buffer {
  const version = assignment.version ?? 0;
  const writer = new KafkaWriter(false);
  writer.int16(version);
  ConsumerProtocolAssignmentData.encode(writer, version, {
    assignedPartitions: assignment.partitions,
    userData: assignment.userData ?? null,
  });
  return Buffer.concat(writer.finish());
}

/** The topics a member's consumer-protocol metadata subscribes to; undefined when it is not readable as one. */
export function subscribedTopics(metadata: Buffer): readonly string[] | undefined {
  try {
    return decodeSubscription(metadata).topics;
  } catch {
    return undefined;
  }
}
