/**
 * The Kafka listener, API by API and version by version, spoken to with kafkajs's own protocol
 * encoders and decoders; and its behaviour on bad input.
 */
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ApiKeys } from '../../lib/auth.js';
import { readFileSync } from 'node:fs';
import { decodeRecordBatch, encodeRecordBatch } from '../../lib/format/index.js';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import { ApiVersions } from '../../lib/kafka/protocol/messages/api-versions.js';
import { ConsumerGroupHeartbeat } from '../../lib/kafka/protocol/messages/consumer-group-heartbeat.js';
import { DescribeProducers } from '../../lib/kafka/protocol/messages/describe-producers.js';
import { Fetch } from '../../lib/kafka/protocol/messages/fetch.js';
import { InitProducerId } from '../../lib/kafka/protocol/messages/init-producer-id.js';
import { ListOffsets } from '../../lib/kafka/protocol/messages/list-offsets.js';
import { Metadata } from '../../lib/kafka/protocol/messages/metadata.js';
import { Produce } from '../../lib/kafka/protocol/messages/produce.js';
import { SaslAuthenticate } from '../../lib/kafka/protocol/messages/sasl-authenticate.js';
import { SaslHandshake } from '../../lib/kafka/protocol/messages/sasl-handshake.js';
import { emfMetrics } from '../../lib/metrics.js';
import { newLog, str } from '../support/logs.js';
import { frame, requestFor, WireClient } from './support/wire-client.js';
import { useWireHarness, withClientAt } from './support/wire-harness.js';

const require = createRequire(import.meta.url);
const { Types: CompressionTypes } = require('kafkajs/src/protocol/message/compression/index.js') as { Types: Record<string, number> };

const { stores, log, listener, withClient, listen } = await useWireHarness({ log: { defaultPartitions: 2 } });

const newTopic = () => `kafka-${randomUUID().slice(0, 8)}`;

describe('kafka > ApiVersions', () => {
  it.each([0, 1, 2])('answers v%i with the ranges of every API served', async (version) => {
    const answer = await withClient((c) => c.call('ApiVersions', version));
    expect(answer.errorCode).toBe(0);
    const byKey = new Map<number, { minVersion: number; maxVersion: number }>(answer.apiVersions.map((v: any) => [v.apiKey, v]));
    // librdkafka's feature probes need the old versions inside the ranges.
    expect(byKey.get(0)).toEqual(expect.objectContaining({ minVersion: 0, maxVersion: 13 }));
    expect(byKey.get(1)).toEqual(expect.objectContaining({ minVersion: 0, maxVersion: 18 }));
    expect(byKey.get(2)).toEqual(expect.objectContaining({ minVersion: 0, maxVersion: 11 }));
    expect(byKey.get(3)).toEqual(expect.objectContaining({ minVersion: 0, maxVersion: 13 }));
    expect(byKey.get(18)).toEqual(expect.objectContaining({ minVersion: 0, maxVersion: 4 }));
    expect(byKey.get(22)).toEqual(expect.objectContaining({ minVersion: 0, maxVersion: 5 }));
  });

  it('answers v3 (flexible request, header v0 response) with compact arrays', async () => {
    // ApiVersions v3 request: header v2 (client id, empty tags) + compact strings + empty tags.
    const body = Buffer.from([5, ...Buffer.from('test'), 4, ...Buffer.from('1.0'), 0]);
    const bytes = frame(18, 3, 77, Buffer.concat([Buffer.from([0]), body]));
    const answer = await withClient((c) => c.sendRaw(bytes));
    expect(answer.readInt32BE(0)).toBe(77);
    expect(answer.readInt16BE(4)).toBe(0);
    const count = answer[6]! - 1; // compact array length (uvarint; fewer than 127 APIs)
    expect(count).toBeGreaterThanOrEqual(11);
    const first = { apiKey: answer.readInt16BE(7), min: answer.readInt16BE(9), max: answer.readInt16BE(11), tags: answer[13] };
    expect(first).toEqual({ apiKey: 0, min: 0, max: 13, tags: 0 });
  });

  it('answers an unknown ApiVersions version with the v0 layout, UNSUPPORTED_VERSION and the ranges', async () => {
    const answer = await withClient((c) => c.sendRaw(frame(18, 99, 5)));
    expect(answer.readInt32BE(0)).toBe(5);
    expect(answer.readInt16BE(4)).toBe(KafkaErrors.UNSUPPORTED_VERSION);
    expect(answer.readInt32BE(6)).toBeGreaterThanOrEqual(11);
  });

  it('answers v4 with the ranges, transaction.version 2 finalized (KIP-890) and spool.commit.version 1 (a new cluster); a client software name or version Kafka would refuse is INVALID_REQUEST', async () => {
    const ask = (name: string, version: string) =>
      withClient((c) => c.callGenerated(ApiVersions, 4, { clientSoftwareName: name, clientSoftwareVersion: version }));
    const answer = await ask('librdkafka', '2.6.1-RC1');
    expect(answer.errorCode).toBe(0);
    expect(answer.apiKeys.find((v) => v.apiKey === 18)).toEqual({ apiKey: 18, minVersion: 0, maxVersion: 4 });
    expect(answer.supportedFeatures).toEqual([
      { name: 'transaction.version', minVersion: 0, maxVersion: 2 },
      { name: 'spool.commit.version', minVersion: 0, maxVersion: 1 },
    ]);
    // A new cluster starts at the newest spool.commit.version (the harness's store was empty).
    expect(answer.finalizedFeatures).toEqual([
      { name: 'transaction.version', minVersionLevel: 2, maxVersionLevel: 2 },
      { name: 'spool.commit.version', minVersionLevel: 1, maxVersionLevel: 1 },
    ]);
    expect(answer.finalizedFeaturesEpoch).toBe(2);
    for (const [name, version] of [
      ['', '1.0'],
      ['kafka java', '1.0'],
      ['kafka-java', '1.0-'],
      ['-kafka', '1.0'],
    ]) {
      const refused = await ask(name!, version!);
      expect(refused.errorCode).toBe(KafkaErrors.INVALID_REQUEST);
      expect(refused.apiKeys).toEqual([]);
    }
    expect((await withClient((c) => c.callGenerated(ApiVersions, 2, {}))).errorCode).toBe(0);
  });
});

