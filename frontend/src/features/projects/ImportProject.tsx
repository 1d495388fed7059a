import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { importsApi, uploadArchive, type ImportJob } from '../../api/imports';
import { qk } from '../../api/keys';

const POLL_MS = 400;

type State =
  | { kind: 'idle' }
  | { kind: 'uploading'; fraction: number }
  | { kind: 'importing'; job: ImportJob }
  | { kind: 'done'; job: ImportJob }
  | { kind: 'error'; message: string };

/** What the progress bar shows: the upload's bytes, then the job's files (storing) or phase. */
export function progressOf(state: State): { value: number | null; label: string } {
  if (state.kind === 'uploading') {
    return { value: state.fraction, label: `Uploading… ${Math.round(state.fraction * 100)}%` };
  }
  if (state.kind === 'importing') {
    const { job } = state;
    if (job.files_total) {
      const unit = job.phase === 'cloning' ? '%' : ` of ${job.files_total} files`;
      return { value: job.files_done / job.files_total, label: `${job.phase}… ${job.files_done}${unit}` };
    }
    return { value: null, label: `${job.phase}…` };
  }
  return { value: null, label: '' };
}

function nameFrom(text: string): string {
  const last = text.replace(/\/+$/, '').split('/').pop() ?? '';
  return last.replace(/\.(git|zip|tar\.gz|tgz)$/i, '');
}

/** Import existing code: a Git URL, or a zip / tar.gz dropped (or chosen) here. */
export function ImportProject() {
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [ref, setRef] = useState('');
  const [state, setState] = useState<State>({ kind: 'idle' });
  const [dragging, setDragging] = useState(false);
  const upload = useRef<AbortController | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const busy = state.kind === 'uploading' || state.kind === 'importing';
  const jobId = state.kind === 'importing' ? state.job.id : null;

  useEffect(() => {
    if (jobId === null) return;
    let stopped = false;
    const timer = window.setInterval(() => {
      importsApi.get(jobId).then(
        (job) => {
          if (stopped) return;
          if (job.status === 'running') setState({ kind: 'importing', job });
          else if (job.status === 'completed') {
            setState({ kind: 'done', job });
            void qc.invalidateQueries({ queryKey: qk.projects, exact: true });
          } else setState({ kind: 'error', message: job.error_message ?? `import ${job.status}` });
        },
        (e: Error) => !stopped && setState({ kind: 'error', message: e.message }),
      );
    }, POLL_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [jobId, qc]);

  function started(job: ImportJob) {
    setState({ kind: 'importing', job });
  }

  function fromGit(e: FormEvent) {
    e.preventDefault();
    if (!url.trim() || busy) return;
    importsApi
      .fromGit(name.trim() || nameFrom(url.trim()) || 'imported', url.trim(), ref.trim() || null)
      .then(started, (err: Error) => setState({ kind: 'error', message: err.message }));
  }

  function fromFile(file: File) {
    if (busy) return;
    const controller = new AbortController();
    upload.current = controller;
    setState({ kind: 'uploading', fraction: 0 });
    uploadArchive(
      name.trim() || nameFrom(file.name) || 'imported',
      file,
      (fraction) => setState({ kind: 'uploading', fraction }),
      controller.signal,
    ).then(started, (err: Error) =>
      setState({ kind: 'error', message: controller.signal.aborted ? 'Import cancelled' : err.message }),
    );
  }

  function cancel() {
    if (state.kind === 'uploading') upload.current?.abort();
    if (state.kind === 'importing') {
      importsApi.cancel(state.job.id).catch((err: Error) => setState({ kind: 'error', message: err.message }));
    }
  }

  function drop(e: DragEvent) {
    e.preventDefault();
    setDragging(false);
    const file = e.dataTransfer.files[0];
    if (file) fromFile(file);
  }

  const progress = progressOf(state);
  return (
    <section className="import-project" aria-label="Import project">
      <form className="create-project" onSubmit={fromGit} aria-label="Import from Git">
        <input
          aria-label="Imported project name"
          placeholder="Name (optional)"
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
        <input
          aria-label="Git URL"
          placeholder="https://… or file://… Git URL"
          value={url}
          onChange={(e) => setUrl(e.target.value)}
        />
        <input aria-label="Branch or tag" placeholder="branch or tag" value={ref} onChange={(e) => setRef(e.target.value)} />
        <button type="submit" disabled={!url.trim() || busy}>
          Import from Git
        </button>
      </form>
      <div
        className={`drop-zone${dragging ? ' dragging' : ''}`}
        data-testid="drop-zone"
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={drop}
      >
        Drop a .zip or .tar.gz here, or{' '}
        <button type="button" className="small" disabled={busy} onClick={() => fileInput.current?.click()}>
          choose an archive
        </button>
        <input
          ref={fileInput}
          type="file"
          hidden
          aria-label="Archive file"
          accept=".zip,.tar.gz,.tgz,application/zip,application/gzip"
          onChange={(e) => {
            const file = e.target.files?.[0];
            e.target.value = '';
            if (file) fromFile(file);
          }}
        />
      </div>
      {busy ? (
        <div className="import-progress">
          <progress aria-label="Import progress" max={1} value={progress.value ?? undefined} />
          <span className="muted" data-testid="import-status">
            {progress.label}
          </span>
          <button type="button" className="small danger" onClick={cancel}>
            Cancel import
          </button>
        </div>
      ) : null}
      {state.kind === 'done' && state.job.project_id !== null ? (
        <div data-testid="import-status">
          Imported {state.job.files_total ?? 0} files
          {state.job.binary_files ? ` (${state.job.binary_files} binary)` : ''}:{' '}
          <Link to={`/projects/${state.job.project_id}`}>open {state.job.name}</Link>
        </div>
      ) : null}
      {state.kind === 'error' ? (
        <div className="error-text" data-testid="import-status">
          {state.message}
        </div>
      ) : null}
    </section>
  );
}
