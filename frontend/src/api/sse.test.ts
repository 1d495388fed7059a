import { describe, expect, it } from 'vitest';
import { SseParser, parseSse, readSse, type SseMessage } from './sse';

const enc = new TextEncoder();

/** Feed `bytes` split at the given offsets and collect every event. */
function feedSplit(bytes: Uint8Array, cuts: number[]): SseMessage[] {
  const p = new SseParser();
  const out: SseMessage[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(...p.push(bytes.subarray(prev, c)));
    prev = c;
  }
  out.push(...p.end());
  return out;
}

function simplify(ms: SseMessage[]) {
  return ms.map((m) => ({ id: m.id, event: m.event, data: m.data }));
}

// A realistic Tandem stream: ids, a ping, multibyte text (2-, 3- and 4-byte UTF-8), a
// multi-line data field and an event without an id.
const STREAM =
  ': ping\n\n' +
  'id: 1\ndata: {"type":"start","seq":1,"data":{"session_id":1}}\n\n' +
  'id: 2\ndata: {"type":"agent_interaction","seq":2,"data":{"content":"héllo — 世界 🚀"}}\n\n' +
  ': ping\n' +
  'id: 3\ndata: line one\ndata: line two ✓\n\n' +
  'data: no id here ü\n\n';

const EXPECTED = [
  { id: '1', event: 'message', data: '{"type":"start","seq":1,"data":{"session_id":1}}' },
  {
    id: '2',
    event: 'message',
    data: '{"type":"agent_interaction","seq":2,"data":{"content":"héllo — 世界 🚀"}}',
  },
  { id: '3', event: 'message', data: 'line one\nline two ✓' },
  { id: null, event: 'message', data: 'no id here ü' },
];

describe('SseParser', () => {
  it('parses a whole LF stream', () => {
    expect(simplify(parseSse(STREAM))).toEqual(EXPECTED);
  });

  it('gives the same events for a split at every byte boundary (LF)', () => {
    const bytes = enc.encode(STREAM);
    for (let i = 1; i < bytes.length; i++) {
      expect(simplify(feedSplit(bytes, [i])), `split at ${i}`).toEqual(EXPECTED);
    }
  });

  it('gives the same events for a split at every byte boundary (CRLF)', () => {
    const bytes = enc.encode(STREAM.replace(/\n/g, '\r\n'));
    for (let i = 1; i < bytes.length; i++) {
      expect(simplify(feedSplit(bytes, [i])), `split at ${i}`).toEqual(EXPECTED);
    }
  });

  it('handles bare CR line endings, also when split between CR and the next line', () => {
    const bytes = enc.encode(STREAM.replace(/\n/g, '\r'));
    for (let i = 1; i < bytes.length; i++) {
      expect(simplify(feedSplit(bytes, [i])), `split at ${i}`).toEqual(EXPECTED);
    }
  });

  it('survives one byte per chunk, including inside every multibyte character', () => {
    const bytes = enc.encode(STREAM);
    const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    expect(simplify(feedSplit(bytes, cuts))).toEqual(EXPECTED);
  });

  it('splits inside a 4-byte character at each of its inner boundaries', () => {
    const bytes = enc.encode('id: 9\ndata: 🚀\n\n');
    const start = bytes.indexOf(0xf0);
    for (let k = 1; k <= 3; k++) {
      const ms = feedSplit(bytes, [start + k]);
      expect(ms.map((m) => m.data)).toEqual(['🚀']);
    }
  });

  it('ignores comments and dispatches nothing for comment-only blocks', () => {
    expect(parseSse(': ping\n\n: another\n\n')).toEqual([]);
  });

  it('joins multi-line data with LF and strips one leading space only', () => {
    const ms = parseSse('data:a\ndata:  b\ndata\n\n');
    expect(ms[0]?.data).toBe('a\n b\n');
  });

  it('tracks the last event id across events and keeps it for events without one', () => {
    const p = new SseParser();
    const ms = p.push('id: 7\ndata: x\n\ndata: y\n\n');
    expect(ms.map((m) => [m.id, m.lastEventId])).toEqual([
      ['7', '7'],
      [null, '7'],
    ]);
    expect(p.lastEventId).toBe('7');
  });

  it('updates the last event id even for an event with no data', () => {
    const p = new SseParser();
    expect(p.push('id: 12\n\n')).toEqual([]);
    expect(p.lastEventId).toBe('12');
  });

  it('reads event and retry fields and ignores unknown ones', () => {
    const [m] = parseSse('event: update\nretry: 3000\nfoo: bar\ndata: 1\n\n');
    expect(m).toMatchObject({ event: 'update', retry: 3000, data: '1' });
  });

  it('discards an incomplete trailing event at end of stream', () => {
    expect(parseSse('data: complete\n\ndata: cut off')).toHaveLength(1);
  });

  it('strips a UTF-8 byte order mark', () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode('data: x\n\n')]);
    expect(parseSse(bytes).map((m) => m.data)).toEqual(['x']);
  });

  it('readSse yields events from a ReadableStream of arbitrary chunks', async () => {
    const bytes = enc.encode(STREAM);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 5) c.enqueue(bytes.slice(i, i + 5));
        c.close();
      },
    });
    const got: SseMessage[] = [];
    for await (const m of readSse(body)) got.push(m);
    expect(simplify(got)).toEqual(EXPECTED);
  });
});
