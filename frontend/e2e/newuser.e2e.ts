// End-to-end: what a new user hits first in Chromium (issue #15) — phone and tablet layouts, a
// message sent while another tab's run is busy, bad paths in "New file", accessibility of the
// editor. Run with `npm run e2e` (or `node --import tsx --test e2e/newuser.e2e.ts` after a build).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { RESULTS_DIR, api, suite } from './harness';

interface Project {
  id: number;
  active_run_id: string | null;
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  nodes: { target: string[] }[];
}

/** axe-core's serious and critical findings inside `selector`. */
async function axeProblems(page: Page, selector: string): Promise<string[]> {
  await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async (sel) => {
    const w = window as unknown as { axe: { run: (ctx: string) => Promise<{ violations: AxeViolation[] }> } };
    return (await w.axe.run(sel)).violations;
  }, selector);
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

const PACE = Number(process.env.E2E_PACE ?? '0.3');
const RUN_TIMEOUT = 120_000;

const e2e = suite('newuser', { pace: PACE });

const pageErrors: string[] = [];

async function newProject(name: string): Promise<number> {
  return (await api<Project>(e2e.backend.url, 'POST', '/projects', { name, template: 'static-site' })).id;
}

async function openProject(projectId: number, size: { width: number; height: number }, query = ''): Promise<Page> {
  const page = await e2e.browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${e.name}: ${e.message}`));
  await page.setViewportSize(size);
  await page.goto(`${e2e.backend.url}/#/projects/${projectId}${query}`);
  return page;
}

/** Nothing sticks out sideways: the page scrolls only vertically. */
async function assertNoHorizontalOverflow(page: Page, width: number): Promise<void> {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= width, `the page is ${scrollWidth} px wide on a ${width} px screen`);
}

/** The element is on screen in full, not clipped by the viewport. */
async function assertOnScreen(page: Page, name: string, box: { x: number; y: number; width: number; height: number } | null) {
  const vp = page.viewportSize();
  assert.ok(box && vp, `${name} has a box`);
  assert.ok(box.width > 0 && box.height > 0, `${name} is not 0 px`);
  assert.ok(box.x >= 0 && box.x + box.width <= vp.width + 0.5, `${name} is cut off sideways (${JSON.stringify(box)})`);
  assert.ok(box.y >= 0 && box.y + box.height <= vp.height + 0.5, `${name} is cut off vertically (${JSON.stringify(box)})`);
}

function scenario(name: string, fn: () => Promise<void>): void {
  e2e.scenario(name, fn, { closePages: true });
}

