/**
 * The consumer-group codecs as served (the generated pairs, lib/kafka/served.ts) against an independent
 * implementation: requests are built by kafkajs's own protocol encoders and read by Spool's codecs;
 * Spool's responses are read by kafkajs's decoders. A decoded request carries every field of the
 * schema (defaults for those its version lacks), so requests are matched on the fields kafkajs sends.
 * Versions kafkajs does not speak (OffsetCommit 6–7, OffsetFetch 0 and 5, DescribeGroups 3–4) are
 * checked against golden bytes written out field by field from the grammar.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { ApiCodec } from '../../lib/kafka/api.js';
import { decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription } from '../../lib/kafka/groups/consumer-protocol.js';
import { codecs } from '../../lib/kafka/served.js';
import { KafkaReader, KafkaWriter } from '../../lib/kafka/wire.js';

const { describeGroups, findCoordinator, heartbeat, joinGroup, leaveGroup, listGroups, offsetCommit, offsetFetch, syncGroup } = codecs;

const require = createRequire(import.meta.url);
const kafkajs = (path: string) => require(`kafkajs/src/protocol/requests/${path}.js`);
const { MemberMetadata, MemberAssignment } = require('kafkajs/src/consumer/assignerProtocol.js');

/** kafkajs's bytes for a request body. */
async function kafkajsRequest(api: string, version: number, args: unknown): Promise<Buffer> {
  return (await kafkajs(`${api}/v${version}/request`)(args).encode()).buffer;
}

/** kafkajs's reading of a response body. */
function kafkajsResponse(api: string, version: number, bytes: Buffer): Promise<any> {
  return kafkajs(`${api}/v${version}/response`).decode(bytes);
}

function decode<Request>(codec: ApiCodec<Request, any>, version: number, bytes: Buffer): Request {
  const reader = new KafkaReader(bytes, codec.flexibleFrom !== undefined && version >= codec.flexibleFrom);
  const request = codec.decodeRequest(reader, version);
  expect(reader.remaining).toBe(0);
  return request;
}

function encode<Response>(codec: ApiCodec<any, Response>, version: number, response: Response): Buffer {
  const writer = new KafkaWriter(codec.flexibleFrom !== undefined && version >= codec.flexibleFrom);
  codec.encodeResponse(writer, version, response);
  return Buffer.concat(writer.finish());
}

/** Golden bytes, written out field by field. */
const int8 = (v: number) => Buffer.from([v]);
const int16 = (v: number) => Buffer.from([(v >> 8) & 0xff, v & 0xff]);
const int32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
};
const int64 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(v));
  return b;
};
const string = (v: string | null) => (v === null ? int16(-1) : Buffer.concat([int16(Buffer.byteLength(v)), Buffer.from(v)]));
const bytes = (v: Buffer) => Buffer.concat([int32(v.length), v]);

const subscription = MemberMetadata.encode({ version: 0, topics: ['orders', 'payments'], userData: Buffer.from('ud') }) as Buffer;
const assignment = MemberAssignment.encode({ version: 0, assignment: { orders: [0, 2], payments: [1] } }) as Buffer;

describe('kafka > codecs > FindCoordinator', () => {
  it.each([0, 1, 2])('reads kafkajs v%i requests and answers in a way kafkajs reads', async (version) => {
    const request = decode(
      findCoordinator,
      version,
      await kafkajsRequest('findCoordinator', version, { groupId: 'billing', coordinatorKey: 'billing', coordinatorType: 0 }),
    );
    expect(request).toMatchObject({ key: 'billing', keyType: 0 });
    const answer = await kafkajsResponse(
      'findCoordinator',
      version,
      encode(findCoordinator, version, { throttleTimeMs: 0, errorCode: 0, errorMessage: null, nodeId: 3, host: 'agent-3', port: 9092 }),
    );
    expect(answer.errorCode).toBe(0);
    expect(answer.coordinator).toEqual({ nodeId: 3, host: 'agent-3', port: 9092 });
  });
});

