import { useEffect, useRef, useState } from 'react';
import { ApiError } from '../../api/client';
import { runCommand } from '../../api/commands';
import { useHealth } from '../../api/health';
import type { CommandEnd } from '../../api/types';

/** Output kept per command: a runaway one must not grow the page without bound (the server stops it
 * at TANDEM_COMMAND_OUTPUT_BYTES anyway). */
const MAX_OUTPUT_CHARS = 200_000;

interface Entry {
  id: number;
  command: string;
  output: string;
  end: CommandEnd | null;
  /** Why it did not run to its end: refused, stopped, connection lost. */
  failure: string | null;
  running: boolean;
}

function clip(text: string): string {
  return text.length > MAX_OUTPUT_CHARS ? `…${text.slice(text.length - MAX_OUTPUT_CHARS)}` : text;
}

/** A command line over the project's files, in the same sandbox as the Coder's `run_command`. Files a
 * command changes are saved like edits (the tree, editor and preview follow through the project's events). */
export function TerminalPanel({ projectId }: { projectId: number }) {
  const health = useHealth();
  const [entries, setEntries] = useState<Entry[]>([]);
  const [line, setLine] = useState('');
  const [recalled, setRecalled] = useState<number | null>(null);
  const running = useRef<AbortController | null>(null);
  const log = useRef<HTMLDivElement>(null);
  const busy = entries.some((e) => e.running);

  // Leaving the project (unmounting) stops what runs, as closing a terminal does.
  useEffect(() => () => running.current?.abort(), []);
  useEffect(() => {
    log.current?.scrollTo?.({ top: log.current.scrollHeight });
  }, [entries]);

  const sandbox = health.data?.sandbox;
  const commands = entries.map((e) => e.command);

  function update(id: number, change: (entry: Entry) => Partial<Entry>) {
    setEntries((list) => list.map((e) => (e.id === id ? { ...e, ...change(e) } : e)));
  }

  async function run(command: string) {
    const id = (entries.at(-1)?.id ?? 0) + 1;
    const abort = new AbortController();
    running.current = abort;
    setEntries((list) => [...list, { id, command, output: '', end: null, failure: null, running: true }]);
    try {
      await runCommand(
        projectId,
        command,
        {
          onOutput: (text) => update(id, (e) => ({ output: clip(e.output + text) })),
          onEnd: (end) => update(id, () => ({ end })),
        },
        abort.signal,
      );
    } catch (error) {
      const failure = abort.signal.aborted
        ? 'Stopped: its processes were killed and what it wrote was dropped.'
        : error instanceof ApiError
          ? error.message
          : 'The connection was lost.';
      update(id, () => ({ failure }));
    } finally {
      update(id, (e) => ({
        running: false,
        failure: e.failure ?? (e.end ? null : 'The command ended without a result.'),
      }));
      if (running.current === abort) running.current = null;
    }
  }

  function recall(step: number) {
    if (commands.length === 0) return;
    const next = Math.min(commands.length, Math.max(0, (recalled ?? commands.length) + step));
    setRecalled(next);
    setLine(commands[next] ?? '');
  }

  return (
    <div className="terminal-panel" data-testid="terminal">
      {sandbox && !sandbox.available ? (
        <div className="pad error" role="alert" data-testid="terminal-unavailable">
          Commands cannot run on this server: {sandbox.detail}
        </div>
      ) : null}
      <div className="terminal-log" ref={log} role="log" aria-label="Terminal output" aria-live="polite">
        {entries.length === 0 ? (
          <p className="muted">
            Run a command over the project&apos;s files, e.g. <code>ls</code> or <code>python3 -m pytest -q</code>.
            It runs sandboxed: no network, limited time and memory.
          </p>
        ) : null}
        {entries.map((e) => (
          <div key={e.id} className="terminal-entry" data-testid="terminal-entry">
            <div className="terminal-command">
              <span aria-hidden="true">$ </span>
              {e.command}
            </div>
            {e.output ? <pre className="terminal-output">{e.output}</pre> : null}
            {e.end ? (
              <div className={e.end.exit_code === 0 ? 'terminal-end muted' : 'terminal-end error'}>
                {e.end.summary}
                {e.end.changes.length > 0
                  ? ` · Saved: ${e.end.changes.map((c) => `${c.path} (${c.change_type})`).join(', ')}`
                  : ''}
                {e.end.refused.length > 0 ? ` · Not saved: ${e.end.refused.join('; ')}` : ''}
              </div>
            ) : null}
            {e.failure ? <div className="terminal-end error">{e.failure}</div> : null}
          </div>
        ))}
      </div>
      <form
        className="terminal-input"
        onSubmit={(event) => {
          event.preventDefault();
          const command = line.trim();
          if (!command || busy) return;
          setLine('');
          setRecalled(null);
          void run(command);
        }}
      >
        <span aria-hidden="true">$</span>
        <input
          value={line}
          onChange={(event) => setLine(event.target.value)}
          onKeyDown={(event) => {
            if (event.key === 'ArrowUp') {
              event.preventDefault();
              recall(-1);
            } else if (event.key === 'ArrowDown') {
              event.preventDefault();
              recall(1);
            }
          }}
          aria-label="Command"
          placeholder={busy ? 'Running…' : 'A command, e.g. ls -la'}
          autoComplete="off"
          spellCheck={false}
          disabled={sandbox?.available === false}
        />
        {busy ? (
          <button type="button" onClick={() => running.current?.abort()}>
            Stop
          </button>
        ) : (
          <button type="submit" disabled={!line.trim() || sandbox?.available === false}>
            Run
          </button>
        )}
      </form>
    </div>
  );
}
