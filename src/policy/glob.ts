import { Minimatch, type MinimatchOptions } from 'minimatch';

/**
 * Glob flavours used by policy rules.
 *
 * Hosts and URL paths use minimatch. The installed minimatch (11.0.9) matches with a
 * non-backtracking state machine and has no `makeRe`, so a compiled glob is a
 * `Minimatch` instance built once at load; it is immune to ReDoS from admin patterns.
 * `dot: true` because a glob must not silently skip `/.git/` or `/.env`; negation and
 * comments are disabled because `!x` and `#x` in a policy are typos, not features.
 */
const BASE: MinimatchOptions = { dot: true, nonegate: true, nocomment: true };
export const HOST_GLOB_OPTIONS: MinimatchOptions = { ...BASE, nocase: true };
/** Paths are case-sensitive (RFC 3986 §6.2.2.1 only folds scheme and host). */
export const PATH_GLOB_OPTIONS: MinimatchOptions = { ...BASE };

export interface Glob {
  readonly source: string;
  test(s: string): boolean;
}

export function compileMinimatch(pattern: string, options: MinimatchOptions): Glob {
  const mm = new Minimatch(pattern, options);
  return { source: pattern, test: (s) => mm.match(s) };
}

/**
 * Structural check minimatch does not do: it treats an unclosed `[` or `{` as a
 * literal, which in a policy is nearly always a typo that would silently never match.
 * Returns an error message, or undefined when the pattern is well formed.
 */
export function globSyntaxError(pattern: string): string | undefined {
  if (pattern === '') return 'empty pattern';
  const stack: string[] = [];
  const close: Record<string, string> = { ']': '[', '}': '{', ')': '(' };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (stack[stack.length - 1] === '[') {
      // Inside a class everything is literal until the closing bracket.
      if (c === ']') stack.pop();
      continue;
    }
    if (c === '[' || c === '{' || c === '(') stack.push(c);
    else if (c in close) {
      if (stack.pop() !== close[c]) return `unbalanced "${c}" at character ${i + 1}`;
    }
  }
  if (stack.length) return `unclosed "${stack[stack.length - 1]}"`;
  return undefined;
}

export const GLOB_CHARS = /[*?[\]{}()!+@|]/;

/**
 * A simple glob for header values and media types, where `/` is ordinary text
 * ("Mozilla/5.0 (X11; ...)", "video/mp4"): `*` is any run of characters, `?` any one
 * character, everything else literal; case-insensitive and anchored.
 */
export function compileValueGlob(glob: string): RegExp {
  let re = '';
  for (const c of glob) {
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else re += c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'is');
}
