import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createCa, writeCa, type CertificateAuthority } from '../src/tls/index.js';
import { BIN, ensureBuilt, ROOT } from './helpers/err-cli.js';
import { makeOriginCa, ORIGIN_NAMES, type KeyCert, type OriginCa } from './helpers/icp-certs.js';
import { tlsThroughProxy } from './helpers/icp-client.js';
import { startHttpsOrigin } from './helpers/icp-origin.js';
import { startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import type { Origin } from './helpers/origin.js';
import { baseConfig, merge } from './helpers/proxy.js';

/**
 * The interception CA key cannot be used (issue 10). As root, chmod 000 does not stop a
 * read, so the key is made unusable in the ways that happen in practice: its path is a
 * folder, its PEM is corrupt, or it is encrypted and the passphrase is wrong. Creating,
 * loading and exporting a healthy CA is covered by test/tls/ca.test.ts and
 * test/cli-ca.test.ts.
 */

const PASS_ENV = 'EGRESSD_FAULTS_CA_PASS';
let dir: string;
let ca: CertificateAuthority;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'egressd-faults-ca-'));
  ca = await createCa({ subject: { commonName: 'egressd faults test CA' } });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A CA folder with a good ca.pem and a key file spoiled by `spoil` (or a good key). */
async function caDir(name: string, spoil: ((keyFile: string) => void) | null, passphrase?: string): Promise<{ dir: string; keyFile: string }> {
  const d = join(dir, name);
  const { keyFile } = await writeCa(d, ca, { passphrase });
  if (spoil) {
    rmSync(keyFile, { recursive: true, force: true });
    spoil(keyFile);
  }
  return { dir: d, keyFile };
}

const BROKEN_KEY = '-----BEGIN PRIVATE KEY-----\nthis is not base64 DER at all\n-----END PRIVATE KEY-----\n';

describe('egressd start with interception on and an unusable CA key', () => {
  function start(caFolder: string, env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
    const file = join(dir, `start-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, stringify(merge(baseConfig(), { tls: { intercept: 'all', ca: { dir: caFolder, passphraseEnv: PASS_ENV } }, log: { access: join(dir, 'access.log') } })));
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, 'start', '-c', file], { cwd: ROOT, timeout: 15_000, env: { ...process.env, NO_COLOR: '1', ...env } }, (err, _out, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        resolve({ code: typeof code === 'number' ? code : null, stderr });
      });
    });
  }

  const cases: [string, () => Promise<{ dir: string; keyFile: string }>, Record<string, string>, RegExp][] = [
    ['the key path is a folder', () => caDir('key-is-dir', (k) => mkdirSync(k)), {}, /EISDIR/],
    ['the key PEM is corrupt', () => caDir('key-corrupt', (k) => writeFileSync(k, BROKEN_KEY, { mode: 0o600 })), {}, /no parsable PEM private key/],
    ['the passphrase is wrong', () => caDir('key-wrong-pass', null, 'right one'), { [PASS_ENV]: 'wrong one' }, /passphrase does not decrypt/],
    ['the key is encrypted and no passphrase is set', () => caDir('key-no-pass', null, 'right one'), {}, /encrypted and no passphrase/],
  ];
  for (const [what, make, env, why] of cases) {
    it(`${what}: exit 1, one stderr line naming the key file, no listener`, async () => {
      const { dir: d, keyFile } = await make();
      const r = await start(d, env);
      expect(r.code).toBe(1);
      expect(r.stderr).not.toContain('listening on');
      const plain = r.stderr.split('\n').filter((l) => l.startsWith('egressd: '));
      expect(plain, r.stderr).toHaveLength(1);
      expect(plain[0]).toMatch(/^egressd: not started: interception CA: /);
      expect(plain[0]).toContain(keyFile);
      expect(plain[0]).toMatch(why);
    });
  }
});

describe('reload with an unusable CA key', () => {
  let originCa: OriginCa;
  let originCert: KeyCert;
  let origin: Origin;
  let px: IcpProxy | undefined;

  beforeAll(async () => {
    originCa = makeOriginCa();
    originCert = originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] });
    origin = await startHttpsOrigin(originCert, 'A');
  });
  afterEach(async () => {
    await px?.close();
    px = undefined;
  });
  afterAll(async () => {
    await origin?.close();
  });

  const upstreamCa = (): Record<string, unknown> => {
    const f = join(dir, 'origin-ca.pem');
    writeFileSync(f, originCa.cert);
    return { proxy: { connectPorts: [origin.port] }, tls: { upstreamCaFiles: [f] } };
  };

  it('the key was spoiled while running: the reload is accepted, the loaded CA stays in force, and an error line names the file', async () => {
    const { dir: d, keyFile } = await caDir('reload-spoiled', null);
    px = await startIcpProxy({ caDir: d, config: upstreamCa() });
    const before = px.proxy.runtime.ca!.sha256;
    writeFileSync(keyFile, BROKEN_KEY);
    const r = await px.reconfigure(upstreamCa());
    expect(r.ok).toBe(true);
    const line = await px.server.waitFor((l) => String(l.msg).includes('CA loaded at start stays in force'));
    expect(line.level).toBe(50);
    expect(String(line.msg)).toContain(keyFile);
    expect(px.proxy.runtime.ca!.sha256).toBe(before);
    // Still intercepting, with leaves from the CA loaded at start.
    const t = await tlsThroughProxy(px.port, `icp.test:${origin.port}`, { servername: 'icp.test', ca: ca.certPem });
    t.tls.destroy();
    expect(t.peer.issuer).toContain('egressd faults test CA');
  });

  it('interception turned on by a reload with an unusable key: tunnels stay untouched, an error line names the file', async () => {
    const { dir: d, keyFile } = await caDir('reload-on', (k) => mkdirSync(k));
    px = await startIcpProxy({ caDir: d, config: merge(upstreamCa(), { tls: { intercept: 'off' } }) });
    const r = await px.reconfigure(merge(upstreamCa(), { tls: { intercept: 'all' } }));
    expect(r.ok).toBe(true);
    const line = await px.server.waitFor((l) => String(l.msg).startsWith('interception unavailable'));
    expect(line.level).toBe(50);
    expect(String(line.err)).toContain(keyFile);
    const t = await tlsThroughProxy(px.port, `icp.test:${origin.port}`, { servername: 'icp.test', ca: originCa.cert });
    t.tls.destroy();
    // The origin's own certificate: not decrypted.
    expect(t.peer.fingerprint256).toBe(originCert.fingerprint256);
  });
});
