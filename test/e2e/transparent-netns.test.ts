import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeOriginCa, type KeyCert, type OriginCa } from '../helpers/icp-certs.js';
import { tempFiles } from '../helpers/icp-origin.js';
import { lineAfter, startIcpProxy, type IcpProxy } from '../helpers/icp-proxy.js';
import { startOrigin, type Origin } from '../helpers/origin.js';

/**
 * Transparent mode for real: a client in a network namespace created here, joined to
 * the root namespace by a veth pair, reaches "the internet" (an address routed through
 * the veth) on ports 80 and 443; a nat PREROUTING REDIRECT on the root side of the veth
 * (iptables, else nftables) delivers those connections to egressd's transparent
 * listener. curl inside the namespace knows nothing of a proxy. The origins listen on
 * the root side of the veth; nothing leaves the namespaces created here and loopback.
 *
 * Skipped, with the reason, only when the kernel or the container refuses (no netns,
 * no veth, no nat table); a missing `ip`/`iptables` binary is a failure under CI,
 * where .ci/e2e-deps.sh installs them.
 */

const id = randomBytes(3).toString('hex');
const NS = `egtp-${id}`;
const VETH_ROOT = `egr${id}`;
const VETH_NS = `egn${id}`;
// A private /24 of the 10.x test range for this run's veth only. The "remote" address
// exists nowhere: it is off the veth's subnet (so the namespace routes it to the root
// side instead of looking for it by ARP), and the REDIRECT catches it there.
const SUB = 10 + (process.pid % 200);
const ROOT_IP = `10.213.${SUB}.1`;
const NS_IP = `10.213.${SUB}.2`;
const REMOTE_IP = `10.214.${SUB}.99`;

function run(cmd: string, args: string[], timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err ? String(err.message) : '') });
    });
  });
}

async function must(cmd: string, args: string[]): Promise<void> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
}

let skipReason = '';
/** How the redirect was installed, to undo it exactly. */
let firewall: 'iptables' | 'nft' | null = null;
let nsMade = false;
let originCa: OriginCa;
let originCert: KeyCert;
let httpOrigin: Origin;
let httpsOrigin: Origin;
let files: ReturnType<typeof tempFiles>;
let px: IcpProxy;

const NFT_TABLE = `egressd_test_${id}`;

function redirectRule(port: number, to: number): string[] {
  return ['-t', 'nat', 'PREROUTING', '-i', VETH_ROOT, '-p', 'tcp', '--dport', String(port), '-j', 'REDIRECT', '--to-ports', String(to)];
}

async function installRedirect(to: number): Promise<void> {
  const ipt = await run('iptables', ['-t', 'nat', '-L', 'PREROUTING', '-n']);
  if (ipt.code === 0) {
    firewall = 'iptables'; // set first: afterAll removes whatever part was added
    for (const port of [80, 443]) {
      const [t, nat, chain, ...rest] = redirectRule(port, to);
      await must('iptables', [t!, nat!, '-A', chain!, ...rest]);
    }
    return;
  }
  // No iptables (or its nat table is refused): nftables, in a table of our own.
  const nft = await run('nft', ['add', 'table', 'ip', NFT_TABLE]);
  if (nft.code !== 0) throw new Error(`no nat redirect possible: iptables: ${ipt.stderr.trim()}; nft: ${nft.stderr.trim()}`);
  firewall = 'nft';
  await must('nft', ['add', 'chain', 'ip', NFT_TABLE, 'pre', '{ type nat hook prerouting priority -100 ; }']);
  await must('nft', ['add', 'rule', 'ip', NFT_TABLE, 'pre', 'iifname', VETH_ROOT, 'tcp', 'dport', '{ 80, 443 }', 'redirect', 'to', `:${to}`]);
}

async function removeRedirect(to: number): Promise<void> {
  if (firewall === 'iptables') {
    for (const port of [80, 443]) {
      const [t, nat, chain, ...rest] = redirectRule(port, to);
      await run('iptables', [t!, nat!, '-D', chain!, ...rest]);
    }
  } else if (firewall === 'nft') {
    await run('nft', ['delete', 'table', 'ip', NFT_TABLE]);
  }
}

/** Namespace + veth + addresses + route; throws with the kernel's words when refused. */
async function makeNetwork(): Promise<void> {
  await must('ip', ['netns', 'add', NS]);
  nsMade = true;
  await must('ip', ['link', 'add', VETH_ROOT, 'type', 'veth', 'peer', 'name', VETH_NS]);
  await must('ip', ['link', 'set', VETH_NS, 'netns', NS]);
  await must('ip', ['addr', 'add', `${ROOT_IP}/24`, 'dev', VETH_ROOT]);
  await must('ip', ['link', 'set', VETH_ROOT, 'up']);
  const inNs = (...args: string[]): Promise<void> => must('ip', ['netns', 'exec', NS, 'ip', ...args]);
  await inNs('addr', 'add', `${NS_IP}/24`, 'dev', VETH_NS);
  await inNs('link', 'set', VETH_NS, 'up');
  await inNs('link', 'set', 'lo', 'up');
  // Everything else from the namespace goes to the root side, where the REDIRECT waits.
  await inNs('route', 'add', 'default', 'via', ROOT_IP);
}

