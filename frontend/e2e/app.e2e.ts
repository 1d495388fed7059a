// End-to-end: the built UI served by the real backend (scripted model at a slow pace), driven
// in Debian's chromium. Run with `npm run e2e`.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { RESULTS_DIR, api, startProxy, suite, type Proxy } from './harness';

interface Project {
  id: number;
}
interface Run {
  status: string;
}
interface Message {
  role: string;
  agent_interactions?: { seq?: number | null }[];
}

const PACE = Number(process.env.E2E_PACE ?? '0.3');
const RUN_TIMEOUT = 120_000;

// Room for the 150-step window scenario's long run (50 model requests by default).
const e2e = suite('app', {
  pace: PACE,
  env: { TANDEM_LIMIT_MODEL_REQUESTS: '100' },
  tearDown: () => Promise.all(proxies.map((p) => p.close())),
});
const { scenario } = e2e;

const pageErrors: string[] = [];
// Closed in the suite's tearDown as well: a failed scenario must not leave a listening proxy keeping node alive.
const proxies: Proxy[] = [];

async function newProxy(): Promise<Proxy> {
  const proxy = await startProxy(e2e.backend.url);
  proxies.push(proxy);
  return proxy;
}

async function newProject(name: string): Promise<number> {
  const p = await api<Project>(e2e.backend.url, 'POST', '/projects', { name, template: 'static-site' });
  return p.id;
}

async function openProject(projectId: number, query = ''): Promise<Page> {
  const page = await e2e.browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${e.name}: ${e.message}`));
  await page.goto(`${e2e.backend.url}/#/projects/${projectId}${query}`);
  await page.getByRole('textbox', { name: 'Message' }).waitFor();
  return page;
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('textbox', { name: 'Message' }).press('Enter');
}

const steps = (page: Page) => page.locator('[data-testid="assistant-message"] [data-testid="agent-interaction"]');

async function seqsOnPage(page: Page): Promise<number[]> {
  return steps(page).evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
}

async function runIdOnPage(page: Page): Promise<string> {
  const live = page.locator('[data-testid="assistant-message"][data-run-id]').last();
  await live.waitFor();
  const id = await live.getAttribute('data-run-id');
  assert.ok(id, 'the live message carries its run id');
  return id;
}

async function waitForSteps(page: Page, n: number): Promise<void> {
  await page.waitForFunction(
    (min) => document.querySelectorAll('[data-testid="agent-interaction"]').length >= min,
    n,
    { timeout: RUN_TIMEOUT },
  );
}

/** The interactions the server stored for the page's session, in order. */
async function storedSeqs(page: Page): Promise<number[]> {
  const session = new URL(page.url().replace('/#/', '/')).searchParams.get('session');
  const history = await api<Message[]>(e2e.backend.url, 'GET', `/sessions/${session}/messages`);
  return history
    .filter((m) => m.role === 'assistant')
    .flatMap((m) => m.agent_interactions ?? [])
    .map((i) => Number(i.seq));
}

/** What the user sees once a run has finished well: the answer, no failure, the composer back. */
async function assertFinishedOk(page: Page): Promise<void> {
  const live = page.getByTestId('assistant-message').last();
  assert.equal(await live.getAttribute('data-status'), 'complete');
  assert.match((await live.getByTestId('final-answer').textContent()) ?? '', /Done/);
  assert.equal(await page.getByRole('alert').count(), 0, 'no error notice');
  assert.equal(await live.getByTestId('run-status').count(), 0, 'no running/failed badge');
  assert.equal(await page.getByText('AI is thinking…').count(), 0);
  assert.equal(await page.getByRole('button', { name: /stop/i }).count(), 0, 'Stop is gone');
  await page.getByRole('button', { name: 'Send' }).waitFor();
}

function assertUnique(seqs: number[]): void {
  assert.equal(new Set(seqs).size, seqs.length, `an interaction is shown twice: ${seqs.join(',')}`);
}

