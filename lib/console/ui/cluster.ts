/**
 * The cluster page (GET /v1/cluster): agents registered and the partitions each leads, the last
 * maintenance pass with the objects, rows and bytes it counted, and the storage cost of the last hour
 * of the agent serving the page, estimated at list prices.
 */
import { html } from 'htm/preact';
import { api, type ClusterStatus } from './api.js';
import { Failure, useLoaded } from './common.js';
import { bytesText, durationText } from './render.js';

const refreshMs = 10_000;

const usd = (amount: number) => `$${amount < 0.01 ? amount.toFixed(6) : amount.toFixed(2)}`;
const ago = (nowMs: number, thenMs: number) => `${durationText(Math.max(0, nowMs - thenMs))} ago`;

export function Cluster() {
  const status = useLoaded(() => api<ClusterStatus>('GET', '/v1/cluster'), [], refreshMs);
  if (status.error) return html`<${Failure} error=${status.error} />`;
  const c = status.value;
  if (c === undefined) return html`<p aria-busy="true">Loading…</p>`;
  const registered = new Set(c.agents.map((a) => a.writer_id));
  const unregistered = Object.entries(c.leadership.by_writer).filter(([writer]) => !registered.has(writer));
  const m = c.maintenance;
  const cost = c.cost_last_hour;
  return html`<section>
    <h2>Cluster</h2>
    <h3>Agents</h3>
    ${
      c.agents.length === 0
        ? html`<p data-testid="no-agents">No agent is registered: none serves the Kafka protocol on these stores.</p>`
        : html`<table data-testid="agents">
          <thead><tr><th>Node</th><th>Kafka address</th><th>Rack</th><th>State</th><th>Partitions led</th></tr></thead>
          <tbody>${c.agents.map(
            (a) => html`<tr>
              <td>${a.node_id}${a.writer_id === c.writer_id ? html` <small>(this agent)</small>` : null}</td>
              <td><code>${a.host}:${a.port}</code></td>
              <td>${a.rack ?? '–'}</td>
              <td>${a.live ? 'live' : `expired ${ago(c.now_ms, a.registration_expires_ms)}`}</td>
              <td>${a.partitions_led}</td>
            </tr>`,
          )}</tbody>
        </table>`
    }
    <p data-testid="leadership"><small>
      ${c.leadership.partitions} partitions${
        c.leadership.partitions_read < c.leadership.partitions ? ` (leadership read for the first ${c.leadership.partitions_read})` : ''
      }; ${c.leadership.without_leader} without a leader now (idle: their next write takes a lease; or written by the leaderless Lambda API)${
        unregistered.length > 0 ? `; ${unregistered.reduce((sum, [, n]) => sum + n, 0)} led by writers with no Kafka listener` : ''
      }.
    </small></p>
    <h3>Maintenance</h3>
    ${
      m === null
        ? html`<p data-testid="maintenance">No maintenance pass has run on these stores yet.</p>`
        : html`<p data-testid="maintenance">Last pass ended ${ago(c.now_ms, m.ended_ms)}, took ${durationText(m.result.duration_ms ?? 0)}:${' '}
            ${m.result.segments_compacted} segments compacted, ${m.result.records_expired} records expired, ${m.result.objects_deleted} objects${' '}
            (${bytesText(m.result.bytes_deleted ?? 0)}) deleted.</p>
          <table data-testid="stored">
            <thead><tr><th></th><th>Objects</th><th>Bytes</th><th>Index rows</th></tr></thead>
            <tbody>
              <tr><td>before the pass</td><td>${m.result.objects_before}</td><td>${bytesText(m.result.bytes_before ?? 0)}</td><td>${m.result.rows_before}</td></tr>
              <tr><td>after the pass</td><td>${m.result.objects_after}</td><td>${bytesText(m.result.bytes_after ?? 0)}</td><td>${m.result.rows_after}</td></tr>
            </tbody>
          </table>`
    }
    <h3>Storage cost, last hour</h3>
    ${
      cost === null
        ? html`<p data-testid="cost">Not counted where this page is served (the Lambda API: an instance sees only its own calls). Agents count theirs: here and in /metrics.</p>`
        : html`<p data-testid="cost">This agent's storage calls in the last ${durationText(cost.window_seconds * 1000)}:${' '}
            <strong data-testid="cost-total">${usd(cost.total_usd)}</strong> (S3 ${usd(cost.s3_usd)}, DynamoDB ${usd(cost.dynamodb_usd)}),${' '}
            at list prices, estimated by request: a lower bound (larger items and listings of many pages cost more).</p>
          <table data-testid="cost-requests">
            <thead><tr><th>S3 PUT</th><th>S3 GET</th><th>S3 LIST</th><th>S3 DELETE</th><th>DynamoDB read units</th><th>DynamoDB write units</th></tr></thead>
            <tbody><tr>
              <td>${cost.requests.s3_puts}</td><td>${cost.requests.s3_gets}</td><td>${cost.requests.s3_lists}</td><td>${cost.requests.s3_deletes}</td>
              <td>${cost.requests.dynamodb_read_units}</td><td>${cost.requests.dynamodb_write_units}</td>
            </tr></tbody>
          </table>`
    }
  </section>`;
}
