import { readFileSync } from 'node:fs';
import { groupsByUser, parseGroupsFile } from './groups-file.js';
import { parseHtpasswd } from './htpasswd.js';
import { AuthFileError, type AuthFileProblem, type Identity } from './identity.js';
import { IN_THREAD, type PasswordCheck } from './password-check.js';
import type { UserStore } from './user-store.js';

export interface FileStoreOptions {
  /** htpasswd file (absolute), or null when users come from LDAP only. */
  usersFile: string | null;
  /** AuthGroupFile-style groups file (absolute), or null. */
  groupsFile: string | null;
  /** Groups given in the config: group → members. */
  groups: Readonly<Record<string, readonly string[]>>;
  /** Where bcrypt runs (the proxy passes its worker thread); default: this thread. */
  passwords?: PasswordCheck;
}

/**
 * A hash of a password nobody has: an unknown user is compared against it, so a wrong
 * user name costs the same bcrypt time as a wrong password and names cannot be probed.
 */
const DUMMY_HASH = '$2b$10$sItA0pka/7lxPT9.qZhMO.0GzZ97OMMD/mjdno/mZ3JljC/uqXPGy';
const NO_GROUPS: readonly string[] = Object.freeze([]);

interface Snapshot {
  hashes: Map<string, string>;
  groups: Map<string, readonly string[]>;
  revisions: Map<string, string>;
}

/**
 * Users from a htpasswd file with bcrypt hashes, groups from the config and a groups
 * file. `reload()` re-reads both files; a file with a problem is rejected as a whole
 * and the previous users stay in force.
 */
export class FileUserStore implements UserStore {
  private snap: Snapshot;
  /** Counts successful loads, so dependents (source identities) know when groups changed. */
  private loads = 0;

  constructor(private readonly opts: FileStoreOptions) {
    this.snap = this.read(); // throws AuthFileError: a broken file stops the start
    this.loads = 1;
  }

  get generation(): number {
    return this.loads;
  }

  get files(): string[] {
    return [this.opts.usersFile, this.opts.groupsFile].filter((f): f is string => f !== null);
  }

  get size(): number {
    return this.snap.hashes.size;
  }

  /** Re-read the files; returns the problems (and keeps the old users) if any. */
  reload(): AuthFileProblem[] {
    try {
      this.snap = this.read();
      this.loads++;
      return [];
    } catch (err) {
      if (err instanceof AuthFileError) return [...err.problems];
      throw err;
    }
  }

  async verify(user: string, password: string): Promise<Identity | null> {
    const hash = this.snap.hashes.get(user);
    // bcryptjs compares the computed and stored hashes in constant time.
    const ok = await (this.opts.passwords ?? IN_THREAD).compare(password, hash ?? DUMMY_HASH);
    return ok && hash !== undefined ? { user, groups: this.groupsOf(user), via: 'file' } : null;
  }

  knows(user: string): boolean {
    return this.snap.hashes.has(user);
  }

  revision(user: string): string | undefined {
    return this.snap.revisions.get(user);
  }

  /** Groups from the config and the groups file (LDAP users get them too). */
  groupsOf(user: string): readonly string[] {
    return this.snap.groups.get(user) ?? NO_GROUPS;
  }

  private read(): Snapshot {
    const problems: AuthFileProblem[] = [];
    const hashes = new Map<string, string>();
    const { usersFile, groupsFile } = this.opts;
    if (usersFile) {
      const parsed = parseHtpasswd(readText(usersFile, problems), usersFile);
      problems.push(...parsed.problems);
      for (const e of parsed.entries) hashes.set(e.user, e.hash);
    }
    let fileGroups = new Map<string, string[]>();
    if (groupsFile) {
      const parsed = parseGroupsFile(readText(groupsFile, problems), groupsFile);
      problems.push(...parsed.problems);
      fileGroups = parsed.groups;
    }
    if (problems.length) throw new AuthFileError(problems);
    const groups = groupsByUser(new Map(Object.entries(this.opts.groups)), fileGroups);
    // The revision covers what a cached credential vouches for: the hash and the groups.
    const revisions = new Map<string, string>();
    for (const [u, h] of hashes) revisions.set(u, `${h}|${(groups.get(u) ?? NO_GROUPS).join(',')}`);
    return { hashes, groups, revisions };
  }
}

function readText(file: string, problems: AuthFileProblem[]): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    problems.push({ file, line: 1, col: 1, message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    return '';
  }
}
