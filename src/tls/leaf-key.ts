import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { writeFileAtomic } from './atomic-file.js';
import { keyIdentifier } from './x509-build.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * The one key pair every leaf certificate shares, as mitmproxy does: generating an RSA key
 * costs ~100 ms, signing a certificate ~1 ms. Sharing is safe because the key never leaves
 * egressd, and each certificate still names its own host.
 */
export interface LeafKey {
  readonly privateKey: KeyObject;
  /** Unencrypted PKCS#8 PEM, for tls.createSecureContext. */
  readonly keyPem: string;
  /** SubjectPublicKeyInfo DER, to recognise certificates issued for this key. */
  readonly spkiDer: Buffer;
  readonly forgePublicKey: forge.pki.rsa.PublicKey;
  /** RFC 5280 §4.2.1.2, identical for every leaf since they share the key. */
  readonly keyIdentifier: Buffer;
}

export function leafKeyFrom(privateKey: KeyObject): LeafKey {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'rsa') {
    // node-forge builds the certificate and can encode only RSA subject keys.
    throw new TypeError('the leaf key must be an RSA private key');
  }
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    spkiDer: publicKey.export({ type: 'spki', format: 'der' }),
    forgePublicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string),
    keyIdentifier: keyIdentifier(publicKey),
  };
}

export async function generateLeafKey(bits = 2048): Promise<LeafKey> {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  return leafKeyFrom(privateKey);
}

export interface LoadedLeafKey {
  key: LeafKey;
  /** 'loaded' from the file; 'created' when there was none; 'replaced' when it was unusable. */
  status: 'loaded' | 'created' | 'replaced';
  reason?: string;
}

/**
 * Load the leaf key from `file`, or generate one and save it (mode 0600). An unreadable or
 * corrupt file is replaced: certificates cached for the old key then fail their key check
 * and are reissued, so nothing is served with a mismatched key.
 */
export async function loadOrCreateLeafKey(file: string): Promise<LoadedLeafKey> {
  let reason: string | undefined;
  try {
    const pem = await readFile(file, 'utf8');
    return { key: leafKeyFrom(createPrivateKey({ key: pem, format: 'pem' })), status: 'loaded' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') reason = (err as Error).message;
  }
  const key = await generateLeafKey();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  if (reason !== undefined) {
    await writeFileAtomic(file, key.keyPem, { mode: 0o600, fsync: true });
    return { key, status: 'replaced', reason };
  }
  try {
    // Exclusive: processes sharing the folder must converge on one key, not on the last writer's.
    await writeFileAtomic(file, key.keyPem, { mode: 0o600, fsync: true, exclusive: true });
    return { key, status: 'created' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const pem = await readFile(file, 'utf8');
    return { key: leafKeyFrom(createPrivateKey({ key: pem, format: 'pem' })), status: 'loaded' };
  }
}
