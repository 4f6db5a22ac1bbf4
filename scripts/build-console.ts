/**
 * Builds the console (lib/console/ui) into dist/console: one script (app.js, Preact, htm and uPlot
 * inside) and one stylesheet (app.css, Pico CSS and uPlot's), minified, and the page that loads them.
 * Nothing is fetched at run time. Run by `npm run build` (so by `npm ci`'s prepare as well); prints
 * the bundle's size.
 *
 *   node --import tsx scripts/build-console.ts [--out DIR]
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outIndex = process.argv.indexOf('--out');
const out = outIndex > 0 ? process.argv[outIndex + 1]! : join(root, 'dist', 'console');

mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(root, 'lib', 'console', 'ui', 'main.ts') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  outdir: out,
  legalComments: 'none',
  logLevel: 'warning',
});
writeFileSync(
  join(out, 'index.html'),
  `<!doctype html>
<html lang="en" data-theme="light">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Spool console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="app.css">
</head>
<body>
<div id="app"></div>
<script type="module" src="app.js"></script>
</body>
</html>
`,
);
const size = (file: string) => statSync(join(out, file)).size;
console.log(`console built in ${out}: app.js ${size('app.js')} B, app.css ${size('app.css')} B`);
