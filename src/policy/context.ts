import { ipKey, type IpKey } from '../http/ip-key.js';
import { isIpLiteral, normaliseRequestHost } from './host.js';
import { normalisePathForMatch } from './path.js';
import type { RequestFacts } from './types.js';

/**
 * The facts of one request, normalised once and shared by every rule evaluated for it.
 * Anything not every policy needs (lowercased groups, normalised path, the clock) is
 * computed on first use, so a host-only policy pays for the host and nothing else.
 */
export class EvalContext {
  readonly host: string;
  readonly hostIsIp: boolean;
  private userLc: string | undefined | null = null;
  private groupsLc: readonly string[] | null = null;
  private pathNorm: string | undefined | null = null;
  private nowMs = Number.NaN;
  private clientIpKey: IpKey | undefined | null = null;
  private destIpKey: IpKey | undefined | null = null;

  constructor(readonly facts: RequestFacts) {
    this.host = normaliseRequestHost(facts.host);
    this.hostIsIp = isIpLiteral(this.host);
  }

  get user(): string | undefined {
    if (this.userLc === null) this.userLc = this.facts.user?.toLowerCase();
    return this.userLc;
  }

  get groups(): readonly string[] {
    if (this.groupsLc === null) this.groupsLc = this.facts.groups?.map((g) => g.toLowerCase()) ?? [];
    return this.groupsLc;
  }

  /** Normalised path without query; undefined when unknown (CONNECT not intercepted). */
  get path(): string | undefined {
    if (this.pathNorm === null) {
      const p = this.facts.path;
      this.pathNorm = p === undefined ? undefined : normalisePathForMatch(p);
    }
    return this.pathNorm;
  }

  /** The destination address: given by the caller, or the host itself when it is a literal. */
  get destIp(): string | undefined {
    return this.facts.destIp ?? (this.hostIsIp ? this.host : undefined);
  }

  /** The client address parsed once for every `sources` rule (see http/ip-key.ts). */
  get clientKey(): IpKey | undefined {
    if (this.clientIpKey === null) this.clientIpKey = ipKey(this.facts.clientIp);
    return this.clientIpKey;
  }

  /** The destination address parsed once; undefined while it is not known. */
  get destKey(): IpKey | undefined {
    if (this.destIpKey === null) {
      const ip = this.destIp;
      this.destIpKey = ip === undefined ? undefined : ipKey(ip);
    }
    return this.destIpKey;
  }

  get now(): number {
    if (Number.isNaN(this.nowMs)) this.nowMs = this.facts.time ? this.facts.time.getTime() : Date.now();
    return this.nowMs;
  }
}
