/**
 * What one Kafka API is to the server: a codec (pure: bytes ⇄ objects, per version) and a handler
 * (the broker's behaviour, over the engine). Codecs are the generated message pairs
 * (protocol/messages/<api>.ts, each headed by its grammar) narrowed with `served` in served.ts;
 * handlers are in handlers/*.ts. The server (server.ts) frames, dispatches, and keeps
 * responses in request order per connection.
 */
import type { Encodable, MessagePair } from './protocol/runtime.js';
import type { KafkaReader, KafkaWriter } from './wire.js';

export interface ApiCodec<Request, Response> {
  readonly key: number;
  readonly name: string;
  /** The advertised version range. */
  readonly minVersion: number;
  readonly maxVersion: number;
  /** First flexible (tagged-field) version; absent when no advertised version is flexible. */
  readonly flexibleFrom?: number;
  /**
   * Advertised versions below this one are refused (UNSUPPORTED_VERSION, or the handler's own
   * refusal): advertised because clients probe them to detect features (server.ts), not carried out.
   */
  readonly handledFrom?: number;
  decodeRequest(reader: KafkaReader, version: number): Request;
  encodeResponse(writer: KafkaWriter, version: number, response: Response): void;
  /**
   * The answer to a request refused as a whole, as Kafka's AbstractRequest.getErrorResponse: the
   * error at the top and in every topic, partition, group or resource the request names, each
   * echoing its keys (generated: MessagePair.errorResponse). The one way to answer "this error for
   * every item", for the server (a failed request, an old version) and for handlers alike.
   */
  errorResponse(request: Request, version: number, errorCode: number, errorMessage?: string | null): Response;
}

/**
 * A generated message pair (protocol/messages/*.ts) as the server's codec, advertised for
 * `versions` (which ApiVersions answers); handlers answer in the message's Encodable form, so a
 * field they leave out goes out as the schema's default. The pair must have an errorResponse
 * (listed in scripts/kafka-protocol/error-responses.ts): every served API can refuse a request whole.
 */
export function served<Request, Response>(
  pair: MessagePair<Request, Response>,
  versions: { readonly min: number; readonly max: number; readonly handledFrom?: number },
): ApiCodec<Request, Encodable<Response>> {
  const { handledFrom = versions.min } = versions;
  const { errorResponse } = pair;
  if (errorResponse === undefined)
    throw new Error(`${pair.name} has no errorResponse; list it in scripts/kafka-protocol/error-responses.ts and regenerate`);
  if (versions.min < pair.minVersion || versions.max > pair.maxVersion || handledFrom < versions.min || handledFrom > versions.max) {
    throw new Error(
      `${pair.name} versions ${versions.min}-${versions.max} are outside the generated ${pair.minVersion}-${pair.maxVersion}`,
    );
  }
  return {
    key: pair.apiKey,
    name: pair.name,
    minVersion: versions.min,
    maxVersion: versions.max,
    handledFrom: handledFrom > versions.min ? handledFrom : undefined,
    flexibleFrom: pair.flexibleFrom !== undefined && pair.flexibleFrom <= versions.max ? pair.flexibleFrom : undefined,
    decodeRequest: (reader, version) => pair.decodeRequest(reader, version),
    encodeResponse: (writer, version, response) => pair.encodeResponse(writer, version, response),
    errorResponse,
  };
}

/** Who is on the other end of a connection, as far as the request is concerned. */
export interface RequestContext {
  readonly apiVersion: number;
  readonly clientId: string | null;
  /** The client's address, as the connection sees it. */
  readonly clientHost: string;
  /** The authenticated principal (SASL), or undefined on an open listener. */
  readonly principal: Principal | undefined;
  /** Aborted when the connection closes or the server shuts down. */
  readonly signal: AbortSignal;
  /** The same object for every request of one connection: the key of a handler's per-connection state (in a WeakMap). */
  readonly connection: object;
  /** The connection's SASL state: what SaslHandshake and SaslAuthenticate change. */
  readonly sasl: SaslConnection;
}

/** A connection's SASL state, as the SASL handlers see and change it. */
export interface SaslConnection {
  /** The listener's mechanisms; none on a listener without SASL. */
  readonly mechanisms: readonly string[];
  /** The mechanism a SaslHandshake v1 chose, which SaslAuthenticate then uses. */
  mechanism(): string | undefined;
  /** Chooses the mechanism; after a v0 handshake the next frame is a bare token (server.ts reads it). */
  handshake(mechanism: string, version: number): void;
  /** Checks the token for the handshake's mechanism; the principal on success (else the connection closes once answered). */
  authenticate(token: Buffer): Promise<Principal | undefined>;
}

export interface Principal {
  readonly name: string;
  /** Whether the principal may do `action` on `topic` (or cluster-wide when topic is undefined). */
  allows(action: 'read' | 'write' | 'admin', topic?: string): boolean;
  /** Whether the principal may do `action` on the consumer group `group` (Kafka's group ACLs). */
  allowsGroup(action: 'read' | 'describe' | 'delete', group: string): boolean;
}

/**
 * A handler answers at once, or (for requests whose answer waits on a commit or a long-poll)
 * returns `{ later }` once the request has been *accepted*. The connection then starts on the next
 * request while this one completes, and writes answers in request order. A handler may also return
 * `later` before its work is accepted, keeping its own order per connection (`connection`), as
 * Produce does per partition.
 */
export type Handled<Response> = Response | { readonly later: Promise<Response> };

export interface ApiHandler<Request, Response> {
  readonly codec: ApiCodec<Request, Response>;
  /** Served before SASL authentication completes, on a listener that requires it (ApiVersions and SASL itself). */
  readonly beforeAuthentication?: boolean;
  handle(request: Request, context: RequestContext): Promise<Handled<Response>>;
  /**
   * Whether the client reads no answer to this request (Produce with acks=0). The handler then
   * answers `noResponse`; a request of this kind that fails or is refused as a whole closes the
   * connection instead, as in Kafka: it is the only way the client learns of it.
   */
  answersNothing?(request: Request): boolean;
}

export function later<Response>(promise: Promise<Response>): { readonly later: Promise<Response> } {
  return { later: promise };
}

export function isLater<Response>(handled: Handled<Response>): handled is { readonly later: Promise<Response> } {
  return typeof handled === 'object' && handled !== null && 'later' in handled && (handled as { later: unknown }).later instanceof Promise;
}
