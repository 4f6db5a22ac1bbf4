/**
 * The console's one way to the HTTP API: same origin, the API key (if the user signed in with one) as
 * a bearer token. The key lives in sessionStorage: it is gone when the tab closes, and it is never a
 * cookie, so no other site can make the browser send it. Every failure is an ApiError with the API's
 * stable code and message (or the HTTP status when the answer has none).
 */

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

export async function api<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = apiKey();
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return undefined as T;
  const answer = (await response.json().catch(() => undefined)) as { error?: { code: string; message: string } } | undefined;
  if (!response.ok) {
    throw new ApiError(response.status, answer?.error?.code ?? `HTTP_${response.status}`, answer?.error?.message ?? response.statusText);
  }
  return answer as T;
}

export const path = (strings: TemplateStringsArray, ...names: readonly (string | number)[]) =>
  strings.reduce((out, part, i) => out + part + (i < names.length ? encodeURIComponent(String(names[i])) : ''), '');

export interface TopicSummary {
  readonly name: string;
  readonly partitions: number;
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
  readonly kind?: string;
  readonly state: string;
  readonly generation: number;
  readonly members: readonly {
    readonly member_id: string;
    readonly topics: readonly string[];
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
