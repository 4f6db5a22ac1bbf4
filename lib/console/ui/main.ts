/**
 * The Spool console: a single page served at /ui (lib/http/console.ts), talking only to the HTTP API
 * (api.ts), with Preact and htm (no build step for JSX), Pico CSS and uPlot, all bundled at build time
 * (scripts/build-console.ts), nothing fetched from elsewhere at run time.
 *
 * Pages, by location hash: #/topics and #/topics/{topic} (topics.ts), #/groups and #/groups/{group}
 * (groups.ts), #/cluster (cluster.ts). A 401 from the API asks for an API key (common.ts).
 */
import '@picocss/pico/css/pico.min.css';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, apiKey, setApiKey } from './api.js';
import { Cluster } from './cluster.js';
import { Failure, useLoaded, type Me } from './common.js';
import { Group, Groups } from './groups.js';
import { Topic, Topics } from './topics.js';
import { allows } from '../../permissions.js';

const noOne = { permissions: [] };

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/topics');
  useEffect(() => {
    const changed = () => setHash(location.hash || '#/topics');
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
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
            : section === 'cluster'
              ? html`<${Cluster} />`
              : html`<${Topics} me=${me.value} />`;
  return html`<header class="container">
      <nav>
        <ul><li><strong>Spool</strong></li></ul>
        <ul>
          <li><a href="#/topics" aria-current=${section === 'topics' ? 'page' : undefined}>Topics</a></li>
          <li><a href="#/groups" aria-current=${section === 'groups' ? 'page' : undefined}>Groups</a></li>
          ${allows(me.value ?? noOne, 'read') ? html`<li><a href="#/cluster" aria-current=${section === 'cluster' ? 'page' : undefined}>Cluster</a></li>` : null}
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
