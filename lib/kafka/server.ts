/**
 * The Kafka listener: TCP framing, request headers, dispatch to the API handlers, and answers in
 * request order.
 *
 *   Request  => Size:INT32 RequestHeader Body
 *   RequestHeader v1 => request_api_key:INT16 request_api_version:INT16 correlation_id:INT32 client_id:NULLABLE_STRING
 *   RequestHeader v2 => v1 TAG_BUFFER                         (flexible API versions; client_id stays classic)
 *   Response => Size:INT32 correlation_id:INT32 [TAG_BUFFER when flexible, except ApiVersions] Body
 *
 * Invariants:
 * - Answers leave in the order requests came, whatever order they complete in.
 * - Requests are handed to their handlers one at a time, in order; a handler returns once it has
 *   accepted the request, or taken it on in an order of its own (Produce keeps each partition's
 *   batches in the order the connection sent them), and only completion overlaps.
 * - Input never crashes the server. A frame that cannot be parsed (truncated, a hostile length, an
 *   unknown API key or version) closes that connection: it cannot be answered, because the answer's
 *   layout depends on what could not be read. An oversized frame closes the connection before it is
 *   buffered. A request that parses but fails (its handler throws, or its version is advertised but
 *   not carried out) is answered as Kafka does, with the API's error response (ApiCodec.errorResponse:
 *   the error in every topic, partition, group or resource it names), UNKNOWN_SERVER_ERROR with no
 *   message for an unexpected failure; a request the client expects no answer to closes the connection.
 * - Before SASL authentication completes on a listener that requires it, only the handlers marked
 *   `beforeAuthentication` (ApiVersions, SaslHandshake, SaslAuthenticate) are served, and a frame
 *   over 512 KiB (Kafka's sasl.server.max.receive.size) closes the connection before it is read.
 * - Memory is bounded across connections: a frame's declared size is reserved from
 *   `maxBufferedBytes` before its bytes are read, and released once its request is answered (or
 *   the connection closes). A connection whose next frame does not fit waits, unread (back-pressure,
 *   as Kafka's queued.max.request.bytes), while the frames already reserved finish; so however many
 *   clients declare large frames, the listener holds at most about `maxBufferedBytes` of them.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.js';
import { noMetrics, type Metrics } from '../metrics.js';
import { isLater, type ApiHandler, type Principal, type RequestContext, type SaslConnection } from './api.js';
import { KafkaErrors, kafkaErrorFor } from './errors.js';
import { ApiVersions, type ApiVersion } from './protocol/messages/api-versions.js';
import { KafkaReader, KafkaWriter } from './wire.js';

export interface KafkaServerOptions {
  readonly handlers: readonly ApiHandler<unknown, unknown>[];
  readonly logger: Logger;
  /** Largest request frame accepted; a larger one closes the connection. @default 100 MiB (Kafka's socket.request.max.bytes) */
  readonly maxRequestBytes?: number;
  /** Requests a connection may have in flight before the server stops reading from it. @default 64 */
  readonly maxInflightPerConnection?: number;
  /** Bytes of request frames held at once across all connections, being read or in flight. @default 256 MiB */
  readonly maxBufferedBytes?: number;
  /** Required SASL authentication; absent: the listener is open. */
  readonly sasl?: SaslOptions;
  /** Requests, latency and errors per API (dimension Route = "Kafka <API>"), as the HTTP API's per route. @default none */
  readonly metrics?: Metrics;
}

export interface SaslOptions {
  readonly mechanisms: readonly string[];
  /** Checks a client's token for a mechanism; a principal on success, undefined on failure. */
  authenticate(mechanism: string, token: Buffer): Promise<Principal | undefined>;
}

/** A request refused whole by the server itself, before its handler: answered with the API's error response. */
class RefusedWhole {
  constructor(
    readonly code: number,
    readonly message: string,
  ) {}
}

/** A handler's answer when the protocol sends none (Produce with acks=0). */
export const noResponse: unique symbol = Symbol('no response');

/** Largest frame read before authentication (Kafka's sasl.server.max.receive.size). */
export const maxUnauthenticatedFrameBytes = 512 * 1024;

