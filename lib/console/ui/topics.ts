/**
 * The topic pages: the list (partitions, records, stored bytes, retention; create), and a topic's page
 * (partitions' offsets, records and bytes written over the last hour, config and its editing, a test
 * record, and the records browser with its live tail).
 */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api, path, tailRecords, type FetchedRecord, type TopicActivity, type TopicDescription, type TopicSummary } from './api.js';
import { allows } from '../../permissions.js';
import { Failure, TimeChart, useLoaded, inputText, type Me } from './common.js';
import { bestView, bytesText, durationText, fromBase64, show, type View } from './render.js';

/** How many records the browser shows per page, and the live tail keeps. */
const pageRecords = 20;
const tailRecordsKept = 100;
const tailReconnectMs = 1000;
/** The topics whose records the list counts (one describe each). */
const countedTopics = 50;
/** How often a topic page reads its activity again. */
const activityRefreshMs = 30_000;

/** Whether the key may create some topic (admin on a topic name or prefix). */
const mayCreateTopics = (me: Me) => me.permissions.some((p) => p.topics !== undefined && p.actions.includes('admin'));

const recordCount = (t: TopicDescription) => t.partitions.reduce((sum, p) => sum + p.high_watermark - p.earliest_offset, 0);

export function Topics({ me }: { me: Me }) {
  const topics = useLoaded(async () => {
    const { topics } = await api<{ topics: TopicSummary[] }>('GET', '/v1/topics');
    const described = await Promise.all(
      topics.slice(0, countedTopics).map((t) => api<TopicDescription>('GET', path`/v1/topics/${t.name}`).catch(() => undefined)),
    );
    return topics.map((t, i) => ({ ...t, records: described[i] === undefined ? undefined : recordCount(described[i]!) }));
  }, []);
  const [name, setName] = useState('');
  const [partitions, setPartitions] = useState('1');
  const [failed, setFailed] = useState<unknown>();
  const create = async (event: Event) => {
    event.preventDefault();
    try {
      await api('POST', '/v1/topics', { name, partitions: Number(partitions) });
      setFailed(undefined);
      location.hash = `#/topics/${encodeURIComponent(name)}`;
    } catch (error) {
      setFailed(error);
    }
  };
  return html`<section>
    <h2>Topics</h2>
    ${topics.error ? html`<${Failure} error=${topics.error} />` : null}
    ${
      topics.value
        ? html`<table data-testid="topics">
          <thead><tr><th>Topic</th><th>Partitions</th><th>Records</th><th>Stored</th><th>Retention</th></tr></thead>
          <tbody>
            ${topics.value.map(
              (t) => html`<tr>
                <td><a href=${`#/topics/${encodeURIComponent(t.name)}`}>${t.name}</a></td>
                <td>${t.partitions}</td>
                <td>${t.records ?? '–'}</td>
                <td title="as of the last maintenance pass">${t.stored_bytes === null ? '–' : bytesText(t.stored_bytes)}</td>
                <td>${durationText(Number(t.config.retention_ms))}</td>
              </tr>`,
            )}
          </tbody>
        </table>`
        : null
    }
    ${
      mayCreateTopics(me)
        ? html`<details>
      <summary role="button" class="secondary">New topic</summary>
      <form onSubmit=${create} data-testid="create-topic">
        <div class="grid">
          <label>Name <input name="name" required value=${name} onInput=${(e: Event) => setName(inputText(e))} /></label>
          <label>Partitions <input name="partitions" type="number" min="1" value=${partitions} onInput=${(e: Event) => setPartitions(inputText(e))} /></label>
        </div>
        <button type="submit">Create</button>
        ${failed ? html`<${Failure} error=${failed} />` : null}
      </form>
    </details>`
        : null
    }
  </section>`;
}

export function Topic({ name, me }: { name: string; me: Me }) {
  const topic = useLoaded(() => api<TopicDescription>('GET', path`/v1/topics/${name}`), [name]);
  if (topic.error) return html`<${Failure} error=${topic.error} />`;
  if (!topic.value) return html`<p aria-busy="true">Loading…</p>`;
  const t = topic.value;
  return html`<section>
    <h2>${t.name}</h2>
    <table data-testid="partitions">
      <thead><tr><th>Partition</th><th>Earliest</th><th>High watermark</th><th>Records</th></tr></thead>
      <tbody>
        ${t.partitions.map(
          (p) =>
            html`<tr><td>${p.partition}</td><td>${p.earliest_offset}</td><td>${p.high_watermark}</td><td>${p.high_watermark - p.earliest_offset}</td></tr>`,
        )}
      </tbody>
    </table>
    <${Activity} topic=${t.name} />
    <${Config} topic=${t} editable=${allows(me, 'admin', t.name)} changed=${topic.reload} />
    ${allows(me, 'write', t.name) ? html`<${Produce} topic=${t.name} partitions=${t.partitions.length} produced=${topic.reload} />` : null}
    <${Records} topic=${t} reload=${topic.reload} />
  </section>`;
}

/** Records and bytes written per minute over the last hour (GET /v1/topics/{topic}/activity), as rates. */
function Activity({ topic }: { topic: string }) {
  const activity = useLoaded(
    () => api<TopicActivity>('GET', `${path`/v1/topics/${topic}/activity`}?minutes=60&step_seconds=60`),
    [topic],
    activityRefreshMs,
  );
  if (activity.error) return html`<${Failure} error=${activity.error} />`;
  const a = activity.value;
  if (a === undefined) return null;
  const stepS = a.step_ms / 1000;
  const times = a.records.map((_, i) => (a.from_ms + i * a.step_ms) / 1000);
  const total = Math.round(a.records.reduce((sum, n) => sum + n, 0));
  const bytes = a.bytes.reduce((sum, n) => sum + n, 0);
  return html`<h3>Produced, last hour</h3>
    <p><small data-testid="activity-total">${total} ${total === 1 ? 'record' : 'records'}, ${bytesText(Math.round(bytes))} stored${
      a.partitions_read < a.partitions ? ` (the first ${a.partitions_read} of ${a.partitions} partitions)` : ''
    }</small></p>
    <${TimeChart}
      testId="activity-chart"
      times=${times}
      values=${[a.records.map((n) => n / stepS), a.bytes.map((n) => n / stepS)]}
      series=${[{ label: 'records/s', stroke: '#1095c1', scale: 'records' }, { label: 'bytes/s', stroke: '#d97706', scale: 'bytes' }]}
    />`;
}

/**
 * The topic's config, and for a key with admin on the topic, its editing: only the fields changed are
 * sent (PATCH /v1/topics/{topic}), each value as the type it had; partitions can be added. The API
 * checks every value and answers what it expected.
 */
function Config({ topic, editable, changed }: { topic: TopicDescription; editable: boolean; changed: () => void }) {
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [partitions, setPartitions] = useState('');
  const [outcome, setOutcome] = useState<{ error?: unknown; saved?: boolean }>({});
  const save = async (event: Event) => {
    event.preventDefault();
    const config: Record<string, unknown> = {};
    for (const [key, text] of Object.entries(draft)) {
      const was = topic.config[key];
      if (text === String(was)) continue;
      // As the type it had; text that is not one goes as it is, for the API to say what it expected.
      const isNumber = typeof was === 'number' && /^-?\d+(\.\d+)?$/.test(text.trim());
      const isBoolean = typeof was === 'boolean' && /^(true|false)$/.test(text);
      config[key] = isNumber ? Number(text) : isBoolean ? text === 'true' : text;
    }
    const change: Record<string, unknown> = {};
    if (Object.keys(config).length > 0) change.config = config;
    if (partitions !== '') change.partitions = Number(partitions);
    if (Object.keys(change).length === 0) return setOutcome({ saved: true });
    try {
      await api('PATCH', path`/v1/topics/${topic.name}`, change);
      setDraft({});
      setPartitions('');
      setOutcome({ saved: true });
      changed();
    } catch (error) {
      setOutcome({ error });
    }
  };
  const rows = Object.entries(topic.config).map(
    ([key, value]) => html`<tr>
      <td><code>${key}</code></td>
      <td>${
        editable
          ? html`<input name=${`config-${key}`} aria-label=${key} value=${draft[key] ?? String(value)} onInput=${(e: Event) => setDraft({ ...draft, [key]: inputText(e) })} />`
          : String(value)
      }</td>
    </tr>`,
  );
  return html`<details>
    <summary>Config</summary>
    <form data-testid="config" onSubmit=${save}>
      <table><tbody>${rows}</tbody></table>
      ${
        editable
          ? html`<div class="grid">
              <label>Partitions (add up to) <input name="partitions" type="number" min=${topic.partitions.length} placeholder=${String(topic.partitions.length)} value=${partitions} onInput=${(e: Event) => setPartitions(inputText(e))} /></label>
            </div>
            <button type="submit">Save config</button>`
          : null
      }
      ${outcome.saved ? html`<p data-testid="config-saved">Saved.</p>` : null}
      ${outcome.error ? html`<${Failure} error=${outcome.error} />` : null}
    </form>
  </details>`;
}

function Produce({ topic, partitions, produced }: { topic: string; partitions: number; produced: () => void }) {
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const [partition, setPartition] = useState('');
  const [outcome, setOutcome] = useState<{ error?: unknown; offset?: string }>({});
  const send = async (event: Event) => {
    event.preventDefault();
    const record: Record<string, unknown> = { value };
    if (key !== '') record.key = key;
    if (partition !== '') record.partition = Number(partition);
    try {
      const { offsets } = await api<{ offsets: { partition: number; offset: number }[] }>('POST', path`/v1/topics/${topic}/records`, {
        records: [record],
      });
      setOutcome({ offset: `partition ${offsets[0]!.partition}, offset ${offsets[0]!.offset}` });
      produced();
    } catch (error) {
      setOutcome({ error });
    }
  };
  return html`<details>
    <summary role="button" class="secondary">Produce a test record</summary>
    <form onSubmit=${send} data-testid="produce">
      <div class="grid">
        <label>Key <input name="key" value=${key} onInput=${(e: Event) => setKey(inputText(e))} /></label>
        <label>Partition
          <select name="partition" value=${partition} onChange=${(e: Event) => setPartition(inputText(e))}>
            <option value="">by key</option>
            ${[...Array(partitions).keys()].map((p) => html`<option value=${String(p)}>${p}</option>`)}
          </select>
        </label>
      </div>
      <label>Value <textarea name="value" required value=${value} onInput=${(e: Event) => setValue(inputText(e))}></textarea></label>
      <button type="submit">Produce</button>
      ${outcome.offset ? html`<p data-testid="produced">Written: ${outcome.offset}</p>` : null}
      ${outcome.error ? html`<${Failure} error=${outcome.error} />` : null}
    </form>
  </details>`;
}

function RecordRows({ records, view }: { records: readonly FetchedRecord[]; view: View | 'auto' }) {
  return records.map((r) => {
    const key = fromBase64(r.key);
    const value = fromBase64(r.value);
    return html`<tr>
      <td>${r.offset}</td>
      <td>${new Date(r.timestamp).toISOString()}</td>
      <td><pre>${show(key, view === 'auto' ? bestView(key) : view)}</pre></td>
      <td><pre>${show(value, view === 'auto' ? bestView(value) : view)}</pre><small>${value === null ? '' : bytesText(value.length)}</small></td>
      <td>${Object.entries(r.headers).map(([k, v]) => html`<div><code>${k}</code> ${v === null ? '(null)' : show(fromBase64(v), 'text')}</div>`)}</td>
    </tr>`;
  });
}

const recordsHead = html`<thead><tr><th>Offset</th><th>Time</th><th>Key</th><th>Value</th><th>Headers</th></tr></thead>`;

/** `reload` reads the topic's offsets again (when the live tail stops, its records are in the pages). */
function Records({ topic, reload }: { topic: TopicDescription; reload: () => void }) {
  const [partition, setPartition] = useState(0);
  const [view, setView] = useState<View | 'auto'>('auto');
  const [live, setLive] = useState(false);
  /** The last offset of the page shown (newest first); undefined: the newest records. */
  const [until, setUntil] = useState<number | undefined>(undefined);
  const [asked, setAsked] = useState('');
  const [failed, setFailed] = useState<unknown>();
  const choosePartition = (event: Event) => {
    setPartition(Number(inputText(event)));
    setUntil(undefined);
  };
  const p = topic.partitions[partition] ?? topic.partitions[0]!;
  const last = Math.min(until ?? p.high_watermark - 1, p.high_watermark - 1);
  const from = Math.max(p.earliest_offset, last - pageRecords + 1);
  const records = useLoaded(
    async () =>
      last < from
        ? { records: [] } // an empty partition
        : api<{ records: FetchedRecord[] }>(
            'GET',
            `${path`/v1/topics/${topic.name}/partitions/${p.partition}/records`}?offset=${from}&max_records=${last - from + 1}&encoding=base64`,
          ),
    [topic, partition, from, last],
  );
  /** A page ending at the offset asked for, or at the first record at or after the time asked for. */
  const go = async (event: Event) => {
    event.preventDefault();
    setFailed(undefined);
    const text = asked.trim();
    if (/^\d+$/.test(text)) return setUntil(Math.max(Number(text), p.earliest_offset) + pageRecords - 1);
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) return setFailed(new Error(`expected an offset or a time (2026-12-05T08:00:00Z), got ${JSON.stringify(text)}`));
    try {
      const found = await api<{ offset: number | null }>(
        'GET',
        `${path`/v1/topics/${topic.name}/partitions/${p.partition}/offsets`}?timestamp=${ms}`,
      );
      setUntil(found.offset === null ? undefined : found.offset + pageRecords - 1);
    } catch (error) {
      setFailed(error);
    }
  };
  return html`<section>
    <h3>Records</h3>
    <div class="grid">
      <label>Partition
        <select name="records-partition" value=${String(partition)} onChange=${choosePartition}>
          ${topic.partitions.map((q) => html`<option value=${String(q.partition)}>${q.partition}</option>`)}
        </select>
      </label>
      <label>Show as
        <select name="view" value=${view} onChange=${(e: Event) => setView(inputText(e) as View | 'auto')}>
          ${['auto', 'text', 'json', 'hex'].map((v) => html`<option value=${v}>${v}</option>`)}
        </select>
      </label>
    </div>
    <label><input type="checkbox" role="switch" name="live" checked=${live} onChange=${(e: Event) => {
      const on = (e.target as HTMLInputElement).checked;
      setLive(on);
      if (!on) reload();
    }} /> Live tail: new records as they arrive</label>
    ${
      live
        ? html`<${LiveTail} key=${p.partition} topic=${topic.name} partition=${p.partition} from=${p.high_watermark} view=${view} />`
        : html`<form class="grid" onSubmit=${go} data-testid="records-go">
      <input name="go-to" placeholder="offset, or a time such as 2026-12-05T08:00:00Z" value=${asked} onInput=${(e: Event) => setAsked(inputText(e))} />
      <div class="buttons">
        <button type="submit">Go</button>
        <button type="button" class="secondary" name="older" disabled=${from <= p.earliest_offset} onClick=${() => setUntil(from - 1)}>Older</button>
        <button type="button" class="secondary" name="newer" disabled=${last >= p.high_watermark - 1} onClick=${() => setUntil(last + pageRecords)}>Newer</button>
        <button type="button" class="secondary" name="newest" onClick=${() => setUntil(undefined)}>Newest</button>
      </div>
    </form>
    <p><small data-testid="records-range">${last < from ? 'no records' : `offsets ${from}–${last} of ${p.earliest_offset}–${p.high_watermark - 1}, newest first`}</small></p>
    ${failed ? html`<${Failure} error=${failed} />` : null}
    ${records.error ? html`<${Failure} error=${records.error} />` : null}
    <table data-testid="records">
      ${recordsHead}
      <tbody><${RecordRows} records=${[...(records.value?.records ?? [])].reverse()} view=${view} /></tbody>
    </table>`
    }
  </section>`;
}

/**
 * A partition's records from `from` (as first rendered) on as they are written (the API's event
 * stream), newest first, the last 100 kept. A stream the server ends (an agent restarting) is
 * followed again from the next offset a second later.
 */
function LiveTail({ topic, partition, from, view }: { topic: string; partition: number; from: number; view: View | 'auto' }) {
  const [start] = useState(from);
  const [records, setRecords] = useState<FetchedRecord[]>([]);
  const [failed, setFailed] = useState<unknown>();
  useEffect(() => {
    const stop = new AbortController();
    setRecords([]);
    setFailed(undefined);
    void (async () => {
      let next = start;
      try {
        while (!stop.signal.aborted) {
          for await (const record of tailRecords(path`/v1/topics/${topic}/partitions/${partition}/records`, next, stop.signal)) {
            next = record.offset + 1;
            setRecords((shown) => [record, ...shown].slice(0, tailRecordsKept));
          }
          await new Promise((resolve) => setTimeout(resolve, tailReconnectMs));
        }
      } catch (error) {
        if (!stop.signal.aborted) setFailed(error);
      }
    })();
    return () => stop.abort();
  }, [topic, partition]);
  return html`<p><small data-testid="tail-status" aria-busy=${failed ? 'false' : 'true'}>${
    failed ? 'stopped' : `following from offset ${start}: ${records.length} received`
  }</small></p>
    ${failed ? html`<${Failure} error=${failed} />` : null}
    <table data-testid="tail">
      ${recordsHead}
      <tbody><${RecordRows} records=${records} view=${view} /></tbody>
    </table>`;
}
