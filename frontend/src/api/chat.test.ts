import { afterEach, describe, expect, it, vi } from 'vitest';
import * as f from '../test/fixtures';
import { attachRunStream, sendMessageStream, type StreamCallbacks } from './chat';
import type { StreamEvent } from './types';

type Responder = (call: f.Call, signal: AbortSignal | null | undefined) => Response | Promise<Response>;

function fakeFetch(responders: Responder[]) {
  const calls: f.Call[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const call = f.recordCall(input, init);
    calls.push(call);
    const r = responders[calls.length - 1];
    if (!r) throw new TypeError('no more responses');
    return r(call, init?.signal);
  });
  return { fetch: fn as unknown as typeof fetch, calls };
}

function recorder() {
  const log: string[] = [];
  const events: StreamEvent[] = [];
  const cb: StreamCallbacks = {
    onEvent: (e) => events.push(e),
    onStart: (d) => log.push(`start:${d.session_id}`),
    onAgentInteraction: (d) => log.push(`ai:${d.content}`),
    onDelta: (d) => log.push(`delta:${d.delta}`),
    onFileChanged: (d) => log.push(`file:${d.path}`),
    onComplete: (d) => log.push(`complete:${d.message.content}`),
    onError: (d) => log.push(`error:${d.code}`),
  };
  return { cb, log, events };
}

const fast = { baseDelayMs: 1, maxDelayMs: 2 };

