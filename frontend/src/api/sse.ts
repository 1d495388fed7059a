// A Server-Sent Events parser following the WHATWG "event stream interpretation" rules.
// It is fed raw bytes in whatever chunks the network delivers, so every piece of state that
// can straddle a chunk boundary (a partial UTF-8 sequence, a partial line, a CR whose LF has
// not arrived yet, a half-built event) lives in the parser, not in the caller.

export interface SseMessage {
  /** The `event:` field, "message" when absent. */
  event: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The last event id seen on the stream when this event was dispatched (may be ""). */
  lastEventId: string;
  /** The `id:` field of this very event, if it had one. */
  id: string | null;
  /** A `retry:` value given with this event, if any. */
  retry: number | null;
}

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';
  // A CR ended the previous chunk: an LF at the start of the next one belongs to it.
  private skipLeadingLf = false;
  private dataLines: string[] = [];
  private hasData = false;
  private eventType = '';
  private eventId: string | null = null;
  private retry: number | null = null;
  private lastId = '';

  /** The last `id:` received, as a reconnecting client must send in `Last-Event-ID`. */
  get lastEventId(): string {
    return this.lastId;
  }

  /** Feed bytes (or already-decoded text); returns the events completed by them. */
  push(chunk: Uint8Array | string): SseMessage[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    return this.consume(text);
  }

  /**
   * The stream ended. A trailing event without its blank line is discarded, as the spec
   * requires: it may be truncated.
   */
  end(): SseMessage[] {
    const out = this.consume(this.decoder.decode());
    this.buffer = '';
    this.resetEvent();
    return out;
  }

  private consume(text: string): SseMessage[] {
    const out: SseMessage[] = [];
    let s = text;
    if (this.skipLeadingLf && s.length > 0) {
      if (s.charCodeAt(0) === 10) s = s.slice(1);
      this.skipLeadingLf = false;
    }
    if (s.length === 0) return out;
    this.buffer += s;

    let start = 0;
    const buf = this.buffer;
    const len = buf.length;
    for (let i = 0; i < len; i++) {
      const c = buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(buf.slice(start, i), out);
      if (c === 13) {
        if (i + 1 < len) {
          if (buf.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLeadingLf = true;
        }
      }
      start = i + 1;
    }
    this.buffer = start === 0 ? buf : buf.slice(start);
    return out;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line.length === 0) {
      this.dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) return; // comment, e.g. ": ping"
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.slice(line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1);
    }
    switch (field) {
      case 'data':
        this.dataLines.push(value);
        this.hasData = true;
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        // An id with NUL is ignored by the spec (it could never be sent back in a header).
        if (!value.includes('\0')) {
          this.lastId = value;
          this.eventId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(out: SseMessage[]): void {
    if (this.hasData) {
      out.push({
        event: this.eventType || 'message',
        data: this.dataLines.join('\n'),
        lastEventId: this.lastId,
        id: this.eventId,
        retry: this.retry,
      });
    }
    this.resetEvent();
  }

  private resetEvent(): void {
    this.dataLines = [];
    this.hasData = false;
    this.eventType = '';
    this.eventId = null;
    this.retry = null;
  }
}

/** Parse a whole body at once (tests, small payloads). */
export function parseSse(body: string | Uint8Array): SseMessage[] {
  const p = new SseParser();
  return [...p.push(body), ...p.end()];
}

/**
 * Read SSE messages from a byte stream until it ends or the signal aborts. The parser is
 * passed in so that the caller keeps `lastEventId` after a dropped connection.
 */
export async function* readSse(
  body: ReadableStream<Uint8Array>,
  parser: SseParser = new SseParser(),
): AsyncGenerator<SseMessage, void, undefined> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const m of parser.push(value)) yield m;
    }
    for (const m of parser.end()) yield m;
  } finally {
    // Releasing (not cancelling) would leave the connection open if the consumer stopped early.
    reader.cancel().catch(() => undefined);
  }
}
