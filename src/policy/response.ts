import type { Decision, ResponseFacts, ResponseLimits } from './types.js';

/**
 * Response-side checks: the allow rule that let a request through may refuse the
 * response by media type or by size. They apply to plain HTTP and intercepted HTTPS
 * (a tunnel's bytes are not a response). In report mode the response passes and the
 * result says `wouldDeny`.
 *
 * Returns `decision` itself when the response is fine, so the common case allocates
 * nothing; otherwise a new decision with `responseCheck` set.
 */
export function decideResponse(decision: Decision, facts: ResponseFacts): Decision {
  const limits = decision.response;
  if (decision.action !== 'allow' || limits === undefined) return decision;
  if (limits.denyContentTypes.length && facts.contentType !== undefined) {
    const type = mediaType(facts.contentType);
    for (const re of limits.denyContentTypes) {
      if (re.test(type)) return refuse(decision, limits, 'content-type', `${limits.reason} (content type ${type})`);
    }
  }
  if (facts.contentLength !== undefined) return decideResponseBytes(decision, facts.contentLength);
  return decision;
}

/**
 * The byte limit for a streamed body, or Infinity. Read it once and compare the running
 * count in the data handler; call {@link decideResponseBytes} only when it is exceeded.
 */
export function responseByteLimit(decision: Decision): number {
  return decision.action === 'allow' ? (decision.response?.maxSize ?? Infinity) : Infinity;
}

/**
 * Check a byte count (Content-Length, or the count streamed so far) against the size
 * limit. In enforce mode the caller aborts the transfer on a deny; in report mode it
 * logs the would-deny once and stops checking.
 */
export function decideResponseBytes(decision: Decision, bytes: number): Decision {
  const limits = decision.response;
  if (decision.action !== 'allow' || limits?.maxSize === undefined || bytes <= limits.maxSize) return decision;
  return refuse(decision, limits, 'size', `${limits.reason} (larger than ${limits.maxSize} bytes)`);
}

function refuse(decision: Decision, limits: ResponseLimits, check: 'content-type' | 'size', reason: string): Decision {
  if (limits.mode === 'report') {
    return { ...decision, ruleId: limits.ruleId, reason, mode: 'report', wouldDeny: true, responseCheck: check };
  }
  return { action: 'deny', ruleId: limits.ruleId, reason, mode: 'enforce', responseCheck: check };
}

/** "Video/MP4; codecs=avc1" → "video/mp4" (RFC 9110 §8.3.1: type and subtype are case-insensitive). */
export function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}
