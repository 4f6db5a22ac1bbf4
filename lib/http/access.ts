/**
 * Who may call each route. A route declares its access where it is declared —
 * `declareRoute('get', '/v1/topics/{topic}', { access: { topic: 'read', from: 'param:topic' }, … })`,
 * createRoute with `access` required — and that declaration is the check: the route's middleware,
 * run before the request is validated and before the handler. So a route cannot forget it (and
 * test/http/routes.test.ts fails on one without). Invariants:
 * - credentials are resolved once per request, by `authenticate`, before any body is read; only a
 *   route declared `public` is exempt (/healthz, /openapi.json), and any other request without a
 *   valid key — unknown paths included — is UNAUTHENTICATED;
 * - with auth off every request acts as the service admin, so every check passes;
 * - what depends on data beyond the route's own resource (topics named in a body or found in a
 *   group, the items of a list) the handler checks with `requireTopics` or filters with `permitted`,
 *   on top of its declaration.
 * The permissions themselves, and what implies what, are lib/auth.ts's.
 */
import { createRoute, type RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { allows, allowsGroup, type Action, type ApiKeys, type GroupAction, type Principal } from '../auth.js';
import { SpoolError } from '../errors.js';
import type { AppEnv } from './middleware.js';

/** Where a route's resource is named: a path parameter, or a string field of the JSON body. */
type Param = `param:${string}`;
type BodyField = `body:${string}`;

export type Access =
  /** No credentials asked. */
  | { readonly public: true }
  /** `action` on the service as a whole (topics `*`). */
  | { readonly service: Action }
  /** `topic` on the topic named `from`; `listed`: any key, answered only the topics it has `topic` on. */
  | { readonly topic: Action; readonly from: Param | BodyField | 'listed' }
  /** `group` on the consumer group named `from`; `listed`: any key, answered only the groups it has `group` on. */
  | { readonly group: GroupAction; readonly from: Param | 'listed' };

const declared = new WeakMap<object, Access>();

/** The access a handler declares, if it is a `requires` middleware. */
export function accessOf(handler: object): Access | undefined {
  return declared.get(handler);
}

const isPublic = (handler: object) => {
  const access = accessOf(handler);
  return access !== undefined && 'public' in access;
};

/** createRoute for `method path`, with the access it needs: a route cannot be declared without one. */
export function declareRoute<
  M extends RouteConfig['method'],
  P extends string,
  R extends Omit<RouteConfig, 'method' | 'path' | 'middleware'> & { access: Access },
>(method: M, path: P, { access, ...config }: R) {
  return createRoute({ ...config, method, path, middleware: requires(access) });
}

/** The middleware of a route that needs `access` (declareRoute's, or a plain route's). */
export function requires(access: Access): MiddlewareHandler<AppEnv> {
  const check: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (!('public' in access)) await authorize(c, access);
    await next();
  };
  declared.set(check, access);
  return check;
}

/** With auth off, everyone. */
const open: Principal = { id: 'open', name: 'open access', permissions: [{ topics: '*', actions: ['admin'] }] };

/** Resolves who is asking from the bearer token, unless the route is declared public. */
export function authenticate(keys: ApiKeys | undefined): MiddlewareHandler<AppEnv> {
  return async function authenticate(c, next) {
    if (!keys) c.set('principal', open);
    else if (!matchedRoutes(c).some((route) => isPublic(route.handler))) {
      const header = c.req.header('authorization') ?? '';
      c.set('principal', await keys.authenticate(/^Bearer /i.test(header) ? header.slice(7).trim() : undefined));
    }
    await next();
  };
}

async function authorize(c: Context<AppEnv>, access: Exclude<Access, { public: true }>): Promise<void> {
  // authenticate sets a principal for every route not declared public: none here means it did not run.
  const principal = c.get('principal');
  if (!principal) throw unauthenticated();
  if (allows(principal, 'admin')) return; // the service admin may do everything, groups included
  if ('service' in access) return demandTopic(principal, access.service, undefined);
  if (access.from === 'listed') return;
  if ('topic' in access) {
    const topic = access.from.startsWith('param:') ? pathParam(c, access.from as Param) : await bodyField(c, access.from as BodyField);
    return demandTopic(principal, access.topic, topic);
  }
  const group = pathParam(c, access.from);
  if (!allowsGroup(principal, access.group, group)) throw forbidden(principal, access.group, `group ${group}`);
}

/** Whether the request's principal has `what` on the topic or group `name` (for answers filtered by item). */
export function permitted(c: Context<AppEnv>, what: { readonly topic: Action } | { readonly group: GroupAction }, name: string): boolean {
  const principal = c.get('principal');
  if (!principal) return false;
  return 'topic' in what ? allows(principal, what.topic, name) : allowsGroup(principal, what.group, name);
}

/** Beyond the route's declaration: `action` on each of `topics` (named in the body, or found in storage). */
export function requireTopics(c: Context<AppEnv>, action: Action, topics: Iterable<string>): void {
  const principal = c.get('principal');
  if (!principal) throw unauthenticated();
  for (const topic of topics) demandTopic(principal, action, topic);
}

/** Beyond the route's declaration: `action` on another group the request acts on (a redrive's position group). */
export function requireGroup(c: Context<AppEnv>, action: GroupAction, group: string): void {
  const principal = c.get('principal');
  if (!principal) throw unauthenticated();
  if (!allowsGroup(principal, action, group)) throw forbidden(principal, action, `group ${group}`);
}

function demandTopic(principal: Principal, action: Action, topic: string | undefined): void {
  if (!allows(principal, action, topic)) throw forbidden(principal, action, topic === undefined ? 'the service' : `topic ${topic}`);
}

function unauthenticated(): SpoolError {
  return new SpoolError('UNAUTHENTICATED', 'this API needs a bearer token (Authorization: Bearer <key>)');
}

function forbidden(principal: Principal, action: string, what: string): SpoolError {
  return new SpoolError('FORBIDDEN', `API key ${principal.name} may not ${action} ${what}`);
}

function pathParam(c: Context<AppEnv>, from: Param): string {
  const value = c.req.param(from.slice('param:'.length));
  if (value === undefined) throw new Error(`the route declares access from ${from}, a path parameter it does not have`);
  return value;
}

/**
 * Read before the body is validated (it is cached, so the validator reads the same bytes). A body
 * that is not JSON, or whose field is missing or not a string, names nothing: then only the service
 * admin passes (and validation refuses the body next).
 */
async function bodyField(c: Context<AppEnv>, from: BodyField): Promise<string | undefined> {
  if (!/^application\/([\w.-]+\+)?json\b/i.test(c.req.header('content-type') ?? '')) return undefined;
  const body: unknown = await c.req.json().catch(() => undefined);
  const value = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[from.slice('body:'.length)] : undefined;
  return typeof value === 'string' ? value : undefined;
}
