import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, startCli, type RunningCli } from './helpers/err-cli.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest, type Reply } from './helpers/pol-client.js';
import { accessLine, decisionOf, ERROR, startPolicyProxy, type PolicyProxy } from './helpers/pol-proxy.js';
import { Traffic, type Outcome } from './helpers/pol-traffic.js';
import { baseConfig, merge, type LogSink } from './helpers/proxy.js';

/**
 * Policy hot reload through the real proxy: file watch (in-place and rename saves),
 * invalid edits, SIGHUP and proxy.reload(), and requests in flight during a reload.
 */

const ALLOW = `version: 1
rules:
  - id: flip-allow
    hosts: [flip.test]
    action: allow
    reason: flip.test is open
  - id: default
    action: allow
`;

const DENY = `version: 1
rules:
  - id: flip-deny
    hosts: [flip.test]
    action: deny
    reason: flip.test is closed
  - id: default
    action: allow
`;

/** Two mistakes: an unknown key at 6:5 and an invalid action at 8:13. */
const INVALID = `version: 1
rules:
  - id: flip-allow
    hosts: [flip.test]
    action: allow
    colour: blue
  - id: default
    action: maybe
`;

const LIMITED = `version: 1
rules:
  - id: flip-limited
    hosts: [flip.test]
    action: allow
    response: { maxSize: 1KiB }
  - id: default
    action: allow
`;

function count(sink: LogSink, pred: (msg: string) => boolean): number {
  return sink.lines.filter((l) => pred(String(l.msg))).length;
}

async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Call before an edit; the returned function waits for the reload (or rejection) it causes. */
function expectReload(px: PolicyProxy, msg: 'policy reloaded' | 'reload rejected' = 'policy reloaded'): () => Promise<void> {
  const match = (m: string): boolean => m.startsWith(msg);
  const before = count(px.server, match);
  return () => until(() => count(px.server, match) > before, `"${msg}" in the server log`);
}

/** Every request got a complete answer, 200 or the new policy's 403, and nothing else. */
function expectNoFailure(outcomes: Outcome[], denyRule: string): void {
  expect(outcomes.filter((o) => o.failure !== undefined)).toEqual([]);
  for (const o of outcomes) {
    if (o.status === 200) expect(o.rule).toBeUndefined();
    else {
      expect(o.status).toBe(403);
      expect(o.rule).toBe(denyRule);
      expect(o.error).toMatch(/^POLICY_DENIED: /);
    }
  }
}

/** A loop's statuses as a string like "200 200 403 403". */
function pattern(outcomes: Outcome[], loop: number): string {
  return Traffic.sequence(outcomes, loop).join(' ');
}

let origin: Origin;
/** Responses the origin holds until the test releases them, by path. */
const held = new Map<string, ServerResponse>();

beforeAll(async () => {
  origin = await startOrigin((req, res) => {
    const path = req.url!;
    if (path.startsWith('/hold/')) {
      held.set(path, res);
      return;
    }
    if (path.startsWith('/stream-hold/')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(512, 0x61));
      held.set(path, res);
      return;
    }
    if (path.startsWith('/stream/')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sent = 0;
      const tick = (): void => {
        if (res.destroyed) return;
        if (sent >= 4096) return void res.end();
        res.write(Buffer.alloc(512, 0x61));
        sent += 512;
        setTimeout(tick, 5);
      };
      return tick();
    }
    res.end('ok');
  });
});
afterAll(async () => {
  for (const r of held.values()) r.destroy();
  await origin.close();
});

