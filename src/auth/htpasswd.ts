import type { AuthFileProblem } from './identity.js';

/**
 * htpasswd files as Apache writes them: one "user:hash" per line. Only bcrypt hashes
 * are accepted ($2y$ from `htpasswd -B`, and the equivalent $2a$/$2b$): the MD5
 * ($apr1$), SHA-1 ({SHA}) and crypt(3) forms are fast to brute-force, so a file with
 * them is refused with the line to fix rather than silently weakened.
 */
export interface HtpasswdEntry {
  user: string;
  hash: string;
  line: number;
}

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

export function isBcrypt(hash: string): boolean {
  const m = BCRYPT.exec(hash);
  return m !== null && Number(m[1]) >= 4 && Number(m[1]) <= 31;
}

function hashKind(hash: string): string {
  if (hash.startsWith('$apr1$')) return 'Apache MD5 ($apr1$)';
  if (hash.startsWith('{SHA}')) return 'SHA-1 ({SHA})';
  if (hash.startsWith('$1$')) return 'MD5-crypt ($1$)';
  if (hash.startsWith('$5$') || hash.startsWith('$6$')) return 'SHA-crypt';
  if (hash.startsWith('$2')) return 'a malformed bcrypt hash';
  return 'crypt(3) or plain text';
}

/** Parse a htpasswd file's text; problems carry `file`:line:col. Blank lines and # comments are skipped. */
export function parseHtpasswd(text: string, file: string): { entries: HtpasswdEntry[]; problems: AuthFileProblem[] } {
  const entries: HtpasswdEntry[] = [];
  const problems: AuthFileProblem[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const s = raw.trim();
    if (s === '' || s.startsWith('#')) return;
    const colon = s.indexOf(':');
    if (colon <= 0) {
      problems.push({ file, line, col: 1, message: 'expected "user:hash"' });
      return;
    }
    const user = s.slice(0, colon);
    const hash = s.slice(colon + 1);
    const col = raw.indexOf(':') + 2;
    if (!isBcrypt(hash)) {
      problems.push({ file, line, col, message: `user "${user}": ${hashKind(hash)} is not supported; only bcrypt hashes ("htpasswd -B" or "egressd users passwd")` });
      return;
    }
    const first = seen.get(user);
    if (first !== undefined) {
      problems.push({ file, line, col: 1, message: `user "${user}" is already defined on line ${first}` });
      return;
    }
    seen.set(user, line);
    entries.push({ user, hash, line });
  });
  return { entries, problems };
}

/** A user name that can be written to a htpasswd file and sent in Basic credentials. */
export function userNameProblem(user: string): string | undefined {
  if (user === '') return 'the user name is empty';
  // RFC 7617 §2: the user-id cannot contain a colon; control characters break the file.
  // eslint-disable-next-line no-control-regex
  if (/[:\x00-\x1f\x7f]/.test(user)) return 'a user name cannot contain ":" or control characters';
  if (/^\s|\s$/.test(user) || user.startsWith('#')) return 'a user name cannot start with "#" or start or end with spaces';
  return undefined;
}

/** Serialise entries back to a file: one line each, in the given order. */
export function formatHtpasswd(entries: readonly { user: string; hash: string }[]): string {
  return entries.map((e) => `${e.user}:${e.hash}\n`).join('');
}
