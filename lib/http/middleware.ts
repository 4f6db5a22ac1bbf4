/**
 * What every request goes through, whatever its route: the router each route module starts from
 * (request validation failing as INVALID_ARGUMENT), per-route metrics and the request log, the
 * refusal once shutdown has begun, the body limit, and the answers for errors and unknown routes.
 * Each is a named function that createApp composes; none knows any route.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, ErrorHandler, MiddlewareHandler, NotFoundHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { SpoolError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Principal } from '../auth.js';
import { errorResponse, handleError, validationError } from './errors.js';

export type AppEnv = { Variables: { requestId: string; principal: Principal | undefined } };

/** An app for one resource's routes: a request that fails its route's schemas is INVALID_ARGUMENT, naming the field. */
export function newRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target, (result as { data?: unknown }).data);
    },
  });
}

/** Per route (`GET /v1/topics/:topic`): requests, latency, errors and throttles; and a debug line per request. */
export function requestMetrics(metrics: Metrics, logger: Logger): MiddlewareHandler<AppEnv> {
  return async function requestMetrics(c, next) {
    const started = performance.now();
    await next();
    const status = c.res.status;
    metrics.emit(
      {
        Requests: [1, 'Count'],
        Latency: [performance.now() - started, 'Milliseconds'],
        Errors: [status >= 500 && status !== 503 ? 1 : 0, 'Count'],
        ClientErrors: [status >= 400 && status < 500 && status !== 429 ? 1 : 0, 'Count'],
        Throttles: [status === 429 || status === 503 ? 1 : 0, 'Count'],
      },
      { Route: `${c.req.method} ${c.req.routePath}` },
      { request_id: c.get('requestId'), status },
    );
    logger.log('debug', 'request', {
      request_id: c.get('requestId'),
      method: c.req.method,
      route: c.req.routePath,
      status,
      duration_ms: Math.round(performance.now() - started),
    });
  };
}

/** Once shutdown has begun, new requests (even on kept-alive connections) are turned away. */
export function refuseAfterShutdown(shutdown: AbortSignal | undefined): MiddlewareHandler<AppEnv> {
  return async function refuseAfterShutdown(c, next) {
    if (shutdown?.aborted) {
      c.header('Connection', 'close');
      return errorResponse(c, new SpoolError('SHUTTING_DOWN', 'the server is shutting down; retry against another instance'));
    }
    await next();
  };
}

/** Every body, on every route, is bounded. */
export function limitBody(maxBytes: number): MiddlewareHandler<AppEnv> {
  const tooLarge = (c: Context) =>
    errorResponse(
      c,
      new SpoolError('PAYLOAD_TOO_LARGE', `request body must be at most ${maxBytes} bytes`, { details: { max_bytes: maxBytes } }),
    );
  return bodyLimit({ maxSize: maxBytes, onError: tooLarge });
}

/** Known errors keep their code; anything else is logged with the request id and answered as a plain 500. */
export function answerError(logger: Logger): ErrorHandler<AppEnv> {
  return (error, c) =>
    handleError(error, c, (message, fields) => logger.log('error', message, { request_id: c.get('requestId'), ...fields }));
}

/** No route: 405 with Allow when the path is served with other methods, as HTTP says; else 404. */
export function answerNoRoute(routes: readonly { readonly method: string; readonly path: string }[]): NotFoundHandler<AppEnv> {
  return (c) => {
    const path = new URL(c.req.url).pathname;
    const allowed = allowedMethods(routes, path);
    if (allowed.length > 0) {
      c.header('Allow', allowed.join(', '));
      return errorResponse(
        c,
        new SpoolError('METHOD_NOT_ALLOWED', `${path} takes ${allowed.join(', ')}, got ${c.req.method}`, { details: { allow: allowed } }),
      );
    }
    return errorResponse(c, new SpoolError('ROUTE_NOT_FOUND', `no route for ${c.req.method} ${path}`));
  };
}

/** The methods the app serves `path` with (route patterns such as /v1/topics/:topic matched segment by segment). */
function allowedMethods(routes: readonly { readonly method: string; readonly path: string }[], path: string): string[] {
  const segments = path.split('/');
  const matches = (pattern: string) => {
    const parts = pattern.split('/');
    return parts.length === segments.length && parts.every((part, i) => (part.startsWith(':') ? segments[i] !== '' : part === segments[i]));
  };
  const methods = new Set(routes.filter((route) => route.method !== 'ALL' && matches(route.path)).map((route) => route.method));
  return [...methods].sort();
}
