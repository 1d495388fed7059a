import { ApiError, apiUrl, errorFromResponse, request } from './client';
import type { components } from './schema.gen';

type Wire = components['schemas'];

/** An import job (`POST /projects` with a Git `source` or an archive body answers 202 with one). */
export type ImportJob = Wire['ImportOut'];

export const importsApi = {
  fromGit: (name: string, url: string, ref: string | null) =>
    request<ImportJob>('POST', '/projects', { name, source: { type: 'git', url, ref } }),
  get: (id: string) => request<ImportJob>('GET', `/imports/${encodeURIComponent(id)}`),
  cancel: (id: string) => request<ImportJob>('POST', `/imports/${encodeURIComponent(id)}/cancel`),
};

export function archiveType(file: File): string {
  return /\.(tar\.gz|tgz)$/i.test(file.name) ? 'application/gzip' : 'application/zip';
}

/**
 * Upload an archive as the request body (streamed by the browser, never read into page memory),
 * reporting the fraction sent. XHR, because `fetch` reports no upload progress.
 */
export function uploadArchive(
  name: string,
  file: File,
  onProgress: (fraction: number) => void,
  signal: AbortSignal,
): Promise<ImportJob> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', apiUrl(`/projects?name=${encodeURIComponent(name)}`));
    xhr.setRequestHeader('Content-Type', archiveType(file));
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      const response = new Response(xhr.responseText, { status: xhr.status });
      if (xhr.status === 202) resolve(JSON.parse(xhr.responseText) as ImportJob);
      else void errorFromResponse(response).then(reject);
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload failed (network error)'));
    xhr.onabort = () => reject(new ApiError(0, 'cancelled', 'upload cancelled'));
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}