describe('kafka > codecs > JoinGroup', () => {
  it.each([0, 1, 2, 3, 4, 5])('reads kafkajs v%i requests and answers in a way kafkajs reads', async (version) => {
    const args = {
      groupId: 'billing',
      sessionTimeout: 30_000,
      rebalanceTimeout: 60_000,
      memberId: 'm-1',
      groupInstanceId: 'instance-1',
      protocolType: 'consumer',
      groupProtocols: [
        { name: 'roundrobin', metadata: subscription },
        { name: 'range', metadata: Buffer.alloc(0) },
      ],
    };
    const request = decode(joinGroup, version, await kafkajsRequest('joinGroup', version, args));
    expect(request).toMatchObject({
      groupId: 'billing',
      sessionTimeoutMs: 30_000,
      rebalanceTimeoutMs: version === 0 ? -1 : 60_000, // v0 has none (the handler uses the session timeout)
      memberId: 'm-1',
      groupInstanceId: version >= 5 ? 'instance-1' : null,
      protocolType: 'consumer',
      protocols: [
        { name: 'roundrobin', metadata: subscription },
        { name: 'range', metadata: Buffer.alloc(0) },
      ],
    });
    const members = [
      { memberId: 'm-1', groupInstanceId: 'instance-1', metadata: subscription },
      { memberId: 'm-2', groupInstanceId: null, metadata: Buffer.from('x') },
    ];
    const answer = await kafkajsResponse(
      'joinGroup',
      version,
      encode(joinGroup, version, {
        throttleTimeMs: 0,
        errorCode: 0,
        generationId: 7,
        protocolName: 'roundrobin',
        leader: 'm-1',
        memberId: 'm-2',
        members,
      }),
    );
    expect(answer).toMatchObject({ errorCode: 0, generationId: 7, groupProtocol: 'roundrobin', leaderId: 'm-1', memberId: 'm-2' });
    expect(answer.members).toEqual(
      members.map((m) => ({
        memberId: m.memberId,
        memberMetadata: m.metadata,
        ...(version >= 5 ? { groupInstanceId: m.groupInstanceId } : {}),
      })),
    );
  });
});

describe('kafka > codecs > SyncGroup', () => {
  it.each([0, 1, 2, 3])('reads kafkajs v%i requests and answers in a way kafkajs reads', async (version) => {
    const args = {
      groupId: 'billing',
      generationId: 7,
      memberId: 'm-1',
      groupInstanceId: 'i-1',
      groupAssignment: [
        { memberId: 'm-1', memberAssignment: assignment },
        { memberId: 'm-2', memberAssignment: Buffer.alloc(0) },
      ],
    };
    const request = decode(syncGroup, version, await kafkajsRequest('syncGroup', version, args));
    expect(request).toMatchObject({
      groupId: 'billing',
      generationId: 7,
      memberId: 'm-1',
      groupInstanceId: version >= 3 ? 'i-1' : null,
      assignments: [
        { memberId: 'm-1', assignment },
        { memberId: 'm-2', assignment: Buffer.alloc(0) },
      ],
    });
    const answer = await kafkajsResponse('syncGroup', version, encode(syncGroup, version, { throttleTimeMs: 0, errorCode: 0, assignment }));
    expect(answer).toMatchObject({ errorCode: 0, memberAssignment: assignment });
  });
});

describe('kafka > codecs > Heartbeat', () => {
  it.each([0, 1, 2, 3])('reads kafkajs v%i requests and answers in a way kafkajs reads', async (version) => {
    const request = decode(
      heartbeat,
      version,
      await kafkajsRequest('heartbeat', version, { groupId: 'billing', groupGenerationId: 7, memberId: 'm-1', groupInstanceId: 'i-1' }),
    );
    expect(request).toMatchObject({ groupId: 'billing', generationId: 7, memberId: 'm-1', groupInstanceId: version >= 3 ? 'i-1' : null });
    const answer = await kafkajsResponse('heartbeat', version, encode(heartbeat, version, { throttleTimeMs: 0, errorCode: 27 }));
    expect(answer.errorCode).toBe(27);
  });
});

