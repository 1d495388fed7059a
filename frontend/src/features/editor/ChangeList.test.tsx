import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as f from '../../test/fixtures';
import { mockApi, renderWithClient } from '../../test/render';
import { ChangesPanel } from './ChangesPanel';

afterEach(() => vi.unstubAllGlobals());

describe('ChangesPanel', () => {
  it('groups changes by run, shows a diff, reverts one change and a whole run', async () => {
    let changes = [
      f.change(1, { path: 'src/App.tsx' }),
      f.change(2, { path: 'src/new.ts', change_type: 'created', diff: '--- /dev/null\n+++ b/src/new.ts\n@@ -0,0 +1 @@\n+export {};\n' }),
      f.change(3, { run_id: 'run-0', path: 'README.md' }),
    ];
    const { calls } = mockApi({
      'GET /api/v1/projects/1/changes': () => f.jsonResponse(changes),
      'POST /api/v1/changes/1/revert': () => {
        changes = changes.map((c) => (c.id === 1 ? { ...c, reverted: true } : c));
        return f.jsonResponse(changes[0]);
      },
      [`POST /api/v1/runs/${f.RUN}/revert`]: () => {
        changes = changes.map((c) => (c.run_id === f.RUN ? { ...c, reverted: true } : c));
        return f.jsonResponse(changes.filter((c) => c.run_id === f.RUN));
      },
    });
    renderWithClient(<ChangesPanel projectId={1} />);
    const groups = await screen.findAllByTestId('run-changes');
    expect(groups).toHaveLength(2);

    await userEvent.click(screen.getByRole('button', { name: /src\/App.tsx/ }));
    const diff = screen.getByTestId('diff');
    expect(diff.querySelector('.diff-add')).toHaveTextContent('+new');
    expect(diff.querySelector('.diff-del')).toHaveTextContent('-old');

    const [first] = screen.getAllByRole('button', { name: 'Revert' });
    if (!first) throw new Error('no revert button');
    await userEvent.click(first);
    await waitFor(() => expect(screen.getAllByText('reverted')).toHaveLength(1));
    expect(calls.some((c) => c.method === 'POST' && c.url === '/api/v1/changes/1/revert')).toBe(true);

    const [revertRun] = screen.getAllByRole('button', { name: 'Revert run' });
    if (!revertRun) throw new Error('no revert run button');
    await userEvent.click(revertRun);
    await waitFor(() => expect(screen.getAllByText('reverted')).toHaveLength(2));
    expect(calls.some((c) => c.method === 'POST' && c.url === `/api/v1/runs/${f.RUN}/revert`)).toBe(true);
  });

  it('shows a revert conflict', async () => {
    mockApi({
      'GET /api/v1/projects/1/changes': () => f.jsonResponse([f.change(1)]),
      'POST /api/v1/changes/1/revert': () =>
        f.jsonResponse({ code: 'conflict', message: 'src/App.tsx changed since' }, 409),
    });
    renderWithClient(<ChangesPanel projectId={1} />);
    await userEvent.click(await screen.findByRole('button', { name: 'Revert' }));
    expect(await screen.findByText('src/App.tsx changed since')).toBeInTheDocument();
  });
});
