import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createCa, type CertificateAuthority } from '../tls/ca.js';
import { describeCa, exportCaDer, exportCaPem } from '../tls/ca-describe.js';
import { caFiles, keyFileModeWarning, loadCa, writeCa, type CaFiles } from '../tls/ca-files.js';
import { TlsError } from '../tls/errors.js';

/**
 * The bodies of `egressd ca init|show|export`. Loaded only once the arguments parse
 * (src/cli/ca.ts), so help and usage errors do not pay for zod, yaml and node-forge.
 * Failures are thrown: TlsError (exit 1), UsageError (exit 2), ConfigError (exit 2).
 */

const DAY_MS = 86_400_000;

type CaConfig = Config['tls']['ca'];
export type CaValues = Record<string, string | boolean | undefined>;
export type CaSubcommand = 'init' | 'show' | 'export';

/** Bad arguments found after parsing (exit 2). */
export class UsageError extends Error {}

const RUN: Record<CaSubcommand, (ca: CaConfig, values: CaValues) => Promise<number>> = {
  init: initCa,
  show: showCa,
  export: exportCa,
};

export async function runCaCommand(sub: CaSubcommand, values: CaValues): Promise<number> {
  const { config } = loadConfig(values.config as string | undefined);
  return RUN[sub](config.tls.ca, values);
}

