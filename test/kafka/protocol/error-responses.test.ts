/**
 * The generated error responses (scripts/kafka-protocol/error-responses.ts → MessagePair.errorResponse):
 * for every served API at every served version, the answer to a valid request refused as a whole
 * encodes, and decoded it carries the error in every error field, the message in every message
 * field, and one item per request item with that item's keys. The check walks the schemas and the
 * spec table itself, not the generated code. Then Kafka's particular answers (its getErrorResponse
 * per request class), and the server answering a failed request with it.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ErrorItems,
  type ErrorResponseSpec,
  errorResponses,
  type ErrorValue,
} from '../../../scripts/kafka-protocol/error-responses.js';
import type { ApiHandler } from '../../../lib/kafka/api.js';
import { KafkaErrors } from '../../../lib/kafka/errors.js';
import { ListOffsets } from '../../../lib/kafka/protocol/messages/list-offsets.js';
import { Metadata } from '../../../lib/kafka/protocol/messages/metadata.js';
import { Produce } from '../../../lib/kafka/protocol/messages/produce.js';
import { codecs, servedCodecs } from '../../../lib/kafka/served.js';
import { KafkaServer } from '../../../lib/kafka/server.js';
import { KafkaReader, KafkaWriter } from '../../../lib/kafka/wire.js';
import { silentLogger } from '../../../lib/logger.js';
import { fuzzTargets, type FuzzTarget } from '../fuzz/inputs.js';
import { frame } from '../support/wire-client.js';
import { defaultOf, type FileDescriptor, sample, seeded, versionSet } from './samples.js';

type Struct = Record<string, unknown>;

const camel = (name: string) => name[0]!.toLowerCase() + name.slice(1);

/** The request a sample gives, decoded as the server would see it. */
function decodedRequest(target: FuzzTarget, seed: number): Struct {
  const { input } = sample(target.file!, target.struct!, target.version, seeded(seed), { complete: true, maxItems: 3 });
  const writer = new KafkaWriter(target.flexible);
  target.pair!.encodeRequest(writer, target.version, input);
  return target.codec.decodeRequest(new KafkaReader(Buffer.concat(writer.finish()), target.flexible, 'request'), target.version) as Struct;
}

/** The response as a client reads it: encoded at the version, then decoded. */
function roundTrip(target: FuzzTarget, response: unknown): Struct {
  const writer = new KafkaWriter(target.flexible);
  target.codec.encodeResponse(writer, target.version, response);
  return target.pair!.decodeResponse(
    new KafkaReader(Buffer.concat(writer.finish()), target.flexible, 'response'),
    target.version,
  ) as Struct;
}

/**
 * Every difference between `response` (struct `name`) and what the spec says it must be, as paths.
 * `source` is the request struct (or, for a list of primitives, the value) the response item answers.
 */
function differences(
  file: FileDescriptor,
  version: number,
  name: string,
  response: Struct,
  spec: { readonly set?: Readonly<Record<string, ErrorValue>>; readonly lists?: ErrorResponseSpec['lists'] },
  echo: { readonly keys: ErrorItems['keys']; readonly source: unknown } | undefined,
  expected: { readonly code: number; readonly message: string },
  path: string,
): string[] {
  const found: string[] = [];
  const keys = new Map((echo?.keys ?? []).map((k) => (typeof k === 'string' ? [k, k] : [k[0], k[1]])));
  for (const field of file.structs[name]!.fields) {
    if (!versionSet(field.versions).has(version)) continue;
    const at = `${path}.${field.name}`;
    const value = response[field.name];
    const pascal = field.name[0]!.toUpperCase() + field.name.slice(1);
    const nullable = versionSet(field.nullable).has(version);
    let want: unknown;
    if (spec.set && Object.hasOwn(spec.set, pascal)) {
      const given = spec.set[pascal]!;
      want = given === null && !nullable ? defaultOf(file, field) : given;
    } else if (field.name === 'errorCode' && field.type === 'int16' && !field.array) want = expected.code;
    else if (field.name === 'errorMessage' && field.type === 'string' && !field.array) want = expected.message;
    else if (keys.has(pascal)) {
      const source =
        typeof echo!.source === 'object' && echo!.source !== null ? (echo!.source as Struct)[camel(keys.get(pascal)!)] : echo!.source;
      want = source === null && !nullable ? defaultOf(file, field) : source;
    } else if (field.array && field.struct) {
      const given = spec.lists?.[pascal];
      const sources = (given === undefined ? [] : Array.isArray(given) ? given : [given]) as readonly ErrorItems[];
      const owner = (echo?.source ?? {}) as Struct;
      const answered = sources
        .filter((items) => items.versions === undefined || versionSet(items.versions).has(version))
        .flatMap((items) => ((owner[camel(items.from)] as unknown[] | null) ?? []).map((source) => ({ items, source })));
      const list = value as Struct[];
      if (list.length !== answered.length) {
        found.push(`${at}: ${list.length} items, expected ${answered.length}`);
        continue;
      }
      list.forEach((item, i) => {
        const { items, source } = answered[i]!;
        found.push(...differences(file, version, field.struct!, item, items, { keys: items.keys, source }, expected, `${at}[${i}]`));
      });
      continue;
    } else continue;
    if (!Object.is(value, want) && JSON.stringify(value) !== JSON.stringify(want))
      found.push(`${at}: ${JSON.stringify(value)}, expected ${JSON.stringify(want)}`);
  }
  return found;
}

