// The file tree of an imported 5,000-file project (issue 14): long tasks on the main thread while
// the editor page opens it. `node --import tsx bench/tree.ts` (after `vite build`); prints the
// long tasks (PerformanceObserver 'longtask', > 50 ms) from navigation to 2 s after the tree shows.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
  const page = await browser.context.newPage();
  await page.addInitScript(PROBE);
  await page.goto(`${backend.url}/#/projects/${job.project_id}`);
  await page.locator('.tree-dir').first().waitFor({ timeout: 60_000 });
  await page.waitForTimeout(2000);
  const tasks = await page.evaluate(() => (window as unknown as { __longtasks: number[] }).__longtasks);
  await page.locator('.tree-dir').first().click(); // unfold one folder of 500 files
  await page.waitForTimeout(2000);
  const unfold = await page.evaluate(() => (window as unknown as { __longtasks: number[] }).__longtasks);
  console.log(
    JSON.stringify({
      files: FILES,
      open_longtasks_ms: tasks,
      unfold_longtasks_ms: unfold.slice(tasks.length),
      rows_rendered: await page.locator('[role="treeitem"]').count(),
    }),
  );
} finally {
  await browser.close();
  await backend.stop();
}
