import { watch, type FSWatcher } from 'node:fs';
import type { Config } from '../config/schema.js';
import { ConfigError, type Problem } from '../config/yaml-source.js';
import { loadPolicy, routeProblems, type LoadedPolicy, type Policy } from '../policy/index.js';

/**
 * Load the policy files a config names; null when it names none (allow all). Every
 * rule's `route` must name one of the config's parent groups, its `quota` a profile.
 */
export async function loadPolicyFiles(config: Readonly<Config>): Promise<LoadedPolicy | null> {
  const { files } = config.policy;
  if (files.length === 0) return null;
  const policy = await loadPolicy(files);
  const bad = routeProblems(policy, Object.keys(config.upstream.groups));
  if (bad.length) throw new ConfigError(bad);
  checkQuotaRefs(policy, config.quota.profiles);
  return policy;
}

/** The files a policy was built from: the policy files and the domain lists they read. */
export function filesOf(files: readonly string[], policy: LoadedPolicy | null): string[] {
  return [...new Set([...files, ...(policy?.listFiles ?? [])])];
}

/**
 * Watches policy and list files and calls `onChange` once per burst of changes.
 * Editors save by rename, which ends an fs.watch on the old inode, so the watchers are
 * re-armed after every change.
 */
export class PolicyWatcher {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly onChange: () => void, private readonly debounceMs = 150) {}

  watch(files: readonly string[]): void {
    this.unwatch();
    if (this.closed) return;
    for (const f of files) {
      try {
        const w = watch(f, { persistent: false }, () => this.changed());
        w.on('error', () => {});
        this.watchers.push(w);
      } catch {
        // A missing file is reported by the reload that follows; nothing to watch.
      }
    }
  }

  private changed(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onChange();
    }, this.debounceMs);
  }

  private unwatch(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.unwatch();
  }
}

/**
 * A policy rule's `quota` must name a profile of the config's `quota.profiles`: the two
 * files are validated apart, so the cross-reference is checked when both are loaded
 * (start, reload, check-config). Throws a ConfigError at the rule's position.
 */
export function checkQuotaRefs(policy: Policy | null, profiles: Readonly<Record<string, unknown>>): void {
  if (!policy) return;
  const problems: Problem[] = [];
  const known = Object.keys(profiles);
  for (const r of policy.rules) {
    const q = r.decision.quota;
    if (q !== undefined && !Object.hasOwn(profiles, q)) {
      problems.push({ file: r.file, line: r.line, col: 1, message: `rule "${r.id}": unknown quota profile "${q}" (config quota.profiles: ${known.join(', ') || 'none defined'})` });
    }
  }
  if (problems.length) throw new ConfigError(problems);
}