const targets = fuzzTargets().filter((t) => t.pair !== undefined);

describe('kafka > protocol > error responses', () => {
  it('covers every served API at every served version, from the generated codecs', () => {
    expect(servedCodecs.map((c) => c.name).filter((name) => errorResponses[name] === undefined)).toEqual([]);
    const served = servedCodecs.reduce((sum, c) => sum + c.maxVersion - c.minVersion + 1, 0);
    expect(targets.length).toBe(served);
  });

  it.each(targets.map((t) => [t.label, t] as const))(
    '%s: every item the request names carries the error, with its keys; the answer encodes',
    (_label, target) => {
      const file = target.file!;
      const responseStruct = file.exports.find((e) => e.side === 'response')!.struct;
      for (const seed of [1, 2, 3]) {
        const request = decodedRequest(target, seed * 1000 + target.version);
        for (const expected of [
          { code: KafkaErrors.UNKNOWN_SERVER_ERROR, message: 'the words' },
          { code: KafkaErrors.NOT_COORDINATOR, message: '' },
        ]) {
          const response = roundTrip(target, target.codec.errorResponse(request, target.version, expected.code, expected.message));
          const spec = errorResponses[target.codec.name]!;
          expect(differences(file, target.version, responseStruct, response, spec, { keys: [], source: request }, expected, '')).toEqual(
            [],
          );
        }
        // Without a message: null where the version allows it, else the default.
        expect(() => roundTrip(target, target.codec.errorResponse(request, target.version, KafkaErrors.INVALID_REQUEST))).not.toThrow();
      }
    },
  );

  it("answers as Kafka's getErrorResponse does, API by API", () => {
    const code = KafkaErrors.TOPIC_AUTHORIZATION_FAILED;
    const produce = codecs.produce.errorResponse(
      {
        transactionalId: null,
        acks: -1,
        timeoutMs: 0,
        topicData: [{ name: 't', topicId: '', partitionData: [{ index: 3, records: null }] }],
      },
      9,
      code,
    );
    expect(produce.responses?.[0]?.partitionResponses?.[0]).toMatchObject({ index: 3, errorCode: code, baseOffset: -1 });

    const fetchRequest = { topics: [{ topic: 't', topicId: 'x', partitions: [{ partition: 2 }] }], sessionId: 7 } as never;
    expect(codecs.fetch.errorResponse(fetchRequest, 12, code)).toMatchObject({
      errorCode: code,
      responses: [{ topic: 't', partitions: [{ partitionIndex: 2, errorCode: code, highWatermark: -1 }] }],
    });
    // From v13 the top-level error alone, as Kafka.
    expect(codecs.fetch.errorResponse(fetchRequest, 13, code)).toMatchObject({ errorCode: code, responses: [] });

    const offsetFetch = { groupId: 'g', topics: [{ name: 't', partitionIndexes: [0, 1] }], groups: [] } as never;
    expect(codecs.offsetFetch.errorResponse(offsetFetch, 1, code).topics?.[0]?.partitions).toEqual([
      { partitionIndex: 0, committedOffset: -1, errorCode: code },
      { partitionIndex: 1, committedOffset: -1, errorCode: code },
    ]);
    expect(codecs.offsetFetch.errorResponse(offsetFetch, 5, code)).toMatchObject({ errorCode: code, topics: [] });

    expect(codecs.findCoordinator.errorResponse({ key: 'g', keyType: 0, coordinatorKeys: ['a'] }, 4, code, 'no')).toMatchObject({
      coordinators: [{ key: 'a', nodeId: -1, port: -1, errorCode: code, errorMessage: 'no' }],
    });
    expect(codecs.findCoordinator.errorResponse({ key: 'g', keyType: 0, coordinatorKeys: [] }, 3, code)).toMatchObject({
      errorCode: code,
      nodeId: -1,
      port: -1,
    });

    const deleteTopics = { topics: [{ name: null, topicId: 'id' }], topicNames: ['n'], timeoutMs: 0 };
    expect(codecs.deleteTopics.errorResponse(deleteTopics, 6, code).responses).toEqual([
      { name: null, topicId: 'id', errorCode: code, errorMessage: null },
      { name: 'n', errorCode: code, errorMessage: null },
    ]);

    const join = { memberId: 'm' } as never;
    expect(codecs.joinGroup.errorResponse(join, 7, code)).toEqual({ errorCode: code, protocolName: null });
    expect(codecs.joinGroup.errorResponse(join, 6, code)).toEqual({ errorCode: code, protocolName: '' });
    expect(codecs.initProducerId.errorResponse({} as never, 4, code)).toEqual({ errorCode: code, producerId: -1, producerEpoch: -1 });
    // Metadata's top-level error (v13) is for REBOOTSTRAP_REQUIRED: Kafka leaves it NONE.
    expect(codecs.metadata.errorResponse({ topics: null } as never, 13, code)).toEqual({ topics: [], errorCode: KafkaErrors.NONE });
    // LeaveGroup: the top-level error, no member answers.
    expect(codecs.leaveGroup.errorResponse({ groupId: 'g', memberId: '', members: [{ memberId: 'm' }] } as never, 5, code)).toEqual({
      errorCode: code,
    });
  });
});

