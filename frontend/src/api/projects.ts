import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiUrl, request } from './client';
import { qk } from './keys';
import type { Project, Template } from './types';

/** The API serves projects a page at a time (newest first); the projects page shows them all. */
export const PROJECTS_PAGE = 1000;

async function listAllProjects(): Promise<Project[]> {
  const all = new Map<number, Project>();
  for (let offset = 0; ; offset += PROJECTS_PAGE) {
    const page = await request<Project[]>('GET', `/projects?limit=${PROJECTS_PAGE}&offset=${offset}`);
    // A project created meanwhile shifts the pages by one: keep the first copy of each.
    for (const p of page) if (!all.has(p.id)) all.set(p.id, p);
    if (page.length < PROJECTS_PAGE) return [...all.values()];
  }
}

export const projectsApi = {
  templates: () => request<Template[]>('GET', '/templates'),
  list: listAllProjects,
  get: (id: number) => request<Project>('GET', `/projects/${id}`),
  create: (name: string, template: string) =>
    request<Project>('POST', '/projects', { name, template }),
  rename: (id: number, name: string) => request<Project>('PATCH', `/projects/${id}`, { name }),
  remove: (id: number) => request<void>('DELETE', `/projects/${id}`),
  downloadUrl: (id: number) => apiUrl(`/projects/${id}/download`),
};

export function useTemplates() {
  return useQuery({ queryKey: qk.templates, queryFn: projectsApi.templates, staleTime: Infinity });
}

export function useProjects() {
  return useQuery({ queryKey: qk.projects, queryFn: projectsApi.list });
}

export function useProject(id: number) {
  return useQuery({ queryKey: qk.project(id), queryFn: () => projectsApi.get(id) });
}

export function useCreateProject() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (v: { name: string; template: string }) => projectsApi.create(v.name, v.template),
    onSuccess: () => qc.invalidateQueries({ queryKey: qk.projects, exact: true }),
  });
}

export function useRenameProject() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (v: { id: number; name: string }) => projectsApi.rename(v.id, v.name),
    onSuccess: (p) => {
      qc.setQueryData(qk.project(p.id), p);
      return qc.invalidateQueries({ queryKey: qk.projects, exact: true });
    },
  });
}

export function useDeleteProject() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => projectsApi.remove(id),
    onSuccess: (_v, id) => {
      qc.removeQueries({ queryKey: qk.project(id) });
      return qc.invalidateQueries({ queryKey: qk.projects, exact: true });
    },
  });
}
