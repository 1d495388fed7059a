// End to end: choosing the model on the Models page with no model in the environment, against fake
// OpenAI-compatible servers (tests/fake_openai.py, each a process of its own): a wrong API key, a dead base
// URL and a model without tool support each get their own plain-words check result; the working setup is
// saved and the next run uses it. Also: the page at a phone's 390 px, and token usage for live and past runs.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { REPO_DIR, RESULTS_DIR, api, freePort, suite } from './harness';

const KEY = 'sk-e2e-right-key-7890';
const TIMEOUT = 120_000;

interface Fake {
  url: string;
  stop: () => void;
}

/** `python -m tests.fake_openai` on a free port; resolves once it answers. */
async function startFake(...args: string[]): Promise<Fake> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'uv',
    ['run', '--project', REPO_DIR, 'python', '-m', 'tests.fake_openai', '--port', String(port), ...args],
    { cwd: REPO_DIR, stdio: 'ignore' },
  );
  const root = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`fake model server exited (${args.join(' ')})`);
    try {
      await fetch(`${root}/props`); // any answer: it listens
      break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('fake model server did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url: `${root}/v1`, stop: () => child.kill('SIGTERM') };
}

let working: Fake;
let noTools: Fake;
let deadUrl: string;
const pageErrors: string[] = [];

const e2e = suite('models', {
  pace: 0,
  env: { TANDEM_MODEL: '' },
  setUp: async () => {
    [working, noTools] = await Promise.all([startFake('--api-key', KEY), startFake('--quirk', 'no_tools')]);
    deadUrl = `http://127.0.0.1:${await freePort()}/v1`; // nothing listens there
  },
  tearDown: () => {
    working?.stop();
    noTools?.stop();
  },
});

async function open(route: string, width = 1280): Promise<Page> {
  const page = await e2e.browser.context.newPage();
  await page.setViewportSize({ width, height: 900 });
  page.on('pageerror', (e) => pageErrors.push(`${e.name}: ${e.message}`));
  await page.goto(`${e2e.backend.url}/#${route}`);
  return page;
}

/** Fill the form for an OpenAI-compatible server and press Test (which saves first); the check's text. */
async function testSetup(page: Page, baseUrl: string, key: string): Promise<string> {
  await page.getByLabel('Base URL').fill(baseUrl);
  await page.getByLabel('Model (Planner and Coder)').fill('fake-model');
  await page.getByLabel('API key').fill(key);
  const result = page.getByTestId('model-check');
  const before = (await result.count()) > 0 ? await result.textContent() : null;
  await page.getByRole('button', { name: 'Save and test' }).click();
  // The previous setup's result may still be on screen for a moment: wait for this check's own.
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const text = (await result.count()) > 0 ? await result.first().textContent() : null;
    if (text !== null && text !== before) return text;
    assert.ok(Date.now() < deadline, `no new check result within ${TIMEOUT} ms`);
    await page.waitForTimeout(100);
  }
}

describe('the Models page', () => {
  test('from "no model" to a working run, with a clear message for each broken setup', { timeout: 6 * TIMEOUT }, async () => {
    const page = await open('/');
    const banner = page.getByTestId('no-model-banner');
    await banner.getByRole('link', { name: /models page/i }).click();
    await page.getByRole('heading', { name: 'Models' }).waitFor();
    assert.match(await page.getByTestId('key-state').textContent() ?? '', /No key saved/);

    const wrongKey = await testSetup(page, working.url, 'sk-e2e-wrong-key-0000');
    assert.match(wrongKey, /does not work yet/);
    assert.match(wrongKey, /API key accepted: The API key was refused/);
    assert.match(wrongKey, /Set the right key on the Models page/);

    const dead = await testSetup(page, deadUrl, KEY);
    assert.match(dead, /Server reachable: No answer from the model server/);
    assert.match(dead, /is it running, and is the base URL right\?/);

    const toolless = await testSetup(page, noTools.url, KEY);
    assert.match(toolless, /Tool call: The model cannot call tools/);
    assert.match(toolless, /Choose a model with tool support/);

    const works = await testSetup(page, working.url, KEY);
    assert.match(works, /openai:fake-model: works with Tandem/);
    assert.match(await page.getByTestId('key-state').textContent() ?? '', /Set ··· 7890/);
    const settings = await api<Record<string, unknown>>(e2e.backend.url, 'GET', '/models/settings');
    assert.ok(!JSON.stringify(settings).includes(KEY), 'the key is never sent back');

    // The next run uses the saved model: the fake's scripted team answers and writes hello.txt.
    const { id } = await api<{ id: number }>(e2e.backend.url, 'POST', '/projects', { name: 'models e2e', template: 'blank' });
    await page.goto(`${e2e.backend.url}/#/projects/${id}`);
    await page.getByRole('textbox', { name: 'Message' }).fill('write hello');
    await page.getByRole('textbox', { name: 'Message' }).press('Enter');
    const answer = page.getByTestId('final-answer');
    await answer.waitFor({ timeout: TIMEOUT });
    assert.match((await answer.textContent()) ?? '', /All done\. Coder said/);
    await page.getByRole('table', { name: /token usage/i }).waitFor();

    // A past run shows its usage too.
    await page.reload();
    await page.getByTestId('final-answer').waitFor();
    await page.getByRole('table', { name: /token usage/i }).waitFor();
    assert.deepEqual(pageErrors, []);
  });

  test('is usable at 390 px wide', { timeout: TIMEOUT }, async () => {
    const page = await open('/settings/models', 390);
    await page.getByRole('button', { name: /^(Save and test|Test)$/ }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scrolling (${overflow} px too wide)`);
    for (const name of ['Base URL', 'Model (Planner and Coder)', 'API key']) {
      const box = await page.getByLabel(name).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${name} fits on screen`);
    }
    await page.screenshot({ path: path.join(RESULTS_DIR, 'models-390.png'), fullPage: true });
  });
});
