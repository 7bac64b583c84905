/**
 * Failures of the TLS library (CA handling, leaf issuance, host names). They happen at
 * startup or before a handshake, not as HTTP responses, so they carry a stable `code` and
 * no status: the tunnel maps the few that reach a client (INVALID_HOST) to a ProxyError.
 * Tests and callers match on `code`, never on message text.
 */
export const TLS_ERROR_CODES = [
  /** ca.pem or ca-key.pem is missing, unreadable, or holds no parsable PEM. */
  'CA_UNREADABLE',
  /** Only one of the two CA files exists: refuse to guess (and never overwrite a key). */
  'CA_INCOMPLETE',
  /** The private key does not belong to the certificate. */
  'CA_KEY_MISMATCH',
  /** The certificate is not allowed to sign certificates (RFC 5280 §4.2.1.9, §4.2.1.3). */
  'CA_NOT_CA',
  /** The CA certificate's validity has ended (RFC 5280 §4.1.2.5). */
  'CA_EXPIRED',
  /** The CA certificate's validity has not begun: a wrong clock or a wrong file. */
  'CA_NOT_YET_VALID',
  /** The key is encrypted and no passphrase was given. */
  'CA_PASSPHRASE_REQUIRED',
  /** A passphrase was given but does not decrypt the key. */
  'CA_BAD_PASSPHRASE',
  /** The CA key type cannot sign leaves here (only RSA and EC P-256/384/521). */
  'CA_UNSUPPORTED_KEY',
  /** Refusing to overwrite an existing CA. */
  'CA_EXISTS',
  /** Writing the CA files failed (permissions, disk full). */
  'CA_WRITE_FAILED',
  /** An option out of range (validity days, subject attribute length). */
  'INVALID_OPTIONS',
  /** A host name that cannot be put in a certificate (empty, wildcard, bad characters). */
  'INVALID_HOST',
  /** Building or signing a leaf certificate failed unexpectedly. */
  'LEAF_ISSUE_FAILED',
] as const;

export type TlsErrorCode = (typeof TLS_ERROR_CODES)[number];

export class TlsError extends Error {
  constructor(
    readonly code: TlsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TlsError';
  }
}

export function isTlsError(err: unknown, code?: TlsErrorCode): err is TlsError {
  return err instanceof TlsError && (code === undefined || err.code === code);
}