export class KafkaServer {
  private readonly handlers = new Map<number, ApiHandler<unknown, unknown>>();
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private readonly maxRequestBytes: number;
  readonly maxInflight: number;
  readonly versions: ApiVersion[];
  private readonly maxBufferedBytes: number;
  /** Bytes reserved for frames being read or in flight, across connections. */
  private reservedBytes = 0;
  /** Connections waiting for reserved bytes to be released, in the order they asked. */
  private readonly waitingForMemory = new Set<Connection>();

  constructor(readonly options: KafkaServerOptions) {
    for (const handler of options.handlers) this.handlers.set(handler.codec.key, handler);
    this.maxRequestBytes = options.maxRequestBytes ?? 100 * 1024 * 1024;
    this.maxInflight = options.maxInflightPerConnection ?? 64;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 256 * 1024 * 1024;
    this.versions = [...this.handlers.values()]
      .map(({ codec }) => ({ apiKey: codec.key, minVersion: codec.minVersion, maxVersion: codec.maxVersion }))
      .sort((a, b) => a.apiKey - b.apiKey);
    this.server = createServer((socket) => {
      const connection = new Connection(this, socket, this.maxRequestBytes);
      this.connections.add(connection);
      socket.once('close', () => this.connections.delete(connection));
    });
  }

  handler(apiKey: number): ApiHandler<unknown, unknown> | undefined {
    return this.handlers.get(apiKey);
  }

  /** Bytes reserved for frames now, across connections (for tests and metrics). */
  get bufferedBytes(): number {
    return this.reservedBytes;
  }

  /**
   * Reserves room for a frame of `bytes`; false (the connection then waits for `memoryFreed`) when it
   * does not fit, or when connections that asked earlier still wait (first come, first served, so a
   * large frame is not passed over by small ones forever). A frame larger than the whole budget is let
   * through alone, or it could never be.
   */
  reserve(connection: Connection, bytes: number): boolean {
    const first = this.waitingForMemory.values().next().value;
    const queued = first !== undefined && first !== connection;
    if (queued || (this.reservedBytes > 0 && this.reservedBytes + bytes > this.maxBufferedBytes)) {
      this.waitingForMemory.add(connection);
      return false;
    }
    this.waitingForMemory.delete(connection);
    this.reservedBytes += bytes;
    return true;
  }

  release(bytes: number): void {
    if (bytes === 0) return;
    this.reservedBytes -= bytes;
    this.wakeWaiting();
  }

  /** A closed connection stops waiting; those queued behind it may go on. */
  forget(connection: Connection): void {
    if (this.waitingForMemory.delete(connection)) this.wakeWaiting();
  }

  private wakeWaiting(): void {
    for (const connection of [...this.waitingForMemory]) connection.memoryFreed();
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  /** Stops accepting; connections end once their requests in flight are answered (or after `graceMs`). */
  async close(graceMs = 5000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const connection of this.connections) connection.drain();
    // Not unref'd: it keeps the process alive until connections are gone, so shutdown can go on to
    // flush, commit and release leases (a paused socket alone does not hold the event loop).
    const cut = setTimeout(() => {
      for (const connection of this.connections) connection.destroy();
    }, graceMs);
    await closed;
    clearTimeout(cut);
  }
}

interface Header {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
}

class Connection {
  private readonly chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private processing = false;
  private inflight = 0;
  private draining = false;
  /** Answers in request order; each resolves to the bytes to write, or null to close. */
  private tail: Promise<void> = Promise.resolve();
  private principal: Principal | undefined;
  /** Set by a SaslHandshake v0: the next frame is a raw token for this mechanism, not a request. */
  private rawSaslMechanism: string | undefined;
  /** Set by SaslHandshake v1: SaslAuthenticate carries the token. */
  saslMechanism: string | undefined;
  private readonly abort = new AbortController();
  /** Set when SASL authentication failed: the connection closes once that answer is written. */
  private authenticationFailed = false;
  /** Bytes reserved for the frame being read (its declared size), 0 before its size is known. */
  private reserved = 0;
  /** The reservation of the frame being accepted, until its request takes it (enqueue) or it is released. */
  private accepting = 0;
  /** Waiting for the server to release reserved bytes before reading the next frame. */
  private waitingForMemory = false;
  /** The connection's SASL state, as requests see it. */
  private readonly sasl: SaslConnection;

