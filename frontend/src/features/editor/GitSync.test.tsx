import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import * as f from '../../test/fixtures';
import { mockApi, renderWithClient } from '../../test/render';
import { GitSync } from './GitSync';

const SAVED = { url: 'https://git.example/app.git', username: 'me', token_set: true, token_readable: true };

describe('GitSync', () => {
  it('pushes with the saved remote: the token is never shown nor sent back', async () => {
    const { calls } = mockApi({
      'GET /api/v1/projects/3/git/remote': () => f.jsonResponse(SAVED),
      'POST /api/v1/projects/3/git/push': () =>
        f.jsonResponse({ url: SAVED.url, branch: 'tandem/app', sha: 'a'.repeat(40), outcome: 'created' }),
      'GET /api/v1/projects/3/history': () => f.jsonResponse([]),
    });
    renderWithClient(<GitSync projectId={3} />);
    await waitFor(() => expect(screen.getByTestId('token-state')).toHaveTextContent('A token is saved for this URL'));
    expect(screen.getByLabelText('Remote URL')).toHaveValue(SAVED.url);
    expect(screen.getByLabelText('Token')).toHaveValue('');
    await userEvent.click(screen.getByRole('button', { name: 'Push' }));
    expect(await screen.findByTestId('git-result')).toHaveTextContent(
      `Pushed ${'a'.repeat(12)} to tandem/app (new branch)`,
    );
    const push = calls.find((c) => c.method === 'POST');
    expect(push?.body).toEqual({
      url: SAVED.url,
      branch: null,
      username: 'me',
      token: null,
      allow_default_branch: false,
    });
  });

  it('shows a refused pull as the server explains it', async () => {
    mockApi({
      'GET /api/v1/projects/3/git/remote': () => f.jsonResponse(null),
      'POST /api/v1/projects/3/git/pull': () =>
        f.jsonResponse({ code: 'merge_conflict', message: 'conflict in 1 file(s): shared.txt' }, 409),
    });
    renderWithClient(<GitSync projectId={3} />);
    await userEvent.type(screen.getByLabelText('Remote URL'), 'https://git.example/other.git');
    await userEvent.type(screen.getByLabelText('Token'), 'tok-123');
    await userEvent.click(screen.getByRole('button', { name: 'Pull' }));
    expect(await screen.findByTestId('git-error')).toHaveTextContent('conflict in 1 file(s): shared.txt');
    await waitFor(() => expect(screen.queryByTestId('git-result')).toBeNull());
  });
});