describe('Tandem in the browser', () => {
  scenario('streams interactions while the run is running, then shows the final answer', async () => {
    const projectId = await newProject('live');
    const home = await e2e.browser.context.newPage();
    await home.goto(`${e2e.backend.url}/`);
    await home.getByTestId('project-row').first().waitFor();
    await home.screenshot({ path: path.join(RESULTS_DIR, 'projects.png') });
    await home.close();
    const page = await openProject(projectId, '?file=index.html');
    await page.locator('[data-testid="code-editor"] .cm-content').waitFor();
    // The placeholder may last only until the first token; a MutationObserver sees it however
    // briefly it is there, whatever the load on the machine.
    await page.evaluate(() => {
      const w = window as unknown as { sawThinking?: boolean };
      new MutationObserver(() => {
        if (document.querySelector('[data-testid="thinking"]')) w.sawThinking = true;
      }).observe(document.body, { childList: true, subtree: true });
    });
    await send(page, 'make the heading blue');

    // The user message and the placeholder are there before the server says anything.
    await page.getByTestId('user-message').waitFor();
    await page.waitForFunction(() => (window as unknown as { sawThinking?: boolean }).sawThinking === true, undefined, {
      timeout: 10_000,
    });

    await waitForSteps(page, 1);
    const runId = await runIdOnPage(page);
    const run = await api<Run>(e2e.backend.url, 'GET', `/runs/${runId}`);
    assert.equal(run.status, 'running', 'an interaction is visible while the run is still running');
    await page.screenshot({ path: path.join(RESULTS_DIR, 'editor-mid-run.png') });

    // While it runs: the Working… badge and the Stop button.
    assert.match((await page.getByTestId('run-status').textContent()) ?? '', /Working/);
    await page.getByRole('button', { name: /stop/i }).waitFor();

    const answer = page.getByTestId('final-answer');
    await answer.waitFor({ timeout: RUN_TIMEOUT });
    await assertFinishedOk(page);
    assertUnique(await seqsOnPage(page));
    // The chat followed the run: taller than its pane, it shows its end.
    const chat = await page.getByTestId('chat-messages').evaluate((el) => ({
      overflow: el.scrollHeight - el.clientHeight,
      below: el.scrollHeight - el.scrollTop - el.clientHeight,
    }));
    assert.ok(chat.overflow > 100 && chat.below < 2, JSON.stringify(chat));
    assert.match((await page.getByTestId('user-message').textContent()) ?? '', /make the heading blue/);
    // The Coder's new file appears in the tree without a reload.
    await page.locator('[data-testid="tree-file"][data-path="TANDEM_NOTES.md"]').waitFor();
    await page.getByRole('table', { name: /token usage/i }).waitFor();
    await page.screenshot({ path: path.join(RESULTS_DIR, 'editor-complete.png') });
    assert.equal((await api<Run>(e2e.backend.url, 'GET', `/runs/${runId}`)).status, 'completed');
    await page.close();
  });

  scenario('a reload mid-run re-attaches: the run goes on in the page, no interaction twice', async () => {
    const projectId = await newProject('reload');
    const page = await openProject(projectId);
    await send(page, 'add a footer');
    await waitForSteps(page, 2);
    const runId = await runIdOnPage(page);
    // The session id is in the URL, so the reload comes back to the same conversation.
    await page.waitForURL(/session=\d+/);
    const before = (await seqsOnPage(page)).length;

    await page.reload();
    assert.equal((await api<Run>(e2e.backend.url, 'GET', `/runs/${runId}`)).status, 'running');
    await page.getByTestId('user-message').waitFor();
    await waitForSteps(page, before);
    // New steps keep arriving after the reload.
    await waitForSteps(page, before + 1);
    assertUnique(await seqsOnPage(page));

    // The project opened from scratch (no session in the URL) finds the run and follows it too.
    const second = await openProject(projectId);
    await second.waitForURL(/session=\d+/);
    await waitForSteps(second, before);
    assertUnique(await seqsOnPage(second));
    await second.close();

    await page.getByTestId('final-answer').waitFor({ timeout: RUN_TIMEOUT });
    await assertFinishedOk(page);
    const shown = await seqsOnPage(page);
    assertUnique(shown);
    assert.deepEqual(shown, await storedSeqs(page), 'the page shows exactly the stored interactions, in order');
    assert.equal(await page.getByTestId('user-message').count(), 1);
    assert.match((await page.getByTestId('user-message').textContent()) ?? '', /add a footer/);
    await page.close();
  });

  scenario('a dropped connection is re-attached by the client itself, nothing lost or doubled', async () => {
    const projectId = await newProject('drop');
    // The page talks to the backend through a proxy that can cut its connections.
    const proxy = await newProxy();
    const page = await e2e.browser.context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${e.name}: ${e.message}`));
    const reattached = page.waitForRequest((r) => /\/runs\/[^/]+\/stream/.test(r.url()), { timeout: RUN_TIMEOUT });
    await page.goto(`${proxy.url}/#/projects/${projectId}`);
    await send(page, 'add a header');
    await waitForSteps(page, 1);
    const runId = await runIdOnPage(page);
    assert.ok(proxy.dropAll() > 0, 'there was a connection to cut');
    const req = await reattached;
    assert.ok(Number(req.headers()['last-event-id']) > 0, 'the re-attach carries Last-Event-ID');
    await page.getByTestId('final-answer').waitFor({ timeout: RUN_TIMEOUT });
    // The drop is invisible to the user: no error notice, the run just finishes.
    await assertFinishedOk(page);
    const shown = await seqsOnPage(page);
    assertUnique(shown);
    assert.equal((await api<Run>(e2e.backend.url, 'GET', `/runs/${runId}`)).status, 'completed');
    assert.deepEqual(shown, await storedSeqs(page), 'nothing lost, nothing doubled');
    await page.close();
    await proxy.close();
  });

  scenario('Stop mid-run ends the run with a visible stopped state', async () => {
    const projectId = await newProject('stop');
    const page = await openProject(projectId);
    await send(page, 'refactor everything');
    await waitForSteps(page, 1);
    const runId = await runIdOnPage(page);
    await page.getByRole('button', { name: /stop/i }).click();
    await page.getByTestId('stopped').waitFor({ timeout: 60_000 });
    assert.match((await page.getByTestId('run-status').textContent()) ?? '', /Stopped/);
    assert.equal((await api<Run>(e2e.backend.url, 'GET', `/runs/${runId}`)).status, 'cancelled');
    // What the agents did before the stop stays on screen; the composer is back.
    const kept = await seqsOnPage(page);
    assert.ok(kept.length >= 1, 'the steps before the stop are kept');
    assert.equal(await page.getByRole('button', { name: /stop/i }).count(), 0);
    await page.getByRole('button', { name: 'Send' }).waitFor();
    assert.equal(await page.getByTestId('final-answer').count(), 0);
    // The stopped state survives a reload (it comes from the history then), steps included.
    await page.reload();
    await page.getByTestId('stopped').waitFor();
    assert.match((await page.getByTestId('run-status').textContent()) ?? '', /Stopped/);
    assert.deepEqual(await seqsOnPage(page), await storedSeqs(page));
    assert.ok((await seqsOnPage(page)).length >= kept.length);
    await page.close();
  });

  scenario('when re-attaching gives up, the message says so and the composer is usable again', async () => {
    const projectId = await newProject('giveup');
    const proxy = await newProxy();
    const page = await e2e.browser.context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${e.name}: ${e.message}`));
    // A controllable clock: the client's back-off (8 re-attaches, ~20 s) runs in a moment.
    await page.clock.install();
    let reattaches = 0;
    page.on('request', (r) => {
      if (/\/runs\/[^/]+\/stream/.test(r.url())) reattaches += 1;
    });
    await page.goto(`${proxy.url}/#/projects/${projectId}`);
    await send(page, 'add a sidebar');
    await waitForSteps(page, 1);
    const runId = await runIdOnPage(page);
    // The backend goes out of reach for good: every re-attach is refused.
    await proxy.close();
    const alert = page.getByRole('alert');
    for (let i = 0; i < 60 && (await alert.count()) === 0; i++) {
      await page.clock.fastForward(1_000);
      await page.waitForTimeout(50);
    }
    assert.match((await alert.textContent()) ?? '', /network: Lost the connection to the run/);
    assert.equal(reattaches, 8, 'gave up after the configured number of re-attaches');
    const live = page.getByTestId('assistant-message').last();
    assert.equal(await live.getAttribute('data-status'), 'error');
    assert.match((await live.getByTestId('run-status').textContent()) ?? '', /Failed/);
    assert.ok((await seqsOnPage(page)).length >= 1, 'the steps received before are kept');
    assert.equal(await page.getByRole('button', { name: /stop/i }).count(), 0, 'Stop is gone');
    assert.equal(await page.getByText('AI is thinking…').count(), 0);
    await page.getByRole('textbox', { name: 'Message' }).fill('try again');
    assert.ok(await page.getByRole('button', { name: 'Send' }).isEnabled(), 'the user can send again');
    await page.close();
    // The run went on server-side; stop it so it does not compete with the next scenarios.
    await api(e2e.backend.url, 'POST', `/runs/${runId}/cancel`).catch(() => undefined);
  });

  scenario('a run of more than 150 steps shows the newest 150 and says how many are hidden', async () => {
    const projectId = await newProject('window');
    const page = await openProject(projectId);
    // The scripted model's knobs: no pauses, 60 Coder passes of 3 steps each.
    await send(page, 'list the files [scripted pace=0 repeat=60]');
    await page.getByTestId('final-answer').waitFor({ timeout: RUN_TIMEOUT });
    const stored = await storedSeqs(page);
    assert.ok(stored.length > 150, `the run has more than 150 steps (${stored.length})`);
    assert.deepEqual(await seqsOnPage(page), stored.slice(-150), 'the newest 150 steps, in order');
    const more = page.getByRole('button', { name: `Show ${stored.length - 150} earlier steps` });
    await more.click();
    assert.deepEqual(await seqsOnPage(page), stored, 'every step once expanded');
    assert.equal(await page.getByRole('button', { name: /earlier steps/ }).count(), 0);
    // From the history after a reload, the same window.
    await page.reload();
    await page.getByTestId('final-answer').waitFor();
    assert.deepEqual(await seqsOnPage(page), stored.slice(-150));
    await page.getByRole('button', { name: `Show ${stored.length - 150} earlier steps` }).waitFor();
    await page.close();
  });

  scenario("a change's diff is shown and Revert restores the file in the editor", async () => {
    const projectId = await newProject('revert');
    const original = '# Notes\n\n- original line\n';
    await api(e2e.backend.url, 'PUT', `/projects/${projectId}/files/TANDEM_NOTES.md`, { content: original });
    const page = await openProject(projectId, '?file=TANDEM_NOTES.md');
    const editor = page.locator('[data-testid="code-editor"] .cm-content');
    await editor.waitFor();
    assert.match(await editor.innerText(), /original line/);

    await send(page, 'note the colour scheme');
    await page.getByTestId('final-answer').waitFor({ timeout: RUN_TIMEOUT });
    // The agent's write reached the open editor without a reload.
    await page.waitForFunction(
      () => document.querySelector('[data-testid="code-editor"] .cm-content')?.textContent?.includes('note the colour scheme'),
      undefined,
      { timeout: 15_000 },
    );

    await page.getByRole('tab', { name: 'Changes' }).click();
    const change = page.locator('.changes-panel [data-testid="code-change"][data-path="TANDEM_NOTES.md"]').first();
    await change.getByRole('button', { name: /TANDEM_NOTES\.md/ }).click();
    // A real diff view on a wide screen: the file before and after, side by side, the added line marked.
    const diff = change.locator('.merge-diff');
    await diff.locator('.cm-mergeView').waitFor();
    assert.match(await diff.locator('.cm-merge-a').innerText(), /original line/);
    assert.doesNotMatch(await diff.locator('.cm-merge-a').innerText(), /note the colour scheme/);
    assert.match(await diff.locator('.cm-merge-b .cm-changedLine').allInnerTexts().then((t) => t.join('\n')), /note the colour scheme/);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'changes-diff.png') });

    await change.getByRole('button', { name: 'Revert' }).click();
    await change.getByText('reverted').waitFor();
    await page.waitForFunction(
      () => !document.querySelector('[data-testid="code-editor"] .cm-content')?.textContent?.includes('note the colour scheme'),
      undefined,
      { timeout: 15_000 },
    );
    assert.match(await editor.innerText(), /original line/);
    const file = await api<{ content: string }>(e2e.backend.url, 'GET', `/projects/${projectId}/files/TANDEM_NOTES.md`);
    assert.equal(file.content, original);
    await page.close();
  });

  test('no uncaught errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
