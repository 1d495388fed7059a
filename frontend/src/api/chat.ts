// The seed's streaming client: `sendMessageStream()` POSTs a chat message and reads the SSE
// reply with fetch() + ReadableStream. Beyond the seed it survives dropped connections: it
// remembers the last event id and re-attaches to the run (`GET /runs/{id}/stream` with
// `Last-Event-ID`), dropping anything at or below the last seq it has already delivered, so the
// callbacks see every event exactly once and in order.

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { ApiError, apiFetch, request } from './client';
import { qk } from './keys';
import { SseParser, readSse } from './sse';
import type {
  ChatResponse,
  CompleteData,
  CompleteEvent,
  DeltaData,
  DeltaEvent,
  ErrorData,
  ErrorEvent,
  FileChangedData,
  FileChangedEvent,
  InteractionData,
  InteractionEvent,
  StartData,
  StartEvent,
  StreamEvent,
} from './types';
import { isKnownEvent, type Dispatch, type KnownStreamEvent } from './types';

export interface StreamCallbacks {
  onStart?: (data: StartData, event: StartEvent) => void;
  onAgentInteraction?: (data: InteractionData, event: InteractionEvent) => void;
  onDelta?: (data: DeltaData, event: DeltaEvent) => void;
  onFileChanged?: (data: FileChangedData, event: FileChangedEvent) => void;
  onComplete?: (data: CompleteData, event: CompleteEvent) => void;
  /** A terminal `error` event, or a client-side failure (`code: "network"`, HTTP errors). */
  onError?: (data: ErrorData, event?: ErrorEvent) => void;
  /** Every event (known or not) exactly once and in seq order: the input of the reducer. */
  onEvent?: (event: StreamEvent) => void;
  /** The connection dropped and the client is about to re-attach. */
  onReconnect?: (info: { attempt: number; lastEventId: string; runId: string | null }) => void;
}

export type StreamOutcome =
  | { kind: 'complete'; data: CompleteData }
  | { kind: 'error'; data: ErrorData }
  | { kind: 'aborted' };

export interface StreamHandle {
  /** The run id, known from the first event on (null before). */
  readonly runId: string | null;
  /** The last event id received, as sent back in `Last-Event-ID`. */
  readonly lastEventId: string;
  /** Resolves with the run id as soon as it is known, or null if the stream ends without one. */
  readonly started: Promise<string | null>;
  /** Resolves when the stream ends: terminal event, unrecoverable failure or abort. */
  readonly done: Promise<StreamOutcome>;
  /** Stop reading. The run itself goes on (use the cancel endpoint to stop it). */
  abort(): void;
}

export interface StreamOptions {
  /** Re-attach delays grow from this (ms), doubling, capped at maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Consecutive re-attach attempts without receiving any event before giving up. */
  maxAttempts?: number;
  /** Sent as `Idempotency-Key` so a retried POST attaches to the same run. */
  idempotencyKey?: string;
  onDisconnect?: 'continue' | 'cancel';
  /** Injected in tests. */
  fetch?: typeof fetch;
}

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

function randomKey(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

function parseEnvelope(data: string): StreamEvent | null {
  try {
    const v: unknown = JSON.parse(data);
    if (typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string') {
      return v as StreamEvent;
    }
  } catch {
    // A malformed event is skipped like an unknown one; the terminal event still ends the run.
  }
  return null;
}

function safeCall(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    // A throwing UI callback must not kill the stream (and with it every later event).
    console.error('stream callback failed', e);
  }
}

interface Opener {
  (signal: AbortSignal, lastEventId: string, lastSeq: number): Promise<Response>;
}

/** Re-attach to a run's stream after the last event delivered (the run id may be learnt late). */
function runStream(runId: () => string, options: StreamOptions): Opener {
  return (signal, lastEventId, seq) =>
    apiFetch(
      `/runs/${encodeURIComponent(runId())}/stream?after=${seq}`,
      {
        method: 'GET',
        headers: { Accept: 'text/event-stream', 'Last-Event-ID': lastEventId || String(seq) },
        cache: 'no-store',
        signal,
      },
      options.fetch,
    );
}

