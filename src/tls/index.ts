/**
 * TLS interception library: the CA, leaf certificates, and ClientHello peeking.
 * Nothing here keeps global state; the server builds a CA and a LeafFactory and passes them in.
 */
export { TlsError, TLS_ERROR_CODES, isTlsError, type TlsErrorCode } from './errors.js';
export {
  createCa,
  caFromPem,
  DEFAULT_CA_SUBJECT,
  type CertificateAuthority,
  type CaSubject,
  type CreateCaOptions,
  type CaCheckOptions,
} from './ca.js';
export {
  CA_CERT_FILE,
  CA_KEY_FILE,
  caFiles,
  writeCa,
  loadCa,
  loadOrCreateCa,
  keyFileModeWarning,
  type CaFiles,
  type WriteCaOptions,
  type LoadCaOptions,
  type LoadOrCreateCaOptions,
  type LoadOrCreateCaResult,
} from './ca-files.js';
export { describeCa, exportCaPem, exportCaDer, type CaDescription } from './ca-describe.js';
export { normalizeHost, type NormalizedHost, type HostKind } from './host-name.js';
export { generateLeafKey, leafKeyFrom, loadOrCreateLeafKey, type LeafKey } from './leaf-key.js';
export { LeafSigner, MAX_LEAF_VALIDITY_DAYS, type LeafSignerOptions, type LeafCertificate } from './leaf-signer.js';
export { DiskCertStore, type CertStore } from './cert-store.js';
export {
  LeafFactory,
  LEAF_KEY_FILE,
  LEAF_HOSTS_DIR,
  type IssuedLeaf,
  type LeafEvent,
  type LeafFactoryStats,
  type LeafFactoryOptions,
  type CreateLeafFactoryOptions,
} from './leaf-factory.js';
export { parseClientHello, MAX_CLIENT_HELLO, type ClientHelloResult } from './client-hello.js';
export { peekClientHello, type PeekResult } from './peek-client-hello.js';
