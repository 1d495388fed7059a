// The file tree of an imported 5,000-file project (issue 14): long tasks on the main thread while
// the editor page opens it. `node --import tsx bench/tree.ts` (after `vite build`); prints the
// long tasks (PerformanceObserver 'longtask', > 50 ms) from navigation to 2 s after the tree shows.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { launchBrowser, startBackend } from '../e2e/harness';

const FILES = Number(process.env.TREE_FILES ?? '5000');

const PROBE = `
  window.__longtasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longtasks.push(Math.round(e.duration));
  }).observe({ type: 'longtask', buffered: true });
`;

function makeArchive(): Buffer {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'tandem-tree-')), 'big.zip');
  const script = [
    'import sys, zipfile',
    'with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:',
    `    for i in range(${FILES}):`,
    '        z.writestr(f"pkg{i // 500:02d}/mod{(i // 50) % 10}/file{i:05d}.ts", f"export const x{i} = {i};\\n")',
  ].join('\n');
  execFileSync('python3', ['-c', script, file]);
  return readFileSync(file);
}

// TREE_BACKEND=http://127.0.0.1:PORT measures against a server already running (with the built UI).
const backend = process.env.TREE_BACKEND
  ? { url: process.env.TREE_BACKEND, stop: async () => undefined }
  : await startBackend(0);
const browser = await launchBrowser();
try {
  const start = await fetch(`${backend.url}/api/v1/projects?name=tree`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/zip' },
    body: new Uint8Array(makeArchive()),
  });
  let job = (await start.json()) as { id: string; status: string; project_id: number | null };
  while (job.status === 'running') {
    await new Promise((r) => setTimeout(r, 200));
    job = (await (await fetch(`${backend.url}/api/v1/imports/${job.id}`)).json()) as typeof job;
  }
  if (job.status !== 'completed' || job.project_id === null) throw new Error(`import ${job.status}`);
  const longtasks = (page: Page) => page.evaluate(() => (window as unknown as { __longtasks: number[] }).__longtasks);

  // Opening the big project in an app that is already loaded (from a small project): the tree's
  // own cost, without the first load of the app's script.
  const small = await fetch(`${backend.url}/api/v1/projects`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'small', template: 'blank' }),
  });
  const warm = await browser.context.newPage();
  await warm.addInitScript(PROBE);
  await warm.goto(`${backend.url}/#/projects/${((await small.json()) as { id: number }).id}`);
  await warm.locator('[data-testid="tree-file"]').first().waitFor({ timeout: 60_000 });
  await warm.waitForTimeout(2000);
  const smallOpen = await longtasks(warm);
  const before = smallOpen.length;
  await warm.evaluate((id) => (window.location.hash = `#/projects/${id}`), job.project_id);
  await warm.locator('.tree-dir').first().waitFor({ timeout: 60_000 });
  await warm.waitForTimeout(2000);
  const switched = (await longtasks(warm)).slice(before);
  await warm.close();

  const page = await browser.context.newPage();
  await page.addInitScript(PROBE);
  await page.goto(`${backend.url}/#/projects/${job.project_id}`);
  await page.locator('.tree-dir').first().waitFor({ timeout: 60_000 });
  await page.waitForTimeout(2000);
  const tasks = await longtasks(page);
  await page.locator('.tree-dir').first().click(); // unfold one folder of 500 files
  await page.waitForTimeout(2000);
  const unfold = await longtasks(page);
  console.log(
    JSON.stringify({
      files: FILES,
      small_open_longtasks_ms: smallOpen,
      open_in_app_longtasks_ms: switched,
      open_longtasks_ms: tasks,
      unfold_longtasks_ms: unfold.slice(tasks.length),
      rows_rendered: await page.locator('[role="treeitem"]').count(),
    }),
  );
} finally {
  await browser.close();
  await backend.stop();
}
