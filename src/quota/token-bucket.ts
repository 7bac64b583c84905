/**
 * Token bucket request rate: `rate` tokens per second refill a bucket holding at most
 * `burst`; each request takes one. A full bucket lets `burst` requests through at once,
 * then `rate` per second. State is two numbers so it fits a snapshot line or a Redis
 * hash; the same arithmetic runs in the memory store and in the Redis Lua script.
 */

export interface BucketState {
  /** Tokens left at `at` (fractional). */
  tokens: number;
  /** Epoch ms of the last update. */
  at: number;
}

/** Tokens in the bucket at `now`, refilled since the last update. */
export function refill(state: BucketState | undefined, rate: number, burst: number, now: number): number {
  if (!state) return burst;
  const elapsed = Math.max(0, now - state.at);
  return Math.min(burst, state.tokens + (elapsed * rate) / 1000);
}

/**
 * Take one token. Returns the tokens left (>= 0) or, when the bucket is empty, the
 * negative number of ms until one token is back. Updates `state` only on success.
 */
export function take(state: BucketState, rate: number, burst: number, now: number): number {
  const tokens = refill(state, rate, burst, now);
  if (tokens < 1) return -Math.max(1, Math.ceil(((1 - tokens) * 1000) / rate));
  state.tokens = tokens - 1;
  state.at = now;
  return state.tokens;
}

/** RFC 9110 §10.2.3: Retry-After in whole seconds, at least 1 (0 would invite a busy loop). */
export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}
