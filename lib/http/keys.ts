/** API-key management routes (admin on the service), present when the API runs with keys. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { checkPermissions, permissionAttrs, type ApiKeys, type KeyInfo } from '../auth.js';
import { errorResponses as errors, json } from './responses.js';
import type { AppEnv, Authorize } from './app.js';

/** A grant on topics or on groups: exactly one of the two (checked, with the actions each takes, by checkPermissions). */
const Permission = z
  .object({ topics: z.string().optional(), groups: z.string().optional(), actions: z.array(z.enum(['read', 'write', 'admin', 'describe', 'delete'])) })
  .strict()
  .openapi('Permission', { description: 'topics: read, write, admin; groups: read, describe, delete, admin' });
const KeyOut = z.object({ id: z.string(), name: z.string(), permissions: z.array(Permission), created_ms: z.number().int() }).openapi('ApiKey');
export function registerKeyRoutes(app: OpenAPIHono<AppEnv>, keys: ApiKeys, authorize: Authorize): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/keys',
      summary: 'Make an API key; the answer holds its only copy',
      request: { body: { content: { 'application/json': { schema: z.object({ name: z.string().min(1).max(200), permissions: z.array(Permission).min(1) }).strict() } }, required: true } },
      responses: { 201: json(KeyOut.extend({ key: z.string() }), 'the key'), ...errors(400, 401, 403) },
    }),
    async (c) => {
      authorize(c, 'admin');
      const body = c.req.valid('json');
      const made = await keys.create(body.name, checkPermissions(body.permissions));
      return c.json({ ...keyOut(made), key: made.key }, 201);
    },
  );
  app.openapi(
    createRoute({ method: 'get', path: '/v1/admin/keys', summary: 'List API keys (never their secrets)', responses: { 200: json(z.object({ keys: z.array(KeyOut) }), 'keys'), ...errors(401, 403) } }),
    async (c) => {
      authorize(c, 'admin');
      const list = await keys.list();
      return c.json({ keys: list.map(keyOut) }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/admin/keys/{id}',
      summary: 'Revoke an API key',
      request: { params: z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' } }) }) },
      responses: { 204: { description: 'revoked' }, ...errors(401, 403, 404) },
    }),
    async (c) => {
      authorize(c, 'admin');
      await keys.revoke(c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}

function keyOut(key: KeyInfo) {
  return { id: key.id, name: key.name, permissions: key.permissions.map(permissionAttrs), created_ms: key.createdMs };
}
