/**
 * Serves the console's static bundle (built by scripts/build-console.ts into dist/console) at /ui on the
 * HTTP API's own app. The bundle holds no data: every page reads through the API with the user's key, so
 * the files themselves are public, like /healthz. Only the files the build wrote are served (read once,
 * at start, by name: no path from a request reaches the filesystem); without a build, /ui says how to
 * make one.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requires } from './access.js';
import { newRouter } from './middleware.js';

const contentTypes: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** dist/console of the package this module is in, whether it runs from lib/ (tsx) or from dist/lib/. */
export function defaultConsoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'console');
}

export function consoleRoutes(dir: string) {
  const files = new Map<string, { body: Buffer; type: string }>();
  if (existsSync(join(dir, 'index.html')))
    for (const name of readdirSync(dir)) {
      const type = contentTypes[extname(name)];
      if (type !== undefined) files.set(name, { body: readFileSync(join(dir, name)), type });
    }
  const app = newRouter();
  const file = (name: string) => {
    const found = files.get(name);
    if (found !== undefined) {
      // The page is asked for again on each load; the script and stylesheet change only with a new build (and the page with them).
      const cache = name === 'index.html' ? 'no-cache' : 'max-age=300';
      return new Response(new Uint8Array(found.body), { headers: { 'content-type': found.type, 'cache-control': cache } });
    }
    if (files.size === 0)
      return new Response(`The console is not built in ${dir}: run npm run build.\n`, {
        status: 503,
        headers: { 'content-type': 'text/plain' },
      });
    return new Response('Not found\n', { status: 404, headers: { 'content-type': 'text/plain' } });
  };
  app.get('/ui', requires({ public: true }), (c) => c.redirect('/ui/'));
  app.get('/ui/', requires({ public: true }), () => file('index.html'));
  app.get('/ui/:file', requires({ public: true }), (c) => file(c.req.param('file')));
  return app;
}
