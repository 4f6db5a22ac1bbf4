/**
 * How the `spool` command prints: aligned tables with coloured headers on a terminal; on a pipe,
 * tab-separated lines under a header line, with no colour. Messages go to stderr, data to stdout.
 *
 * A reader that closes early (`spool consume … | head`) is no error, as for other command-line
 * tools: the EPIPE it causes ends the printing quietly (and aborts `closed`, so a command that prints
 * until stopped stops), instead of an unhandled 'error' event with a stack trace and exit code 1.
 */
import Table from 'cli-table3';
import pc from 'picocolors';

export interface Output {
  readonly tty: boolean;
  table(head: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | null>>): void;
  line(text: string): void;
  info(text: string): void;
  /** Aborted once stdout has no reader any more. A stream without a reader is not written to again. */
  readonly closed: AbortSignal;
}

export function output(stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Output {
  const tty = Boolean(stdout.isTTY);
  const closed = new AbortController();
  const unread = new Set<NodeJS.WriteStream>();
  for (const stream of [stdout, stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      unread.add(stream);
      if (stream === stdout) closed.abort();
    });
  }
  const write = (stream: NodeJS.WriteStream, text: string) => void (unread.has(stream) || stream.write(text));
  const cell = (value: string | number | null) => (value === null ? '-' : String(value));
  return {
    tty,
    closed: closed.signal,
    table(head, rows) {
      if (tty) {
        const table = new Table({ head: head.map((h) => pc.bold(h)), style: { head: [], border: [] } });
        for (const row of rows) table.push(row.map(cell));
        write(stdout, `${table.toString()}\n`);
      } else {
        write(stdout, `${head.join('\t')}\n`);
        for (const row of rows) write(stdout, `${row.map(cell).join('\t')}\n`);
      }
    },
    line(text) {
      write(stdout, `${text}\n`);
    },
    info(text) {
      write(stderr, `${stderr.isTTY ? pc.dim(text) : text}\n`);
    },
  };
}
