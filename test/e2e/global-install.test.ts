import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

/**
 * `npm install -g` of the packed package into a private prefix: the `egressd` command
 * must work from any directory, with its shipped default config, and resolve relative
 * paths in a config against the config file's folder.
 */
describe('installed as a global command', () => {
  let dir: string;
  let bin: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'egressd-global-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root });
    const tarball = join(dir, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
    await run('npm', ['install', '-g', '--prefix', join(dir, 'prefix'), '--no-audit', '--no-fund', tarball], { cwd: dir });
    bin = join(dir, 'prefix', 'bin', 'egressd');
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs --version and --help from an unrelated directory', async () => {
    const pkg = (await import(join(root, 'package.json'), { with: { type: 'json' } })) as { default: { version: string } };
    const v = await run(bin, ['--version'], { cwd: tmpdir() });
    expect(v.stdout.trim()).toBe(pkg.default.version);
    const h = await run(bin, ['--help'], { cwd: tmpdir() });
    expect(h.stdout).toContain('egressd start');
  });

  it('validates its shipped default config and a config elsewhere with relative paths', async () => {
    const shipped = await run(bin, ['check-config'], { cwd: tmpdir() });
    expect(shipped.stdout).toMatch(/^ok: .*policies\/egressd\.yaml/);
    writeFileSync(join(dir, 'site.yaml'), 'policy: { files: [site-policy.yaml] }\nlog: { access: logs/access.log }\n');
    writeFileSync(join(dir, 'site-policy.yaml'), 'version: 1\nrules:\n  - id: default\n    action: allow\n');
    const own = await run(bin, ['check-config', '-c', join(dir, 'site.yaml')], { cwd: tmpdir() });
    expect(own.stdout).toContain(join(dir, 'site-policy.yaml'));
  });
});