describe('kafka > codecs > LeaveGroup', () => {
  it.each([0, 1, 2])('reads kafkajs v%i requests (one member) and answers in a way kafkajs reads', async (version) => {
    const request = decode(leaveGroup, version, await kafkajsRequest('leaveGroup', version, { groupId: 'billing', memberId: 'm-1' }));
    expect(request).toMatchObject({ groupId: 'billing', memberId: 'm-1', members: [] });
    const answer = await kafkajsResponse(
      'leaveGroup',
      version,
      encode(leaveGroup, version, { throttleTimeMs: 0, errorCode: 25, members: [] }),
    );
    expect(answer.errorCode).toBe(25);
  });

  it('reads kafkajs v3 requests (a batch of members) and answers per member', async () => {
    const members = [
      { memberId: 'm-1', groupInstanceId: null },
      { memberId: '', groupInstanceId: 'i-2' },
    ];
    expect(decode(leaveGroup, 3, await kafkajsRequest('leaveGroup', 3, { groupId: 'billing', members }))).toEqual({
      groupId: 'billing',
      memberId: '',
      members: members.map((m) => ({ ...m, reason: null })),
    });
    const answered = [
      { memberId: 'm-1', groupInstanceId: null, errorCode: 0 },
      { memberId: '', groupInstanceId: 'i-2', errorCode: 25 },
    ];
    const answer = await kafkajsResponse('leaveGroup', 3, encode(leaveGroup, 3, { throttleTimeMs: 0, errorCode: 0, members: answered }));
    expect(answer).toMatchObject({ errorCode: 0, members: answered });
  });
});

describe('kafka > codecs > OffsetCommit', () => {
  const topics = [
    {
      topic: 'orders',
      partitions: [
        { partition: 0, offset: '42', metadata: 'meta' },
        { partition: 3, offset: '7', metadata: null },
      ],
    },
    { topic: 'payments', partitions: [{ partition: 1, offset: '9007199254740991', metadata: '' }] },
  ];
  const expected = (version: number) => ({
    groupId: 'billing',
    generationIdOrMemberEpoch: version === 0 ? -1 : 7,
    memberId: version === 0 ? '' : 'm-1',
    groupInstanceId: null,
    topics: [
      {
        name: 'orders',
        partitions: [
          { partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: -1, committedMetadata: 'meta' },
          { partitionIndex: 3, committedOffset: 7, committedLeaderEpoch: -1, committedMetadata: null },
        ],
      },
      {
        name: 'payments',
        partitions: [{ partitionIndex: 1, committedOffset: Number.MAX_SAFE_INTEGER, committedLeaderEpoch: -1, committedMetadata: '' }],
      },
    ],
  });

  it.each([0, 1, 2, 3, 4, 5])('reads kafkajs v%i requests and answers in a way kafkajs reads', async (version) => {
    const bytes = await kafkajsRequest('offsetCommit', version, {
      groupId: 'billing',
      groupGenerationId: 7,
      memberId: 'm-1',
      retentionTime: -1,
      topics,
    });
    expect(decode(offsetCommit, version, bytes)).toMatchObject(expected(version));
    const response = {
      throttleTimeMs: 0,
      topics: [
        {
          name: 'orders',
          partitions: [
            { partitionIndex: 0, errorCode: 0 },
            { partitionIndex: 3, errorCode: 22 },
          ],
        },
      ],
    };
    const answer = await kafkajsResponse('offsetCommit', version, encode(offsetCommit, version, response));
    expect(answer.responses).toEqual([
      {
        topic: 'orders',
        partitions: [
          { partition: 0, errorCode: 0 },
          { partition: 3, errorCode: 22 },
        ],
      },
    ]);
  });

  it('reads v7 requests (leader epoch and group instance id) from golden bytes', () => {
    const body = Buffer.concat([
      string('billing'),
      int32(7), // generation_id
      string('m-1'),
      string('i-1'), // group_instance_id
      int32(1), // [topics]
      string('orders'),
      int32(1), // [partitions]
      int32(2), // partition_index
      int64(100), // committed_offset
      int32(5), // committed_leader_epoch
      string(null), // committed_metadata
    ]);
    expect(decode(offsetCommit, 7, body)).toMatchObject({
      groupId: 'billing',
      generationIdOrMemberEpoch: 7,
      memberId: 'm-1',
      groupInstanceId: 'i-1',
      topics: [
        { name: 'orders', partitions: [{ partitionIndex: 2, committedOffset: 100, committedLeaderEpoch: 5, committedMetadata: null }] },
      ],
    });
  });
});

