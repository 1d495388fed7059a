import { renderHook, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { qk } from './keys';
import { useProjectEvents } from './projectEvents';
import { mockApi } from '../test/render';
import * as f from '../test/fixtures';

afterEach(() => vi.unstubAllGlobals());

const event = (seq: number, type: string, updated_at: string | null) =>
  `id: ${seq}\ndata: ${JSON.stringify({ type, seq, data: { project_id: 1, updated_at } })}\n\n`;

function wrapper(client: QueryClient) {
  return ({ children }: { children: ReactNode }) => <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}

describe('useProjectEvents', () => {
  it('refetches the files once following, on each change, and after a reconnection that finds the project changed', async () => {
    const { calls } = mockApi({
      'GET /api/v1/projects/1/events': [
        () => f.sseResponse({ parts: [event(1, 'watching', 'A'), event(2, 'files_changed', 'B')], failAtEnd: true }),
        (_c, s) => f.sseResponse({ parts: [event(1, 'watching', 'C')], hang: true }, s),
      ],
    });
    const client = new QueryClient();
    const invalidate = vi.spyOn(client, 'invalidateQueries');
    const { unmount } = renderHook(() => useProjectEvents(1), { wrapper: wrapper(client) });
    // Following (a change between the page's first reads and the stream), B, and C after the reconnection.
    await waitFor(() => expect(invalidate).toHaveBeenCalledTimes(3), { timeout: 3000 });
    expect(invalidate.mock.calls).toEqual(Array.from({ length: 3 }, () => [{ queryKey: qk.files(1) }]));
    expect(calls.filter((c) => c.url.endsWith('/events'))).toHaveLength(2);
    unmount();
  });

  it('stops following a project it may not read', async () => {
    const { calls } = mockApi({});
    const client = new QueryClient();
    renderHook(() => useProjectEvents(1), { wrapper: wrapper(client) });
    await waitFor(() => expect(calls).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 700));
    expect(calls).toHaveLength(1);
  });
});
