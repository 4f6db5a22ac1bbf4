/**
 * Server-sent events read from a fetch body, for the records browser's live tail. EventSource cannot
 * send the Authorization header the API needs, so the console reads the stream itself and parses it
 * by the HTML standard's rules: events end at a blank line; `data` lines join with "\n"; a comment
 * (":") or a line with an unknown field is skipped; an event with no data is not dispatched. Pure:
 * unit-tested beside the renderers.
 */

export interface SseEvent {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: string;
}

/** The complete events at the front of `buffer`, and what is left of it (an event still arriving). */
export function parseSse(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  // A CR at the very end may be the first half of a CRLF split across chunks: it waits for the next one.
  const held = buffer.endsWith('\r') ? '\r' : '';
  const normalized = buffer.slice(0, buffer.length - held.length).replace(/\r\n?/g, '\n');
  const blocks = normalized.split('\n\n');
  const rest = (blocks.pop() ?? '') + held;
  for (const block of blocks) {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) events.push({ event, id, data: data.join('\n') });
  }
  return { events, rest };
}
