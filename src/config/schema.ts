import { isIP } from 'node:net';
import { z } from 'zod';
import { parseCidr } from '../http/cidr.js';
import { normaliseHost } from '../http/target.js';
import { hostPatternProblem } from '../policy/host-list.js';
import { parsePathGlob } from '../policy/path.js';
import { quotaSection } from './quota-schema.js';
import { duration, positiveDuration, size } from './units.js';
import { upstreamSchema } from './upstream-schema.js';

const cidr = z.string().refine((s) => parseCidr(s) !== undefined, { message: 'invalid CIDR or IP address' });
const port = z.number().int().min(0).max(65535);
/** A host pattern with the policy's semantics (example.com, *.example.com, .example.com, globs). */
const hostPattern = z.string().min(1).superRefine((s, ctx) => {
  const problem = hostPatternProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const ipAddress = z.string().refine((s) => isIP(s.replace(/^\[|\]$/g, '')) !== 0, {
  message: 'must be an IPv4 or IPv6 address (host names are not accepted for listeners)',
});

/** A URL path glob with the policy's semantics (`/downloads/**`). */
const pathPattern = z.string().min(1).superRefine((s, ctx) => {
  const r = parsePathGlob(s);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});
/** A name server as Resolver.setServers() takes it: 192.0.2.1, 192.0.2.1:5353, 2001:db8::1 or [2001:db8::1]:5353. */
const dnsServer = z.string().refine(isNameServer, { message: 'must be an IP address with an optional port: 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:5353' });
function isNameServer(s: string): boolean {
  if (isIP(s) === 6) return true;
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s) ?? /^([\d.]+)(?::(\d{1,5}))?$/.exec(s);
  if (!m || isIP(m[1]!) === 0) return false;
  return m[2] === undefined || (Number(m[2]) >= 1 && Number(m[2]) <= 65535);
}
const LOOPBACK = /^(127\.|::1$|\[::1\]$)/;

/** A cache rule: bypass the cache, or force caching with a TTL, by host and path globs. */
const cacheRule = z
  .strictObject({
    /** Host patterns; empty matches any host. */
    hosts: z.array(hostPattern).default([]),
    /** URL path globs; empty matches any path. */
    paths: z.array(pathPattern).default([]),
    action: z.enum(['bypass', 'force']),
    /** force: the freshness lifetime given to responses without one (capped by maxTtl). */
    ttl: duration.optional(),
  })
  .refine((r) => r.action !== 'force' || (r.ttl !== undefined && r.ttl > 0), { message: 'a force rule needs a ttl above 0', path: ['ttl'] });
/** An HTTP field name (RFC 9110 §5.1 token). */
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a header field name (RFC 9110 token)');
/** A user or group name as policy rules and log lines see it. */
const principal = z.string().min(1).regex(/^[^:\s]+$/, 'no spaces or ":"');

const auth = z
  .strictObject({
    /** Every request needs a user (credentials or a source mapping), unless its policy rule says `auth: none`. */
    required: z.boolean().default(false),
    /** Shown by the client's password prompt (Proxy-Authenticate: Basic realm="..."). */
    // eslint-disable-next-line no-control-regex
    realm: z.string().min(1).max(200).regex(/^[^\x00-\x1f\x7f]+$/, 'no control characters').default('egressd'),
    /** htpasswd file with bcrypt hashes (relative to this config file); reloaded when it changes. */
    users: z.string().min(1).optional(),
    /** Apache AuthGroupFile-style groups file: "group: user1 user2" per line. */
    groupsFile: z.string().min(1).optional(),
    /** Groups in the config: group name → member user names. */
    groups: z.record(principal, z.array(principal)).default({}),
    /** Reload the users and groups files when they change on disk. */
    watch: z.boolean().default(true),
    ldap: z
      .strictObject({
        url: z.string().regex(/^ldaps?:\/\/[^/]+\/?$/, 'expected ldap://host:port or ldaps://host:port'),
        /** Bind directly as this DN, {user} replaced (escaped, RFC 4514). */
        userDn: z.string().includes('{user}', { message: 'must contain {user}' }).optional(),
        /** Or search-then-bind with this service account. */
        bindDn: z.string().min(1).optional(),
        bindPasswordEnv: z.string().min(1).optional(),
        searchBase: z.string().optional(),
        searchFilter: z.string().includes('{user}', { message: 'must contain {user}' }).default('(uid={user})'),
        groups: z
          .strictObject({
            base: z.string().min(1),
            /** {dn} and {user} are replaced (escaped, RFC 4515). */
            filter: z.string().default('(|(member={dn})(uniqueMember={dn})(memberUid={user}))'),
            attribute: z.string().min(1).default('cn'),
          })
          .optional(),
        timeout: positiveDuration.prefault('5s'),
      })
      .refine((l) => l.userDn !== undefined || l.searchBase !== undefined, { message: 'give userDn (bind by DN template) or searchBase (search-then-bind)' })
      .optional(),
    /** Identity by client address, first match wins; applies without a challenge. */
    sources: z.array(z.strictObject({ cidr, user: principal, groups: z.array(principal).default([]) })).default([]),
    /** How long a verified credential is trusted without checking the password again; 0 disables. */
    cacheTtl: duration.prefault('5m'),
    cacheSize: z.number().int().min(0).default(10_000),
    lockout: z
      .strictObject({
        /** Failed attempts for one user name before it is locked; 0 disables. */
        threshold: z.number().int().min(0).default(5),
        /** Failed attempts from one client address (any user names) before it is locked; 0 disables. */
        addressThreshold: z.number().int().min(0).default(20),
        /** First lock; doubled for each further failure. */
        baseDelay: positiveDuration.prefault('1s'),
        maxDelay: positiveDuration.prefault('15m'),
        /** Failures are forgotten after this long without a new one. */
        window: positiveDuration.prefault('15m'),
        /**
         * User names (and, separately, client addresses) whose failures are remembered, at
         * most; the least recently failed are forgotten first, so a spray of names cannot
         * exhaust memory.
         */
        maxTracked: z.number().int().min(100).default(100_000),
      })
      .prefault({}),
  })
  .superRefine((a, ctx) => {
    if (a.required && !a.users && !a.ldap && a.sources.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['required'], message: 'needs users, ldap or sources to authenticate against' });
    }
  });

