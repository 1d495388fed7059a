// End-to-end: the Changes view's history timeline — the project's commits (edits batched into one),
// and a restore to an earlier commit, which becomes a new commit at the top while nothing is lost.
// Run with `npm run e2e`.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { RESULTS_DIR, api, suite } from './harness';

const TIMEOUT = 120_000;

const pageErrors: string[] = [];

interface Commit {
  sha: string;
  kind: string;
}

const e2e = suite('history', { pace: 0 });

async function content(projectId: number, file: string): Promise<string> {
  return (await api<{ content: string }>(e2e.backend.url, 'GET', `/projects/${projectId}/files/${file}`)).content;
}

describe('History in the browser', () => {
  test('the timeline lists the commits and restores the project to an earlier one', { timeout: TIMEOUT }, async () => {
    const project = await api<{ id: number }>(e2e.backend.url, 'POST', '/projects', { name: 'history', template: 'blank' });
    await api(e2e.backend.url, 'PUT', `/projects/${project.id}/files/notes.md`, { content: 'first\n' });
    const initial = (await api<Commit[]>(e2e.backend.url, 'GET', `/projects/${project.id}/history`)).at(-1);
    assert.ok(initial);
    await api(e2e.backend.url, 'PUT', `/projects/${project.id}/files/notes.md`, { content: 'second\n' });
    await api(e2e.backend.url, 'PUT', `/projects/${project.id}/files/notes.md`, { content: 'third\n' });

    const page = await e2e.browser.context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${e.name}: ${e.message}`));
    await page.goto(`${e2e.backend.url}/#/projects/${project.id}`);
    await page.getByRole('tab', { name: 'Changes' }).click();
    const commits = page.getByTestId('history').getByTestId('commit');
    await commits.nth(1).waitFor();
    // Two saves after the first history read: one batched commit, above the first.
    assert.deepEqual(await commits.evaluateAll((els) => els.map((e) => e.getAttribute('data-kind'))), ['edits', 'initial']);

    const first = page.locator(`[data-testid="commit"][data-sha="${initial.sha}"]`);
    await first.getByRole('button', { name: /Files as they were/ }).click();
    assert.match(await first.getByTestId('diff').filter({ hasText: 'notes.md' }).innerText(), /\+first/);
    await first.getByRole('button', { name: 'Restore' }).click();
    await page.locator('[data-testid="commit"][data-kind="restore"]').waitFor({ timeout: 15_000 });
    await page.screenshot({ path: path.join(RESULTS_DIR, 'history-restored.png') });

    assert.deepEqual(await commits.evaluateAll((els) => els.map((e) => e.getAttribute('data-kind'))), [
      'restore',
      'edits',
      'initial',
    ]);
    assert.equal(await content(project.id, 'notes.md'), 'first\n');
    assert.deepEqual(pageErrors, []);
  });
});
