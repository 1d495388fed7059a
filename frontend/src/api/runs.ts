import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { request } from './client';
import { qk } from './keys';
import type { CodeChange, Run } from './types';

export const runsApi = {
  get: (runId: string) => request<Run>('GET', `/runs/${encodeURIComponent(runId)}`),
  cancel: (runId: string) => request<Run>('POST', `/runs/${encodeURIComponent(runId)}/cancel`),
  changes: (runId: string) =>
    request<CodeChange[]>('GET', `/runs/${encodeURIComponent(runId)}/changes`),
  revert: (runId: string) =>
    request<CodeChange[]>('POST', `/runs/${encodeURIComponent(runId)}/revert`),
};

export function useRun(runId: string | null) {
  return useQuery({
    queryKey: qk.run(runId ?? ''),
    queryFn: () => runsApi.get(runId ?? ''),
    enabled: runId !== null,
  });
}

export function useCancelRun() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (runId: string) => runsApi.cancel(runId),
    onSuccess: (run) => qc.setQueryData(qk.run(run.id), run),
  });
}

export function useRunChanges(runId: string | null) {
  return useQuery({
    queryKey: qk.runChanges(runId ?? ''),
    queryFn: () => runsApi.changes(runId ?? ''),
    enabled: runId !== null,
  });
}

export function useRevertRun(projectId: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (runId: string) => runsApi.revert(runId),
    // A revert rewrites files and flips `reverted` on changes: refresh the whole project.
    onSettled: () =>
      Promise.all([
        qc.invalidateQueries({ queryKey: qk.project(projectId) }),
        qc.invalidateQueries({ queryKey: ['runs'] }),
        qc.invalidateQueries({ queryKey: ['changes'] }),
      ]),
  });
}
