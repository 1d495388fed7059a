import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiUrl, request } from './client';
import { qk } from './keys';
import type { GitPulled, GitPullForm, GitPushed, GitPushForm, GitRemote, GitRemoteForm } from './types';

export const gitApi = {
  remote: (projectId: number) => request<GitRemote | null>('GET', `/projects/${projectId}/git/remote`),
  saveRemote: (projectId: number, form: GitRemoteForm) =>
    request<GitRemote>('PUT', `/projects/${projectId}/git/remote`, form),
  push: (projectId: number, form: GitPushForm) => request<GitPushed>('POST', `/projects/${projectId}/git/push`, form),
  pull: (projectId: number, form: GitPullForm) => request<GitPulled>('POST', `/projects/${projectId}/git/pull`, form),
  bundleUrl: (projectId: number) => apiUrl(`/projects/${projectId}/download.bundle`),
};

export function useGitRemote(projectId: number) {
  return useQuery({ queryKey: qk.gitRemote(projectId), queryFn: () => gitApi.remote(projectId) });
}

export function useSaveGitRemote(projectId: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (form: GitRemoteForm) => gitApi.saveRemote(projectId, form),
    onSuccess: (saved) => qc.setQueryData(qk.gitRemote(projectId), saved),
  });
}

export function useGitPush(projectId: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (form: GitPushForm) => gitApi.push(projectId, form),
    // Pending edits were committed first: the history shows them.
    onSettled: () => qc.invalidateQueries({ queryKey: qk.history(projectId) }),
  });
}

/** A pull may change the project's files: every view of the project is refetched. */
export function useGitPull(projectId: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (form: GitPullForm) => gitApi.pull(projectId, form),
    onSettled: () =>
      Promise.all([
        qc.invalidateQueries({ queryKey: qk.project(projectId) }),
        qc.invalidateQueries({ queryKey: ['changes'] }),
      ]),
  });
}
