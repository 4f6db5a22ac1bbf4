/**
 * A small client for Spool's HTTP API, for the `spool` command and for programs. Every non-2xx
 * answer becomes a SpoolError carrying the server's stable code and message; a server that cannot
 * be reached becomes STORAGE_UNAVAILABLE naming the URL.
 */
import { SpoolError, type ErrorCode } from './errors.js';

export interface ClientRecord {
  readonly topic?: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Record<string, string | null>;
}

export interface ProduceJsonRecord {
  readonly key?: string | null;
  readonly value: string | null;
  readonly partition?: number;
  readonly headers?: Record<string, string | null>;
  readonly timestamp?: number;
}

export interface TopicDescription {
  readonly name: string;
  readonly partitions: { partition: number; earliest_offset: number; high_watermark: number }[];
  readonly config: Record<string, number>;
}

export interface Membership {
  readonly member_id: string;
  readonly generation: number;
  readonly assignments: { topic: string; partition: number }[];
  readonly revoking: { topic: string; partition: number }[];
  readonly state: string;
}

export interface QueueRecord extends ClientRecord {
  readonly delivery_count: number;
  readonly receipt: string;
}

export type QueueOutcome = 'accept' | 'release' | 'reject';

export interface QueueAckResult {
  readonly status: 'ok' | 'already_settled' | 'lock_expired' | 'invalid';
  readonly reason?: string;
}

export interface QueueDescription {
  readonly group: string;
  readonly config: Record<string, string | number>;
  readonly partitions: {
    topic: string;
    partition: number;
    start_offset: number;
    end_offset: number;
    log_end_offset: number;
    acquired: number;
    available: number;
    dead: number;
    delayed: number;
  }[];
}

export interface RedriveResult {
  readonly group: string;
  readonly dead_letter_topic: string;
  readonly redrive_group: string;
  readonly moved: number;
  readonly passed_over: { other_group: number; no_value: number; missing_topic: number; malformed: number };
  readonly positions: { partition: number; offset: number; end_offset: number }[];
}

export interface GroupDescription {
  readonly group: string;
  readonly kind: 'http' | 'kafka';
  readonly state: string;
  readonly generation: number;
  readonly assignor: string | null;
  readonly members: {
    member_id: string;
    topics: string[];
    assignments: { topic: string; partition: number }[];
    last_heartbeat_ms: number;
  }[];
  readonly partitions: {
    topic: string;
    partition: number;
    committed_offset: number | null;
    high_watermark: number;
    lag: number | null;
    member_id: string | null;
  }[];
}

type Query = Record<string, string | number | undefined>;

