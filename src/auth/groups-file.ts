import type { AuthFileProblem } from './identity.js';

/**
 * Groups as in Apache's AuthGroupFile: "group: user1 user2" per line, users separated
 * by spaces. A group may span several lines (they add up), as Apache allows.
 */
export function parseGroupsFile(text: string, file: string): { groups: Map<string, string[]>; problems: AuthFileProblem[] } {
  const groups = new Map<string, string[]>();
  const problems: AuthFileProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const s = raw.trim();
    if (s === '' || s.startsWith('#')) return;
    const colon = s.indexOf(':');
    const name = colon < 0 ? '' : s.slice(0, colon).trim();
    if (name === '' || /\s/.test(name)) {
      problems.push({ file, line: i + 1, col: 1, message: 'expected "group: user1 user2 ..."' });
      return;
    }
    const members = s.slice(colon + 1).split(/\s+/).filter(Boolean);
    groups.set(name, [...(groups.get(name) ?? []), ...members]);
  });
  return { groups, problems };
}

/** Invert group → members into user → groups (sorted, no duplicates). */
export function groupsByUser(...sources: ReadonlyMap<string, readonly string[]>[]): Map<string, readonly string[]> {
  const acc = new Map<string, Set<string>>();
  for (const src of sources) {
    for (const [group, members] of src) {
      for (const u of members) {
        let set = acc.get(u);
        if (!set) acc.set(u, (set = new Set()));
        set.add(group);
      }
    }
  }
  const out = new Map<string, readonly string[]>();
  for (const [u, set] of acc) out.set(u, Object.freeze([...set].sort()));
  return out;
}
