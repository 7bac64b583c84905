import type { IncomingHttpHeaders } from 'node:http';

/** Credentials: only their scheme is ever logged ("Basic ***"), whatever the config says. */
const CREDENTIALS = new Set(['authorization', 'proxy-authorization']);
/** A logged value is cut here: the log is for audit, not for replaying requests. */
const MAX_VALUE = 512;

export interface HeaderFieldsConfig {
  request: readonly string[];
  response: readonly string[];
  /** Names whose values are masked (presence still logged). */
  redact: readonly string[];
}

/**
 * The request and response header fields an admin chose to log (log.headers), picked
 * from a message and masked per log.redact.headers. Built once per config; null when
 * nothing is chosen, so the hot path pays one null check.
 */
export class HeaderFields {
  private readonly request: readonly string[];
  private readonly response: ReadonlySet<string>;
  private readonly redact: ReadonlySet<string>;

  private constructor(cfg: HeaderFieldsConfig) {
    this.request = cfg.request.map((n) => n.toLowerCase());
    this.response = new Set(cfg.response.map((n) => n.toLowerCase()));
    this.redact = new Set(cfg.redact.map((n) => n.toLowerCase()));
  }

  static build(cfg: HeaderFieldsConfig): HeaderFields | null {
    return cfg.request.length || cfg.response.length ? new HeaderFields(cfg) : null;
  }

  /** The chosen fields of a request node:http parsed; null when none is present. */
  fromRequest(headers: IncomingHttpHeaders): Record<string, string> | null {
    let out: Record<string, string> | null = null;
    for (const name of this.request) {
      const v = headers[name];
      if (v === undefined) continue;
      (out ??= {})[name] = this.mask(name, Array.isArray(v) ? v.join(', ') : v);
    }
    return out;
  }

  /** The chosen fields of a response as undici hands it over (flat name/value buffers). */
  fromResponse(raw: readonly Buffer[]): Record<string, string> | null {
    if (this.response.size === 0) return null;
    let out: Record<string, string> | null = null;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1').toLowerCase();
      if (!this.response.has(name)) continue;
      const value = this.mask(name, raw[i + 1]!.toString('latin1'));
      out ??= {};
      out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
    }
    return out;
  }

  private mask(name: string, value: string): string {
    if (CREDENTIALS.has(name)) {
      const scheme = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(value)?.[0];
      return scheme ? `${scheme} ***` : '***';
    }
    if (this.redact.has(name)) return '***';
    return value.length > MAX_VALUE ? `${value.slice(0, MAX_VALUE)}…` : value;
  }
}
