// Browser benchmark (not a test): the built UI receives a run of N interactions at R events/s
// from a local mock SSE server, while the page records main-thread long tasks
// (PerformanceObserver 'longtask') and frame timing (requestAnimationFrame gaps).
//
//   npm run bench                        # 2,000 interactions at 200 events/s
//   BENCH_EVENTS=5000 BENCH_RATE=500 npm run bench
import { mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import { FRONTEND_DIR, RESULTS_DIR, freePort, launchBrowser } from '../e2e/harness';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 2000);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const DIST = process.env.BENCH_DIST ?? path.join(FRONTEND_DIR, 'dist');
const RUN = 'bench-run';
const T0 = new Date().toISOString();

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

function json(res: ServerResponse, value: unknown, status = 200): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

const LONG_OUTPUT = Array.from({ length: 60 }, (_, i) => `  line ${i}: const value${i} = compute(${i}); // ü ✓`).join('\n');

function interaction(seq: number) {
  const kind = seq % 3;
  const agent = seq % 2 ? 'Planner' : 'Coder';
  const base = { timestamp: new Date().toISOString(), id: `${RUN}:${seq}`, tool_call_id: null, tool_arguments: null, tool_name: null };
  if (kind === 0) return { ...base, agent_name: agent, message_type: 'thought', content: `Step ${seq}: I will look at the next file and decide what to change — 設計 🚀` };
  if (kind === 1) {
    return {
      ...base,
      agent_name: agent,
      message_type: 'tool_call',
      content: 'Calling: read_file',
      tool_name: 'read_file',
      tool_arguments: { path: `src/components/File${seq}.tsx`, start_line: 1, end_line: 200 },
      tool_call_id: `call-${seq}`,
    };
  }
  return {
    ...base,
    agent_name: 'System',
    message_type: 'tool_response',
    content: seq % 10 === 2 ? LONG_OUTPUT : `ok: ${seq} lines read`,
    tool_name: 'read_file',
    tool_call_id: `call-${seq - 1}`,
  };
}

function frame(seq: number, type: string, data: unknown): string {
  return `id: ${seq}\ndata: ${JSON.stringify({ type, run_id: RUN, seq, data })}\n\n`;
}

let streamDone: Promise<{ sent: number; ms: number }> | null = null;

function stream(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
  res.flushHeaders();
  res.write(frame(1, 'start', { session_id: 1, user_message_id: 1, run_id: RUN, assistant_message_id: 2 }));
  let sent = 0;
  const started = Date.now();
  streamDone = new Promise((resolve) => {
    // Emit by the clock, not by timer ticks: timers are coarse, the rate must stay exact.
    const timer = setInterval(() => {
      const due = Math.min(EVENTS, Math.floor(((Date.now() - started) / 1000) * RATE));
      let chunk = '';
      while (sent < due) {
        sent++;
        chunk += frame(sent + 1, 'agent_interaction', interaction(sent + 1));
      }
      if (chunk) res.write(chunk);
      if (sent >= EVENTS) {
        clearInterval(timer);
        res.end(
          frame(EVENTS + 2, 'complete', {
            session_id: 1,
            message: { id: 2, session_id: 1, role: 'assistant', content: `Finished **${EVENTS}** steps.`, agent_name: 'Planner', created_at: T0 },
            code_changes: [],
            usage: { Planner: { requests: 1000, input_tokens: 500000, output_tokens: 90000, tool_calls: 700 }, Coder: { requests: 1000, input_tokens: 400000, output_tokens: 80000, tool_calls: 600 } },
          }),
        );
        resolve({ sent, ms: Date.now() - started });
      }
    }, 5);
    req.on('close', () => clearInterval(timer));
  });
}

function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const p = url.pathname;
  const route = `${req.method} ${p}`;
  const project = { id: 1, name: 'bench', template: 'blank', created_at: T0, updated_at: T0, active_run_id: null };
  switch (route) {
    case 'GET /api/v1/health':
      return json(res, { status: 'ok', version: 'bench', models: { planner: 'mock', coder: 'mock', configured: true, scripted: true, hint: null } });
    case 'GET /api/v1/projects/1':
      return json(res, project);
    case 'GET /api/v1/projects/1/files':
      return json(res, [{ path: 'README.md', size: 10, updated_at: T0 }]);
    case 'GET /api/v1/projects/1/files/README.md':
      return json(res, { path: 'README.md', size: 10, updated_at: T0, content: '# Bench\n' });
    case 'GET /api/v1/projects/1/sessions':
      return json(res, []);
    case 'GET /api/v1/projects/1/changes':
    case `GET /api/v1/runs/${RUN}/changes`:
      return json(res, []);
    case 'GET /api/v1/sessions/1/messages':
      return json(res, []);
    case 'POST /api/v1/chat/1/stream':
      return stream(req, res);
  }
  if (p.startsWith('/api/')) return json(res, { code: 'not_found', message: route }, 404);
  const file = path.join(DIST, p === '/' ? 'index.html' : p);
  if (!file.startsWith(DIST) || !existsSync(file)) return json(res, { code: 'not_found', message: p }, 404);
  res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream' });
  res.end(readFileSync(file));
}

