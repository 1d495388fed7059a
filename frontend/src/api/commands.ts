import { apiFetch } from './client';
import { readSse } from './sse';
import type { CommandEnd, CommandEvent } from './types';

export interface CommandCallbacks {
  onOutput: (text: string) => void;
  onEnd: (end: CommandEnd) => void;
}

/** Run a command in the project's sandbox (`POST /projects/{id}/commands`), its output streamed to
 * `onOutput` as it is printed. Aborting `signal` stops it: the server kills all of its processes. Rejects
 * with an `ApiError` when it cannot start (409 busy, 503 sandbox_unavailable, …). */
export async function runCommand(
  projectId: number,
  command: string,
  callbacks: CommandCallbacks,
  signal: AbortSignal,
): Promise<void> {
  const response = await apiFetch(`/projects/${projectId}/commands`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ command }),
    signal,
  });
  if (!response.body) return;
  for await (const message of readSse(response.body)) {
    const event = JSON.parse(message.data) as CommandEvent;
    if (event.type === 'output') callbacks.onOutput(event.data.text);
    else if (event.type === 'end') callbacks.onEnd(event.data);
  }
}