describe('sendMessageStream', () => {
  it('POSTs the seed body and calls the callbacks in order', async () => {
    const { fetch, calls } = fakeFetch([
      () =>
        f.sseResponse({
          parts: [
            ': ping\n\n',
            f.frame([f.start(), f.interaction(2), f.delta(3, 'Hi')]),
            f.frame([{ type: 'file_changed', seq: 4, run_id: f.RUN, data: { path: 'a.txt', change_type: 'created' } }]),
            f.frame([f.complete(5)]),
          ],
        }),
    ]);
    const { cb, log } = recorder();
    const h = sendMessageStream(1, 'add a button', null, cb, { fetch });
    const outcome = await h.done;
    expect(outcome.kind).toBe('complete');
    expect(log).toEqual(['start:1', 'ai:step 2', 'delta:Hi', 'file:a.txt', 'complete:All **done**.']);
    expect(h.runId).toBe(f.RUN);
    expect(await h.started).toBe(f.RUN);
    expect(calls[0]).toMatchObject({
      url: '/api/v1/chat/1/stream',
      method: 'POST',
      body: { message: 'add a button', session_id: null },
    });
    expect(calls[0]?.headers['idempotency-key']).toBeTruthy();
  });

  it('re-attaches with Last-Event-ID after a dropped connection: nothing lost, nothing twice', async () => {
    const { fetch, calls } = fakeFetch([
      () => f.sseResponse({ parts: [f.frame([f.start(), f.interaction(2), f.interaction(3)])], failAtEnd: true }),
      // The server replays from after=3, but this one overlaps by one event: it must be dropped.
      () => f.sseResponse({ parts: [f.frame([f.interaction(3), f.interaction(4), f.complete(5)])] }),
    ]);
    const { cb, log } = recorder();
    const reconnects: string[] = [];
    const h = sendMessageStream(1, 'go', 7, { ...cb, onReconnect: (i) => reconnects.push(i.lastEventId) }, { fetch, ...fast });
    expect((await h.done).kind).toBe('complete');
    expect(log).toEqual(['start:1', 'ai:step 2', 'ai:step 3', 'ai:step 4', 'complete:All **done**.']);
    expect(reconnects).toEqual(['3']);
    expect(calls[1]).toMatchObject({ url: `/api/v1/runs/${f.RUN}/stream?after=3`, method: 'GET' });
    expect(calls[1]?.headers['last-event-id']).toBe('3');
  });

  it('re-attaches when the stream closes cleanly without a terminal event', async () => {
    const { fetch, calls } = fakeFetch([
      () => f.sseResponse({ parts: [f.frame([f.start(), f.interaction(2)])] }),
      () => f.sseResponse({ parts: [f.frame([f.error(3, 'cancelled', 'Stopped')])] }),
    ]);
    const { cb, log } = recorder();
    const out = await sendMessageStream(1, 'go', null, cb, { fetch, ...fast }).done;
    expect(out).toEqual({ kind: 'error', data: { code: 'cancelled', message: 'Stopped' } });
    expect(log).toEqual(['start:1', 'ai:step 2', 'error:cancelled']);
    expect(calls[1]?.url).toContain('after=2');
  });

  it('repeats the POST with the same Idempotency-Key when it drops before the run id is known', async () => {
    const { fetch, calls } = fakeFetch([
      () => {
        throw new TypeError('Failed to fetch');
      },
      () => f.sseResponse({ parts: [f.frame([f.start(), f.complete(2)])] }),
    ]);
    const { cb, log } = recorder();
    await sendMessageStream(1, 'go', null, cb, { fetch, ...fast }).done;
    expect(log).toEqual(['start:1', 'complete:All **done**.']);
    expect(calls.map((c) => c.method)).toEqual(['POST', 'POST']);
    expect(calls[1]?.headers['idempotency-key']).toBe(calls[0]?.headers['idempotency-key']);
  });

  it('reports an API error (409 busy) without retrying', async () => {
    const { fetch, calls } = fakeFetch([
      () => f.jsonResponse({ code: 'busy', message: 'A run is already active' }, 409),
    ]);
    const { cb, log } = recorder();
    const out = await sendMessageStream(1, 'go', null, cb, { fetch, ...fast }).done;
    expect(out).toEqual({ kind: 'error', data: { code: 'busy', message: 'A run is already active' } });
    expect(log).toEqual(['error:busy']);
    expect(calls).toHaveLength(1);
  });

  it('gives up with a network error after repeated failures', async () => {
    const fail: Responder = () => {
      throw new TypeError('Failed to fetch');
    };
    const { fetch, calls } = fakeFetch([fail, fail, fail, fail]);
    const { cb, log } = recorder();
    const out = await sendMessageStream(1, 'go', null, cb, { fetch, ...fast, maxAttempts: 3 }).done;
    expect(out.kind).toBe('error');
    expect(log).toEqual(['error:network']);
    expect(calls).toHaveLength(4);
  });

  it('retries a 503 on re-attach', async () => {
    const { fetch } = fakeFetch([
      () => f.sseResponse({ parts: [f.frame([f.start()])], failAtEnd: true }),
      () => f.jsonResponse({ code: 'internal', message: 'unavailable' }, 503),
      () => f.sseResponse({ parts: [f.frame([f.complete(2)])] }),
    ]);
    const { cb, log } = recorder();
    await sendMessageStream(1, 'go', null, cb, { fetch, ...fast }).done;
    expect(log).toEqual(['start:1', 'complete:All **done**.']);
  });

  it('abort stops reading and reports nothing more', async () => {
    const { fetch } = fakeFetch([
      (_c, signal) => f.sseResponse({ parts: [f.frame([f.start()])], hang: true }, signal),
    ]);
    const { cb, log } = recorder();
    const h = sendMessageStream(1, 'go', null, cb, { fetch, ...fast });
    await h.started;
    h.abort();
    expect(await h.done).toEqual({ kind: 'aborted' });
    expect(log).toEqual(['start:1']);
  });

  it('passes unknown events to onEvent only, and survives a throwing callback', async () => {
    const { fetch } = fakeFetch([
      () =>
        f.sseResponse({
          parts: [
            f.frame([f.start(), { type: 'brand_new', seq: 2, run_id: f.RUN, data: {} }, f.interaction(3)]),
            'data: not json\n\n',
            f.frame([f.complete(4)]),
          ],
        }),
    ]);
    const { cb, log, events } = recorder();
    const spy = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const h = sendMessageStream(
      1,
      'go',
      null,
      {
        ...cb,
        onStart: () => {
          throw new Error('UI bug');
        },
      },
      { fetch },
    );
    expect((await h.done).kind).toBe('complete');
    expect(events.map((e) => e.type)).toEqual(['start', 'brand_new', 'agent_interaction', 'complete']);
    expect(log).toEqual(['ai:step 3', 'complete:All **done**.']);
    spy.mockRestore();
  });
});

