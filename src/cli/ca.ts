import { parseArgs } from 'node:util';
import { TlsError } from '../tls/errors.js';
import type { CaSubcommand, CaValues } from './ca-commands.js';

export const CA_HELP = `Usage: egressd ca init|show|export [options]

Manage the CA that egressd signs the certificates of intercepted sites with. It lives
in tls.ca.dir of the config (ca.pem, and ca-key.pem at mode 0600). Devices must trust
ca.pem: see docs/deploy-ca.md.

Commands:
  init     create the CA (never replaces one without --force)
  show     subject, issuer, serial, validity, fingerprints, key file mode
  export   write the CA certificate (never the key) as PEM or DER

"egressd ca COMMAND --help" for a command's options.
Exit status: 0 ok, 1 CA error (missing, unreadable, wrong passphrase, key mismatch),
2 usage or config error.`;

const CONFIG_OPT = `  -c, --config FILE    config file (default: the shipped policies/egressd.yaml)`;
const PASSPHRASE_NOTE = `An encrypted key is read with the passphrase in the environment variable
named by tls.ca.passphraseEnv (default EGRESSD_CA_PASSPHRASE).`;

const INIT_HELP = `Usage: egressd ca init [-c FILE] [--force]

Create a new self-signed CA in tls.ca.dir: ca.pem and ca-key.pem (mode 0600).
Subject and validity come from tls.ca.commonName, tls.ca.organization and
tls.ca.validityDays. When the environment variable named by tls.ca.passphraseEnv
(default EGRESSD_CA_PASSPHRASE) is set, the key is encrypted with it (PKCS#8,
AES-256-CBC); egressd then needs that variable to start.
Prints the subject, the SHA-256 fingerprint and the file paths.

Options:
${CONFIG_OPT}
  -f, --force          replace an existing CA; every device that trusts the old
                       one must be given the new one
  -h, --help           this help`;

const SHOW_HELP = `Usage: egressd ca show [-c FILE]

Print the CA's subject, issuer, serial, validity (and days left), SHA-256 and SHA-1
fingerprints (compare them with what a device shows before trusting a file), whether it
is self-signed, and the key file's mode (with a warning if others can read it). The key is
loaded to check that it belongs to the certificate. ${PASSPHRASE_NOTE}

Options:
${CONFIG_OPT}
  -h, --help           this help`;

const EXPORT_HELP = `Usage: egressd ca export [-c FILE] [--format pem|der] [--out FILE]

Write the CA certificate, never its key, to stdout or FILE: PEM (default) for Linux,
macOS, Firefox and runtimes; DER (.cer) for Windows, MDM consoles and Java. The key is
loaded to check that it belongs to the certificate, so what you export is what egressd
signs with. ${PASSPHRASE_NOTE}

Options:
${CONFIG_OPT}
  -f, --format FORMAT  pem (default) or der
  -o, --out FILE       write to FILE (mode 0644) instead of stdout
  -h, --help           this help`;

interface Subcommand {
  help: string;
  options: NonNullable<Parameters<typeof parseArgs>[0]>['options'];
}

const SUBCOMMANDS: Record<CaSubcommand, Subcommand> = {
  init: { help: INIT_HELP, options: { force: { type: 'boolean', short: 'f' } } },
  show: { help: SHOW_HELP, options: {} },
  export: { help: EXPORT_HELP, options: { format: { type: 'string', short: 'f' }, out: { type: 'string', short: 'o' } } },
};

export async function caCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '-h' || sub === '--help' || sub === 'help') {
    process.stdout.write(`${CA_HELP}\n`);
    return 0;
  }
  const spec = sub !== undefined && Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub as CaSubcommand] : undefined;
  if (!spec) {
    process.stderr.write(`egressd ca: ${sub === undefined ? 'missing command' : `unknown command "${sub}"`}\n\n${CA_HELP}\n`);
    return 2;
  }
  const name = `egressd ca ${sub}`;
  let values: CaValues;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { ...spec.options, config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }) as { values: CaValues });
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\n\n${spec.help}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${spec.help}\n`);
    return 0;
  }
  if (values.format !== undefined && values.format !== 'pem' && values.format !== 'der') {
    process.stderr.write(`${name}: --format must be pem or der, got "${String(values.format)}"\n\n${spec.help}\n`);
    return 2;
  }
  // Loaded on demand: help and usage errors stay fast.
  const [{ runCaCommand, UsageError }, { ConfigError, formatProblem }] = await Promise.all([
    import('./ca-commands.js'),
    import('../config/yaml-source.js'),
  ]);
  try {
    return await runCaCommand(sub as CaSubcommand, values);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`${name}: ${err.message}\n\n${spec.help}\n`);
      return 2;
    }
    if (err instanceof TlsError) {
      process.stderr.write(`${name}: ${err.message} [${err.code}]\n`);
      return 1;
    }
    process.stderr.write(`${name}: ${(err as Error).message}\n`);
    return 1;
  }
}
