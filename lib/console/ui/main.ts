/**
 * The Spool console: a single page served by the agent at /ui (lib/http/console.ts), talking only to
 * the HTTP API (api.ts), with Preact and htm (no build step for JSX), Pico CSS and uPlot, all bundled
 * at build time (scripts/build-console.ts), nothing fetched from elsewhere at run time.
 *
 * Pages, by location hash: #/topics (list, create), #/topics/{topic} (partitions, config, produce a
 * test record, records newest first as text, JSON or hex), #/groups, #/groups/{group} (members, lag per
 * partition, and total lag over time while the page is open). A 401 from the API asks for an API key.
 */
import '@picocss/pico/css/pico.min.css';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import {
  api,
  ApiError,
  apiKey,
  path,
  setApiKey,
  type FetchedRecord,
  type GroupDescription,
  type GroupSummary,
  type TopicDescription,
  type TopicSummary,
} from './api.js';
import { allows, allowsGroup, type Principal } from '../../permissions.js';
import { bestView, bytesText, fromBase64, show, type View } from './render.js';

/** The signed-in key (GET /v1/me): the pages offer only what it may do. */
interface Me extends Pick<Principal, 'name' | 'permissions'> {
  /** false: keys are off, everyone may do everything. */
  readonly auth: boolean;
}