describe('sendMessageStream re-attach back-off (fake timers)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A fetch that records the (fake) time of each call and answers from `responders`. */
  function timedFetch(responders: Responder[]) {
    const times: number[] = [];
    const t0 = Date.now();
    const { fetch, calls } = fakeFetch(
      responders.map((r) => (call, signal) => {
        times.push(Date.now() - t0);
        return r(call, signal);
      }),
    );
    return { fetch, calls, times };
  }

  const refused: Responder = () => {
    throw new TypeError('Failed to fetch');
  };

  it('waits base·2^(n-1) ms before attempt n, capped, then gives up with a clear error', async () => {
    vi.useFakeTimers();
    const { fetch, times } = timedFetch(Array.from({ length: 10 }, () => refused));
    const { cb, log } = recorder();
    const errors: unknown[] = [];
    const attempts: number[] = [];
    const h = sendMessageStream(
      1,
      'go',
      null,
      { ...cb, onError: (d, ev) => errors.push([d, ev]), onReconnect: (i) => attempts.push(i.attempt) },
      { fetch, baseDelayMs: 100, maxDelayMs: 300, maxAttempts: 4 },
    );
    // No re-attach before its delay is over.
    await vi.advanceTimersByTimeAsync(99);
    expect(times).toEqual([0]);
    await vi.advanceTimersByTimeAsync(5_000);
    const out = await h.done;
    // Delays 100, 200, 300 (capped from 400), 300: the first try and 4 re-attaches.
    expect(times).toEqual([0, 100, 300, 600, 900]);
    expect(attempts).toEqual([1, 2, 3, 4]);
    const error = { code: 'network', message: 'Lost the connection to the run: Failed to fetch' };
    expect(out).toEqual({ kind: 'error', data: error });
    // onError is called once, with no event: the failure is the client's, not the server's.
    expect(errors).toEqual([[error, undefined]]);
    expect(log).toEqual([]);
  });

  it('defaults: 8 re-attaches over 250 ms doubling up to 4 s, then gives up', async () => {
    vi.useFakeTimers();
    const { fetch, times } = timedFetch(Array.from({ length: 12 }, () => refused));
    const { cb, log } = recorder();
    const h = sendMessageStream(1, 'go', null, cb, { fetch });
    await vi.advanceTimersByTimeAsync(60_000);
    expect((await h.done).kind).toBe('error');
    expect(times).toEqual([0, 250, 750, 1750, 3750, 7750, 11750, 15750, 19750]);
    expect(log).toEqual(['error:network']);
  });

  it('an attempt that delivers events resets the back-off', async () => {
    vi.useFakeTimers();
    const { fetch, times, calls } = timedFetch([
      () => f.sseResponse({ parts: [f.frame([f.start()])], failAtEnd: true }),
      refused,
      () => f.sseResponse({ parts: [f.frame([f.interaction(2)])], failAtEnd: true }),
      () => f.sseResponse({ parts: [f.frame([f.complete(3)])] }),
    ]);
    const { cb, log } = recorder();
    const h = sendMessageStream(1, 'go', null, cb, { fetch, baseDelayMs: 100, maxDelayMs: 10_000 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect((await h.done).kind).toBe('complete');
    // 100 after the first drop, 200 after the refused one, back to 100 after events came.
    expect(times).toEqual([0, 100, 300, 400]);
    expect(calls.map((c) => c.url)).toEqual([
      '/api/v1/chat/1/stream',
      `/api/v1/runs/${f.RUN}/stream?after=1`,
      `/api/v1/runs/${f.RUN}/stream?after=1`,
      `/api/v1/runs/${f.RUN}/stream?after=2`,
    ]);
    expect(calls.slice(1).map((c) => c.headers['last-event-id'])).toEqual(['1', '1', '2']);
    expect(log).toEqual(['start:1', 'ai:step 2', 'complete:All **done**.']);
  });

  it('abort during the back-off ends at once, without another request or an error', async () => {
    vi.useFakeTimers();
    const { fetch, times } = timedFetch([refused, refused]);
    const { cb, log } = recorder();
    const h = sendMessageStream(1, 'go', null, cb, { fetch, baseDelayMs: 1_000 });
    await vi.advanceTimersByTimeAsync(10);
    h.abort();
    expect(await h.done).toEqual({ kind: 'aborted' });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(times).toEqual([0]);
    expect(log).toEqual([]);
  });
});

describe('sendMessageStream de-duplication', () => {
  it('uses the SSE id when the envelope has no seq, and drops replays at or below it', async () => {
    const bare = (e: StreamEvent, id: number) => `id: ${id}\ndata: ${JSON.stringify({ ...e, seq: undefined })}\n\n`;
    const { fetch, calls } = fakeFetch([
      () => f.sseResponse({ parts: [bare(f.start(), 1), bare(f.interaction(2), 2)], failAtEnd: true }),
      () =>
        f.sseResponse({
          parts: [bare(f.interaction(1, { content: 'old' }), 1), bare(f.interaction(2, { content: 'again' }), 2), bare(f.complete(3), 3)],
        }),
    ]);
    const { cb, log } = recorder();
    await sendMessageStream(1, 'go', null, cb, { fetch, ...fast }).done;
    expect(log).toEqual(['start:1', 'ai:step 2', 'complete:All **done**.']);
    expect(calls[1]?.headers['last-event-id']).toBe('2');
  });

  it('delivers a terminal event once even when the replay repeats it', async () => {
    const { fetch } = fakeFetch([
      () => f.sseResponse({ parts: [f.frame([f.start(), f.complete(2), f.complete(2)])] }),
    ]);
    const { cb, log } = recorder();
    expect((await sendMessageStream(1, 'go', null, cb, { fetch }).done).kind).toBe('complete');
    expect(log).toEqual(['start:1', 'complete:All **done**.']);
  });

  it('ignores an unknown event type without stopping or counting it as a terminal', async () => {
    const { fetch } = fakeFetch([
      () =>
        f.sseResponse({
          parts: [
            f.frame([f.start(), { type: 'done', seq: 2, run_id: f.RUN, data: {} }, { type: 'complete_v2', seq: 3, data: {} }]),
            f.frame([f.interaction(4), f.complete(5)]),
          ],
        }),
    ]);
    const { cb, log } = recorder();
    expect((await sendMessageStream(1, 'go', null, cb, { fetch }).done).kind).toBe('complete');
    expect(log).toEqual(['start:1', 'ai:step 4', 'complete:All **done**.']);
  });
});

describe('attachRunStream', () => {
  it('follows a running run from after=n', async () => {
    const { fetch, calls } = fakeFetch([
      () => f.sseResponse({ parts: [f.frame([f.interaction(5), f.complete(6)])] }),
    ]);
    const { cb, log } = recorder();
    const h = attachRunStream(f.RUN, 4, cb, { fetch });
    expect(h.runId).toBe(f.RUN);
    await h.done;
    expect(log).toEqual(['ai:step 5', 'complete:All **done**.']);
    expect(calls[0]?.url).toBe(`/api/v1/runs/${f.RUN}/stream?after=4`);
    expect(calls[0]?.headers['last-event-id']).toBe('4');
  });
});
