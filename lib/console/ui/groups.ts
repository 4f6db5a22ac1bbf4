/**
 * The consumer group pages: the list, and a group's page (protocol, members and their assignments,
 * committed offsets and lag per partition, total lag over time while the page is open, and resetting
 * its offsets with a dry run first).
 */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, path, type GroupDescription, type GroupSummary } from './api.js';
import { allowsGroup } from '../../permissions.js';
import { Failure, TimeChart, useLoaded, inputText, type Me } from './common.js';

/** How often the group page samples lag for its chart, and the samples it keeps (an hour). */
const lagSampleMs = 2000;
const maxLagSamples = 1800;

const protocolNames: Record<GroupDescription['protocol'], string> = {
  http: 'HTTP members',
  classic: 'Kafka consumers, classic protocol',
  consumer: 'Kafka consumers, consumer protocol (KIP-848)',
};

export function Groups() {
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

export function Group({ name, me }: { name: string; me: Me }) {
  const samples = useRef<{ atS: number[]; lag: number[] }>({ atS: [], lag: [] });
  useEffect(() => {
    samples.current = { atS: [], lag: [] };
  }, [name]);
  // Each load is a sample of the chart, into the samples of the group it was asked for.
  const group = useLoaded(
    async () => {
      const { atS, lag } = samples.current;
      const value = await api<GroupDescription>('GET', path`/v1/groups/${name}`);
      atS.push(Date.now() / 1000);
      lag.push(value.partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0));
      if (atS.length > maxLagSamples) {
        atS.shift();
        lag.shift();
      }
      return value;
    },
    [name],
    lagSampleMs,
  );
  if (group.error) return html`<${Failure} error=${group.error} />`;
  if (!group.value) return html`<p aria-busy="true">Loading…</p>`;
  const g = group.value;
  const total = g.partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0);
  return html`<section>
    <h2>${g.group}</h2>
    <p>
      <span data-testid="group-protocol">${protocolNames[g.protocol]}</span>${g.assignor ? html`, assignor <code>${g.assignor}</code>` : null}.${' '}
      State <strong data-testid="group-state">${g.state}</strong>, ${g.protocol === 'consumer' ? 'group epoch' : 'generation'} ${g.generation},${' '}
      total lag <strong data-testid="total-lag">${total}</strong>
    </p>
    <${TimeChart}
      testId="lag-chart"
      times=${samples.current.atS}
      values=${[samples.current.lag]}
      series=${[{ label: 'lag (records)', stroke: '#1095c1', scale: 'lag' }]}
      minSpanS=${120}
    />
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
      <thead><tr><th>Member</th><th>Topics</th><th>Assigned</th></tr></thead>
      <tbody>${g.members.map(
        (m) =>
          html`<tr><td>${m.member_id}</td><td>${m.topics.join(', ')}</td><td>${m.assignments.map((a) => `${a.topic}/${a.partition}`).join(', ') || '–'}</td></tr>`,
      )}</tbody>
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
        <label>Topic <select name="topic" value=${topic} onChange=${(e: Event) => setTopic(inputText(e))}>
          ${topics.map((t) => html`<option value=${t}>${t}</option>`)}
        </select></label>
        <label>To <select name="to" value=${to} onChange=${(e: Event) => setTo(inputText(e))}>
          <option value="earliest">earliest</option>
          <option value="latest">latest</option>
          <option value="offset">offset</option>
          <option value="timestamp">time</option>
        </select></label>
        ${
          to === 'offset' || to === 'timestamp'
            ? html`<label>${to === 'offset' ? 'Offset' : 'Time (ISO 8601)'} <input name="value" required value=${value} onInput=${(e: Event) => setValue(inputText(e))} /></label>`
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