describe('a new user in Chromium', () => {
  scenario('on a 390 px phone, chat and editor are panes to switch between, nothing cut off', async () => {
    const projectId = await newProject('phone');
    const page = await openProject(projectId, { width: 390, height: 844 }, '?file=index.html');
    const panes = page.getByRole('tablist', { name: 'Panes' });
    await panes.waitFor();
    await assertNoHorizontalOverflow(page, 390);

    // The editor pane: a real editor width, and Save does not cover anything.
    await panes.getByRole('tab', { name: 'Editor' }).click();
    const editor = page.locator('[data-testid="code-editor"] .cm-content');
    await editor.waitFor();
    const editorBox = await page.getByTestId('code-editor').boundingBox();
    assert.ok(editorBox && editorBox.width >= 300, `the editor is ${editorBox?.width} px wide`);
    await assertOnScreen(page, 'Save', await page.getByRole('button', { name: 'Save' }).boundingBox());
    await page.screenshot({ path: path.join(RESULTS_DIR, 'phone-editor.png') });

    // The chat pane: the composer and Send fit on the screen.
    await panes.getByRole('tab', { name: 'Chat' }).click();
    const message = page.getByRole('textbox', { name: 'Message' });
    await message.waitFor();
    await assertOnScreen(page, 'the message box', await message.boundingBox());
    await assertOnScreen(page, 'Send', await page.getByRole('button', { name: 'Send' }).boundingBox());
    assert.equal(await page.getByTestId('code-editor').isVisible(), false, 'one pane at a time');
    await assertNoHorizontalOverflow(page, 390);

    // The Changes tab can be tapped (nothing lies on top of it).
    await panes.getByRole('tab', { name: 'Changes' }).click({ timeout: 5_000 });
    await page.getByText(/No code changes yet/).waitFor();

    // A run: Stop is reachable while it works, the answer fits the screen.
    await panes.getByRole('tab', { name: 'Chat' }).click();
    await message.fill('make the heading blue');
    await page.getByRole('button', { name: 'Send' }).click();
    const stop = page.getByRole('button', { name: /stop/i });
    await stop.waitFor({ timeout: RUN_TIMEOUT });
    await assertOnScreen(page, 'Stop', await stop.boundingBox());
    await page.getByTestId('final-answer').waitFor({ timeout: RUN_TIMEOUT });
    await assertNoHorizontalOverflow(page, 390);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'phone-chat.png') });

    // The run's change as a one-column diff: a phone has no room for two sides.
    await panes.getByRole('tab', { name: 'Changes' }).click();
    await page.locator('.changes-panel [data-testid="code-change"]').first().getByRole('button', { name: /TANDEM_NOTES/ }).click();
    await page.locator('.merge-diff .cm-insertedLine').first().waitFor();
    assert.equal(await page.locator('.merge-diff .cm-mergeView').count(), 0);
    await assertNoHorizontalOverflow(page, 390);

    // The file list is a pane too, and opening a file from it shows the editor.
    await panes.getByRole('tab', { name: 'Files' }).click();
    await page.locator('[data-testid="tree-file"][data-path="style.css"]').click();
    await page.locator('[data-testid="code-editor"][data-path="style.css"]').waitFor();
    assert.equal(await panes.getByRole('tab', { name: 'Editor' }).getAttribute('aria-selected'), 'true');
  });

  scenario('on an 820 px tablet, editor and chat sit side by side and fit', async () => {
    const projectId = await newProject('tablet');
    const page = await openProject(projectId, { width: 820, height: 1180 }, '?file=index.html');
    await page.locator('[data-testid="code-editor"] .cm-content').waitFor();
    await assertNoHorizontalOverflow(page, 820);
    const editorBox = await page.getByTestId('code-editor').boundingBox();
    assert.ok(editorBox && editorBox.width >= 300, `the editor is ${editorBox?.width} px wide`);
    await assertOnScreen(page, 'Send', await page.getByRole('button', { name: 'Send' }).boundingBox());
    await assertOnScreen(page, 'Save', await page.getByRole('button', { name: 'Save' }).boundingBox());
    await page.getByRole('tab', { name: 'Changes' }).click({ timeout: 5_000 });
    await page.screenshot({ path: path.join(RESULTS_DIR, 'tablet.png') });
  });

  scenario("a message sent while another tab's run is busy keeps its text and links to that run", async () => {
    const projectId = await newProject('busy');
    // This tab is in a conversation of its own (a quick first run)…
    const first = await api<{ session_id: number }>(e2e.backend.url, 'POST', `/chat/${projectId}`, {
      message: 'hello [scripted pace=0]',
      session_id: null,
    });
    const page = await openProject(projectId, { width: 1440, height: 900 }, `?session=${first.session_id}`);
    await page.getByTestId('final-answer').waitFor();
    await page.getByRole('table', { name: /token usage/i }).waitFor(); // a past run's usage, from the history
    // …when another tab starts a run in a new one; its stream is dropped, the run goes on.
    const other = new AbortController();
    const res = await fetch(`${e2e.backend.url}/api/v1/chat/${projectId}/stream`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ message: 'add a footer', session_id: null }),
      signal: other.signal,
    });
    assert.equal(res.status, 200);
    other.abort();

    await page.getByRole('textbox', { name: 'Message' }).fill('make the heading blue');
    await page.getByRole('button', { name: 'Send' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /busy/i);
    assert.equal(await page.getByRole('textbox', { name: 'Message' }).inputValue(), 'make the heading blue');

    await alert.getByRole('button', { name: 'Watch the running run' }).click();
    await page.waitForURL((u) => !u.href.includes(`session=${first.session_id}`));
    await page.locator('[data-testid="assistant-message"][data-status="streaming"]').waitFor({ timeout: RUN_TIMEOUT });
    assert.match((await page.getByTestId('user-message').first().textContent()) ?? '', /add a footer/);
    await page.getByTestId('final-answer').waitFor({ timeout: RUN_TIMEOUT });
    assert.equal(await page.getByRole('textbox', { name: 'Message' }).inputValue(), 'make the heading blue', 'the text waits to be sent');
  });

  scenario('reverting a file the agent created closes it in the editor with a notice', async () => {
    const projectId = await newProject('revert-created');
    await api(e2e.backend.url, 'POST', `/chat/${projectId}`, { message: 'take notes [scripted pace=0]', session_id: null });
    const page = await openProject(projectId, { width: 1440, height: 900 }, '?file=TANDEM_NOTES.md');
    await page.locator('[data-testid="code-editor"] .cm-content').waitFor();
    await page.getByRole('tab', { name: 'Changes' }).click();
    const change = page.locator('.changes-panel [data-testid="code-change"][data-path="TANDEM_NOTES.md"]');
    await change.getByRole('button', { name: 'Revert' }).click();
    await change.getByText('reverted').waitFor();
    const notice = page.getByTestId('no-file');
    await notice.waitFor();
    assert.match((await notice.textContent()) ?? '', /TANDEM_NOTES\.md no longer exists/);
    assert.equal(await page.getByTestId('file-missing').count(), 0);
    assert.ok(!page.url().includes('file='), 'the file is no longer open');
  });

  scenario('the code editor has an accessible name and a keyboard-focusable scroller (axe)', async () => {
    const projectId = await newProject('a11y');
    const page = await e2e.browser.context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${e.name}: ${e.message}`));
    // The app's CSP (rightly) refuses injected scripts; axe is the test's, not the page's.
    await (await e2e.browser.context.newCDPSession(page)).send('Page.setBypassCSP', { enabled: true });
    await page.goto(`${e2e.backend.url}/#/projects/${projectId}?file=index.html`);
    await page.locator('[data-testid="code-editor"] .cm-content').waitFor();
    assert.deepEqual(await axeProblems(page, '[data-testid="code-editor"]'), []);
    assert.equal(await page.getByRole('textbox', { name: 'index.html' }).count(), 1);
  });

  test('no uncaught errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
