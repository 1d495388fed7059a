// The state of one assistant message while its run streams, as a pure reducer over the event
// union. Ordering rules live here (not in the network code) so that history replays, re-attach
// replays and live events all go through one place: an event whose seq is not above the last
// one applied is a duplicate or arrived out of order and is dropped; unknown types are ignored;
// the first terminal event closes the message and nothing changes it afterwards.

import type {
  CodeChange,
  DeltaData,
  ErrorCode,
  FileChangedData,
  Interaction,
  Message,
  StreamEvent,
  Usage,
} from '../../api/types';
import { isKnownEvent } from '../../api/types';

export type StreamStatus = 'connecting' | 'streaming' | 'complete' | 'error' | 'cancelled';

export interface DraftText {
  agent_name: string;
  message_type: DeltaData['message_type'];
  text: string;
}

export interface StreamState {
  runId: string | null;
  sessionId: number | null;
  userMessageId: number | null;
  assistantMessageId: number | null;
  lastSeq: number;
  interactions: Interaction[];
  /** Text growing from `agent_delta`s, replaced by the full text when it arrives. */
  draft: DraftText | null;
  /** What running tools (`run_command`) print, by `tool_call_id`, until their `tool_response`. */
  toolOutput: Record<string, string>;
  /** The final answer (from `complete`). */
  content: string | null;
  status: StreamStatus;
  error: { code: ErrorCode; message: string } | null;
  codeChanges: CodeChange[];
  usage: Record<string, Usage> | null;
  fileChanges: FileChangedData[];
  /** The final message as the server stored it. */
  message: Message | null;
}

export type StreamAction =
  | { type: 'event'; event: StreamEvent }
  | { type: 'events'; events: StreamEvent[] }
  /** The client failed or gave up on the connection: no terminal event came from the server. */
  | { type: 'client_error'; code: ErrorCode; message: string };

export function initialStreamState(seed: Partial<StreamState> = {}): StreamState {
  return {
    runId: null,
    sessionId: null,
    userMessageId: null,
    assistantMessageId: null,
    lastSeq: 0,
    interactions: [],
    draft: null,
    toolOutput: {},
    content: null,
    status: 'connecting',
    error: null,
    codeChanges: [],
    usage: null,
    fileChanges: [],
    message: null,
    ...seed,
  };
}

/** The state of a message that is still running, rebuilt from the stored history. */
export function stateFromHistory(message: Message): StreamState {
  const interactions = message.agent_interactions ?? [];
  const lastSeq = interactions.reduce((m, i) => Math.max(m, i.seq ?? 0), 0);
  return initialStreamState({
    runId: message.run_id ?? null,
    sessionId: message.session_id,
    assistantMessageId: message.id,
    lastSeq,
    interactions,
    status: 'streaming',
  });
}

export function isClosed(s: StreamState): boolean {
  return s.status === 'complete' || s.status === 'error' || s.status === 'cancelled';
}

function applyEvent(s: StreamState, ev: StreamEvent): StreamState {
  if (isClosed(s)) return s;
  if (!isKnownEvent(ev)) return s;
  const seq = typeof ev.seq === 'number' ? ev.seq : null;
  if (seq !== null && seq <= s.lastSeq) return s;
  const base: StreamState = {
    ...s,
    lastSeq: seq ?? s.lastSeq,
    runId: s.runId ?? ev.run_id ?? null,
    status: s.status === 'connecting' ? 'streaming' : s.status,
  };
  switch (ev.type) {
    case 'start':
      return {
        ...base,
        sessionId: ev.data.session_id,
        userMessageId: ev.data.user_message_id,
        assistantMessageId: ev.data.assistant_message_id ?? base.assistantMessageId,
        runId: ev.data.run_id ?? base.runId,
      };
    case 'agent_interaction': {
      const interaction: Interaction = { ...ev.data, seq };
      // A finished step carries the full text of the thought that was streaming, so the
      // thought draft goes; a streaming final answer keeps growing until `complete`. A System
      // thought (a retry after a broken stream) means the answer streams again from its start.
      const restarts = ev.data.agent_name === 'System' && ev.data.message_type === 'thought';
      const draft = restarts || base.draft?.message_type === 'thought' ? null : base.draft;
      const callId = ev.data.message_type === 'tool_response' ? ev.data.tool_call_id : null;
      let toolOutput = base.toolOutput;
      if (callId && callId in toolOutput) {
        // The response carries the whole output: the live copy has served its purpose.
        toolOutput = { ...toolOutput };
        delete toolOutput[callId];
      }
      return { ...base, interactions: [...base.interactions, interaction], draft, toolOutput };
    }
    case 'agent_delta': {
      const d = ev.data;
      if (d.message_type === 'tool_output') {
        const callId = d.tool_call_id ?? '';
        return {
          ...base,
          toolOutput: { ...base.toolOutput, [callId]: (base.toolOutput[callId] ?? '') + d.delta },
        };
      }
      const same =
        base.draft !== null &&
        base.draft.agent_name === d.agent_name &&
        base.draft.message_type === d.message_type;
      return {
        ...base,
        draft: {
          agent_name: d.agent_name,
          message_type: d.message_type,
          text: (same && base.draft ? base.draft.text : '') + d.delta,
        },
      };
    }
    case 'file_changed':
      return { ...base, fileChanges: [...base.fileChanges, ev.data] };
    case 'complete':
      return {
        ...base,
        status: 'complete',
        draft: null,
        toolOutput: {},
        content: ev.data.message.content,
        message: ev.data.message,
        sessionId: ev.data.session_id ?? base.sessionId,
        assistantMessageId: ev.data.message.id ?? base.assistantMessageId,
        codeChanges: ev.data.code_changes ?? [],
        usage: ev.data.usage ?? null,
      };
    case 'error': {
      const code = ev.data.code ?? 'internal';
      return {
        ...base,
        status: code === 'cancelled' ? 'cancelled' : 'error',
        draft: null,
        toolOutput: {},
        error: { code, message: ev.data.message },
      };
    }
  }
}

export function streamReducer(state: StreamState, action: StreamAction): StreamState {
  switch (action.type) {
    case 'event':
      return applyEvent(state, action.event);
    case 'events':
      return action.events.reduce(applyEvent, state);
    case 'client_error':
      if (isClosed(state)) return state;
      return {
        ...state,
        status: 'error',
        draft: null,
        toolOutput: {},
        error: { code: action.code, message: action.message },
      };
  }
}
