import { memo } from 'react';
import { useDeleteSession, useSessions } from '../../api/sessions';
import { formatTime } from '../../components/format';

function SessionBarImpl({
  projectId,
  sessionId,
  disabled,
  onSelect,
}: {
  projectId: number;
  sessionId: number | null;
  disabled: boolean;
  onSelect: (id: number | null) => void;
}) {
  const sessions = useSessions(projectId);
  const remove = useDeleteSession(projectId);
  const list = sessions.data ?? [];
  return (
    <div className="session-bar">
      <label className="sr-only" htmlFor="session-select">
        Chat session
      </label>
      <select
        id="session-select"
        value={sessionId ?? ''}
        disabled={disabled}
        onChange={(e) => onSelect(e.target.value ? Number(e.target.value) : null)}
      >
        {sessionId === null ? <option value="">New session</option> : null}
        {list.map((s) => (
          <option key={s.id} value={s.id}>
            {s.title || `Session ${s.id}`} · {formatTime(s.updated_at)}
          </option>
        ))}
        {sessionId !== null && !list.some((s) => s.id === sessionId) ? (
          <option value={sessionId}>Session {sessionId}</option>
        ) : null}
      </select>
      <button type="button" className="small" disabled={disabled} onClick={() => onSelect(null)}>
        + New session
      </button>
      {sessionId !== null ? (
        <button
          type="button"
          className="small"
          title="Delete this session and its history"
          disabled={disabled || remove.isPending}
          onClick={() => {
            if (!window.confirm('Delete this chat session and its history?')) return;
            remove.mutate(sessionId, { onSuccess: () => onSelect(null) });
          }}
        >
          Delete
        </button>
      ) : null}
    </div>
  );
}

// Memoised: the chat panel re-renders on every streamed frame; this part rarely changes.
export const SessionBar = memo(SessionBarImpl);
