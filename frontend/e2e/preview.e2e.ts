// The live preview in Debian's chromium: the project's page in a sandboxed frame from the preview
// origin, reloaded when a file changes, and a page the model wrote that tries to reach the app.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FrameLocator, Page } from 'playwright-core';
import { api, suite } from './harness';

interface Project {
  id: number;
}
interface FileContent {
  content: string;
}

const e2e = suite('preview', { pace: 0.01 });

async function project(files: Record<string, string>): Promise<number> {
  const { id } = await api<Project>(e2e.backend.url, 'POST', '/projects', { name: 'preview', template: 'blank' });
  for (const [file, content] of Object.entries(files)) {
    await api(e2e.backend.url, 'PUT', `/projects/${id}/files/${file}`, { content });
  }
  return id;
}

async function openPreview(projectId: number, size = { width: 1440, height: 900 }): Promise<{ page: Page; frame: FrameLocator }> {
  const page = await e2e.browser.context.newPage();
  await page.setViewportSize(size);
  await page.goto(`${e2e.backend.url}/#/projects/${projectId}`);
  const tabs = size.width < 700 ? page.getByRole('tablist', { name: 'Panes' }) : page.locator('.side-tabs');
  await tabs.getByRole('tab', { name: 'Preview' }).click();
  return { page, frame: page.frameLocator('[data-testid=preview-frame]') };
}

test('the page shows with its stylesheet, from another origin, and follows edits', async () => {
  const id = await project({
    'index.html': '<!doctype html><link rel="stylesheet" href="style.css"><h1 id="t">Version one</h1>',
    'style.css': 'h1 { color: rgb(255, 0, 0); }',
  });
  const { page, frame } = await openPreview(id);
  try {
    const heading = frame.locator('#t');
    await heading.waitFor({ timeout: 30_000 });
    assert.equal(await heading.textContent(), 'Version one');
    assert.equal(await heading.evaluate((el) => getComputedStyle(el).color), 'rgb(255, 0, 0)');
    const src = await page.getByTestId('preview-frame').getAttribute('src');
    assert.ok(src && new URL(src).origin !== new URL(e2e.backend.url).origin, `served from another origin: ${src}`);
    assert.equal(await page.getByTestId('preview-frame').getAttribute('sandbox'), 'allow-scripts allow-forms allow-modals allow-popups');

    // Changed elsewhere (another tab, the API): the frame follows.
    const edited = Date.now();
    await api(e2e.backend.url, 'PUT', `/projects/${id}/files/index.html`, { content: '<h1 id="t">Version two</h1>' });
    await frame.locator('#t', { hasText: 'Version two' }).waitFor({ timeout: 15_000 });
    console.log(`preview followed an edit made elsewhere in ${Date.now() - edited} ms`);
  } finally {
    await page.close();
  }
});

test('an edit saved in a second page reloads the preview of the first', async () => {
  const id = await project({ 'index.html': '<h1 id="t">Before</h1>' });
  const { page, frame } = await openPreview(id);
  const other = await e2e.browser.context.newPage();
  try {
    await frame.locator('#t', { hasText: 'Before' }).waitFor({ timeout: 30_000 });
    await other.goto(`${e2e.backend.url}/#/projects/${id}?file=index.html`);
    const editor = other.locator('[data-testid="code-editor"] .cm-content');
    await editor.waitFor({ timeout: 30_000 });
    await editor.click();
    await other.keyboard.press('Control+A');
    await other.keyboard.type('<h1 id="t">Saved in the other page</h1>');
    const saved = Date.now();
    await other.getByRole('button', { name: 'Save', exact: true }).click();
    // No poll left to fall back on: only the project's event stream tells the first page.
    await frame.locator('#t', { hasText: 'Saved in the other page' }).waitFor({ timeout: 15_000 });
    console.log(`the preview followed a save in another page in ${Date.now() - saved} ms`);
  } finally {
    await other.close();
    await page.close();
  }
});

test("the static-site template shows, and follows an agent run's writes", async () => {
  const { id } = await api<Project>(e2e.backend.url, 'POST', '/projects', { name: 'site', template: 'static-site' });
  // The scripted model (not AI) appends the request to TANDEM_NOTES.md: this script shows that file.
  const script = "fetch('TANDEM_NOTES.md').then((r) => (r.ok ? r.text() : '')).then((t) => { document.getElementById('greeting').textContent = t || 'no notes'; });";
  await api(e2e.backend.url, 'PUT', `/projects/${id}/files/script.js`, { content: script });
  const { page, frame } = await openPreview(id);
  try {
    await frame.getByRole('heading', { name: 'Hello, world' }).waitFor({ timeout: 30_000 });
    await frame.locator('#greeting', { hasText: 'no notes' }).waitFor();
    // The run is started elsewhere (the API, as another tab would): this page only watches.
    await api(e2e.backend.url, 'POST', `/chat/${id}`, { message: 'note the preview e2e' });
    await frame.locator('#greeting', { hasText: 'note the preview e2e' }).waitFor({ timeout: 60_000 });
  } finally {
    await page.close();
  }
});