/** How many records the browser shows per page. */
const pageRecords = 20;
/** How often the group page samples lag for its chart. */
const lagSampleMs = 2000;

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/topics');
  useEffect(() => {
    const changed = () => setHash(location.hash || '#/topics');
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

/** Loads `load()` now and whenever `deps` change; `reload` loads again. */
function useLoaded<T>(load: () => Promise<T>, deps: readonly unknown[]) {
  const [state, setState] = useState<{ value?: T; error?: unknown }>({});
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => live && setState({ value }),
      (error: unknown) => live && setState({ error }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

function Failure({ error }: { error: unknown }) {
  if (error instanceof ApiError && error.status === 401) return html`<${SignIn} error=${error} />`;
  const message = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
  return html`<p role="alert" class="error" data-testid="error">${message}</p>`;
}

function SignIn({ error }: { error?: ApiError }) {
  const [key, setKey] = useState('');
  return html`<article data-testid="sign-in">
    <h3>Sign in</h3>
    ${error ? html`<p role="alert" class="error">${error.code}: ${error.message}</p>` : null}
    <form
      onSubmit=${(event: Event) => {
        event.preventDefault();
        setApiKey(key);
        location.reload();
      }}
    >
      <label>API key <input type="password" name="key" autocomplete="off" value=${key} onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} /></label>
      <button type="submit">Sign in</button>
    </form>
  </article>`;
}

/** Whether the key may create some topic (admin on a topic name or prefix). */
const mayCreateTopics = (me: Me) => me.permissions.some((p) => p.topics !== undefined && p.actions.includes('admin'));

function Topics({ me }: { me: Me }) {
  const topics = useLoaded(() => api<{ topics: TopicSummary[] }>('GET', '/v1/topics'), []);
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
          <thead><tr><th>Topic</th><th>Partitions</th></tr></thead>
          <tbody>
            ${topics.value.topics.map(
              (t) => html`<tr><td><a href=${`#/topics/${encodeURIComponent(t.name)}`}>${t.name}</a></td><td>${t.partitions}</td></tr>`,
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
          <label>Name <input name="name" required value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} /></label>
          <label>Partitions <input name="partitions" type="number" min="1" value=${partitions} onInput=${(e: Event) => setPartitions((e.target as HTMLInputElement).value)} /></label>
        </div>
        <button type="submit">Create</button>
        ${failed ? html`<${Failure} error=${failed} />` : null}
      </form>
    </details>`
        : null
    }
  </section>`;
}

function Topic({ name, me }: { name: string; me: Me }) {
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
    <details>
      <summary>Config</summary>
      <table data-testid="config">
        <tbody>${Object.entries(t.config).map(([k, v]) => html`<tr><td>${k}</td><td>${String(v)}</td></tr>`)}</tbody>
      </table>
    </details>
    ${allows(me, 'write', t.name) ? html`<${Produce} topic=${t.name} partitions=${t.partitions.length} produced=${topic.reload} />` : null}
    <${Records} topic=${t} />
  </section>`;
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
        <label>Key <input name="key" value=${key} onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} /></label>
        <label>Partition
          <select name="partition" value=${partition} onChange=${(e: Event) => setPartition((e.target as HTMLSelectElement).value)}>
            <option value="">by key</option>
            ${[...Array(partitions).keys()].map((p) => html`<option value=${String(p)}>${p}</option>`)}
          </select>
        </label>
      </div>
      <label>Value <textarea name="value" required value=${value} onInput=${(e: Event) => setValue((e.target as HTMLTextAreaElement).value)}></textarea></label>
      <button type="submit">Produce</button>
      ${outcome.offset ? html`<p data-testid="produced">Written: ${outcome.offset}</p>` : null}
      ${outcome.error ? html`<${Failure} error=${outcome.error} />` : null}
    </form>
  </details>`;
}

function Records({ topic }: { topic: TopicDescription }) {
  const [partition, setPartition] = useState(0);
  const [view, setView] = useState<View | 'auto'>('auto');
  /** The last offset of the page shown (newest first); undefined: the newest records. */
  const [until, setUntil] = useState<number | undefined>(undefined);
  const [asked, setAsked] = useState('');
  const [failed, setFailed] = useState<unknown>();
  const choosePartition = (event: Event) => {
    setPartition(Number((event.target as HTMLSelectElement).value));
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
        <select name="view" value=${view} onChange=${(e: Event) => setView((e.target as HTMLSelectElement).value as View | 'auto')}>
          ${['auto', 'text', 'json', 'hex'].map((v) => html`<option value=${v}>${v}</option>`)}
        </select>
      </label>
    </div>
    <form class="grid" onSubmit=${go} data-testid="records-go">
      <input name="go-to" placeholder="offset, or a time such as 2026-12-05T08:00:00Z" value=${asked} onInput=${(e: Event) => setAsked((e.target as HTMLInputElement).value)} />
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
      <thead><tr><th>Offset</th><th>Time</th><th>Key</th><th>Value</th><th>Headers</th></tr></thead>
      <tbody>
        ${[...(records.value?.records ?? [])].reverse().map((r) => {
          const key = fromBase64(r.key);
          const value = fromBase64(r.value);
          return html`<tr>
            <td>${r.offset}</td>
            <td>${new Date(r.timestamp).toISOString()}</td>
            <td><pre>${show(key, view === 'auto' ? bestView(key) : view)}</pre></td>
            <td><pre>${show(value, view === 'auto' ? bestView(value) : view)}</pre><small>${value === null ? '' : bytesText(value.length)}</small></td>
            <td>${Object.entries(r.headers).map(([k, v]) => html`<div><code>${k}</code> ${v === null ? '(null)' : show(fromBase64(v), 'text')}</div>`)}</td>
          </tr>`;
        })}
      </tbody>
    </table>
  </section>`;
}

function Groups() {
  const groups = useLoaded(() => api<{ groups: GroupSummary[] }>('GET', '/v1/groups'), []);
  if (groups.error) return html`<${Failure} error=${groups.error} />`;
  return html`<section>
    <h2>Consumer groups</h2>
    <table data-testid="groups">
      <thead><tr><th>Group</th><th>State</th><th>Members</th></tr></thead>
      <tbody>
        ${(groups.value?.groups ?? []).map(
          (g) =>
            html`<tr><td><a href=${`#/groups/${encodeURIComponent(g.group)}`}>${g.group}</a></td><td>${g.state}</td><td>${g.members}</td></tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

function Group({ name, me }: { name: string; me: Me }) {
  const [group, setGroup] = useState<{ value?: GroupDescription; error?: unknown }>({});
  const samples = useRef<{ atS: number[]; lag: number[] }>({ atS: [], lag: [] });
  useEffect(() => {
    let live = true;
    samples.current = { atS: [], lag: [] };
    const sample = async () => {
      try {
        const value = await api<GroupDescription>('GET', path`/v1/groups/${name}`);
        if (!live) return;
        samples.current.atS.push(Date.now() / 1000);
        samples.current.lag.push(value.partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0));
        setGroup({ value });
      } catch (error) {
        if (live) setGroup({ error });
      }
    };
    void sample();
    const timer = setInterval(sample, lagSampleMs);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [name]);
  if (group.error) return html`<${Failure} error=${group.error} />`;
  if (!group.value) return html`<p aria-busy="true">Loading…</p>`;
  const g = group.value;
  const total = g.partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0);
  return html`<section>
    <h2>${g.group}</h2>
    <p>State <strong data-testid="group-state">${g.state}</strong>, generation ${g.generation}, total lag <strong data-testid="total-lag">${total}</strong></p>
    <${LagChart} samples=${samples.current} />
    <h3>Partitions</h3>
    <table data-testid="lag">
      <thead><tr><th>Topic</th><th>Partition</th><th>Committed</th><th>High watermark</th><th>Lag</th><th>Member</th></tr></thead>
      <tbody>
        ${g.partitions.map(
          (p) =>
            html`<tr><td>${p.topic}</td><td>${p.partition}</td><td>${p.committed_offset ?? '–'}</td><td>${p.high_watermark}</td><td>${p.lag ?? '–'}</td><td>${p.member_id ?? ''}</td></tr>`,
        )}
      </tbody>
    </table>
    <h3>Members</h3>
    <table data-testid="members">
      <thead><tr><th>Member</th><th>Topics</th></tr></thead>
      <tbody>${g.members.map((m) => html`<tr><td>${m.member_id}</td><td>${m.topics.join(', ')}</td></tr>`)}</tbody>
    </table>
    ${allowsGroup(me, 'read', g.group) ? html`<${ResetOffsets} group=${g} />` : null}
  </section>`;
}

/**
 * Resetting a group's committed offsets as `spool groups reset-offsets` does it: first a dry run (the
 * server answers the offsets it would set, changing nothing), then, confirmed, the reset. Both are
 * refused while the group has live members.
 */
function ResetOffsets({ group }: { group: GroupDescription }) {
  const topics = [...new Set(group.partitions.map((p) => p.topic))];
  const [topic, setTopic] = useState(topics[0] ?? '');
  const [to, setTo] = useState('earliest');
  const [value, setValue] = useState('');
  const [plan, setPlan] = useState<{
    offsets?: { topic: string; partition: number; offset: number | null }[];
    applied?: boolean;
    error?: unknown;
  }>({});
  const target = () => (to === 'offset' ? { offset: Number(value) } : to === 'timestamp' ? { timestamp: Date.parse(value) } : to);
  const reset = async (dryRun: boolean) => {
    try {
      const { offsets } = await api<{ offsets: { topic: string; partition: number; offset: number | null }[] }>(
        'POST',
        path`/v1/groups/${group.group}/offsets/reset`,
        { to: target(), topics: [topic], dry_run: dryRun },
      );
      setPlan({ offsets, applied: !dryRun });
    } catch (error) {
      setPlan({ error });
    }
  };
  const preview = (event: Event) => {
    event.preventDefault();
    void reset(true);
  };
  const current = new Map(group.partitions.map((p) => [`${p.topic}/${p.partition}`, p.committed_offset]));
  return html`<details>
    <summary role="button" class="secondary">Reset offsets</summary>
    <form data-testid="reset" onSubmit=${preview}>
      <div class="grid">
        <label>Topic <select name="topic" value=${topic} onChange=${(e: Event) => setTopic((e.target as HTMLSelectElement).value)}>
          ${topics.map((t) => html`<option value=${t}>${t}</option>`)}
        </select></label>
        <label>To <select name="to" value=${to} onChange=${(e: Event) => setTo((e.target as HTMLSelectElement).value)}>
          <option value="earliest">earliest</option>
          <option value="latest">latest</option>
          <option value="offset">offset</option>
          <option value="timestamp">time</option>
        </select></label>
        ${
          to === 'offset' || to === 'timestamp'
            ? html`<label>${to === 'offset' ? 'Offset' : 'Time (ISO 8601)'} <input name="value" required value=${value} onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} /></label>`
            : null
        }
      </div>
      <button type="submit" class="secondary">Preview (dry run)</button>
    </form>
    ${plan.error ? html`<${Failure} error=${plan.error} />` : null}
    ${
      plan.offsets
        ? html`<table data-testid="reset-plan">
            <thead><tr><th>Topic</th><th>Partition</th><th>${plan.applied ? 'Previous' : 'Current'}</th><th>New</th></tr></thead>
            <tbody>${plan.offsets.map(
              (o) =>
                html`<tr><td>${o.topic}</td><td>${o.partition}</td><td>${current.get(`${o.topic}/${o.partition}`) ?? '–'}</td><td>${o.offset ?? '–'}</td></tr>`,
            )}</tbody>
          </table>
          ${
            plan.applied
              ? html`<p data-testid="reset-done">Reset: the group reads from the new offsets.</p>`
              : html`<p>Dry run: nothing changed.</p><button type="button" name="apply" onClick=${() => reset(false)}>Apply this reset</button>`
          }`
        : null
    }
  </details>`;
}

/** The group's total lag over time, one point per sample since the page opened. */
function LagChart({ samples }: { samples: { atS: number[]; lag: number[] } }) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | undefined>(undefined);
  useEffect(() => {
    if (box.current === null) return;
    const width = Math.max(280, box.current.clientWidth);
    chart.current = new uPlot(
      {
        width,
        height: 200,
        // The last two minutes at least, so that the first samples do not stretch across the axis.
        scales: { x: { time: true, range: (_chart, min, max) => [Math.min(min, max - 120), max] } },
        series: [{}, { label: 'lag (records)', stroke: '#1095c1', width: 2 }],
        axes: [{}, { size: 60 }],
      },
      [samples.atS, samples.lag],
      box.current,
    );
    return () => chart.current?.destroy();
  }, []);
  useEffect(() => chart.current?.setData([samples.atS, samples.lag]));
  return html`<div ref=${box} data-testid="lag-chart"></div>`;
}

function signOut(event: Event): void {
  event.preventDefault();
  setApiKey(null);
  location.reload();
}

function App() {
  const hash = useHash();
  const me = useLoaded(() => api<Me>('GET', '/v1/me'), []);
  const [, section, name] = hash.slice(1).split('/').map(decodeURIComponent);
  const page = me.error
    ? html`<${Failure} error=${me.error} />`
    : me.value === undefined
      ? html`<p aria-busy="true">Loading…</p>`
      : section === 'topics' && name
        ? html`<${Topic} name=${name} me=${me.value} />`
        : section === 'groups' && name
          ? html`<${Group} name=${name} me=${me.value} />`
          : section === 'groups'
            ? html`<${Groups} />`
            : html`<${Topics} me=${me.value} />`;
  return html`<header class="container">
      <nav>
        <ul><li><strong>Spool</strong></li></ul>
        <ul>
          <li><a href="#/topics" aria-current=${section === 'topics' ? 'page' : undefined}>Topics</a></li>
          <li><a href="#/groups" aria-current=${section === 'groups' ? 'page' : undefined}>Groups</a></li>
          <li>
            ${
              me.value?.auth === false
                ? html`<small>open access</small>`
                : apiKey() === null
                  ? html`<small>not signed in</small>`
                  : html`<small data-testid="signed-in">${me.value?.name ?? ''}</small> <a href="#" onClick=${signOut}>Sign out</a>`
            }
          </li>
        </ul>
      </nav>
    </header>
    <main class="container">${page}</main>`;
}

render(html`<${App} />`, document.getElementById('app')!);
