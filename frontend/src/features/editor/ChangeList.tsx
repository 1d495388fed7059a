import { lazy, Suspense, useState } from 'react';
import type { CodeChange } from '../../api/types';
import { useChange, useRevertChange } from '../../api/changes';
import { useRevertRun } from '../../api/runs';
import { DiffView } from './DiffView';
// CodeMirror comes with the diff view only when one is opened.
const MergeDiff = lazy(() => import('./MergeDiff').then((m) => ({ default: m.MergeDiff })));

/** The whole file before and after, once loaded; the unified diff text until then. */
function ChangeDiff({ change }: { change: CodeChange }) {
  const detail = useChange(change.id);
  const unified = <DiffView diff={change.diff} />;
  if (!detail.data) return unified;
  return (
    <Suspense fallback={unified}>
      <MergeDiff path={change.path} before={detail.data.before ?? ''} after={detail.data.after ?? ''} />
    </Suspense>
  );
}

const CHANGE_ICON: Record<string, string> = { created: 'A', modified: 'M', deleted: 'D' };

export function ChangeItem({
  change,
  projectId,
  defaultOpen = false,
}: {
  change: CodeChange;
  projectId: number;
  defaultOpen?: boolean;
}) {
  const [open, setOpen] = useState(defaultOpen);
  const revert = useRevertChange(projectId);
  return (
    <li className="change" data-testid="code-change" data-path={change.path}>
      <div className="change-head">
        <button
          type="button"
          className="link-button"
          aria-expanded={open}
          onClick={() => setOpen((v) => !v)}
        >
          <span className={`change-kind change-${change.change_type}`} title={change.change_type}>
            {CHANGE_ICON[change.change_type] ?? '?'}
          </span>{' '}
          {change.path}
        </button>
        {change.reverted ? (
          <span className="badge">reverted</span>
        ) : (
          <button
            type="button"
            className="small"
            disabled={revert.isPending}
            onClick={() => revert.mutate(change.id)}
          >
            Revert
          </button>
        )}
      </div>
      {revert.error ? <div className="error-text">{revert.error.message}</div> : null}
      {open ? <ChangeDiff change={change} /> : null}
    </li>
  );
}

/** The changes of one run, with Revert per file and for the whole run. */
export function RunChangeGroup({
  runId,
  changes,
  projectId,
  title,
}: {
  runId: string;
  changes: CodeChange[];
  projectId: number;
  title?: string;
}) {
  const revertRun = useRevertRun(projectId);
  const active = changes.some((c) => !c.reverted);
  return (
    <section className="change-group" data-testid="run-changes" data-run-id={runId}>
      <div className="change-group-head">
        <span>
          {title ?? `Run ${runId.slice(0, 8)}`} · {changes.length} file
          {changes.length === 1 ? '' : 's'}
        </span>
        {active ? (
          <button
            type="button"
            className="small"
            disabled={revertRun.isPending}
            onClick={() => revertRun.mutate(runId)}
          >
            Revert run
          </button>
        ) : null}
      </div>
      {revertRun.error ? <div className="error-text">{revertRun.error.message}</div> : null}
      <ul className="change-list">
        {changes.map((c) => (
          <ChangeItem key={c.id} change={c} projectId={projectId} />
        ))}
      </ul>
    </section>
  );
}
