/**
 * How differential.test.ts reads its table of intended differences (intended-differences.ts): the
 * rows' shape, which rows apply to a step against a Kafka release, and what Spool must then answer.
 * Pure: no servers, no files.
 *
 * A row names a step of Kafka's command-line tools (differential-scenario.ts, by its id), or, with
 * `client`, a step of a client program (the Python clients' and the admin clients', by the name
 * the program prints). It turns Kafka's result into Spool's: a tool step's normalised exit status,
 * stdout and stderr, or the JSON value a client program printed for its step. Every other step, and
 * the rest of a step a row changes, must still be the same.
 */
import type { ToolResult } from './tool-runner.js';

interface Row {
  readonly step: string;
  /** The Kafka releases the row applies to ('3.9.1', '4.4.0'); all when absent. */
  readonly kafka?: readonly string[];
  readonly what: string;
  readonly why: string;
}

/** A step of Kafka's command-line tools. */
export interface ToolStepDifference extends Row {
  readonly client?: undefined;
  /** Kafka's normalised result → Spool's. */
  readonly spool: (kafka: ToolResult) => ToolResult;
}

/** A step of a client program (differential.test.ts's `clientPrograms`: 'franz-go', 'sarama', 'kafkajs', 'confluent', …). */
export interface ClientStepDifference extends Row {
  readonly client: string;
  /** The step's result on Kafka, as the program printed it (parsed JSON) → Spool's. */
  readonly spool: (kafka: unknown) => unknown;
}

export type IntendedDifference = ToolStepDifference | ClientStepDifference;

/** How the README table names a row's step: its id, or `client step` for a client program's. */
export const rowName = (row: IntendedDifference): string => (row.client === undefined ? row.step : `${row.client} ${row.step}`);

const appliesTo = (row: IntendedDifference, kafka: string) => !row.kafka || row.kafka.includes(kafka);

/** The rows for a tool step against a Kafka release. */
export function toolStepRows(rows: readonly IntendedDifference[], step: string, kafka: string): ToolStepDifference[] {
  return rows.filter((row): row is ToolStepDifference => row.client === undefined && row.step === step && appliesTo(row, kafka));
}

/** The rows for a client program's steps against a Kafka release. */
export function clientRows(rows: readonly IntendedDifference[], client: string, kafka: string): ClientStepDifference[] {
  return rows.filter((row): row is ClientStepDifference => row.client === client && appliesTo(row, kafka));
}

/** What Spool must answer for a tool step: Kafka's normalised result through the step's rows, in table order. */
export function expectedToolResult(rows: readonly ToolStepDifference[], kafka: ToolResult): ToolResult {
  return rows.reduce((result, row) => row.spool(result), kafka);
}

/** JSON text with object keys sorted, so that the order a program prints its fields in does not matter. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : 1)))
      : inner,
  );
}

/**
 * What a client program must print on Spool: Kafka's steps (step → canonical JSON text), each through
 * its rows; and the rows whose step Kafka's run did not print (the table names a step that does not
 * exist, or the program stopped before it), which change nothing.
 */
export function expectedClientResults(
  rows: readonly ClientStepDifference[],
  kafka: ReadonlyMap<string, string>,
): { expected: Map<string, string>; unmatched: ClientStepDifference[] } {
  const expected = new Map(kafka);
  const unmatched: ClientStepDifference[] = [];
  for (const row of rows) {
    const result = expected.get(row.step);
    if (result === undefined) unmatched.push(row);
    else expected.set(row.step, canonical(row.spool(JSON.parse(result))));
  }
  return { expected, unmatched };
}