export class SpoolClient {
  constructor(
    readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  async request<T>(
    method: string,
    path: string,
    options: { json?: unknown; body?: string; contentType?: string; query?: Query; signal?: AbortSignal } = {},
  ): Promise<T> {
    const url = new URL(path, this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`);
    for (const [name, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(name, String(value));
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: string | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.body !== undefined) {
      headers['content-type'] = options.contentType ?? 'text/plain';
      body = options.body;
    }
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body, signal: options.signal });
    } catch (cause) {
      if (options.signal?.aborted) throw cause;
      throw new SpoolError(
        'STORAGE_UNAVAILABLE',
        `cannot reach Spool at ${this.baseUrl} (${(cause as Error).cause ?? (cause as Error).message}); is it running? (--url or SPOOL_URL)`,
        { cause },
      );
    }
    const text = await response.text();
    if (!response.ok) {
      let error: { code?: string; message?: string } = {};
      try {
        error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
      } catch {
        // not Spool's JSON: report the status
      }
      throw new SpoolError(
        (error.code as ErrorCode) ?? 'INTERNAL',
        error.message ?? `HTTP ${response.status} from ${method} ${url.pathname}`,
        { details: { status: response.status } },
      );
    }
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  // topics
  createTopic(name: string, partitions?: number, config?: Record<string, number | string | boolean>) {
    return this.request<{ name: string; partitions: number }>('POST', 'v1/topics', { json: { name, partitions, config } });
  }
  listTopics() {
    return this.request<{ topics: { name: string; partitions: number }[] }>('GET', 'v1/topics');
  }
  describeTopic(topic: string) {
    return this.request<TopicDescription>('GET', `v1/topics/${encodeURIComponent(topic)}`);
  }
  alterTopic(topic: string, change: { partitions?: number; config?: Record<string, number | string | boolean> }) {
    return this.request<{ name: string; partitions: number }>('PATCH', `v1/topics/${encodeURIComponent(topic)}`, { json: change });
  }
  deleteTopic(topic: string) {
    return this.request<void>('DELETE', `v1/topics/${encodeURIComponent(topic)}`);
  }

  // records
  produce(topic: string, records: readonly ProduceJsonRecord[], acks: string) {
    return this.request<{ offsets: { partition: number; offset: number }[] }>('POST', `v1/topics/${encodeURIComponent(topic)}/records`, {
      json: { records },
      query: { acks },
    });
  }
  produceLines(topic: string, lines: string, options: { acks: string; keySeparator?: string; partition?: number }) {
    return this.request<{ offsets: { partition: number; offset: number }[] }>('POST', `v1/topics/${encodeURIComponent(topic)}/records`, {
      body: lines,
      contentType: 'text/plain; charset=utf-8',
      query: { acks: options.acks, key_separator: options.keySeparator, partition: options.partition },
    });
  }
  fetch(
    topic: string,
    partition: number,
    query: { offset: string | number; max_records?: number; wait_ms?: number },
    signal?: AbortSignal,
  ) {
    return this.request<{ records: ClientRecord[]; next_offset: number; high_watermark: number }>(
      'GET',
      `v1/topics/${encodeURIComponent(topic)}/partitions/${partition}/records`,
      { query, signal },
    );
  }
  offsetFor(topic: string, partition: number, timestamp: number | 'earliest' | 'latest' | 'max_timestamp') {
    return this.request<{ offset: number | null; timestamp: number | null }>(
      'GET',
      `v1/topics/${encodeURIComponent(topic)}/partitions/${partition}/offsets`,
      { query: { timestamp } },
    );
  }

  // groups
  join(group: string, body: { topics: string[]; auto_offset_reset?: string; member_id?: string }) {
    return this.request<Membership>('POST', `v1/groups/${encodeURIComponent(group)}/members`, { json: body });
  }
  poll(group: string, member: string, query: { max_records?: number; wait_ms?: number }, signal?: AbortSignal) {
    return this.request<{ records: ClientRecord[]; generation: number }>(
      'GET',
      `v1/groups/${encodeURIComponent(group)}/members/${encodeURIComponent(member)}/records`,
      {
        query,
        signal,
      },
    );
  }
  leave(group: string, member: string) {
    return this.request<void>('DELETE', `v1/groups/${encodeURIComponent(group)}/members/${encodeURIComponent(member)}`);
  }
  listGroups() {
    return this.request<{ groups: { group: string; state: string; generation: number; members: number }[] }>('GET', 'v1/groups');
  }
  describeGroup(group: string) {
    return this.request<GroupDescription>('GET', `v1/groups/${encodeURIComponent(group)}`);
  }
  groupOffsets(group: string) {
    return this.request<{ offsets: { topic: string; partition: number; offset: number | null }[] }>(
      'GET',
      `v1/groups/${encodeURIComponent(group)}/offsets`,
    );
  }
  resetOffsets(group: string, to: unknown, topics: string[], dryRun = false) {
    return this.request<{ offsets: { topic: string; partition: number; offset: number | null }[] }>(
      'POST',
      `v1/groups/${encodeURIComponent(group)}/offsets/reset`,
      {
        json: { to, topics, dry_run: dryRun },
      },
    );
  }
  deleteGroup(group: string) {
    return this.request<void>('DELETE', `v1/groups/${encodeURIComponent(group)}`);
  }

  // ---- queues (share groups) ----
  receive(group: string, topic: string, body: { max_records?: number; visibility_ms?: number; wait_ms?: number }) {
    return this.request<{ holder: string; records: QueueRecord[] }>('POST', `${queuePath(group, topic)}/receive`, { json: body });
  }
  acknowledge(group: string, topic: string, acks: readonly { receipt: string; outcome?: QueueOutcome }[]) {
    return this.request<{ results: QueueAckResult[] }>('POST', `${queuePath(group, topic)}/ack`, { json: { acks } });
  }
  extend(group: string, topic: string, receipts: readonly string[], visibilityMs: number) {
    return this.request<{ results: QueueAckResult[] }>('POST', `${queuePath(group, topic)}/extend`, {
      json: { records: receipts.map((receipt) => ({ receipt })), visibility_ms: visibilityMs },
    });
  }
  describeQueue(group: string, topic?: string) {
    return this.request<QueueDescription>('GET', `v1/queues/${encodeURIComponent(group)}`, { query: topic === undefined ? {} : { topic } });
  }
  alterQueue(group: string, config: Record<string, unknown>) {
    return this.request<Pick<QueueDescription, 'group' | 'config'>>('PATCH', `v1/queues/${encodeURIComponent(group)}`, {
      json: { config },
    });
  }
  deleteQueue(group: string) {
    return this.request<void>('DELETE', `v1/queues/${encodeURIComponent(group)}`);
  }
  redrive(group: string, body: { max_records?: number; dead_letter_topic?: string } = {}) {
    return this.request<RedriveResult>('POST', `v1/queues/${encodeURIComponent(group)}/redrive`, { json: body });
  }
}

const queuePath = (group: string, topic: string) => `v1/queues/${encodeURIComponent(group)}/topics/${encodeURIComponent(topic)}`;