describe('kafka > Metadata', () => {
  it.each([0, 1, 2, 3, 4, 5, 6])('v%i names this broker as leader of every partition, creating the topic on request', async (version) => {
    const topic = newTopic();
    const answer = await withClient((c) => c.call('Metadata', version, { topics: [topic], allowAutoTopicCreation: true }));
    expect(answer.brokers).toEqual([
      expect.objectContaining({ nodeId: listener.cluster.self.nodeId, host: '127.0.0.1', port: listener.cluster.self.port }),
    ]);
    const described = answer.topicMetadata.find((t: any) => t.topic === topic);
    expect(described.topicErrorCode).toBe(0);
    expect(described.partitionMetadata.map((p: any) => [p.partitionId, p.leader])).toEqual([
      [0, listener.cluster.self.nodeId],
      [1, listener.cluster.self.nodeId],
    ]);
  });

  it('answers Metadata again without reading every partition item, and reads again after a partition changed hands', async () => {
    const topic = newTopic();
    const { id } = await log.createTopic(topic, 200);
    const get = stores.metadata.get.bind(stores.metadata);
    let stateReads = 0;
    stores.metadata.get = (key) => {
      if (key.pk.startsWith(`part#${id}#`) && key.sk === 'state') stateReads++;
      return get(key);
    };
    const leaders = async () => {
      const answer = await withClient((c) => c.call('Metadata', 4, { topics: [topic], allowAutoTopicCreation: false }));
      return answer.topicMetadata[0].partitionMetadata.map((p: any) => [p.partitionId, p.leader]);
    };
    try {
      const first = await leaders();
      expect(first).toHaveLength(200);
      expect(stateReads).toBe(200);
      expect(await leaders()).toEqual(first);
      expect(stateReads).toBe(200);
      // A produce takes partition 7's lease: the next Metadata reads the partitions again, and names its epoch.
      await withClient((c) =>
        c.call('Produce', 7, {
          acks: -1,
          timeout: 5000,
          topicData: [{ topic, partitions: [{ partition: 7, messages: [{ value: 'x' }] }] }],
        }),
      );
      await log.internals.leadership.settled();
      const readsBefore = stateReads;
      expect(await leaders()).toEqual(first);
      expect(stateReads - readsBefore).toBe(200);
      expect((await log.partitionLeadership((await log.topic(topic))!))[7]).toMatchObject({
        owner: log.internals.producer.writerId,
        epoch: 1,
      });
      expect(stateReads - readsBefore).toBe(200);
    } finally {
      stores.metadata.get = get;
    }
  });

  it('answers UNKNOWN_TOPIC_OR_PARTITION when creation is not allowed, and INVALID_TOPIC_EXCEPTION for a bad name', async () => {
    const answer = await withClient((c) => c.call('Metadata', 4, { topics: [newTopic(), 'bad/name'], allowAutoTopicCreation: false }));
    expect(answer.topicMetadata.map((t: any) => t.topicErrorCode)).toEqual([
      KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION,
      KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION,
    ]);
    const created = await withClient((c) => c.call('Metadata', 4, { topics: ['bad/name'], allowAutoTopicCreation: true }));
    expect(created.topicMetadata[0].topicErrorCode).toBe(KafkaErrors.INVALID_TOPIC_EXCEPTION);
  });
});

