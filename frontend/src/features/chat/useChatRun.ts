// Owns the one run the chat panel is showing live: starts it (sendMessageStream), re-attaches
// to it after a reload, feeds its events through the reducer, and keeps the rest of the page
// (file tree, open file, history, changes) in step with what the agents did.

import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { attachRunStream, sendMessageStream, type StreamCallbacks, type StreamHandle } from '../../api/chat';
import { qk } from '../../api/keys';
import type { Message, StreamEvent } from '../../api/types';
import {
  initialStreamState,
  stateFromHistory,
  streamReducer,
  type StreamAction,
  type StreamState,
} from './streamReducer';

export interface LiveRun {
  /** Text of the user message sent from this page; null when re-attached after a reload. */
  userText: string | null;
  sentAt: string;
  stream: StreamState;
}

type LiveAction =
  | { type: 'begin'; userText: string; sessionId: number | null }
  | { type: 'attach'; message: Message }
  | { type: 'stream'; action: StreamAction }
  | { type: 'clear' };

function liveReducer(live: LiveRun | null, a: LiveAction): LiveRun | null {
  switch (a.type) {
    case 'begin':
      return {
        userText: a.userText,
        sentAt: new Date().toISOString(),
        stream: initialStreamState({ sessionId: a.sessionId }),
      };
    case 'attach':
      return { userText: null, sentAt: a.message.created_at, stream: stateFromHistory(a.message) };
    case 'stream': {
      if (!live) return live;
      const next = streamReducer(live.stream, a.action);
      return next === live.stream ? live : { ...live, stream: next };
    }
    case 'clear':
      return null;
  }
}

/** Run `fn` on the next frame (or soon, when frames are not running): batches many events
 * arriving in one frame into a single React render. */
function schedule(fn: () => void): void {
  const visible = typeof document === 'undefined' || document.visibilityState !== 'hidden';
  if (visible && typeof requestAnimationFrame === 'function') requestAnimationFrame(fn);
  else setTimeout(fn, 32);
}

/** A message the server refused to start (409 busy): kept for the composer, not shown as sent. */
export interface Refused {
  text: string;
  message: string;
}

export interface UseChatRunOptions {
  projectId: number;
  /** Called once the server names the session (a new one for the first message). */
  onSession?: (sessionId: number) => void;
}

export function useChatRun({ projectId, onSession }: UseChatRunOptions) {
  const qc = useQueryClient();
  const [live, dispatch] = useReducer(liveReducer, null);
  const [refused, setRefused] = useState<Refused | null>(null);
  const handleRef = useRef<StreamHandle | null>(null);
  const queueRef = useRef<StreamEvent[]>([]);
  const scheduledRef = useRef(false);
  const filesTimerRef = useRef<ReturnType<typeof setTimeout> | null>(null);
  const onSessionRef = useRef(onSession);
  onSessionRef.current = onSession;

  const flush = useCallback(() => {
    scheduledRef.current = false;
    const events = queueRef.current;
    if (events.length === 0) return;
    queueRef.current = [];
    dispatch({ type: 'stream', action: { type: 'events', events } });
  }, []);

  const enqueue = useCallback(
    (ev: StreamEvent) => {
      queueRef.current.push(ev);
      if (!scheduledRef.current) {
        scheduledRef.current = true;
        schedule(flush);
      }
    },
    [flush],
  );

  // Coalesce file refreshes: a busy Coder can touch many files a second.
  const refreshFiles = useCallback(() => {
    if (filesTimerRef.current !== null) return;
    filesTimerRef.current = setTimeout(() => {
      filesTimerRef.current = null;
      void qc.invalidateQueries({ queryKey: qk.files(projectId) });
      void qc.invalidateQueries({ queryKey: qk.projectChanges(projectId) });
    }, 150);
  }, [qc, projectId]);

  const callbacks = useCallback(
    (): StreamCallbacks => ({
      onEvent: enqueue,
      onStart: (d) => {
        onSessionRef.current?.(d.session_id);
        void qc.invalidateQueries({ queryKey: qk.sessions(projectId) });
      },
      // The server says which files a run changed (`file_changed`): no guessing from tool names.
      onFileChanged: refreshFiles,
      onComplete: (d) => {
        void qc.invalidateQueries({ queryKey: qk.project(projectId) });
        void qc.invalidateQueries({ queryKey: qk.messages(d.session_id) });
      },
      onError: (d, event) => {
        // A failure on the client side (HTTP error, connection lost for good) has no event in
        // the stream: apply what is queued, then close the message with it.
        if (!event) {
          flush();
          dispatch({
            type: 'stream',
            action: { type: 'client_error', code: d.code ?? 'network', message: d.message },
          });
        }
        void qc.invalidateQueries({ queryKey: qk.project(projectId) });
        void qc.invalidateQueries({ queryKey: ['sessions'] });
      },
    }),
    [enqueue, flush, qc, projectId, refreshFiles],
  );

  const send = useCallback(
    (text: string, sessionId: number | null) => {
      handleRef.current?.abort();
      queueRef.current = [];
      setRefused(null);
      dispatch({ type: 'begin', userText: text, sessionId });
      const base = callbacks();
      handleRef.current = sendMessageStream(projectId, text, sessionId, {
        ...base,
        onError: (d, event) => {
          // Another tab's run holds the project: nothing was sent, so the message goes back to
          // the composer instead of standing in the history as a failed run.
          if (!event && d.code === 'busy') {
            queueRef.current = [];
            dispatch({ type: 'clear' });
            setRefused({ text, message: d.message });
            void qc.invalidateQueries({ queryKey: qk.project(projectId) });
            return;
          }
          base.onError?.(d, event);
        },
      });
    },
    [projectId, callbacks, qc],
  );

  const attach = useCallback(
    (message: Message) => {
      if (!message.run_id) return;
      handleRef.current?.abort();
      queueRef.current = [];
      const seeded = stateFromHistory(message);
      dispatch({ type: 'attach', message });
      handleRef.current = attachRunStream(message.run_id, seeded.lastSeq, callbacks());
    },
    [callbacks],
  );

  const clear = useCallback(() => {
    handleRef.current?.abort();
    handleRef.current = null;
    queueRef.current = [];
    setRefused(null);
    dispatch({ type: 'clear' });
  }, []);

  // Leaving the page stops reading, not the run: it goes on server-side and can be re-attached.
  useEffect(
    () => () => {
      handleRef.current?.abort();
      if (filesTimerRef.current !== null) clearTimeout(filesTimerRef.current);
    },
    [],
  );

  /** The current run's id, waiting for the `start` event if it has not arrived yet. */
  const runId = useCallback(async (): Promise<string | null> => {
    const h = handleRef.current;
    if (!h) return null;
    return h.runId ?? (await h.started);
  }, []);

  return { live, refused, send, attach, clear, runId };
}
