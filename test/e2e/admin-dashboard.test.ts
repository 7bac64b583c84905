import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, runChromium, type ChromiumRun } from '../helpers/chromium.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { proxyRequest } from '../helpers/pol-client.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

/**
 * The admin dashboard in a real browser: Debian's headless chromium loads GET / from the
 * loopback admin listener after a known workload, takes a screenshot (a real PNG of
 * some size) and dumps the rendered DOM, whose numbers (stable ids and data-*
 * attributes) must equal what /api/dashboard answers.
 */

const missing = !existsSync(CHROMIUM);
// CI installs chromium (.ci/e2e-deps.sh): there a missing browser is a failure, not a skip.
const skip = missing && !process.env.CI;
if (skip) console.warn(`admin-dashboard: SKIPPED, ${CHROMIUM} is not installed (run .ci/e2e-deps.sh as root)`);

const POLICY = `version: 1
rules:
  - id: no-downloads
    hosts: ['127.0.0.1']
    paths: ['/downloads/**']
    action: deny
    reason: No downloads
  - id: default
    action: allow
`;

let dir: string;
let origin: Origin;
let px: TestProxy;
let admin: string;

/** Headless chromium with `extra` flags on `url`, a fresh profile each time. */
function chromium(extra: string[], url: string): Promise<ChromiumRun> {
  const profile = mkdtempSync(join(dir, 'profile-'));
  return runChromium([`--user-data-dir=${profile}`, '--window-size=1200,900', '--virtual-time-budget=5000', ...extra, url], dir);
}

beforeAll(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'egressd-dashboard-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  origin = await startOrigin((req, res) => {
    const cacheable = req.url === '/static.css';
    res.writeHead(200, { 'content-type': 'text/plain', ...(cacheable ? { 'cache-control': 'max-age=600' } : {}) });
    res.end(`body of ${req.url}`);
  });
  px = await startTestProxy({ admin: { listen: { address: '127.0.0.1', port: 0 } }, policy: { files: [join(dir, 'policy.yaml')], watch: false } });
  admin = `http://127.0.0.1:${px.proxy.admin.address!.port}`;
  // The known workload: 12 allowed, a cached URL twice (one hit), 3 denied.
  const urls = [...Array.from({ length: 12 }, (_, i) => `/page/${i}`), '/static.css', '/static.css', '/downloads/a', '/downloads/b', '/downloads/c'];
  for (const u of urls) await proxyRequest(px.port, `${origin.url}${u}`);
  await px.access.waitFor(() => px.access.lines.length >= urls.length);
});

afterAll(async () => {
  await px?.close();
  await origin?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const attr = (tag: string, name: string): string | undefined => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1];
/** The opening tags of elements with `attrName` inside the element with id `id`. */
function tagsIn(dom: string, id: string, attrName: string): string[] {
  const start = dom.indexOf(`id="${id}"`);
  expect(start, `#${id} in the DOM`).toBeGreaterThan(0);
  const end = dom.indexOf('</table>', start) > 0 && id !== 'rate-chart' ? dom.indexOf('</table>', start) : dom.indexOf('</svg>', start);
  return dom.slice(start, end).match(new RegExp(`<[a-z]+\\b[^>]*\\b${attrName}="[^"]*"[^>]*>`, 'g')) ?? [];
}
const valueOf = (dom: string, id: string): string | undefined => {
  const tag = new RegExp(`<[^>]*\\bid="${id}"[^>]*>`).exec(dom)?.[0];
  return tag ? attr(tag, 'data-value') : undefined;
};

describe.skipIf(skip)('admin dashboard in headless chromium', () => {
  it('renders a screenshot of some size', async () => {
    const png = join(dir, 'dashboard.png');
    const r = await chromium([`--screenshot=${png}`], `${admin}/`);
    expect(existsSync(png), `no screenshot; chromium exited ${r.code}; stderr:\n${r.stderr.slice(-2000)}`).toBe(true);
    const bytes = readFileSync(png);
    expect(bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    // A blank 1200×900 page compresses to a few KiB; charts, tables and text do not.
    const blank = join(dir, 'blank.png');
    await chromium([`--screenshot=${blank}`], 'about:blank');
    expect(existsSync(blank)).toBe(true);
    expect(statSync(png).size).toBeGreaterThan(3 * statSync(blank).size);
    expect(statSync(png).size).toBeGreaterThan(10_000);
  });

  it('shows the numbers /api/dashboard answers', async () => {
    const r = await chromium(['--dump-dom'], `${admin}/`);
    const dom = r.stdout;
    expect(dom, `chromium exited ${r.code}; stderr:\n${r.stderr.slice(-2000)}`).toContain('data-loaded="1"');
    // No traffic since: the API answers what the page was given.
    const res = await request(`${admin}/api/dashboard`);
    const api = (await res.body.json()) as {
      totals: { requests: number; denied: number; cacheHitRatio: number | null };
      topDestinations: { host: string; requests: number }[];
      topUsers: { user: string; requests: number }[];
      denials: { rule: string; count: number }[];
      series: { requests: number }[];
    };
    expect(api.totals.requests).toBe(17);
    expect(api.totals.denied).toBe(3);
    expect(valueOf(dom, 'total-requests')).toBe(String(api.totals.requests));
    expect(valueOf(dom, 'total-denied')).toBe(String(api.totals.denied));
    expect(Number(valueOf(dom, 'cache-ratio'))).toBeCloseTo(api.totals.cacheHitRatio!, 10);
    expect(tagsIn(dom, 'top-destinations', 'data-host').map((t) => [attr(t, 'data-host'), Number(attr(t, 'data-requests'))])).toEqual(api.topDestinations.map((h) => [h.host, h.requests]));
    expect(tagsIn(dom, 'top-users', 'data-user').map((t) => [attr(t, 'data-user'), Number(attr(t, 'data-requests'))])).toEqual(api.topUsers.map((u) => [u.user, u.requests]));
    expect(tagsIn(dom, 'denials', 'data-rule').map((t) => [attr(t, 'data-rule'), Number(attr(t, 'data-count'))])).toEqual([['no-downloads', 3]]);
    const bars = tagsIn(dom, 'rate-chart', 'data-rate');
    expect(bars).toHaveLength(api.series.length);
    expect(bars.reduce((a, t) => a + Number(attr(t, 'data-requests')), 0)).toBe(api.totals.requests);
  });
});