describe('kafka > Produce and Fetch', () => {
  const messages = (n: number, label: string) =>
    Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: `${label}-${i}`, timestamp: 1_700_000_000_000 + i }));

  it.each([3, 4, 5, 6, 7])('Produce v%i stores gzip batches as sent; Fetch v4–v11 returns them with real offsets', async (version) => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    await withClient(async (c) => {
      for (const round of [0, 1]) {
        const answer = await c.call('Produce', version, {
          acks: -1,
          timeout: 5000,
          compression: CompressionTypes.GZIP,
          topicData: [{ topic, partitions: [{ partition: 0, messages: messages(5, `r${round}`) }] }],
        });
        expect(answer.topics[0].partitions[0]).toEqual(expect.objectContaining({ errorCode: 0, baseOffset: String(round * 5) }));
      }
      for (const fetchVersion of [4, 5, 6, 7, 8, 9, 10, 11]) {
        const fetched = await c.call('Fetch', fetchVersion, {
          maxWaitTime: 0,
          minBytes: 1,
          maxBytes: 1 << 20,
          topics: [{ topic, partitions: [{ partition: 0, fetchOffset: '3', maxBytes: 1 << 20, logStartOffset: '0' }] }],
        });
        const partition = fetched.responses[0].partitions[0];
        expect(partition.errorCode).toBe(0);
        expect(partition.highWatermark).toBe('10');
        // Whole batches: the first begins before offset 3, as in Kafka.
        expect(partition.messages.map((m: any) => [Number(m.offset), m.value.toString()])).toEqual(
          [...messages(5, 'r0'), ...messages(5, 'r1')].map((m, i) => [i, m.value]),
        );
      }
    });
    // The HTTP side reads the same records, decoded.
    const records = (await log.fetch(topic, 0, 0)).records;
    expect(records.map((r) => str(r.value))).toEqual([...messages(5, 'r0'), ...messages(5, 'r1')].map((m) => m.value));
  });

  it.each(['snappy', 'lz4', 'zstd'])(
    "stores the Java client's %s batch byte for byte, and the HTTP read path decodes it",
    async (codec) => {
      const topic = newTopic();
      await log.createTopic(topic, 1);
      const batch = Buffer.from(readFileSync(new URL(`../format/fixtures/java-${codec}.hex`, import.meta.url), 'utf8').trim(), 'hex');
      const answer = await withClient((c) => c.sendRaw(frame(0, 3, 9, produceBody(topic, 0, batch, -1))));
      const nameLength = answer.readInt16BE(8);
      expect(answer.readInt16BE(4 + 4 + 2 + nameLength + 4 + 4)).toBe(0);
      // Fetch answers the same bytes; only the base offset (the first 8 bytes, outside the CRC) is the log's.
      const fetched = await withClient((c) =>
        c.send(
          requestFor('Fetch', 11, {
            maxWaitTime: 0,
            minBytes: 1,
            maxBytes: 1 << 22,
            topics: [{ topic, partitions: [{ partition: 0, fetchOffset: '0', maxBytes: 1 << 22 }] }],
          }),
        ),
      );
      expect(fetched.includes(batch.subarray(8))).toBe(true);
      const expected = decodeRecordBatch(batch).records.map((r) => str(r.value));
      const read = await log.fetch(topic, 0, 0, { maxRecords: 5000, maxBytes: 1 << 24 });
      expect(read.records.map((r) => str(r.value))).toEqual(expected);
      expect(expected).toHaveLength(1000);
    },
  );

  it('Fetch over many partitions spends max_bytes in request order: the first batch whatever its size, then only what fits', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 40);
    // One 1,000-byte record in each partition.
    await log.produce(
      topic,
      Array.from({ length: 40 }, (_, partition) => ({ key: null, value: Buffer.alloc(1000, partition), partition })),
    );
    const order = Array.from({ length: 40 }, (_, i) => (i * 7) % 40); // not partition order
    const fetchWith = (maxBytes: number) =>
      withClient((c) =>
        c.call('Fetch', 11, {
          maxWaitTime: 0,
          minBytes: 1,
          maxBytes,
          topics: [{ topic, partitions: order.map((partition) => ({ partition, fetchOffset: '0', maxBytes: 1 << 20 })) }],
        }),
      );
    const answered = (answer: any) =>
      answer.responses[0].partitions.map((p: any) => [p.partition, p.errorCode, p.highWatermark, p.messages.length]);
    // A budget of 3.5 batches: the first three partitions asked for get their batch, the rest only their high watermark.
    const some = await fetchWith(3500);
    expect(answered(some)).toEqual(order.map((partition, i) => [partition, 0, '1', i < 3 ? 1 : 0]));
    // A budget smaller than one batch still answers the first.
    expect(answered(await fetchWith(10))).toEqual(order.map((partition, i) => [partition, 0, '1', i < 1 ? 1 : 0]));
    // Enough for all: every partition, in the order asked.
    const all = await fetchWith(1 << 20);
    expect(answered(all)).toEqual(order.map((partition) => [partition, 0, '1', 1]));
    expect(all.responses[0].partitions.map((p: any) => p.messages[0].value[0])).toEqual(order);
  });

  it('a Fetch waiting on many partitions wakes on a commit to any one of them', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 30);
    await withClient(async (c) => {
      const fetching = c.call('Fetch', 11, {
        maxWaitTime: 10_000,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [{ topic, partitions: Array.from({ length: 30 }, (_, partition) => ({ partition, fetchOffset: '0', maxBytes: 1 << 20 })) }],
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = Date.now();
      await log.produce(topic, [{ key: null, value: Buffer.from('late'), partition: 17 }]);
      const answer = await fetching;
      expect(Date.now() - started).toBeLessThan(5_000);
      const withData = answer.responses[0].partitions.filter((p: any) => p.messages.length > 0);
      expect(withData.map((p: any) => [p.partition, p.messages[0].value.toString()])).toEqual([[17, 'late']]);
    });
  });

  it('a first Produce over many partitions takes their leases many at once, and a partition named twice keeps its order', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 64);
    const most = await stores.metadata.mostWritesInFlight(async () => {
      const answer = await withClient((c) =>
        c.call('Produce', 7, {
          acks: -1,
          timeout: 5000,
          topicData: [
            {
              topic,
              partitions: [
                ...Array.from({ length: 64 }, (_, partition) => ({ partition, messages: messages(1, `p${partition}`) })),
                { partition: 5, messages: messages(1, 'again') },
              ],
            },
          ],
        }),
      );
      expect(answer.topics[0].partitions.map((p: any) => p.errorCode)).toEqual(new Array(65).fill(0));
    });
    expect(most).toBeGreaterThanOrEqual(8);
    expect((await log.fetch(topic, 5, 0)).records.map((r) => str(r.value))).toEqual(['p5-0', 'again-0']);
  });

  it('first writes pipelined on one connection, one partition per request as librdkafka sends them, take their leases many at once', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 32);
    const most = await stores.metadata.mostWritesInFlight(async () => {
      const answers = await withClient((c) =>
        Promise.all(
          Array.from({ length: 32 }, (_, partition) =>
            c.sendRaw(
              frame(
                0,
                3,
                100 + partition,
                produceBody(topic, partition, encodeRecordBatch([{ key: null, value: Buffer.from(`p${partition}`), timestampMs: 1 }]), -1),
              ),
            ),
          ),
        ),
      );
      expect(answers.map((a) => a.readInt32BE(0))).toEqual(Array.from({ length: 32 }, (_, i) => 100 + i));
    });
    expect(most).toBeGreaterThanOrEqual(8);
    for (const partition of [0, 17, 31])
      expect((await log.fetch(topic, partition, 0)).records.map((r) => str(r.value))).toEqual([`p${partition}`]);
  });

  it('a Fetch whose wait ends with no news answers from its first pass: an idle consumer costs one read per partition per fetch', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 30);
    await log.produce(topic, [{ key: null, value: Buffer.from('old'), partition: 3 }]);
    const get = stores.metadata.get.bind(stores.metadata);
    let stateReads = 0;
    stores.metadata.get = (key) => {
      if (key.pk.startsWith('part#') && key.sk === 'state') stateReads++;
      return get(key);
    };
    await withClient(async (c) => {
      const watchReads = log.internals.reader.stats.watchReads;
      const answer = await c.call('Fetch', 11, {
        maxWaitTime: 300,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [
          {
            topic,
            partitions: Array.from({ length: 30 }, (_, partition) => ({
              partition,
              fetchOffset: partition === 3 ? '1' : '0',
              maxBytes: 1 << 20,
            })),
          },
        ],
      });
      expect(answer.responses[0].partitions.map((p: any) => [p.errorCode, p.highWatermark, p.messages.length])).toEqual(
        Array.from({ length: 30 }, (_, p) => [0, p === 3 ? '1' : '0', 0]),
      );
      // One consistent read of each partition's item (the watch's own reads aside), not two.
      expect(stateReads - (log.internals.reader.stats.watchReads - watchReads)).toBe(30);
    }).finally(() => (stores.metadata.get = get));
  });

  it('refuses a batch with a wrong CRC with CORRUPT_MESSAGE and stores nothing', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from('x'), timestampMs: 1 }]);
    batch[batch.length - 1] = batch[batch.length - 1]! ^ 0xff;
    const body = produceBody(topic, 0, batch, -1);
    const answer = await withClient((c) => c.sendRaw(frame(0, 3, 9, body)));
    // v3 response: [topics] name, [partitions] index error_code ...
    const nameLength = answer.readInt16BE(8);
    const errorAt = 4 + 4 + 2 + nameLength + 4 + 4;
    expect(answer.readInt16BE(errorAt)).toBe(KafkaErrors.CORRUPT_MESSAGE);
    expect((await log.offsetRange(topic, 0)).latest).toBe(0);
  });

  it('accepts pipelined idempotent batches on one connection in the order sent, and answers in that order', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    const batch = (sequence: number) =>
      encodeRecordBatch(
        [0, 1].map((i) => ({ key: null, value: Buffer.from(`s${sequence + i}`), timestampMs: 1 })),
        { producerId: 4242, producerEpoch: 0, baseSequence: sequence },
      );
    const answers = await withClient((c) =>
      Promise.all([0, 2, 4, 6, 8].map((sequence, i) => c.sendRaw(frame(0, 3, 50 + i, produceBody(topic, 0, batch(sequence), -1))))),
    );
    expect(answers.map((a) => a.readInt32BE(0))).toEqual([50, 51, 52, 53, 54]);
    const records = (await log.fetch(topic, 0, 0)).records.map((r) => str(r.value));
    expect(records).toEqual(['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9']);
  });

  it('sends no answer with acks=0, and still stores the batch', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    await withClient(async (c) => {
      c.write(frame(0, 3, 1, produceBody(topic, 0, encodeRecordBatch([{ key: null, value: Buffer.from('fire'), timestampMs: 1 }]), 0)));
      // The next answer on the connection is the Metadata one: Produce answered nothing.
      const metadata = await c.sendRaw(frame(3, 1, 2, Buffer.from([0, 0, 0, 0])));
      expect(metadata.readInt32BE(0)).toBe(2);
    });
    await expect.poll(async () => (await log.offsetRange(topic, 0)).latest).toBe(1);
  });

  it('answers Fetch past the end with OFFSET_OUT_OF_RANGE at once, and an old version with UNSUPPORTED_VERSION', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    await withClient(async (c) => {
      const past = await c.call('Fetch', 11, {
        maxWaitTime: 5000,
        minBytes: 1,
        maxBytes: 1024,
        topics: [{ topic, partitions: [{ partition: 0, fetchOffset: '7', maxBytes: 1024 }] }],
      });
      expect(past.responses[0].partitions[0].errorCode).toBe(KafkaErrors.OFFSET_OUT_OF_RANGE);
      const old = await c.call('Fetch', 3, {
        maxWaitTime: 0,
        minBytes: 1,
        maxBytes: 1024,
        topics: [{ topic, partitions: [{ partition: 0, fetchOffset: '0', maxBytes: 1024 }] }],
      });
      expect(old.responses[0].partitions[0].errorCode).toBe(KafkaErrors.UNSUPPORTED_VERSION);
    });
  });

  it('long-polls an empty partition until a record is committed', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    await withClient(async (c) => {
      const fetching = c.call('Fetch', 11, {
        maxWaitTime: 10_000,
        minBytes: 1,
        maxBytes: 1024,
        topics: [{ topic, partitions: [{ partition: 0, fetchOffset: '0', maxBytes: 1024 }] }],
      });
      await log.produce(topic, [{ key: null, value: Buffer.from('late') }]);
      const answer = await fetching;
      expect(answer.responses[0].partitions[0].messages.map((m: any) => m.value.toString())).toEqual(['late']);
    });
  });
});

