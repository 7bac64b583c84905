import { WindowClock, Zone, type Period } from './calendar-window.js';

/** One profile from the config's `quota.profiles`, as the schema outputs it. */
export interface ProfileConfig {
  /** Requests per second refilling the bucket; absent: no rate limit. */
  rate?: number;
  /** Bucket size; defaults to `rate` (one second's worth). */
  burst?: number;
  volume: readonly { bytes: number; per: Period; text: string }[];
  /** Requests and tunnels in flight at once; absent: no limit. */
  concurrent?: number;
}

/** The `quota` section of the config, as far as profile selection needs it. */
export interface ProfilesConfig {
  timezone: string;
  profiles: Readonly<Record<string, ProfileConfig>>;
  users: Readonly<Record<string, string>>;
  groups: Readonly<Record<string, string>>;
  anonymous: string | null;
  default: string | null;
}

export interface VolumeLimit {
  readonly bytes: number;
  readonly per: Period;
  /** As written in the config, e.g. "2GiB per day": for block pages and `quota show`. */
  readonly text: string;
  readonly clock: WindowClock;
}

export interface Profile {
  readonly name: string;
  /** Tokens per second; 0: no rate limit. */
  readonly rate: number;
  readonly burst: number;
  readonly volumes: readonly VolumeLimit[];
  /** 0: no limit. */
  readonly concurrent: number;
}

/** Compiled profiles and the lookup tables from users and groups to them. */
export class Profiles {
  readonly byName: ReadonlyMap<string, Profile>;
  readonly zone: Zone;
  private readonly users: ReadonlyMap<string, Profile>;
  /** In config order: with several matching groups the first listed in the config wins. */
  private readonly groups: readonly (readonly [string, Profile])[];
  private readonly anonymous: Profile | null;
  private readonly fallback: Profile | null;

  constructor(cfg: ProfilesConfig) {
    this.zone = new Zone(cfg.timezone);
    const byName = new Map<string, Profile>();
    for (const [name, p] of Object.entries(cfg.profiles)) {
      const rate = p.rate ?? 0;
      byName.set(name, Object.freeze({
        name,
        rate,
        burst: p.burst ?? Math.max(1, Math.ceil(rate)),
        volumes: p.volume.map((v) => Object.freeze({ bytes: v.bytes, per: v.per, text: v.text, clock: new WindowClock(v.per, this.zone) })),
        concurrent: p.concurrent ?? 0,
      }));
    }
    this.byName = byName;
    const get = (n: string | null): Profile | null => (n === null ? null : byName.get(n) ?? null);
    // User and group names compare case-insensitively, as the policy's `users`/`groups` do.
    this.users = new Map(Object.entries(cfg.users).map(([u, n]) => [u.toLowerCase(), get(n)!]));
    this.groups = Object.entries(cfg.groups).map(([g, n]) => [g.toLowerCase(), get(n)!] as const);
    this.anonymous = get(cfg.anonymous);
    this.fallback = get(cfg.default);
  }

  get empty(): boolean {
    return this.byName.size === 0;
  }

  /**
   * The profile that applies: a policy rule's `quota` first, then the user's own, then
   * the first of `quota.groups` (config order) the user belongs to, then `default` for
   * a known user or `anonymous` for one without a name. null: no quota at all.
   */
  select(user: string | null, groups: readonly string[], ruleProfile: string | undefined): Profile | null {
    if (ruleProfile !== undefined) {
      const p = this.byName.get(ruleProfile);
      if (p) return p;
    }
    if (user === null) return this.anonymous;
    const own = this.users.get(user.toLowerCase());
    if (own) return own;
    if (groups.length) {
      for (const [g, p] of this.groups) {
        for (let i = 0; i < groups.length; i++) if (groups[i]!.toLowerCase() === g) return p;
      }
    }
    return this.fallback;
  }
}

/** The counter key: one allowance per profile and person (user name, else client address). */
export function counterKey(profile: string, user: string | null, clientIp: string): string {
  return user === null ? `${profile}|ip:${clientIp}` : `${profile}|${user.toLowerCase()}`;
}

/** Split a counter key back into profile and who (`quota show`). */
export function splitKey(key: string): { profile: string; who: string } {
  const i = key.indexOf('|');
  return i < 0 ? { profile: '', who: key } : { profile: key.slice(0, i), who: key.slice(i + 1) };
}