describe('file watch under traffic', () => {
  let px: PolicyProxy;
  let traffic: Traffic | null = null;
  let k = 0;
  beforeAll(async () => {
    px = await startPolicyProxy({ files: { 'policy.yaml': ALLOW }, watch: true, hosts: { 'flip.test': '127.0.0.1' } });
  });
  afterEach(async () => {
    await traffic?.stop();
    traffic = null;
  });
  afterAll(async () => {
    await px.close();
  });

  const start = (): Traffic => (traffic = new Traffic(px.port, (l, s) => `http://flip.test:${origin.port}/w${++k}/${l}/${s}`));
  const perLoop = (t: Traffic, pred: (statuses: number[]) => boolean): boolean => [0, 1, 2, 3].every((l) => pred(Traffic.sequence(t.outcomes, l)));

  it('an in-place edit flips a host from allowed to denied; every response is 200 or the new 403', async () => {
    const t = start();
    await t.until(() => perLoop(t, (s) => s.length >= 3));
    const reloaded = expectReload(px);
    px.write(DENY);
    await reloaded();
    await t.until(() => perLoop(t, (s) => s.filter((x) => x === 403).length >= 3));
    const outcomes = await t.stop();
    expectNoFailure(outcomes, 'flip-deny');
    for (const l of [0, 1, 2, 3]) expect(pattern(outcomes, l)).toMatch(/^(200 )+(403 )*403$/);
  });

  it('an editor-style save (rename) flips it back, and a second rename-save is seen too', async () => {
    const t = start();
    await t.until(() => perLoop(t, (s) => s.length >= 2));
    let reloaded = expectReload(px);
    px.replace(ALLOW);
    await reloaded();
    await t.until(() => perLoop(t, (s) => s.filter((x) => x === 200).length >= 2));
    reloaded = expectReload(px);
    px.replace(DENY);
    await reloaded();
    await t.until(() => perLoop(t, (s) => s[s.length - 1] === 403 && s.filter((x) => x === 403).length >= 4));
    const outcomes = await t.stop();
    expectNoFailure(outcomes, 'flip-deny');
    for (const l of [0, 1, 2, 3]) expect(pattern(outcomes, l)).toMatch(/^(403 )*(200 )+(403 )*403$/);
  });

  it('an invalid edit is rejected with file:line:col lines in the server log; the old policy keeps deciding', async () => {
    const t = start();
    await t.until(() => perLoop(t, (s) => s.length >= 2));
    const rejected = expectReload(px, 'reload rejected');
    px.write(INVALID);
    await rejected();
    const file = px.path();
    const unknown = await px.server.waitFor((l) => String(l.msg).startsWith(`${file}:6:5: `));
    expect(unknown.msg).toBe(`${file}:6:5: unknown key "colour" in rules[0]`);
    expect(unknown.level).toBe(ERROR);
    const action = await px.server.waitFor((l) => String(l.msg).startsWith(`${file}:8:13: `));
    expect(String(action.msg)).toMatch(/rules\[1\]\.action/);
    const summary = await px.server.waitFor((l) => String(l.msg).startsWith('reload rejected'));
    expect(summary.level).toBe(ERROR);
    expect(summary.problems).toEqual([unknown.msg, action.msg]);
    // Keep the traffic going a while after the rejection: still the old (deny) policy.
    const n = t.outcomes.length;
    await t.until((o) => o.length >= n + 12);
    const outcomes = await t.stop();
    expectNoFailure(outcomes, 'flip-deny');
    expect(outcomes.every((o) => o.status === 403)).toBe(true);
    // A valid in-place save after the rejected one is picked up.
    const reloaded = expectReload(px);
    px.write(ALLOW);
    await reloaded();
    expect((await proxyRequest(px.port, `http://flip.test:${origin.port}/after-fix`)).status).toBe(200);
  });

  it('after an invalid save by rename, the next valid save by rename is still picked up', async () => {
    const first = expectReload(px);
    px.replace(ALLOW);
    await first();
    const rejected = expectReload(px, 'reload rejected');
    px.replace(INVALID);
    await rejected();
    expect((await proxyRequest(px.port, `http://flip.test:${origin.port}/still-old`)).status).toBe(200);
    const reloaded = expectReload(px);
    px.replace(DENY);
    await reloaded();
    const r = await proxyRequest(px.port, `http://flip.test:${origin.port}/after-rename-fix`);
    expect(r.status).toBe(403);
    expect(r.headers['x-egressd-rule']).toBe('flip-deny');
  });
});

describe('domain list files are watched too', () => {
  let px: PolicyProxy;
  beforeAll(async () => {
    px = await startPolicyProxy({
      files: { 'policy.yaml': 'version: 1\nlists:\n  blocked: { file: blocked.txt }\nrules:\n  - id: list-deny\n    domainLists: [blocked]\n    action: deny\n  - id: default\n    action: allow\n' },
      extra: { 'blocked.txt': 'other.test\n' },
      watch: true,
      hosts: { 'flip.test': '127.0.0.1' },
    });
  });
  afterAll(async () => {
    await px.close();
  });

  it('adding a domain to a list file denies it', async () => {
    expect((await proxyRequest(px.port, `http://flip.test:${origin.port}/list-before`)).status).toBe(200);
    const reloaded = expectReload(px);
    px.write('other.test\nflip.test\n', 'blocked.txt');
    await reloaded();
    const r = await proxyRequest(px.port, `http://flip.test:${origin.port}/list-after`);
    expect(r.status).toBe(403);
    expect(r.headers['x-egressd-rule']).toBe('list-deny');
  });
});

describe('proxy.reload() (what SIGHUP calls)', () => {
  let px: PolicyProxy;
  beforeAll(async () => {
    px = await startPolicyProxy({ files: { 'policy.yaml': ALLOW }, watch: false, hosts: { 'flip.test': '127.0.0.1' } });
  });
  afterAll(async () => {
    await px.close();
  });
  const get = (p: string): Promise<Reply> => proxyRequest(px.port, `http://flip.test:${origin.port}${p}`);

  it('with watch off an edit waits for the reload; reload() applies it', async () => {
    px.write(DENY);
    await new Promise((r) => setTimeout(r, 400)); // longer than the watcher's debounce
    expect((await get('/r-before')).status).toBe(200);
    const r = await px.proxy.reload();
    expect(r.ok).toBe(true);
    const after = await get('/r-after');
    expect(after.status).toBe(403);
    expect(after.headers['x-egressd-rule']).toBe('flip-deny');
  });

  it('an invalid policy file fails the whole reload with file:line:col; the old policy stays', async () => {
    px.write(INVALID);
    const r = await px.proxy.reload();
    expect(r.ok).toBe(false);
    const problems = (r as { problems: string[] }).problems;
    expect(problems[0]).toBe(`${px.path()}:6:5: unknown key "colour" in rules[0]`);
    expect(problems[1]).toMatch(new RegExp(`^${px.path().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:8:13: rules\\[1\\]\\.action`));
    await px.server.waitFor((l) => l.msg === problems[0]);
    const still = await get('/r-still');
    expect(still.status).toBe(403);
    expect(still.headers['x-egressd-rule']).toBe('flip-deny');
  });
});

