import { STATUS_CODES } from 'node:http';

export interface PageInfo {
  status: number;
  code: string;
  reason: string;
  requestId: string;
  /** What was requested, e.g. "GET http://example.com/" or "CONNECT example.com:443". */
  target?: string;
  adminContact?: string;
  proxyName: string;
  /** Policy rule that decided, for denials. */
  ruleId?: string;
}

const escapeMap: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => escapeMap[c]!);
}

/** Does the client want HTML? Browsers send Accept with text/html; curl and libraries do not. */
export function wantsHtml(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('text/html');
}

/** One-line plain text body: what a script or `curl` user sees. */
export function errorText(p: PageInfo): string {
  const rule = p.ruleId ? `, rule ${p.ruleId}` : '';
  return `${p.status} ${STATUS_CODES[p.status] ?? ''}: ${p.reason} (${p.code}${rule}, request ${p.requestId})\n`;
}

const TITLES: Record<string, string> = {
  POLICY_DENIED: "Blocked by your organisation's web policy",
  QUOTA_VOLUME: 'Your transfer quota is used up',
  QUOTA_RATE: 'Too many requests: slow down',
  QUOTA_CONCURRENT: 'Too many connections at once',
};

/** Self-contained HTML error page (no external assets: the proxy may be what is failing). */
export function errorHtml(p: PageInfo): string {
  const title = TITLES[p.code] ?? `${p.status} ${STATUS_CODES[p.status] ?? 'Error'}`;
  const rows: [string, string][] = [
    ['Reason', p.reason],
    ['Code', p.code],
    ...(p.ruleId ? ([['Rule', p.ruleId]] as [string, string][]) : []),
    ...(p.target ? ([['Request', p.target]] as [string, string][]) : []),
    ['Request ID', p.requestId],
    ['Time', new Date().toISOString()],
  ];
  const contact = p.adminContact
    ? `<p>If you think this is wrong, contact <strong>${escapeHtml(p.adminContact)}</strong> and quote the request ID.</p>`
    : '<p>If you think this is wrong, contact your IT helpdesk and quote the request ID.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:40rem;margin:10vh auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin:0 0 1rem}th{text-align:left;padding-right:1rem;color:#5a6275;vertical-align:top}
td{word-break:break-all}footer{margin-top:1.5rem;font-size:.85rem;color:#5a6275}</style></head>
<body><main><h1>${escapeHtml(title)}</h1>
<table>${rows.map(([k, v]) => `<tr><th>${k}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>
${contact}<footer>${escapeHtml(p.proxyName)}</footer></main></body></html>
`;
}

/** Shown to someone who browses to the proxy itself instead of configuring it as a proxy. */
export function helpHtml(proxyName: string, hostHeader: string): string {
  const hp = escapeHtml(hostHeader || '<proxy-host>:3128');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(proxyName)}: this is a proxy</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:10vh auto;padding:0 1rem;color:#1d2330}code{background:#eef;padding:0 .2rem}</style>
</head><body><h1>This is ${escapeHtml(proxyName)}, an HTTP proxy</h1>
<p>It is not a web site. Configure it as your proxy instead of browsing to it:</p>
<ul><li>Environment: <code>HTTP_PROXY=http://${hp}</code> and <code>HTTPS_PROXY=http://${hp}</code></li>
<li>curl: <code>curl -x http://${hp} https://example.com/</code></li>
<li>Browsers: use the system or PAC proxy settings your IT team provides.</li></ul>
</body></html>
`;
}