describe('kafka > metrics', () => {
  it('counts requests, latency and errors per API, and records produced and fetched, as EMF lines', async () => {
    const lines: Record<string, unknown>[] = [];
    const own = await listen({ metrics: emfMetrics((line) => lines.push(JSON.parse(line))) });
    const topic = newTopic();
    await log.createTopic(topic, 1);
    try {
      await withClientAt(own.bootstrap, async (c) => {
        await c.call('Produce', 7, {
          acks: -1,
          timeout: 1000,
          topicData: [{ topic, partitions: [{ partition: 0, messages: [{ value: 'a' }, { value: 'b' }] }] }],
        });
        await c.call('Fetch', 11, {
          maxWaitTime: 0,
          minBytes: 1,
          maxBytes: 1024,
          topics: [{ topic, partitions: [{ partition: 0, fetchOffset: '0', maxBytes: 1024 }] }],
        });
      });
    } finally {
      await own.close();
    }
    const byRoute = (route: string) => lines.find((line) => line.Route === route);
    expect(byRoute('Kafka Produce')).toEqual(expect.objectContaining({ Requests: 1, Errors: 0, Latency: expect.any(Number) }));
    expect(byRoute('Kafka Fetch')).toEqual(expect.objectContaining({ Requests: 1, Errors: 0 }));
    expect(lines.find((line) => 'RecordsProduced' in line)).toEqual(expect.objectContaining({ RecordsProduced: 2, topic }));
    expect(lines.find((line) => 'RecordsFetched' in line)).toEqual(expect.objectContaining({ RecordsFetched: 2, topic }));
  });
});