  constructor(
    private readonly server: KafkaServer,
    private readonly socket: Socket,
    private readonly maxRequestBytes: number,
  ) {
    this.sasl = this.saslState();
    socket.setNoDelay(true);
    socket.on('data', (data) => this.receive(data));
    socket.on('error', () => this.destroy());
    socket.once('close', () => {
      this.abort.abort();
      this.server.forget(this);
      this.server.release(this.reserved);
      this.reserved = 0;
    });
  }

  /** The server released reserved bytes: try the frame that did not fit again. */
  memoryFreed(): void {
    if (!this.waitingForMemory) return;
    this.waitingForMemory = false;
    this.flow();
    if (!this.processing) void this.process();
  }

  get authenticated(): boolean {
    return this.server.options.sasl === undefined || this.principal !== undefined;
  }

  /** Ends the connection once what is in flight has been answered. */
  drain(): void {
    this.draining = true;
    // Long-polls end now and answer with what they have.
    this.abort.abort();
    this.socket.pause();
    void this.tail.then(() => this.socket.end());
  }

  destroy(): void {
    this.socket.destroy();
  }

  private receive(data: Buffer): void {
    this.chunks.push(data);
    this.bufferedBytes += data.length;
    this.flow();
    if (!this.processing) void this.process();
  }

  /**
   * Reads from the socket only while this connection is within bounds: fewer answers pending than
   * the limit, and no more than one largest frame buffered unparsed (a client pipelining large
   * requests cannot make the agent hold more than that per connection).
   */
  private flow(): void {
    if (this.draining || this.socket.destroyed) return;
    const full = this.inflight >= this.server.maxInflight || this.bufferedBytes > this.maxRequestBytes + 4 || this.waitingForMemory;
    if (full && !this.socket.isPaused()) this.socket.pause();
    else if (!full && this.socket.isPaused()) this.socket.resume();
  }

  /** Takes whole frames off the input, one at a time, accepting each before reading the next. */
  private async process(): Promise<void> {
    this.processing = true;
    try {
      for (;;) {
        if (this.draining || this.socket.destroyed) return;
        const frame = this.nextFrame();
        if (frame === undefined) return;
        if (frame === null) return this.destroy();
        this.accepting = this.reserved;
        this.reserved = 0;
        try {
          await this.accept(frame);
        } finally {
          // A request that was not enqueued (refused, unparsable, a raw SASL token) holds no bytes now.
          this.server.release(this.accepting);
          this.accepting = 0;
        }
        this.flow();
        // Enough answers pending: parse nothing more until some are written (queueWrite resumes).
        if (this.inflight >= this.server.maxInflight) return;
      }
    } finally {
      this.processing = false;
    }
  }

  /** The next whole frame; undefined if more bytes are needed; null if the frame is refused (too large or negative). */
  private nextFrame(): Buffer | null | undefined {
    if (this.bufferedBytes < 4) return undefined;
    if (this.chunks[0]!.length < 4) this.merge();
    const size = this.chunks[0]!.readInt32BE(0);
    const maxBytes = this.authenticated ? this.maxRequestBytes : Math.min(this.maxRequestBytes, maxUnauthenticatedFrameBytes);
    if (size < 0 || size > maxBytes) {
      this.log('debug', 'kafka frame refused', { size_bytes: size, max_request_bytes: maxBytes, authenticated: this.authenticated });
      return null;
    }
    if (this.reserved === 0) {
      if (!this.server.reserve(this, 4 + size)) {
        this.waitingForMemory = true;
        this.flow();
        return undefined;
      }
      this.reserved = 4 + size;
    }
    if (this.bufferedBytes < 4 + size) return undefined;
    if (this.chunks[0]!.length < 4 + size) this.merge();
    const first = this.chunks[0]!;
    const frame = first.subarray(4, 4 + size);
    if (first.length === 4 + size) this.chunks.shift();
    else this.chunks[0] = first.subarray(4 + size);
    this.bufferedBytes -= 4 + size;
    return frame;
  }

  private merge(): void {
    const whole = Buffer.concat(this.chunks, this.bufferedBytes);
    this.chunks.length = 0;
    this.chunks.push(whole);
  }