describe('kafka > server > a request that fails as a whole', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  /** A listener whose only handler is `handler`; sends one frame and resolves with the answer's body, or 'closed'. */
  async function ask(handler: ApiHandler<unknown, unknown>, request: Buffer): Promise<Buffer | 'closed'> {
    const server = new KafkaServer({ handlers: [handler], logger: silentLogger });
    const address = await server.listen('127.0.0.1', 0);
    cleanup.push(() => server.close(100));
    const socket = connect({ host: '127.0.0.1', port: address.port });
    cleanup.push(async () => void socket.destroy());
    return new Promise((resolve) => {
      let received = Buffer.alloc(0);
      socket.on('data', (data) => {
        received = Buffer.concat([received, data]);
        if (received.length >= 4 && received.length >= 4 + received.readInt32BE(0))
          resolve(received.subarray(8, 4 + received.readInt32BE(0)));
      });
      socket.once('close', () => resolve('closed'));
      socket.write(request);
    });
  }

  const failing = <Request, Response>(codec: ApiHandler<Request, Response>['codec'], extra: Partial<ApiHandler<Request, Response>> = {}) =>
    ({
      codec,
      ...extra,
      async handle() {
        throw new Error('internal detail that must not reach the client');
      },
    }) as ApiHandler<unknown, unknown>;

  it('answers an unexpected failure with UNKNOWN_SERVER_ERROR in every partition and no message, as Kafka', async () => {
    const body = new KafkaWriter(false);
    const pair = ListOffsets;
    pair.encodeRequest(body, 5, { topics: [{ name: 'orders', partitions: [{ partitionIndex: 0 }, { partitionIndex: 4 }] }] });
    const answer = await ask(failing(codecs.listOffsets), frame(2, 5, 1, Buffer.concat(body.finish())));
    expect(answer).not.toBe('closed');
    const response = pair.decodeResponse(new KafkaReader(answer as Buffer, false, 'response'), 5);
    expect(response.topics).toMatchObject([
      {
        name: 'orders',
        partitions: [
          { partitionIndex: 0, errorCode: KafkaErrors.UNKNOWN_SERVER_ERROR, offset: -1 },
          { partitionIndex: 4, errorCode: KafkaErrors.UNKNOWN_SERVER_ERROR, offset: -1 },
        ],
      },
    ]);
  });

  it('answers a Metadata failure instead of closing the connection, and closes one for a refused Produce with acks=0', async () => {
    const metadata = Metadata;
    const body = new KafkaWriter(false);
    metadata.encodeRequest(body, 4, { topics: [{ name: 'orders' }] });
    const answer = await ask(failing(codecs.metadata), frame(3, 4, 1, Buffer.concat(body.finish())));
    expect(answer).not.toBe('closed');
    expect(metadata.decodeResponse(new KafkaReader(answer as Buffer, false, 'response'), 4).topics).toMatchObject([
      { name: 'orders', errorCode: KafkaErrors.UNKNOWN_SERVER_ERROR, partitions: [] },
    ]);

    const produce = Produce;
    const produceBody = new KafkaWriter(false);
    produce.encodeRequest(produceBody, 7, {
      acks: 0,
      topicData: [{ name: 'orders', partitionData: [{ index: 0, records: Buffer.alloc(0) }] }],
    });
    const answersNothing = (request: { acks: number }) => request.acks === 0;
    const silent = failing(codecs.produce, { answersNothing } as never);
    expect(await ask(silent, frame(0, 7, 1, Buffer.concat(produceBody.finish())))).toBe('closed');
    // So does a refusal answered by the handler itself (a transactional produce, as Kafka's broker refuses it).
    const refusing = {
      codec: codecs.produce,
      answersNothing,
      handle: async (request: never) => codecs.produce.errorResponse(request, 7, KafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
    } as unknown as ApiHandler<unknown, unknown>;
    expect(await ask(refusing, frame(0, 7, 2, Buffer.concat(produceBody.finish())))).toBe('closed');
  });
});