// Installed before the app loads: records long tasks and every frame's timestamp.
const PROBE = `
  window.__bench = { longtasks: [], frames: [] };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__bench.longtasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) { window.__bench.noLongtask = String(e); }
  const tick = (t) => { window.__bench.frames.push(t); requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
`;

interface Probe {
  longtasks: { start: number; duration: number }[];
  frames: number[];
  noLongtask?: string;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples?: number[];
  timeDeltas?: number[];
}

function printHotspots(profile: CpuProfile): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  samples.forEach((id, i) => {
    const f = byId.get(id)?.callFrame;
    const key = f ? `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber}` : '?';
    self.set(key, (self.get(key) ?? 0) + (deltas[i] ?? 0) / 1000);
  });
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
  for (const [k, ms] of top) console.error(`${ms.toFixed(1).padStart(8)} ms  ${k}`);
}

async function main(): Promise<void> {
  if (!existsSync(path.join(DIST, 'index.html'))) throw new Error('build first: npm run build');
  const port = await freePort();
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await page.addInitScript(PROBE);
    await page.goto(`http://127.0.0.1:${port}/#/projects/1?file=README.md`);
    await page.getByRole('textbox', { name: 'Message' }).waitFor();
    await page.waitForTimeout(500);
    // BENCH_PROFILE=1: also take a CPU profile of the run and print the hottest functions.
    const cdp = process.env.BENCH_PROFILE ? await browser.context.newCDPSession(page) : null;
    if (cdp) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
    }
    const t0 = await page.evaluate(() => performance.now());
    await page.getByRole('textbox', { name: 'Message' }).fill('benchmark');
    await page.getByRole('textbox', { name: 'Message' }).press('Enter');
    await page.getByTestId('final-answer').waitFor({ timeout: 120_000 });
    await page.waitForTimeout(300);
    const t1 = await page.evaluate(() => performance.now());
    if (cdp) printHotspots((await cdp.send('Profiler.stop')).profile);
    const sentInfo = streamDone ? await streamDone : { sent: 0, ms: 0 };
    const probe = (await page.evaluate('window.__bench')) as Probe;
    const shown = await page.locator('[data-testid="agent-interaction"]').count();
    const hiddenNote = await page.getByRole('button', { name: /earlier steps/ }).textContent().catch(() => null);

    // Frames in the run window; a gap of k frame intervals means k-1 frames were dropped.
    const frames = probe.frames.filter((t) => t >= t0 && t <= t1);
    const gaps = frames.slice(1).map((t, i) => t - (frames[i] ?? t));
    const sortedGaps = [...gaps].sort((a, b) => a - b);
    const interval = sortedGaps[Math.floor(sortedGaps.length / 2)] ?? 16.7;
    const dropped = gaps.reduce((n, g) => n + Math.max(0, Math.round(g / interval) - 1), 0);
    const tasks = probe.longtasks.filter((t) => t.start + t.duration >= t0 && t.start <= t1);
    const longest = tasks.reduce((m, t) => Math.max(m, t.duration), 0);

    const result = {
      events: EVENTS,
      rate_per_s: RATE,
      stream_ms: sentInfo.ms,
      page_ms: Math.round(t1 - t0),
      longtask_supported: !probe.noLongtask,
      longtasks: tasks.length,
      longtasks_over_50ms: tasks.filter((t) => t.duration > 50).length,
      longest_task_ms: Math.round(longest),
      longtask_at_ms: tasks.map((t) => `${Math.round(t.start - t0)}+${Math.round(t.duration)}`),
      frames: frames.length,
      frame_interval_ms: Number(interval.toFixed(2)),
      frames_expected: Math.round((t1 - t0) / interval),
      frames_dropped: dropped,
      worst_frame_gap_ms: Math.round(sortedGaps.at(-1) ?? 0),
      p99_frame_gap_ms: Math.round(sortedGaps[Math.floor(sortedGaps.length * 0.99)] ?? 0),
      interactions_mounted: shown,
      windowing: hiddenNote?.trim() ?? 'none',
    };
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(path.join(RESULTS_DIR, 'bench.json'), JSON.stringify(result, null, 2));
    await page.screenshot({ path: path.join(RESULTS_DIR, 'bench-final.png') });
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
