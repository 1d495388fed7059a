import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router-dom';
import { projectsApi, useProject } from '../../api/projects';
import { runsApi } from '../../api/runs';
import { ChatPanel } from '../chat/ChatPanel';
import { FileTree } from '../files/FileTree';
import { ChangesPanel } from './ChangesPanel';
import { Icon } from '../../components/Icon';
import { useDrafts } from './drafts';
import { EditorPane } from './EditorPane';
import { PreviewPanel } from '../preview/PreviewPanel';
import { TerminalPanel } from '../terminal/TerminalPanel';
import { useProjectEvents } from '../../api/projectEvents';

type Tab = 'chat' | 'changes' | 'preview' | 'terminal';
/** On a phone one column shows at a time; wider screens show them all and ignore this. */
type Pane = 'files' | 'editor' | 'side';

const SIDE_TABS: { label: string; tab: Tab }[] = [
  { label: 'Chat', tab: 'chat' },
  { label: 'Changes', tab: 'changes' },
  { label: 'Preview', tab: 'preview' },
  { label: 'Terminal', tab: 'terminal' },
];

const PANES: { label: string; pane: Pane; tab?: Tab }[] = [
  { label: 'Files', pane: 'files' },
  { label: 'Editor', pane: 'editor' },
  ...SIDE_TABS.map((side) => ({ ...side, pane: 'side' as const })),
];

const UNSAVED_WARNING = (paths: ReadonlySet<string>) =>
  `Unsaved changes in ${[...paths].join(', ')} will be lost. Leave anyway?`;

/** File tree, editor and the agents' panel for one project. The open file and the chat
 * session live in the URL so that a reload comes back to the same place. */
export function EditorPage() {
  const params = useParams();
  const projectId = Number(params.projectId);
  const [search, setSearch] = useSearchParams();
  const [tab, setTab] = useState<Tab>('chat');
  const [pane, setPane] = useState<Pane>('side');
  const [gone, setGone] = useState<string | null>(null);
  const [prefill, setPrefill] = useState<{ text: string } | null>(null);
  const onFixError = useCallback((text: string) => {
    setPrefill({ text });
    setTab('chat');
    setPane('side');
  }, []);
  const project = useProject(projectId);
  const drafts = useDrafts();
  useProjectEvents(projectId);

  const openPath = search.get('file');
  const sessionParam = search.get('session');
  const sessionId = sessionParam ? Number(sessionParam) : null;

  const setParam = useCallback(
    (key: string, value: string | null) => {
      setSearch(
        (prev) => {
          const next = new URLSearchParams(prev);
          if (value === null) next.delete(key);
          else next.set(key, value);
          return next;
        },
        { replace: true },
      );
    },
    [setSearch],
  );
  const onOpen = useCallback(
    (p: string | null) => {
      setGone(null);
      setParam('file', p);
      if (p !== null) setPane('editor');
    },
    [setParam],
  );
  const onGone = useCallback(() => {
    setParam('file', null);
    setGone(openPath);
  }, [setParam, openPath]);
  const onSessionChange = useCallback(
    (id: number | null) => setParam('session', id === null ? null : String(id)),
    [setParam],
  );

  // Opened without a session while the agents are at work: show the session they work in, so
  // the chat panel re-attaches to the run instead of looking idle.
  const followedRef = useRef(false);
  const activeRun = project.data?.active_run_id ?? null;
  useEffect(() => {
    if (followedRef.current || sessionId !== null || !activeRun) return;
    followedRef.current = true;
    runsApi
      .get(activeRun)
      .then((run) => onSessionChange(run.session_id))
      .catch(() => undefined);
  }, [activeRun, sessionId, onSessionChange]);

  if (!Number.isFinite(projectId)) return <div className="pad">Unknown project.</div>;
  return (
    <div className="editor-page">
      <header className="topbar">
        <Link
          to="/"
          onClick={(e) => {
            if (drafts.dirty.size > 0 && !window.confirm(UNSAVED_WARNING(drafts.dirty))) e.preventDefault();
          }}
        >
          <Icon name="back" /> Projects
        </Link>
        <h1>{project.data?.name ?? (project.isError ? 'Project not found' : '…')}</h1>
        <a className="small-link" href={projectsApi.downloadUrl(projectId)} download>
          Download .zip
        </a>
      </header>
      <div className="pane-switcher" role="tablist" aria-label="Panes">
        {PANES.map((p) => (
          <button
            key={p.label}
            type="button"
            role="tab"
            aria-selected={pane === p.pane && (p.tab === undefined || p.tab === tab)}
            onClick={() => {
              setPane(p.pane);
              if (p.tab) setTab(p.tab);
            }}
          >
            {p.label}
          </button>
        ))}
      </div>
      <div className="workspace" data-pane={pane}>
        <FileTree projectId={projectId} openPath={openPath} onOpen={onOpen} unsaved={drafts.dirty} />
        <main className="editor-area">
          {openPath ? (
            <EditorPane key={openPath} projectId={projectId} path={openPath} drafts={drafts} onGone={onGone} />
          ) : (
            <div className="muted pad" data-testid="no-file">
              {gone ? `${gone} no longer exists (deleted, or the change that created it was reverted). ` : ''}
              Open a file from the tree.
            </div>
          )}
        </main>
        <aside className="side-panel">
          <div className="tabs side-tabs" role="tablist">
            {SIDE_TABS.map((side) => (
              <button
                key={side.tab}
                type="button"
                role="tab"
                aria-selected={tab === side.tab}
                onClick={() => setTab(side.tab)}
              >
                {side.label}
              </button>
            ))}
          </div>
          {/* Chat stays mounted on the Changes tab: unmounting it would drop the live stream. */}
          <div hidden={tab !== 'chat'} className="tab-body">
            <ChatPanel
              projectId={projectId}
              sessionId={sessionId}
              onSessionChange={onSessionChange}
              prefill={prefill}
            />
          </div>
          {tab === 'changes' ? (
            <div className="tab-body">
              <ChangesPanel projectId={projectId} />
            </div>
          ) : null}
          {/* Mounted like Chat: leaving the tab must not stop a running command. */}
          <div hidden={tab !== 'terminal'} className="tab-body">
            <TerminalPanel projectId={projectId} />
          </div>
          {tab === 'preview' ? (
            <div className="tab-body">
              <PreviewPanel projectId={projectId} onFixError={onFixError} />
            </div>
          ) : null}
        </aside>
      </div>
    </div>
  );
}
