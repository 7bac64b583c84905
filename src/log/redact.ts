/**
 * What of a request's URL may go into a log line. Credentials never do (a userinfo
 * part, `http://user:pass@host/` or a CONNECT to `user:pass@host:443`, is refused as a
 * target but its refusal is logged);
 * query values only when the config allows (`log.redact.query: false`, the default),
 * since they often carry tokens and personal data. Parameter names are kept: they say
 * what kind of request it was.
 */
export function redactUrl(url: string, query: boolean): string {
  let out = url;
  // Absolute form (scheme://user:pass@host/), and authority form as a CONNECT target
  // (user:pass@host:443, refused, but its log line still shows what was asked for).
  if (out.includes('@')) out = out.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@').replace(/^(?![a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '***@');
  if (!query) return out;
  const q = out.indexOf('?');
  if (q < 0) return out;
  const hash = out.indexOf('#', q);
  const params = out.slice(q + 1, hash < 0 ? undefined : hash);
  const masked = params
    .split('&')
    .map((p) => {
      const eq = p.indexOf('=');
      return eq < 0 ? p : `${p.slice(0, eq)}=***`;
    })
    .join('&');
  return `${out.slice(0, q)}?${masked}`;
}
