import { useProjectChanges } from '../../api/changes';
import type { CodeChange } from '../../api/types';
import { RunChangeGroup } from './ChangeList';
import { GitSync } from './GitSync';
import { HistoryTimeline } from './HistoryTimeline';

function groupByRun(changes: CodeChange[]): [string, CodeChange[]][] {
  const groups = new Map<string, CodeChange[]>();
  for (const c of changes) {
    // Only runs record changes, and a change goes when its run is deleted: never without one.
    if (c.run_id === null) continue;
    const g = groups.get(c.run_id);
    if (g) g.push(c);
    else groups.set(c.run_id, [c]);
  }
  return [...groups.entries()];
}

/** Every change the agents made to the project, newest run first. */
function RunChanges({ projectId }: { projectId: number }) {
  const changes = useProjectChanges(projectId);
  if (changes.isPending) return <div className="muted pad">Loading changes…</div>;
  if (changes.isError) return <div className="error-text pad">{changes.error.message}</div>;
  if (changes.data.length === 0) {
    return <div className="muted pad">No code changes yet. The Coder's edits show up here.</div>;
  }
  return (
    <>
      {groupByRun(changes.data).map(([runId, list]) => (
        <RunChangeGroup key={runId} runId={runId} changes={list} projectId={projectId} />
      ))}
    </>
  );
}

/** Git push/pull, the agents' changes by run (each revertable), then the whole history as a
 * timeline to restore from. Git comes first: below the changes, it moved as they loaded and a
 * click meant for it landed elsewhere. */
export function ChangesPanel({ projectId }: { projectId: number }) {
  return (
    <div className="changes-panel">
      <GitSync projectId={projectId} />
      <RunChanges projectId={projectId} />
      <HistoryTimeline projectId={projectId} />
    </div>
  );
}
