/**
 * The data the policy engine consumes and produces. Decisions are plain values: the
 * exchange and tunnel stages act on them, and the access log writes them as they are.
 */

export type Mode = 'enforce' | 'report';
export type TlsChoice = 'intercept' | 'tunnel';
export type Scheme = 'http' | 'https';

/**
 * What the caller knows about a request when it asks for a decision. Only `host`,
 * `port`, `scheme`, `method` and `clientIp` are required; a rule whose condition needs
 * a fact that is missing does not match (users, groups, headers), or behaves as its
 * rule says (`paths` with `onUnknownPath`), or asks for it (`destinations`: see
 * {@link NeedsDestIp}).
 */
export interface RequestFacts {
  /**
   * Target host as received (Host, absolute URI, CONNECT authority or SNI). The engine
   * normalises it: lowercase, no trailing dot, IDN to punycode, IPv6 without brackets.
   */
  host: string;
  port: number;
  /** "https" for CONNECT tunnels and intercepted requests, "http" for plain requests. */
  scheme: Scheme;
  /** "CONNECT" for a tunnel; the request method (case-sensitive, RFC 9110 §9.1) otherwise. */
  method: string;
  /**
   * Path and query of the request (origin-form). Undefined when it is not known: a
   * CONNECT tunnel that is not (yet) intercepted.
   */
  path?: string;
  /** Client address as seen on the socket (IPv4-mapped IPv6 is accepted). */
  clientIp: string;
  /** Authenticated user name, if any. Compared case-insensitively. */
  user?: string;
  /** The user's groups. Compared case-insensitively. */
  groups?: readonly string[];
  /** Request headers with lowercase names, e.g. node's `req.headers`. */
  headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  /**
   * Destination address after DNS, if already resolved. A literal IP host counts as
   * resolved. The caller must dial this same address, or the check means nothing.
   */
  destIp?: string;
  /** The clock for schedules; `new Date()` when absent. Tests inject it. */
  time?: Date;
}

/** Facts about a response, for the response-side checks of the rule that allowed it. */
export interface ResponseFacts {
  /** Content-Type header value, parameters allowed ("text/html; charset=utf-8"). */
  contentType?: string;
  /** Content-Length, when the response has one. */
  contentLength?: number;
}

/** Response-side limits of an allow rule, compiled. Carried by the request decision. */
export interface ResponseLimits {
  readonly ruleId: string;
  readonly mode: Mode;
  readonly reason: string;
  /** Media types (lowercase, without parameters) to refuse, as compiled globs. */
  readonly denyContentTypes: readonly RegExp[];
  /** The source globs, for messages. */
  readonly denyContentTypeGlobs: readonly string[];
  /** Maximum body size in bytes, checked against Content-Length and streamed counts. */
  readonly maxSize?: number;
}

/** The outcome of evaluating the rules for a request. */
export interface Decision {
  readonly action: 'allow' | 'deny';
  /** Rule whose verdict this is; for a report-mode "would deny", the reporting rule. */
  readonly ruleId: string;
  /** Human reason, always set (a default is derived from the rule id). */
  readonly reason: string;
  /** "report" when a report-mode rule would have denied: the request passes. */
  readonly mode: Mode;
  /** Set when a report-mode rule would have denied the request. */
  readonly wouldDeny?: true;
  /** With `wouldDeny`: the enforce rule that actually allowed the request. */
  readonly allowedBy?: string;
  /** For CONNECT: what to do with TLS. Absent: the proxy's configured default. */
  readonly tls?: TlsChoice;
  /** Where the request leaves: "direct" or a parent group. Absent: the config's `upstream.default`. */
  readonly route?: string;
  /** Response-side limits of the allowing rule, for {@link decideResponse}. */
  readonly response?: ResponseLimits;
  /** Quota profile the allowing rule selects (overrides the user's and group's). */
  readonly quota?: string;
  /** The deciding rule's `auth`: "required" or "none"; absent means the config's auth.required. */
  readonly auth?: 'required' | 'none';
  /** Set when a response-side check produced this decision. */
  readonly responseCheck?: 'content-type' | 'size';
}

/**
 * The rules cannot be decided without the destination address: a rule with
 * `destinations` was reached and all its other conditions matched. The caller resolves
 * the host and calls `decide` again with `destIp`. Resolving only when asked means a
 * request denied by host alone never triggers a DNS query.
 */
export interface NeedsDestIp {
  readonly action: 'needs-ip';
  readonly ruleId: string;
}

export type Verdict = Decision | NeedsDestIp;
