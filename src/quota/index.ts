/** Quotas: token-bucket rates, calendar volume windows, concurrency; memory or Redis counters. */
export { Quotas, QuotaTicket, redactUrl, type QuotaConfig, type QuotaHit, type QuotaDeps } from './quotas.js';
export { Profiles, counterKey, splitKey, type Profile, type VolumeLimit } from './profiles.js';
export { spanAt, WindowClock, Zone, PERIODS, type Period, type Span } from './calendar-window.js';
export { retryAfterSeconds } from './token-bucket.js';
export { MemoryStore } from './memory-store.js';
// RedisStore is not re-exported: importing it loads ioredis; import redis-store.js where needed.
export type { QuotaStore, UsageEntry, Admission } from './store.js';
export { QuotaHost } from './quota-host.js';
export type { RemoteQuotaTransport, RemoteBatch, RemoteAnswer } from './remote-wire.js';
