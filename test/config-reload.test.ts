import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { startOrigin, type Origin } from './helpers/origin.js';
import { baseConfig, merge, startTestProxy, type TestProxy } from './helpers/proxy.js';

describe('config reload (in process)', () => {
  let origin: Origin;
  let px: TestProxy;
  let agent: ProxyAgent;
  beforeAll(async () => {
    origin = await startOrigin((req, res) => res.end(String(req.headers.via ?? '')));
    px = await startTestProxy({ proxy: { name: 'gen-one' } });
    agent = new ProxyAgent({ uri: px.url, proxyTunnel: false });
  });
  afterAll(async () => {
    await agent.close();
    await px.close();
    await origin.close();
  });

  async function via(path: string): Promise<{ seen: string; sent: string }> {
    const res = await request(`${origin.url}${path}`, { dispatcher: agent });
    return { seen: await res.body.text(), sent: String(res.headers.via) };
  }

  it('a valid edit takes effect for new requests', async () => {
    expect((await via('/before')).seen).toBe('1.1 gen-one');
    px.writeConfig(merge(baseConfig(), { proxy: { name: 'gen-two' } }));
    expect(await px.proxy.reload()).toEqual({ ok: true, generation: 2 });
    const after = await via('/after');
    expect(after.seen).toBe('1.1 gen-two');
    expect(after.sent).toBe('1.1 gen-two');
    await px.server.waitFor((l) => l.msg === 'config reloaded' && l.generation === 2);
  });

  it('an invalid file is rejected with file:line:col, and the running config stays', async () => {
    writeFileSync(px.configFile, 'proxy:\n  name: gen-three\n  colour: blue\ntimeouts:\n  clientIdle: soon\n');
    const r = await px.proxy.reload();
    expect(r.ok).toBe(false);
    const problems = (r as { problems: string[] }).problems;
    expect(problems).toEqual([expect.stringMatching(new RegExp(`^${px.configFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:3: unknown key "colour"`)), expect.stringMatching(/:5:15: timeouts\.clientIdle: invalid duration/)]);
    const line = await px.server.waitFor((l) => String(l.msg).startsWith('reload rejected'));
    expect(line.level).toBe(50);
    expect(line.problems).toEqual(problems);
    expect((await via('/still')).seen).toBe('1.1 gen-two');
  });

  it('keys that are fixed at start (tls.ca, log, limits.maxHeaderSize) are named in a warning: restart needed', async () => {
    px.writeConfig(merge(baseConfig(), { proxy: { name: 'gen-two' }, tls: { ca: { commonName: 'another CA' } }, limits: { maxHeaderSize: '32KiB' } }));
    expect((await px.proxy.reload()).ok).toBe(true);
    const line = await px.server.waitFor((l) => String(l.msg).includes('take effect at the next restart'));
    expect(line.keys).toEqual(['limits.maxHeaderSize', 'tls.ca']);
    px.writeConfig(merge(baseConfig(), { proxy: { name: 'gen-two' } }));
    expect((await px.proxy.reload()).ok).toBe(true);
  });

  it('a reload that opens a destination applies to new requests (egress rules are part of the generation)', async () => {
    px.writeConfig(merge(baseConfig(), { proxy: { name: 'gen-two' }, egress: { allowPrivate: [] } }));
    expect((await px.proxy.reload()).ok).toBe(true);
    const res = await request(`${origin.url}/closed`, { dispatcher: agent });
    await res.body.text();
    expect(res.statusCode).toBe(403);
    px.writeConfig(merge(baseConfig(), { proxy: { name: 'gen-two' } }));
    expect((await px.proxy.reload()).ok).toBe(true);
    const again = await request(`${origin.url}/open`, { dispatcher: agent });
    await again.body.text();
    expect(again.statusCode).toBe(200);
  });
});
