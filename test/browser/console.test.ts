/**
 * The console in a real browser: Debian's Chromium (no browser download), driven by playwright-core,
 * against an agent this file starts (embedded stores, a temporary data directory) with the console
 * built first. A user creates a topic in the UI, produces a record, sees it rendered as JSON, and
 * watches a consumer group's lag rise and fall. Every page must render without console errors at
 * 1280×800 and 390×844; screenshots of each go into test/browser/.output/. With API keys on, the console
 * asks for one, and a limited key is offered only what it may do and refused the rest.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, startAgent } from '../../lib/agent.js';
import { loadConfig } from '../../lib/config.js';
import { jsonLogger } from '../../lib/logger.js';

const chromiumPath = process.env.SPOOL_CHROMIUM ?? '/usr/bin/chromium';
const output = join(import.meta.dirname, '.output');
const viewports = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;

const rootToken = 'console-test-root-token';
let agent: Agent;
let secured: Agent;
const dataDirs: string[] = [];
let browser: Browser;

/** An agent on a data directory of its own, with `env` on top of the test's settings. */
async function startConsoleAgent(env: Record<string, string> = {}): Promise<Agent> {
  const dataDir = await mkdtemp(join(tmpdir(), 'spool-console-'));
  dataDirs.push(dataDir);
  const settings = { SPOOL_DATA_DIR: dataDir, SPOOL_HTTP_PORT: '0', SPOOL_KAFKA_PORT: '-1', SPOOL_MAINTENANCE_INTERVAL_MS: '0', ...env };
  return startAgent(loadConfig(settings), { logger: jsonLogger('warn') });
}

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: apt-get install chromium (or set SPOOL_CHROMIUM)`);
  await promisify(execFile)(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', '..', 'scripts', 'build-console.ts')]);
  mkdirSync(output, { recursive: true });
  agent = await startConsoleAgent({ SPOOL_KAFKA_PORT: '0' }); // registered as a broker: the cluster page shows it
  secured = await startConsoleAgent({ SPOOL_AUTH_TOKEN: rootToken });
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
});

afterAll(async () => {
  await browser?.close();
  await agent?.close();
  await secured?.close();
  for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
});

/** A page at the viewport that fails the test on any console error or uncaught exception. */
async function open(viewport: (typeof viewports)[number]): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: viewport.width, height: viewport.height } });
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('response', (response) => {
    if (response.status() >= 400) errors.push(`${response.status()} ${response.url()}`);
  });
  return { page, errors };
}

async function http<T>(method: string, path: string, body?: unknown, on: { agent: Agent; key?: string } = { agent }): Promise<T> {
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  if (on.key !== undefined) headers.authorization = `Bearer ${on.key}`;
  const response = await fetch(`${on.agent.httpUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(response.ok, `${method} ${path}: ${response.status}`).toBe(true);
  return (response.status === 204 ? undefined : await response.json()) as T;
}

