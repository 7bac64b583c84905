import type { Runtime } from '../exchange/runtime.js';

type Upstream = Runtime['upstream'];

/**
 * Which config generations' upstreams are still in use. A request keeps the Runtime it
 * started with (all its stages see one config), and may dispatch upstream well after a
 * reload swapped it: a stage waited for DNS (a `destinations` rule), LDAP or Redis.
 * Closing the old pools at the swap failed such a request with UND_ERR_DESTROYED (502),
 * so a retired upstream closes when the last request holding it has ended.
 *
 * Keyed by the Upstream, not the Runtime: a policy reload or the CA being set up makes
 * a new Runtime object around the same upstream.
 */
export class Generations {
  private readonly holds = new Map<Upstream, number>();
  private readonly retired = new Set<Upstream>();

  hold(u: Upstream): void {
    this.holds.set(u, (this.holds.get(u) ?? 0) + 1);
  }

  release(u: Upstream): void {
    const n = (this.holds.get(u) ?? 1) - 1;
    if (n > 0) {
      this.holds.set(u, n);
      return;
    }
    this.holds.delete(u);
    if (this.retired.delete(u)) close(u);
  }

  /** A reload replaced `u`: close it now, or when its last request ends. */
  retire(u: Upstream): void {
    if (this.holds.has(u)) this.retired.add(u);
    else close(u);
  }
}

function close(u: Upstream): void {
  // Graceful: undici lets what was dispatched finish.
  void u.close().catch(() => {});
}
