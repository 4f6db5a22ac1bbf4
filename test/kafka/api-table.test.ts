/** README's table of Kafka API keys is the one the code gives (scripts/kafka-protocol/api-table.ts). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apiTable, withApiTable } from '../../scripts/kafka-protocol/api-table.js';
import { servedCodecs } from '../../lib/kafka/served.js';

describe('kafka > README API table', () => {
  it('lists every served API with its versions, and README carries the current table (npm run docs:api-table)', () => {
    const table = apiTable();
    for (const codec of servedCodecs) {
      const served = codec.handledFrom ?? codec.minVersion;
      const range = (min: number, max: number) => (min === max ? `${min}` : `${min}–${max}`);
      expect(table).toContain(`| ${codec.key} | ${codec.name} |`);
      expect(table).toMatch(
        new RegExp(
          `\\| ${codec.key} \\| ${codec.name} \\| [^|]+ \\| ${range(codec.minVersion, codec.maxVersion)} \\| ${range(served, codec.maxVersion)} \\|`,
        ),
      );
    }
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(withApiTable(readme) === readme, 'README.md: the API table is out of date; run npm run docs:api-table').toBe(true);
  });
});