/**
 * `forward`: clients configured to use the proxy (absolute URIs, CONNECT).
 * `transparent`: connections a firewall redirected here (iptables/nftables REDIRECT,
 * docs/transparent.md). Node cannot read SO_ORIGINAL_DST, so the port the client meant
 * is not known: `httpPort` and `tlsPort` say what to assume for plain HTTP (when the Host
 * header names no port) and for TLS (the SNI has none).
 */
const listener = z
  .strictObject({
    address: ipAddress.default('127.0.0.1'),
    port: port.default(3128),
    mode: z.enum(['forward', 'transparent']).default('forward'),
    httpPort: port.min(1).optional(),
    tlsPort: port.min(1).optional(),
    /** Read a PROXY protocol header (HAProxy send-proxy / send-proxy-v2) first: the real client behind an L4 balancer. */
    proxyProtocol: z.enum(['off', 'v1', 'v2', 'any']).default('off'),
    /** The balancers allowed to send that header; anyone else is closed (the header would let them claim any address). */
    proxyFrom: z.array(cidr).default([]),
  })
  .superRefine((l, ctx) => {
    if (l.proxyProtocol !== 'off' && l.proxyFrom.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['proxyFrom'], message: 'list the load balancers (CIDRs) allowed to send the PROXY protocol header' });
    }
    if (l.proxyProtocol === 'off' && l.proxyFrom.length > 0) ctx.addIssue({ code: 'custom', path: ['proxyFrom'], message: 'proxyFrom only applies with proxyProtocol: v1, v2 or any' });
    if (l.mode === 'transparent') return;
    for (const k of ['httpPort', 'tlsPort'] as const) {
      if (l[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `${k} only applies to listeners with mode: transparent` });
    }
  });