async function initCa(ca: CaConfig, values: CaValues): Promise<number> {
  const files = caFiles(ca.dir);
  const existing = await existingFiles(files);
  if (existing.length > 0 && !values.force) {
    throw new TlsError(
      'CA_EXISTS',
      `a CA already exists in ${ca.dir} (${existing.map((f) => basename(f)).join(', ')}); refusing to replace it, as devices may trust it: add --force to replace it`,
    );
  }
  const oldFingerprint = existing.includes(files.certFile) ? await fingerprintOf(files.certFile) : undefined;
  const passphrase = passphraseFor(ca);
  const created = await createCa({
    subject: { commonName: ca.commonName, organization: ca.organization },
    validityDays: ca.validityDays,
  });
  await writeCa(ca.dir, created, { passphrase, overwrite: values.force === true });
  const d = describeCa(created);
  const keyNote = passphrase ? `encrypted with $${ca.passphraseEnv}` : `not encrypted; set $${ca.passphraseEnv} to encrypt it`;
  const lines = [
    `${existing.length ? 'replaced the CA' : 'created a CA'} in ${ca.dir}`,
    ...table([
      ['subject', d.subject],
      ['SHA-256', d.fingerprintSha256],
      ['valid until', `${iso(d.notAfter)} (${ca.validityDays} days)`],
      ['certificate', `${files.certFile} (devices must trust it: egressd ca export, docs/deploy-ca.md)`],
      ['private key', `${files.keyFile} (mode ${await modeOf(files.keyFile)}, ${keyNote})`],
    ]),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (existing.length) {
    const old = oldFingerprint ? ` (SHA-256 ${oldFingerprint})` : '';
    process.stderr.write(`warning: devices that trust the old CA${old} must be given the new one\n`);
  }
  return 0;
}

async function showCa(ca: CaConfig, values: CaValues): Promise<number> {
  const { files, authority } = await loadExisting(ca, values);
  const d = describeCa(authority);
  const now = Date.now();
  const keyText = await readFile(files.keyFile, 'latin1');
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(keyText);
  const lines = table([
    ['certificate', files.certFile],
    ['subject', d.subject],
    ['issuer', d.issuer],
    ['self-signed', d.selfSigned ? 'yes' : 'no (an intermediate: devices trust its root instead)'],
    ['serial', d.serialNumber],
    ['not before', iso(d.notBefore)],
    ['not after', `${iso(d.notAfter)} (${daysLeft(d.notAfter.getTime(), now)})`],
    ['public key', d.key],
    ['SHA-256', d.fingerprintSha256],
    ['SHA-1', d.fingerprintSha1],
    ['private key', `${files.keyFile} (mode ${await modeOf(files.keyFile)}, ${encrypted ? 'encrypted' : 'not encrypted'})`],
  ]);
  process.stdout.write(`${lines.join('\n')}\n`);
  const warnings = [await keyFileModeWarning(files.keyFile)];
  if (d.notAfter.getTime() <= now) warnings.push(`the CA expired on ${iso(d.notAfter)}: egressd will not issue certificates with it`);
  if (d.notBefore.getTime() > now) warnings.push(`the CA is valid only from ${iso(d.notBefore)}: check this machine's clock`);
  for (const w of warnings) if (w) process.stderr.write(`warning: ${w}\n`);
  return 0;
}

async function exportCa(ca: CaConfig, values: CaValues): Promise<number> {
  const format = (values.format as 'pem' | 'der' | undefined) ?? 'pem'; // checked by ca.ts
  const out = values.out as string | undefined;
  if (!out && format === 'der' && process.stdout.isTTY) {
    throw new UsageError('refusing to write DER (binary) to a terminal: use --out FILE or redirect stdout');
  }
  const { authority } = await loadExisting(ca, values);
  const data = format === 'der' ? exportCaDer(authority) : exportCaPem(authority);
  if (!out) {
    process.stdout.write(data);
    return 0;
  }
  try {
    await writeFile(out, data, { mode: 0o644 });
  } catch (err) {
    throw new Error(`cannot write ${out}: ${(err as Error).message}`, { cause: err });
  }
  process.stdout.write(`wrote the CA certificate (${format.toUpperCase()}, SHA-256 ${authority.cert.fingerprint256}) to ${out}\n`);
  return 0;
}

/** Load the CA for show/export: expired is fine (they report it), every other problem names the file. */
async function loadExisting(ca: CaConfig, values: CaValues): Promise<{ files: CaFiles; authority: CertificateAuthority }> {
  const files = caFiles(ca.dir);
  const existing = await existingFiles(files);
  const init = `"egressd ca init${values.config ? ` -c ${values.config as string}` : ''}"`;
  if (existing.length === 0) {
    throw new TlsError('CA_UNREADABLE', `no CA in ${ca.dir} (no ${basename(files.certFile)}, no ${basename(files.keyFile)}): create one with ${init}`);
  }
  if (existing.length === 1) {
    const missing = existing[0] === files.certFile ? files.keyFile : files.certFile;
    throw new TlsError('CA_INCOMPLETE', `${missing} is missing; restore it, or remove the other file and run ${init}`);
  }
  const passphrase = passphraseFor(ca);
  try {
    return { files, authority: await loadCa(files, { passphrase, allowExpired: true }) };
  } catch (err) {
    if (!(err instanceof TlsError)) throw err;
    // Make every message name the file(s) and, for passphrase problems, the variable.
    const hint: Partial<Record<TlsError['code'], string>> = {
      CA_PASSPHRASE_REQUIRED: `: set $${ca.passphraseEnv} (tls.ca.passphraseEnv)`,
      CA_BAD_PASSPHRASE: ` (the passphrase in $${ca.passphraseEnv})`,
      CA_KEY_MISMATCH: ` (${files.keyFile} vs ${files.certFile})`,
      CA_NOT_CA: ` (${files.certFile})`,
      CA_UNSUPPORTED_KEY: ` (${files.keyFile})`,
    };
    throw new TlsError(err.code, `${err.message}${hint[err.code] ?? ''}`, { cause: err });
  }
}

function passphraseFor(ca: CaConfig): string | undefined {
  return process.env[ca.passphraseEnv] || undefined;
}

async function existingFiles(files: CaFiles): Promise<string[]> {
  const found: string[] = [];
  for (const file of [files.certFile, files.keyFile]) {
    try {
      await stat(file);
      found.push(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new TlsError('CA_UNREADABLE', `cannot access ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
  }
  return found;
}

/** The fingerprint of the CA being replaced, so the warning can name it; undefined if unparsable. */
async function fingerprintOf(certFile: string): Promise<string | undefined> {
  try {
    return new X509Certificate(await readFile(certFile)).fingerprint256;
  } catch {
    return undefined;
  }
}

async function modeOf(file: string): Promise<string> {
  return `0${((await stat(file)).mode & 0o777).toString(8)}`;
}

function table(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `  ${`${k}:`.padEnd(width)}${v}`);
}

function iso(d: Date): string {
  return d.toISOString().replace('.000Z', 'Z');
}

function daysLeft(notAfter: number, now: number): string {
  const days = Math.floor((notAfter - now) / DAY_MS);
  if (notAfter <= now) return `EXPIRED ${Math.floor((now - notAfter) / DAY_MS)} days ago`;
  return days === 1 ? '1 day left' : `${days} days left`;
}
