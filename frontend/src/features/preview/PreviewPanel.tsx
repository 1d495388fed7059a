import { useEffect, useMemo, useRef, useState } from 'react';
import { useFiles } from '../../api/files';
import { usePreviewLink } from '../../api/previews';
import type { FileInfo } from '../../api/types';

const ENTRY = 'index.html';

const MAX_ERRORS = 20;

/** What the preview origin's bridge script posts from inside the frame (`api/preview.py`). */
interface BridgeMessage {
  error?: string;
  scroll?: [number, number];
}

function bridgeMessage(data: unknown): BridgeMessage | null {
  if (typeof data !== 'object' || data === null || !('tandemPreview' in data)) return null;
  const message = (data as { tandemPreview: unknown }).tandemPreview;
  return typeof message === 'object' && message !== null ? (message as BridgeMessage) : null;
}

/** What a reload must follow: every file's path, size and time. */
function signature(files: FileInfo[] | undefined): string {
  return (files ?? []).map((f) => `${f.path}\u0000${f.size}\u0000${f.updated_at}`).join('\n');
}

/** The project's pages, live: served from the preview origin in a sandboxed frame, reloaded when any
 * file changes (an agent's write, a save in the editor, a revert, another tab's edit: the page's
 * `useProjectEvents` refetches the file list on each). */
export function PreviewPanel({
  projectId,
  onFixError,
}: {
  projectId: number;
  /** Hand an error of the page to the agents (the app puts it into the composer). */
  onFixError: (request: string) => void;
}) {
  const link = usePreviewLink(projectId);
  const frame = useRef<HTMLIFrameElement>(null);
  const scroll = useRef<[number, number] | null>(null);
  const [errors, setErrors] = useState<string[]>([]);
  useEffect(() => {
    function onMessage(event: MessageEvent) {
      // Only the frame's own page: its origin is opaque ("null"), so its window is what identifies it.
      if (event.source === null || event.source !== frame.current?.contentWindow) return;
      const message = bridgeMessage(event.data);
      if (message?.scroll) scroll.current = message.scroll;
      const error = message?.error;
      if (typeof error === 'string') setErrors((list) => [...list, error].slice(-MAX_ERRORS));
    }
    window.addEventListener('message', onMessage);
    return () => window.removeEventListener('message', onMessage);
  }, []);
  const files = useFiles(projectId);
  const pages = useMemo(
    () => (files.data ?? []).filter((f) => f.path.endsWith('.html')).map((f) => f.path),
    [files.data],
  );
  const [chosen, setChosen] = useState<string | null>(null);
  const entry = chosen ?? (pages.includes(ENTRY) ? ENTRY : (pages[0] ?? ENTRY));
  // A changed file list (the only thing every kind of edit touches) gives the frame a new URL.
  const version = useMemo(() => signature(files.data), [files.data]);
  const versionNumber = useMemo(() => {
    let hash = 0;
    for (let i = 0; i < version.length; i++) hash = (hash * 31 + version.charCodeAt(i)) | 0;
    return (hash >>> 0).toString(36);
  }, [version]);

  // A reload starts the page afresh: its earlier errors are history.
  useEffect(() => setErrors([]), [versionNumber, entry]);

  if (link.isError) {
    return (
      <div className="pad error" role="alert" data-testid="preview-error">
        {link.error instanceof Error ? link.error.message : 'The preview could not be opened.'}
      </div>
    );
  }
  if (!link.data || !files.data) return <div className="pad muted">Opening the preview…</div>;
  if (pages.length === 0) {
    return (
      <div className="pad muted" data-testid="preview-empty">
        This project has no HTML page to show: add an <code>index.html</code>.
      </div>
    );
  }
  const base = link.data.url.slice(0, link.data.url.length - ENTRY.length);
  const src = `${base}${entry}?v=${versionNumber}`;
  return (
    <div className="preview-panel">
      <div className="preview-bar">
        <label>
          Page{' '}
          <select value={entry} onChange={(e) => setChosen(e.target.value)} aria-label="Page to preview">
            {pages.map((page) => (
              <option key={page}>{page}</option>
            ))}
          </select>
        </label>
        <a href={`${base}${entry}`} target="_blank" rel="noreferrer noopener" className="small-link">
          Open in a new tab
        </a>
      </div>
      {/* No allow-same-origin: the page runs in an opaque origin, whatever it tries. */}
      <iframe
        ref={frame}
        title={`Preview of ${entry}`}
        data-testid="preview-frame"
        className="preview-frame"
        sandbox="allow-scripts allow-forms allow-modals allow-popups"
        referrerPolicy="no-referrer"
        src={src}
        onLoad={() => {
          // Back where the reader was before the reload, as far as the new page allows.
          if (scroll.current) frame.current?.contentWindow?.postMessage({ tandemPreview: { scrollTo: scroll.current } }, '*');
        }}
      />
      {errors.length > 0 ? (
        <div className="preview-errors" role="log" aria-label="Errors of the page" data-testid="preview-errors">
          <div className="preview-errors-head">
            <strong>
              {errors.length} error{errors.length === 1 ? '' : 's'} in {entry}
            </strong>
            <button type="button" className="link-button" onClick={() => setErrors([])}>
              Clear
            </button>
          </div>
          <ul>
            {errors.map((error, i) => (
              <li key={i}>
                <code>{error}</code>{' '}
                <button
                  type="button"
                  className="link-button"
                  onClick={() => onFixError(`The preview of ${entry} shows this error:\n\n${error}\n\nPlease fix it.`)}
                >
                  Fix this error
                </button>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}
