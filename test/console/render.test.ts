import { describe, expect, it } from 'vitest';
import { bestView, bytesText, durationText, fromBase64, hex, show } from '../../lib/console/ui/render.js';
import { parseSse } from '../../lib/console/ui/sse.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('console > how a record is shown', () => {
  it('picks JSON for JSON, text for UTF-8, hex for anything else; null stays null', () => {
    expect(bestView(bytes('{"a":1}'))).toBe('json');
    expect(bestView(bytes('[1, 2]'))).toBe('json');
    expect(bestView(bytes('{not json'))).toBe('text');
    expect(bestView(bytes('héllo'))).toBe('text');
    expect(bestView(new Uint8Array([0xff, 0xfe, 0x00]))).toBe('hex');
    expect(show(null, 'json')).toBe('(null)');
  });

  it('shows JSON pretty, text as it is, and falls back to hex for bytes that are not UTF-8', () => {
    expect(show(bytes('{"a":[1,2]}'), 'json')).toBe('{\n  "a": [\n    1,\n    2\n  ]\n}');
    expect(show(bytes('plain'), 'json')).toBe('plain');
    expect(show(bytes('plain'), 'text')).toBe('plain');
    expect(show(new Uint8Array([0xc3, 0x28]), 'text')).toBe(hex(new Uint8Array([0xc3, 0x28])));
  });

  it('writes hex sixteen bytes a line, with offsets and printable ASCII', () => {
    const dump = hex(bytes('0123456789abcdefXYZ\n'));
    expect(dump.split('\n')).toEqual([
      '00000000  30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66  0123456789abcdef',
      '00000010  58 59 5a 0a                                      XYZ.',
    ]);
  });

  it('reads the HTTP API base64 and counts bytes for people', () => {
    expect([...fromBase64(Buffer.from([0, 1, 255]).toString('base64'))!]).toEqual([0, 1, 255]);
    expect(fromBase64(null)).toBeNull();
    expect(bytesText(340)).toBe('340 B');
    expect(bytesText(1_234_567)).toBe('1.2 MB');
  });

  it("says durations for people, Kafka's -1 as forever", () => {
    expect(durationText(604_800_000)).toBe('7 d');
    expect(durationText(5_400_000)).toBe('1.5 h');
    expect(durationText(30_000)).toBe('30 s');
    expect(durationText(250)).toBe('250 ms');
    expect(durationText(-1)).toBe('forever');
    expect(durationText(Number.NaN)).toBe('–');
  });
});

describe('console > server-sent events', () => {
  it('parses events at blank lines, joins data lines, skips comments, and keeps the event still arriving', () => {
    const { events, rest } = parseSse('id: 4\nevent: record\ndata: {"a":\ndata: 1}\n\n: waiting\n\ndata: x\r\n\r\nid: 5\nevent: rec');
    expect(events).toEqual([
      { event: 'record', id: '4', data: '{"a":\n1}' },
      { event: 'message', id: undefined, data: 'x' },
    ]);
    expect(rest).toBe('id: 5\nevent: rec');
  });

  it('reads an event split across chunks once it is whole, a CRLF split in two included', () => {
    const first = parseSse('event: record\nda');
    expect(first.events).toEqual([]);
    expect(parseSse(`${first.rest}ta: 7\n\n`).events).toEqual([{ event: 'record', id: undefined, data: '7' }]);
    const halfLine = parseSse('data: a\r');
    expect(halfLine).toEqual({ events: [], rest: 'data: a\r' });
    const next = parseSse(`${halfLine.rest}\ndata: b\r\n\r\n`);
    expect(next.events).toEqual([{ event: 'message', id: undefined, data: 'a\nb' }]);
  });
});