/**
 * Processes serving the listeners: 1 (one process, the default), an integer up to 64, or
 * `auto` (os.availableParallelism()). Above 1, `egressd start` runs a primary that forks
 * that many workers (node:cluster) and keeps shared state in one place (docs/architecture.md#workers).
 */
const workers = z.union([z.literal('auto'), z.number().int().min(1).max(64)], { error: 'expected "auto" or an integer from 1 to 64' });

export const configSchema = z.strictObject({
  workers: workers.default(1),
  listeners: z.array(listener).min(1).default([{ address: '127.0.0.1', port: 3128, mode: 'forward', proxyProtocol: 'off', proxyFrom: [] }]),
  clients: z
    .strictObject({
      /** Source CIDRs allowed to use the proxy. Empty means anyone who can reach a listener. */
      allow: z.array(cidr).default([]),
    })
    .prefault({}),
  proxy: z
    .strictObject({
      /** Name used in Via and for loop detection (RFC 9110 §7.6.3). */
      name: z.string().regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, ".", "_", ":" and "-" only').default('egressd'),
      via: z.boolean().default(true),
      /** X-Forwarded-For: "off" removes it, "keep" passes the client's through, "append" adds the client address. */
      xForwardedFor: z.enum(['off', 'keep', 'append']).default('off'),
      /** Ports CONNECT may reach (Squid's SSL_ports). */
      connectPorts: z.array(port).default([443]),
      /** Contact shown on error pages. */
      adminContact: z.string().default(''),
    })
    .prefault({}),
  egress: z
    .strictObject({
      /** CIDRs reachable despite the private/loopback/metadata guard. */
      allowPrivate: z.array(cidr).default([]),
      dns: z
        .strictObject({
          minTtl: duration.prefault(1000),
          maxTtl: duration.prefault(300_000),
          negativeTtl: duration.prefault(5000),
          /** Per attempt; a lookup gives up after timeout × tries (DNS_TIMEOUT, 504). */
          timeout: positiveDuration.prefault(5000),
          tries: z.number().int().min(1).max(5).default(2),
          cacheSize: z.number().int().min(0).default(10_000),
          /** Name servers ("ip" or "ip:port", "[v6]:port"); empty: those of /etc/resolv.conf. */
          servers: z.array(dnsServer).default([]),
        })
        .prefault({}),
      /** Prefer IPv4 or IPv6 when a host has both. */
      family: z.enum(['ipv4first', 'ipv6first', 'ipv4', 'ipv6']).default('ipv4first'),
    })
    .prefault({}),
  timeouts: z
    .strictObject({
      /** Time a client has to send a complete request head (slowloris guard). */
      requestHeaders: positiveDuration.prefault('10s'),
      /** Idle keep-alive client connection between requests. */
      clientIdle: positiveDuration.prefault('60s'),
      /** Establishing a TCP connection upstream, and the TLS handshake for https origins. */
      upstreamConnect: positiveDuration.prefault('10s'),
      /** Waiting for the upstream response head after the request was sent. */
      upstreamHeaders: positiveDuration.prefault('60s'),
      /** No bytes in either direction of a body transfer; 0 disables. */
      bodyIdle: duration.prefault('120s'),
      /** No bytes in either direction of a CONNECT or Upgrade tunnel; 0 disables. */
      tunnelIdle: duration.prefault('10m'),
      /** Upstream keep-alive connection kept in the pool. */
      upstreamKeepAlive: positiveDuration.prefault('30s'),
      /** On SIGTERM, how long in-flight requests and tunnels may finish. */
      shutdownGrace: duration.prefault('15s'),
    })
    .prefault({}),
  limits: z
    .strictObject({
      maxHeaderSize: size.prefault('64KiB'),
      maxConnections: z.number().int().min(1).default(10_000),
      maxConnectionsPerClient: z.number().int().min(1).default(1000),
      /** Upstream connections per origin in the pool. */
      upstreamConnectionsPerOrigin: z.number().int().min(1).default(256),
    })
    .prefault({}),
  tls: z
    .strictObject({
      /**
       * Which CONNECT tunnels to decrypt: "off", "all", or "hosts" (by the include /
       * exclude globs below). A policy rule's `tls: intercept|tunnel` overrides it.
       */
      intercept: z.enum(['off', 'all', 'hosts']).default('off'),
      /** Host globs (minimatch, case-insensitive) for intercept: hosts. Exclude wins. */
      include: z.array(hostPattern).default([]),
      /** Never decrypted (banking, health, pinned apps), whatever else says. */
      exclude: z.array(hostPattern).default([]),
      ca: z
        .strictObject({
          /** Folder with ca.pem and ca-key.pem (created on first use if missing). */
          dir: z.string().default('../certs'),
          /** Environment variable holding the CA key passphrase, if it is encrypted. */
          passphraseEnv: z.string().default('EGRESSD_CA_PASSPHRASE'),
          commonName: z.string().default('egressd interception CA'),
          organization: z.string().default('egressd'),
          validityDays: z.number().int().min(1).max(36500).default(3650),
        })
        .prefault({}),
      /** Issued leaf certificates kept in memory (each with its TLS context). */
      leafCacheSize: z.number().int().min(1).default(10_000),
      /** Leaf certificates kept in <ca.dir>/leaves/hosts at most; the least recently used file is deleted first. */
      leafDiskCacheSize: z.number().int().min(1).default(100_000),
      /**
       * Roots origins are verified against: "system" (SSL_CERT_FILE, else the OS bundle,
       * else Node's) or "bundled" (Node's copy of Mozilla's list only).
       */
      upstreamRoots: z.enum(['system', 'bundled']).default('system'),
      /** Extra PEM bundles trusted for origins, besides the roots above. */
      upstreamCaFiles: z.array(z.string()).default([]),
      /** Origins whose certificate is not verified (host globs). Use sparingly. */
      insecureHosts: z.array(hostPattern).default([]),
      /** Serve the CA at http://<proxy>/egressd-ca.crt and an onboarding page at /. */
      serveCa: z.boolean().default(true),
      /**
       * Reserved host name answered by egressd itself when requested through the proxy
       * (http://egressd.local/): the onboarding page and the CA files. Empty: none.
       */
      onboardingHost: z
        .string()
        .refine((h) => h === '' || normaliseHost(h) === h, { message: 'a lowercase host name (e.g. egressd.local), or "" for none' })
        .default('egressd.local'),
      /**
       * After this many clients reject our certificate for a host (pinned apps), tunnel
       * that host untouched for `learnFor`. 0 disables learning.
       */
      learnAfterRejects: z.number().int().min(0).default(3),
      learnFor: duration.prefault('1h'),
      /** How long to wait for a ClientHello after 200 Connection Established. */
      helloTimeout: positiveDuration.prefault('10s'),
    })
    .prefault({}),
  /** The proxy auto-config file served at /proxy.pac and /wpad.dat (docs/configuration.md#pac). */
  pac: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** host:port clients use to reach egressd; empty: the Host the client fetched the PAC file with. */
      proxy: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port').optional(),
      backup: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port').optional(),
      directDomains: z.array(hostPattern).default([]),
      directCidrs: z.array(z.string().refine((c) => /^\d+\.\d+\.\d+\.\d+(\/\d{1,2})?$/.test(c) && parseCidr(c) !== undefined, { message: 'IPv4 CIDR expected (PAC address rules are IPv4 only)' })).default([]),
      directPlainHosts: z.boolean().default(true),
      fallbackDirect: z.boolean().default(false),
    })
    .prefault({}),
  /** Parent proxies and the default route (docs/configuration.md#upstream). */
  upstream: upstreamSchema,
  /** Who is asking: Basic credentials (users file, LDAP) and source-address identities. */
  auth: auth.prefault({}),
  policy: z
    .strictObject({
      /**
       * Policy files, loaded in this order (relative to this config file). Empty: no
       * policy, every request that passes the egress guard is allowed.
       */
      files: z.array(z.string().min(1)).default([]),
      /** Reload a policy file (and its domain lists) when it changes on disk. */
      watch: z.boolean().default(true),
    })
    .prefault({}),
  cache: z
    .strictObject({
      /** The shared HTTP cache (RFC 9111) for plain and intercepted HTTP. */
      enabled: z.boolean().default(true),
      memory: z
        .strictObject({
          /** Bytes of responses held in memory (LRU). */
          maxSize: size.prefault('256MiB'),
          /** Larger responses stream through without being stored. */
          maxObjectSize: size.prefault('8MiB'),
        })
        .prefault({}),
      /** Optional disk tier (survives restarts); null: memory only. */
      disk: z
        .strictObject({
          dir: z.string().min(1),
          maxSize: size.prefault('1GiB'),
        })
        .nullable()
        .default(null),
      /** Upper bound on any freshness lifetime. */
      maxTtl: positiveDuration.prefault('1d'),
      /** Heuristic lifetime as a fraction of (Date − Last-Modified) (RFC 9111 §4.2.2). */
      heuristicFraction: z.number().min(0).max(1).default(0.1),
      /** Store responses that carry Set-Cookie (they are then replayed to every user). */
      allowSetCookie: z.boolean().default(false),
      /** How long past its freshness a response may be served when the origin cannot be reached (RFC 9111 §4.2.4); 0: never. */
      staleIfUnreachable: duration.prefault('0s'),
      coalesce: z
        .strictObject({
          /** Concurrent misses for one URL send one request upstream. */
          enabled: z.boolean().default(true),
          /** How long a follower waits for the leader before sending its own request. */
          wait: positiveDuration.prefault('10s'),
        })
        .prefault({}),
      /** First match wins: bypass the cache or force caching by host and path. */
      rules: z.array(cacheRule).default([]),
    })
    .prefault({}),
  admin: z
    .strictObject({
      /** The admin API listener (cache purge and stats); null: off. */
      listen: z.strictObject({ address: ipAddress.default('127.0.0.1'), port }).nullable().default(null),
      /** Bearer token for the admin API; required when it listens beyond loopback. */
      token: z.string().default(''),
    })
    .prefault({})
    .superRefine((a, ctx) => {
      if (a.listen && !LOOPBACK.test(a.listen.address) && a.token.length < 16) {
        ctx.addIssue({ code: 'custom', path: ['token'], message: 'an admin listener beyond loopback needs a token of at least 16 characters' });
      }
    }),
  quota: quotaSection.prefault({}),
  log: z
    .strictObject({
      /** "stdout", "stderr" or a file path (relative to the config file). */
      access: z.string().default('stdout'),
      /** Access-log lines: "json" (canonical, docs/access-log.md) or "squid" (Squid's native access.log format). */
      format: z.enum(['json', 'squid']).default('json'),
      /** Credentials in URLs are always removed; query values only when asked. */
      redact: z
        .strictObject({
          query: z.boolean().default(false),
          /** Header fields (of those in log.headers) logged with a masked value. */
          headers: z.array(headerName).default(['cookie', 'set-cookie']),
        })
        .prefault({}),
      /** Header fields written to each line (requestHeaders / responseHeaders); credentials only ever by scheme. */
      headers: z
        .strictObject({ request: z.array(headerName).default([]), response: z.array(headerName).default([]) })
        .prefault({}),
      /** Rotation of an access-log file by size and/or age (for logrotate instead: SIGUSR1 reopens). */
      rotate: z
        .strictObject({
          size: size.prefault(0),
          every: duration.prefault(0),
          keep: z.number().int().min(1).default(10),
          gzip: z.boolean().default(true),
        })
        .prefault({}),
      /** Diagnostic log (start, reload, errors). */
      server: z.string().default('stderr'),
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    })
    .prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type ListenerConfig = Config['listeners'][number];
