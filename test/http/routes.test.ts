/**
 * Every route of the HTTP API declares who may call it (lib/http/access.ts), so none is open by
 * omission; with keys on, only the routes declared public answer a request without credentials.
 */
import { describe, expect, it } from 'vitest';
import { ApiKeys } from '../../lib/auth.js';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { QueueService } from '../../lib/queues/service.js';
import { accessOf, type Access } from '../../lib/http/access.js';
import { createApp } from '../../lib/http/app.js';
import { Log } from '../../lib/log/index.js';
import { silentLogger } from '../../lib/logger.js';
import { MemoryMetadataStore, MemoryObjectStore } from '../../lib/storage/memory.js';

function appWithKeys() {
  const metadata = new MemoryMetadataStore();
  const log = new Log({ stores: { metadata, objects: new MemoryObjectStore() } });
  const keys = new ApiKeys(metadata, { rootToken: 'root' });
  // The agent's Prometheus exposition, so GET /metrics is among the routes checked.
  const prometheus = { contentType: 'text/plain; version=0.0.4; charset=utf-8', scrape: async () => '' };
  return Object.assign(
    createApp({
      log,
      groups: new GroupCoordinator(log, metadata),
      queues: new QueueService(log, metadata),
      logger: silentLogger,
      auth: keys,
      prometheus,
    }),
    {
      keys,
    },
  );
}

/** A request to each route with its path parameters filled in (`x`, partition 0) and an empty JSON object as body. */
function requestTo(app: ReturnType<typeof appWithKeys>, route: string, token?: string): Promise<Response> {
  const [method, pattern] = route.split(' ') as [string, string];
  const path = pattern.replaceAll(':partition', '0').replaceAll(/:\w+/g, 'x');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return Promise.resolve(app.request(path, { method, headers, body: method === 'GET' || method === 'DELETE' ? undefined : '{}' }));
}

/** Each route the app serves (`GET /v1/topics/:topic`), with the access its handlers declare. */
function declaredAccess(app: ReturnType<typeof appWithKeys>): Map<string, Access[]> {
  const routes = new Map<string, Access[]>();
  for (const route of app.routes.filter((r) => r.method !== 'ALL')) {
    const key = `${route.method} ${route.path}`;
    const access = accessOf(route.handler);
    routes.set(key, [...(routes.get(key) ?? []), ...(access ? [access] : [])]);
  }
  return routes;
}

const isPublic = (access: Access[]) => access.some((a) => 'public' in a);

describe('http > routes', () => {
  it('serves every documented route, and finds the routes it checks', () => {
    const app = appWithKeys();
    const served = [...declaredAccess(app).keys()];
    const documented = app.openAPIRegistry.definitions.flatMap((d) =>
      d.type === 'route' ? [`${d.route.method.toUpperCase()} ${d.route.path.replaceAll(/\{(\w+)\}/g, ':$1')}`] : [],
    );
    expect(documented.length).toBeGreaterThan(20);
    expect(served).toEqual(expect.arrayContaining(documented));
    expect(served).toEqual(expect.arrayContaining(['GET /healthz', 'GET /openapi.json', 'GET /metrics', 'POST /v1/admin/keys']));
  });

  it('declares exactly one access on every route', () => {
    const undeclared = [...declaredAccess(appWithKeys())]
      .filter(([, access]) => access.length !== 1)
      .map(([route, access]) => `${route}: ${access.length} declarations`);
    expect(undeclared).toEqual([]);
  });

  it('declares only /healthz and /openapi.json public', () => {
    const open = [...declaredAccess(appWithKeys())].filter(([, access]) => isPublic(access)).map(([route]) => route);
    expect(open.sort()).toEqual(['GET /healthz', 'GET /openapi.json']);
  });

  it('answers a request without credentials with 401 on every route not declared public, and 200 on those that are', async () => {
    const app = appWithKeys();
    for (const [route, access] of declaredAccess(app)) {
      const response = await requestTo(app, route);
      if (isPublic(access)) expect(response.status, route).toBe(200);
      else
        expect({ route, status: response.status, body: await response.json() }).toMatchObject({
          route,
          status: 401,
          body: { error: { code: 'UNAUTHENTICATED' } },
        });
    }
  });

  it('refuses a key without the declared permission with 403 on every route naming a topic, a group or the service', async () => {
    const app = appWithKeys();
    // Read on another topic and describe on another group: nothing the requests below name.
    const { key } = await app.keys.create('elsewhere', [
      { topics: 'other', actions: ['read'] },
      { groups: 'other', actions: ['describe'] },
    ]);
    const scoped = [...declaredAccess(app)].filter(([, access]) =>
      access.some((a) => !('public' in a) && !('from' in a && a.from === 'listed')),
    );
    expect(scoped.length).toBeGreaterThan(15);
    for (const [route] of scoped) {
      const response = await requestTo(app, route, key);
      expect({ route, status: response.status, body: await response.json() }).toMatchObject({
        route,
        status: 403,
        body: { error: { code: 'FORBIDDEN' } },
      });
    }
  });
});
