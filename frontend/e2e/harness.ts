// Shared by the e2e tests and the benchmark: a real Tandem backend on a free port with the
// scripted model, and Debian's chromium driven by playwright-core (no browser download).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';

export const FRONTEND_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(FRONTEND_DIR, '..');
export const RESULTS_DIR = path.join(FRONTEND_DIR, 'test-results');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface Backend {
  url: string;
  dataDir: string;
  log: () => string;
  stop: () => Promise<void>;
}

export async function startBackend(pace: number, env: Record<string, string> = {}): Promise<Backend> {
  const port = await freePort();
  // Not the default (port + 1), which another process may hold.
  const previewPort = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tandem-e2e-'));
  let output = '';
  const child: ChildProcess = spawn(
    'uv',
    ['run', '--project', REPO_DIR, 'tandem', 'serve', '--host', '127.0.0.1', '--port', String(port)],
    {
      cwd: REPO_DIR,
      env: {
        ...process.env,
        TANDEM_MODEL: 'scripted',
        TANDEM_SCRIPTED_PACE: String(pace),
        TANDEM_DATA_DIR: dataDir,
        TANDEM_PREVIEW_PORT: String(previewPort),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`backend exited early:\n${output}`);
    try {
      const r = await fetch(`${url}/api/v1/health`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`backend did not become healthy:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    dataDir,
    log: () => output,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Browser {
  context: BrowserContext;
  close: () => Promise<void>;
}

/** Debian's chromium; `extraArgs` e.g. `--host-resolver-rules=...` to point names at loopback. */
export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'tandem-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export async function api<T>(base: string, method: string, p: string, body?: unknown): Promise<T> {
  const r = await fetch(`${base}/api/v1${p}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${p} → ${r.status} ${await r.text()}`);
  return (r.status === 204 ? undefined : await r.json()) as T;
}

export interface Proxy {
  url: string;
  /** Sever every open connection, as a flaky network or a restarted load balancer would. */
  dropAll: () => number;
  close: () => Promise<void>;
}

/** A TCP proxy in front of `target`, so a test can cut live connections. */
export async function startProxy(target: string): Promise<Proxy> {
  const { port: targetPort, hostname } = new URL(target);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(targetPort), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    dropAll: () => {
      const n = sockets.size;
      for (const s of sockets) s.destroy();
      return n;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A test that, when it fails, keeps a screenshot of every open page of `browser()` for the CI
 * artifacts; with `closePages`, the pages are closed after it either way. */
function scenario(
  name: string,
  fn: () => Promise<void>,
  browser: () => Browser | undefined,
  { closePages = false }: { closePages?: boolean } = {},
): void {
  test(name, async () => {
    try {
      await fn();
    } catch (e) {
      const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
      const pages = browser()?.context.pages() ?? [];
      await Promise.all(
        pages.map((p, i) =>
          p.screenshot({ path: path.join(RESULTS_DIR, `failure-${slug}-${i}.png`) }).catch(() => undefined),
        ),
      );
      throw e;
    } finally {
      if (closePages) await Promise.all((browser()?.context.pages() ?? []).map((p) => p.close().catch(() => undefined)));
    }
  });
}

export interface Suite {
  /** The file's backend and browser: there from its `before` on (reading them sooner throws). */
  readonly backend: Backend;
  readonly browser: Browser;
  /** A test on this browser, see `scenario` above. */
  scenario: (name: string, fn: () => Promise<void>, options?: { closePages?: boolean }) => void;
}

/** What every e2e file shares: before its tests a backend (`startBackend(pace, env)`), the file's own
 * `setUp`, then a browser (`launchBrowser(browserArgs)`); after them its `tearDown` (which must cope
 * with a set-up that failed half-way), the browser and backend stopped, and the backend's log kept
 * as `test-results/<name>-backend.log`. The file's set-up goes here rather than in hooks of its own:
 * Node 20 starts a file's top-level async hooks together, not one after the other. */
export function suite(
  name: string,
  {
    pace,
    env = {},
    browserArgs = [],
    setUp,
    tearDown,
  }: {
    pace: number;
    env?: Record<string, string>;
    browserArgs?: string[];
    setUp?: () => Promise<void> | void;
    tearDown?: () => Promise<unknown> | void;
  },
): Suite {
  let backend: Backend | undefined;
  let browser: Browser | undefined;
  before(async () => {
    mkdirSync(RESULTS_DIR, { recursive: true });
    backend = await startBackend(pace, env);
    await setUp?.();
    browser = await launchBrowser(browserArgs);
  });
  after(async () => {
    await tearDown?.();
    await browser?.close();
    if (backend) writeFileSync(path.join(RESULTS_DIR, `${name}-backend.log`), backend.log());
    await backend?.stop();
  });
  const started = <T>(part: T | undefined, what: string): T => {
    if (part === undefined) throw new Error(`the ${what} is not started: the suite's before hook has not run or failed`);
    return part;
  };
  return {
    get backend() {
      return started(backend, 'backend');
    },
    get browser() {
      return started(browser, 'browser');
    },
    scenario: (title, fn, options) => scenario(title, fn, () => browser, options),
  };
}
