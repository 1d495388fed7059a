import { memo, useState } from 'react';
import type { CodeChange, ErrorCode, Interaction, Usage } from '../../api/types';
import { useProjectChanges } from '../../api/changes';
import { useRunChanges } from '../../api/runs';
import { formatTime } from '../../components/format';
import { Icon } from '../../components/Icon';
import { RunChangeGroup } from '../editor/ChangeList';
import { InteractionList } from './InteractionList';
import { Markdown } from './Markdown';
import type { DraftText, StreamStatus } from './streamReducer';
import { UsageTable } from './UsageTable';
import { MODELS_PAGE } from '../models/route';
import { Link } from 'react-router-dom';

export interface AssistantMessageProps {
  projectId: number;
  status: StreamStatus;
  interactions: Interaction[];
  draft?: DraftText | null;
  /** Live output of running tools, by `tool_call_id`. */
  toolOutput?: Record<string, string>;
  content: string | null;
  createdAt?: string | null;
  error?: { code: ErrorCode; message: string } | null;
  usage?: Record<string, Usage> | null;
  runId?: string | null;
  /** Changes reported by `complete`; history messages load theirs on demand. */
  codeChanges?: CodeChange[] | null;
  live?: boolean;
  stopping?: boolean;
}

function StatusBadge({ status, stopping }: { status: StreamStatus; stopping?: boolean }) {
  switch (status) {
    case 'connecting':
    case 'streaming':
      return (
        <span className="badge badge-running" data-testid="run-status" data-status="running">
          {stopping ? 'Stopping…' : 'Working…'}
        </span>
      );
    case 'cancelled':
      return (
        <span className="badge badge-stopped" data-testid="run-status" data-status="stopped">
          <Icon name="stop" /> Stopped
        </span>
      );
    case 'error':
      return (
        <span className="badge badge-error" data-testid="run-status" data-status="error">
          Failed
        </span>
      );
    case 'complete':
      return null;
  }
}

function HistoryChanges({ runId, projectId }: { runId: string; projectId: number }) {
  const [open, setOpen] = useState(false);
  const changes = useRunChanges(open ? runId : null);
  // The project's change list (one query for every message) says which runs changed anything.
  const project = useProjectChanges(projectId);
  if (!project.data?.some((c) => c.run_id === runId)) return null;
  if (!open) {
    return (
      <button type="button" className="link-button" onClick={() => setOpen(true)}>
        Show code changes
      </button>
    );
  }
  if (changes.isPending) return <div className="muted">Loading changes…</div>;
  if (changes.isError) return <div className="error-text">{changes.error.message}</div>;
  if (changes.data.length === 0) return <div className="muted">No files changed.</div>;
  return (
    <RunChangeGroup runId={runId} changes={changes.data} projectId={projectId} title="Code changes" />
  );
}

function LiveChanges({
  runId,
  initial,
  projectId,
}: {
  runId: string;
  initial: CodeChange[];
  projectId: number;
}) {
  // Follow the server copy so a Revert made anywhere on the page shows here as well.
  const changes = useRunChanges(runId);
  const list = changes.data ?? initial;
  if (list.length === 0) return null;
  return <RunChangeGroup runId={runId} changes={list} projectId={projectId} title="Code changes" />;
}

/** The assistant's turn: the agents' steps, then the final answer (or how the run ended). */
export const AssistantMessage = memo(function AssistantMessage(p: AssistantMessageProps) {
  const running = p.status === 'connecting' || p.status === 'streaming';
  const draft = p.draft ?? null;
  const waiting = running && draft === null && p.content === null;
  return (
    <article
      className={`msg msg-assistant${running ? ' msg-running' : ''}`}
      data-testid="assistant-message"
      data-status={p.status}
      data-run-id={p.runId ?? undefined}
      aria-live={p.live ? 'polite' : undefined}
      aria-relevant={p.live ? 'additions text' : undefined}
    >
      <header className="msg-head">
        {/* The team answers: the same name while it works and afterwards; each step names its agent. */}
        <span className="msg-author">
          <Icon name="assistant" /> Assistant
        </span>
        <StatusBadge status={p.status} stopping={p.stopping} />
        <time className="msg-time">{formatTime(p.createdAt)}</time>
      </header>
      <InteractionList interactions={p.interactions} />
      {Object.entries(p.toolOutput ?? {}).map(([callId, text]) => (
        <div className="ai ai-tool_output" data-testid="tool-output" key={callId}>
          <div className="ai-head">
            <Icon name="tool" label="Output" className="ai-icon" />
            <span className="ai-label">Output (running)</span>
          </div>
          <pre className="ai-output">{text}</pre>
        </div>
      ))}
      {draft && draft.message_type === 'thought' ? (
        <div className="ai ai-thought ai-draft" data-testid="draft">
          <div className="ai-head">
            <Icon name="thought" label="Thought" className="ai-icon" />
            <span className="ai-agent">{draft.agent_name}</span>
            <span className="ai-label">thinking…</span>
          </div>
          <div className="ai-text">{draft.text}</div>
        </div>
      ) : null}
      {draft && draft.message_type !== 'thought' ? (
        <div className="msg-body msg-draft" data-testid="draft">
          {draft.text}
        </div>
      ) : null}
      {waiting ? (
        <div className="thinking" data-testid="thinking">
          <span className="spinner" aria-hidden="true" /> AI is thinking…
        </div>
      ) : null}
      {p.content ? (
        <div className="msg-body" data-testid="final-answer">
          <Markdown text={p.content} />
        </div>
      ) : null}
      {p.status === 'cancelled' ? (
        <div className="notice notice-stopped" data-testid="stopped">
          Stopped. What the agents did before the stop is kept above.
        </div>
      ) : null}
      {p.status === 'error' && p.error ? (
        <div className="notice notice-error" role="alert">
          <strong>{p.error.code}</strong>: {p.error.message}
          {p.error.code === 'model_not_configured' ? (
            <>
              {' '}
              <Link to={MODELS_PAGE}>Open the Models page</Link>
            </>
          ) : null}
        </div>
      ) : null}
      {p.usage ? <UsageTable usage={p.usage} /> : null}
      {p.runId && !running ? (
        p.codeChanges ? (
          <LiveChanges runId={p.runId} initial={p.codeChanges} projectId={p.projectId} />
        ) : (
          <HistoryChanges runId={p.runId} projectId={p.projectId} />
        )
      ) : null}
    </article>
  );
});
