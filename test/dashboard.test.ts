import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBridge, type Bridge, type BridgeStats, type HealthReport } from 'toolbridge';
import { serveDashboard, type Dashboard } from 'toolbridge/dashboard';
import { fixture } from './helpers.js';

/** Debian's chromium, driven by playwright-core; CI installs it (.ci/run). */
const browserPath = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], {
  encoding: 'utf8',
}).stdout.trim();

let bridge: Bridge;
let dashboard: Dashboard;
beforeAll(async () => {
  bridge = await createBridge({
    maxThreads: 2,
    tools: [fixture('telemetry-tools.js'), fixture('session-tools.js')],
    memory: { maxHeapMb: 512 },
  });
  dashboard = await serveDashboard(bridge, { intervalMs: 200 });
});
afterAll(async () => {
  await dashboard.close();
  await bridge.close();
});

const get = (path: string, init?: RequestInit) => fetch(new URL(path, dashboard.url), init);

/** A GET with a Host header of our choosing (fetch does not let one set it). */
function rawGet(base: string, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const req = request(url, { headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serveDashboard', () => {
  test('listens on loopback and serves /metrics, /stats and /health', async () => {
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    await bridge.call('tel.echo', 1);
    const metrics = await get('metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await metrics.text()).toContain('toolbridge_calls_total{tool="tel.echo"} 1');
    const stats = await get('stats');
    expect(stats.headers.get('content-type')).toContain('application/json');
    expect(((await stats.json()) as BridgeStats).tools['tel.echo']!.calls).toBe(1);
    const health = await get('health');
    expect(health.status).toBe(200);
    expect(((await health.json()) as HealthReport).status).toBe('healthy');
  });

  test('serves nothing else: other paths are 404, other methods 405', async () => {
    for (const path of ['nope', 'metrics/', '../package.json', '%2e%2e/package.json', 'index.html', 'stats.json']) {
      const response = await get(path);
      expect(response.status, path).toBe(404);
      await response.body?.cancel();
    }
    const post = await get('stats', { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const page = await get('');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  });

  test('rejects bad options with INVALID_OPTIONS', async () => {
    await expect(serveDashboard(bridge, { port: -1 })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(serveDashboard(bridge, { intervalMs: 5 })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(serveDashboard(bridge, { interval: 500 } as never)).rejects.toThrow(/did you mean intervalMs\?/);
    await expect(serveDashboard(bridge, { token: 'short' })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });

  test('answers only requests that name it by a loopback or bound address (no DNS rebinding)', async () => {
    const { port } = new URL(dashboard.url);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      expect((await rawGet(dashboard.url, 'stats', host)).status, host).toBe(200);
    }
    for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1:${Number(port) + 1}`]) {
      const response = await rawGet(dashboard.url, 'stats', host);
      expect(response.status, host).toBe(403);
      expect(response.body).not.toContain('tools');
    }
    const allowing = await serveDashboard(bridge, { allowedHosts: ['dash.internal:8080'] });
    try {
      expect((await rawGet(allowing.url, 'health', 'dash.internal:8080')).status).toBe(200);
    } finally {
      await allowing.close();
    }
  });

  test('beyond loopback it needs a token (or an explicit opt-in); a token is checked on every request', async () => {
    const refused = await serveDashboard(bridge, { host: '0.0.0.0' }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'INVALID_OPTIONS' });
    expect((refused as Error).message).toContain('needs a token');
    const token = 'a-long-enough-secret-token';
    const guarded = await serveDashboard(bridge, { token });
    try {
      expect((await fetch(new URL('stats', guarded.url))).status).toBe(401);
      expect((await fetch(new URL('stats?token=wrong-token-of-same-len', guarded.url))).status).toBe(401);
      expect((await fetch(new URL(`stats?token=${token}`, guarded.url))).status).toBe(200);
      const bearer = await fetch(new URL('metrics', guarded.url), { headers: { authorization: `Bearer ${token}` } });
      expect(bearer.status).toBe(200);
      expect(await bearer.text()).toContain('toolbridge_calls_total');
    } finally {
      await guarded.close();
    }
  });

  // Outside CI (which installs it) the test is skipped when Chromium is missing, and says so.
  const noBrowser = !browserPath && !process.env.CI;
  if (noBrowser)
    console.warn('dashboard.test: no chromium on the PATH: the page test is skipped (apt-get install chromium)');
  test.skipIf(noBrowser)(
    `the page, opened in headless Chromium, charts live data${noBrowser ? ' [skipped: chromium is not installed]' : ''}`,
    async () => {
      const browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox'] });
      // Load while the page watches: three tools, one of them cached.
      let running = true;
      const counter = await bridge.open<{ add(by: number): number }>('test.counter');
      const load = (async () => {
        for (let i = 0; running; i++) {
          await Promise.all([
            bridge.call('tel.spin', { ms: 2 + (i % 5) }),
            bridge.call('tel.echo', { x: new Float64Array(4096) }),
            bridge.call('tel.square', i % 3),
            counter.add(1),
          ]);
        }
      })();
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        const problems: string[] = [];
        page.on('console', (message) => {
          if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
        });
        page.on('pageerror', (error) => problems.push(String(error)));
        await page.goto(dashboard.url);
        // The page counts its updates on <body data-updates>. (A function, not a string: the page's CSP
        // forbids eval.)
        type Page = { document: { body: { dataset: { updates?: string } } } };
        await page.waitForFunction(
          (count) => Number((globalThis as unknown as Page).document.body.dataset.updates ?? 0) >= count,
          5,
          { timeout: 15_000 },
        );

        const points = (chart: string, series: string) =>
          page.getAttribute(`svg[data-chart="${chart}"] polyline[data-series="${series}"]`, 'data-points');
        expect(Number(await points('latency', 'tel.spin p50'))).toBeGreaterThanOrEqual(3);
        expect(Number(await points('latency', 'tel.spin p99'))).toBeGreaterThanOrEqual(3);
        expect(Number(await points('throughput', 'tel.echo'))).toBeGreaterThanOrEqual(3);
        expect(Number(await points('utilization', 'default'))).toBeGreaterThanOrEqual(3);
        expect(Number(await points('bytes', 'copied'))).toBeGreaterThanOrEqual(2);
        expect(Number(await points('cache', 'hit rate'))).toBeGreaterThanOrEqual(3);
        // One bar per worker, each under its recycle threshold (maxHeapMb: 512).
        const bars = await page.$$eval('svg[data-chart="heap"] rect', (rects) =>
          rects.map((r) => Number(r.getAttribute('data-heap'))),
        );
        expect(bars).toHaveLength(2);
        for (const heap of bars) expect(heap).toBeGreaterThan(0);
        const thresholds = await page.$$eval('svg[data-chart="heap"] line[data-threshold]', (lines) =>
          lines.map((l) => Number(l.getAttribute('data-threshold'))),
        );
        expect(thresholds).toEqual([512, 512]);
        expect(await page.textContent('[data-legend="latency"]')).toContain('tel.spin');
        expect(await page.getAttribute('#health', 'data-status')).toMatch(/^(healthy|degraded)$/);
        expect(await page.textContent('#summary')).toMatch(/\d+ calls/);
        // The sessions table lists the open session, and the heap chart names the worker holding it.
        const row = await page.$$eval('[data-table="sessions"] tr[data-session="test.counter"] td', (cells) =>
          cells.map((cell) => cell.textContent),
        );
        expect(row[0]).toBe('test.counter');
        expect(row[1]).toBe('1');
        expect(Number(row[5])).toBeGreaterThan(0);
        expect(await page.textContent('svg[data-chart="heap"]')).toContain('(1 sessions)');

        mkdirSync(new URL('./output/', import.meta.url), { recursive: true });
        await page.screenshot({ path: new URL('./output/dashboard.png', import.meta.url).pathname, fullPage: true });
        expect(problems).toEqual([]);
      } finally {
        running = false;
        await load;
        await counter.close();
        await browser.close();
      }
    },
    60_000,
  );
});
