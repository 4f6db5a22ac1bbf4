/**
 * How the differential suite's table of intended differences is read (test/interop/difference-rows.ts):
 * which rows apply to a command-line tool step or to a client program's step against a Kafka release,
 * and what Spool must then answer. Pure, so it runs here with the unit tests; the suite itself
 * (test/interop/differential.test.ts) needs Kafka brokers.
 */
import { describe, expect, it } from 'vitest';
import {
  canonical,
  type ClientStepDifference,
  clientRows,
  expectedClientResults,
  expectedToolResult,
  type IntendedDifference,
  rowName,
  type ToolStepDifference,
  toolStepRows,
} from './interop/difference-rows.js';

const because = { what: 'differs', why: 'on purpose' };

const toolRow: ToolStepDifference = {
  step: 'delete-records',
  kafka: ['4.4.0'],
  ...because,
  spool: (kafka) => ({ ...kafka, stdout: `${kafka.stdout} (spool)` }),
};
const secondToolRow: ToolStepDifference = { step: 'delete-records', ...because, spool: (kafka) => ({ ...kafka, exit: 1 }) };
const saramaRow: ClientStepDifference = {
  client: 'sarama',
  step: 'delete-records',
  kafka: ['3.9.1'],
  ...because,
  spool: (kafka) => ({ ...(kafka as Record<string, unknown>), error: 'OFFSET_OUT_OF_RANGE' }),
};
const kafkajsRow: ClientStepDifference = { client: 'kafkajs', step: 'list-groups', ...because, spool: () => [] };
const table: readonly IntendedDifference[] = [toolRow, saramaRow, secondToolRow, kafkajsRow];

describe('interop > intended differences > tool steps', () => {
  it('applies the rows naming the step without a client, for the Kafka release compared, in table order', () => {
    expect(toolStepRows(table, 'delete-records', '4.4.0')).toEqual([toolRow, secondToolRow]);
    expect(toolStepRows(table, 'delete-records', '3.9.1')).toEqual([secondToolRow]);
    expect(toolStepRows(table, 'list-groups', '4.4.0')).toEqual([]);
    const kafka = { exit: 0, stdout: 'low_watermark: 4', stderr: '' };
    expect(expectedToolResult(toolStepRows(table, 'delete-records', '4.4.0'), kafka)).toEqual({
      exit: 1,
      stdout: 'low_watermark: 4 (spool)',
      stderr: '',
    });
    expect(expectedToolResult([], kafka)).toBe(kafka);
  });
});

describe('interop > intended differences > client programs', () => {
  it("applies a program's rows for the Kafka release compared, never a tool step's row of the same name", () => {
    expect(clientRows(table, 'sarama', '3.9.1')).toEqual([saramaRow]);
    expect(clientRows(table, 'sarama', '4.4.0')).toEqual([]);
    expect(clientRows(table, 'franz-go', '3.9.1')).toEqual([]);
    expect(clientRows(table, 'kafkajs', '4.4.0')).toEqual([kafkajsRow]);
  });

  it("turns the named step's result into Spool's, as canonical JSON text, and leaves the other steps as Kafka's", () => {
    const kafka = new Map([
      ['create', canonical({ error: null })],
      ['delete-records', canonical({ partitions: [0], lowWatermark: 4 })],
    ]);
    const { expected, unmatched } = expectedClientResults(clientRows(table, 'sarama', '3.9.1'), kafka);
    expect(unmatched).toEqual([]);
    expect(Object.fromEntries(expected)).toEqual({
      create: '{"error":null}',
      'delete-records': '{"error":"OFFSET_OUT_OF_RANGE","lowWatermark":4,"partitions":[0]}',
    });
    expect(kafka.get('delete-records')).toBe('{"lowWatermark":4,"partitions":[0]}'); // Kafka's results are left as they are
  });

  it('reports a row whose step the program did not print, and changes nothing for it', () => {
    const kafka = new Map([['create', canonical({ error: null })]]);
    const { expected, unmatched } = expectedClientResults([kafkajsRow], kafka);
    expect(unmatched).toEqual([kafkajsRow]);
    expect(expected).toEqual(kafka);
  });

  it('names client rows in the README table by program and step', () => {
    expect(rowName(saramaRow)).toBe('sarama delete-records');
    expect(rowName(toolRow)).toBe('delete-records');
  });
});

describe('interop > intended differences > canonical', () => {
  it('sorts object keys at every depth and keeps the order of arrays', () => {
    expect(canonical({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });
});
