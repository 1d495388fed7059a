import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as f from '../../test/fixtures';
import { mockApi, renderWithClient } from '../../test/render';
import { ProjectsPage } from './ProjectsPage';

afterEach(() => vi.unstubAllGlobals());

describe('ProjectsPage', () => {
  it('lists, creates from a template, renames and deletes projects', async () => {
    let projects = [f.project(1, 'First')];
    const { calls } = mockApi({
      'GET /api/v1/health': () => f.jsonResponse({ status: 'ok', version: '1', models: { planner: null, coder: null, configured: true, scripted: false, hint: null } }),
      'GET /api/v1/templates': () =>
        f.jsonResponse([
          { id: 'blank', name: 'Blank', description: '' },
          { id: 'react-vite', name: 'React + Vite + TypeScript', description: '' },
        ]),
      'GET /api/v1/projects': () => f.jsonResponse(projects),
      'POST /api/v1/projects': (c) => {
        const body = c.body as { name: string; template: string };
        const p = { ...f.project(2, body.name), template: body.template };
        projects = [p, ...projects];
        return f.jsonResponse(p, 201);
      },
      'PATCH /api/v1/projects/1': (c) => {
        projects = projects.map((p) => (p.id === 1 ? { ...p, name: (c.body as { name: string }).name } : p));
        return f.jsonResponse(projects.find((p) => p.id === 1));
      },
      'DELETE /api/v1/projects/2': () => {
        projects = projects.filter((p) => p.id !== 2);
        return new Response(null, { status: 204 });
      },
    });
    vi.spyOn(window, 'confirm').mockReturnValue(true);
    renderWithClient(<ProjectsPage />);
    expect(await screen.findByText('First')).toBeInTheDocument();

    await userEvent.type(screen.getByRole('textbox', { name: 'Project name' }), 'Shop');
    await screen.findByRole('option', { name: 'React + Vite + TypeScript' });
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Template' }), 'react-vite');
    await userEvent.click(screen.getByRole('button', { name: 'Create' }));
    expect(await screen.findByText('Shop')).toBeInTheDocument();
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ name: 'Shop', template: 'react-vite' });

    const renameButtons = screen.getAllByRole('button', { name: 'Rename' });
    await userEvent.click(renameButtons[1] as HTMLElement);
    const input = screen.getByRole('textbox', { name: 'New name for First' });
    await userEvent.clear(input);
    await userEvent.type(input, 'Renamed{Enter}');
    expect(await screen.findByText('Renamed')).toBeInTheDocument();

    await userEvent.click(screen.getAllByRole('button', { name: 'Delete' })[0] as HTMLElement);
    await waitFor(() => expect(screen.queryByText('Shop')).toBeNull());
    expect(screen.getAllByTestId('project-row')).toHaveLength(1);
  });
});