describe('kafka > shutdown', () => {
  it('answers a pending long-poll when the listener closes, instead of holding shutdown for max_wait_ms', async () => {
    const own = await listen();
    const topic = newTopic();
    await log.createTopic(topic, 1);
    const client = await WireClient.open(own.bootstrap);
    const fetching = client.call('Fetch', 11, {
      maxWaitTime: 60_000,
      minBytes: 1,
      maxBytes: 1024,
      topics: [{ topic, partitions: [{ partition: 0, fetchOffset: '0', maxBytes: 1024 }] }],
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await own.close();
    const answer = await fetching;
    expect(answer.responses[0].partitions[0]).toEqual(expect.objectContaining({ errorCode: 0, messages: [] }));
    client.close();
  });
});

describe('kafka > ListOffsets, InitProducerId, topics and configs', () => {
  it.each([0, 1, 2, 3])('ListOffsets v%i answers earliest and latest', async (version) => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    await log.produce(topic, [
      { key: null, value: Buffer.from('a') },
      { key: null, value: Buffer.from('b') },
    ]);
    const ask = (timestamp: number) =>
      withClient((c) => c.call('ListOffsets', version, { topics: [{ topic, partitions: [{ partition: 0, timestamp }] }] }));
    const latest = (await ask(-1)).responses[0].partitions[0];
    const earliest = (await ask(-2)).responses[0].partitions[0];
    expect(latest.errorCode).toBe(0);
    expect(version === 0 ? latest.offsets : latest.offset).toEqual(version === 0 ? ['2'] : '2');
    expect(version === 0 ? earliest.offsets : earliest.offset).toEqual(version === 0 ? ['0'] : '0');
  });

  it('InitProducerId hands out distinct ids; a transactional id keeps its producer id and bumps its epoch', async () => {
    const ids = await withClient(async (c) => [
      await c.call('InitProducerId', 0, { transactionTimeout: 1000 }),
      await c.call('InitProducerId', 1, { transactionTimeout: 1000 }),
    ]);
    expect(ids.map((a: any) => a.errorCode)).toEqual([0, 0]);
    expect(ids[0].producerId).not.toBe(ids[1].producerId);
    const id = `tx-${randomUUID()}`;
    const [first, second] = await withClient(async (c) => [
      await c.call('InitProducerId', 1, { transactionalId: id, transactionTimeout: 1000 }),
      await c.call('InitProducerId', 1, { transactionalId: id, transactionTimeout: 1000 }),
    ]);
    expect([first.errorCode, first.producerEpoch, second.errorCode, second.producerEpoch]).toEqual([0, 0, 0, 1]);
    expect(second.producerId).toBe(first.producerId);
  });

  it("DescribeProducers lists a partition's idempotent producers with epoch and last sequence; unknown partitions and unreadable topics fail", async () => {
    const topic = newTopic();
    await log.createTopic(topic, 2);
    const batch = (producerId: number, producerEpoch: number, baseSequence: number, count: number) =>
      encodeRecordBatch(
        Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`r${i}`) })),
        { producerId, producerEpoch, baseSequence },
      );
    await withClient(async (c) => {
      for (const records of [batch(901, 0, 0, 3), batch(901, 0, 3, 2), batch(77, 2, 0, 1)]) {
        const produced = await c.callGenerated(Produce, 9, {
          acks: -1,
          timeoutMs: 5000,
          topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
        });
        expect(produced.responses[0]!.partitionResponses[0]!.errorCode).toBe(0);
      }
      const answer = await c.callGenerated(DescribeProducers, 0, { topics: [{ name: topic, partitionIndexes: [0, 1, 5] }] });
      const [zero, one, five] = answer.topics[0]!.partitions;
      // lastTimestamp: when the producer's last batch was committed (Spool's clock).
      const [at77, at901] = zero!.activeProducers.map((p) => p.lastTimestamp);
      expect(at77).toBeGreaterThanOrEqual(at901!);
      expect(at77).toBeLessThanOrEqual(Date.now());
      expect(at901).toBeGreaterThan(Date.now() - 60_000);
      expect(zero).toEqual({
        partitionIndex: 0,
        errorCode: 0,
        errorMessage: null,
        activeProducers: [
          { producerId: 77, producerEpoch: 2, lastSequence: 0, lastTimestamp: at77, coordinatorEpoch: -1, currentTxnStartOffset: -1 },
          { producerId: 901, producerEpoch: 0, lastSequence: 4, lastTimestamp: at901, coordinatorEpoch: -1, currentTxnStartOffset: -1 },
        ],
      });
      expect(one).toMatchObject({ partitionIndex: 1, errorCode: 0, activeProducers: [] });
      expect(five).toMatchObject({ partitionIndex: 5, errorCode: KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION, activeProducers: [] });
      const missing = await c.callGenerated(DescribeProducers, 0, { topics: [{ name: newTopic(), partitionIndexes: [0] }] });
      expect(missing.topics[0]!.partitions[0]!.errorCode).toBe(KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION);
    });
  });

  it('InitProducerId v5 (flexible): a KIP-360 epoch bump gets a fresh id; a half-set producer id/epoch is INVALID_REQUEST; a timeout past the maximum INVALID_TRANSACTION_TIMEOUT', async () => {
    const [first, bumped, half, transactional] = await withClient(async (c) => [
      await c.callGenerated(InitProducerId, 5, { transactionalId: null, transactionTimeoutMs: 1000 }),
      await c.callGenerated(InitProducerId, 5, { transactionalId: null, transactionTimeoutMs: 1000, producerId: 7, producerEpoch: 0 }),
      await c.callGenerated(InitProducerId, 3, { transactionalId: null, transactionTimeoutMs: 1000, producerId: 7, producerEpoch: -1 }),
      await c.callGenerated(InitProducerId, 4, { transactionalId: `tx-${randomUUID()}`, transactionTimeoutMs: 900_001 }),
    ]);
    expect([first.errorCode, first.producerEpoch, bumped.errorCode, bumped.producerEpoch]).toEqual([0, 0, 0, 0]);
    expect(bumped.producerId).not.toBe(first.producerId);
    expect([half.errorCode, half.producerId]).toEqual([KafkaErrors.INVALID_REQUEST, -1]);
    expect([transactional.errorCode, transactional.producerId]).toEqual([KafkaErrors.INVALID_TRANSACTION_TIMEOUT, -1]);
  });

  it.each([0, 1, 2, 3])('CreateTopics v%i creates with partitions and configs; DeleteTopics removes; errors per topic', async (version) => {
    const topic = newTopic();
    const created = await withClient((c) =>
      c.call('CreateTopics', version, {
        topics: [
          { topic, numPartitions: 3, replicationFactor: 3, configEntries: [{ name: 'retention.ms', value: '60000' }] },
          { topic: 'bad/name', numPartitions: 1, replicationFactor: 1 },
          {
            topic: `${topic}-x`,
            numPartitions: 1,
            replicationFactor: 1,
            configEntries: [{ name: 'cleanup.policy', value: 'compact,shred' }],
          },
        ],
        timeout: 1000,
      }),
    );
    expect(Object.fromEntries(created.topicErrors.map((t: any) => [t.topic, t.errorCode]))).toEqual({
      [topic]: 0,
      'bad/name': KafkaErrors.INVALID_TOPIC_EXCEPTION,
      [`${topic}-x`]: KafkaErrors.INVALID_CONFIG,
    });
    const item = await log.requireTopic(topic);
    expect([item.partitions, item.config['retention.ms']]).toEqual([3, 60_000]);
    const again = await withClient((c) =>
      c.call('CreateTopics', version, { topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], timeout: 1000 }),
    );
    expect(again.topicErrors[0].errorCode).toBe(KafkaErrors.TOPIC_ALREADY_EXISTS);
    const deleted = await withClient((c) => c.call('DeleteTopics', Math.min(version, 1), { topics: [topic, newTopic()], timeout: 1000 }));
    expect(deleted.topicErrors.find((t: any) => t.topic === topic).errorCode).toBe(0);
    expect(deleted.topicErrors.find((t: any) => t.topic !== topic).errorCode).toBe(KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it("DescribeConfigs answers a topic's configs and UNKNOWN_TOPIC_OR_PARTITION for a missing one", async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1, { 'retention.bytes': 4096 });
    const answer = await withClient((c) =>
      c.call('DescribeConfigs', 1, {
        resources: [
          { type: 2, name: topic, configNames: ['retention.bytes', 'cleanup.policy'] },
          { type: 2, name: newTopic() },
        ],
        includeSynonyms: false,
      }),
    );
    const [found, missing] = answer.resources;
    expect(found.errorCode).toBe(0);
    expect(Object.fromEntries(found.configEntries.map((e: any) => [e.configName, e.configValue]))).toEqual({
      'retention.bytes': '4096',
      'cleanup.policy': 'delete',
    });
    expect(missing.errorCode).toBe(KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION);
  });
});

