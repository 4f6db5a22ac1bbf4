/**
 * The generated protocol codecs (lib/kafka/protocol), every message at every version: samples built
 * from the generator's own description of each struct round-trip (encode, then decode gives the
 * sample with defaults filled in, and re-encoding gives the same bytes), and decoding random bytes or
 * truncated and mutated encodings fails with SpoolError('CORRUPT_RECORD') only. fast-check runs with
 * a fixed seed and few runs per version, so the whole file takes seconds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../../lib/errors.js';
import { Fetch, Heartbeat, messagePairFor, messagePairs } from '../../../lib/kafka/protocol/index.js';
import { ConsumerProtocolSubscriptionData } from '../../../lib/kafka/protocol/messages/consumer-protocol.js';
import { ZERO_UUID, uuidFromKafkaString, uuidToKafkaString, type Encodable } from '../../../lib/kafka/protocol/runtime.js';
import { KafkaReader, KafkaWriter } from '../../../lib/kafka/wire.js';
import { sample, schemas, seeded, type FileDescriptor } from './samples.js';

const seed = 20261204;

interface Codec {
  readonly label: string;
  readonly file: FileDescriptor;
  readonly struct: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly flexibleFrom: number | undefined;
  decode(r: KafkaReader, version: number): unknown;
  encode(w: KafkaWriter, version: number, value: unknown): void;
}

/** Every generated codec: both sides of each MessagePair, and each consumer-protocol schema. */
const codecs: Codec[] = [];
for (const file of schemas.files) {
  const module = (await import(`../../../lib/kafka/protocol/messages/${file.file}.ts`)) as Record<string, any>;
  for (const entry of file.exports) {
    const codec = module[entry.name];
    const side = entry.side === 'request' ? 'Request' : entry.side === 'response' ? 'Response' : '';
    codecs.push({
      label: `${entry.name}${side ? ` ${side.toLowerCase()}` : ''}`,
      file,
      struct: entry.struct,
      minVersion: codec.minVersion,
      maxVersion: codec.maxVersion,
      flexibleFrom: codec.flexibleFrom,
      decode: side ? (r, v) => codec[`decode${side}`](r, v) : (r, v) => codec.decode(r, v),
      encode: side ? (w, v, value) => codec[`encode${side}`](w, v, value) : (w, v, value) => codec.encode(w, v, value),
    });
  }
}

const isFlexible = (codec: Codec, version: number) => codec.flexibleFrom !== undefined && version >= codec.flexibleFrom;
const versionsOf = (codec: Codec) => Array.from({ length: codec.maxVersion - codec.minVersion + 1 }, (_, i) => codec.minVersion + i);

function encode(codec: Codec, version: number, value: unknown): Buffer {
  const writer = new KafkaWriter(isFlexible(codec, version));
  codec.encode(writer, version, value);
  return Buffer.concat(writer.finish());
}

function decode(codec: Codec, version: number, bytes: Buffer): { value: unknown; remaining: number } {
  const reader = new KafkaReader(bytes, isFlexible(codec, version), `${codec.label} v${version}`);
  const value = codec.decode(reader, version);
  return { value, remaining: reader.remaining };
}

/** Decodes, or fails with CORRUPT_RECORD; anything else fails the test. */
function decodesOrRefuses(codec: Codec, version: number, bytes: Buffer): void {
  try {
    decode(codec, version, bytes);
  } catch (error) {
    if (!(error instanceof SpoolError)) throw error;
    expect(error.code).toBe('CORRUPT_RECORD');
  }
}

describe('kafka > protocol > generated codecs', () => {
  it('cover every generated module, with the versions the descriptor names', () => {
    expect(schemas.files.length).toBeGreaterThan(70);
    expect(codecs.length).toBe(messagePairs.length * 2 + 2);
    for (const codec of codecs) {
      expect([codec.minVersion, codec.maxVersion, codec.flexibleFrom ?? null]).toEqual([
        codec.file.minVersion,
        codec.file.maxVersion,
        codec.file.flexibleFrom,
      ]);
    }
    expect(messagePairFor(1)).toBe(Fetch);
    expect(messagePairFor(-1)).toBeUndefined();
    expect([...new Set(messagePairs.map((p) => p.apiKey))].length).toBe(messagePairs.length);
  });

  it('keep the old versions Kafka 4 removed, and skip versions marked unstable', () => {
    const range = (key: number) => [messagePairFor(key)!.minVersion, messagePairFor(key)!.maxVersion];
    expect(range(0)).toEqual([0, 13]); // Produce: 0-2 from 3.9.1
    expect(range(1)).toEqual([0, 18]); // Fetch: 0-3 from 3.9.1
    expect(range(2)).toEqual([0, 11]); // ListOffsets: 0 from 3.9.1
    expect(range(22)).toEqual([0, 5]); // InitProducerId: 4.4.0's v6 is latestVersionUnstable
  });

  it.each(codecs.map((c) => [c.label, c] as const))('%s: round-trips samples at every version', (_, codec) => {
    for (const version of versionsOf(codec)) {
      for (let run = 0; run < 6; run++) {
        const caseSeed = seed + version * 100 + run;
        const { input, expected } = sample(codec.file, codec.struct, version, seeded(caseSeed));
        const bytes = encode(codec, version, input);
        const decoded = decode(codec, version, bytes);
        expect(decoded.remaining, `v${version} seed ${caseSeed}: bytes left over`).toBe(0);
        expect(decoded.value, `v${version} seed ${caseSeed}`).toEqual(expected);
        expect(encode(codec, version, decoded.value).equals(bytes), `v${version} seed ${caseSeed}: re-encoding differs`).toBe(true);
      }
    }
  });

  it.each(codecs.map((c) => [c.label, c] as const))(
    '%s: refuses random, truncated and mutated bytes with CORRUPT_RECORD only',
    (_, codec) => {
      for (const version of versionsOf(codec)) {
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 48 }), (bytes) => decodesOrRefuses(codec, version, Buffer.from(bytes))),
          { seed: seed + version, numRuns: 15 },
        );
        const valid = encode(codec, version, sample(codec.file, codec.struct, version, seeded(seed + version), { maxItems: 3 }).input);
        if (valid.length === 0) continue;
        fc.assert(
          fc.property(
            fc.nat({ max: valid.length - 1 }),
            fc.integer({ min: 0, max: 255 }),
            fc.nat({ max: valid.length }),
            (at, byte, cut) => {
              const mutated = Buffer.from(valid);
              mutated[at] = byte;
              decodesOrRefuses(codec, version, mutated);
              decodesOrRefuses(codec, version, valid.subarray(0, cut));
            },
          ),
          { seed: seed + version, numRuns: 15 },
        );
      }
    },
  );
});

