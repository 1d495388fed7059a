import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import { ApiError } from '../../api/client';
import { useFile, useWriteFile } from '../../api/files';
import type { FileContent } from '../../api/types';
import type { Drafts } from './drafts';
// CodeMirror and its language packs are most of the bundle: load them with the first open file.
const CodeEditor = lazy(() => import('./CodeEditor').then((m) => ({ default: m.CodeEditor })));

interface Loaded {
  path: string;
  /** The server text the editor's document started from: "dirty" means draft !== base. */
  base: string;
  draft: string;
  revision: number;
}

/** The open file: follows the server copy (agent writes, reverts) while it has no unsaved
 * edits, and asks before overwriting edits that it does have. */
export function EditorPane({
  projectId,
  path,
  drafts,
  onGone,
}: {
  projectId: number;
  path: string;
  /** Where unsaved edits outlive this pane (it is remounted per file). */
  drafts?: Drafts;
  /** The file no longer exists (deleted, or the change that created it reverted). */
  onGone?: () => void;
}) {
  const file = useFile(projectId, path);
  const write = useWriteFile(projectId);
  const [doc, setDoc] = useState<Loaded | null>(null);
  const [incoming, setIncoming] = useState<FileContent | null>(null);

  const server = file.data && file.data.path === path ? file.data : undefined;

  // Reconcile the editor with the server copy whenever either changes. Idempotent, so running
  // it on every keystroke costs nothing.
  useEffect(() => {
    if (!server) return;
    const d = doc;
    if (!d || d.path !== path) {
      // Edits left unsaved here earlier come back; if the server moved on meanwhile, the next
      // pass finds base !== server and asks, as for any edit the agents overtake.
      const kept = drafts?.get(path) ?? { base: server.content, draft: server.content };
      setIncoming(null);
      setDoc({ path, ...kept, revision: (d?.revision ?? 0) + 1 });
    } else if (server.content === d.base) {
      // in step
    } else if (server.content === d.draft) {
      setIncoming(null);
      setDoc({ ...d, base: server.content }); // our own save came back
    } else if (d.draft === d.base) {
      setIncoming(null);
      setDoc({ ...d, base: server.content, draft: server.content, revision: d.revision + 1 });
    } else if (incoming?.content !== server.content) {
      setIncoming(server);
    }
  }, [server, path, doc, incoming, drafts]);

  useEffect(() => {
    if (doc && doc.path === path) {
      drafts?.set(path, doc.draft === doc.base ? null : { base: doc.base, draft: doc.draft });
    }
  }, [doc, path, drafts]);

  const gone = file.isError && file.error instanceof ApiError && file.error.status === 404;
  useEffect(() => {
    if (!gone) return;
    drafts?.set(path, null);
    onGone?.();
  }, [gone, path, drafts, onGone]);

  const onChange = useCallback(
    (text: string) => setDoc((d) => (d && d.draft !== text ? { ...d, draft: text } : d)),
    [],
  );

  const save = useCallback(() => {
    if (!doc || doc.path !== path) return;
    write.mutate({ path, content: doc.draft });
  }, [doc, path, write]);

  const takeIncoming = () => {
    if (!incoming) return;
    setDoc((d) =>
      d ? { ...d, base: incoming.content, draft: incoming.content, revision: d.revision + 1 } : d,
    );
    setIncoming(null);
  };

  // Keeping one's edits rebases them on the new server copy: still unsaved, no longer warned.
  const keepMine = () => {
    if (!incoming) return;
    const base = incoming.content;
    setDoc((d) => (d ? { ...d, base } : d));
    setIncoming(null);
  };

  if (file.isError) {
    return (
      <div className="editor-pane">
        <div className="muted pad" data-testid="file-missing">
          {file.error.message || `${path} could not be opened.`}
        </div>
      </div>
    );
  }
  if (!doc || doc.path !== path) {
    return (
      <div className="editor-pane">
        <div className="muted pad">Opening {path}…</div>
      </div>
    );
  }
  const dirty = doc.draft !== doc.base;
  return (
    <div className="editor-pane">
      <div className="editor-toolbar">
        <span className="editor-path" data-testid="open-file">
          {path}
          {dirty ? <span title="Unsaved changes"> ●</span> : null}
        </span>
        <button
          type="button"
          className="small primary"
          disabled={!dirty || write.isPending}
          onClick={save}
          title="Save (Ctrl+S)"
        >
          {write.isPending ? 'Saving…' : 'Save'}
        </button>
      </div>
      {write.error ? <div className="error-text pad">Save failed: {write.error.message}</div> : null}
      {incoming ? (
        <div className="banner banner-warn">
          The agents changed this file while you were editing it.{' '}
          <button type="button" className="small" onClick={takeIncoming}>
            Load their version
          </button>{' '}
          <button type="button" className="small" onClick={keepMine}>
            Keep mine
          </button>
        </div>
      ) : null}
      <Suspense fallback={<div className="muted pad">Loading editor…</div>}>
        <CodeEditor
          path={path}
          value={doc.draft}
          revision={doc.revision}
          onChange={onChange}
          onSave={save}
        />
      </Suspense>
    </div>
  );
}