describe('kafka > append validation, timestamps and topic ids', () => {
  it('refuses a batch with a timestamp beyond message.timestamp.after.max.ms with INVALID_TIMESTAMP, naming the record (Produce v8), and stores nothing', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    const now = Date.now();
    const batch = encodeRecordBatch([
      { key: null, value: Buffer.from('ok'), timestampMs: now },
      { key: null, value: Buffer.from('future'), timestampMs: now + 7_200_000 },
    ]);
    const answer = await withClient((c) =>
      c.callGenerated(Produce, 8, {
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }],
      }),
    );
    expect(answer.responses[0]!.partitionResponses[0]).toMatchObject({
      errorCode: KafkaErrors.INVALID_TIMESTAMP,
      recordErrors: [{ batchIndex: 1, batchIndexErrorMessage: expect.stringContaining('out of range') }],
    });
    expect((await log.offsetRange(topic, 0)).latest).toBe(0);
  });

  it("stores a LogAppendTime topic's batches with the time of append, and answers it as log_append_time_ms", async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1, { 'message.timestamp.type': 'LogAppendTime' });
    const before = Date.now();
    const answer = await withClient((c) =>
      c.call('Produce', 7, {
        acks: -1,
        timeout: 5000,
        topicData: [
          {
            topic,
            partitions: [
              {
                partition: 0,
                messages: [
                  { value: 'a', timestamp: 1000 },
                  { value: 'b', timestamp: 2000 },
                ],
              },
            ],
          },
        ],
      }),
    );
    const appended = Number(answer.topics[0].partitions[0].logAppendTime);
    expect(appended).toBeGreaterThanOrEqual(before);
    expect((await log.fetch(topic, 0, 0)).records.map((r) => r.timestampMs)).toEqual([appended, appended]);
  });

  it('ListOffsets v7–v11 answers -3 with the record of the largest timestamp, -4 as -2, -5 and -6 with -1; an older version asking -3 is UNSUPPORTED_VERSION', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    const base = Date.now() - 10_000;
    await log.produce(
      topic,
      [0, 3000, 1000].map((delta) => ({ key: null, value: Buffer.from('x'), timestampMs: base + delta })),
    );
    const ask = (version: number, ...timestamps: number[]) =>
      withClient(
        async (c) =>
          (
            await c.callGenerated(ListOffsets, version, {
              replicaId: -1,
              topics: [{ name: topic, partitions: timestamps.map((timestamp) => ({ partitionIndex: 0, timestamp })) }],
            })
          ).topics[0]!.partitions,
      );
    const pick = (p: { errorCode: number; offset: number; timestamp: number }) => [p.errorCode, p.offset, p.timestamp];
    for (const version of [7, 9, 10, 11]) {
      expect(pick((await ask(version, -3))[0]!)).toEqual([0, 1, base + 3000]);
      expect(pick((await ask(version, base + 500))[0]!)).toEqual([0, 1, base + 3000]);
      expect(pick((await ask(version, -1))[0]!)).toEqual([0, 3, -1]);
    }
    expect(pick((await ask(8, -4))[0]!)).toEqual([0, 0, -1]);
    expect(pick((await ask(9, -5))[0]!)).toEqual([0, -1, -1]);
    expect(pick((await ask(11, -6))[0]!)).toEqual([0, -1, -1]);
    expect((await ask(6, -3))[0]!.errorCode).toBe(KafkaErrors.UNSUPPORTED_VERSION);
    expect((await ask(10, -6))[0]!.errorCode).toBe(KafkaErrors.UNSUPPORTED_VERSION);
    expect((await ask(9, -7))[0]!.errorCode).toBe(KafkaErrors.UNSUPPORTED_VERSION);
    // Kafka refuses a partition named twice in one request, both times.
    expect((await ask(9, -1, -2)).map((p) => p.errorCode)).toEqual([KafkaErrors.INVALID_REQUEST, KafkaErrors.INVALID_REQUEST]);
  });

  it('Metadata v12 carries topic ids and answers a topic asked for by id; an unknown id is UNKNOWN_TOPIC_ID', async () => {
    const topic = newTopic();
    const item = await log.createTopic(topic, 2);
    const byName = await withClient((c) => c.callGenerated(Metadata, 12, { topics: [{ name: topic }], allowAutoTopicCreation: false }));
    expect(byName.topics[0]).toMatchObject({ errorCode: 0, name: topic, topicId: item.id });
    const unknown = randomUUID();
    const byId = await withClient((c) =>
      c.callGenerated(Metadata, 12, {
        topics: [
          { name: null, topicId: item.id },
          { name: null, topicId: unknown },
        ],
        allowAutoTopicCreation: false,
      }),
    );
    expect(byId.topics.map((t) => [t.errorCode, t.name, t.topicId, t.partitions.length])).toEqual([
      [0, topic, item.id, 2],
      [KafkaErrors.UNKNOWN_TOPIC_ID, null, unknown, 0],
    ]);
  });

  it('Fetch v13+ names topics by id; an id no live topic has is UNKNOWN_TOPIC_ID, also for a topic deleted and created again', async () => {
    const topic = newTopic();
    const first = await log.createTopic(topic, 1);
    await log.produce(topic, [{ key: null, value: Buffer.from('one') }]);
    const fetch = (version: number, topicId: string) =>
      withClient(
        async (c) =>
          (
            await c.callGenerated(Fetch, version, {
              replicaId: -1,
              maxWaitMs: 0,
              minBytes: 1,
              maxBytes: 1 << 20,
              topics: [{ topicId, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
            })
          ).responses[0]!,
      );
    for (const version of [13, 16, 18]) {
      const answer = await fetch(version, first.id);
      expect(answer.topicId).toBe(first.id);
      expect(answer.partitions[0]).toMatchObject({ errorCode: 0, highWatermark: 1, lastStableOffset: 1 });
      expect(decodeRecordBatch(answer.partitions[0]!.records!).records.map((r) => str(r.value))).toEqual(['one']);
    }
    await log.deleteTopic(topic);
    const second = await log.createTopic(topic, 1);
    expect((await fetch(13, first.id)).partitions[0]!.errorCode).toBe(KafkaErrors.UNKNOWN_TOPIC_ID);
    expect((await fetch(13, second.id)).partitions[0]).toMatchObject({ errorCode: 0, highWatermark: 0 });
  });

  it('Produce v9–v13 (flexible): v13 names the topic by id, and an unknown id is UNKNOWN_TOPIC_ID', async () => {
    const topic = newTopic();
    const { id } = await log.createTopic(topic, 1);
    const produce = (version: number, named: { name?: string; topicId?: string }, value: string) =>
      withClient((c) =>
        c.callGenerated(Produce, version, {
          acks: -1,
          timeoutMs: 5000,
          topicData: [{ ...named, partitionData: [{ index: 0, records: encodeRecordBatch([{ key: null, value: Buffer.from(value) }]) }] }],
        }),
      );
    for (const [offset, version] of [9, 10, 11, 12].entries()) {
      const answer = await produce(version, { name: topic }, `v${version}`);
      expect(answer.responses[0]!.name).toBe(topic);
      expect(answer.responses[0]!.partitionResponses[0]).toMatchObject({ index: 0, errorCode: 0, baseOffset: offset });
      expect(answer.nodeEndpoints).toEqual([]);
    }
    const byId = await produce(13, { topicId: id }, 'v13');
    expect(byId.responses[0]!.topicId).toBe(id);
    expect(byId.responses[0]!.partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 4 });
    const unknown = await produce(13, { topicId: randomUUID() }, 'lost');
    expect(unknown.responses[0]!.partitionResponses[0]).toMatchObject({ errorCode: KafkaErrors.UNKNOWN_TOPIC_ID, baseOffset: -1 });
    const stored = decodeRecordBatch((await log.readBatches(topic, 0, 4)).batches[0]!);
    expect(stored.records.map((r) => str(r.value))).toEqual(['v13']);
    expect((await log.offsetRange(topic, 0)).latest).toBe(5);
  });

  it('Produce v10+ answers NOT_LEADER_OR_FOLLOWER with the current leader and its endpoint; v9 without them', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    const other = newLog(stores);
    try {
      // Another agent holds the partition's lease.
      await other.appendBatches(topic, 0, encodeRecordBatch([{ key: null, value: Buffer.from('theirs') }]), {
        acks: 'all',
        asLeader: true,
      });
      const produce = (version: number) =>
        withClient((c) =>
          c.callGenerated(Produce, version, {
            acks: -1,
            timeoutMs: 5000,
            topicData: [
              { name: topic, partitionData: [{ index: 0, records: encodeRecordBatch([{ key: null, value: Buffer.from('x') }]) }] },
            ],
          }),
        );
      const answer = await produce(11);
      const partition = answer.responses[0]!.partitionResponses[0]!;
      expect(partition.errorCode).toBe(KafkaErrors.NOT_LEADER_OR_FOLLOWER);
      expect(partition.currentLeader.leaderId).toBeGreaterThanOrEqual(0);
      expect(partition.currentLeader.leaderEpoch).toBeGreaterThanOrEqual(0);
      expect(answer.nodeEndpoints).toEqual([
        expect.objectContaining({ nodeId: partition.currentLeader.leaderId, port: expect.any(Number) }),
      ]);
      const old = await produce(9);
      expect(old.responses[0]!.partitionResponses[0]).toMatchObject({
        errorCode: KafkaErrors.NOT_LEADER_OR_FOLLOWER,
        currentLeader: { leaderId: -1, leaderEpoch: -1 },
      });
      expect(old.nodeEndpoints).toEqual([]);
    } finally {
      await other.close();
    }
  });
});

