/**
 * A raw Kafka connection for tests: requests are encoded and responses decoded by kafkajs's own
 * protocol modules (an independent implementation of the same grammar), so every codec of the
 * server is checked against someone else's reading of the protocol, byte for byte. Versions kafkajs
 * does not speak go through the generated codecs (`callGenerated`), themselves checked byte for
 * byte against Kafka's Java classes (test/kafka/protocol).
 */
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import type { Encodable, MessagePair } from '../../../lib/kafka/protocol/runtime.js';
import { KafkaReader, KafkaWriter } from '../../../lib/kafka/wire.js';

const require = createRequire(import.meta.url);
const requests = require('kafkajs/src/protocol/requests/index.js') as {
  requests: Record<string, { protocol: (options: { version: number }) => (args?: any) => KafkajsRequest }>;
};
const encodeRequest = require('kafkajs/src/protocol/request.js') as (args: {
  correlationId: number;
  clientId: string;
  request: KafkajsRequest['request'];
}) => Promise<{ buffer: Buffer }>;

interface KafkajsRequest {
  request: { apiKey: number; apiVersion: number; encode: () => Promise<unknown> };
  response: { decode: (payload: Buffer) => Promise<any> };
}

export class WireClient {
  private readonly socket: Socket;
  private buffered = Buffer.alloc(0);
  private readonly waiting: { resolve: (frame: Buffer) => void; reject: (error: Error) => void }[] = [];
  private correlationId = 0;
  closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (data) => {
      this.buffered = Buffer.concat([this.buffered, data]);
      while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
        const size = this.buffered.readInt32BE(0);
        const frame = this.buffered.subarray(4, 4 + size);
        this.buffered = this.buffered.subarray(4 + size);
        this.waiting.shift()?.resolve(frame);
      }
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        for (const waiter of this.waiting.splice(0)) waiter.reject(new Error('connection closed'));
        resolve();
      }),
    );
  }

  static async open(bootstrap: string): Promise<WireClient> {
    const [host, port] = splitHostPort(bootstrap);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host, port }, () => resolve(s));
      s.once('error', reject);
    });
    return new WireClient(socket);
  }

  /** Sends one request built by kafkajs (`api` as kafkajs names it) and decodes the answer with kafkajs. */
  async call(api: string, version: number, args: unknown = {}): Promise<any> {
    const { request, response } = requests.requests[api]!.protocol({ version })(args);
    const frame = await this.send(request);
    return response.decode(frame.subarray(4));
  }

  /**
   * Sends one request encoded by a generated codec (lib/kafka/protocol; for versions kafkajs does not
   * speak) and decodes the answer with it: request header v1, or v2 when the version is flexible.
   */
  async callGenerated<Req, Res>(pair: MessagePair<Req, Res>, version: number, request: Encodable<Req>): Promise<Res> {
    const flexible = pair.flexibleFrom !== undefined && version >= pair.flexibleFrom;
    const writer = new KafkaWriter(flexible);
    writer
      .int32(0)
      .int16(pair.apiKey)
      .int16(version)
      .int32(++this.correlationId);
    writer.int16(-1); // client id: always a classic nullable string
    if (flexible) writer.taggedFields();
    pair.encodeRequest(writer, version, request);
    const bytes = Buffer.concat(writer.finish());
    bytes.writeInt32BE(bytes.length - 4, 0);
    const answer = await this.sendRaw(bytes);
    const reader = new KafkaReader(answer, flexible, `${pair.name} v${version} response`);
    reader.int32('correlation_id');
    if (flexible && pair.apiKey !== 18) reader.taggedFields();
    return pair.decodeResponse(reader, version);
  }

  /** Sends a kafkajs request and returns the raw answer frame (correlation id first). */
  async send(request: KafkajsRequest['request']): Promise<Buffer> {
    const encoded = await encodeRequest({ correlationId: ++this.correlationId, clientId: 'spool-test', request });
    return this.sendRaw(encoded.buffer);
  }

  /** Writes bytes as they are and waits for the next answer frame. */
  sendRaw(bytes: Buffer): Promise<Buffer> {
    const answer = new Promise<Buffer>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.socket.write(bytes);
    return answer;
  }

  /** The next answer frame, whatever request it answers. */
  nextAnswer(): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Writes bytes and expects no answer. */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A request built by kafkajs's encoder (`api` as kafkajs names it), to send with `WireClient.send`. */
export function requestFor(api: string, version: number, args: unknown = {}): KafkajsRequest['request'] {
  return requests.requests[api]!.protocol({ version })(args).request;
}

export function splitHostPort(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at).replace(/^\[|\]$/g, ''), Number(address.slice(at + 1))];
}

/** A frame: size, then a request header v1 and `body`. */
export function frame(apiKey: number, apiVersion: number, correlationId: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(10);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(-1, 8);
  const size = Buffer.alloc(4);
  size.writeInt32BE(header.length + body.length);
  return Buffer.concat([size, header, body]);
}
