import { afterEach, describe, expect, it, vi } from 'vitest';
import * as f from '../test/fixtures';
import { mockApi } from '../test/render';
import { PROJECTS_PAGE, projectsApi } from './projects';

afterEach(() => vi.unstubAllGlobals());

describe('projectsApi.list', () => {
  it('reads every page, so no project is hidden by the default page size', async () => {
    const stored = Array.from({ length: PROJECTS_PAGE + 3 }, (_, i) => f.project(PROJECTS_PAGE + 3 - i));
    const { calls } = mockApi({
      'GET /api/v1/projects': (c) => {
        const query = new URL(c.url, 'http://x').searchParams;
        const offset = Number(query.get('offset') ?? 0);
        const limit = Number(query.get('limit') ?? 100); // the server's default
        return f.jsonResponse(stored.slice(offset, offset + limit));
      },
    });
    const listed = await projectsApi.list();
    expect(listed.map((p) => p.id)).toEqual(stored.map((p) => p.id));
    expect(calls.map((c) => c.url)).toEqual([
      `/api/v1/projects?limit=${PROJECTS_PAGE}&offset=0`,
      `/api/v1/projects?limit=${PROJECTS_PAGE}&offset=${PROJECTS_PAGE}`,
    ]);
  });

  it('stops after a short first page', async () => {
    const { calls } = mockApi({ 'GET /api/v1/projects': () => f.jsonResponse([f.project(1)]) });
    expect((await projectsApi.list()).map((p) => p.id)).toEqual([1]);
    expect(calls).toHaveLength(1);
  });
});
