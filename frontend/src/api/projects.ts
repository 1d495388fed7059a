import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { request } from './client';
import { qk } from './keys';
import type { Project, Template } from './types';

export const projectsApi = {
  templates: () => request<Template[]>('GET', '/templates'),
  list: () => request<Project[]>('GET', '/projects'),
  get: (id: number) => request<Project>('GET', `/projects/${id}`),
  create: (name: string, template: string) =>
    request<Project>('POST', '/projects', { name, template }),
  rename: (id: number, name: string) => request<Project>('PATCH', `/projects/${id}`, { name }),
  remove: (id: number) => request<void>('DELETE', `/projects/${id}`),
  downloadUrl: (id: number) => `/api/v1/projects/${id}/download`,
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
