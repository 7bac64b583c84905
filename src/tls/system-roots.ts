import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

/**
 * Where distributions keep the system's trusted roots as one PEM bundle (what
 * `update-ca-certificates` / `update-ca-trust` maintain, including CAs an admin added).
 * Node 20 trusts only its own bundled copy of Mozilla's roots; an egress proxy should
 * trust what the operating system trusts, like curl and Squid do.
 */
export const SYSTEM_BUNDLES: readonly string[] = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Alpine, Arch
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // RHEL, Fedora
  '/etc/pki/tls/certs/ca-bundle.crt', // older RHEL, CentOS
  '/etc/ssl/ca-bundle.pem', // SUSE
  '/etc/ssl/cert.pem', // macOS, FreeBSD, OpenBSD
];

export interface Roots {
  /** PEM certificates (or bundles) to trust. */
  pems: string[];
  /** Where they came from: a bundle path, or "bundled" (Node's built-in list). */
  source: string;
}

/**
 * The roots for upstream verification. `system`: $SSL_CERT_FILE if set (as OpenSSL and
 * curl honour it), else the first readable bundle above, else Node's bundled roots
 * (and the caller says so in the log). `bundled`: Node's built-in list only.
 */
export function upstreamRoots(mode: 'system' | 'bundled', env: NodeJS.ProcessEnv = process.env): Roots {
  if (mode === 'system') {
    const candidates = env.SSL_CERT_FILE ? [env.SSL_CERT_FILE] : SYSTEM_BUNDLES;
    for (const file of candidates) {
      const pem = readBundle(file);
      if (pem) return { pems: [pem], source: file };
    }
  }
  return { pems: [...rootCertificates], source: 'bundled' };
}

function readBundle(file: string): string | undefined {
  try {
    const pem = readFileSync(file, 'utf8');
    return pem.includes('-----BEGIN CERTIFICATE-----') ? pem : undefined;
  } catch {
    return undefined;
  }
}
