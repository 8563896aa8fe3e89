// The Redis key layout of the shared state store, in one place so the state store and the ops
// record store (which reads and trims the audit stream) name the same keys.
//
// P = state.redis.keyPrefix; `{meridian}` is a Cluster hash tag, so every key of one deployment lives
// in one slot and multi-key scripts work on Redis Cluster too:
//   P{meridian}:regions            hash  regionId → Region JSON
//   P{meridian}:backends:<region>  hash  backendId → Backend JSON
//   P{meridian}:health:<region>    hash  reporterId → HealthReport JSON (last known; pruned after 24 h)
//   P{meridian}:rev                hash  regionId → revision, +1 on every write touching the region
//                                        (kept after the region is removed, so stale reads lose)
//   P{meridian}:epoch              string, random, set by the first write: missing or another value
//                                        means Redis lost the fleet's data (see state-outage.ts)
//   P{meridian}:lineage            set of the epochs a reseed continued
//   P{meridian}:changes            pub/sub channel: {"v":1,kind,op,regionId,id,origin,at}
//   P{meridian}:audit              stream, field `d` = AuditEntry JSON: the audit log, shared with
//                                        RedisOpsRecordStore (ops-record-store.ts), which reads
//                                        and trims it; in this slot so audited writes can XADD to it

export interface RedisKeys {
  readonly regions: string;
  readonly rev: string;
  readonly epoch: string;
  readonly lineage: string;
  readonly channel: string;
  /** The audit log stream (shared with RedisOpsRecordStore). */
  readonly audit: string;
  readonly backendsBase: string;
  readonly healthBase: string;
  backends(regionId: string): string;
  health(regionId: string): string;
}

/** The key names used for a prefix (see the layout at the top of this file). */
export function redisKeys(prefix: string): RedisKeys {
  const base = `${prefix}{meridian}:`;
  return {
    regions: `${base}regions`,
    rev: `${base}rev`,
    epoch: `${base}epoch`,
    lineage: `${base}lineage`,
    channel: `${base}changes`,
    audit: `${base}audit`,
    backendsBase: `${base}backends:`,
    healthBase: `${base}health:`,
    backends: (id) => `${base}backends:${id}`,
    health: (id) => `${base}health:${id}`,
  };
}

/** The keys every region write script takes, in the order the scripts expect (state-scripts.ts). */
export function regionScriptKeys(keys: RedisKeys, regionId: string): string[] {
  return [keys.regions, keys.rev, keys.backends(regionId), keys.health(regionId), keys.epoch, keys.audit];
}
