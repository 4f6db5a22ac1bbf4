/**
 * KIP-932's share group APIs on the wire (lib/kafka/share-groups.ts), with the generated codecs: a
 * heartbeat's validation and assignment, share sessions and their epochs, acquisition and
 * acknowledgement (all or nothing per partition, one type per range or per offset), records of an
 * aborted transaction left out read_committed, a session whose connection closes releasing its
 * member's records, and share group configs through Incremental/DescribeConfigs. The Java client's
 * own run is test/interop/share-groups.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../lib/format/index.js';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import { AlterShareGroupOffsets } from '../../lib/kafka/protocol/messages/alter-share-group-offsets.js';
import { DeleteGroups } from '../../lib/kafka/protocol/messages/delete-groups.js';
import { DeleteShareGroupOffsets } from '../../lib/kafka/protocol/messages/delete-share-group-offsets.js';
import { DescribeConfigs } from '../../lib/kafka/protocol/messages/describe-configs.js';
import { DescribeShareGroupOffsets } from '../../lib/kafka/protocol/messages/describe-share-group-offsets.js';
import { ListGroups } from '../../lib/kafka/protocol/messages/list-groups.js';
import { IncrementalAlterConfigs } from '../../lib/kafka/protocol/messages/incremental-alter-configs.js';
import { ShareAcknowledge } from '../../lib/kafka/protocol/messages/share-acknowledge.js';
import { ShareFetch } from '../../lib/kafka/protocol/messages/share-fetch.js';
import { ShareGroupDescribe } from '../../lib/kafka/protocol/messages/share-group-describe.js';
import { ShareGroupHeartbeat } from '../../lib/kafka/protocol/messages/share-group-heartbeat.js';
import { toAcknowledgements } from '../../lib/kafka/share-groups.js';
import { text } from '../support/logs.js';
import { WireClient } from './support/wire-client.js';
import { useWireHarness } from './support/wire-harness.js';

const kafka = await useWireHarness();

async function setup(options: { records?: number; partitions?: number; config?: Record<string, string> } = {}) {
  const topic = `share-${randomUUID().slice(0, 8)}`;
  const group = `share-group-${randomUUID().slice(0, 8)}`;
  const created = await kafka.log.createTopic(topic, options.partitions ?? 1);
  if (options.records)
    await kafka.log.produce(
      topic,
      Array.from({ length: options.records }, (_, i) => ({ key: null, value: text(`m${i}`), partition: 0 })),
    );
  const client = await kafka.connect();
  const config = { 'share.auto.offset.reset': 'earliest', ...options.config };
  const altered = await client.callGenerated(IncrementalAlterConfigs, 1, {
    resources: [
      {
        resourceType: 32,
        resourceName: group,
        configs: Object.entries(config).map(([name, value]) => ({ name, configOperation: 0, value })),
      },
    ],
  });
  expect(altered.responses[0]!.errorCode).toBe(0);
  return { topic, topicId: created.id, group, client };
}

const member = () => randomUUID().replaceAll('-', '').slice(0, 22);

const heartbeat = (
  client: WireClient,
  request: { groupId: string; memberId: string; memberEpoch: number; subscribedTopicNames?: string[] | null },
) => client.callGenerated(ShareGroupHeartbeat, 1, { rackId: null, subscribedTopicNames: null, ...request });

const fetch = (
  client: WireClient,
  request: {
    groupId: string;
    memberId: string;
    shareSessionEpoch: number;
    topics?: {
      topicId: string;
      partitions: {
        partitionIndex: number;
        acknowledgementBatches?: { firstOffset: number; lastOffset: number; acknowledgeTypes: number[] }[];
      }[];
    }[];
    maxRecords?: number;
    maxWaitMs?: number;
    maxBytes?: number;
  },
) =>
  client.callGenerated(ShareFetch, 2, {
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: 1 << 20,
    maxRecords: 500,
    batchSize: 500,
    forgottenTopicsData: [],
    ...request,
    topics: (request.topics ?? []).map((t) => ({
      topicId: t.topicId,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, acknowledgementBatches: p.acknowledgementBatches ?? [] })),
    })),
  });

type AckBatch = { firstOffset: number; lastOffset: number; acknowledgeTypes: number[] };

/** ShareAcknowledge v2 of partition 0's batches; with no topic, none (a session's close, an epoch probe). */
const acknowledge = (
  client: WireClient,
  request: { groupId: string; memberId: string; shareSessionEpoch: number; topicId?: string; batches?: AckBatch[] },
) =>
  client.callGenerated(ShareAcknowledge, 2, {
    groupId: request.groupId,
    memberId: request.memberId,
    shareSessionEpoch: request.shareSessionEpoch,
    isRenewAck: false,
    topics:
      request.topicId === undefined
        ? []
        : [{ topicId: request.topicId, partitions: [{ partitionIndex: 0, acknowledgementBatches: request.batches ?? [] }] }],
  });

