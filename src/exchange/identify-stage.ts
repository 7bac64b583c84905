import type { IncomingHttpHeaders } from 'node:http';
import { authRequired, type Identity } from '../auth/index.js';
import { ProxyError } from '../http/errors.js';
import type { RequestFacts } from '../policy/index.js';
import type { ProxyContext } from './context.js';
import { checkPolicy } from './policy-stage.js';
import type { TunnelOrigin } from './request-checks.js';
import type { Runtime } from './runtime.js';

/**
 * identify: who is asking, before the policy decides (user and group rules need it).
 * A request decrypted inside an intercepted tunnel takes the identity the CONNECT
 * established — no new challenge, and its own Proxy-Authorization (which browsers
 * never send there) is not looked at. Returns a promise only when a credential must be
 * checked (bcrypt or LDAP); a cached one is answered synchronously.
 */
export function identify(rt: Runtime, ctx: ProxyContext, headers: IncomingHttpHeaders, origin: TunnelOrigin | null): void | Promise<void> {
  if (origin) {
    ctx.user = origin.user;
    ctx.groups = origin.groups;
    return;
  }
  const auth = rt.auth;
  if (!auth) return;
  // A redirected client does not know a proxy is there: it cannot be challenged, and a
  // Proxy-Authorization it sends anyway is not ours to check. Its address is its identity.
  const credentials = ctx.mode === 'transparent' ? undefined : headers['proxy-authorization'];
  const id = auth.identify(credentials, ctx.clientIp);
  if (id === null) return;
  if (id instanceof Promise) return id.then((v) => setIdentity(ctx, v));
  setIdentity(ctx, id);
}

function setIdentity(ctx: ProxyContext, id: Identity): void {
  ctx.user = id.user;
  ctx.groups = id.groups;
}

/**
 * decide, with the auth requirement applied to the verdict. The order is:
 * identify-if-credentials-present → decide → if the deciding rule needs a user (its
 * `auth: required`, or auth.required unless the rule says `auth: none`) and there is
 * none → 407 with the challenge. This holds for deny verdicts too: an anonymous client
 * that a "groups: [staff]" rule did not match must be asked who it is, not refused.
 * Inside an anonymous intercepted tunnel a 407 cannot be answered, so it is a 403;
 * nor can a transparently redirected client, which never sees a proxy (403 too).
 */
export function decideWithAuth(rt: Runtime, ctx: ProxyContext, facts: RequestFacts, inTunnel: boolean): void | Promise<void> {
  let pending: void | Promise<void>;
  try {
    pending = checkPolicy(rt, ctx, facts);
  } catch (err) {
    throw requirement(rt, ctx, inTunnel) ?? err;
  }
  if (pending) {
    return pending.then(
      () => assertIdentified(rt, ctx, inTunnel),
      (err: unknown) => {
        throw requirement(rt, ctx, inTunnel) ?? err;
      },
    );
  }
  assertIdentified(rt, ctx, inTunnel);
}

function assertIdentified(rt: Runtime, ctx: ProxyContext, inTunnel: boolean): void {
  const err = requirement(rt, ctx, inTunnel);
  if (err) throw err;
}

/** The refusal owed to an anonymous client whose verdict needs a user, or undefined. */
function requirement(rt: Runtime, ctx: ProxyContext, inTunnel: boolean): ProxyError | undefined {
  if (ctx.user !== null) return undefined;
  const rule = ctx.decision?.auth;
  const needed = rule === 'required' || (rule !== 'none' && rt.config.auth.required);
  if (!needed) return undefined;
  const why = ctx.decision ? ` (rule "${ctx.decision.ruleId}")` : '';
  if (ctx.mode === 'transparent') {
    return new ProxyError('AUTH_REQUIRED_TRANSPARENT', `this request needs an authenticated user${why}, but it was redirected to the proxy transparently and cannot be asked for credentials: map the client address in auth.sources`);
  }
  if (inTunnel) {
    return new ProxyError('AUTH_REQUIRED_IN_TUNNEL', `this request needs an authenticated user${why}, but its TLS tunnel was opened without credentials: send Proxy-Authorization with the CONNECT`);
  }
  return authRequired(rt.config.auth.realm, `proxy authentication required${why}`);
}
