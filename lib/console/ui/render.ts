/**
 * How the console shows a record's key, value and headers: as text, as JSON (pretty) or as hex, from
 * the base64 the HTTP API returns (`encoding=base64`, so that no byte is lost on the way). Pure: the
 * same functions run in the browser and in unit tests.
 */

export type View = 'text' | 'json' | 'hex';

/** Bytes of a base64 string (the HTTP API's `encoding=base64`); null stays null (a null key or value). */
export function fromBase64(encoded: string | null): Uint8Array | null {
  if (encoded === null) return null;
  const binary = atob(encoded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The view that shows bytes best when the user has not chosen one: JSON if they parse as JSON, text if UTF-8, else hex. */
export function bestView(bytes: Uint8Array | null): View {
  if (bytes === null) return 'text';
  const text = utf8(bytes);
  if (text === undefined) return 'hex';
  return parsesAsJson(text) ? 'json' : 'text';
}

/** The bytes shown in `view`; a view they cannot be shown in falls back to hex (never a thrown error). */
export function show(bytes: Uint8Array | null, view: View): string {
  if (bytes === null) return '(null)';
  if (view === 'hex') return hex(bytes);
  const text = utf8(bytes);
  if (text === undefined) return hex(bytes);
  if (view === 'json' && parsesAsJson(text)) return JSON.stringify(JSON.parse(text), null, 2);
  return text;
}

/** Sixteen bytes per line: offset, hex pairs, printable ASCII. */
export function hex(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += 16) {
    const row = [...bytes.subarray(at, at + 16)];
    const pairs = row.map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = row.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${at.toString(16).padStart(8, '0')}  ${pairs.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function parsesAsJson(text: string): boolean {
  const trimmed = text.trim();
  if (!(trimmed.startsWith('{') || trimmed.startsWith('['))) return false;
  try {
    JSON.parse(trimmed);
    return true;
  } catch {
    return false;
  }
}

/** A count of bytes for people: 1.2 MB, 340 B. */
export function bytesText(count: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = count;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** A duration for people: 7 d, 1.5 h, 30 s; a negative one (Kafka's -1) is "forever". */
export function durationText(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 0) return 'forever';
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1000],
  ];
  for (const [unit, size] of units) if (ms >= size) return `${Number((ms / size).toFixed(1))} ${unit}`;
  return `${ms} ms`;
}
