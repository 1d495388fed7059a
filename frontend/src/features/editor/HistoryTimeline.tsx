import { useState } from 'react';
import { useProjectHistory, useRestoreCommit } from '../../api/history';
import type { Commit } from '../../api/types';
import { DiffView } from './DiffView';

const KIND_LABEL: Record<Commit['kind'], string> = {
  initial: 'start',
  edits: 'edits',
  run: 'run',
  revert: 'revert',
  restore: 'restore',
  pull: 'pull',
};

function CommitItem({ commit, isHead, projectId }: { commit: Commit; isHead: boolean; projectId: number }) {
  const [open, setOpen] = useState(false);
  const restore = useRestoreCommit(projectId);
  const title = commit.message.split('\n')[0];
  return (
    <li className="commit" data-testid="commit" data-sha={commit.sha} data-kind={commit.kind}>
      <div className="change-head">
        <button type="button" className="link-button" aria-expanded={open} onClick={() => setOpen((v) => !v)}>
          <span className="badge">{KIND_LABEL[commit.kind]}</span> {title}
        </button>
        {isHead ? null : (
          <button
            type="button"
            className="small"
            disabled={restore.isPending}
            title="Make the files exactly as they were after this commit (a new commit; nothing is lost)"
            onClick={() => restore.mutate(commit.sha)}
          >
            Restore
          </button>
        )}
      </div>
      <div className="muted small-text">
        <code>{commit.sha.slice(0, 12)}</code> · {new Date(commit.committed_at).toLocaleString()} ·{' '}
        {commit.files.length} file{commit.files.length === 1 ? '' : 's'}
      </div>
      {restore.error ? <div className="error-text">{restore.error.message}</div> : null}
      {open ? commit.files.map((f) => <DiffView key={f.path} diff={f.diff} />) : null}
    </li>
  );
}

/** The project's history as Git, newest first: every run, batch of edits, revert and restore. */
export function HistoryTimeline({ projectId }: { projectId: number }) {
  const history = useProjectHistory(projectId);
  if (history.isPending) return <div className="muted pad">Loading history…</div>;
  if (history.isError) return <div className="error-text pad">{history.error.message}</div>;
  return (
    <section className="history" aria-label="History">
      <h2 className="change-group-head">History</h2>
      <ol className="change-list" data-testid="history">
        {history.data.map((commit, index) => (
          <CommitItem key={commit.sha} commit={commit} isHead={index === 0} projectId={projectId} />
        ))}
      </ol>
    </section>
  );
}