describe('console (Chromium)', () => {
  it('creates a topic, produces a record and shows it as JSON', async () => {
    const { page, errors } = await open(viewports[0]);
    await page.goto(`${agent.httpUrl}/ui/`);
    await page.getByText('New topic').click();
    await page.locator('[data-testid=create-topic] input[name=name]').fill('orders');
    await page.locator('[data-testid=create-topic] input[name=partitions]').fill('2');
    await page.locator('[data-testid=create-topic] button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=partitions] tbody tr').count()).toBe(2);

    await page.getByText('Produce a test record').click();
    await page.locator('[data-testid=produce] input[name=key]').fill('k1');
    await page.locator('[data-testid=produce] select[name=partition]').selectOption('0');
    await page.locator('[data-testid=produce] textarea[name=value]').fill('{"hello":"world","n":1}');
    await page.locator('[data-testid=produce] button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=produced]').textContent()).toContain('partition 0, offset 0');
    await expect.poll(() => page.locator('[data-testid=records] tbody').textContent()).toContain('"hello": "world"');
    expect(await page.locator('[data-testid=records] tbody tr td').first().textContent()).toBe('0');
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows a consumer group's lag per partition, rising and falling", async () => {
    await http('POST', '/v1/topics', { name: 'clicks', partitions: 1 });
    await http('POST', '/v1/topics/clicks/records', { records: [...Array(5).keys()].map((i) => ({ value: `click ${i}` })) });
    const member = await http<{ member_id: string; generation: number }>('POST', '/v1/groups/dashboards/members', {
      topics: ['clicks'],
      auto_commit: false,
    });
    const commit = (offset: number) =>
      http('POST', '/v1/groups/dashboards/offsets', {
        member_id: member.member_id,
        generation: member.generation,
        offsets: [{ topic: 'clicks', partition: 0, offset }],
      });
    await commit(1);
    const { page, errors } = await open(viewports[0]);
    await page.goto(`${agent.httpUrl}/ui/#/groups/dashboards`);
    await expect.poll(() => page.locator('[data-testid=total-lag]').textContent()).toBe('4');
    expect(await page.locator('[data-testid=group-protocol]').textContent()).toBe('HTTP members');
    expect(await page.locator('[data-testid=members] tbody').textContent()).toContain('clicks/0');
    await commit(5);
    await expect.poll(() => page.locator('[data-testid=total-lag]').textContent(), { timeout: 10_000 }).toBe('0');
    await expect.poll(() => page.locator('[data-testid=lag-chart] canvas').count()).toBeGreaterThan(0);

    // Reset the group to the earliest offset: a dry run first (nothing changes), then applied once the member left.
    await http('DELETE', `/v1/groups/dashboards/members/${member.member_id}`);
    await page.getByText('Reset offsets').click();
    await page.locator('[data-testid=reset] select[name=to]').selectOption('earliest');
    await page.locator('[data-testid=reset] button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=reset-plan] tbody').textContent()).toBe('clicks050');
    expect((await http<{ offsets: { offset: number }[] }>('GET', '/v1/groups/dashboards/offsets')).offsets[0]!.offset).toBe(5);
    await page.locator('button[name=apply]').click();
    await expect.poll(() => page.locator('[data-testid=reset-done]').count()).toBe(1);
    expect((await http<{ offsets: { offset: number }[] }>('GET', '/v1/groups/dashboards/offsets')).offsets[0]!.offset).toBe(0);
    await expect.poll(() => page.locator('[data-testid=total-lag]').textContent(), { timeout: 10_000 }).toBe('5');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('pages through a partition by offset and by time, newest first', async () => {
    await http('POST', '/v1/topics', { name: 'events', partitions: 1 });
    const base = Date.parse('2026-12-01T00:00:00Z');
    await http('POST', '/v1/topics/events/records', {
      records: [...Array(30).keys()].map((i) => ({ value: `event ${i}`, timestamp: base + i * 60_000 })),
    });
    const { page, errors } = await open(viewports[0]);
    await page.goto(`${agent.httpUrl}/ui/#/topics/events`);
    const range = () => page.locator('[data-testid=records-range]').textContent();
    await expect.poll(range).toBe('offsets 10–29 of 0–29, newest first');
    expect(await page.locator('[data-testid=records] tbody tr td').first().textContent()).toBe('29');
    await page.locator('[data-testid=records-go] input[name=go-to]').fill('3');
    await page.locator('[data-testid=records-go] button[type=submit]').click();
    await expect.poll(range).toBe('offsets 3–22 of 0–29, newest first');
    await page.locator('button[name=older]').click();
    await expect.poll(range).toBe('offsets 0–2 of 0–29, newest first');
    expect(await page.locator('button[name=older]').isDisabled()).toBe(true);
    // The first record at or after 00:07:30 is offset 8 (one a minute from midnight).
    await page.locator('[data-testid=records-go] input[name=go-to]').fill('2026-12-01T00:07:30Z');
    await page.locator('[data-testid=records-go] button[type=submit]').click();
    await expect.poll(range).toBe('offsets 8–27 of 0–29, newest first');
    await page.locator('button[name=newest]').click();
    await expect.poll(range).toBe('offsets 10–29 of 0–29, newest first');
    expect(errors).toEqual([]);
    await page.close();
  });

  it("edits a topic's config and partitions, charts what was written, and follows a partition live", async () => {
    await http('POST', '/v1/topics', { name: 'live', partitions: 1 });
    await http('POST', '/v1/topics/live/records', { records: [{ value: 'before 1' }, { value: 'before 2' }] });
    const { page, errors } = await open(viewports[0]);
    await page.goto(`${agent.httpUrl}/ui/#/topics/live`);
    await expect.poll(() => page.locator('[data-testid=activity-total]').textContent()).toMatch(/^2 records, \d+(\.\d)? k?B stored$/);
    // The chart draws its canvas in an effect after the total is rendered: wait for it as for the total.
    await expect.poll(() => page.locator('[data-testid=activity-chart] canvas').count()).toBeGreaterThan(0);

    await page.locator('summary', { hasText: 'Config' }).click();
    await page.locator('[data-testid=config] input[name=config-retention_ms]').fill('soon');
    await page.locator('[data-testid=config] button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=config] [data-testid=error]').textContent()).toContain('retention');
    await page.locator('[data-testid=config] input[name=config-retention_ms]').fill('3600000');
    await page.locator('[data-testid=config] input[name=partitions]').fill('2');
    await page.locator('[data-testid=config] button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=config-saved]').count()).toBe(1);
    const changed = await http<{ partitions: unknown[]; config: { retention_ms: number } }>('GET', '/v1/topics/live');
    expect({ partitions: changed.partitions.length, retention: changed.config.retention_ms }).toEqual({
      partitions: 2,
      retention: 3_600_000,
    });
    await expect.poll(() => page.locator('[data-testid=partitions] tbody tr').count()).toBe(2);

    await page.locator('input[name=live]').check();
    await expect.poll(() => page.locator('[data-testid=tail-status]').textContent()).toBe('following from offset 2: 0 received');
    await http('POST', '/v1/topics/live/records', { records: [{ value: 'live 1', partition: 0 }] });
    await http('POST', '/v1/topics/live/records', { records: [{ value: '{"live":2}', partition: 0 }] });
    await expect
      .poll(() => page.locator('[data-testid=tail-status]').textContent(), { timeout: 10_000 })
      .toBe('following from offset 2: 2 received');
    // Newest first, rendered as the records browser renders them.
    expect(await page.locator('[data-testid=tail] tbody tr td:nth-child(1)').allTextContents()).toEqual(['3', '2']);
    expect(await page.locator('[data-testid=tail] tbody').textContent()).toContain('"live": 2');
    await page.locator('input[name=live]').uncheck();
    await expect.poll(() => page.locator('[data-testid=records-range]').textContent()).toBe('offsets 0–3 of 0–3, newest first');
    // The refused value's 400 is the one failed request.
    expect(errors.map((e) => e.replace(agent.httpUrl, '')).sort()).toEqual([
      '400 /v1/topics/live',
      'Failed to load resource: the server responded with a status of 400 (Bad Request)',
    ]);
    await page.close();
  });

  it('shows the cluster: this agent and what it leads, the last maintenance pass, and the storage cost of the last hour', async () => {
    const { page, errors } = await open(viewports[0]);
    await page.goto(`${agent.httpUrl}/ui/#/cluster`);
    await expect
      .poll(() => page.locator('[data-testid=maintenance]').textContent())
      .toBe('No maintenance pass has run on these stores yet.');
    await expect.poll(() => page.locator('[data-testid=agents] tbody').textContent()).toContain('(this agent)');
    expect(await page.locator('[data-testid=agents] tbody tr td:nth-child(4)').textContent()).toBe('live');
    await expect.poll(() => page.locator('[data-testid=cost-total]').textContent()).toMatch(/^\$0\.\d+$/);
    expect(Number(await page.locator('[data-testid=cost-requests] tbody td:nth-child(1)').textContent())).toBeGreaterThan(0);

    await http('POST', '/v1/admin/maintenance');
    // The agent reuses its answer for 5 s.
    const maintenance = async () => {
      await page.reload();
      return page.locator('[data-testid=maintenance]').textContent();
    };
    await expect.poll(maintenance, { timeout: 15_000, interval: 1000 }).toMatch(/^Last pass ended .* ago/);
    expect(await page.locator('[data-testid=stored] tbody tr').count()).toBe(2);
    // The list of topics now shows what each stores.
    await page.goto(`${agent.httpUrl}/ui/#/topics`);
    const liveRow = page.locator('[data-testid=topics] tbody tr', { hasText: 'live' });
    await expect.poll(() => liveRow.locator('td:nth-child(4)').textContent()).toMatch(/^\d+(\.\d)? k?B$/);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('renders every page without console errors on a desktop and a phone (screenshots in test/browser/.output)', async () => {
    for (const viewport of viewports) {
      const { page, errors } = await open(viewport);
      for (const [name, hash, ready] of [
        ['topics', '#/topics', '[data-testid=topics]'],
        ['topic', '#/topics/orders', '[data-testid=records]'],
        ['groups', '#/groups', '[data-testid=groups]'],
        ['group', '#/groups/dashboards', '[data-testid=lag]'],
        ['cluster', '#/cluster', '[data-testid=agents]'],
      ] as const) {
        await page.goto(`${agent.httpUrl}/ui/${hash}`);
        await page.locator(ready).waitFor();
        await page.screenshot({ path: join(output, `${name}-${viewport.name}.png`), fullPage: true });
        // Usable at this width: nothing wider than the viewport but the tables, which scroll.
        const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
        expect(overflow, `${name} at ${viewport.width}px overflows by ${overflow}px`).toBeLessThanOrEqual(0);
      }
      expect(errors, `${viewport.name}`).toEqual([]);
      await page.close();
    }
  });
});