beforeAll(async () => {
  for (const tool of ['ip', 'curl']) {
    if ((await run('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`])).code !== 0) {
      if (process.env.CI) throw new Error(`${tool} is not installed (.ci/e2e-deps.sh installs it)`);
      skipReason = `${tool} is not installed (run .ci/e2e-deps.sh as root)`;
      return;
    }
  }
  try {
    await makeNetwork();
  } catch (err) {
    skipReason = `the kernel refused a network namespace or veth pair: ${(err as Error).message}`;
    return;
  }
  originCa = makeOriginCa();
  originCert = originCa.issue({ commonName: 'tls.test', dns: ['tls.test'] });
  const answer = (name: string) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
    res.end(`${name} ${req.method} ${req.url} host=${req.headers.host} from=${req.socket.remoteAddress}`);
  };
  httpOrigin = await startOrigin(answer('http-origin'), { host: ROOT_IP });
  httpsOrigin = await startOrigin(answer('https-origin'), { host: ROOT_IP, tls: { key: originCert.key, cert: originCert.cert } });
  files = tempFiles();
  px = await startIcpProxy({
    hosts: { 'origin.test': ROOT_IP, 'tls.test': ROOT_IP },
    config: {
      listeners: [{ address: ROOT_IP, port: 0, mode: 'transparent', httpPort: httpOrigin.port, tlsPort: httpsOrigin.port }],
      clients: { allow: [`10.213.${SUB}.0/24`] },
      egress: { allowPrivate: [`10.213.${SUB}.0/24`] },
      tls: { intercept: 'off' },
      auth: { sources: [{ cidr: `${NS_IP}/32`, user: 'netns-client' }] },
    },
  });
  try {
    await installRedirect(px.port);
  } catch (err) {
    skipReason = `the kernel refused the nat REDIRECT rule: ${(err as Error).message}`;
  }
}, 60_000);

afterAll(async () => {
  if (px) await removeRedirect(px.port);
  await px?.close();
  await httpOrigin?.close();
  await httpsOrigin?.close();
  files?.remove();
  // Deleting the namespace deletes its end of the veth, and with it the pair.
  if (nsMade) await run('ip', ['netns', 'del', NS]);
  await run('ip', ['link', 'del', VETH_ROOT]);
});

/** curl inside the namespace: no proxy settings at all, as a device on a redirected LAN. */
function curlInNs(args: string[]): ReturnType<typeof run> {
  return run('ip', ['netns', 'exec', NS, 'env', '-u', 'http_proxy', '-u', 'https_proxy', '-u', 'HTTP_PROXY', '-u', 'HTTPS_PROXY', 'curl', '-sS', '--noproxy', '*', '--max-time', '10', ...args]);
}

describe('transparent mode in a network namespace (real REDIRECT)', () => {
  it('HTTP to port 80 is redirected to egressd, which goes to the Host and logs mode transparent', async (ctx) => {
    if (skipReason) {
      console.warn(`transparent-netns: SKIPPED, ${skipReason}`);
      ctx.skip(skipReason);
    }
    const mark = px.access.lines.length;
    const r = await curlInNs(['--resolve', `origin.test:80:${REMOTE_IP}`, 'http://origin.test/netns?x=1']);
    expect(r.code, r.stderr).toBe(0);
    // The origin was reached by egressd (from the root side), not by the client.
    expect(r.stdout).toBe(`http-origin GET /netns?x=1 host=origin.test:${httpOrigin.port} from=${ROOT_IP}`);
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'http' && l.url === `http://origin.test:${httpOrigin.port}/netns?x=1`);
    expect(line).toMatchObject({ mode: 'transparent', client: NS_IP, status: 200, user: 'netns-client' });
  });

  it('HTTPS to port 443 is redirected, tunnelled by SNI: curl verifies the origin\'s own certificate', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const caFile = files.write('origin-ca.pem', originCa.cert);
    const mark = px.access.lines.length;
    const r = await curlInNs(['--cacert', caFile, '--resolve', `tls.test:443:${REMOTE_IP}`, 'https://tls.test/secure']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`https-origin GET /secure host=tls.test from=${ROOT_IP}`);
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.sni === 'tls.test');
    expect(line).toMatchObject({ mode: 'transparent', client: NS_IP, tls: 'tunnel', url: `tls.test:${httpsOrigin.port}`, status: 200 });
  });

  it('a connection without a name (TLS without SNI, to the bare address) is closed and logged', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const mark = px.access.lines.length;
    // curl sends no SNI for an IP address; -k so only the proxy's close can fail it.
    const r = await curlInNs(['-k', `https://${REMOTE_IP}/`]);
    expect(r.code).not.toBe(0);
    const line = await lineAfter(px.access, mark, (l) => l.error === 'TRANSPARENT_NO_SNI');
    expect(line).toMatchObject({ mode: 'transparent', client: NS_IP });
  });
});
