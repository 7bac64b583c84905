import { compileMinimatch, globSyntaxError, PATH_GLOB_OPTIONS, type Glob } from './glob.js';

/**
 * Normalise a request path for matching, so that equivalent spellings cannot slip
 * past a path rule:
 * - the query and fragment are dropped (path globs match the path only);
 * - percent-encoded unreserved characters are decoded (RFC 3986 §6.2.2.2), so
 *   "/%61dmin" is "/admin"; reserved ones such as %2F stay encoded;
 * - dot segments are removed (RFC 3986 §5.2.4), so "/x/../admin" is "/admin";
 * - runs of "/" collapse to one, as most origin servers treat them.
 * The common case (no "%", no "." segment, no "//") costs one scan and no copy.
 */
export function normalisePathForMatch(raw: string): string {
  let end = raw.length;
  const q = raw.indexOf('?');
  if (q >= 0) end = q;
  const h = raw.indexOf('#');
  if (h >= 0 && h < end) end = h;
  let p = end === raw.length ? raw : raw.slice(0, end);
  if (p === '') return '/';
  if (!p.includes('%') && !p.includes('//') && !p.includes('/.')) return p;
  if (p.includes('%')) p = p.replace(/%([0-9A-Fa-f]{2})/g, decodeUnreserved);
  if (p.includes('//')) p = p.replace(/\/{2,}/g, '/');
  if (p.includes('/.')) p = removeDotSegments(p);
  return p;
}

function decodeUnreserved(match: string, hex: string): string {
  const c = String.fromCharCode(parseInt(hex, 16));
  return /[A-Za-z0-9\-._~]/.test(c) ? c : match.toUpperCase();
}

/** RFC 3986 §5.2.4, on an absolute path. */
function removeDotSegments(p: string): string {
  const out: string[] = [];
  const segs = p.split('/');
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i]!;
    const last = i === segs.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else out.push(s);
  }
  return `/${out.join('/')}`;
}

/**
 * Compile a URL path glob (minimatch, case-sensitive): `/downloads/**` is everything
 * under /downloads/, `/api/*` one segment below /api, `**\/*.exe` any .exe file.
 */
export function parsePathGlob(raw: string): Glob | string {
  if (!raw.startsWith('/') && !raw.startsWith('*')) return `path glob "${raw}" must start with "/" (or "*" / "**")`;
  if (/\s/.test(raw)) return `path glob "${raw}" contains whitespace`;
  if (raw.includes('?') && raw.includes('=')) return `path glob "${raw}" looks like it has a query string: paths are matched without the query`;
  const syntax = globSyntaxError(raw);
  if (syntax) return `invalid glob "${raw}": ${syntax}`;
  return compileMinimatch(raw, PATH_GLOB_OPTIONS);
}
