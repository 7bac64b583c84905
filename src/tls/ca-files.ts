import { createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from './atomic-file.js';
import { caFromPem, createCa, type CaCheckOptions, type CertificateAuthority, type CreateCaOptions } from './ca.js';
import { TlsError, isTlsError } from './errors.js';

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca-key.pem';

export interface CaFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export function caFiles(dir: string): CaFiles {
  return { certFile: join(dir, CA_CERT_FILE), keyFile: join(dir, CA_KEY_FILE) };
}

export interface WriteCaOptions {
  /** Encrypt the key PEM (PKCS#8, AES-256-CBC, PBKDF2) with this passphrase. */
  passphrase?: string;
  /** Replace an existing CA; default false, and CA_EXISTS is thrown instead. */
  overwrite?: boolean;
}

/**
 * Write ca.pem (0644) and ca-key.pem (0600). Both are written atomically, the key durably;
 * without `overwrite` neither file is ever replaced, so two processes starting at once
 * cannot end up holding different CAs.
 */
export async function writeCa(dir: string, ca: CertificateAuthority, options: WriteCaOptions = {}): Promise<CaFiles> {
  const files = caFiles(dir);
  const keyPem = options.passphrase
    ? ca.key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: options.passphrase })
    : ca.key.export({ type: 'pkcs8', format: 'pem' });
  const exclusive = !options.overwrite;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // The key first: a crash in between leaves a key without a certificate (CA_INCOMPLETE),
    // never a trusted certificate whose key is lost.
    await writeFileAtomic(files.keyFile, keyPem, { mode: 0o600, fsync: true, exclusive });
    try {
      await writeFileAtomic(files.certFile, ca.chainPem || ca.certPem, { mode: 0o644, fsync: true, exclusive });
    } catch (err) {
      if (exclusive) await unlink(files.keyFile).catch(() => undefined); // ours: we just created it
      throw err;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new TlsError('CA_EXISTS', `a CA already exists in ${dir}; refusing to overwrite it`, { cause: err });
    }
    throw new TlsError('CA_WRITE_FAILED', `cannot write the CA to ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return files;
}

export interface LoadCaOptions extends CaCheckOptions {
  /** Passphrase for an encrypted key (the CLI reads it from an environment variable). */
  passphrase?: string;
}

/** Load and validate a CA from a folder (ca.pem + ca-key.pem) or from explicit file paths. */
export async function loadCa(location: string | CaFiles, options: LoadCaOptions = {}): Promise<CertificateAuthority> {
  const files = typeof location === 'string' ? caFiles(location) : location;
  const [certText, keyText] = await Promise.all([readOrThrow(files.certFile), readOrThrow(files.keyFile)]);
  return caFromPem(certText, parseKey(keyText.toString('latin1'), files.keyFile, options.passphrase), options);
}

export interface LoadOrCreateCaOptions extends LoadCaOptions {
  /** Used only when the folder holds no CA yet. */
  create?: CreateCaOptions;
}

export interface LoadOrCreateCaResult {
  ca: CertificateAuthority;
  /** True when a new CA was generated: the caller should log it loudly (devices must trust it). */
  created: boolean;
  /** Non-fatal findings, such as a key file readable by others. */
  warnings: string[];
}

/** Load the CA in `dir`, or create and write one if the folder has neither file. */
export async function loadOrCreateCa(dir: string, options: LoadOrCreateCaOptions = {}): Promise<LoadOrCreateCaResult> {
  const files = caFiles(dir);
  const [hasCert, hasKey] = await Promise.all([exists(files.certFile), exists(files.keyFile)]);
  if (hasCert !== hasKey) {
    const missing = hasCert ? files.keyFile : files.certFile;
    throw new TlsError('CA_INCOMPLETE', `${missing} is missing; restore it, or remove the other file to create a new CA`);
  }
  if (!hasCert) {
    const ca = await createCa({ now: options.now, ...options.create });
    try {
      await writeCa(dir, ca, { passphrase: options.passphrase });
      return { ca, created: true, warnings: [] };
    } catch (err) {
      if (!isTlsError(err, 'CA_EXISTS')) throw err;
      // Another process sharing this folder won the race: use its CA.
      return { ca: await loadRacing(files, options), created: false, warnings: [] };
    }
  }
  const ca = await loadCa(files, options);
  const warning = await keyFileModeWarning(files.keyFile);
  return { ca, created: false, warnings: warning ? [warning] : [] };
}

/** A warning when the key is readable by group or others, as ssh does for its keys. */
export async function keyFileModeWarning(keyFile: string): Promise<string | undefined> {
  if (process.platform === 'win32') return undefined;
  const mode = (await stat(keyFile)).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  return `${keyFile} has mode 0${mode.toString(8)}; anyone who can read it can impersonate any site to your devices: chmod 600 it`;
}

// The winner of a creation race writes the key, then the certificate; wait for both.
async function loadRacing(files: CaFiles, options: LoadCaOptions): Promise<CertificateAuthority> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await loadCa(files, options);
    } catch (err) {
      if (attempt >= 50 || !isTlsError(err, 'CA_UNREADABLE')) throw err;
      await sleep(100);
    }
  }
}

function parseKey(pem: string, file: string, passphrase: string | undefined): KeyObject {
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem);
  if (encrypted && !passphrase) {
    throw new TlsError('CA_PASSPHRASE_REQUIRED', `${file} is encrypted and no passphrase was given`);
  }
  try {
    return createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch (cause) {
    if (encrypted) throw new TlsError('CA_BAD_PASSPHRASE', `the passphrase does not decrypt ${file}`, { cause });
    throw new TlsError('CA_UNREADABLE', `${file} holds no parsable PEM private key`, { cause });
  }
}

async function readOrThrow(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new TlsError('CA_UNREADABLE', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw new TlsError('CA_UNREADABLE', `cannot access ${file}: ${err.message}`, { cause: err });
    },
  );
}
