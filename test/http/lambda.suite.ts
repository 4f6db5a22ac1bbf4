/**
 * The Lambda handler invoked in process with the events API Gateway HTTP APIs (payload 2.0) and
 * function URLs deliver, against a given store. The handler reads its configuration from `env`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLambdaHandler } from '../../lib/http/lambda.js';

export function lambdaEvent(
  method: string,
  path: string,
  options: { query?: string; body?: string; headers?: Record<string, string>; functionUrl?: boolean } = {},
) {
  const domainName = options.functionUrl ? 'abcdefghij.lambda-url.eu-west-1.on.aws' : 'abcdefghij.execute-api.eu-west-1.amazonaws.com';
  return {
    version: '2.0',
    routeKey: options.functionUrl ? '$default' : `${method} ${path}`,
    rawPath: path,
    rawQueryString: options.query ?? '',
    headers: { host: domainName, 'content-type': 'application/json', ...options.headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdefghij',
      domainName,
      domainPrefix: 'abcdefghij',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'curl/8' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    body: options.body,
    isBase64Encoded: false,
  };
}

type Handler = ReturnType<typeof createLambdaHandler>;

/** Invokes the handler with an event as `lambdaEvent` makes it; the body as the adapter returned it (text here). */
async function invokeRaw(handler: Handler, ...args: Parameters<typeof lambdaEvent>) {
  const result = (await handler(lambdaEvent(...args) as never, {} as never)) as {
    statusCode: number;
    body: string;
    headers: Record<string, string>;
  };
  return { status: result.statusCode, body: result.body, headers: result.headers };
}

export function lambdaSuite(env: () => Record<string, string>, prepare: () => Promise<void> = async () => {}): void {
  describe('lambda > HTTP API handler', () => {
    const handlers: Handler[] = [];
    afterAll(async () => {
      for (const handler of handlers) await (await handler.runtime())?.close();
    });

    it('serves API Gateway v2 and function URL events', async () => {
      await prepare();
      const handler = createLambdaHandler(env());
      handlers.push(handler);
      const invoke = async (...args: Parameters<typeof lambdaEvent>) => {
        const result = await invokeRaw(handler, ...args);
        return { ...result, body: result.body ? JSON.parse(result.body) : undefined };
      };
      const topic = `lambda-${randomUUID().slice(0, 8)}`;
      expect(await invoke('POST', '/v1/topics', { body: JSON.stringify({ name: topic, partitions: 2 }) })).toMatchObject({
        status: 201,
        body: { name: topic },
      });
      const produced = await invoke('POST', `/v1/topics/${topic}/records`, {
        body: JSON.stringify({ records: [{ key: 'a', value: '1', partition: 1 }] }),
        functionUrl: true,
      });
      expect(produced).toMatchObject({ status: 200, body: { offsets: [{ partition: 1, offset: 0 }] } });
      // acks=0 is answered at once, but the handler flushes before returning: the record is committed.
      await invoke('POST', `/v1/topics/${topic}/records`, {
        query: 'acks=0',
        body: JSON.stringify({ records: [{ value: '2', partition: 1 }] }),
      });
      const fetched = await invoke('GET', `/v1/topics/${topic}/partitions/1/records`, { query: 'offset=earliest', functionUrl: true });
      expect(fetched.body.records.map((r: { value: string }) => r.value)).toEqual(['1', '2']);
      expect(await invoke('GET', `/v1/topics/${topic}/partitions/1/records`, { query: 'offset=7' })).toMatchObject({
        status: 416,
        body: { error: { code: 'OFFSET_OUT_OF_RANGE', high_watermark: 2 } },
      });
      expect(await invoke('POST', '/v1/topics', { body: '{' })).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED_JSON' } } });
      // The cluster page's view: no cost, since an instance sees only its own calls.
      const cluster = await invoke('GET', '/v1/cluster');
      expect(cluster).toMatchObject({ status: 200, body: { cost_last_hour: null, leadership: { partitions: expect.any(Number) } } });
      expect(cluster.body.leadership.partitions).toBeGreaterThanOrEqual(2);
    });

    it('serves the console at /ui/ without a key, while the API still needs one', async () => {
      await prepare();
      const consoleDir = mkdtempSync(join(tmpdir(), 'spool-lambda-console-'));
      writeFileSync(join(consoleDir, 'index.html'), '<!doctype html><div id="app"></div>');
      writeFileSync(join(consoleDir, 'app.js'), 'console.log(1)');
      const handler = createLambdaHandler({ ...env(), SPOOL_AUTH_TOKEN: 'root' }, { consoleDir });
      handlers.push(handler);
      const page = await invokeRaw(handler, 'GET', '/ui/', { functionUrl: true });
      expect(page).toMatchObject({ status: 200, headers: { 'content-type': 'text/html; charset=utf-8' } });
      expect(page.body).toContain('id="app"');
      expect(await invokeRaw(handler, 'GET', '/ui/app.js')).toMatchObject({
        status: 200,
        body: 'console.log(1)',
        headers: { 'content-type': 'text/javascript; charset=utf-8' },
      });
      expect((await invokeRaw(handler, 'GET', '/v1/topics')).status).toBe(401);
      expect((await invokeRaw(handler, 'GET', '/v1/topics', { headers: { authorization: 'Bearer root' } })).status).toBe(200);
    });
  });
}
