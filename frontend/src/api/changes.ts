import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { request } from './client';
import { qk } from './keys';
import type { CodeChange, CodeChangeDetail } from './types';

export const changesApi = {
  listForProject: (projectId: number) =>
    request<CodeChange[]>('GET', `/projects/${projectId}/changes`),
  get: (id: number) => request<CodeChangeDetail>('GET', `/changes/${id}`),
  revert: (id: number) => request<CodeChange>('POST', `/changes/${id}/revert`),
};

export function useProjectChanges(projectId: number) {
  return useQuery({
    queryKey: qk.projectChanges(projectId),
    queryFn: () => changesApi.listForProject(projectId),
  });
}

export function useChange(id: number | null) {
  return useQuery({
    queryKey: qk.change(id ?? 0),
    queryFn: () => changesApi.get(id ?? 0),
    enabled: id !== null,
  });
}

export function useRevertChange(projectId: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => changesApi.revert(id),
    onSettled: () =>
      Promise.all([
        qc.invalidateQueries({ queryKey: qk.project(projectId) }),
        qc.invalidateQueries({ queryKey: ['runs'] }),
        qc.invalidateQueries({ queryKey: ['changes'] }),
      ]),
  });
}
