import { useState } from 'react';
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Health, Message } from '../../api/types';
import * as f from '../../test/fixtures';
import { mockApi, renderWithClient } from '../../test/render';
import { ChatPanel } from './ChatPanel';

const health = (over: Partial<Health['models']> = {}): Health => ({
  status: 'ok',
  version: '0.1.0',
  models: { planner: 'scripted', coder: 'scripted', configured: true, scripted: false, hint: null, ...over },
  sandbox: { available: true, detail: 'bubblewrap: no network' },
});

function baseRoutes(messages: Message[] = []) {
  return {
    'GET /api/v1/health': () => f.jsonResponse(health()),
    'GET /api/v1/projects/1/sessions': () => f.jsonResponse([]),
    'GET /api/v1/sessions/1/messages': () => f.jsonResponse(messages),
  };
}

function Panel({ initialSession = null }: { initialSession?: number | null }) {
  const [session, setSession] = useState<number | null>(initialSession);
  return <ChatPanel projectId={1} sessionId={session} onSessionChange={setSession} />;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('ChatPanel', () => {
  it('shows the user message and the placeholder at once, streams steps, then the answer', async () => {
    const sse = f.controlledSse();
    const { calls } = mockApi({ ...baseRoutes(), 'POST /api/v1/chat/1/stream': () => sse.response });
    renderWithClient(<Panel />);

    const box = screen.getByRole('textbox', { name: 'Message' });
    await userEvent.type(box, 'Add a dark mode toggle{Enter}');

    // Before any event arrives:
    expect(screen.getByTestId('user-message')).toHaveTextContent('Add a dark mode toggle');
    expect(screen.getByText(/AI is thinking…/)).toBeInTheDocument();
    expect(box).toHaveValue('');
    const live = screen.getByTestId('assistant-message');
    expect(live).toHaveAttribute('aria-live', 'polite');

    act(() => sse.push([f.start(), f.interaction(2, { content: 'Reading the code' })]));
    expect(await screen.findByText('Reading the code')).toBeInTheDocument();

    act(() =>
      sse.push([
        f.interaction(3, {
          agent_name: 'Coder',
          message_type: 'tool_call',
          tool_name: 'write_file',
          tool_arguments: { path: 'a.css' },
        }),
        f.delta(4, 'Added the '),
        f.delta(5, 'toggle'),
      ]),
    );
    expect(await screen.findByText('Added the toggle')).toBeInTheDocument();
    expect(screen.getAllByTestId('agent-interaction')).toHaveLength(2);
    expect(screen.getByRole('button', { name: /stop/i })).toBeInTheDocument();

    act(() => {
      sse.push([f.complete(6, { content: 'Added a **dark mode** toggle.' }, [f.change(9, { path: 'a.css' })])]);
      sse.close();
    });
    const answer = await screen.findByTestId('final-answer');
    await waitFor(() => expect(answer.querySelector('strong')).toHaveTextContent('dark mode'));
    expect(answer).toHaveTextContent('Added a dark mode toggle.');
    expect(screen.queryByText(/AI is thinking/)).toBeNull();
    expect(screen.queryByTestId('draft')).toBeNull();
    expect(screen.getByRole('table', { name: /token usage/i })).toHaveTextContent('2,400');
    expect(screen.getByTestId('code-change')).toHaveTextContent('a.css');
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({
      message: 'Add a dark mode toggle',
      session_id: null,
    });
  });

  it('Shift+Enter adds a line, Enter sends', async () => {
    const sse = f.controlledSse();
    const { calls } = mockApi({ ...baseRoutes(), 'POST /api/v1/chat/1/stream': () => sse.response });
    renderWithClient(<Panel />);
    const box = screen.getByRole('textbox', { name: 'Message' });
    await userEvent.type(box, 'first{Shift>}{Enter}{/Shift}second');
    expect(box).toHaveValue('first\nsecond');
    expect(calls.some((c) => c.method === 'POST')).toBe(false);
    await userEvent.type(box, '{Enter}');
    await waitFor(() => expect(calls.some((c) => c.method === 'POST')).toBe(true));
    expect(calls.find((c) => c.method === 'POST')?.body).toMatchObject({ message: 'first\nsecond' });
  });

  it('shows history and re-attaches to a running run without showing a step twice', async () => {
    const history: Message[] = [
      { id: 5, session_id: 1, role: 'user', content: 'Make it blue', agent_name: null, created_at: '2025-12-28T10:30:00Z' },
      f.assistantMessage({
        content: '',
        run_status: 'running',
        agent_interactions: [f.storedInteraction(2), f.storedInteraction(3)],
      }),
    ];
    const sse = f.controlledSse();
    const { calls } = mockApi({
      ...baseRoutes(history),
      [`GET /api/v1/runs/${f.RUN}/stream`]: () => sse.response,
    });
    renderWithClient(<Panel initialSession={1} />);
    expect(await screen.findByText('Make it blue')).toBeInTheDocument();
    await waitFor(() => expect(calls.some((c) => c.url.includes('/stream'))).toBe(true));
    const attach = calls.find((c) => c.url.includes('/stream'));
    expect(attach?.url).toBe(`/api/v1/runs/${f.RUN}/stream?after=3`);

    act(() => sse.push([f.interaction(3), f.interaction(4)]));
    await screen.findByText('step 4');
    const steps = screen.getAllByTestId('agent-interaction').map((el) => el.textContent);
    expect(steps.filter((t) => t?.includes('step 3'))).toHaveLength(1);
    expect(screen.getAllByTestId('agent-interaction')).toHaveLength(3);
    expect(screen.getAllByTestId('assistant-message')).toHaveLength(1);

    act(() => {
      sse.push([f.complete(5, { content: 'Now blue.' })]);
      sse.close();
    });
    expect(await screen.findByText('Now blue.')).toBeInTheDocument();
    expect(screen.getAllByTestId('user-message')).toHaveLength(1);
  });

  it('Stop cancels the run and shows the stopped state', async () => {
    const sse = f.controlledSse();
    const { calls } = mockApi({
      ...baseRoutes(),
      'POST /api/v1/chat/1/stream': () => sse.response,
      [`POST /api/v1/runs/${f.RUN}/cancel`]: () => {
        setTimeout(() => {
          sse.push([f.error(3, 'cancelled', 'Stopped by the user')]);
          sse.close();
        }, 10);
        return f.jsonResponse({ id: f.RUN, status: 'running' }, 202);
      },
    });
    renderWithClient(<Panel />);
    await userEvent.type(screen.getByRole('textbox', { name: 'Message' }), 'long task{Enter}');
    act(() => sse.push([f.start(), f.interaction(2)]));
    await screen.findByText('step 2');
    await userEvent.click(screen.getByRole('button', { name: /stop/i }));
    expect(await screen.findByTestId('stopped')).toBeInTheDocument();
    expect(screen.getByTestId('run-status')).toHaveTextContent('Stopped');
    expect(calls.some((c) => c.url === `/api/v1/runs/${f.RUN}/cancel` && c.method === 'POST')).toBe(true);
    expect(screen.getByText('step 2')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Send' })).toBeInTheDocument();
  });

  it('when re-attaching gives up: the error is shown, Stop goes away, the user can send again', async () => {
    const sse = f.controlledSse();
    const { calls } = mockApi({
      ...baseRoutes(),
      'POST /api/v1/chat/1/stream': [() => sse.response, () => f.sseResponse({ parts: [f.frame([f.start(7), f.complete(8, { content: 'Second answer.' })])] })],
      [`GET /api/v1/runs/${f.RUN}/stream`]: () => {
        throw new TypeError('Failed to fetch');
      },
    });
    renderWithClient(<Panel />);
    const box = screen.getByRole('textbox', { name: 'Message' });
    await userEvent.type(box, 'long task{Enter}');
    act(() => sse.push([f.start(), f.interaction(2, { content: 'Reading the code' })]));
    await screen.findByText('Reading the code');
    expect(screen.getByRole('button', { name: /stop/i })).toBeInTheDocument();

    // Only the back-off sleeps run on fake time; everything else (fetch, streams) stays real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      act(() => sse.fail());
      // 8 re-attaches with the default back-off (250 ms doubling, capped at 4 s) take 19.75 s.
      for (let i = 0; i < 40; i++) await act(() => vi.advanceTimersByTimeAsync(1_000));
    } finally {
      vi.useRealTimers();
    }
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('network: Lost the connection to the run: Failed to fetch');
    expect(calls.filter((c) => c.url.startsWith(`/api/v1/runs/${f.RUN}/stream`))).toHaveLength(8);
    expect(screen.getByTestId('assistant-message')).toHaveAttribute('data-status', 'error');
    expect(screen.getByTestId('run-status')).toHaveTextContent('Failed');
    expect(screen.queryByText(/AI is thinking/)).toBeNull();
    // What arrived before the connection was lost stays on screen.
    expect(screen.getByText('Reading the code')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /stop/i })).toBeNull();
    expect(screen.getByRole('combobox', { name: 'Chat session' })).toBeEnabled();

    await userEvent.type(box, 'try again');
    const sendButton = screen.getByRole('button', { name: 'Send' });
    expect(sendButton).toBeEnabled();
    await userEvent.click(sendButton);
    expect(await screen.findByText('Second answer.')).toBeInTheDocument();
  });

  it('shows a server error and lets the user send again', async () => {
    mockApi({
      ...baseRoutes(),
      'POST /api/v1/chat/1/stream': () =>
        f.sseResponse({ parts: [f.frame([f.start(), f.error(2, 'model_not_configured', 'Set TANDEM_MODEL')])] }),
    });
    renderWithClient(<Panel />);
    await userEvent.type(screen.getByRole('textbox', { name: 'Message' }), 'hi{Enter}');
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('model_not_configured');
    expect(alert).toHaveTextContent('Set TANDEM_MODEL');
    expect(within(alert).getByRole('link', { name: 'Open the Models page' })).toHaveAttribute('href', '/settings/models');
  });

  it('warns when no model is configured and labels the scripted model', async () => {
    mockApi({
      ...baseRoutes(),
      'GET /api/v1/health': () =>
        f.jsonResponse(health({ configured: false, scripted: false, hint: 'Set TANDEM_MODEL=openai:gpt-4o and OPENAI_API_KEY' })),
    });
    renderWithClient(<Panel />);
    const banner = await screen.findByTestId('no-model-banner');
    expect(within(banner).getByRole('link', { name: 'choose one on the Models page' })).toHaveAttribute(
      'href',
      '/settings/models',
    );
    expect(screen.queryByTestId('scripted-badge')).toBeNull();
  });

  it('says when the Coder cannot run commands, and why', async () => {
    const detail = 'bubblewrap is not installed: install the `bubblewrap` package (apt install bubblewrap)';
    mockApi({
      ...baseRoutes(),
      'GET /api/v1/health': () => f.jsonResponse({ ...health(), sandbox: { available: false, detail } }),
    });
    renderWithClient(<Panel />);
    expect(await screen.findByTestId('no-sandbox-banner')).toHaveTextContent(detail);
  });

  it('labels the scripted model as not AI', async () => {
    mockApi({ ...baseRoutes(), 'GET /api/v1/health': () => f.jsonResponse(health({ scripted: true })) });
    renderWithClient(<Panel />);
    expect(await screen.findByTestId('scripted-badge')).toHaveTextContent('scripted model — not AI');
    expect(screen.queryByTestId('no-sandbox-banner')).toBeNull();
  });

  it('renders stored interactions and stopped runs from history', async () => {
    mockApi(
      baseRoutes([
        { id: 5, session_id: 1, role: 'user', content: 'do it', agent_name: null, created_at: '2025-12-28T10:30:00Z' },
        f.assistantMessage({ content: '', run_status: 'cancelled', agent_interactions: [f.storedInteraction(2)] }),
      ]),
    );
    renderWithClient(<Panel initialSession={1} />);
    const msg = await screen.findByTestId('assistant-message');
    expect(within(msg).getByText('step 2')).toBeInTheDocument();
    expect(within(msg).getByTestId('stopped')).toBeInTheDocument();
  });

  it('maps each stored run status to what the user sees', async () => {
    const user = (id: number): Message => ({
      id,
      session_id: 1,
      role: 'user',
      content: `ask ${id}`,
      agent_name: null,
      created_at: '2025-12-28T10:30:00Z',
    });
    mockApi(
      baseRoutes([
        user(1),
        f.assistantMessage({ id: 2, run_id: 'r-done', run_status: 'completed', content: 'Finished fine.' }),
        user(3),
        f.assistantMessage({
          id: 4,
          run_id: 'r-failed',
          run_status: 'failed',
          content: '',
          error_code: 'model_error',
          error_message: 'rate limited',
        }),
        user(5),
        f.assistantMessage({ id: 6, run_id: 'r-int', run_status: 'interrupted', content: '' }),
        user(7),
        f.assistantMessage({ id: 8, run_id: 'r-stop', run_status: 'cancelled', content: '' }),
      ]),
    );
    renderWithClient(<Panel initialSession={1} />);
    await screen.findByText('Finished fine.');
    const [done, failed, interrupted, stopped] = screen.getAllByTestId('assistant-message');
    expect(done).toHaveAttribute('data-status', 'complete');
    expect(within(done!).queryByTestId('run-status')).toBeNull();
    expect(within(done!).queryByRole('alert')).toBeNull();
    expect(failed).toHaveAttribute('data-status', 'error');
    expect(within(failed!).getByTestId('run-status')).toHaveTextContent('Failed');
    expect(within(failed!).getByRole('alert')).toHaveTextContent('model_error: rate limited');
    expect(within(interrupted!).getByTestId('run-status')).toHaveTextContent('Failed');
    expect(within(interrupted!).getByRole('alert')).toHaveTextContent(
      'interrupted: The run ended before it finished.',
    );
    expect(within(stopped!).getByTestId('run-status')).toHaveTextContent('Stopped');
    expect(within(stopped!).getByTestId('stopped')).toBeInTheDocument();
    // No stored run is running, so nothing is live: the user can send.
    expect(screen.queryByRole('button', { name: /stop/i })).toBeNull();
    expect(screen.getByRole('button', { name: 'Send' })).toBeInTheDocument();
  });

  it('a live run past 150 steps shows the newest ones and how many are hidden', async () => {
    const sse = f.controlledSse();
    mockApi({ ...baseRoutes(), 'POST /api/v1/chat/1/stream': () => sse.response });
    renderWithClient(<Panel />);
    await userEvent.type(screen.getByRole('textbox', { name: 'Message' }), 'big job{Enter}');
    act(() => sse.push([f.start(), ...Array.from({ length: 155 }, (_, i) => f.interaction(i + 2))]));
    expect(await screen.findByText('step 156')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Show 5 earlier steps' })).toBeInTheDocument();
    expect(screen.getAllByTestId('agent-interaction')).toHaveLength(150);
    expect(screen.queryByText('step 6')).toBeNull();
    expect(screen.getByText('step 7')).toBeInTheDocument();
    expect(screen.getByTestId('run-status')).toHaveTextContent('Working…');
  });

  it('lists sessions, switches between them and starts a new one', async () => {
    const session = (id: number, title: string) => ({
      id,
      project_id: 1,
      title,
      created_at: '2025-12-28T10:30:00Z',
      updated_at: '2025-12-28T10:30:00Z',
    });
    const userMsg = (id: number, sessionId: number, content: string): Message => ({
      id,
      session_id: sessionId,
      role: 'user',
      content,
      agent_name: null,
      created_at: '2025-12-28T10:30:00Z',
    });
    mockApi({
      ...baseRoutes(),
      'GET /api/v1/projects/1/sessions': () => f.jsonResponse([session(2, 'Second'), session(1, 'First')]),
      'GET /api/v1/sessions/1/messages': () => f.jsonResponse([userMsg(1, 1, 'hello from one')]),
      'GET /api/v1/sessions/2/messages': () => f.jsonResponse([userMsg(2, 2, 'hello from two')]),
    });
    renderWithClient(<Panel initialSession={1} />);
    expect(await screen.findByText('hello from one')).toBeInTheDocument();
    const select = screen.getByRole('combobox', { name: 'Chat session' });
    await screen.findByRole('option', { name: /Second/ });
    await userEvent.selectOptions(select, '2');
    expect(await screen.findByText('hello from two')).toBeInTheDocument();
    expect(screen.queryByText('hello from one')).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: '+ New session' }));
    expect(screen.queryByText('hello from two')).toBeNull();
    expect(select).toHaveValue('');
  });
});