describe('kafka > codecs > OffsetFetch', () => {
  const partitions = [
    { partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: -1, metadata: 'meta', errorCode: 0 },
    { partitionIndex: 1, committedOffset: -1, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
  ];

  it.each([1, 2, 3, 4])('reads kafkajs v%i requests and answers in a way kafkajs reads', async (version) => {
    const topics = [{ topic: 'orders', partitions: [{ partition: 0 }, { partition: 1 }] }];
    expect(decode(offsetFetch, version, await kafkajsRequest('offsetFetch', version, { groupId: 'billing', topics }))).toMatchObject({
      groupId: 'billing',
      topics: [{ name: 'orders', partitionIndexes: [0, 1] }],
    });
    const answer = await kafkajsResponse(
      'offsetFetch',
      version,
      encode(offsetFetch, version, { throttleTimeMs: 0, errorCode: 0, topics: [{ name: 'orders', partitions }] }),
    );
    expect(answer.responses).toEqual([
      {
        topic: 'orders',
        partitions: [
          { partition: 0, offset: '42', metadata: 'meta', errorCode: 0 },
          { partition: 1, offset: '-1', metadata: '', errorCode: 0 },
        ],
      },
    ]);
  });

  it('reads a null topic list (v2+: every committed offset)', () => {
    expect(decode(offsetFetch, 2, Buffer.concat([string('billing'), int32(-1)]))).toMatchObject({ groupId: 'billing', topics: null });
  });

  it('writes v5 answers (with the leader epoch) as golden bytes', () => {
    const answer = encode(offsetFetch, 5, { throttleTimeMs: 0, errorCode: 0, topics: [{ name: 'orders', partitions: [partitions[0]!] }] });
    expect(answer).toEqual(
      Buffer.concat([int32(0), int32(1), string('orders'), int32(1), int32(0), int64(42), int32(-1), string('meta'), int16(0), int16(0)]),
    );
  });
});

describe('kafka > codecs > ListGroups', () => {
  it.each([0, 1, 2])('reads kafkajs v%i requests and answers in a way kafkajs reads', async (version) => {
    expect(decode(listGroups, version, await kafkajsRequest('listGroups', version, {}))).toEqual({ statesFilter: [], typesFilter: [] });
    const groups = [
      { groupId: 'billing', protocolType: 'consumer' },
      { groupId: 'audit', protocolType: '' },
    ];
    const answer = await kafkajsResponse('listGroups', version, encode(listGroups, version, { throttleTimeMs: 0, errorCode: 0, groups }));
    expect(answer).toMatchObject({ errorCode: 0, groups });
  });
});

describe('kafka > codecs > DescribeGroups', () => {
  const member = {
    memberId: 'm-1',
    groupInstanceId: 'i-1',
    clientId: 'app',
    clientHost: '/10.0.0.1',
    memberMetadata: subscription,
    memberAssignment: assignment,
  };
  const group = {
    errorCode: 0,
    groupId: 'billing',
    groupState: 'Stable',
    protocolType: 'consumer',
    protocolData: 'range',
    members: [member],
    authorizedOperations: -2147483648,
  };

  it.each([0, 1, 2])('reads kafkajs v%i requests and answers in a way kafkajs reads', async (version) => {
    expect(decode(describeGroups, version, await kafkajsRequest('describeGroups', version, { groupIds: ['billing', 'audit'] }))).toEqual({
      groups: ['billing', 'audit'],
      includeAuthorizedOperations: false,
    });
    const answer = await kafkajsResponse(
      'describeGroups',
      version,
      encode(describeGroups, version, { throttleTimeMs: 0, groups: [group] }),
    );
    expect(answer.groups).toEqual([
      {
        errorCode: 0,
        groupId: 'billing',
        state: 'Stable',
        protocolType: 'consumer',
        protocol: 'range',
        members: [
          { memberId: 'm-1', clientId: 'app', clientHost: '/10.0.0.1', memberMetadata: subscription, memberAssignment: assignment },
        ],
      },
    ]);
  });

  it('reads v4 requests and writes v4 answers (authorized operations, group instance ids) as golden bytes', () => {
    expect(decode(describeGroups, 4, Buffer.concat([int32(1), string('billing'), int8(1)]))).toEqual({
      groups: ['billing'],
      includeAuthorizedOperations: true,
    });
    expect(encode(describeGroups, 4, { throttleTimeMs: 0, groups: [group] })).toEqual(
      Buffer.concat([
        int32(0), // throttle_time_ms
        int32(1), // [groups]
        int16(0),
        string('billing'),
        string('Stable'),
        string('consumer'),
        string('range'),
        int32(1), // [members]
        string('m-1'),
        string('i-1'), // group_instance_id (v4)
        string('app'),
        string('/10.0.0.1'),
        bytes(subscription),
        bytes(assignment),
        int32(-2147483648), // authorized_operations (v3+)
      ]),
    );
  });
});

describe('kafka > codecs > consumer protocol', () => {
  it('reads kafkajs subscriptions and assignments, and writes ones kafkajs reads', () => {
    expect(decodeSubscription(subscription)).toEqual({
      version: 0,
      topics: ['orders', 'payments'],
      userData: Buffer.from('ud'),
      ownedPartitions: [],
      generationId: -1,
      rackId: null,
    });
    expect(decodeAssignment(assignment)).toEqual({
      version: 0,
      partitions: [
        { topic: 'orders', partitions: [0, 2] },
        { topic: 'payments', partitions: [1] },
      ],
      userData: Buffer.alloc(0),
    });
    expect(MemberMetadata.decode(encodeSubscription({ topics: ['a', 'b'] }))).toEqual({ version: 0, topics: ['a', 'b'], userData: null });
    expect(MemberAssignment.decode(encodeAssignment({ partitions: [{ topic: 'a', partitions: [3] }] }))).toEqual({
      version: 0,
      assignment: { a: [3] },
      userData: null,
    });
  });

  it('reads every field of a v3 subscription, and the v0 fields of a version it does not know', () => {
    const v3 = encodeSubscription({
      version: 3,
      topics: ['a'],
      userData: null,
      ownedPartitions: [{ topic: 'a', partitions: [0, 1] }],
      generationId: 4,
      rackId: 'rack-1',
    });
    expect(v3).toEqual(
      Buffer.concat([
        int16(3),
        int32(1),
        string('a'),
        int32(-1),
        int32(1),
        string('a'),
        int32(2),
        int32(0),
        int32(1),
        int32(4),
        string('rack-1'),
      ]),
    );
    expect(decodeSubscription(v3)).toEqual({
      version: 3,
      topics: ['a'],
      userData: null,
      ownedPartitions: [{ topic: 'a', partitions: [0, 1] }],
      generationId: 4,
      rackId: 'rack-1',
    });
    const future = Buffer.concat([int16(9), int32(1), string('a'), int32(-1), int32(0), int32(-1), string(null), Buffer.from('more')]);
    expect(decodeSubscription(future).topics).toEqual(['a']);
    expect(decodeAssignment(Buffer.alloc(0))).toEqual({ version: 0, partitions: [], userData: null });
  });
});