describe('in-flight requests finish under the policy they started with', () => {
  let px: PolicyProxy;
  beforeAll(async () => {
    px = await startPolicyProxy({ files: { 'policy.yaml': ALLOW }, watch: true, hosts: { 'flip.test': '127.0.0.1' } });
  });
  afterAll(async () => {
    await px.close();
  });
  const url = (p: string): string => `http://flip.test:${origin.port}${p}`;

  it('a request waiting on a slow origin when the host becomes denied still gets its 200', async () => {
    const pending = proxyRequest(px.port, url('/hold/a'));
    await until(() => held.has('/hold/a'), 'the origin to receive the request');
    const reloaded = expectReload(px);
    px.replace(DENY);
    await reloaded();
    const fresh = await proxyRequest(px.port, url('/hold/b'));
    expect(fresh.status).toBe(403);
    expect(held.has('/hold/b')).toBe(false);
    held.get('/hold/a')!.end('slow but allowed');
    const r = await pending;
    expect(r).toMatchObject({ status: 200, body: 'slow but allowed', complete: true });
    expect(decisionOf(await accessLine(px, url('/hold/a')))).toMatchObject({ action: 'allow', rule: 'flip-allow' });
  });

  it('a body streaming when a size limit arrives is not cut; a new request gets the limit', async () => {
    let reloaded = expectReload(px);
    px.replace(ALLOW);
    await reloaded();
    let received = 0;
    const pending = proxyRequest(px.port, url('/stream-hold/a'), { onData: (c) => (received += c.length) });
    await until(() => received >= 512, 'the first chunk');
    reloaded = expectReload(px);
    px.replace(LIMITED);
    await reloaded();
    const fresh = await proxyRequest(px.port, url('/stream/b'));
    expect(fresh.status).toBe(200);
    expect(fresh.complete).toBe(false);
    expect(decisionOf(await accessLine(px, url('/stream/b')))).toMatchObject({ action: 'deny', rule: 'flip-limited', responseCheck: 'size' });
    const res = held.get('/stream-hold/a')!;
    res.end(Buffer.alloc(3584, 0x62));
    const r = await pending;
    expect(r.complete).toBe(true);
    expect(r.bytes).toBe(4096);
    expect(await accessLine(px, url('/stream-hold/a'))).toMatchObject({ error: null, decision: { action: 'allow', rule: 'flip-allow' } });
  });
});

describe('SIGHUP (egressd start as a child process)', () => {
  let dir: string;
  let cli: RunningCli | null = null;
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'egressd-pol-hup-'));
  });
  afterAll(async () => {
    if (cli) {
      cli.kill();
      await cli.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('reloads the policy (watch off), and keeps it when the new file is invalid', async () => {
    const policy = join(dir, 'policy.yaml');
    const literal = (text: string): string => text.replaceAll('[flip.test]', '["127.0.0.1"]');
    writeFileSync(policy, literal(ALLOW));
    const config = join(dir, 'egressd.yaml');
    writeFileSync(config, stringify(merge(baseConfig(), { policy: { files: ['policy.yaml'], watch: false } })));
    cli = await startCli(config);
    const get = (p: string): Promise<Reply> => proxyRequest(cli!.port, `http://127.0.0.1:${origin.port}${p}`);
    expect((await get('/hup-1')).status).toBe(200);

    writeFileSync(policy, literal(DENY));
    await new Promise((r) => setTimeout(r, 400));
    expect((await get('/hup-2')).status).toBe(200); // not watched: nothing yet
    process.kill(cli.pid, 'SIGHUP');
    await cli.waitForLine((l) => l.msg === 'config reloaded');
    const denied = await get('/hup-3');
    expect(denied.status).toBe(403);
    expect(denied.headers['x-egressd-rule']).toBe('flip-deny');

    writeFileSync(policy, INVALID);
    process.kill(cli.pid, 'SIGHUP');
    const line = await cli.waitForLine((l) => String(l.msg).startsWith(`${policy}:6:5: `));
    expect(line.msg).toBe(`${policy}:6:5: unknown key "colour" in rules[0]`);
    const still = await get('/hup-4');
    expect(still.status).toBe(403);
    expect(still.headers['x-egressd-rule']).toBe('flip-deny');

    process.kill(cli.pid, 'SIGTERM');
    expect((await cli.exited).code).toBe(0);
    cli = null;
  });
});
