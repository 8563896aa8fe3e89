// The AutoscaleStore contract: the autoscaler's decider lease and each region's last decision.
// One node at a time decides (src/ops/autoscale/service.ts). It holds a lease that expires unless
// renewed; every new holder gets a larger fencing number, and a region's record is only written by
// the current holder with the current number, so a node that lost the lease (paused, partitioned)
// can neither record a decision nor, since it writes its record before calling the actuator, act on
// one. Redis (redis/autoscale-store.ts): a `SET PX` lease and an `INCR` counter in Lua scripts, shared
// by every node. Memory (memory/autoscale-store.ts): one node, in memory (a restart forgets the last
// decision and its cooldown clock).

/** What the last evaluation of a region decided and what came of it. */
export interface AutoscaleRecord {
  readonly region: string;
  /** The node that decided and its fencing number. */
  readonly node: string;
  readonly fence: number;
  /** When the decision was made (ms epoch). */
  readonly evaluatedAt: number;
  readonly action: 'scale-up' | 'scale-down' | 'hold';
  readonly current: number;
  readonly desired: number;
  readonly recommended: number;
  readonly value?: number;
  readonly reasons: readonly string[];
  readonly cooldownLeftMs: number;
  readonly dryRun: boolean;
  /** The last scaling action carried out (or, in dry run, that would have been). */
  readonly lastScale?: {
    readonly at: number;
    readonly action: 'scale-up' | 'scale-down';
    readonly from: number;
    readonly to: number;
  };
  /** The actuator's answer to the last action attempted. */
  readonly actuator?: {
    readonly type: string;
    readonly result: 'running' | 'ok' | 'failed' | 'dry-run';
    readonly at: number;
    readonly message?: string;
  };
}

export interface AutoscaleStore {
  readonly kind: 'memory' | 'redis';
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * Takes the decider lease for `owner` or renews it when `owner` holds it. Resolves to the holder's
   * fencing number (unchanged on renewal, larger than every earlier one on a new holder), or
   * undefined when another node holds it.
   */
  lease(owner: string, ttlMs: number): Promise<number | undefined>;
  /** Gives the lease up if `owner` holds it (a node shutting down hands over at once). */
  release(owner: string): Promise<void>;
  /** Every region's record, by region id. */
  records(): Promise<Map<string, AutoscaleRecord>>;
  /**
   * Writes a region's record if the lease is still held with `record.fence`; resolves false (and
   * writes nothing) otherwise.
   */
  save(record: AutoscaleRecord): Promise<boolean>;
}
