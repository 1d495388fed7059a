import type { ReactElement } from 'react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { vi } from 'vitest';
import { recordCall, type Call } from './fixtures';

export function renderWithClient(ui: ReactElement, { route = '/' }: { route?: string } = {}) {
  const client = new QueryClient({
    defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false }, mutations: { retry: false } },
  });
  const utils = render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[route]}>{ui}</MemoryRouter>
    </QueryClientProvider>,
  );
  return { ...utils, client };
}

export type Route = (call: Call, signal: AbortSignal | null | undefined) => Response | Promise<Response> | undefined;

/** Install a fetch that answers by `METHOD path` (query string ignored); unmatched → 404. */
export function mockApi(routes: Record<string, Route | Route[]>) {
  const calls: Call[] = [];
  const served = new Map<string, number>();
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const call = recordCall(input, init);
    calls.push(call);
    const key = `${call.method} ${call.url.split('?')[0]}`;
    const entry = routes[key];
    let route: Route | undefined;
    if (Array.isArray(entry)) {
      const n = served.get(key) ?? 0;
      served.set(key, n + 1);
      route = entry[Math.min(n, entry.length - 1)];
    } else route = entry;
    const res = route?.(call, init?.signal);
    if (res) return res;
    return new Response(JSON.stringify({ code: 'not_found', message: `no mock for ${key}` }), {
      status: 404,
      headers: { 'Content-Type': 'application/json' },
    });
  });
  vi.stubGlobal('fetch', fn);
  return { calls, fn };
}
