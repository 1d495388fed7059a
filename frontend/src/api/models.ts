import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { request } from './client';
import { qk } from './keys';
import type { ModelCheck, ModelSettings, ModelSettingsForm } from './types';

export const getModelSettings = (): Promise<ModelSettings> => request<ModelSettings>('GET', '/models/settings');

export function useModelSettings() {
  return useQuery({ queryKey: qk.modelSettings, queryFn: getModelSettings });
}

export function useSaveModelSettings() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (form: ModelSettingsForm) => request<ModelSettings>('PUT', '/models/settings', form),
    onSuccess: (saved) => {
      client.setQueryData(qk.modelSettings, saved);
      // The "no model configured" banner reads the health endpoint.
      void client.invalidateQueries({ queryKey: qk.health });
    },
  });
}

/** Checks the saved models with a few small real requests (takes seconds to a minute). */
export function useCheckModels() {
  return useMutation({ mutationFn: () => request<ModelCheck[]>('POST', '/models/check') });
}
