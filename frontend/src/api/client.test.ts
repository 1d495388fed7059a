import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as f from '../test/fixtures';
import { attachRunStream, sendMessageStream } from './chat';
import { ApiError, request } from './client';

afterEach(() => vi.unstubAllGlobals());

const SRC = path.resolve(__dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'test' ? [] : sources(full);
    return /\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name) ? [full] : [];
  });
}

describe('the one transport', () => {
  it('sends every request and stream with the same credentials to the same base', async () => {
    const inits: { url: string; init: RequestInit | undefined }[] = [];
    const fetchFn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      inits.push({ url: String(input), init });
      if (String(input).includes('/stream')) return f.sseResponse({ parts: [f.frame([f.complete(1)])] });
      return f.jsonResponse({ ok: true });
    });
    vi.stubGlobal('fetch', fetchFn);
    await request('GET', '/health');
    await sendMessageStream(1, 'hi', null, {}).done;
    await attachRunStream('r1', 0, {}).done;
    expect(inits.map((i) => i.url)).toEqual([
      '/api/v1/health',
      '/api/v1/chat/1/stream',
      '/api/v1/runs/r1/stream?after=0',
    ]);
    expect(inits.map((i) => i.init?.credentials)).toEqual(['same-origin', 'same-origin', 'same-origin']);
  });

  it('decodes an error answer the same way for a request and a stream', async () => {
    const busy = () =>
      new Response(JSON.stringify({ code: 'busy', message: 'a run is active' }), {
        status: 409,
        headers: { 'Content-Type': 'application/json' },
      });
    vi.stubGlobal('fetch', vi.fn(async () => busy()));
    const err = await request('POST', '/chat/1', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 409, code: 'busy', message: 'a run is active' });
    const outcome = await sendMessageStream(1, 'hi', null, {}).done;
    expect(outcome).toEqual({ kind: 'error', data: { code: 'busy', message: 'a run is active' } });
  });

  it('is the only code that calls fetch', () => {
    const callers = sources(SRC)
      .filter((file) => /globalThis\.fetch|\bfetch\(/.test(readFileSync(file, 'utf8').replace(/\/\/.*$/gm, '')))
      .map((file) => path.relative(SRC, file));
    expect(callers).toEqual(['api/client.ts']);
  });
});
