import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { encodePath, request } from './client';
import { qk } from './keys';
import type { FileContent, FileInfo } from './types';

export const filesApi = {
  list: (projectId: number) => request<FileInfo[]>('GET', `/projects/${projectId}/files`),
  read: (projectId: number, path: string) =>
    request<FileContent>('GET', `/projects/${projectId}/files/${encodePath(path)}`),
  write: (projectId: number, path: string, content: string) =>
    request<FileInfo>('PUT', `/projects/${projectId}/files/${encodePath(path)}`, { content }),
  rename: (projectId: number, path: string, newPath: string) =>
    request<FileInfo>('PATCH', `/projects/${projectId}/files/${encodePath(path)}`, {
      path: newPath,
    }),
  remove: (projectId: number, path: string) =>
    request<void>('DELETE', `/projects/${projectId}/files/${encodePath(path)}`),
};

/** Changes made elsewhere (another tab, another user, the agents) arrive through `useProjectEvents`. */
export function useFiles(projectId: number) {
  return useQuery({ queryKey: qk.files(projectId), queryFn: () => filesApi.list(projectId) });
}

export function useFile(projectId: number, path: string | null) {
  return useQuery({
    queryKey: qk.file(projectId, path ?? ''),
    queryFn: () => filesApi.read(projectId, path ?? ''),
    enabled: path !== null,
  });
}

export function useWriteFile(projectId: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (v: { path: string; content: string }) =>
      filesApi.write(projectId, v.path, v.content),
    onSuccess: (info, v) => {
      qc.setQueryData<FileContent>(qk.file(projectId, v.path), { ...info, content: v.content });
      return qc.invalidateQueries({ queryKey: qk.files(projectId), exact: true });
    },
  });
}

export function useRenameFile(projectId: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (v: { path: string; newPath: string }) =>
      filesApi.rename(projectId, v.path, v.newPath),
    onSuccess: (_info, v) => {
      qc.removeQueries({ queryKey: qk.file(projectId, v.path) });
      return qc.invalidateQueries({ queryKey: qk.files(projectId), exact: true });
    },
  });
}

export function useDeleteFile(projectId: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (path: string) => filesApi.remove(projectId, path),
    onSuccess: (_v, path) => {
      qc.removeQueries({ queryKey: qk.file(projectId, path) });
      return qc.invalidateQueries({ queryKey: qk.files(projectId), exact: true });
    },
  });
}
