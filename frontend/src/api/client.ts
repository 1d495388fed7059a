// The frontend's one transport: every request and every stream goes through `apiFetch`, so the
// base URL, the credentials sent and the decoding of errors into `ApiError` live here and nowhere
// else. (The archive upload uses XHR for its progress events, with `apiUrl` and `errorFromResponse`.)
import type { ApiErrorBody } from './types';

const API_BASE = '/api/v1';

/** The URL of an API path, e.g. for a link or the XHR upload. */
export function apiUrl(path: string): string {
  return API_BASE + path;
}

/** An error answered by the API (`{"code", "message"}`), or a transport failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

function isErrorBody(v: unknown): v is ApiErrorBody {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Record<string, unknown>).code === 'string' &&
    typeof (v as Record<string, unknown>).message === 'string'
  );
}

/** Turn a non-2xx response into an ApiError, whatever its body looks like. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  let body: unknown = null;
  const text = await res.text().catch(() => '');
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (isErrorBody(body)) return new ApiError(res.status, body.code, body.message);
  // FastAPI's default shape, in case a route slips through without the custom handler.
  const detail = (body as { detail?: unknown } | null)?.detail;
  const message =
    typeof detail === 'string' ? detail : text.slice(0, 300) || res.statusText || 'Request failed';
  return new ApiError(res.status, `http_${res.status}`, message);
}

/** Encode a project-relative path for the URL, keeping its slashes as separators. A `.` or `..`
 * segment cannot be sent at all: the browser resolves it away (even as `%2E%2E`), so the request
 * would reach another route. */
export function encodePath(path: string): string {
  const segments = path.split('/');
  if (segments.some((s) => s === '.' || s === '..')) {
    throw new ApiError(422, 'unsafe_path', `path '${path}' contains '.' or '..'; paths must stay inside the project`);
  }
  return segments.map(encodeURIComponent).join('/');
}

/**
 * Send a request to the API. Resolves with a 2xx response (its body unread, so a stream can be
 * read as it arrives); rejects with an `ApiError`: the server's `{code, message}` for any other
 * status, status 0 `network` when no answer came. An abort rejects with the signal's reason.
 * `fetchImpl` is injected by tests.
 */
export async function apiFetch(path: string, init: RequestInit = {}, fetchImpl?: typeof fetch): Promise<Response> {
  let res: Response;
  try {
    res = await (fetchImpl ?? globalThis.fetch)(apiUrl(path), {
      // The sign-in cookie goes with every request to this origin, and to no other.
      credentials: 'same-origin',
      ...init,
    });
  } catch (e) {
    if (init.signal?.aborted) throw e;
    throw new ApiError(0, 'network', e instanceof Error ? e.message : 'Network error');
  }
  if (!res.ok) throw await errorFromResponse(res);
  return res;
}

export async function request<T>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await apiFetch(path, {
    method,
    headers: body === undefined ? { Accept: 'application/json' } : { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
