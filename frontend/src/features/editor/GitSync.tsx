import { type FormEvent, useEffect, useState } from 'react';
import { gitApi, useGitPull, useGitPush, useGitRemote, useSaveGitRemote } from '../../api/git';
import type { GitPulled, GitPushed, GitRemote } from '../../api/types';

const PUSHED: Record<GitPushed['outcome'], string> = {
  created: 'new branch',
  updated: 'fast-forward',
  up_to_date: 'already there',
};
const PULLED: Record<GitPulled['outcome'], string> = {
  up_to_date: 'Already up to date: nothing changed',
  fast_forward: 'Pulled (fast-forward)',
  merged: 'Pulled and merged',
};

function tokenNote(saved: GitRemote | null | undefined, url: string): string {
  if (!saved?.token_set || saved.url !== url) return 'Optional; used for this push or pull only unless remembered.';
  if (!saved.token_readable) return 'A token is saved but cannot be read (the server key changed): enter it again.';
  return 'A token is saved for this URL (never shown); leave empty to use it.';
}

/** Push the project's history to a Git remote, pull a remote branch into it, or download it as a bundle. */
export function GitSync({ projectId }: { projectId: number }) {
  const remote = useGitRemote(projectId);
  const save = useSaveGitRemote(projectId);
  const push = useGitPush(projectId);
  const pull = useGitPull(projectId);
  const [url, setUrl] = useState('');
  const [branch, setBranch] = useState('');
  const [username, setUsername] = useState('');
  const [token, setToken] = useState('');
  const [remember, setRemember] = useState(false);
  const [toDefault, setToDefault] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const saved = remote.data;

  useEffect(() => {
    if (saved) {
      setUrl((u) => u || saved.url);
      setUsername((n) => n || (saved.username ?? ''));
    }
  }, [saved]);

  const busy = push.isPending || pull.isPending || save.isPending;

  async function act(action: 'push' | 'pull') {
    setResult(null);
    setError(null);
    const given = {
      url: url.trim(),
      branch: branch.trim() || null,
      username: username.trim() || null,
      token: token || null,
    };
    try {
      if (remember) {
        await save.mutateAsync({ url: given.url, username: given.username, token: given.token });
        setToken('');
      }
      if (action === 'push') {
        const done = await push.mutateAsync({ ...given, allow_default_branch: toDefault });
        setResult(`Pushed ${done.sha.slice(0, 12)} to ${done.branch} (${PUSHED[done.outcome]})`);
      } else {
        const done = await pull.mutateAsync(given);
        setResult(`${PULLED[done.outcome]} from ${done.branch} (${done.remote_sha.slice(0, 12)})`);
      }
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    void act('push');
  }

  return (
    <details className="git-sync" data-testid="git-sync">
      <summary className="change-group-head">Git: push, pull, bundle</summary>
      <form className="models-form git-form" onSubmit={submit} aria-label="Git">
        <label className="field">
          <span className="field-label">Remote URL</span>
          <input
            name="url"
            type="url"
            required
            placeholder="https://github.com/you/app.git"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
          />
        </label>
        <label className="field">
          <span className="field-label">Branch</span>
          <input
            name="branch"
            placeholder="push: a new tandem/… branch; pull: the default branch"
            value={branch}
            onChange={(e) => setBranch(e.target.value)}
          />
        </label>
        <label className="field">
          <span className="field-label">User name</span>
          <input name="username" autoComplete="off" value={username} onChange={(e) => setUsername(e.target.value)} />
        </label>
        <label className="field">
          <span className="field-label">Token</span>
          <input
            name="token"
            type="password"
            autoComplete="new-password"
            value={token}
            aria-describedby={`git-token-${projectId}`}
            onChange={(e) => setToken(e.target.value)}
          />
        </label>
        <span id={`git-token-${projectId}`} className="muted small-text" data-testid="token-state">
          {tokenNote(saved, url.trim())}
        </span>
        <label className="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} /> Remember this
          remote (the token is stored encrypted)
        </label>
        <label className="check">
          <input type="checkbox" checked={toDefault} onChange={(e) => setToDefault(e.target.checked)} /> Allow pushing
          to the default branch (fast-forward only)
        </label>
        <div className="actions">
          <button type="submit" className="primary" disabled={busy || !url.trim()}>
            Push
          </button>
          <button type="button" disabled={busy || !url.trim()} onClick={() => void act('pull')}>
            Pull
          </button>
          <a className="small-link" href={gitApi.bundleUrl(projectId)} download>
            Download .bundle
          </a>
        </div>
        {busy ? <p className="muted">Working…</p> : null}
        {result ? (
          <p className="muted" role="status" data-testid="git-result">
            {result}
          </p>
        ) : null}
        {error ? (
          <p className="notice notice-error" role="alert" data-testid="git-error">
            {error}
          </p>
        ) : null}
      </form>
    </details>
  );
}
