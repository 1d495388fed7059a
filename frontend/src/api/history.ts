import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { request } from './client';
import { qk } from './keys';
import type { Commit } from './types';

export const historyApi = {
  list: (projectId: number) => request<Commit[]>('GET', `/projects/${projectId}/history?limit=100`),
  restore: (projectId: number, sha: string) =>
    request<Commit>('POST', `/projects/${projectId}/history/${sha}/restore`),
};

export function useProjectHistory(projectId: number) {
  return useQuery({ queryKey: qk.history(projectId), queryFn: () => historyApi.list(projectId) });
}

/** Restore the project to a commit (a new commit): every view of the project is refetched. */
export function useRestoreCommit(projectId: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (sha: string) => historyApi.restore(projectId, sha),
    onSettled: () =>
      Promise.all([
        qc.invalidateQueries({ queryKey: qk.project(projectId) }),
        qc.invalidateQueries({ queryKey: ['changes'] }),
      ]),
  });
}
