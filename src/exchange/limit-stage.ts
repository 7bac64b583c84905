import { ProxyError } from '../http/errors.js';
import { Zone } from '../http/time-zone.js';
import { retryAfterSeconds, type QuotaTicket } from '../quota/index.js';
import type { ProxyContext } from './context.js';
import type { Runtime } from './runtime.js';

/**
 * The limit stage, shared by requests and tunnels: admit under the quota profile that
 * applies (policy rule, user, group, default/anonymous) and record the ticket in the
 * context. Synchronous with the memory store; one Redis round trip otherwise.
 * Throws QUOTA_RATE / QUOTA_CONCURRENT (429 + Retry-After), QUOTA_VOLUME (403 naming
 * the quota and its reset) or QUOTA_UNAVAILABLE (503, Redis down and failing closed).
 */
export function checkQuota(rt: Runtime, ctx: ProxyContext): void | Promise<void> {
  const q = rt.quota;
  if (q === null) return;
  const t = q.admit(ctx.user, ctx.groups, ctx.clientIp, ctx.decision?.quota, Date.now());
  if (t === null) return;
  if (t instanceof Promise) return t.then((x) => apply(rt, ctx, x));
  apply(rt, ctx, t);
}

function apply(rt: Runtime, ctx: ProxyContext, t: QuotaTicket): void {
  ctx.quota = t;
  if (t.hit !== null) throw quotaError(t, rt.quota!.zone);
}

/** The local time a window resets, for people: "2026-12-02 00:00 Europe/Paris". */
export function localTime(ms: number, zone: string): string {
  const p = new Zone(zone).parts(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${p.y}-${two(p.m)}-${two(p.d)} ${two(p.h)}:${two(p.mi)} ${zone}`;
}

export function quotaError(t: QuotaTicket, zone: string): ProxyError {
  const p = t.profile;
  switch (t.hit) {
    case 'rate': {
      const retryAfter = retryAfterSeconds(t.waitMs);
      return new ProxyError('QUOTA_RATE', `request rate quota "${p.name}" exceeded (${p.rate}/s, burst ${p.burst}); retry in ${retryAfter} s`, { retryAfter });
    }
    case 'concurrent':
      return new ProxyError('QUOTA_CONCURRENT', `quota "${p.name}" allows ${p.concurrent} connections at once`, { retryAfter: 1 });
    case 'unavailable':
      return new ProxyError('QUOTA_UNAVAILABLE', 'the quota store is unreachable; requests are refused until it is back', { retryAfter: 1 });
    default:
      return new ProxyError('QUOTA_VOLUME', volumeReason(t, zone));
  }
}

function volumeReason(t: QuotaTicket, zone: string): string {
  const v = t.volume;
  const what = v ? ` (${v.text})` : '';
  const reset = t.resetAt ? `; resets at ${new Date(t.resetAt).toISOString()} (${localTime(t.resetAt, zone)})` : '';
  return `transfer quota "${t.profile.name}" used up${what}${reset}`;
}

/** A tunnel crossed its volume mid-transfer and is closed at the check that saw it. */
export function tunnelCutError(t: QuotaTicket, checkMs: number): ProxyError {
  const limits = t.profile.volumes.map((v) => v.text).join(', ');
  return new ProxyError('QUOTA_VOLUME', `transfer quota "${t.profile.name}" used up during the tunnel (${limits}); closed at the next check (every ${checkMs} ms)`);
}