test('a page the model wrote can neither call the API nor read the sign-in', async () => {
  const secret = 'preview-e2e-secret-93b2';
  const attack = `<!doctype html><p id="out">running</p><script>
    const results = [];
    const report = () => { document.getElementById('out').textContent = results.join(' '); };
    try { results.push('cookie:' + (document.cookie === '' ? 'empty' : 'read')); } catch (e) { results.push('cookie:blocked'); }
    try { localStorage.setItem('x', '1'); results.push('storage:open'); } catch (e) { results.push('storage:blocked'); }
    Promise.allSettled([
      fetch(${JSON.stringify(e2e.backend.url)} + '/api/v1/projects/' + PROJECT + '/files/secret.txt', { credentials: 'include' }).then((r) => r.text()),
      fetch(${JSON.stringify(e2e.backend.url)} + '/api/v1/projects/' + PROJECT, { method: 'DELETE', credentials: 'include', mode: 'no-cors' }),
    ]).then(([read, del]) => {
      results.push('read:' + (read.status === 'fulfilled' && read.value.includes(${JSON.stringify(secret)}) ? 'LEAKED' : 'blocked'));
      results.push('delete:' + del.status);
      report();
    });
  </script>`;
  const id = await project({ 'secret.txt': secret, 'index.html': '' });
  await api(e2e.backend.url, 'PUT', `/projects/${id}/files/index.html`, { content: attack.replace(/PROJECT/g, String(id)) });
  const { page, frame } = await openPreview(id);
  try {
    const out = frame.locator('#out', { hasText: 'read:' });
    await out.waitFor({ timeout: 30_000 });
    const text = (await out.textContent()) ?? '';
    assert.match(text, /cookie:blocked/);
    assert.match(text, /storage:blocked/);
    assert.match(text, /read:blocked/);
    assert.match(text, /delete:rejected/);
    const still = await api<FileContent>(e2e.backend.url, 'GET', `/projects/${id}/files/secret.txt`);
    assert.equal(still.content, secret, 'the project is untouched');
  } finally {
    await page.close();
  }
});

test("the page's errors show, and one goes to the agents with a click", async () => {
  const id = await project({
    'index.html': '<!doctype html><html><head></head><body><h1 id="t">Broken</h1><script>notDefinedAnywhere();</script><img src="missing.png"></body></html>',
  });
  const { page } = await openPreview(id);
  try {
    const errors = page.getByTestId('preview-errors');
    await errors.getByText(/notDefinedAnywhere is not defined/).waitFor({ timeout: 30_000 });
    await errors.getByText('Could not load missing.png').waitFor();
    await errors.getByRole('listitem').filter({ hasText: 'notDefinedAnywhere' }).getByRole('button', { name: 'Fix this error' }).click();
    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.waitFor();
    const text = await composer.inputValue();
    assert.match(text, /^The preview of index.html shows this error:/);
    assert.match(text, /notDefinedAnywhere is not defined/);
  } finally {
    await page.close();
  }
});

test('a reload keeps the reader where they were', async () => {
  const tall = (label: string) => `<!doctype html><div style="height:5000px">${label}</div><p id="t">${label}</p>`;
  const id = await project({ 'index.html': tall('first') });
  const { page, frame } = await openPreview(id);
  try {
    await frame.locator('#t').waitFor({ timeout: 30_000 });
    await frame.locator('body').evaluate(() => window.scrollTo(0, 1200));
    await page.waitForTimeout(400); // the bridge reports the scroll position at most every 100 ms
    await api(e2e.backend.url, 'PUT', `/projects/${id}/files/index.html`, { content: tall('second') });
    await frame.locator('#t', { hasText: 'second' }).waitFor({ timeout: 15_000 });
    let y = 0;
    for (let i = 0; i < 50 && y !== 1200; i++) {
      y = await frame.locator('body').evaluate(() => window.scrollY);
      if (y !== 1200) await page.waitForTimeout(100);
    }
    assert.equal(y, 1200);
  } finally {
    await page.close();
  }
});

test('on a 390 px phone the preview is a pane of its own, full width', async () => {
  const id = await project({ 'index.html': '<h1 id="t">Small screen</h1>' });
  const { page, frame } = await openPreview(id, { width: 390, height: 844 });
  try {
    await frame.locator('#t').waitFor({ timeout: 30_000 });
    const box = await page.getByTestId('preview-frame').boundingBox();
    assert.ok(box && box.width >= 350 && box.height >= 300, `the frame is ${JSON.stringify(box)}`);
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 390, `the page is ${scrollWidth} px wide`);
  } finally {
    await page.close();
  }
});

test('a React + TypeScript project is built for the preview, and a build error shows as an error', async () => {
  const { id } = await api<Project>(e2e.backend.url, 'POST', '/projects', { name: 'react preview', template: 'react-vite' });
  const { page, frame } = await openPreview(id);
  try {
    await frame.getByRole('heading', { name: 'Hello from React + Vite' }).waitFor({ timeout: 30_000 });
    const button = frame.getByRole('button', { name: 'Clicked 0 times' });
    await button.click();
    await frame.getByRole('button', { name: 'Clicked 1 times' }).waitFor();

    const app = await api<FileContent>(e2e.backend.url, 'GET', `/projects/${id}/files/src/App.tsx`);
    await api(e2e.backend.url, 'PUT', `/projects/${id}/files/src/App.tsx`, { content: app.content.replace('</h1>', '</h2>') });
    const errors = page.getByTestId('preview-errors');
    await errors.getByText(/Build failed: .*src\/App\.tsx/s).first().waitFor({ timeout: 30_000 });
    await frame.getByText(/Build failed:/).first().waitFor();
  } finally {
    await page.close();
  }
});
