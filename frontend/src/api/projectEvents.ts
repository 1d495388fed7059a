import { useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { ApiError, apiFetch } from './client';
import { qk } from './keys';
import { readSse } from './sse';
import type { ProjectEvent } from './types';

const RETRY_FIRST_MS = 500;
const RETRY_LAST_MS = 10_000;

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Follow a project's files (`GET /projects/{id}/events`): every change, whoever made it (an agent,
 * this tab, another tab, a Terminal command, another server process), refetches what shows files —
 * the tree, the open file, the preview. Once it follows, and after a dropped connection and its
 * reconnection, it refetches if the project changed meanwhile. */
export function useProjectEvents(projectId: number): void {
  const qc = useQueryClient();
  useEffect(() => {
    if (!Number.isFinite(projectId)) return undefined;
    const abort = new AbortController();
    const refetch = () => qc.invalidateQueries({ queryKey: qk.files(projectId) });
    let seen: string | null | undefined;
    async function follow() {
      let retry = RETRY_FIRST_MS;
      while (!abort.signal.aborted) {
        try {
          const response = await apiFetch(`/projects/${projectId}/events`, {
            headers: { Accept: 'text/event-stream' },
            signal: abort.signal,
          });
          if (!response.body) throw new ApiError(0, 'network', 'the event stream has no body');
          for await (const message of readSse(response.body)) {
            const event = JSON.parse(message.data) as ProjectEvent;
            retry = RETRY_FIRST_MS;
            if (event.type === 'project_deleted') {
              void qc.invalidateQueries({ queryKey: qk.project(projectId) });
              return;
            }
            // The first `watching`: what changed between the page's first reads and this stream (a change
            // made then is announced by nothing else); after a reconnection: what changed while it was down.
            if (event.type === 'files_changed' || event.data.updated_at !== seen) {
              void refetch();
            }
            seen = event.data.updated_at;
          }
        } catch (error) {
          // Not found (deleted, unshared) or signed out: nothing to follow.
          if (abort.signal.aborted || (error instanceof ApiError && [401, 403, 404].includes(error.status))) return;
        }
        await pause(retry, abort.signal);
        retry = Math.min(retry * 2, RETRY_LAST_MS);
      }
    }
    void follow();
    return () => abort.abort();
  }, [projectId, qc]);
}
