import { useState, type FormEvent, type ReactNode } from 'react';
import { useLogin, useLogout, useMe } from '../../api/auth';
import { ApiError } from '../../api/client';

function LoginForm() {
  const login = useLogin();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');

  function submit(e: FormEvent) {
    e.preventDefault();
    login.mutate({ name: name.trim(), password });
  }

  return (
    <main className="login">
      <h1>Tandem</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <input aria-label="User name" autoComplete="username" value={name} onChange={(e) => setName(e.target.value)} />
        <input
          aria-label="Password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <button type="submit" className="primary" disabled={!name.trim() || !password || login.isPending}>
          Sign in
        </button>
        {login.error ? (
          <p role="alert" className="error-text">
            {login.error.message}
          </p>
        ) : null}
      </form>
    </main>
  );
}

function SignedIn({ name }: { name: string }) {
  const logout = useLogout();
  return (
    <div className="signed-in">
      <span>Signed in as {name}</span>
      <button type="button" onClick={() => logout.mutate()} disabled={logout.isPending}>
        Sign out
      </button>
    </div>
  );
}

/** The app for a signed-in user; the sign-in screen while the API answers 401. With
 * TANDEM_AUTH=none the server answers for its implicit local user, and nothing changes. */
export function AuthGate({ children }: { children: ReactNode }) {
  const me = useMe();
  if (me.error instanceof ApiError && me.error.status === 401) return <LoginForm />;
  if (me.isPending) return <p className="loading">Loading…</p>;
  return (
    <>
      {me.data?.auth === 'accounts' ? <SignedIn name={me.data.name} /> : null}
      {children}
    </>
  );
}
