// The Terminal tab in Debian's chromium: a command's output streams in while it runs, the files it
// writes show in the tree, Stop ends it, and it works as a phone pane.
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { RESULTS_DIR, api, suite } from './harness';

const e2e = suite('terminal', { pace: 0.01 });
const { scenario } = e2e;

async function openTerminal(size = { width: 1440, height: 900 }): Promise<Page> {
  const { id } = await api<{ id: number }>(e2e.backend.url, 'POST', '/projects', { name: 'terminal', template: 'blank' });
  const page = await e2e.browser.context.newPage();
  await page.setViewportSize(size);
  await page.goto(`${e2e.backend.url}/#/projects/${id}`);
  const tabs = size.width < 700 ? page.getByRole('tablist', { name: 'Panes' }) : page.locator('.side-tabs');
  await tabs.getByRole('tab', { name: 'Terminal' }).click();
  return page;
}

async function run(page: Page, command: string): Promise<void> {
  const input = page.getByRole('textbox', { name: 'Command' });
  await input.fill(command);
  await input.press('Enter');
}

scenario(
  "the Terminal streams a command's output while it runs, and its files show in the tree",
  async () => {
    const page = await openTerminal();
    await run(page, 'echo first; sleep 2; echo made > made.txt; echo second');
    const entry = page.getByTestId('terminal-entry');
    const output = entry.locator('.terminal-output');
    await output.getByText('first').waitFor({ timeout: 30_000 });
    // Still running: the first line came before the command ended.
    assert.equal(await page.getByRole('button', { name: 'Stop' }).isVisible(), true);
    assert.equal(await output.innerText(), 'first\n');
    await entry.getByText(/Exit code 0 · Saved: made.txt \(created\)/).waitFor({ timeout: 30_000 });
    assert.equal(await output.innerText(), 'first\nsecond\n');
    await page.locator('.file-tree').getByText('made.txt').waitFor({ timeout: 15_000 });
  },
  { closePages: true },
);

scenario(
  'Stop ends a running command, and a new one can run',
  async () => {
    const page = await openTerminal();
    await run(page, 'echo waiting; sleep 300');
    await page.getByTestId('terminal-entry').getByText('waiting').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.getByText(/Stopped: its processes were killed/).waitFor({ timeout: 15_000 });
    await run(page, 'echo again');
    await page.getByTestId('terminal-entry').nth(1).getByText(/Exit code 0/).waitFor({ timeout: 30_000 });
  },
  { closePages: true },
);

scenario(
  'on a 390 px phone the Terminal is a pane of its own',
  async () => {
    const page = await openTerminal({ width: 390, height: 844 });
    await run(page, 'echo on a phone');
    await page.getByTestId('terminal-entry').getByText(/Exit code 0/).waitFor({ timeout: 30_000 });
    const input = await page.getByRole('textbox', { name: 'Command' }).boundingBox();
    const button = await page.getByRole('button', { name: 'Run' }).boundingBox();
    assert.ok(input && button && button.x + button.width <= 390, `input ${JSON.stringify(input)}, Run ${JSON.stringify(button)}`);
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 390, `the page is ${scrollWidth} px wide`);
    await page.screenshot({ path: `${RESULTS_DIR}/terminal-390.png` });
  },
  { closePages: true },
);
