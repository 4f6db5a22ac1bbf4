/**
 * How the `spool` command prints: aligned tables with coloured headers on a terminal; on a pipe,
 * tab-separated lines under a header line, with no colour. Messages go to stderr, data to stdout.
 */
import Table from 'cli-table3';
import pc from 'picocolors';

export interface Output {
  readonly tty: boolean;
  table(head: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | null>>): void;
  line(text: string): void;
  info(text: string): void;
}

export function output(stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Output {
  const tty = Boolean(stdout.isTTY);
  const cell = (value: string | number | null) => (value === null ? '-' : String(value));
  return {
    tty,
    table(head, rows) {
      if (tty) {
        const table = new Table({ head: head.map((h) => pc.bold(h)), style: { head: [], border: [] } });
        for (const row of rows) table.push(row.map(cell));
        stdout.write(`${table.toString()}\n`);
      } else {
        stdout.write(`${head.join('\t')}\n`);
        for (const row of rows) stdout.write(`${row.map(cell).join('\t')}\n`);
      }
    },
    line(text) {
      stdout.write(`${text}\n`);
    },
    info(text) {
      stderr.write(`${stderr.isTTY ? pc.dim(text) : text}\n`);
    },
  };
}
