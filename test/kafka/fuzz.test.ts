/**
 * Fuzzing of every request decoder the server serves (lib/kafka/served.ts, every advertised version)
 * and of the record-batch validator, with a fixed seed: any input either decodes or fails with
 * SpoolError (which the server turns into a closed connection or an error code) — never another
 * exception, never a hang, never a decoded array or buffer larger than its frame. Inputs are the
 * structure-aware ones of test/kafka/fuzz/inputs.ts (a bounded run here; `npm run fuzz` runs a
 * million), random bytes, and single-byte mutations of requests kafkajs encodes.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { crc32c, encodeRecordBatch, validateAppend } from '../../lib/format/index.js';
import type { ApiCodec } from '../../lib/kafka/api.js';
import { servedCodecs } from '../../lib/kafka/served.js';
import { KafkaReader, KafkaWriter } from '../../lib/kafka/wire.js';
import { decodeChecked, FuzzFailure, type FuzzTarget, fuzzTargets, type InputKind, nthInput } from './fuzz/inputs.js';

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

  it('decodes or refuses structure-aware inputs for every served API at every served version, allocating nothing beyond the frame', () => {
    const targets = fuzzTargets();
    expect(targets.length).toBe(codecs.reduce((sum, c) => sum + c.maxVersion - c.minVersion + 1, 0));
    const inputs = targets.length * 500;
    const kinds = new Map<InputKind, number>();
    const decodedValid = new Set<string>();
    const failures: string[] = [];
    for (let index = 0; index < inputs; index++) {
      const { target, input } = nthInput(targets, seed, index);
      kinds.set(input.kind, (kinds.get(input.kind) ?? 0) + 1);
      try {
        const outcome = decodeChecked(target, input.bytes);
        if (input.kind === 'valid' && outcome === 'decoded') decodedValid.add(target.label);
      } catch (error) {
        if (!(error instanceof FuzzFailure)) throw error;
        failures.push(`${error.message} (npm run fuzz -- --seed ${seed} --index ${index}: ${input.bytes.toString('hex')})`);
      }
    }
    expect(failures).toEqual([]);
    // Every kind of mutation ran, and the unmutated requests decode: the mutations start from valid input.
    expect([...kinds.keys()].sort()).toEqual(['flips', 'junk', 'length', 'random', 'tags', 'truncate', 'valid', 'value']);
    const encodable = targets.filter((t) => t.pair !== undefined);
    expect(encodable.length).toBeGreaterThan(targets.length * 0.9);
    expect(encodable.map((t) => t.label).filter((label) => !decodedValid.has(label))).toEqual([]);
  });

  it('would report a decoder that throws something else, or allocates from an untrusted count', () => {
    const fake = (decodeRequest: (r: KafkaReader) => unknown): FuzzTarget => ({
      codec: {
        key: 9999,
        name: 'Fake',
        minVersion: 0,
        maxVersion: 0,
        decodeRequest,
        encodeResponse: () => undefined,
        errorResponse: () => ({}),
      },
      version: 0,
      flexible: false,
      label: 'Fake v0',
    });
    const count = Buffer.from([0, 0, 0x10, 0]);
    expect(() =>
      decodeChecked(
        fake((r) => new Array(r.int32('count')).fill(0)),
        count,
      ),
    ).toThrow(/an array of 4096 items from a 4-byte frame/);
    expect(() =>
      decodeChecked(
        fake((r) => Buffer.alloc(r.int32('size')).length),
        count,
      ),
    ).toThrow(/allocated a buffer of 4096 bytes for a 4-byte frame/);
    expect(() =>
      decodeChecked(
        fake(() => (JSON.parse('null') as { a: number }).a),
        count,
      ),
    ).toThrow(/TypeError/);
    expect(() =>
      decodeChecked(
        fake(() => {
          throw new SpoolError('INVALID_ARGUMENT', 'no');
        }),
        count,
      ),
    ).toThrow(/INVALID_ARGUMENT/);
    expect(
      decodeChecked(
        fake((r) => r.array('items', (r) => r.int8('item'))),
        count,
      ),
    ).toBe('refused');
  });

  it.each([false, true])('refuses an array count larger than the bytes left before allocating (flexible: %s)', (flexible) => {
    const writer = new KafkaWriter(flexible);
    if (flexible) writer.uvarint(0xffffffff);
    else writer.int32(0x7fffffff);
    writer.int8(1);
    const bytes = Buffer.concat(writer.finish());
    const startedMs = performance.now();
    expect(() => new KafkaReader(bytes, flexible).array('items', (r) => r.int8('item'))).toThrow(
      /claims \d+ items but only 1 bytes remain/,
    );
    expect(performance.now() - startedMs).toBeLessThan(100);
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
