/**
 * README's table of every Kafka API key, generated from the code: Kafka's versions come from the
 * generated message pairs (lib/kafka/protocol), Spool's from the table of served APIs
 * (lib/kafka/served.ts), so the two cannot drift apart. The table sits between two markers in
 * README.md; a unit test fails when it is out of date.
 *
 *   npm run docs:api-table              # rewrite the table in README.md
 *   npm run docs:api-table -- --check   # exit 1 if README.md's table is not what the code gives
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { messagePairs } from '../../lib/kafka/protocol/index.js';
import { servedCodecs } from '../../lib/kafka/served.js';

export const tableStart = '<!-- api-table:start (npm run docs:api-table) -->';
export const tableEnd = '<!-- api-table:end -->';

const range = (min: number, max: number): string => (min === max ? `${min}` : `${min}–${max}`);

/** The table as markdown: one row per API key of Kafka's schemas, with what Spool serves of it. */
export function apiTable(): string {
  const served = new Map(servedCodecs.map((codec) => [codec.key, codec]));
  const rows = messagePairs.map((pair) => {
    const codec = served.get(pair.apiKey);
    const spool = codec ? range(codec.handledFrom ?? codec.minVersion, codec.maxVersion) : '—';
    const advertised = codec ? range(codec.minVersion, codec.maxVersion) : '—';
    return `| ${pair.apiKey} | ${pair.name} | ${range(pair.minVersion, pair.maxVersion)} | ${advertised} | ${spool} |`;
  });
  const unknown = [...served.keys()].filter((key) => !messagePairs.some((pair) => pair.apiKey === key));
  if (unknown.length > 0) throw new Error(`served API keys with no generated schema: ${unknown.join(', ')}`);
  return [
    '| key | API | Kafka (schemas) | advertised | served |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `${served.size} of ${messagePairs.length} API keys served.`,
  ].join('\n');
}

/** `readme` with its table replaced by the current one. */
export function withApiTable(readme: string): string {
  const start = readme.indexOf(tableStart);
  const end = readme.indexOf(tableEnd);
  if (start < 0 || end < start) throw new Error(`README.md has no "${tableStart}" … "${tableEnd}" section`);
  return `${readme.slice(0, start + tableStart.length)}\n${apiTable()}\n${readme.slice(end)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = fileURLToPath(new URL('../../README.md', import.meta.url));
  const readme = readFileSync(path, 'utf8');
  const current = withApiTable(readme);
  if (process.argv.includes('--check')) {
    if (current !== readme) {
      console.error('README.md: the API table is out of date; run: npm run docs:api-table');
      process.exitCode = 1;
    } else console.log('README.md: the API table is up to date');
  } else if (current !== readme) {
    writeFileSync(path, current);
    console.log('README.md: API table rewritten');
  } else console.log('README.md: the API table is up to date');
}