  private async accept(frame: Buffer): Promise<void> {
    if (this.rawSaslMechanism !== undefined) return this.rawSaslToken(frame);
    const startedMs = performance.now();
    let header: Header;
    let reader: KafkaReader;
    let handler: ApiHandler<unknown, unknown> | undefined;
    let request: unknown;
    try {
      const classic = new KafkaReader(frame, false, 'request header');
      const apiKey = classic.int16('request_api_key');
      const apiVersion = classic.int16('request_api_version');
      const correlationId = classic.int32('correlation_id');
      const clientId = classic.nullableString('client_id');
      header = { apiKey, apiVersion, correlationId, clientId };
      handler = this.server.handler(apiKey);
      if (handler === undefined) return this.refuse(header, `unknown API key ${apiKey}`);
      const { codec } = handler;
      if (apiVersion < codec.minVersion || apiVersion > codec.maxVersion) {
        if (apiKey === ApiVersions.apiKey) return this.respondUnsupportedApiVersions(header);
        return this.refuse(header, `${codec.name} version ${apiVersion} is outside [${codec.minVersion}, ${codec.maxVersion}]`);
      }
      if (!this.authenticated && !handler.beforeAuthentication) return this.refuse(header, `${codec.name} before SASL authentication`);
      const flexible = codec.flexibleFrom !== undefined && apiVersion >= codec.flexibleFrom;
      reader = new KafkaReader(frame, flexible, `${codec.name} v${apiVersion} request`);
      reader.bytes.pos = classic.bytes.pos;
      reader.taggedFields('request header tagged fields');
      request = codec.decodeRequest(reader, apiVersion);
    } catch (error) {
      this.log('debug', 'kafka request could not be parsed', { message: error instanceof Error ? error.message : String(error) });
      return this.closeAfterAnswers();
    }
    const context: RequestContext = {
      apiVersion: header.apiVersion,
      clientId: header.clientId,
      clientHost: this.socket.remoteAddress ?? '',
      principal: this.principal,
      signal: this.abort.signal,
      connection: this,
      sasl: this.sasl,
    };
    let answer: Promise<unknown>;
    if (handler.codec.handledFrom !== undefined && header.apiVersion < handler.codec.handledFrom) {
      answer = Promise.reject(
        new RefusedWhole(KafkaErrors.UNSUPPORTED_VERSION, `${handler.codec.name} v${header.apiVersion} is advertised, not served`),
      );
    } else {
      try {
        const handled = await handler.handle(request, context);
        answer = isLater(handled) ? handled.later : Promise.resolve(handled);
      } catch (error) {
        answer = Promise.reject(error);
      }
    }
    this.enqueue(header, handler, request, answer, startedMs);
    if (this.authenticationFailed) {
      this.log('info', 'kafka SASL authentication failed', { mechanism: this.saslMechanism });
      this.closeAfterAnswers();
    }
  }

  /** What the SASL handlers may do to this connection (RequestContext.sasl). */
  private saslState(): SaslConnection {
    const options = this.server.options.sasl;
    return {
      mechanisms: options?.mechanisms ?? [],
      mechanism: () => this.saslMechanism,
      handshake: (mechanism, version) => {
        if (version === 0) this.rawSaslMechanism = mechanism;
        else this.saslMechanism = mechanism;
      },
      authenticate: async (token) => {
        const mechanism = this.saslMechanism;
        if (options === undefined || mechanism === undefined) return undefined;
        const principal = await options.authenticate(mechanism, token);
        if (principal) this.principal = principal;
        else this.authenticationFailed = true;
        return principal;
      },
    };
  }

  /** SaslHandshake v0: the token comes as a bare frame, answered by a bare frame (empty on success). */
  private async rawSaslToken(token: Buffer): Promise<void> {
    const mechanism = this.rawSaslMechanism!;
    this.rawSaslMechanism = undefined;
    const principal = await this.server.options.sasl?.authenticate(mechanism, token);
    if (!principal) {
      this.log('info', 'kafka SASL authentication failed', { mechanism });
      return this.closeAfterAnswers();
    }
    this.principal = principal;
    const size = Buffer.alloc(4);
    this.queueWrite(Promise.resolve([size]));
  }

