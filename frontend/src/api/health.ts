import { useQuery } from '@tanstack/react-query';
import { request } from './client';
import { qk } from './keys';
import type { Health } from './types';

export const getHealth = (): Promise<Health> => request<Health>('GET', '/health');

export function useHealth() {
  return useQuery({ queryKey: qk.health, queryFn: getHealth, staleTime: 30_000 });
}