describe('kafka > protocol > tagged fields', () => {
  // Heartbeat v4 request: group_id, generation_id, member_id, group_instance_id, then a tagged-field section.
  const heartbeatV4 = (tags: number[]) => Buffer.from([2, ...Buffer.from('g'), 0, 0, 0, 7, 2, ...Buffer.from('m'), 0, ...tags]);

  it('skips tags the schema does not know', () => {
    const bytes = heartbeatV4([2, 5, 3, 1, 2, 3, 9, 0]);
    const reader = new KafkaReader(bytes, true);
    expect(Heartbeat.decodeRequest(reader, 4)).toEqual({ groupId: 'g', generationId: 7, memberId: 'm', groupInstanceId: null });
    expect(reader.remaining).toBe(0);
  });

  it('refuses a tag whose size runs past the frame, and a known tag whose value does not fill its size', () => {
    expect(() => Heartbeat.decodeRequest(new KafkaReader(heartbeatV4([1, 5, 9, 1]), true), 4)).toThrow(SpoolError);
    // FetchResponse v16: node_endpoints (tag 0) claims 5 bytes, but an empty array takes 1.
    const response = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 5, 1, 0, 0, 0, 0]);
    expect(() => Fetch.decodeResponse(new KafkaReader(response, true), 16)).toThrow(/tag 0 has 5 bytes, but its value took 1/);
  });

  it('writes only the tagged fields that differ from their defaults, in tag order, and reads them back', () => {
    const value: Encodable<import('../../../lib/kafka/protocol/messages/fetch.js').FetchResponse> = {
      nodeEndpoints: [{ nodeId: 1, host: 'h', port: 9092 }],
      responses: [
        {
          topicId: ZERO_UUID,
          partitions: [{ partitionIndex: 0, snapshotId: { epoch: 3 }, currentLeader: { leaderId: 2 }, records: null }],
        },
      ],
    };
    const writer = new KafkaWriter(true);
    Fetch.encodeResponse(writer, 16, value);
    const bytes = Buffer.concat(writer.finish());
    const decoded = Fetch.decodeResponse(new KafkaReader(bytes, true), 16);
    const partition = decoded.responses[0]!.partitions[0]!;
    expect(partition.currentLeader).toEqual({ leaderId: 2, leaderEpoch: -1 });
    expect(partition.snapshotId).toEqual({ endOffset: -1, epoch: 3 });
    expect(partition.divergingEpoch).toEqual({ epoch: -1, endOffset: -1 });
    expect(decoded.nodeEndpoints).toEqual([{ nodeId: 1, host: 'h', port: 9092, rack: null }]);
    // The partition's tagged section: 2 fields, tag 1 (current leader, 9 bytes) before tag 2 (snapshot id, 13 bytes).
    const leader = [0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0];
    const snapshot = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 3, 0];
    expect(bytes.indexOf(Buffer.from([2, 1, 9, ...leader, 2, 13, ...snapshot]))).toBeGreaterThan(0);
  });
});

describe('kafka > protocol > runtime', () => {
  it("converts UUIDs to and from Kafka's display form", () => {
    const uuid = '5f4dcc3b-5aa7-65d6-1d83-27deb882cf99';
    expect(uuidToKafkaString(uuid)).toBe('X03MO1qnZdYdgyfeuILPmQ');
    expect(uuidFromKafkaString('X03MO1qnZdYdgyfeuILPmQ')).toBe(uuid);
    expect(uuidToKafkaString(ZERO_UUID)).toBe('AAAAAAAAAAAAAAAAAAAAAA');
    expect(() => uuidFromKafkaString('not a uuid')).toThrow(SpoolError);
    expect(() => uuidToKafkaString('5F4DCC3B-5AA7-65D6-1D83-27DEB882CF99')).toThrow(SpoolError);
  });

  it('refuses a version outside the range, and a reader whose flexibility does not match the version', () => {
    expect(() => Fetch.decodeRequest(new KafkaReader(Buffer.alloc(0), false), 19)).toThrow(
      /Fetch request version must be in \[0, 18\], got 19/,
    );
    expect(() => Fetch.decodeRequest(new KafkaReader(Buffer.alloc(0), false), 12)).toThrow(
      /v12 is flexible, but the reader or writer given is classic/,
    );
    expect(() => ConsumerProtocolSubscriptionData.encode(new KafkaWriter(true), 3, {})).toThrow(SpoolError);
  });

  it('refuses null where the version cannot carry it', () => {
    // Metadata v0's topic list is not nullable (v1+ is: null means every topic).
    expect(() => messagePairFor(3)!.encodeRequest(new KafkaWriter(false), 0, { topics: null })).toThrow(/topics cannot be null/);
  });
});
