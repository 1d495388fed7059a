// Accounts end to end (TANDEM_AUTH=accounts) in Debian's chromium: the sign-in screen, a wrong
// password, the HttpOnly SameSite cookie, another user's project out of sight, signing out.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { REPO_DIR, suite } from './harness';

const PASSWORD = 'ada-long-password';

/** `tandem <args>` on the backend's database, as the operator runs it. */
function tandem(args: string[], input = ''): string {
  const result = spawnSync('uv', ['run', '--project', REPO_DIR, 'tandem', ...args], {
    cwd: REPO_DIR,
    input,
    encoding: 'utf8',
    env: { ...process.env, TANDEM_DATA_DIR: e2e.backend.dataDir, TANDEM_AUTH: 'accounts' },
  });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

const e2e = suite('accounts', {
  pace: 0.01,
  env: { TANDEM_AUTH: 'accounts' },
  setUp: async () => {
    tandem(['users', 'create', 'ada'], `${PASSWORD}\n`);
    tandem(['users', 'create', 'bob'], 'bob-long-password\n');
    const bobToken = tandem(['users', 'token', 'bob']);
    const created = await fetch(`${e2e.backend.url}/api/v1/projects`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${bobToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'bob private', template: 'blank' }),
    });
    assert.equal(created.status, 201);
  },
});

describe('accounts in the browser', () => {
  test('sign in, see only your own projects, sign out', async () => {
    const page = await e2e.browser.context.newPage();
    await page.goto(`${e2e.backend.url}/`);
    const form = page.getByRole('form', { name: 'Sign in' });
    await form.waitFor();

    await page.getByLabel('User name').fill('ada');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'wrong user name or password' }).waitFor();

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Signed in as ada').waitFor();
    await page.getByLabel('Project name', { exact: true }).fill('ada project');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('link', { name: 'ada project' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'bob private' }).count(), 0, "bob's project is not listed");

    const [cookie] = (await e2e.browser.context.cookies(e2e.backend.url)).filter((c) => c.name === 'tandem_session');
    assert.ok(cookie, 'signed in with a cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie.includes('tandem_session')), false, 'scripts cannot read it');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await form.waitFor();
    const status = await page.evaluate(async () => (await fetch('/api/v1/projects')).status);
    assert.equal(status, 401, 'signed out for the server too');
    await page.close();
  });
});
