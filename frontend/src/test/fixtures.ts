// Builders for wire events and a fake fetch that serves SSE bodies, shared by the tests.
import type {
  CodeChange,
  Interaction,
  InteractionData,
  Message,
  Project,
  StreamEvent,
  Usage,
} from '../api/types';

export const RUN = 'run-1';
const T = '2025-12-28T10:30:15.123Z';

export function start(seq = 1, sessionId = 1): StreamEvent {
  return {
    type: 'start',
    run_id: RUN,
    seq,
    data: { session_id: sessionId, user_message_id: 5, run_id: RUN, assistant_message_id: 6 },
  };
}

export function interaction(seq: number, over: Partial<InteractionData> = {}): StreamEvent {
  return {
    type: 'agent_interaction',
    run_id: RUN,
    seq,
    data: {
      agent_name: 'Planner',
      message_type: 'thought',
      content: `step ${seq}`,
      tool_name: null,
      tool_arguments: null,
      timestamp: T,
      id: 100 + seq,
      tool_call_id: null,
      ...over,
    },
  };
}

export function delta(seq: number, text: string, type: 'thought' | 'message' = 'message'): StreamEvent {
  return {
    type: 'agent_delta',
    run_id: RUN,
    seq,
    data: { agent_name: 'Coder', message_type: type, delta: text },
  };
}

/** What a running tool (`run_command`) prints. */
export function toolOutput(seq: number, callId: string, text: string): StreamEvent {
  return {
    type: 'agent_delta',
    run_id: RUN,
    seq,
    data: { agent_name: 'Coder', message_type: 'tool_output', delta: text, tool_call_id: callId },
  };
}

export const usage: Record<string, Usage> = {
  Planner: { requests: 2, input_tokens: 1200, output_tokens: 300, tool_calls: 1, cost_usd: null },
  Coder: { requests: 3, input_tokens: 2400, output_tokens: 800, tool_calls: 4, cost_usd: null },
};

export function change(id: number, over: Partial<CodeChange> = {}): CodeChange {
  return {
    id,
    run_id: RUN,
    project_id: 1,
    path: 'src/App.tsx',
    change_type: 'modified',
    diff: '--- a/src/App.tsx\n+++ b/src/App.tsx\n@@ -1 +1 @@\n-old\n+new\n',
    created_at: T,
    reverted: false,
    ...over,
  };
}

export function assistantMessage(over: Partial<Message> = {}): Message {
  return {
    id: 6,
    session_id: 1,
    role: 'assistant',
    content: 'All **done**.',
    agent_name: 'Coder',
    created_at: T,
    run_id: RUN,
    run_status: 'completed',
    agent_interactions: [],
    ...over,
  };
}

export function complete(seq: number, over: Partial<Message> = {}, changes: CodeChange[] = []): StreamEvent {
  return {
    type: 'complete',
    run_id: RUN,
    seq,
    data: { session_id: 1, message: assistantMessage(over), code_changes: changes, usage },
  };
}

export function error(seq: number, code: string, message = 'boom'): StreamEvent {
  return { type: 'error', run_id: RUN, seq, data: { code, message } };
}

export function storedInteraction(seq: number, over: Partial<Interaction> = {}): Interaction {
  const ev = interaction(seq, over);
  return { ...(ev.data as InteractionData), seq };
}

/** Frame events as Tandem does: `id: <seq>` + `data: <json>` + blank line. */
export function frame(events: StreamEvent[]): string {
  return events.map((e) => `id: ${e.seq ?? ''}\ndata: ${JSON.stringify(e)}\n\n`).join('');
}

export interface ScriptedBody {
  /** Chunks to send; a number pauses for that many ms. */
  parts: (string | number)[];
  /** End the body with a network error instead of a clean close. */
  failAtEnd?: boolean;
  /** Leave the body open after the last part (until aborted). */
  hang?: boolean;
}

export function sseBody({ parts, failAtEnd, hang }: ScriptedBody, signal?: AbortSignal | null) {
  const enc = new TextEncoder();
  const queue = [...parts];
  // Pull-based, like a socket: a chunk is handed over only when the reader asks, so a failure
  // at the end cannot swallow chunks that were "already received".
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      for (;;) {
        const p = queue.shift();
        if (p === undefined) break;
        if (typeof p === 'number') {
          await new Promise((r) => setTimeout(r, p));
          continue;
        }
        c.enqueue(enc.encode(p));
        return;
      }
      if (failAtEnd) c.error(new TypeError('network error'));
      else if (hang) {
        await new Promise<void>((resolve) => {
          if (signal?.aborted) return resolve();
          signal?.addEventListener('abort', () => resolve());
        });
        c.error(new DOMException('aborted', 'AbortError'));
      } else c.close();
    },
  });
}

export function sseResponse(body: ScriptedBody, signal?: AbortSignal | null): Response {
  return new Response(sseBody(body, signal), {
    status: 200,
    headers: { 'Content-Type': 'text/event-stream' },
  });
}

export function jsonResponse(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

export interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

export function recordCall(input: RequestInfo | URL, init?: RequestInit): Call {
  const headers: Record<string, string> = {};
  new Headers(init?.headers).forEach((v, k) => {
    headers[k] = v;
  });
  return {
    url: String(input),
    method: init?.method ?? 'GET',
    headers,
    body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
  };
}

/** An SSE response the test writes to as it goes. */
export function controlledSse() {
  const enc = new TextEncoder();
  let ctrl: ReadableStreamDefaultController<Uint8Array> | null = null;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      ctrl = c;
    },
  });
  return {
    response: new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } }),
    push(events: StreamEvent[]) {
      ctrl?.enqueue(enc.encode(frame(events)));
    },
    close() {
      ctrl?.close();
    },
    /** Cut the connection, as a network failure would. */
    fail() {
      ctrl?.error(new TypeError('network error'));
    },
  };
}

export function project(id: number, name = `p${id}`): Project {
  return {
    id,
    name,
    template: 'blank',
    created_at: '2025-12-28T10:00:00Z',
    updated_at: '2025-12-28T10:00:00Z',
    active_run_id: null,
    owner: 'local',
    role: 'owner',
  };
}
