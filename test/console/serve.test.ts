/**
 * /ui on the HTTP API: the console's built files, public even with API keys on (they hold no data),
 * each with its content type; nothing else on disk is reachable; without a build, a 503 that says how
 * to make one. And GET /v1/me, which the console asks what the key may do, with keys off.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiKeys } from '../../lib/auth.js';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { QueueService } from '../../lib/queues/service.js';
import { createApp } from '../../lib/http/app.js';
import type { Log } from '../../lib/log/index.js';
import { silentLogger } from '../../lib/logger.js';
import { closeAll, newLog, openTestStores, type TestStores } from '../support/logs.js';
import { memory } from '../support/stores.js';

const logs: Log[] = [];
const opened: TestStores[] = [];
afterEach(async () => closeAll(logs.splice(0), opened.splice(0)));

async function app(consoleDir: string) {
  const stores = await openTestStores(memory.locations());
  opened.push(stores);
  const log = newLog(stores);
  logs.push(log);
  const auth = new ApiKeys(stores.metadata, { rootToken: 'root' });
  return createApp({
    log,
    groups: new GroupCoordinator(log, stores.metadata),
    queues: new QueueService(log, stores.metadata),
    logger: silentLogger,
    auth,
    consoleDir,
  });
}

function built(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spool-console-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><div id="app"></div>');
  writeFileSync(join(dir, 'app.js'), 'console.log(1)');
  writeFileSync(join(dir, 'app.css'), 'body{}');
  writeFileSync(join(dir, 'notes.txt'), 'not a console file');
  mkdirSync(join(dir, 'nested'));
  return dir;
}

describe('console > served at /ui', () => {
  it('serves the built files without a key, each with its type, and nothing else', async () => {
    const ui = await app(built());
    const page = await ui.request('/ui/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(await page.text()).toContain('id="app"');
    expect((await ui.request('/ui/app.js')).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await ui.request('/ui/app.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    const redirect = await ui.request('/ui');
    expect([redirect.status, redirect.headers.get('location')]).toEqual([302, '/ui/']);
    for (const path of ['/ui/notes.txt', '/ui/nested', '/ui/..%2Fpackage.json', '/ui/missing.js'])
      expect((await ui.request(path)).status, path).toBe(404);
    // The API itself still needs a key.
    expect((await ui.request('/v1/topics')).status).toBe(401);
  });

  it('GET /v1/me with keys off: open access, an admin on everything', async () => {
    const stores = await openTestStores(memory.locations());
    opened.push(stores);
    const log = newLog(stores);
    logs.push(log);
    const open = createApp({
      log,
      groups: new GroupCoordinator(log, stores.metadata),
      queues: new QueueService(log, stores.metadata),
      logger: silentLogger,
    });
    const me = await open.request('/v1/me');
    expect(await me.json()).toEqual({ auth: false, name: 'open access', permissions: [{ topics: '*', actions: ['admin'] }] });
  });

  it('answers 503 with how to build it when there is no build', async () => {
    const ui = await app(mkdtempSync(join(tmpdir(), 'spool-console-empty-')));
    const page = await ui.request('/ui/');
    expect(page.status).toBe(503);
    expect(await page.text()).toContain('npm run build');
  });
});
