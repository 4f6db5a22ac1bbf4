/**
 * API keys on the HTTP API: 401 without valid credentials, 403 without the permission, and in
 * neither case is anything changed. Written once; run on the embedded store and the AWS adapters.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiKeys } from '../../lib/auth.js';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { QueueService } from '../../lib/queues/service.js';
import { createApp } from '../../lib/http/app.js';
import type { Log } from '../../lib/log/index.js';
import { silentLogger } from '../../lib/logger.js';
import type { StoreKind } from '../support/stores.js';
import { closeAll, newLog, openTestStores, type TestStores } from '../support/logs.js';

export function authSuite(kind: () => StoreKind): void {
  const logs: Log[] = [];
  const opened: TestStores[] = [];
  afterEach(async () => closeAll(logs.splice(0), opened.splice(0)));

  async function setup() {
    const stores = await openTestStores(kind().locations());
    opened.push(stores);
    const log = newLog(stores);
    logs.push(log);
    const root = `root-${randomUUID()}`;
    const app = createApp({
      log,
      groups: new GroupCoordinator(log, stores.metadata),
      queues: new QueueService(log, stores.metadata),
      logger: silentLogger,
      auth: new ApiKeys(stores.metadata, { rootToken: root }),
    });
    const call = async (token: string | undefined, method: string, path: string, body?: unknown) => {
      const headers: Record<string, string> = {};
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    };
    return { stores, log, root, call };
  }

  describe('http > API keys', () => {
    it('refuses requests without valid credentials with 401, writing nothing', async () => {
      const { call, log } = await setup();
      expect((await call(undefined, 'GET', '/healthz')).status).toBe(200);
      expect((await call(undefined, 'GET', '/openapi.json')).status).toBe(200);
      expect(await call(undefined, 'POST', '/v1/topics/t401/records', { records: [{ value: 'x' }] })).toMatchObject({
        status: 401,
        body: { error: { code: 'UNAUTHENTICATED' } },
      });
      expect(await call('spool_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'GET', '/v1/topics')).toMatchObject({
        status: 401,
      });
      expect(await call('not-a-key', 'POST', '/v1/topics', { name: 't401' })).toMatchObject({ status: 401 });
      expect(await log.topic('t401')).toBeUndefined();
    });

    it('GET /v1/me answers a key about itself (what the console shows), and 401 without one', async () => {
      const { call, root } = await setup();
      const made = await call(root, 'POST', '/v1/admin/keys', {
        name: 'reader',
        permissions: [
          { topics: 'orders', actions: ['read'] },
          { groups: 'dash-*', actions: ['describe'] },
        ],
      });
      expect(await call(made.body.key, 'GET', '/v1/me')).toEqual({
        status: 200,
        body: {
          auth: true,
          name: 'reader',
          permissions: [
            { topics: 'orders', actions: ['read'] },
            { groups: 'dash-*', actions: ['describe'] },
          ],
        },
      });
      expect((await call(root, 'GET', '/v1/me')).body).toMatchObject({ auth: true, permissions: [{ topics: '*', actions: ['admin'] }] });
      expect(await call(undefined, 'GET', '/v1/me')).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
    });

    it('makes keys with per-topic permissions, stores only their hash, and enforces them with 403', async () => {
      const { call, root, stores, log } = await setup();
      const made = await call(root, 'POST', '/v1/admin/keys', {
        name: 'orders-writer',
        permissions: [
          { topics: 'orders', actions: ['write', 'read'] },
          { topics: 'audit-*', actions: ['read'] },
        ],
      });
      expect(made.status).toBe(201);
      const key = made.body.key as string;
      expect(key).toMatch(/^spool_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
      const stored = JSON.stringify(await stores.metadata.query('auth'));
      const secret = key.slice(`spool_${made.body.id}_`.length); // base64url: it may itself contain "_"
      expect(secret).toHaveLength(43);
      expect(stored).not.toContain(secret); // the secret is never stored
      await call(root, 'POST', '/v1/topics', { name: 'orders' });
      await call(root, 'POST', '/v1/topics', { name: 'audit-2026' });
      await call(root, 'POST', '/v1/topics', { name: 'payroll' });

      expect((await call(key, 'POST', '/v1/topics/orders/records', { records: [{ value: 'ok' }] })).status).toBe(200);
      expect((await call(key, 'GET', '/v1/topics/orders/partitions/0/records')).body.records).toHaveLength(1);
      expect((await call(key, 'GET', '/v1/topics/audit-2026')).status).toBe(200);
      expect((await call(key, 'GET', '/v1/topics')).body.topics.map((t: { name: string }) => t.name).sort()).toEqual([
        'audit-2026',
        'orders',
      ]);
      const forbidden = [
        await call(key, 'POST', '/v1/topics/payroll/records', { records: [{ value: 'no' }] }),
        await call(key, 'POST', '/v1/topics/audit-2026/records', { records: [{ value: 'no' }] }),
        await call(key, 'GET', '/v1/topics/payroll/partitions/0/records'),
        await call(key, 'DELETE', '/v1/topics/orders'),
        await call(key, 'POST', '/v1/topics', { name: 'orders-2' }),
        await call(key, 'POST', '/v1/admin/maintenance'),
        await call(key, 'POST', '/v1/admin/keys', { name: 'escalate', permissions: [{ topics: '*', actions: ['admin'] }] }),
        await call(key, 'POST', `/v1/groups/g-${randomUUID().slice(0, 6)}/members`, { topics: ['payroll'] }),
      ];
      for (const response of forbidden) expect(response).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
      expect((await log.describeTopic('payroll')).partitions[0]!.nextOffset).toBe(0);
      expect((await log.describeTopic('audit-2026')).partitions[0]!.nextOffset).toBe(0);
      expect(await log.topic('orders-2')).toBeUndefined();
      // Reading a topic is not using a group: that needs a group grant (next test).
      expect((await call(key, 'POST', `/v1/groups/g-${randomUUID().slice(0, 6)}/members`, { topics: ['orders'] })).status).toBe(403);
    });

    it("scopes consumer groups as Kafka's group ACLs: read to consume and commit, describe to see, delete to delete", async () => {
      const { call, root } = await setup();
      await call(root, 'POST', '/v1/topics', { name: 'orders' });
      await call(root, 'POST', '/v1/topics', { name: 'payroll' });
      const made = await call(root, 'POST', '/v1/admin/keys', {
        name: 'billing-consumer',
        permissions: [
          { topics: 'orders', actions: ['read'] },
          { groups: 'billing-*', actions: ['read'] },
          { groups: 'audit', actions: ['describe'] },
        ],
      });
      expect(made.body.permissions).toEqual([
        { topics: 'orders', actions: ['read'] },
        { groups: 'billing-*', actions: ['read'] },
        { groups: 'audit', actions: ['describe'] },
      ]);
      const key = made.body.key as string;
      for (const group of ['billing-1', 'audit', 'payroll-team'])
        await call(root, 'POST', `/v1/groups/${group}/offsets`, { offsets: [{ topic: 'orders', partition: 0, offset: 0 }] });

      const joined = await call(key, 'POST', '/v1/groups/billing-1/members', { topics: ['orders'] });
      expect(joined.status).toBe(200);
      const member = joined.body.member_id as string;
      expect((await call(key, 'GET', `/v1/groups/billing-1/members/${member}/records`)).status).toBe(200);
      expect((await call(key, 'GET', '/v1/groups/billing-1')).status).toBe(200); // read implies describe
      expect((await call(key, 'GET', '/v1/groups/audit/offsets')).status).toBe(200);
      expect((await call(key, 'GET', '/v1/groups')).body.groups.map((g: { group: string }) => g.group).sort()).toEqual([
        'audit',
        'billing-1',
      ]);
      const forbidden = [
        await call(key, 'POST', '/v1/groups/payroll-team/members', { topics: ['orders'] }), // no grant on the group
        await call(key, 'POST', '/v1/groups/billing-2/members', { topics: ['payroll'] }), // the group, not the topic
        await call(key, 'POST', '/v1/groups/audit/offsets', { offsets: [{ topic: 'orders', partition: 0, offset: 1 }] }), // describe only
        await call(key, 'GET', '/v1/groups/payroll-team'),
        await call(key, 'DELETE', '/v1/groups/audit'),
        await call(key, 'POST', '/v1/groups/audit/offsets/reset', { to: 'earliest' }),
      ];
      for (const response of forbidden) expect(response).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
      expect((await call(root, 'GET', '/v1/groups/audit/offsets')).body.offsets).toEqual([{ topic: 'orders', partition: 0, offset: 0 }]);
      const bad = await call(root, 'POST', '/v1/admin/keys', { name: 'bad', permissions: [{ groups: 'g', actions: ['write'] }] });
      expect(bad).toMatchObject({ status: 400, body: { error: { field: 'permissions[0].actions' } } });
      const both = await call(root, 'POST', '/v1/admin/keys', {
        name: 'bad',
        permissions: [{ topics: 't', groups: 'g', actions: ['read'] }],
      });
      expect(both).toMatchObject({ status: 400 });
    });

    it('lists keys without secrets and revokes them', async () => {
      const { call, root } = await setup();
      const made = (await call(root, 'POST', '/v1/admin/keys', { name: 'temp', permissions: [{ topics: '*', actions: ['read'] }] })).body;
      const listed = (await call(root, 'GET', '/v1/admin/keys')).body.keys;
      expect(listed).toContainEqual({
        id: made.id,
        name: 'temp',
        permissions: [{ topics: '*', actions: ['read'] }],
        created_ms: made.created_ms,
      });
      expect(JSON.stringify(listed)).not.toContain(made.key);
      expect((await call(made.key, 'GET', '/v1/topics')).status).toBe(200);
      expect((await call(root, 'DELETE', `/v1/admin/keys/${made.id}`)).status).toBe(204);
      expect(await call(made.key, 'GET', '/v1/topics')).toMatchObject({ status: 401 });
      expect(await call(root, 'DELETE', `/v1/admin/keys/${made.id}`)).toMatchObject({
        status: 404,
        body: { error: { code: 'KEY_NOT_FOUND' } },
      });
      expect(
        await call(root, 'POST', '/v1/admin/keys', { name: 'bad', permissions: [{ topics: 'a b', actions: ['read'] }] }),
      ).toMatchObject({ status: 400 });
    });
  });
}