const acquired = (answer: Awaited<ReturnType<typeof fetch>>) =>
  answer.responses.flatMap((t) =>
    t.partitions.flatMap((p) => p.acquiredRecords.map((r) => [p.partitionIndex, r.firstOffset, r.lastOffset, r.deliveryCount])),
  );

/** What a new member acquires, asked every 20 ms until it gets something (a release on another connection's close lands a little later), for about 1 s. */
async function acquiredByNewMember(client: WireClient, group: string, topics: Parameters<typeof fetch>[1]['topics']) {
  for (let i = 0; ; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const got = acquired(await fetch(client, { groupId: group, memberId: member(), shareSessionEpoch: 0, topics }));
    if (got.length > 0 || i >= 49) return got;
  }
}

describe('kafka > share groups', () => {
  it('joins with the client’s member id, assigns the subscribed partitions, and answers the assignment only when it changes', async () => {
    const { topic, topicId, group, client } = await setup({ partitions: 2 });
    const a = member();
    const joined = await heartbeat(client, { groupId: group, memberId: a, memberEpoch: 0, subscribedTopicNames: [topic] });
    expect(joined).toMatchObject({ errorCode: 0, memberId: a, memberEpoch: 1, heartbeatIntervalMs: 5000 });
    expect(joined.assignment!.topicPartitions).toEqual([{ topicId, partitions: [0, 1] }]);
    expect((await heartbeat(client, { groupId: group, memberId: a, memberEpoch: 1 })).assignment).toBeNull();
    const b = member();
    await heartbeat(client, { groupId: group, memberId: b, memberEpoch: 0, subscribedTopicNames: [topic] });
    const moved = await heartbeat(client, { groupId: group, memberId: a, memberEpoch: 1 });
    expect(moved.memberEpoch).toBe(2);
    expect(moved.assignment!.topicPartitions[0]!.partitions).toHaveLength(1);
    const described = await client.callGenerated(ShareGroupDescribe, 1, { groupIds: [group], includeAuthorizedOperations: false });
    expect(described.groups[0]).toMatchObject({ errorCode: 0, groupState: 'Stable', groupEpoch: 2, assignorName: 'simple' });
    expect(described.groups[0]!.members.map((m) => m.memberId).sort()).toEqual([a, b].sort());
    expect((await heartbeat(client, { groupId: group, memberId: b, memberEpoch: -1 })).memberEpoch).toBe(-1);
  });

  it('refuses a heartbeat as Kafka does', async () => {
    const { topic, group, client } = await setup();
    const code = async (request: Parameters<typeof heartbeat>[1]) => (await heartbeat(client, request)).errorCode;
    expect(await code({ groupId: group, memberId: '', memberEpoch: 0, subscribedTopicNames: [topic] })).toBe(KafkaErrors.INVALID_REQUEST);
    expect(await code({ groupId: group, memberId: member(), memberEpoch: 0 })).toBe(KafkaErrors.INVALID_REQUEST);
    expect(await code({ groupId: group, memberId: member(), memberEpoch: -2 })).toBe(KafkaErrors.INVALID_REQUEST);
    expect(await code({ groupId: group, memberId: member(), memberEpoch: 3 })).toBe(KafkaErrors.UNKNOWN_MEMBER_ID);
    const a = member();
    await heartbeat(client, { groupId: group, memberId: a, memberEpoch: 0, subscribedTopicNames: [topic] });
    expect(await code({ groupId: group, memberId: a, memberEpoch: 9 })).toBe(KafkaErrors.FENCED_MEMBER_EPOCH);
    // A consumer group's id is not a share group's.
    const consumerGroup = `consumer-${randomUUID().slice(0, 8)}`;
    await kafka.groups.commit(consumerGroup, { offsets: [{ topic, partition: 0, offset: 0 }] });
    expect(await code({ groupId: consumerGroup, memberId: member(), memberEpoch: 0, subscribedTopicNames: [topic] })).toBe(
      KafkaErrors.GROUP_ID_NOT_FOUND,
    );
  });

  it('keeps share sessions by epoch: 0 opens, each request carries the next, -1 closes', async () => {
    const { topicId, group, client } = await setup({ records: 3 });
    const m = member();
    const partitions = [{ topicId, partitions: [{ partitionIndex: 0 }] }];
    expect((await fetch(client, { groupId: group, memberId: m, shareSessionEpoch: 1, topics: partitions })).errorCode).toBe(
      KafkaErrors.SHARE_SESSION_NOT_FOUND,
    );
    const opened = await fetch(client, { groupId: group, memberId: m, shareSessionEpoch: 0, topics: partitions, maxRecords: 2 });
    expect(opened.errorCode).toBe(0);
    expect(acquired(opened)).toEqual([[0, 0, 1, 1]]);
    expect(opened.acquisitionLockTimeoutMs).toBe(30_000);
    expect((await fetch(client, { groupId: group, memberId: m, shareSessionEpoch: 5 })).errorCode).toBe(
      KafkaErrors.INVALID_SHARE_SESSION_EPOCH,
    );
    // An acknowledgement in a request opening a session is refused, and opens nothing.
    const ackInOpen = await fetch(client, {
      groupId: group,
      memberId: member(),
      shareSessionEpoch: 0,
      topics: [
        {
          topicId,
          partitions: [{ partitionIndex: 0, acknowledgementBatches: [{ firstOffset: 0, lastOffset: 0, acknowledgeTypes: [1] }] }],
        },
      ],
    });
    expect(ackInOpen.errorCode).toBe(KafkaErrors.INVALID_REQUEST);
    expect((await acknowledge(client, { groupId: group, memberId: m, shareSessionEpoch: 0 })).errorCode).toBe(
      KafkaErrors.INVALID_SHARE_SESSION_EPOCH,
    );
    // Epoch 1 acknowledges (per offset: accept, release) and acquires the rest; 2 closes.
    const next = await fetch(client, {
      groupId: group,
      memberId: m,
      shareSessionEpoch: 1,
      topics: [
        {
          topicId,
          partitions: [{ partitionIndex: 0, acknowledgementBatches: [{ firstOffset: 0, lastOffset: 1, acknowledgeTypes: [1, 2] }] }],
        },
      ],
    });
    expect(next.responses[0]!.partitions[0]).toMatchObject({ acknowledgeErrorCode: 0 });
    expect(acquired(next)).toEqual([
      [0, 1, 1, 2],
      [0, 2, 2, 1],
    ]);
    const closed = await acknowledge(client, {
      groupId: group,
      memberId: m,
      shareSessionEpoch: -1,
      topicId,
      batches: [{ firstOffset: 2, lastOffset: 2, acknowledgeTypes: [1] }],
    });
    expect(closed.errorCode).toBe(0);
    expect(closed.responses[0]!.partitions[0]!.errorCode).toBe(0);
    // Closing released offset 1, which the session still held: another member gets it.
    const other = await fetch(client, { groupId: group, memberId: member(), shareSessionEpoch: 0, topics: partitions });
    expect(acquired(other)).toEqual([[0, 1, 1, 3]]);
    expect((await fetch(client, { groupId: group, memberId: m, shareSessionEpoch: 3 })).errorCode).toBe(
      KafkaErrors.SHARE_SESSION_NOT_FOUND,
    );
  });

  it('takes a partition’s acknowledgements all or nothing, and refuses those of records another member holds', async () => {
    const { topicId, group, client } = await setup({ records: 4 });
    const a = member();
    const b = member();
    const partitions = [{ topicId, partitions: [{ partitionIndex: 0 }] }];
    await fetch(client, { groupId: group, memberId: a, shareSessionEpoch: 0, topics: partitions, maxRecords: 2 });
    await fetch(client, { groupId: group, memberId: b, shareSessionEpoch: 0, topics: partitions, maxRecords: 2 });
    const refused = await acknowledge(client, {
      groupId: group,
      memberId: a,
      shareSessionEpoch: 1,
      topicId,
      batches: [
        { firstOffset: 0, lastOffset: 1, acknowledgeTypes: [1] },
        { firstOffset: 2, lastOffset: 2, acknowledgeTypes: [1] },
      ],
    });
    expect(refused.responses[0]!.partitions[0]).toMatchObject({ errorCode: KafkaErrors.INVALID_RECORD_STATE });
    // Nothing of a's was settled: it can still accept its own, at the session's next epoch.
    const accepted = await acknowledge(client, {
      groupId: group,
      memberId: a,
      shareSessionEpoch: 2,
      topicId,
      batches: [{ firstOffset: 0, lastOffset: 1, acknowledgeTypes: [1] }],
    });
    expect(accepted.responses[0]!.partitions[0]!.errorCode).toBe(0);
  });

  it('leaves an aborted transaction’s records out read_committed, and hands out the batches covering what it acquires', async () => {
    const { topic, topicId, group, client } = await setup({ config: { 'share.isolation.level': 'read_committed' } });
    const batch = encodeRecordBatch([{ key: null, value: text('aborted'), timestampMs: 1000 }], {
      producerId: 7,
      producerEpoch: 0,
      baseSequence: 0,
      isTransactional: true,
    });
    await (await kafka.log.appendBatches(topic, 0, batch, { transaction: { transactionalId: 'tx', async verify() {} } })).done;
    await kafka.log.writeMarkers([{ topic, partition: 0, producerId: 7, producerEpoch: 0, commit: false, version: 1 }]);
    await kafka.log.produce(topic, [{ key: null, value: text('kept'), partition: 0 }]);
    const answer = await fetch(client, {
      groupId: group,
      memberId: member(),
      shareSessionEpoch: 0,
      topics: [{ topicId, partitions: [{ partitionIndex: 0 }] }],
    });
    // 0 aborted (archived here), 1 the marker (the client acknowledges it as a gap), 2 the record.
    expect(acquired(answer)).toEqual([[0, 1, 2, 1]]);
    expect(answer.responses[0]!.partitions[0]!.records.length).toBeGreaterThan(0);
  });

  it('leaves a record not due yet out of what it acquires (in a batch it still sends), and hands it out once due', async () => {
    const { topic, topicId, group, client } = await setup();
    // One batch: due now, due in 600 ms (spool.deliver.at.ms), due now.
    await kafka.log.produce(topic, [
      { key: null, value: text('now'), partition: 0 },
      { key: null, value: text('soon'), partition: 0, headers: [{ key: 'spool.deliver.at.ms', value: text(String(Date.now() + 600)) }] },
      { key: null, value: text('also now'), partition: 0 },
    ]);
    const m = member();
    const topics = [{ topicId, partitions: [{ partitionIndex: 0 }] }];
    const first = await fetch(client, { groupId: group, memberId: m, shareSessionEpoch: 0, topics });
    expect(acquired(first)).toEqual([
      [0, 0, 0, 1],
      [0, 2, 2, 1],
    ]);
    // Accepted: the start moves past the delayed record, which waits in the delay index.
    const accepted = await fetch(client, {
      groupId: group,
      memberId: m,
      shareSessionEpoch: 1,
      topics: [
        {
          topicId,
          partitions: [
            {
              partitionIndex: 0,
              acknowledgementBatches: [
                { firstOffset: 0, lastOffset: 0, acknowledgeTypes: [1] },
                { firstOffset: 2, lastOffset: 2, acknowledgeTypes: [1] },
              ],
            },
          ],
        },
      ],
    });
    expect(accepted.responses[0]?.partitions[0]?.acknowledgeErrorCode ?? 0).toBe(0);
    expect(acquired(accepted)).toEqual([]);
    // kafka-share-groups --describe counts it in the lag: not settled yet.
    const offsets = await client.callGenerated(DescribeShareGroupOffsets, 1, { groups: [{ groupId: group, topics: null }] });
    expect(offsets.groups[0]!.topics[0]!.partitions[0]).toMatchObject({ startOffset: 3, lag: 1 });
    // A long poll is woken when it comes due, as a first delivery.
    const due = await fetch(client, { groupId: group, memberId: m, shareSessionEpoch: 2, topics, maxWaitMs: 5000 });
    expect(acquired(due)).toEqual([[0, 1, 1, 1]]);
  });

  it('holds back a delayed record in a compressed batch as well (whose header names it must decompress to see)', async () => {
    const { topic, topicId, group, client } = await setup();
    const batch = encodeRecordBatch(
      [
        { key: null, value: text('now'), timestampMs: Date.now() },
        {
          key: null,
          value: text('later'),
          timestampMs: Date.now(),
          headers: [{ key: 'spool.deliver.at.ms', value: text(String(Date.now() + 60_000)) }],
        },
      ],
      { compression: 'gzip' },
    );
    await (await kafka.log.appendBatches(topic, 0, batch)).done;
    const answer = await fetch(client, {
      groupId: group,
      memberId: member(),
      shareSessionEpoch: 0,
      topics: [{ topicId, partitions: [{ partitionIndex: 0 }] }],
    });
    expect(acquired(answer)).toEqual([[0, 0, 0, 1]]);
  });

  it('releases the records of a session whose connection closes', async () => {
    const { topicId, group } = await setup({ records: 2 });
    const leaving = await kafka.connect();
    const partitions = [{ topicId, partitions: [{ partitionIndex: 0 }] }];
    expect(acquired(await fetch(leaving, { groupId: group, memberId: member(), shareSessionEpoch: 0, topics: partitions }))).toEqual([
      [0, 0, 1, 1],
    ]);
    leaving.close();
    await leaving.closed;
    const client = await kafka.connect();
    const answer = await acquiredByNewMember(client, group, partitions);
    expect(answer).toEqual([[0, 0, 1, 2]]);
  });

  it('releases, when a session ends, only what that session handed out (not what its member holds through another agent)', async () => {
    const { topicId, group } = await setup({ records: 4 });
    const other = await kafka.listen();
    const viaX = await kafka.connect();
    const viaY = await WireClient.open(other.bootstrap);
    try {
      const m = member();
      const partitions = [{ topicId, partitions: [{ partitionIndex: 0 }] }];
      expect(acquired(await fetch(viaX, { groupId: group, memberId: m, shareSessionEpoch: 0, topics: partitions, maxRecords: 2 }))).toEqual(
        [[0, 0, 1, 1]],
      );
      expect(acquired(await fetch(viaY, { groupId: group, memberId: m, shareSessionEpoch: 0, topics: partitions, maxRecords: 2 }))).toEqual(
        [[0, 2, 3, 1]],
      );
      viaX.close();
      await viaX.closed;
      // X's session released 0-1 only; Y's 2-3 are still m's, and m settles them through Y.
      const probe = await kafka.connect();
      const again = await acquiredByNewMember(probe, group, partitions);
      expect(again).toEqual([[0, 0, 1, 2]]);
      const settled = await acknowledge(viaY, {
        groupId: group,
        memberId: m,
        shareSessionEpoch: 1,
        topicId,
        batches: [{ firstOffset: 2, lastOffset: 3, acknowledgeTypes: [1] }],
      });
      expect(settled.responses[0]!.partitions[0]!.errorCode).toBe(0);
    } finally {
      viaY.close();
      await other.close();
    }
  });

  it('judges aborted transactions over every read of a fetch (a transaction may begin in a later read)', async () => {
    const { topic, topicId, group, client } = await setup({ config: { 'share.isolation.level': 'read_committed' } });
    await kafka.log.produce(topic, [{ key: null, value: text('committed'), partition: 0 }]);
    const batch = encodeRecordBatch([{ key: null, value: text('aborted'), timestampMs: 1000 }], {
      producerId: 9,
      producerEpoch: 0,
      baseSequence: 0,
      isTransactional: true,
    });
    await (await kafka.log.appendBatches(topic, 0, batch, { transaction: { transactionalId: 'tx9', async verify() {} } })).done;
    await kafka.log.writeMarkers([{ topic, partition: 0, producerId: 9, producerEpoch: 0, commit: false, version: 1 }]);
    await kafka.log.produce(topic, [{ key: null, value: text('kept'), partition: 0 }]);
    // A byte budget that takes the first batch in one read and the aborted one in a second.
    const first = (await kafka.log.readBatches(topic, 0, 0, { maxBytes: 1 })).batches[0]!.length;
    const answer = await fetch(client, {
      groupId: group,
      memberId: member(),
      shareSessionEpoch: 0,
      topics: [{ topicId, partitions: [{ partitionIndex: 0 }] }],
      maxBytes: first + 10,
    });
    // 0 handed out; 1 aborted (archived, never handed out); the marker and 'kept' past the budget, given back unread.
    expect(acquired(answer)).toEqual([[0, 0, 0, 1]]);
    const rest = await fetch(client, {
      groupId: group,
      memberId: member(),
      shareSessionEpoch: 0,
      topics: [{ topicId, partitions: [{ partitionIndex: 0 }] }],
    });
    expect(acquired(rest)).toEqual([[0, 2, 3, 1]]);
  });

  it('hands every record over once, as a first delivery, to a member whose fetch bytes hold one record at a time', async () => {
    const { topic, topicId, group, client } = await setup({ config: { 'share.delivery.count.limit': '2' } });
    for (let i = 0; i < 6; i++) await kafka.log.produce(topic, [{ key: null, value: text(`r${i}`), partition: 0 }]);
    const m = member();
    const partitions = [{ topicId, partitions: [{ partitionIndex: 0 }] }];
    const seen: number[][] = [];
    let answer = await fetch(client, { groupId: group, memberId: m, shareSessionEpoch: 0, topics: partitions, maxBytes: 1 });
    for (let epoch = 1; epoch < 20 && acquired(answer).length > 0; epoch++) {
      const got = acquired(answer);
      seen.push(...got.map(([, first, last, count]) => [first!, last!, count!]));
      const acks = got.map(([, firstOffset, lastOffset]) => ({
        firstOffset: firstOffset!,
        lastOffset: lastOffset!,
        acknowledgeTypes: [1],
      }));
      answer = await fetch(client, {
        groupId: group,
        memberId: m,
        shareSessionEpoch: epoch,
        topics: [{ topicId, partitions: [{ partitionIndex: 0, acknowledgementBatches: acks }] }],
        maxBytes: 1,
      });
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5].map((offset) => [offset, offset, 1]));
  });

  it('keeps what a member acquired again through another session when the first one ends', async () => {
    const { topicId, group } = await setup({ records: 2, config: { 'share.record.lock.duration.ms': '1000' } });
    const other = await kafka.listen();
    const viaX = await kafka.connect();
    const viaY = await WireClient.open(other.bootstrap);
    try {
      const m = member();
      const partitions = [{ topicId, partitions: [{ partitionIndex: 0 }] }];
      expect(acquired(await fetch(viaX, { groupId: group, memberId: m, shareSessionEpoch: 0, topics: partitions }))).toEqual([
        [0, 0, 1, 1],
      ]);
      await new Promise((resolve) => setTimeout(resolve, 1050)); // X's locks end
      expect(acquired(await fetch(viaY, { groupId: group, memberId: m, shareSessionEpoch: 0, topics: partitions }))).toEqual([
        [0, 0, 1, 2],
      ]);
      viaX.close();
      await viaX.closed;
      await new Promise((resolve) => setTimeout(resolve, 100));
      const probe = await kafka.connect();
      expect(acquired(await fetch(probe, { groupId: group, memberId: member(), shareSessionEpoch: 0, topics: partitions }))).toEqual([]);
    } finally {
      viaY.close();
      await other.close();
    }
  });

  it('acquires nothing more for a long-polling fetch whose session closed meanwhile', async () => {
    const { topic, topicId, group, client } = await setup();
    const m = member();
    const partitions = [{ topicId, partitions: [{ partitionIndex: 0 }] }];
    await fetch(client, { groupId: group, memberId: m, shareSessionEpoch: 0, topics: partitions });
    const other = await kafka.connect();
    const polling = fetch(client, { groupId: group, memberId: m, shareSessionEpoch: 1, maxWaitMs: 2000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closed = await acknowledge(other, { groupId: group, memberId: m, shareSessionEpoch: -1 });
    expect(closed.errorCode).toBe(0);
    await kafka.log.produce(topic, [{ key: null, value: text('late'), partition: 0 }]);
    expect(acquired(await polling)).toEqual([]);
    expect(acquired(await fetch(other, { groupId: group, memberId: member(), shareSessionEpoch: 0, topics: partitions }))).toEqual([
      [0, 0, 0, 1],
    ]);
  });

  it('describes and alters a share group’s settings as group configs, refusing an unknown one or a bad value', async () => {
    const { group, client } = await setup();
    const alter = (configs: { name: string; configOperation: number; value: string | null }[]) =>
      client.callGenerated(IncrementalAlterConfigs, 1, { resources: [{ resourceType: 32, resourceName: group, configs }] });
    expect((await alter([{ name: 'share.delivery.count.limit', configOperation: 0, value: '3' }])).responses[0]!.errorCode).toBe(0);
    expect((await alter([{ name: 'share.nonsense', configOperation: 0, value: '1' }])).responses[0]!.errorCode).toBe(
      KafkaErrors.INVALID_CONFIG,
    );
    expect((await alter([{ name: 'share.delivery.count.limit', configOperation: 0, value: '99' }])).responses[0]!.errorCode).toBe(
      KafkaErrors.INVALID_CONFIG,
    );
    // The dead-letter settings, refused as Kafka 4.4 refuses them: an internal topic's name, a flag that is not a boolean.
    for (const [name, value, message] of [
      ['errors.deadletterqueue.topic.name', '__bad', "errors.deadletterqueue.topic.name: DLQ topic name must not start with '__'"],
      [
        'errors.deadletterqueue.copy.record.enable',
        'maybe',
        'Invalid value maybe for configuration errors.deadletterqueue.copy.record.enable: Expected value to be either true or false',
      ],
    ] as const) {
      const refused = (await alter([{ name, configOperation: 0, value }])).responses[0]!;
      expect([refused.errorCode, refused.errorMessage]).toEqual([KafkaErrors.INVALID_CONFIG, message]);
    }
    expect(
      (
        await alter([
          { name: 'errors.deadletterqueue.topic.name', configOperation: 0, value: 'dlq.orders' },
          { name: 'errors.deadletterqueue.copy.record.enable', configOperation: 0, value: 'true' },
        ])
      ).responses[0]!.errorCode,
    ).toBe(0);
    const described = await client.callGenerated(DescribeConfigs, 4, {
      resources: [{ resourceType: 32, resourceName: group, configurationKeys: null }],
      includeSynonyms: false,
      includeDocumentation: false,
    });
    const configs = Object.fromEntries(described.results[0]!.configs.map((c) => [c.name, [c.value, c.configSource]]));
    expect(configs).toEqual({
      'share.auto.offset.reset': ['earliest', 8],
      'share.delivery.count.limit': ['3', 8],
      'share.isolation.level': ['read_uncommitted', 5],
      'share.record.lock.duration.ms': ['30000', 5],
      'errors.deadletterqueue.topic.name': ['dlq.orders', 8],
      'errors.deadletterqueue.copy.record.enable': ['true', 8],
    });
    expect((await alter([{ name: 'share.delivery.count.limit', configOperation: 1, value: null }])).responses[0]!.errorCode).toBe(0);
    // Settings alone make no group, as in Kafka: it is not listed.
    const listed = await client.callGenerated(ListGroups, 5, { statesFilter: [], typesFilter: ['share'] });
    expect(listed.groups.map((g) => g.groupId)).not.toContain(group);
  });

  it('serves kafka-share-groups: lists the group, describes its offsets and lag, resets and deletes them only while it is empty, deletes it', async () => {
    const { topic, topicId, group, client } = await setup({ records: 3 });
    const m = member();
    await heartbeat(client, { groupId: group, memberId: m, memberEpoch: 0, subscribedTopicNames: [topic] });
    await fetch(client, {
      groupId: group,
      memberId: m,
      shareSessionEpoch: 0,
      topics: [{ topicId, partitions: [{ partitionIndex: 0 }] }],
      maxRecords: 1,
    });
    const listed = await client.callGenerated(ListGroups, 5, { statesFilter: [], typesFilter: ['Share'] });
    expect(listed.groups.filter((g) => g.groupId === group)).toEqual([
      { groupId: group, protocolType: 'share', groupState: 'Stable', groupType: 'share' },
    ]);
    const offsets = await client.callGenerated(DescribeShareGroupOffsets, 1, { groups: [{ groupId: group, topics: null }] });
    expect(offsets.groups[0]).toMatchObject({
      errorCode: 0,
      topics: [{ topicName: topic, topicId, partitions: [{ partitionIndex: 0, startOffset: 0, lag: 3 }] }],
    });
    const alter = () =>
      client.callGenerated(AlterShareGroupOffsets, 0, {
        groupId: group,
        topics: [{ topicName: topic, partitions: [{ partitionIndex: 0, startOffset: 2 }] }],
      });
    expect((await alter()).errorCode).toBe(KafkaErrors.NON_EMPTY_GROUP);
    expect((await client.callGenerated(DeleteGroups, 2, { groupsNames: [group] })).results[0]!.errorCode).toBe(KafkaErrors.NON_EMPTY_GROUP);
    // The member leaves (its session closes first, releasing what it held): the group is empty.
    await acknowledge(client, { groupId: group, memberId: m, shareSessionEpoch: -1 });
    await heartbeat(client, { groupId: group, memberId: m, memberEpoch: -1, subscribedTopicNames: [] });
    expect((await alter()).responses[0]!.partitions[0]!.errorCode).toBe(0);
    const after = await client.callGenerated(DescribeShareGroupOffsets, 1, {
      groups: [{ groupId: group, topics: [{ topicName: topic, partitions: [0] }] }],
    });
    expect(after.groups[0]!.topics[0]!.partitions[0]).toMatchObject({ startOffset: 2, lag: 1 });
    const outOfRange = await client.callGenerated(AlterShareGroupOffsets, 0, {
      groupId: group,
      topics: [{ topicName: topic, partitions: [{ partitionIndex: 0, startOffset: 99 }] }],
    });
    expect(outOfRange.responses[0]!.partitions[0]!.errorCode).toBe(KafkaErrors.OFFSET_OUT_OF_RANGE);
    const forgotten = await client.callGenerated(DeleteShareGroupOffsets, 0, { groupId: group, topics: [{ topicName: topic }] });
    expect(forgotten.responses).toEqual([{ topicName: topic, topicId, errorCode: 0, errorMessage: null }]);
    expect((await client.callGenerated(DeleteGroups, 2, { groupsNames: [group] })).results[0]!.errorCode).toBe(0);
    const gone = await client.callGenerated(ShareGroupDescribe, 1, { groupIds: [group], includeAuthorizedOperations: false });
    expect(gone.groups[0]!.errorCode).toBe(KafkaErrors.GROUP_ID_NOT_FOUND);
  });

  it('reads acknowledgement types as one for a range or one per offset, and refuses any other shape', () => {
    expect(toAcknowledgements([{ firstOffset: 3, lastOffset: 6, acknowledgeTypes: [1] }])).toEqual([{ first: 3, last: 6, type: 'accept' }]);
    expect(toAcknowledgements([{ firstOffset: 0, lastOffset: 3, acknowledgeTypes: [0, 1, 1, 4] }])).toEqual([
      { first: 0, last: 0, type: 'gap' },
      { first: 1, last: 2, type: 'accept' },
      { first: 3, last: 3, type: 'renew' },
    ]);
    expect(toAcknowledgements([{ firstOffset: 0, lastOffset: 3, acknowledgeTypes: [1, 2] }])).toMatch(/1 or 4 types/);
    expect(toAcknowledgements([{ firstOffset: 0, lastOffset: 0, acknowledgeTypes: [9] }])).toMatch(/unknown AcknowledgeType 9/);
    expect(toAcknowledgements([{ firstOffset: 5, lastOffset: 4, acknowledgeTypes: [1] }])).toMatch(/FirstOffset/);
  });
});