describe('kafka > bad input', () => {
  const stillServes = async () => {
    const answer = await withClient((c) => c.call('ApiVersions', 0));
    expect(answer.errorCode).toBe(0);
  };

  it.each([
    ['an unknown API key', frame(999, 0, 1)],
    ['a version outside the advertised range', frame(3, 42, 1)],
    ['a truncated body', frame(0, 3, 1, Buffer.from([0xff, 0xff, 0, 1]))],
    ['an array count larger than the frame', frame(3, 1, 1, Buffer.from([0x7f, 0xff, 0xff, 0xff]))],
    ['a negative frame size', Buffer.from([0xff, 0xff, 0xff, 0xf0, 1, 2, 3])],
    ['a frame over the size limit', Buffer.from([0x7f, 0xff, 0xff, 0xff])],
  ])('closes the connection on %s and keeps serving others', async (_name, bytes) => {
    await withClient(async (c) => {
      c.write(bytes);
      await c.closed;
    });
    await stillServes();
  });

  it("answers every pipelined request when they arrive faster than one frame's worth of buffer", async () => {
    const small = await listen({ maxRequestBytes: 2048 });
    try {
      // ApiVersions v3 with a 1,500-byte client name: twelve of them are 9 times the buffer allowed.
      const name = 'n'.repeat(1500);
      const body = Buffer.concat([Buffer.from([0]), Buffer.from([0xdd, 0x0b]), Buffer.from(name), Buffer.from([2, 0x31, 0])]);
      const frames = Array.from({ length: 12 }, (_, i) => frame(18, 3, 1000 + i, body));
      const answers = await withClientAt(small.bootstrap, async (c) => {
        const pending = frames.map(() => c.nextAnswer());
        c.write(Buffer.concat(frames));
        return Promise.all(pending);
      });
      expect(answers.map((a) => a.readInt32BE(0))).toEqual(frames.map((_, i) => 1000 + i));
    } finally {
      await small.close();
    }
  });

  it('survives random frames (seeded fuzzing of every API decoder) and changes nothing', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    const random = seeded(20261121);
    const keys = [0, 1, 2, 3, 17, 18, 19, 20, 22, 32, 36];
    for (let i = 0; i < 300; i++) {
      const body = Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
      const key = keys[i % keys.length]!;
      await withClient(async (c) => {
        c.write(frame(key, Math.floor(random() * 12), i, body));
        // Either an answer or a closed connection; never a hang or a crash.
        await Promise.race([c.closed, c.sendRaw(frame(18, 0, 100_000 + i)).catch(() => undefined)]);
      });
    }
    await stillServes();
    expect((await log.offsetRange(topic, 0)).latest).toBe(0);
  });
});

describe('kafka > SASL on a listener without it', () => {
  it('answers a SASL handshake with ILLEGAL_SASL_STATE, as a Kafka PLAINTEXT listener does (not "supported mechanisms:" and nothing)', async () => {
    const answer = await withClient((c) => c.call('SaslHandshake', 1, { mechanism: 'PLAIN' }));
    expect(answer).toMatchObject({ errorCode: KafkaErrors.ILLEGAL_SASL_STATE, enabledMechanisms: [] });
  });
});

