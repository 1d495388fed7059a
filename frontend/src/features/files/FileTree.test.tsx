import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FileInfo } from '../../api/types';
import * as f from '../../test/fixtures';
import { mockApi, renderWithClient } from '../../test/render';
import { FileTree, LARGE_TREE } from './FileTree';

afterEach(() => vi.unstubAllGlobals());

const info = (path: string): FileInfo => ({ path, size: 1, updated_at: '2025-12-28T10:30:15Z' });

describe('FileTree', () => {
  it('shows nested files, creates, renames and deletes', async () => {
    let files = [info('README.md'), info('src/App.tsx')];
    const { calls } = mockApi({
      'GET /api/v1/projects/1/files': () => f.jsonResponse(files),
      'PUT /api/v1/projects/1/files/src/new.ts': () => {
        files = [...files, info('src/new.ts')];
        return f.jsonResponse(info('src/new.ts'));
      },
      'PATCH /api/v1/projects/1/files/README.md': (c) => {
        const to = (c.body as { path: string }).path;
        files = files.map((x) => (x.path === 'README.md' ? info(to) : x));
        return f.jsonResponse(info(to));
      },
      'DELETE /api/v1/projects/1/files/src/App.tsx': () => {
        files = files.filter((x) => x.path !== 'src/App.tsx');
        return new Response(null, { status: 204 });
      },
    });
    vi.spyOn(window, 'confirm').mockReturnValue(true);
    const onOpen = vi.fn();
    renderWithClient(<FileTree projectId={1} openPath="src/App.tsx" onOpen={onOpen} />);
    expect(await screen.findByRole('button', { name: 'App.tsx' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'src', expanded: true })).toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'README.md' }));
    expect(onOpen).toHaveBeenLastCalledWith('README.md');

    await userEvent.click(screen.getByRole('button', { name: '+ New file' }));
    await userEvent.type(screen.getByRole('textbox', { name: 'New file path' }), 'src/new.ts{Enter}');
    expect(await screen.findByRole('button', { name: 'new.ts' })).toBeInTheDocument();
    expect(onOpen).toHaveBeenLastCalledWith('src/new.ts');
    expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ content: '' });

    await userEvent.click(screen.getByRole('button', { name: 'Rename README.md' }));
    const input = screen.getByRole('textbox', { name: 'New path for README.md' });
    await userEvent.clear(input);
    await userEvent.type(input, 'docs/README.md{Enter}');
    expect(await screen.findByRole('button', { name: 'docs', expanded: true })).toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'Delete src/App.tsx' }));
    await waitFor(() => expect(screen.queryByRole('button', { name: 'App.tsx' })).toBeNull());
    expect(onOpen).toHaveBeenLastCalledWith(null);
  });

  it('marks files with unsaved edits', async () => {
    mockApi({ 'GET /api/v1/projects/1/files': () => f.jsonResponse([info('a.txt'), info('b.txt')]) });
    renderWithClient(<FileTree projectId={1} openPath="a.txt" onOpen={vi.fn()} unsaved={new Set(['b.txt'])} />);
    expect(await screen.findByRole('button', { name: /^b\.txt\s*\(unsaved\)$/ })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'a.txt' })).toBeInTheDocument();
  });

  it('refuses a path that leaves the project with a clear message, and clears it on the next success', async () => {
    const files = [info('README.md')];
    const { calls } = mockApi({
      'GET /api/v1/projects/1/files': () => f.jsonResponse(files),
      'PATCH /api/v1/projects/1/files/README.md': () => f.jsonResponse(info('README2.md')),
      // What the browser makes of `/files/../evil.txt`: a URL one level up, which no route has.
      'PUT /api/v1/projects/1/evil.txt': () =>
        new Response(JSON.stringify({ code: 'method_not_allowed', message: 'Method Not Allowed' }), { status: 405 }),
    });
    renderWithClient(<FileTree projectId={1} openPath={null} onOpen={vi.fn()} />);
    await screen.findByRole('button', { name: 'README.md' });
    await userEvent.click(screen.getByRole('button', { name: '+ New file' }));
    await userEvent.type(screen.getByRole('textbox', { name: 'New file path' }), '../evil.txt{Enter}');
    expect(await screen.findByRole('alert')).toHaveTextContent("'..'");
    expect(screen.getByRole('alert')).toHaveTextContent('inside the project');
    expect(calls.filter((c) => c.method === 'PUT')).toHaveLength(0);

    // Any later success (here a rename) clears the message.
    await userEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    await userEvent.click(screen.getByRole('button', { name: 'Rename README.md' }));
    const input = screen.getByRole('textbox', { name: 'New path for README.md' });
    await userEvent.clear(input);
    await userEvent.type(input, 'README2.md{Enter}');
    await waitFor(() => expect(screen.queryByRole('textbox', { name: 'New path for README.md' })).toBeNull());
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('opens a large tree folded, unfolds a folder on click, and shows binary files as not openable', async () => {
    const files = [
      ...Array.from({ length: LARGE_TREE }, (_, i) => info(`pkg/file${String(i).padStart(4, '0')}.txt`)),
      { ...info('logo.png'), binary: true },
    ];
    mockApi({ 'GET /api/v1/projects/1/files': () => f.jsonResponse(files) });
    const onOpen = vi.fn();
    renderWithClient(<FileTree projectId={1} openPath={null} onOpen={onOpen} />);
    // jsdom renders 300 rows slowly on a loaded machine: generous waits, no timing asserted.
    const folder = await screen.findByRole('button', { name: 'pkg', expanded: false }, { timeout: 20_000 });
    expect(screen.queryByRole('button', { name: 'file0000.txt' })).toBeNull();
    await userEvent.click(folder);
    expect(await screen.findByRole('button', { name: 'file0000.txt' }, { timeout: 20_000 })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /^logo\.png/ })).toBeNull();
    expect(screen.getByTitle('Binary file: not editable')).toHaveTextContent('logo.png (binary)');
  }, 60_000);
});
