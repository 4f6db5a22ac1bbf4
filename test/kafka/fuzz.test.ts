/**
 * Fuzzing of every request decoder the server serves (lib/kafka/served.ts, every advertised version)
 * and of the record-batch validator, with fast-check and a fixed seed: any input either decodes or fails
 * with SpoolError (which the server turns into a closed connection or an error code) — never another
 * exception, never a hang. Inputs are random bytes and single-byte mutations of valid requests.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { crc32c, encodeRecordBatch, validateAppend } from '../../lib/format/index.js';
import type { ApiCodec } from '../../lib/kafka/api.js';
import { servedCodecs } from '../../lib/kafka/served.js';
import { KafkaReader } from '../../lib/kafka/wire.js';

const seed = 20261121;
const require = createRequire(import.meta.url);
const kafkajs = require('kafkajs/src/protocol/requests/index.js') as {
  requests: Record<
    string,
    { protocol: (o: { version: number }) => (args?: any) => { request: { encode: () => Promise<{ buffer: Buffer }> } } }
  >;
};

// Every codec the server serves, at every version it advertises.
const codecs = servedCodecs;

function decodes(codec: ApiCodec<unknown, unknown>, version: number, bytes: Uint8Array): boolean {
  const flexible = codec.flexibleFrom !== undefined && version >= codec.flexibleFrom;
  try {
    codec.decodeRequest(new KafkaReader(Buffer.from(bytes), flexible), version);
    return true;
  } catch (error) {
    if (!(error instanceof SpoolError)) throw error;
    expect(error.code).toBe('CORRUPT_RECORD');
    return false;
  }
}

/** Valid request bodies from kafkajs's encoders, to mutate. */
const samples: Record<string, { api: string; version: number; args: unknown }> = {
  Metadata: { api: 'Metadata', version: 4, args: { topics: ['a', 'b'], allowAutoTopicCreation: true } },
  Produce: {
    api: 'Produce',
    version: 3,
    args: { acks: -1, timeout: 100, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v' }] }] }] },
  },
  Fetch: {
    api: 'Fetch',
    version: 11,
    args: {
      maxWaitTime: 10,
      minBytes: 1,
      maxBytes: 100,
      topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: '0', maxBytes: 100 }] }],
    },
  },
  ListOffsets: { api: 'ListOffsets', version: 2, args: { topics: [{ topic: 't', partitions: [{ partition: 0, timestamp: -1 }] }] } },
  CreateTopics: {
    api: 'CreateTopics',
    version: 2,
    args: {
      topics: [{ topic: 't', numPartitions: 2, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '1' }] }],
      timeout: 10,
    },
  },
};

describe('kafka > fuzzing the decoders', () => {
  it('found codecs for the APIs served', () => {
    expect(codecs.map((c) => c.name)).toEqual(
      expect.arrayContaining([
        'ApiVersions',
        'Metadata',
        'Produce',
        'Fetch',
        'ListOffsets',
        'CreateTopics',
        'DeleteTopics',
        'DescribeConfigs',
        'InitProducerId',
        'SaslHandshake',
        'SaslAuthenticate',
      ]),
    );
  });

  it('decodes or refuses random bytes, for every API and version, with CORRUPT_RECORD only', () => {
    for (const codec of codecs) {
      for (let version = codec.minVersion; version <= codec.maxVersion; version++) {
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
            decodes(codec, version, bytes);
          }),
          { seed, numRuns: 150 },
        );
      }
    }
  });

  it.each(Object.keys(samples))('decodes or refuses every single-byte mutation and truncation of a valid %s request', async (name) => {
    const sample = samples[name]!;
    const codec = codecs.find((c) => c.name === name)!;
    const body = (await kafkajs.requests[sample.api]!.protocol({ version: sample.version })(sample.args).request.encode()).buffer;
    expect(decodes(codec, sample.version, body)).toBe(true);
    fc.assert(
      fc.property(fc.nat({ max: body.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.nat({ max: body.length }), (at, byte, cut) => {
        const mutated = Buffer.from(body);
        mutated[at] = byte;
        decodes(codec, sample.version, mutated);
        decodes(codec, sample.version, body.subarray(0, cut));
      }),
      { seed, numRuns: 500 },
    );
  });

  it('validates or refuses mutated record batches with SpoolError only, with the CRC fixed up so the mutation reaches the records', () => {
    const batch = encodeRecordBatch(
      Array.from({ length: 5 }, (_, i) => ({
        key: Buffer.from(`k${i}`),
        value: Buffer.from(`value-${i}`),
        headers: [{ key: 'h', value: Buffer.from('x') }],
        timestampMs: 1000 + i,
      })),
      { compression: 'gzip' },
    );
    fc.assert(
      fc.property(fc.nat({ max: batch.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.boolean(), (at, byte, createTime) => {
        const mutated = Buffer.from(batch);
        mutated[at] = byte;
        // The CRC covers attributes (byte 21) to the end; recompute it so the parser, not the CRC, meets the mutation.
        if (at >= 21) mutated.writeUInt32BE(crc32c(mutated, 21), 17);
        try {
          validateAppend(mutated, {
            timestampType: createTime ? 'CreateTime' : 'LogAppendTime',
            timestampBeforeMaxMs: Number.MAX_SAFE_INTEGER,
            timestampAfterMaxMs: Number.MAX_SAFE_INTEGER,
            maxBatchBytes: 1 << 20,
            nowMs: 0,
          });
        } catch (error) {
          if (!(error instanceof SpoolError)) throw error;
        }
      }),
      { seed, numRuns: 1000 },
    );
  });
});
