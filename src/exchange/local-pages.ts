import type { ServerResponse } from 'node:http';
import { escapeHtml, helpHtml } from '../http/pages.js';
import type { Runtime } from './runtime.js';
import { generatePac } from '../pac/generate.js';

/** The interception CA as devices download it. */
export interface CaDownload {
  pem: string;
  der: Buffer;
  sha256: string;
  subject: string;
}

const CA_PATHS = new Set(['/egressd-ca.crt', '/egressd-ca.pem', '/egressd-ca.der']);

/**
 * Requests addressed to the proxy itself (origin form on a forward listener, the
 * reserved tls.onboardingHost through any listener): the help page, and, when
 * interception is on and `tls.serveCa` allows it, the CA for devices to install (like
 * mitmproxy's mitm.it) with the PAC URL. Never the key.
 */
export function serveLocal(rt: Runtime, path: string, method: string, host: string, res: ServerResponse): number {
  const ca = rt.config.tls.serveCa ? rt.ca : null;
  const p = path.split('?')[0];
  if (ca && (p === '/egressd-ca.crt' || p === '/egressd-ca.pem')) {
    return send(res, method, 200, 'application/x-x509-ca-cert', ca.pem, { 'content-disposition': 'attachment; filename="egressd-ca.crt"' });
  }
  if (ca && p === '/egressd-ca.der') {
    return send(res, method, 200, 'application/pkix-cert', ca.der, { 'content-disposition': 'attachment; filename="egressd-ca.der"' });
  }
  if (p === '/proxy.pac' || p === '/wpad.dat') return servePac(rt, method, host, res);
  if (CA_PATHS.has(p!)) {
    // Not the help page: a device script fetching the CA must see that it failed.
    return send(res, method, 404, 'text/plain; charset=utf-8', 'the interception CA is not served here (interception is off or tls.serveCa is false)\n');
  }
  let html = helpHtml(rt.config.proxy.name, host);
  if (ca) html = html.replace('</body>', onboarding(ca, rt.config.pac.enabled ? `http://${proxyAddress(rt, host, res)}/proxy.pac` : null));
  return send(res, method, 200, 'text/html; charset=utf-8', html);
}

/** The onboarding part of the page: the CA (PEM, DER, fingerprint), the PAC URL, install steps. */
function onboarding(ca: CaDownload, pacUrl: string | null): string {
  const pac = pacUrl
    ? `<h2>Automatic proxy configuration</h2>
<p>PAC file: <a href="${escapeHtml(pacUrl)}"><code>${escapeHtml(pacUrl)}</code></a> (set it as the "automatic proxy configuration URL").</p>
`
    : '';
  return `<h2>Install the inspection certificate</h2>
<p>This proxy inspects HTTPS traffic. Your device must trust its certificate authority
<code>${escapeHtml(ca.subject)}</code>, SHA-256 fingerprint:</p>
<p><code style="word-break:break-all">${escapeHtml(ca.sha256)}</code></p>
<ul><li><a href="/egressd-ca.crt">egressd-ca.crt</a> (PEM: Linux, macOS, Firefox, most tools)</li>
<li><a href="/egressd-ca.der">egressd-ca.der</a> (DER: Windows, Android, Java)</li></ul>
<ul><li>Windows: <code>certutil -addstore -f Root egressd-ca.der</code> (admin)</li>
<li>macOS: <code>sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain egressd-ca.crt</code></li>
<li>Debian/Ubuntu: copy to <code>/usr/local/share/ca-certificates/egressd-ca.crt</code>, run <code>sudo update-ca-certificates</code></li>
<li>RHEL/Fedora: copy to <code>/etc/pki/ca-trust/source/anchors/</code>, run <code>sudo update-ca-trust</code></li>
<li>Node: <code>NODE_EXTRA_CA_CERTS=egressd-ca.crt</code>; Python: <code>REQUESTS_CA_BUNDLE</code>; git: <code>GIT_SSL_CAINFO</code></li></ul>
<p>Compare the fingerprint with the one your IT team published before trusting it.
Managed devices get it automatically (see docs/deploy-ca.md).</p>
${pac}</body>`;
}

/**
 * The PAC file, for browsers and WPAD. The proxy address in it is the configured one,
 * else the address the client used to fetch it (its Host header), else the listener's.
 */
function servePac(rt: Runtime, method: string, hostHeader: string, res: ServerResponse): number {
  const pac = rt.config.pac;
  if (!pac.enabled) return send(res, method, 404, 'text/plain; charset=utf-8', 'no PAC file is served here (pac.enabled is false)\n');
  const body = generatePac({ ...pac, proxy: proxyAddress(rt, hostHeader, res), ...(pac.backup ? { backup: pac.backup } : {}) });
  return send(res, method, 200, 'application/x-ns-proxy-autoconfig', body);
}

/** host:port clients reach egressd at: pac.proxy, else the Host the page was fetched with, else the listener's. */
function proxyAddress(rt: Runtime, hostHeader: string, res: ServerResponse): string {
  const sock = res.socket;
  const listener = sock?.localAddress ? `${sock.localAddress.includes(':') ? `[${sock.localAddress}]` : sock.localAddress}:${sock.localPort}` : '';
  return rt.config.pac.proxy ?? (/^[^\s/]+:\d+$/.test(hostHeader) ? hostHeader : listener);
}

function send(res: ServerResponse, method: string, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): number {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
  res.end(method === 'HEAD' ? undefined : body);
  return status;
}
