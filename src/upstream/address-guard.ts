import { CidrSet, unmapIPv4 } from '../http/cidr.js';
import { ProxyError } from '../http/errors.js';

/**
 * Ranges a corporate egress proxy must not reach unless an admin opens them: they
 * lead back into the company network, to the proxy host itself, or to cloud metadata
 * services that hand out credentials (the classic SSRF targets).
 */
export const FORBIDDEN_RANGES: readonly string[] = [
  '0.0.0.0/8', // "this network"
  '10.0.0.0/8', // RFC 1918
  '100.64.0.0/10', // CGNAT, RFC 6598
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local, including 169.254.169.254 metadata
  '172.16.0.0/12', // RFC 1918
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // TEST-NET-1
  '192.168.0.0/16', // RFC 1918
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // TEST-NET-2
  '203.0.113.0/24', // TEST-NET-3
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, and broadcast
  '::/128', // unspecified
  '::1/128', // loopback
  '100::/64', // discard
  '2001:db8::/32', // documentation
  'fc00::/7', // unique local, including AWS fd00:ec2::254 metadata
  'fe80::/10', // link-local
  'ff00::/8', // multicast
];

export class AddressGuard {
  private readonly forbidden = new CidrSet(FORBIDDEN_RANGES);
  private readonly allowed: CidrSet;
  /** Verdicts by address as spelled: a proxy dials the same few addresses over and over. */
  private readonly verdicts = new Map<string, boolean>();

  constructor(allowPrivate: readonly string[]) {
    this.allowed = new CidrSet(allowPrivate);
  }

  /** Whether a connection to `ip` is allowed. IPv4-mapped IPv6 is judged as IPv4. */
  permits(ip: string): boolean {
    let ok = this.verdicts.get(ip);
    if (ok === undefined) {
      const addr = unmapIPv4(ip);
      ok = !this.forbidden.has(addr) || this.allowed.has(addr);
      if (this.verdicts.size >= 10_000) this.verdicts.clear();
      this.verdicts.set(ip, ok);
    }
    return ok;
  }

  /** Keep only permitted addresses; throw 403 if none is left. */
  filter(host: string, addresses: readonly string[]): string[] {
    const ok = addresses.filter((a) => this.permits(a));
    if (ok.length === 0) {
      throw new ProxyError(
        'DESTINATION_FORBIDDEN',
        `destination ${host} resolves to ${addresses.join(', ')}, a private or reserved address egressd does not connect to`,
      );
    }
    return ok;
  }
}
