import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthFileError, FileUserStore, formatHtpasswd, parseHtpasswd, userNameProblem } from '../../src/auth/index.js';
import { groupsByUser, parseGroupsFile } from '../../src/auth/groups-file.js';

/** htpasswd and groups file parsing, and the file store's verification. */

// Written by Apache's `htpasswd -nbB -C 5 alice 'correct horse'` (apache2-utils 2.4).
const APACHE_2Y = 'alice:$2y$05$C72ehx3iTX1KE4s6QQ0D2e7finSQNu6a.5hmxabk4tMXxc1OxvkTq';
const hash = (pw: string): string => bcrypt.hashSync(pw, 4);

const dir = mkdtempSync(join(tmpdir(), 'egressd-htpasswd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe('parseHtpasswd', () => {
  const b = hash('x').slice(4); // the part after "$2b$"
  it.each([
    ['$2y$ (Apache htpasswd -B)', `u:$2y$${b}`],
    ['$2a$', `u:$2a$${b}`],
    ['$2b$', `u:$2b$${b}`],
  ])('accepts %s', (_name, line) => {
    const r = parseHtpasswd(`${line}\n`, 'f');
    expect(r.problems).toEqual([]);
    expect(r.entries.map((e) => e.user)).toEqual(['u']);
  });

  it.each([
    ['bob:$apr1$.dZ.NcuC$fpn8QSTV2eAk2oeZjmckF.', /Apache MD5/],
    ['carol:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=', /SHA-1/],
    ['dave:$1$abc$defghijklmnopqrstuvwx', /MD5-crypt/],
    ['erin:$6$salt$hash', /SHA-crypt/],
    ['frank:abJnggxhB/yWI', /crypt\(3\) or plain text/],
    ['gina:$2y$05$tooShort', /malformed bcrypt/],
    ['nocolon', /expected "user:hash"/],
  ])('rejects %s with a clear message and its line', (line, message) => {
    const r = parseHtpasswd(`# comment\n\n${line}\n`, '/etc/egressd/users');
    expect(r.entries).toEqual([]);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ file: '/etc/egressd/users', line: 3 });
    expect(r.problems[0]!.message).toMatch(message);
  });

  it('reports a user defined twice, with the first line', () => {
    const r = parseHtpasswd(`a:$2b$${b}\nc:$2b$${b}\na:$2b$${b}\n`, 'f');
    expect(r.problems).toEqual([{ file: 'f', line: 3, col: 1, message: 'user "a" is already defined on line 1' }]);
  });

  it('round-trips through formatHtpasswd', () => {
    const entries = [{ user: 'a', hash: `$2y$${b}` }, { user: 'b', hash: `$2b$${b}` }];
    expect(parseHtpasswd(formatHtpasswd(entries), 'f').entries.map(({ user, hash }) => ({ user, hash }))).toEqual(entries);
  });

  it.each([
    ['alice', undefined],
    ['', /empty/],
    ['a:b', /":"/],
    ['a\nb', /control/],
    [' a', /spaces/],
    ['#a', /#/],
  ])('user name %j', (name, problem) => {
    const p = userNameProblem(name);
    if (problem === undefined) expect(p).toBeUndefined();
    else expect(p).toMatch(problem);
  });
});

describe('groups file', () => {
  it('parses "group: user1 user2", adds up repeated groups, and inverts to user → groups', () => {
    const r = parseGroupsFile('# g\nstaff: alice bob\nadmins:alice\nstaff: carol\n', 'g');
    expect(r.problems).toEqual([]);
    expect(r.groups.get('staff')).toEqual(['alice', 'bob', 'carol']);
    const byUser = groupsByUser(r.groups, new Map([['ops', ['bob']]]));
    expect(byUser.get('alice')).toEqual(['admins', 'staff']);
    expect(byUser.get('bob')).toEqual(['ops', 'staff']);
  });

  it('reports a line without "group:" with its position', () => {
    const r = parseGroupsFile('staff: a\njust words\n', 'g');
    expect(r.problems).toEqual([{ file: 'g', line: 2, col: 1, message: 'expected "group: user1 user2 ..."' }]);
  });
});

describe('FileUserStore', () => {
  it('verifies an Apache htpasswd -B ($2y$) hash', async () => {
    const store = new FileUserStore({ usersFile: file('apache', `${APACHE_2Y}\n`), groupsFile: null, groups: {} });
    expect(await store.verify('alice', 'correct horse')).toMatchObject({ user: 'alice', via: 'file' });
    expect(await store.verify('alice', 'correct horsE')).toBeNull();
    expect(await store.verify('nobody', 'correct horse')).toBeNull();
  });

  it('fails to load a file with a bad hash, naming file:line:col', () => {
    const f = file('bad', `ok:${hash('x')}\nbob:$apr1$.dZ.NcuC$fpn8QSTV2eAk2oeZjmckF.\n`);
    expect(() => new FileUserStore({ usersFile: f, groupsFile: null, groups: {} })).toThrow(AuthFileError);
    expect(() => new FileUserStore({ usersFile: f, groupsFile: null, groups: {} })).toThrow(`${f}:2:5: user "bob": Apache MD5`);
  });

  it('fails to load a missing file', () => {
    expect(() => new FileUserStore({ usersFile: join(dir, 'missing'), groupsFile: null, groups: {} })).toThrow(/missing:1:1: cannot read: ENOENT/);
  });

  it('merges config and file groups; the revision changes with the hash or the groups', () => {
    const users = file('u', `alice:${hash('a')}\n`);
    const groups = file('g', 'staff: alice\n');
    const store = new FileUserStore({ usersFile: users, groupsFile: groups, groups: { admins: ['alice'] } });
    expect(store.groupsOf('alice')).toEqual(['admins', 'staff']);
    const r1 = store.revision('alice');
    writeFileSync(groups, 'ops: alice\n');
    expect(store.reload()).toEqual([]);
    const r2 = store.revision('alice');
    expect(r2).not.toBe(r1);
    writeFileSync(users, `alice:${hash('b')}\n`);
    store.reload();
    expect(store.revision('alice')).not.toBe(r2);
    writeFileSync(users, '');
    store.reload();
    expect(store.revision('alice')).toBeUndefined();
  });

  it('keeps the previous users when a reload finds a problem', async () => {
    const users = file('keep', `alice:${hash('a')}\n`);
    const store = new FileUserStore({ usersFile: users, groupsFile: null, groups: {} });
    writeFileSync(users, 'alice:plaintext\n');
    expect(store.reload()[0]).toMatchObject({ line: 1, message: expect.stringMatching(/plain text/) });
    expect(await store.verify('alice', 'a')).not.toBeNull();
  });
});
