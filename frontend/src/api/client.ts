import type { ApiErrorBody } from './types';

export const API_BASE = '/api/v1';

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

export async function request<T>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
  init?: RequestInit,
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(API_BASE + path, {
      method,
      headers: body === undefined ? { Accept: 'application/json' } : { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      // The sign-in cookie goes with every request to this origin, and to no other.
      credentials: 'same-origin',
      ...init,
    });
  } catch (e) {
    throw new ApiError(0, 'network', e instanceof Error ? e.message : 'Network error');
  }
  if (!res.ok) throw await errorFromResponse(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