function startStream(
  initial: Opener,
  initialRunId: string | null,
  initialSeq: number,
  callbacks: StreamCallbacks,
  options: StreamOptions,
): StreamHandle {
  const controller = new AbortController();
  const parser = new SseParser();
  const baseDelay = options.baseDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 4000;
  const maxAttempts = options.maxAttempts ?? 8;

  let runId = initialRunId;
  let lastSeq = initialSeq;
  let resolveStarted: (v: string | null) => void = () => undefined;
  const started = new Promise<string | null>((r) => {
    resolveStarted = r;
  });
  if (runId !== null) resolveStarted(runId);

  const reattach = runStream(() => runId ?? '', options);

  // The stream client's dispatch table: one entry per event type; the terminal ones end the stream.
  const HANDLERS: Dispatch<StreamOutcome | null> = {
    start: (ev) => {
      if (runId === null) {
        runId = ev.data.run_id;
        resolveStarted(runId);
      }
      safeCall(() => callbacks.onStart?.(ev.data, ev));
      return null;
    },
    agent_interaction: (ev) => {
      safeCall(() => callbacks.onAgentInteraction?.(ev.data, ev));
      return null;
    },
    agent_delta: (ev) => {
      safeCall(() => callbacks.onDelta?.(ev.data, ev));
      return null;
    },
    file_changed: (ev) => {
      safeCall(() => callbacks.onFileChanged?.(ev.data, ev));
      return null;
    },
    complete: (ev) => {
      safeCall(() => callbacks.onComplete?.(ev.data, ev));
      return { kind: 'complete', data: ev.data };
    },
    error: (ev) => {
      safeCall(() => callbacks.onError?.(ev.data, ev));
      return { kind: 'error', data: ev.data };
    },
  };

  function deliver(ev: StreamEvent): StreamOutcome | null {
    if (typeof ev.run_id === 'string' && runId === null) {
      runId = ev.run_id;
      resolveStarted(runId);
    }
    safeCall(() => callbacks.onEvent?.(ev));
    if (!isKnownEvent(ev)) return null;
    return (HANDLERS[ev.type] as (e: KnownStreamEvent) => StreamOutcome | null)(ev);
  }

  function fail(data: ErrorData): StreamOutcome {
    safeCall(() => callbacks.onError?.(data));
    return { kind: 'error', data };
  }

  async function drive(): Promise<StreamOutcome> {
    const signal = controller.signal;
    let open: Opener = initial;
    let failures = 0;
    let lastProblem = 'connection lost';
    while (!signal.aborted) {
      let received = false;
      try {
        const res = await open(signal, parser.lastEventId, lastSeq);
        if (!res.body) {
          return fail({ code: 'network', message: 'The response has no body to stream' });
        } else {
          for await (const msg of readSse(res.body, parser)) {
            const ev = parseEnvelope(msg.data);
            if (ev === null) continue;
            // seq in the envelope, else the SSE id: the two are the same number on Tandem.
            const seq = typeof ev.seq === 'number' ? ev.seq : msg.id !== null ? Number(msg.id) : NaN;
            if (Number.isFinite(seq)) {
              if (seq <= lastSeq) continue; // already delivered before a re-attach
              lastSeq = seq;
            }
            received = true;
            const outcome = deliver(ev);
            if (outcome) return outcome;
            if (signal.aborted) break;
          }
          lastProblem = 'the stream ended before the run finished';
        }
      } catch (e) {
        if (signal.aborted) break;
        // An answer that no retry will change (404, 409 busy, 401…) ends the stream at once.
        if (e instanceof ApiError && e.status !== 0 && !RETRYABLE_STATUS.has(e.status)) {
          return fail({ code: e.code, message: e.message });
        }
        lastProblem = e instanceof Error ? e.message : String(e);
      }
      if (signal.aborted) break;
      failures = received ? 1 : failures + 1;
      if (failures > maxAttempts) {
        return fail({ code: 'network', message: `Lost the connection to the run: ${lastProblem}` });
      }
      safeCall(() =>
        callbacks.onReconnect?.({ attempt: failures, lastEventId: parser.lastEventId, runId }),
      );
      await sleep(Math.min(maxDelay, baseDelay * 2 ** (failures - 1)), signal);
      // Without a run id yet, repeat the POST: its Idempotency-Key attaches it to the same run.
      if (runId !== null) open = reattach;
    }
    return { kind: 'aborted' };
  }

  const done = drive().then(
    (outcome) => {
      resolveStarted(runId);
      return outcome;
    },
    (e: unknown) => {
      resolveStarted(runId);
      return fail({ code: 'internal', message: e instanceof Error ? e.message : String(e) });
    },
  );

  return {
    get runId() {
      return runId;
    },
    get lastEventId() {
      return parser.lastEventId || (lastSeq > 0 ? String(lastSeq) : '');
    },
    started,
    done,
    abort: () => controller.abort(),
  };
}

/**
 * Send a chat message and stream the agents' work (seed API). `sessionId` null starts a new
 * session; its id arrives in `onStart`.
 */
export function sendMessageStream(
  projectId: number,
  message: string,
  sessionId: number | null,
  callbacks: StreamCallbacks,
  options: StreamOptions = {},
): StreamHandle {
  const key = options.idempotencyKey ?? randomKey();
  const query = options.onDisconnect ? `?on_disconnect=${options.onDisconnect}` : '';
  const post: Opener = (signal) =>
    apiFetch(
      `/chat/${projectId}/stream${query}`,
      {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'text/event-stream',
          'Idempotency-Key': key,
        },
        body: JSON.stringify({ message, session_id: sessionId }),
        cache: 'no-store',
        signal,
      },
      options.fetch,
    );
  return startStream(post, null, 0, callbacks, options);
}

/**
 * Follow a run that is already going (e.g. after a page reload), from the event after `after`.
 */
export function attachRunStream(
  runId: string,
  after: number,
  callbacks: StreamCallbacks,
  options: StreamOptions = {},
): StreamHandle {
  return startStream(runStream(() => runId, options), runId, after, callbacks, options);
}

/** The seed's non-streaming endpoint: the whole answer once the run has ended. */
export const sendMessage = (projectId: number, message: string, sessionId: number | null) =>
  request<ChatResponse>('POST', `/chat/${projectId}`, { message, session_id: sessionId });

export function useSendChatMessage(projectId: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (v: { message: string; sessionId: number | null }) =>
      sendMessage(projectId, v.message, v.sessionId),
    onSettled: () => qc.invalidateQueries({ queryKey: qk.project(projectId) }),
  });
}

export { ApiError };
