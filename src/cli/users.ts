import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';
import { parseHtpasswd, userNameProblem } from '../auth/index.js';
import { writeFileAtomic } from '../tls/atomic-file.js';

export const USERS_HELP = `Usage: egressd users add|passwd|del|list [USER] [options]

Manage the htpasswd file named by auth.users in the config (bcrypt hashes, the
format of Apache's "htpasswd -B"). A running egressd picks changes up without a
restart; a changed or removed user's cached login stops working at once.

Commands:
  add USER      add a user (fails if it exists); creates the file if needed
  passwd USER   set a new password for an existing user
  del USER      remove a user
  list          print the users, one per line, with their groups from the config

The password is asked twice without echo on a terminal, or read as one line from
stdin otherwise:  printf '%s\\n' "$PW" | egressd users add alice -c egressd.yaml

Options:
  -c, --config FILE   config file (default: the shipped policies/egressd.yaml)
  -f, --file FILE     the users file to edit, instead of the config's auth.users
      --cost N        bcrypt cost, 4-15 (default 10)
  -h, --help          this help

The file is written atomically (temp file + rename) with mode 0600.
Exit status: 0 ok, 1 error (user exists or is missing, invalid file), 2 usage error.`;

type Sub = 'add' | 'passwd' | 'del' | 'list';
const SUBS = new Set<Sub>(['add', 'passwd', 'del', 'list']);

class UsageError extends Error {}

export async function usersCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '-h' || sub === '--help' || sub === 'help') {
    process.stdout.write(`${USERS_HELP}\n`);
    return 0;
  }
  try {
    if (sub === undefined || !SUBS.has(sub as Sub)) throw new UsageError(sub === undefined ? 'missing command' : `unknown command "${sub}"`);
    const { values, positionals } = parseArgs({
      args: rest,
      options: { config: { type: 'string', short: 'c' }, file: { type: 'string', short: 'f' }, cost: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      process.stdout.write(`${USERS_HELP}\n`);
      return 0;
    }
    const cost = values.cost === undefined ? 10 : Number(values.cost);
    if (!Number.isInteger(cost) || cost < 4 || cost > 15) throw new UsageError('--cost must be an integer from 4 to 15');
    const wantUser = sub !== 'list';
    if (positionals.length !== (wantUser ? 1 : 0)) throw new UsageError(wantUser ? `"${sub}" takes one USER` : '"list" takes no USER');
    const target = await resolveFile(values.config, values.file);
    return await run(sub as Sub, positionals[0] ?? '', target, cost);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`egressd users: ${err.message}\n\n${USERS_HELP}\n`);
      return 2;
    }
    process.stderr.write(`egressd users${sub ? ` ${sub}` : ''}: ${(err as Error).message}\n`);
    return 1;
  }
}

interface Target {
  file: string;
  groups: Readonly<Record<string, readonly string[]>>;
}

async function resolveFile(config: string | undefined, file: string | undefined): Promise<Target> {
  const [{ loadConfig }, { ConfigError, formatProblem }] = await Promise.all([import('../config/load.js'), import('../config/yaml-source.js')]);
  if (file !== undefined && config === undefined) return { file, groups: {} };
  try {
    const { config: c } = loadConfig(config);
    const f = file ?? c.auth.users;
    if (!f) throw new UsageError('the config has no auth.users file: set it, or give --file');
    return { file: f, groups: c.auth.groups };
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(`the config is invalid:\n${err.problems.map(formatProblem).join('\n')}`);
    throw err;
  }
}

async function run(sub: Sub, user: string, { file, groups }: Target, cost: number): Promise<number> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || sub !== 'add') throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const { entries, problems } = parseHtpasswd(text, file);
  if (problems.length) throw new Error(`the users file is invalid (fix it first):\n${problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`).join('\n')}`);
  if (sub === 'list') {
    for (const e of entries) {
      const gs = Object.entries(groups).filter(([, m]) => m.includes(e.user)).map(([g]) => g).sort();
      process.stdout.write(gs.length ? `${e.user}\t${gs.join(',')}\n` : `${e.user}\n`);
    }
    return 0;
  }
  const problem = userNameProblem(user);
  if (problem) throw new UsageError(problem);
  const existing = entries.find((e) => e.user === user);
  if (sub === 'add' && existing) throw new Error(`user "${user}" already exists in ${file} (use "egressd users passwd ${user}")`);
  if (sub !== 'add' && !existing) throw new Error(`no user "${user}" in ${file}`);
  // Line edits keep the rest of the file (comments, order) as the admin wrote it.
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  if (sub === 'del') {
    lines.splice(existing!.line - 1, 1);
  } else {
    const password = await readPassword();
    if (password === '') throw new Error('the password is empty');
    // $2y$ like Apache's htpasswd -B; bcrypt only uses the first 72 bytes of a password.
    if (Buffer.byteLength(password) > 72) process.stderr.write('warning: bcrypt only uses the first 72 bytes of the password\n');
    const line = `${user}:$2y$${(await bcrypt.hash(password, cost)).slice(4)}`;
    if (existing) lines[existing.line - 1] = line;
    else lines.push(line);
  }
  await writeFileAtomic(file, lines.length ? `${lines.join('\n')}\n` : '', { mode: 0o600, fsync: true });
  process.stdout.write(`${sub === 'add' ? 'added' : sub === 'del' ? 'removed' : 'password changed for'} user "${user}" in ${file}\n`);
  return 0;
}

async function readPassword(): Promise<string> {
  return (await import('./password-prompt.js')).readPassword();
}
