import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useProject } from '../../api/projects';
import { runsApi, useCancelRun } from '../../api/runs';
import { useMessages } from '../../api/sessions';
import type { Message } from '../../api/types';
import { AssistantMessage } from './AssistantMessage';
import { Composer } from './Composer';
import { HealthBanner } from './HealthBanner';
import { loadMarkdown } from './Markdown';
import { SessionBar } from './SessionBar';
import { isClosed, type StreamStatus } from './streamReducer';
import { UserMessage } from './UserMessage';
import { useChatRun } from './useChatRun';

export interface ChatPanelProps {
  projectId: number;
  sessionId: number | null;
  onSessionChange: (id: number | null) => void;
  /** Text to put into the composer for the user to send, e.g. an error of the preview. */
  prefill?: { text: string } | null;
}

function historyStatus(m: Message): StreamStatus {
  switch (m.run_status) {
    case 'running':
      return 'streaming';
    case 'cancelled':
      return 'cancelled';
    case 'failed':
    case 'interrupted':
      return 'error';
    default:
      return 'complete';
  }
}

const HistoryMessage = memo(function HistoryMessage({ m, projectId }: { m: Message; projectId: number }) {
  if (m.role === 'user') return <UserMessage text={m.content} createdAt={m.created_at} />;
  const status = historyStatus(m);
  return (
    <AssistantMessage
      projectId={projectId}
      status={status}
      interactions={m.agent_interactions ?? []}
      content={m.content || null}
      createdAt={m.created_at}
      runId={m.run_id ?? null}
      usage={m.usage && Object.keys(m.usage).length > 0 ? m.usage : null}
      error={
        status === 'error'
          ? {
              code: m.error_code ?? m.run_status ?? 'failed',
              message: m.error_message ?? 'The run ended before it finished.',
            }
          : null
      }
    />
  );
});

/** The seed's chat panel: history, the live run, and the message box. */
export function ChatPanel({ projectId, sessionId, onSessionChange, prefill = null }: ChatPanelProps) {
  const { live, refused, send, attach, clear, runId } = useChatRun({
    projectId,
    onSession: onSessionChange,
  });
  const messages = useMessages(sessionId);
  const activeRun = useProject(projectId).data?.active_run_id ?? null;
  const cancel = useCancelRun();
  // mutate/reset are stable across renders, unlike the mutation object itself.
  const { mutate: cancelRun, reset: resetCancel } = cancel;
  const running = live !== null && !isClosed(live.stream);
  // The latest of a refused message and a prefill goes into the composer.
  const [restore, setRestore] = useState<{ text: string } | null>(null);
  useEffect(() => setRestore(refused), [refused]);
  useEffect(() => setRestore(prefill), [prefill]);
  // Fetched once the page is up (its own task, off the first paint), so an answer seldom waits for it.
  useEffect(() => void loadMarkdown(), []);
  const stopping = running && (cancel.isPending || cancel.isSuccess);

  // After a reload the last assistant message may still be running: follow it from the last
  // interaction the history already holds, so nothing is shown twice.
  const attachedRef = useRef<string | null>(null);
  useEffect(() => {
    if (!messages.data || running) return;
    const last = [...messages.data].reverse().find((m) => m.role === 'assistant');
    if (
      last &&
      last.run_status === 'running' &&
      last.run_id &&
      last.run_id !== live?.stream.runId &&
      last.run_id !== attachedRef.current
    ) {
      attachedRef.current = last.run_id;
      resetCancel();
      attach(last);
    }
  }, [messages.data, running, live, attach, resetCancel]);

  const onSend = useCallback(
    (text: string) => {
      resetCancel();
      send(text, sessionId);
    },
    [resetCancel, send, sessionId],
  );

  const onStop = useCallback(() => {
    void runId().then((id) => {
      if (id) cancelRun(id);
    });
  }, [runId, cancelRun]);

  const onSelectSession = useCallback(
    (id: number | null) => {
      clear();
      onSessionChange(id);
    },
    [clear, onSessionChange],
  );

  const watchActiveRun = useCallback(() => {
    if (!activeRun) return;
    void runsApi.get(activeRun).then((run) => {
      clear();
      onSessionChange(run.session_id);
    });
  }, [activeRun, clear, onSessionChange]);

  // Between `start` naming a new session and the owner switching to it, sessionId is still null.
  const showLive =
    live !== null &&
    (sessionId === null || live.stream.sessionId === null || live.stream.sessionId === sessionId);
  const history = useMemo(() => {
    const all = messages.data ?? [];
    if (!showLive || !live) return all;
    const hide = new Set<number>();
    if (live.stream.assistantMessageId !== null) hide.add(live.stream.assistantMessageId);
    // The user message is drawn by the live run only when it was sent from this page.
    if (live.userText !== null && live.stream.userMessageId !== null) {
      hide.add(live.stream.userMessageId);
    }
    return all.filter((m) => !hide.has(m.id));
  }, [messages.data, live, showLive]);

  // Keep the newest step in view, unless the reader scrolled up to look at something.
  const scrollRef = useRef<HTMLDivElement>(null);
  const stickRef = useRef(true);
  const empty = history.length === 0 && !showLive;
  useLayoutEffect(() => {
    const el = scrollRef.current;
    // Reading scrollHeight lays the page out in this task: with nothing to follow, that was 16 ms of
    // the first open of a 5,000-file project for nothing.
    if (el && stickRef.current && !empty) el.scrollTop = el.scrollHeight;
  });

  const s = live?.stream;
  return (
    <div className="chat-panel">
      <HealthBanner />
      <SessionBar
        projectId={projectId}
        sessionId={sessionId}
        disabled={running}
        onSelect={onSelectSession}
      />
      <div
        className="chat-messages"
        ref={scrollRef}
        data-testid="chat-messages"
        onScroll={(e) => {
          const el = e.currentTarget;
          stickRef.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
        }}
      >
        {messages.isError ? <div className="error-text">{messages.error.message}</div> : null}
        {empty ? (
          <div className="muted pad">
            Describe a change and the Planner and the Coder will work on the project's files.
          </div>
        ) : null}
        {history.map((m) => (
          <HistoryMessage key={m.id} m={m} projectId={projectId} />
        ))}
        {showLive && live && s ? (
          <>
            {live.userText !== null ? (
              <UserMessage text={live.userText} createdAt={live.sentAt} />
            ) : null}
            <AssistantMessage
              projectId={projectId}
              live
              status={s.status}
              interactions={s.interactions}
              draft={s.draft}
              toolOutput={s.toolOutput}
              content={s.content}
              createdAt={s.message?.created_at ?? live.sentAt}
              error={s.error}
              usage={s.usage}
              runId={s.runId}
              codeChanges={s.status === 'complete' ? s.codeChanges : null}
              stopping={stopping}
            />
          </>
        ) : null}
      </div>
      {cancel.error ? <div className="error-text">Stop failed: {cancel.error.message}</div> : null}
      {refused ? (
        <div className="notice notice-error" role="alert" data-testid="busy">
          Not sent: the project is busy with another run ({refused.message}). Your message is kept
          below.{' '}
          {activeRun && activeRun !== s?.runId ? (
            <button type="button" className="link-button" onClick={watchActiveRun}>
              Watch the running run
            </button>
          ) : null}
        </div>
      ) : null}
      <Composer
        restore={restore}
        running={running}
        stopping={stopping}
        onSend={onSend}
        onStop={onStop}
      />
    </div>
  );
}
