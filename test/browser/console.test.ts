/**
 * The console in a real browser: Debian's Chromium (no browser download), driven by playwright-core,
 * against an agent this file starts (embedded stores, a temporary data directory) with the console
 * built first. A user creates a topic in the UI, produces a record, sees it rendered as JSON, and
 * watches a consumer group's lag rise and fall. Every page must render without console errors at
 * 1280×800 and 390×844; screenshots of each go into test/browser/.output/.
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

let agent: Agent;
let dataDir: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: apt-get install chromium (or set SPOOL_CHROMIUM)`);
  await promisify(execFile)(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', '..', 'scripts', 'build-console.ts')]);
  mkdirSync(output, { recursive: true });
  dataDir = await mkdtemp(join(tmpdir(), 'spool-console-'));
  const config = loadConfig({ SPOOL_DATA_DIR: dataDir, SPOOL_HTTP_PORT: '0', SPOOL_KAFKA_PORT: '-1', SPOOL_MAINTENANCE_INTERVAL_MS: '0' });
  agent = await startAgent(config, { logger: jsonLogger('warn') });
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
});

afterAll(async () => {
  await browser?.close();
  await agent?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
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

async function http<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${agent.httpUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
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
    await commit(5);
    await expect.poll(() => page.locator('[data-testid=total-lag]').textContent(), { timeout: 10_000 }).toBe('0');
    expect(await page.locator('[data-testid=lag-chart] canvas').count()).toBeGreaterThan(0);
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