describe('console (Chromium) with API keys', () => {
  it('asks for a key, then offers a limited key only what it may do and shows the refusal of the rest', async () => {
    const root = { agent: secured, key: rootToken };
    await http('POST', '/v1/topics', { name: 'orders', partitions: 1 }, root);
    await http('POST', '/v1/topics', { name: 'payroll', partitions: 1 }, root);
    await http('POST', '/v1/topics/orders/records', { records: [{ value: 'order 1' }] }, root);
    const reader = await http<{ key: string }>(
      'POST',
      '/v1/admin/keys',
      { name: 'orders-reader', permissions: [{ topics: 'orders', actions: ['read'] }] },
      root,
    );
    const { page, errors } = await open(viewports[0]);
    await page.goto(`${secured.httpUrl}/ui/`);
    await page.locator('[data-testid=sign-in] input[name=key]').fill(reader.key);
    await page.locator('[data-testid=sign-in] button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=signed-in]').textContent()).toBe('orders-reader');
    // Only the topics it may read, and no way to create one.
    await expect.poll(() => page.locator('[data-testid=topics] tbody tr td:first-child').allTextContents()).toEqual(['orders']);
    expect(await page.getByText('New topic').count()).toBe(0);
    expect(await page.locator('a[href="#/cluster"]').count()).toBe(0);
    // It may read orders but not write to it: the records, and no produce form.
    await page.goto(`${secured.httpUrl}/ui/#/topics/orders`);
    await expect.poll(() => page.locator('[data-testid=records] tbody').textContent()).toContain('order 1');
    expect(await page.getByText('Produce a test record').count()).toBe(0);
    expect(await page.locator('[data-testid=config] input').count()).toBe(0);
    expect(await page.getByText('Save config').count()).toBe(0);
    // A topic it may not read: the API's refusal, shown.
    await page.goto(`${secured.httpUrl}/ui/#/topics/payroll`);
    await expect.poll(() => page.locator('[data-testid=error]').textContent()).toContain('FORBIDDEN');
    await page.screenshot({ path: join(output, 'refused-desktop.png'), fullPage: true });
    // The failed requests are the two expected: who-am-I before signing in, and the refused topic; nothing else went wrong.
    expect(errors.map((e) => e.replace(secured.httpUrl, '')).sort()).toEqual([
      '401 /v1/me',
      '403 /v1/topics/payroll',
      'Failed to load resource: the server responded with a status of 401 (Unauthorized)',
      'Failed to load resource: the server responded with a status of 403 (Forbidden)',
    ]);
    await page.close();
  });
});
