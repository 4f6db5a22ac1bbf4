/**
 * The generated ListOffsets, Metadata and Fetch codecs against kafkajs, an independent reading of
 * the same grammar: requests that kafkajs encodes (node_modules/kafkajs/src/protocol/requests) decode
 * to what kafkajs was asked to send, and responses that the generated encoders write decode in
 * kafkajs to what was written, at every version kafkajs speaks.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { decodeRecordBatch, encodeRecordBatch } from '../../../lib/format/index.js';
import { Fetch, ListOffsets, Metadata } from '../../../lib/kafka/protocol/index.js';
import type { MessagePair } from '../../../lib/kafka/protocol/runtime.js';
import { KafkaReader, KafkaWriter } from '../../../lib/kafka/wire.js';

const require = createRequire(import.meta.url);
const kafkajs = require('kafkajs/src/protocol/requests/index.js') as {
  requests: Record<
    string,
    {
      protocol: (o: {
        version: number;
      }) => (args: any) => { request: { encode: () => Promise<{ buffer: Buffer }> }; response: { decode: (b: Buffer) => Promise<any> } };
    }
  >;
};

async function kafkajsRequest(api: string, version: number, args: unknown): Promise<Buffer> {
  return (await kafkajs.requests[api]!.protocol({ version })(args).request.encode()).buffer;
}

function kafkajsResponse(api: string, version: number, bytes: Buffer): Promise<any> {
  return kafkajs.requests[api]!.protocol({ version })({ topics: [] }).response.decode(bytes);
}

function decodeRequest<Req>(pair: MessagePair<Req, unknown>, version: number, bytes: Buffer): Req {
  const reader = new KafkaReader(bytes, false);
  const request = pair.decodeRequest(reader, version);
  expect(reader.remaining).toBe(0);
  return request;
}

function encodeResponse<Res>(
  pair: MessagePair<unknown, Res>,
  version: number,
  response: Parameters<MessagePair<unknown, Res>['encodeResponse']>[2],
): Buffer {
  const writer = new KafkaWriter(false);
  pair.encodeResponse(writer, version, response);
  return Buffer.concat(writer.finish());
}

describe('kafka > protocol > ListOffsets against kafkajs', () => {
  it.each([0, 1, 2, 3])('v%i: reads the request kafkajs writes', async (version) => {
    const bytes = await kafkajsRequest('ListOffsets', version, {
      isolationLevel: 1,
      topics: [{ topic: 't', partitions: [{ partition: 3, timestamp: -2 }] }],
    });
    const request = decodeRequest(ListOffsets, version, bytes);
    expect(request).toEqual({
      replicaId: -1,
      isolationLevel: version >= 2 ? 1 : 0,
      topics: [{ name: 't', partitions: [{ partitionIndex: 3, currentLeaderEpoch: -1, timestamp: -2, maxNumOffsets: 1 }] }],
      timeoutMs: 0,
    });
  });

  it.each([0, 1, 2, 3])('v%i: writes a response kafkajs reads', async (version) => {
    const bytes = encodeResponse(ListOffsets, version, {
      throttleTimeMs: 7,
      topics: [
        { name: 't', partitions: [{ partitionIndex: 3, errorCode: 0, oldStyleOffsets: [42], timestamp: 1_700_000_000_000, offset: 42 }] },
      ],
    });
    const decoded = await kafkajsResponse('ListOffsets', version, bytes);
    const partition = decoded.responses[0].partitions[0];
    expect(decoded.responses[0].topic).toBe('t');
    expect(partition).toEqual(
      version === 0
        ? { partition: 3, errorCode: 0, offsets: ['42'] }
        : { partition: 3, errorCode: 0, timestamp: '1700000000000', offset: '42' },
    );
    // kafkajs reports v3's throttle time as client-side (the broker answered before throttling).
    if (version >= 2) expect(decoded.clientSideThrottleTime ?? decoded.throttleTime).toBe(7);
  });
});

describe('kafka > protocol > Metadata against kafkajs', () => {
  it.each([0, 1, 2, 3, 4, 5, 6])('v%i: reads the request kafkajs writes', async (version) => {
    const bytes = await kafkajsRequest('Metadata', version, { topics: ['a', 'b'], allowAutoTopicCreation: false });
    const request = decodeRequest(Metadata, version, bytes);
    expect(request.topics).toEqual([
      { topicId: '00000000-0000-0000-0000-000000000000', name: 'a' },
      { topicId: '00000000-0000-0000-0000-000000000000', name: 'b' },
    ]);
    expect(request.allowAutoTopicCreation).toBe(version < 4);
  });

  it.each([1, 4, 6])('v%i: reads a null topic list (every topic), which kafkajs cannot write', (version) => {
    const bytes = Buffer.from([0xff, 0xff, 0xff, 0xff, ...(version >= 4 ? [1] : [])]);
    expect(decodeRequest(Metadata, version, bytes).topics).toBeNull();
  });

  it.each([0, 1, 2, 3, 4, 5, 6])('v%i: writes a response kafkajs reads', async (version) => {
    const bytes = encodeResponse(Metadata, version, {
      throttleTimeMs: 5,
      brokers: [{ nodeId: 1, host: 'spool.local', port: 9092, rack: 'az-1' }],
      clusterId: 'spool',
      controllerId: 1,
      topics: [
        {
          name: 'events',
          isInternal: false,
          partitions: [{ partitionIndex: 0, leaderId: 1, replicaNodes: [1], isrNodes: [1], offlineReplicas: [] }],
        },
      ],
    });
    const decoded = await kafkajsResponse('Metadata', version, bytes);
    expect(decoded.brokers).toEqual([{ nodeId: 1, host: 'spool.local', port: 9092, ...(version >= 1 ? { rack: 'az-1' } : {}) }]);
    expect(decoded.topicMetadata).toEqual([
      expect.objectContaining({
        topicErrorCode: 0,
        topic: 'events',
        partitionMetadata: [expect.objectContaining({ partitionErrorCode: 0, partitionId: 0, leader: 1, replicas: [1], isr: [1] })],
      }),
    ]);
    if (version >= 1) expect(decoded.controllerId).toBe(1);
    if (version >= 2) expect(decoded.clusterId).toBe('spool');
  });
});

describe('kafka > protocol > Fetch against kafkajs', () => {
  it.each([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])('v%i: reads the request kafkajs writes', async (version) => {
    const bytes = await kafkajsRequest('Fetch', version, {
      maxWaitTime: 500,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 1,
      rackId: 'az-1',
      topics: [{ topic: 't', partitions: [{ partition: 2, fetchOffset: '12', logStartOffset: '3', maxBytes: 4096 }] }],
    });
    const request = decodeRequest(Fetch, version, bytes);
    expect(request).toEqual(
      expect.objectContaining({
        replicaId: -1,
        maxWaitMs: 500,
        minBytes: 1,
        maxBytes: version >= 3 ? 1 << 20 : 0x7fffffff,
        isolationLevel: version >= 4 ? 1 : 0,
        sessionId: 0,
        sessionEpoch: -1,
        forgottenTopicsData: [],
        rackId: version >= 11 ? 'az-1' : '',
      }),
    );
    expect(request.topics).toEqual([
      {
        topic: 't',
        topicId: '00000000-0000-0000-0000-000000000000',
        partitions: [
          {
            partition: 2,
            currentLeaderEpoch: -1,
            fetchOffset: 12,
            lastFetchedEpoch: -1,
            logStartOffset: version >= 5 ? 3 : -1,
            partitionMaxBytes: 4096,
            replicaDirectoryId: '00000000-0000-0000-0000-000000000000',
            highWatermark: Number.MAX_SAFE_INTEGER,
          },
        ],
      },
    ]);
  });

  it.each([4, 5, 6, 7, 8, 9, 10, 11])('v%i: writes a response kafkajs reads, record batches included', async (version) => {
    const batch = encodeRecordBatch([{ key: Buffer.from('k'), value: Buffer.from('v1'), timestampMs: 1_700_000_000_000 }], {
      baseOffset: 10,
    });
    const bytes = encodeResponse(Fetch, version, {
      responses: [
        {
          topic: 't',
          partitions: [
            // The records field in two parts, written as one without copying (KafkaWriter.bytesOf).
            {
              partitionIndex: 2,
              highWatermark: 11,
              lastStableOffset: 11,
              logStartOffset: 0,
              abortedTransactions: null,
              records: [batch.subarray(0, 20), batch.subarray(20)],
            },
          ],
        },
      ],
    });
    const decoded = await kafkajsResponse('Fetch', version, bytes);
    const partition = decoded.responses[0].partitions[0];
    expect(decoded.responses[0].topicName).toBe('t');
    expect(partition).toEqual(expect.objectContaining({ partition: 2, errorCode: 0, highWatermark: '11', lastStableOffset: '11' }));
    expect(partition.messages.map((m: any) => [m.offset, m.key.toString(), m.value.toString()])).toEqual([['10', 'k', 'v1']]);
    // And the generated decoder gives the batch back as one view of the frame.
    const ours = Fetch.decodeResponse(new KafkaReader(bytes, false), version);
    expect(decodeRecordBatch(ours.responses[0]!.partitions[0]!.records!).records.map((r) => r.value?.toString())).toEqual(['v1']);
  });
});
