import { useQuery } from '@tanstack/react-query';
import { request } from './client';
import { qk } from './keys';
import type { PreviewLink } from './types';

export const previewsApi = {
  open: (projectId: number) => request<PreviewLink>('POST', `/projects/${projectId}/preview`),
};

/** A link to the project's pages on the preview origin; a new one before it expires. */
export function usePreviewLink(projectId: number) {
  return useQuery({
    queryKey: qk.preview(projectId),
    queryFn: () => previewsApi.open(projectId),
    staleTime: 10 * 60_000,
    refetchInterval: 60 * 60_000,
    retry: false,
  });
}
