// End-to-end: importing an archive from the projects page — dropped on the drop zone, uploaded
// with a progress bar (the upload is throttled so the bar is seen moving), then opened; and an
// upload cancelled half-way, which leaves no project. Run with `npm run e2e`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { api, suite } from './harness';

const UPLOAD_BYTES_PER_SECOND = 256 * 1024;
const TIMEOUT = 120_000;

const e2e = suite('import', {
  pace: 0,
  setUp: () => {
    archive = makeArchive();
  },
});
const { scenario } = e2e;

let archive: string;
const pageErrors: string[] = [];

/** A 1 MB zip (incompressible bytes, so about 4 s to upload when throttled): text files and one binary. */
function makeArchive(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-e2e-archive-'));
  const file = path.join(dir, 'demo-site.zip');
  const script = [
    'import os, sys, zipfile',
    'with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:',
    '    z.writestr("index.html", "<h1>Imported</h1>\\n")',
    '    z.writestr("src/app.js", "console.log(1);\\n")',
    '    z.writestr("node_modules/left/out.js", "skipped")',
    '    z.writestr("assets/noise.bin", os.urandom(1_000_000))',
  ].join('\n');
  execFileSync('python3', ['-c', script, file]);
  return file;
}

async function projectsPage(): Promise<Page> {
  const page = await e2e.browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${e.name}: ${e.message}`));
  await page.goto(`${e2e.backend.url}/#/`);
  await page.getByTestId('drop-zone').waitFor();
  const cdp = await e2e.browser.context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: UPLOAD_BYTES_PER_SECOND,
  });
  return page;
}

async function projectCount(): Promise<number> {
  return (await api<unknown[]>(e2e.backend.url, 'GET', '/projects')).length;
}

/** Drop `file` on the drop zone as a user dragging it from their desktop would. */
async function dropFile(page: Page, file: string): Promise<void> {
  const bytes = readFileSync(file).toString('base64');
  const transfer = await page.evaluateHandle(
    ({ b64, name }) => {
      const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([raw], name, { type: 'application/zip' }));
      return data;
    },
    { b64: bytes, name: path.basename(file) },
  );
  await page.getByTestId('drop-zone').dispatchEvent('dragover', { dataTransfer: transfer });
  await page.getByTestId('drop-zone').dispatchEvent('drop', { dataTransfer: transfer });
}

/** Every value the progress bar shows until it goes away (sampled in the page on each change). */
async function watchProgress(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: number[] = [];
    (window as unknown as { progressSeen: number[] }).progressSeen = seen;
    // No named function in here: tsx would wrap it in a `__name` helper the page does not have.
    new MutationObserver(() => {
      const bar = document.querySelector('progress[aria-label="Import progress"]');
      if (bar?.hasAttribute('value')) seen.push(Number(bar.getAttribute('value')));
    }).observe(document.body, { subtree: true, attributes: true, childList: true });
  });
}

describe('Importing a project in the browser', () => {
  scenario('a dropped archive uploads with a moving progress bar, then opens as a project', async () => {
    const page = await projectsPage();
    await page.getByRole('textbox', { name: 'Imported project name' }).fill('dropped site');
    await watchProgress(page);
    await dropFile(page, archive);
    await page.getByRole('progressbar', { name: 'Import progress' }).waitFor();
    const status = page.getByTestId('import-status');
    await status.filter({ hasText: /^Imported 3 files \(1 binary\)/ }).waitFor({ timeout: TIMEOUT });
    const seen = await page.evaluate(() => (window as unknown as { progressSeen: number[] }).progressSeen);
    assert.ok(
      seen.some((v) => v > 0 && v < 1),
      `the bar showed a partial upload (values seen: ${seen.slice(0, 20).join(', ')})`,
    );
    await page.getByRole('link', { name: 'open dropped site' }).click();
    await page.locator('[data-testid="tree-file"][data-path="index.html"]').waitFor();
    const binary = page.locator('[data-testid="tree-file"][data-path="assets/noise.bin"]');
    assert.equal(await binary.getAttribute('data-binary'), 'true');
    assert.equal(await page.locator('[data-testid="tree-file"][data-path^="node_modules"]').count(), 0);
    await page.close();
  });

  scenario('cancelling an upload half-way leaves no project', async () => {
    const before = await projectCount();
    const page = await projectsPage();
    await page.getByRole('textbox', { name: 'Imported project name' }).fill('cancelled site');
    await page.locator('input[aria-label="Archive file"]').setInputFiles(archive);
    await page.getByText(/Uploading… [1-9]\d?%/).waitFor({ timeout: TIMEOUT });
    await page.getByRole('button', { name: 'Cancel import' }).click();
    await page.getByTestId('import-status').filter({ hasText: 'Import cancelled' }).waitFor();
    assert.equal(await projectCount(), before);
    await page.close();
  });

  test('no uncaught errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
