import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { EditorView } from '@codemirror/view';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { qk } from '../../api/keys';
import * as f from '../../test/fixtures';
import { mockApi, renderWithClient } from '../../test/render';
import { useState } from 'react';
import { useDrafts } from './drafts';
import { EditorPane } from './EditorPane';

/** The page's part: one pane per open file, drafts kept across them. */
function TwoFiles() {
  const drafts = useDrafts();
  const [path, setPath] = useState('a.txt');
  return (
    <>
      <button type="button" onClick={() => setPath(path === 'a.txt' ? 'b.txt' : 'a.txt')}>
        switch
      </button>
      <EditorPane key={path} projectId={1} path={path} drafts={drafts} />
    </>
  );
}

function leaveIsBlocked(): boolean {
  const e = new Event('beforeunload', { cancelable: true });
  window.dispatchEvent(e);
  return e.defaultPrevented;
}

afterEach(() => vi.unstubAllGlobals());

const T = '2025-12-28T10:30:15.123Z';
function editorView(): EditorView {
  const view = EditorView.findFromDOM(document.querySelector('.cm-editor') as HTMLElement);
  if (!view) throw new Error('no editor');
  return view;
}
const editorText = () => document.querySelector('.cm-content')?.textContent ?? '';

describe('EditorPane', () => {
  it('opens a file, follows server changes while clean, saves edits', async () => {
    let content = 'const a = 1;';
    const { calls } = mockApi({
      'GET /api/v1/projects/1/files/src/a.ts': () => f.jsonResponse({ path: 'src/a.ts', size: 1, updated_at: T, content }),
      'PUT /api/v1/projects/1/files/src/a.ts': (c) => {
        content = (c.body as { content: string }).content;
        return f.jsonResponse({ path: 'src/a.ts', size: content.length, updated_at: T });
      },
      'GET /api/v1/projects/1/files': () => f.jsonResponse([{ path: 'src/a.ts', size: 1, updated_at: T }]),
    });
    const { client } = renderWithClient(<EditorPane projectId={1} path="src/a.ts" />);
    await waitFor(() => expect(editorText()).toBe('const a = 1;'));
    // Highlighting is on for TypeScript.
    expect(document.querySelector('.cm-content span')).not.toBeNull();

    // An agent rewrites the file: the clean editor follows.
    content = 'const a = 2;';
    await act(() => client.invalidateQueries({ queryKey: qk.files(1) }));
    await waitFor(() => expect(editorText()).toBe('const a = 2;'));

    // Edit and save.
    const save = screen.getByRole('button', { name: 'Save' });
    expect(save).toBeDisabled();
    act(() => {
      const view = editorView();
      view.dispatch({ changes: { from: view.state.doc.length, insert: ' // edited' } });
    });
    await waitFor(() => expect(screen.getByRole('button', { name: 'Save' })).toBeEnabled());
    expect(screen.getByTestId('open-file')).toHaveTextContent('●');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Save' })).toBeDisabled());
    expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ content: 'const a = 2; // edited' });
  });

  it('asks before replacing unsaved edits with the agents’ version', async () => {
    let content = 'one';
    mockApi({
      'GET /api/v1/projects/1/files/a.txt': () => f.jsonResponse({ path: 'a.txt', size: 1, updated_at: T, content }),
    });
    const { client } = renderWithClient(<EditorPane projectId={1} path="a.txt" />);
    await waitFor(() => expect(editorText()).toBe('one'));
    act(() => {
      editorView().dispatch({ changes: { from: 0, insert: 'my ' } });
    });
    content = 'two';
    await act(() => client.invalidateQueries({ queryKey: qk.files(1) }));
    expect(await screen.findByText(/agents changed this file/)).toBeInTheDocument();
    expect(editorText()).toBe('my one');
    await userEvent.click(screen.getByRole('button', { name: 'Load their version' }));
    await waitFor(() => expect(editorText()).toBe('two'));
    expect(screen.queryByText(/agents changed this file/)).toBeNull();
  });

  it('keeps unsaved edits per file across switches and warns before leaving while any are unsaved', async () => {
    const content: Record<string, string> = { 'a.txt': 'alpha', 'b.txt': 'beta' };
    mockApi({
      'GET /api/v1/projects/1/files/a.txt': () => f.jsonResponse({ path: 'a.txt', size: 1, updated_at: T, content: content['a.txt'] }),
      'GET /api/v1/projects/1/files/b.txt': () => f.jsonResponse({ path: 'b.txt', size: 1, updated_at: T, content: content['b.txt'] }),
      'PUT /api/v1/projects/1/files/a.txt': (c) => {
        content['a.txt'] = (c.body as { content: string }).content;
        return f.jsonResponse({ path: 'a.txt', size: 1, updated_at: T });
      },
    });
    renderWithClient(<TwoFiles />);
    await waitFor(() => expect(editorText()).toBe('alpha'));
    expect(leaveIsBlocked()).toBe(false);
    act(() => {
      editorView().dispatch({ changes: { from: 0, insert: 'my ' } });
    });
    await waitFor(() => expect(leaveIsBlocked()).toBe(true));

    await userEvent.click(screen.getByRole('button', { name: 'switch' }));
    await waitFor(() => expect(editorText()).toBe('beta'));
    expect(leaveIsBlocked()).toBe(true);
    await userEvent.click(screen.getByRole('button', { name: 'switch' }));
    await waitFor(() => expect(editorText()).toBe('my alpha'));
    expect(screen.getByTestId('open-file')).toHaveTextContent('●');

    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(leaveIsBlocked()).toBe(false));
    expect(content['a.txt']).toBe('my alpha');
  });

  it('tells its owner when the open file is gone, e.g. its creation was reverted', async () => {
    mockApi({});
    const onGone = vi.fn();
    renderWithClient(<EditorPane projectId={1} path="gone.txt" onGone={onGone} />);
    await waitFor(() => expect(onGone).toHaveBeenCalled());
  });

  it('says so when the open file was deleted', async () => {
    mockApi({});
    renderWithClient(<EditorPane projectId={1} path="gone.txt" />);
    expect(await screen.findByTestId('file-missing')).toBeInTheDocument();
  });
});
