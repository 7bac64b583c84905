import type { Candidate } from './balancer.js';

export interface ParentSpec {
  /** Name in logs and status; defaults to host:port. */
  name: string;
  host: string;
  port: number;
  /** `Basic …` sent to this parent as Proxy-Authorization, or null. */
  authorization: string | null;
  weight: number;
  maxConnections: number;
}

export interface EjectPolicy {
  /** Consecutive failures (connect errors, 5xx from the parent) that eject it. */
  failures: number;
  /** First ejection lasts `base`; each further one doubles, up to `max`. */
  base: number;
  max: number;
}

export type ParentState = 'up' | 'down' | 'ejected' | 'half-open';

export interface ParentStatus {
  name: string;
  address: string;
  state: ParentState;
  ejectedUntil: string | null;
  active: number;
  requests: number;
  failures: number;
  weight: number;
}

/**
 * One parent proxy and what is known about its health: active checks (rise/fall) mark it
 * up or down; real traffic ejects it after consecutive failures for a backoff that grows,
 * then lets one trial request through (half-open) before trusting it again.
 */
export class Parent implements Candidate {
  active = 0;
  requests = 0;
  failures = 0;
  private consecutive = 0;
  private ejections = 0;
  private ejectedUntil = 0;
  private trial = false;
  /** Active checks: false while the checks say it is down. */
  private checkedUp = true;
  private okStreak = 0;
  private failStreak = 0;

  constructor(readonly spec: ParentSpec, private readonly eject: EjectPolicy) {}

  get name(): string {
    return this.spec.name;
  }
  get weight(): number {
    return this.spec.weight;
  }

  state(now: number): ParentState {
    if (!this.checkedUp) return 'down';
    if (this.ejectedUntil > now) return 'ejected';
    return this.ejections > 0 ? 'half-open' : 'up';
  }

  /** May a new request or tunnel start through this parent now? */
  usable(now: number): boolean {
    if (this.active >= this.spec.maxConnections) return false;
    const s = this.state(now);
    // Half-open: one trial at a time until one succeeds.
    return s === 'up' || (s === 'half-open' && !this.trial);
  }

  /** Usable when every parent of the group is ejected: not down by active checks, below its limit. */
  usableInPanic(now: number): boolean {
    return this.active < this.spec.maxConnections && this.state(now) !== 'down';
  }

  /** A request or tunnel starts through this parent; call `done` once when it ends. */
  begin(now: number): void {
    this.active++;
    this.requests++;
    if (this.state(now) === 'half-open') this.trial = true;
  }

  end(): void {
    this.active--;
  }

  succeeded(): void {
    this.consecutive = 0;
    this.trial = false;
    this.ejections = 0;
  }

  failed(now: number): void {
    this.failures++;
    this.consecutive++;
    const wasTrial = this.trial;
    this.trial = false;
    if (wasTrial || this.consecutive >= this.eject.failures) {
      this.ejectedUntil = now + Math.min(this.eject.base * 2 ** this.ejections, this.eject.max);
      this.ejections++;
      this.consecutive = 0;
    }
  }

  /** Result of one active check; `rise` successes bring it up, `fall` failures take it down. */
  checked(ok: boolean, rise: number, fall: number): void {
    if (ok) {
      this.failStreak = 0;
      if (++this.okStreak >= rise) this.checkedUp = true;
    } else {
      this.okStreak = 0;
      if (++this.failStreak >= fall) this.checkedUp = false;
    }
  }

  status(now: number): ParentStatus {
    const s = this.state(now);
    return {
      name: this.name,
      address: `${this.spec.host.includes(':') ? `[${this.spec.host}]` : this.spec.host}:${this.spec.port}`,
      state: s,
      ejectedUntil: s === 'ejected' ? new Date(this.ejectedUntil).toISOString() : null,
      active: this.active,
      requests: this.requests,
      failures: this.failures,
      weight: this.weight,
    };
  }
}
