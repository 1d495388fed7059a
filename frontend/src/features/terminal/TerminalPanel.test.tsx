import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as f from '../../test/fixtures';
import { mockApi, renderWithClient } from '../../test/render';
import { TerminalPanel } from './TerminalPanel';

afterEach(() => vi.unstubAllGlobals());

const HEALTH = {
  status: 'ok',
  version: '1',
  models: { planner: null, coder: null, configured: true, scripted: true, hint: null },
  sandbox: { available: true, detail: 'bubblewrap' },
};

const output = (seq: number, text: string) => `id: ${seq}\ndata: ${JSON.stringify({ type: 'output', seq, data: { text } })}\n\n`;

describe('TerminalPanel', () => {
  it('streams a command’s output as it arrives, then its end, and recalls past commands', async () => {
    let stream: { push: (text: string) => void; close: () => void } | null = null;
    const { calls } = mockApi({
      'GET /api/v1/health': () => f.jsonResponse(HEALTH),
      'POST /api/v1/projects/1/commands': () => {
        const enc = new TextEncoder();
        let ctrl: ReadableStreamDefaultController<Uint8Array> | null = null;
        const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctrl = c) });
        stream = { push: (text) => ctrl?.enqueue(enc.encode(text)), close: () => ctrl?.close() };
        return new Response(body, { headers: { 'Content-Type': 'text/event-stream' } });
      },
    });
    renderWithClient(<TerminalPanel projectId={1} />);
    const input = screen.getByRole('textbox', { name: 'Command' });
    await userEvent.type(input, 'make test{Enter}');

    await waitFor(() => expect(stream).not.toBeNull());
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ command: 'make test' });
    expect(screen.getByRole('button', { name: 'Stop' })).toBeInTheDocument();
    stream!.push(output(1, 'first line\n'));
    await screen.findByText('first line');
    stream!.push(output(2, 'second\n'));
    await waitFor(() => expect(screen.getByTestId('terminal-entry').textContent).toContain('first line\nsecond'));

    const end = { exit_code: 0, stopped: null, summary: 'Exit code 0', changes: [{ path: 'out.txt', change_type: 'created' }], refused: [] };
    stream!.push(`id: 3\ndata: ${JSON.stringify({ type: 'end', seq: 3, data: end })}\n\n`);
    stream!.close();
    await screen.findByText(/Exit code 0 · Saved: out.txt \(created\)/);
    expect(screen.getByRole('button', { name: 'Run' })).toBeInTheDocument();

    await userEvent.type(input, '{ArrowUp}');
    expect(input).toHaveValue('make test');
  });

  it('Stop aborts the request, which stops the command on the server', async () => {
    let signal: AbortSignal | null | undefined;
    mockApi({
      'GET /api/v1/health': () => f.jsonResponse(HEALTH),
      'POST /api/v1/projects/1/commands': (_call, s) => {
        signal = s;
        return f.sseResponse({ parts: [output(1, 'working\n')], hang: true }, s);
      },
    });
    renderWithClient(<TerminalPanel projectId={1} />);
    await userEvent.type(screen.getByRole('textbox', { name: 'Command' }), 'sleep 100{Enter}');
    await screen.findByText('working');
    await userEvent.click(screen.getByRole('button', { name: 'Stop' }));
    expect(signal?.aborted).toBe(true);
    await screen.findByText(/Stopped: its processes were killed/);
    expect(screen.getByRole('button', { name: 'Run' })).toBeInTheDocument();
  });

  it('shows why a command was refused, and says when the server has no sandbox', async () => {
    mockApi({
      'GET /api/v1/health': () => f.jsonResponse(HEALTH),
      'POST /api/v1/projects/1/commands': () =>
        f.jsonResponse({ code: 'busy', message: 'project 1 has an active run (r1); wait for it or cancel it first' }, 409),
    });
    renderWithClient(<TerminalPanel projectId={1} />);
    await userEvent.type(screen.getByRole('textbox', { name: 'Command' }), 'ls{Enter}');
    await screen.findByText(/has an active run/);
    vi.unstubAllGlobals();

    mockApi({
      'GET /api/v1/health': () =>
        f.jsonResponse({ ...HEALTH, sandbox: { available: false, detail: 'bubblewrap is not installed' } }),
    });
    renderWithClient(<TerminalPanel projectId={2} />);
    expect(await screen.findByTestId('terminal-unavailable')).toHaveTextContent('bubblewrap is not installed');
  });
});
