/**
 * The layering the modules' headers promise, checked on the source: transports reach the engine only
 * through its façade (lib/log/index.ts, never `Log.internals`), and every MetadataStore key is built
 * in lib/keys.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const sourceDirs = ['lib', 'functions', 'bin', 'infra'];

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

const files = sourceDirs.flatMap(sources);
const inLog = (file: string) => file.startsWith('lib/log/');

/** Relative import specifiers of a module, resolved to repository paths (.js → .ts). */
function imports(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map(([, specifier]) =>
    relative(root, resolve(root, dirname(file), specifier!)).replace(/\.js$/, '.ts'),
  );
}

describe('architecture', () => {
  it('finds the modules it checks', () => {
    expect(files).toContain('lib/log/log.ts');
    expect(files).toContain('lib/kafka/broker.ts');
    expect(imports('lib/kafka/broker.ts')).toContain('lib/log/index.ts');
  });

  it('lets no module outside lib/log import anything of it but its index', () => {
    const reaching = files
      .filter((file) => !inLog(file))
      .flatMap((file) =>
        imports(file)
          .filter((target) => inLog(target) && target !== 'lib/log/index.ts')
          .map((target) => `${file} → ${target}`),
      );
    expect(reaching).toEqual([]);
  });

  it("lets no module outside lib/log use the engine's internals", () => {
    const reaching = files.filter((file) => !inLog(file) && /\.internals\b/.test(readFileSync(join(root, file), 'utf8')));
    expect(reaching).toEqual([]);
  });

  it('builds MetadataStore keys only in lib/keys.ts', () => {
    // A key literal ({ pk: '…' }) or a key prefix ('part#…', `group#${…}`) anywhere else.
    const keyLiteral = /\bpk:\s*['"`]|['"`](?:part|rows|group|producer|member|offset|key)#/;
    const building = files.filter((file) => file !== 'lib/keys.ts' && keyLiteral.test(readFileSync(join(root, file), 'utf8')));
    expect(building).toEqual([]);
  });
});
