// End-to-end: the Changes tab's Git section on a 390 px phone — push the project to a real bare
// repository (a new `tandem/…` branch, read back with `git`), pull a commit made outside (a new
// `pull` commit in the timeline), and a conflicting pull refused with the file named.
// Run with `npm run e2e` (or `node --import tsx --test e2e/git.e2e.ts` after a build).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe } from 'node:test';
import type { Page } from 'playwright-core';
import { RESULTS_DIR, api, suite } from './harness';

const WIDTH = 390;

let scratch: string;
const pageErrors: string[] = [];

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Outside',
  GIT_AUTHOR_EMAIL: 'outside@example.com',
  GIT_COMMITTER_NAME: 'Outside',
  GIT_COMMITTER_EMAIL: 'outside@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' });
}

/** A commit made outside Tandem on `branch` of the bare repository. */
function commitOutside(remote: string, branch: string, file: string, content: string): void {
  const work = mkdtempSync(path.join(scratch, 'work-'));
  git(scratch, 'clone', '-q', '-b', branch, remote, work);
  writeFileSync(path.join(work, file), content);
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', `outside: ${file}`);
  git(work, 'push', '-q', 'origin', branch);
}

const e2e = suite('git', {
  pace: 0,
  setUp: () => {
    scratch = mkdtempSync(path.join(tmpdir(), 'tandem-git-e2e-'));
  },
  tearDown: () => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  },
});
const { scenario } = e2e;

async function kinds(page: Page): Promise<(string | null)[]> {
  return page.getByTestId('history').getByTestId('commit').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
}

describe('Git push and pull in the browser', () => {
  scenario(
    'on a phone: push to a new branch, pull an outside commit, refuse a conflicting pull',
    async () => {
      const remote = path.join(scratch, 'remote.git');
      git(scratch, 'init', '-q', '--bare', '-b', 'main', remote);
      const project = await api<{ id: number }>(e2e.backend.url, 'POST', '/projects', { name: 'git app', template: 'blank' });
      await api(e2e.backend.url, 'PUT', `/projects/${project.id}/files/notes.md`, { content: 'from tandem\n' });

      const page = await e2e.browser.context.newPage();
      page.on('pageerror', (e) => pageErrors.push(`${e.name}: ${e.message}`));
      await page.setViewportSize({ width: WIDTH, height: 844 });
      await page.goto(`${e2e.backend.url}/#/projects/${project.id}`);
      await page.getByRole('tablist', { name: 'Panes' }).getByRole('tab', { name: 'Changes' }).click();
      const section = page.getByTestId('git-sync');
      await section.locator('summary').click();
      const remoteUrl = section.getByLabel('Remote URL');
      // The local user is an admin: a repository on the server's disk is allowed to them.
      await remoteUrl.fill(`file://${remote}`);

      await section.getByRole('button', { name: 'Push', exact: true }).click();
      const result = page.getByTestId('git-result');
      await result.waitFor({ timeout: 30_000 });
      assert.match(await result.innerText(), /to tandem\/git-app \(new branch\)/);
      assert.match(git(remote, 'show', 'tandem/git-app:notes.md'), /from tandem/);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= WIDTH, `the page is ${width} px wide on a ${WIDTH} px screen`);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'git-pushed-390.png'), fullPage: true });

      commitOutside(remote, 'tandem/git-app', 'outside.md', 'from outside\n');
      await section.getByLabel('Branch', { exact: true }).fill('tandem/git-app');
      await section.getByRole('button', { name: 'Pull', exact: true }).click();
      await page.getByText(/Pulled \(fast-forward\) from tandem\/git-app/).waitFor({ timeout: 30_000 });
      await page.locator('[data-testid="commit"][data-kind="pull"]').waitFor({ timeout: 15_000 });
      assert.equal((await kinds(page))[0], 'pull');
      const pulled = await api<{ content: string }>(e2e.backend.url, 'GET', `/projects/${project.id}/files/outside.md`);
      assert.equal(pulled.content, 'from outside\n');

      commitOutside(remote, 'tandem/git-app', 'notes.md', 'theirs\n');
      await api(e2e.backend.url, 'PUT', `/projects/${project.id}/files/notes.md`, { content: 'ours\n' });
      await section.getByRole('button', { name: 'Pull', exact: true }).click();
      const refused = page.getByTestId('git-error');
      await refused.waitFor({ timeout: 30_000 });
      assert.match(await refused.innerText(), /notes\.md.*nothing was changed/);
      const notes = await api<{ content: string }>(e2e.backend.url, 'GET', `/projects/${project.id}/files/notes.md`);
      assert.equal(notes.content, 'ours\n');
      await page.screenshot({ path: path.join(RESULTS_DIR, 'git-conflict-390.png'), fullPage: true });
      assert.deepEqual(pageErrors, []);
    },
    { closePages: true },
  );
});