describe('kafka > SASL/PLAIN with API keys', () => {
  it('serves nothing but the handshake before authentication, then what the key permits', async () => {
    const keys = new ApiKeys(stores.metadata, { rootToken: 'root-token' });
    const reader = await keys.create('reader', [{ topics: 'public-*', actions: ['read'] }]);
    const secured = await listen({ apiKeys: keys });
    const plain = (password: string) => Buffer.from(`\u0000reader\u0000${password}`);
    try {
      const before = await WireClient.open(secured.bootstrap);
      before.write(frame(3, 1, 1, Buffer.from([0, 0, 0, 0])));
      await before.closed;

      const wrong = await WireClient.open(secured.bootstrap);
      expect((await wrong.call('SaslHandshake', 1, { mechanism: 'PLAIN' })).errorCode).toBe(0);
      expect(saslAnswerCode(await wrong.sendRaw(saslAuthenticate(plain('nope'))))).toBe(KafkaErrors.SASL_AUTHENTICATION_FAILED);
      await wrong.closed;

      const ok = await WireClient.open(secured.bootstrap);
      expect((await ok.call('SaslHandshake', 1, { mechanism: 'SCRAM-SHA-512' })).errorCode).toBe(KafkaErrors.UNSUPPORTED_SASL_MECHANISM);
      expect((await ok.call('SaslHandshake', 1, { mechanism: 'PLAIN' })).errorCode).toBe(0);
      expect(saslAnswerCode(await ok.sendRaw(saslAuthenticate(plain(reader.key))))).toBe(0);
      const created = await ok.call('CreateTopics', 0, {
        topics: [{ topic: 'public-x', numPartitions: 1, replicationFactor: 1 }],
        timeout: 1000,
      });
      expect(created.topicErrors[0].errorCode).toBe(KafkaErrors.TOPIC_AUTHORIZATION_FAILED);
      const described = await ok.callGenerated(DescribeProducers, 0, { topics: [{ name: 'private-x', partitionIndexes: [0] }] });
      expect(described.topics[0]!.partitions[0]!.errorCode).toBe(KafkaErrors.TOPIC_AUTHORIZATION_FAILED);
      ok.close();
    } finally {
      await secured.close();
    }
  });

  it("scopes consumer groups as Kafka's group ACLs: GROUP_AUTHORIZATION_FAILED without a grant, and ListGroups lists only what the key may describe", async () => {
    const keys = new ApiKeys(stores.metadata);
    const consumer = await keys.create('consumer', [
      { topics: 'public-*', actions: ['read'] },
      { groups: 'mine-*', actions: ['read'] },
    ]);
    const groups = new GroupCoordinator(log, stores.metadata);
    const secured = await listen({ apiKeys: keys, groups, groupTimeouts: { initialRebalanceDelayMs: 0 } });
    const suffix = randomUUID().slice(0, 6);
    for (const group of [`mine-${suffix}`, `theirs-${suffix}`]) {
      await log.createTopic(`public-${suffix}`, 1).catch(() => undefined);
      await groups.commit(group, { offsets: [{ topic: `public-${suffix}`, partition: 0, offset: 0 }] });
    }
    try {
      const c = await WireClient.open(secured.bootstrap);
      expect((await c.call('SaslHandshake', 1, { mechanism: 'PLAIN' })).errorCode).toBe(0);
      expect(saslAnswerCode(await c.sendRaw(saslAuthenticate(Buffer.from(`\u0000consumer\u0000${consumer.key}`))))).toBe(0);
      const find = (groupId: string) => c.call('GroupCoordinator', 1, { groupId, coordinatorType: 0 });
      expect((await find(`mine-${suffix}`)).errorCode).toBe(0);
      expect((await find(`theirs-${suffix}`)).errorCode).toBe(KafkaErrors.GROUP_AUTHORIZATION_FAILED);
      const join = (groupId: string) =>
        c.call('JoinGroup', 2, {
          groupId,
          sessionTimeout: 10_000,
          rebalanceTimeout: 10_000,
          memberId: '',
          protocolType: 'consumer',
          groupProtocols: [{ name: 'range', metadata: Buffer.alloc(0) }],
        });
      expect((await join(`theirs-${suffix}`)).errorCode).toBe(KafkaErrors.GROUP_AUTHORIZATION_FAILED);
      const fetchOffsets = await c.call('OffsetFetch', 3, {
        groupId: `theirs-${suffix}`,
        topics: [{ topic: `public-${suffix}`, partitions: [{ partition: 0 }] }],
      });
      expect(fetchOffsets.errorCode).toBe(KafkaErrors.GROUP_AUTHORIZATION_FAILED);
      const commit = await c.call('OffsetCommit', 2, {
        groupId: `theirs-${suffix}`,
        groupGenerationId: -1,
        memberId: '',
        retentionTime: -1,
        topics: [{ topic: `public-${suffix}`, partitions: [{ partition: 0, offset: '5' }] }],
      });
      expect(commit.responses[0].partitions[0].errorCode).toBe(KafkaErrors.GROUP_AUTHORIZATION_FAILED);
      const listed = (await c.call('ListGroups', 2)).groups.map((g: { groupId: string }) => g.groupId);
      expect(listed).toContain(`mine-${suffix}`);
      expect(listed).not.toContain(`theirs-${suffix}`);
      const described = await c.call('DescribeGroups', 1, { groupIds: [`mine-${suffix}`, `theirs-${suffix}`] });
      expect(described.groups.map((g: { errorCode: number }) => g.errorCode)).toEqual([0, KafkaErrors.GROUP_AUTHORIZATION_FAILED]);
      expect((await groups.offsets(`theirs-${suffix}`))[0]!.committed).toBe(0); // the refused commit wrote nothing
      // KIP-848: a heartbeat naming a topic the key may not describe is refused as a whole.
      const subscribe = (memberId: string, topics: string[]) =>
        c.callGenerated(ConsumerGroupHeartbeat, 1, {
          groupId: `mine-848-${suffix}`,
          memberId,
          memberEpoch: 0,
          rebalanceTimeoutMs: 10_000,
          subscribedTopicNames: topics,
          topicPartitions: [],
        });
      const hidden = await subscribe('m1', [`public-${suffix}`, `private-${suffix}`]);
      expect(hidden).toMatchObject({
        errorCode: KafkaErrors.TOPIC_AUTHORIZATION_FAILED,
        errorMessage: expect.stringContaining(`private-${suffix}`),
      });
      expect((await subscribe('m2', [`public-${suffix}`])).errorCode).toBe(0);
      c.close();
    } finally {
      await secured.close();
    }
  });
  it('authenticates by a SaslHandshake v0 raw token, or SaslAuthenticate v1 and v2 (flexible) with no re-authentication', async () => {
    const keys = new ApiKeys(stores.metadata, { rootToken: 'root-token' });
    const writer = await keys.create('writer', [{ topics: '*', actions: ['read', 'write'] }]);
    const secured = await listen({ apiKeys: keys });
    const plain = (password: string) => Buffer.from(`\u0000writer\u0000${password}`);
    const served = async (c: WireClient) => (await c.callGenerated(Metadata, 12, { topics: [] })).controllerId;
    try {
      // v0: the token is a bare frame, answered by an empty one.
      const raw = await WireClient.open(secured.bootstrap);
      expect((await raw.callGenerated(SaslHandshake, 0, { mechanism: 'PLAIN' })).errorCode).toBe(0);
      const token = plain(writer.key);
      const sized = Buffer.alloc(4 + token.length);
      sized.writeInt32BE(token.length);
      token.copy(sized, 4);
      expect((await raw.sendRaw(sized)).length).toBe(0);
      expect(await served(raw)).toBeGreaterThanOrEqual(0);
      raw.close();

      for (const version of [1, 2]) {
        const c = await WireClient.open(secured.bootstrap);
        // Before the handshake: ILLEGAL_SASL_STATE, and still unauthenticated.
        expect(await c.callGenerated(SaslAuthenticate, version, { authBytes: token })).toMatchObject({
          errorCode: KafkaErrors.ILLEGAL_SASL_STATE,
        });
        expect((await c.callGenerated(SaslHandshake, 1, { mechanism: 'PLAIN' })).errorCode).toBe(0);
        expect(await c.callGenerated(SaslAuthenticate, version, { authBytes: token })).toEqual({
          errorCode: 0,
          errorMessage: null,
          authBytes: Buffer.alloc(0),
          sessionLifetimeMs: 0,
        });
        expect(await served(c)).toBeGreaterThanOrEqual(0);
        c.close();
      }

      const refused = await WireClient.open(secured.bootstrap);
      expect((await refused.callGenerated(SaslHandshake, 1, { mechanism: 'PLAIN' })).errorCode).toBe(0);
      expect((await refused.callGenerated(SaslAuthenticate, 2, { authBytes: plain('nope') })).errorCode).toBe(
        KafkaErrors.SASL_AUTHENTICATION_FAILED,
      );
      await refused.closed;
    } finally {
      await secured.close();
    }
  });
});

/** SaslAuthenticate v1 with the token; its answer's error code. */
function saslAuthenticate(token: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeInt32BE(token.length);
  return frame(36, 1, 3, Buffer.concat([length, token]));
}

function saslAnswerCode(answer: Buffer): number {
  return answer.readInt16BE(4);
}

/** Produce v3 body: no transactional id, acks, timeout, one topic with one partition. */
function produceBody(topic: string, partition: number, records: Buffer, acks: number): Buffer {
  const name = Buffer.from(topic);
  const head = Buffer.alloc(2 + 2 + 4 + 4 + 2);
  head.writeInt16BE(-1, 0);
  head.writeInt16BE(acks, 2);
  head.writeInt32BE(5000, 4);
  head.writeInt32BE(1, 8);
  head.writeInt16BE(name.length, 12);
  const tail = Buffer.alloc(4 + 4 + 4);
  tail.writeInt32BE(1, 0);
  tail.writeInt32BE(partition, 4);
  tail.writeInt32BE(records.length, 8);
  return Buffer.concat([head, name, tail, records]);
}

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}
