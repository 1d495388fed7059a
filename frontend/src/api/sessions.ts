import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { request } from './client';
import { qk } from './keys';
import type { Message, Session } from './types';

export const sessionsApi = {
  list: (projectId: number) => request<Session[]>('GET', `/projects/${projectId}/sessions`),
  get: (id: number) => request<Session>('GET', `/sessions/${id}`),
  remove: (id: number) => request<void>('DELETE', `/sessions/${id}`),
  messages: (id: number) => request<Message[]>('GET', `/sessions/${id}/messages`),
};

export function useSessions(projectId: number) {
  return useQuery({ queryKey: qk.sessions(projectId), queryFn: () => sessionsApi.list(projectId) });
}

export function useSession(id: number | null) {
  return useQuery({
    queryKey: qk.session(id ?? 0),
    queryFn: () => sessionsApi.get(id ?? 0),
    enabled: id !== null,
  });
}

export function useDeleteSession(projectId: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => sessionsApi.remove(id),
    onSuccess: (_v, id) => {
      qc.removeQueries({ queryKey: qk.session(id) });
      return qc.invalidateQueries({ queryKey: qk.sessions(projectId) });
    },
  });
}

export function useMessages(sessionId: number | null) {
  return useQuery({
    queryKey: qk.messages(sessionId ?? 0),
    queryFn: () => sessionsApi.messages(sessionId ?? 0),
    enabled: sessionId !== null,
  });
}
