import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { request } from './client';
import { qk } from './keys';
import type { Me } from './types';

export const getMe = (): Promise<Me> => request<Me>('GET', '/auth/me');

/** Who is signed in; a 401 (TANDEM_AUTH=accounts, no sign-in) is the cue for the sign-in screen. */
export function useMe() {
  return useQuery({ queryKey: qk.me, queryFn: getMe, staleTime: Infinity, retry: false });
}

export function useLogin() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; password: string }) => request<Me>('POST', '/auth/login', body),
    onSuccess: (me) => {
      // Everything cached belonged to nobody (or to the previous user): start over as this one.
      client.removeQueries({ predicate: (q) => q.queryKey[0] !== qk.me[0] });
      client.setQueryData(qk.me, me);
    },
  });
}

export function useLogout() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => request<void>('POST', '/auth/logout'),
    onSettled: () => {
      client.removeQueries({ predicate: (q) => q.queryKey[0] !== qk.me[0] });
      void client.resetQueries({ queryKey: qk.me });
    },
  });
}