  private enqueue(
    header: Header,
    handler: ApiHandler<unknown, unknown>,
    request: unknown,
    answer: Promise<unknown>,
    startedMs: number,
  ): void {
    // The request holds its frame (its batches are views of it) until it is answered.
    const reservation = this.accepting;
    this.accepting = 0;
    void answer.then(
      () => this.server.release(reservation),
      () => this.server.release(reservation),
    );
    let failed = false;
    const bytes = answer.then(
      // An answer to a request the client reads none of is a refusal: as Kafka, the connection closes.
      (response) => (response !== noResponse && handler.answersNothing?.(request) ? null : this.encode(header, handler, response)),
      (error: unknown) => {
        const code = error instanceof RefusedWhole ? { ...error, unexpected: false } : kafkaErrorFor(error);
        failed = code.unexpected;
        if (code.unexpected)
          this.log('error', 'kafka request failed', {
            api: handler.codec.name,
            message: error instanceof Error ? error.message : String(error),
          });
        // As Kafka (RequestHandlerHelper.handleError): the API's error response, or, when the client
        // reads no answer (Produce acks=0), a closed connection. An internal error's words stay here.
        if (handler.answersNothing?.(request)) return null;
        const response = handler.codec.errorResponse(request, header.apiVersion, code.code, code.unexpected ? null : code.message);
        return this.encode(header, handler, response);
      },
    );
    void bytes.then((chunks) =>
      (this.server.options.metrics ?? noMetrics).emit(
        {
          Requests: [1, 'Count'],
          Latency: [performance.now() - startedMs, 'Milliseconds'],
          Errors: [failed || chunks === null ? 1 : 0, 'Count'],
          ResponseBytes: [chunks?.reduce((sum, chunk) => sum + chunk.length, 0) ?? 0, 'Bytes'],
        },
        { Route: `Kafka ${handler.codec.name}` },
      ),
    );
    this.queueWrite(bytes);
  }

  private encode(header: Header, handler: ApiHandler<unknown, unknown>, response: unknown): Buffer[] | null {
    if (response === noResponse) return [];
    try {
      const { codec } = handler;
      const flexible = codec.flexibleFrom !== undefined && header.apiVersion >= codec.flexibleFrom;
      const writer = new KafkaWriter(flexible);
      writer.int32(0).int32(header.correlationId);
      // ApiVersions answers with header v0 even when flexible.
      if (flexible && codec.key !== ApiVersions.apiKey) writer.taggedFields();
      codec.encodeResponse(writer, header.apiVersion, response);
      const chunks = writer.finish();
      chunks[0]!.writeInt32BE(writer.sizeBytes - 4, 0);
      return chunks;
    } catch (error) {
      this.log('error', 'kafka response could not be encoded', {
        api: handler.codec.name,
        message: error instanceof Error ? error.message : String(error),
      });
      return null;
    }
  }

  private queueWrite(bytes: Promise<Buffer[] | null>): void {
    this.inflight++;
    this.tail = this.tail.then(async () => {
      const chunks = await bytes;
      this.inflight--;
      if (this.socket.destroyed) return;
      if (chunks === null) return this.destroy();
      this.socket.cork();
      for (const chunk of chunks) this.socket.write(chunk);
      this.socket.uncork();
      if (this.socket.writableNeedDrain) await this.drained();
      this.flow();
      if (!this.draining && !this.processing && this.inflight < this.server.maxInflight) void this.process();
    });
  }

  /** Resolves when the socket's write buffer drains or the socket closes; leaves no listener behind. */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done).off('close', done);
        resolve();
      };
      this.socket.once('drain', done).once('close', done);
    });
  }

  /** ApiVersions in a version we do not speak: the v0 answer, with UNSUPPORTED_VERSION and our ranges. */
  private respondUnsupportedApiVersions(header: Header): void {
    const writer = new KafkaWriter(false);
    writer.int32(0).int32(header.correlationId);
    ApiVersions.encodeResponse(writer, 0, { errorCode: KafkaErrors.UNSUPPORTED_VERSION, apiKeys: this.server.versions });
    const chunks = writer.finish();
    chunks[0]!.writeInt32BE(writer.sizeBytes - 4, 0);
    this.queueWrite(Promise.resolve(chunks));
  }

  private refuse(header: Header, reason: string): void {
    this.log('debug', 'kafka request refused; closing the connection', {
      reason,
      api_key: header.apiKey,
      api_version: header.apiVersion,
      client_id: header.clientId,
    });
    this.closeAfterAnswers();
  }

  private closeAfterAnswers(): void {
    this.draining = true;
    this.queueWrite(Promise.resolve(null));
  }

  private log(level: 'debug' | 'info' | 'error', message: string, fields: Record<string, unknown>): void {
    this.server.options.logger.log(level, message, { remote: `${this.socket.remoteAddress}:${this.socket.remotePort}`, ...fields });
  }
}
