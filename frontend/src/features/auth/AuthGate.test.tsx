import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClientProvider, type QueryClient } from '@tanstack/react-query';
import { MemoryRouter } from 'react-router-dom';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeQueryClient } from '../../App';
import { ApiError } from '../../api/client';
import * as f from '../../test/fixtures';
import { mockApi } from '../../test/render';
import { AuthGate } from './AuthGate';

afterEach(() => vi.unstubAllGlobals());

const unauthorized = () => f.jsonResponse({ code: 'unauthorized', message: 'sign in first' }, 401);
const me = { id: 2, name: 'ada', is_admin: false, auth: 'accounts' };

/** Fills a field in one input event: typing key by key is slow on a loaded machine. */
async function fill(user: ReturnType<typeof userEvent.setup>, field: HTMLElement, text: string) {
  await user.clear(field);
  await user.click(field);
  await user.paste(text);
}

function renderGate(client: QueryClient = makeQueryClient()) {
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter>
        <AuthGate>
          <p>the app</p>
        </AuthGate>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe('AuthGate', () => {
  it('asks for a sign-in while the API answers 401, then shows the app', { timeout: 30_000 }, async () => {
    let signedIn = false;
    const { calls } = mockApi({
      'GET /api/v1/auth/me': () => (signedIn ? f.jsonResponse(me) : unauthorized()),
      'POST /api/v1/auth/login': (c) => {
        const body = c.body as { name: string; password: string };
        if (body.password !== 'right password') return f.jsonResponse({ code: 'unauthorized', message: 'wrong user name or password' }, 401);
        signedIn = true;
        return f.jsonResponse(me);
      },
    });
    renderGate();
    const user = userEvent.setup();
    await fill(user, await screen.findByLabelText('User name'), 'ada');
    await fill(user, screen.getByLabelText('Password'), 'wrong');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('wrong user name or password');
    expect(screen.queryByText('the app')).toBeNull();

    await fill(user, screen.getByLabelText('Password'), 'right password');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('the app')).toBeInTheDocument();
    expect(screen.getByText('Signed in as ada')).toBeInTheDocument();
    const login = calls.filter((c) => c.method === 'POST' && c.url === '/api/v1/auth/login').at(-1);
    expect(login?.body).toEqual({ name: 'ada', password: 'right password' });
  });

  it('signs out and comes back to the sign-in screen', async () => {
    let signedIn = true;
    mockApi({
      'GET /api/v1/auth/me': () => (signedIn ? f.jsonResponse(me) : unauthorized()),
      'POST /api/v1/auth/logout': () => {
        signedIn = false;
        return new Response(null, { status: 204 });
      },
    });
    renderGate();
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Sign out' }));
    expect(await screen.findByRole('form', { name: 'Sign in' })).toBeInTheDocument();
    expect(screen.queryByText('the app')).toBeNull();
  });

  it('changes nothing for the local user of TANDEM_AUTH=none', async () => {
    mockApi({ 'GET /api/v1/auth/me': () => f.jsonResponse({ id: 1, name: 'local', is_admin: true, auth: 'none' }) });
    renderGate();
    expect(await screen.findByText('the app')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Sign out' })).toBeNull();
  });

  it('a 401 from any other request brings the sign-in screen back', async () => {
    let signedIn = true;
    const client = makeQueryClient();
    mockApi({ 'GET /api/v1/auth/me': () => (signedIn ? f.jsonResponse(me) : unauthorized()) });
    renderGate(client);
    await screen.findByText('the app');
    signedIn = false;
    const expired = () => Promise.reject(new ApiError(401, 'unauthorized', 'sign in first'));
    await client.fetchQuery({ queryKey: ['projects'], queryFn: expired }).catch(() => undefined);
    await waitFor(() => expect(screen.getByRole('form', { name: 'Sign in' })).toBeInTheDocument());
  });
});
