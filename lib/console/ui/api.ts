/**
 * The console's one way to the HTTP API: same origin, the API key (if the user signed in with one) as
 * a bearer token. The key lives in sessionStorage: it is gone when the tab closes, and it is never a
 * cookie, so no other site can make the browser send it. Every failure is an ApiError with the API's
 * stable code and message (or the HTTP status when the answer has none).
 */

import { parseSse } from './sse.js';

const keyItem = 'spool.apiKey';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function apiKey(): string | null {
  return sessionStorage.getItem(keyItem);
}

export function setApiKey(key: string | null): void {
  if (key === null || key === '') sessionStorage.removeItem(keyItem);
  else sessionStorage.setItem(keyItem, key);
}

export async function api<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = apiKey();
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  if (response.status === 204) return undefined as T;
  if (!response.ok) throw await failureOf(response);
  return (await response.json().catch(() => undefined)) as T;
}

/** A failed answer as an ApiError: the API's stable code and message, or the HTTP status when the body holds none. */
async function failureOf(response: Response): Promise<ApiError> {
  const answer = (await response.json().catch(() => undefined)) as { error?: { code: string; message: string } } | undefined;
  return new ApiError(response.status, answer?.error?.code ?? `HTTP_${response.status}`, answer?.error?.message ?? response.statusText);
}

export const path = (strings: TemplateStringsArray, ...names: readonly (string | number)[]) =>
  strings.reduce((out, part, i) => out + part + (i < names.length ? encodeURIComponent(String(names[i])) : ''), '');

export interface TopicSummary {
  readonly name: string;
  readonly partitions: number;
  readonly config: Readonly<Record<string, unknown>>;
  /** As of the last maintenance pass; null: not counted yet. */
  readonly stored_bytes: number | null;
}

export interface TopicDescription {
  readonly name: string;
  readonly partitions: readonly { readonly partition: number; readonly earliest_offset: number; readonly high_watermark: number }[];
  readonly config: Readonly<Record<string, unknown>>;
}

export interface FetchedRecord {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string | null>>;
}

export interface GroupSummary {
  readonly group: string;
  readonly state: string;
  readonly generation: number;
  readonly members: number;
}

export interface GroupDescription {
  readonly group: string;
  readonly kind: 'http' | 'kafka';
  readonly protocol: 'http' | 'classic' | 'consumer';
  readonly assignor: string | null;
  readonly state: string;
  readonly generation: number;
  readonly members: readonly {
    readonly member_id: string;
    readonly topics: readonly string[];
    readonly assignments: readonly { readonly topic: string; readonly partition: number }[];
    readonly last_heartbeat_ms: number | null;
  }[];
  readonly partitions: readonly {
    readonly topic: string;
    readonly partition: number;
    readonly committed_offset: number | null;
    readonly high_watermark: number;
    readonly lag: number | null;
    readonly member_id: string | null;
  }[];
}

/**
 * A partition's records from `offset` on, as they arrive: the API's server-sent-event stream (on the
 * agent), or long-polls where the deployment buffers responses (Lambda answers NOT_ACCEPTABLE). Ends
 * when `signal` aborts, or when the server ends the stream (it is shutting down); a failure is thrown
 * as an ApiError.
 */
export async function* tailRecords(recordsPath: string, offset: number, signal: AbortSignal): AsyncGenerator<FetchedRecord> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  const key = apiKey();
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${recordsPath}?offset=${offset}&encoding=base64`, { headers, signal });
  if (response.status === 406) {
    await response.body?.cancel();
    yield* pollRecords(recordsPath, offset, signal);
    return;
  }
  if (!response.ok || response.body === null) throw await failureOf(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) return;
      const parsed = parseSse(buffer + value);
      buffer = parsed.rest;
      for (const event of parsed.events) {
        if (event.event === 'record') yield JSON.parse(event.data) as FetchedRecord;
        else if (event.event === 'error') {
          const { error } = JSON.parse(event.data) as { error: { code: string; message: string } };
          throw new ApiError(200, error.code, error.message);
        }
      }
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

async function* pollRecords(recordsPath: string, from: number, signal: AbortSignal): AsyncGenerator<FetchedRecord> {
  let offset = from;
  while (!signal.aborted) {
    const { records } = await api<{ records: FetchedRecord[] }>(
      'GET',
      `${recordsPath}?offset=${offset}&wait_ms=10000&encoding=base64`,
      undefined,
      signal,
    );
    for (const record of records) {
      yield record;
      offset = record.offset + 1;
    }
  }
}

export interface TopicActivity {
  readonly from_ms: number;
  readonly step_ms: number;
  readonly records: readonly number[];
  readonly bytes: readonly number[];
  readonly partitions: number;
  readonly partitions_read: number;
}

export interface ClusterStatus {
  readonly writer_id: string;
  readonly now_ms: number;
  readonly agents: readonly {
    readonly node_id: number;
    readonly host: string;
    readonly port: number;
    readonly rack: string | null;
    readonly writer_id: string;
    readonly registration_expires_ms: number;
    readonly live: boolean;
    readonly partitions_led: number;
  }[];
  readonly leadership: {
    readonly partitions: number;
    readonly partitions_read: number;
    readonly by_writer: Readonly<Record<string, number>>;
    readonly without_leader: number;
    readonly packed: number;
  };
  readonly maintenance: {
    readonly ended_ms: number;
    readonly result: Readonly<Record<string, number>>;
    readonly topic_bytes: Readonly<Record<string, number>>;
    readonly topics_omitted: number;
  } | null;
  readonly cost_last_hour: {
    readonly window_seconds: number;
    readonly requests: Readonly<Record<string, number>>;
    readonly s3_usd: number;
    readonly dynamodb_usd: number;
    readonly total_usd: number;
  } | null;
}
