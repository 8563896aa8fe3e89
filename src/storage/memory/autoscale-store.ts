// The embedded AutoscaleStore: one node, so the lease is only ever contended by this node's own
// autoscaler; kept in memory (a restart starts without a last decision, hence without a cooldown).
import type { AutoscaleRecord, AutoscaleStore } from '../autoscale-store.js';

export class MemoryAutoscaleStore implements AutoscaleStore {
  readonly kind = 'memory' as const;
  private readonly byRegion = new Map<string, AutoscaleRecord>();
  private holder: { owner: string; fence: number; until: number } | undefined;
  private fences = 0;

  constructor(private readonly clock: () => number = Date.now) {}

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  lease(owner: string, ttlMs: number): Promise<number | undefined> {
    const now = this.clock();
    const held = this.holder !== undefined && this.holder.until > now ? this.holder : undefined;
    if (held !== undefined && held.owner !== owner) return Promise.resolve(undefined);
    const fence = held?.fence ?? ++this.fences;
    this.holder = { owner, fence, until: now + ttlMs };
    return Promise.resolve(fence);
  }

  release(owner: string): Promise<void> {
    if (this.holder?.owner === owner) this.holder = undefined;
    return Promise.resolve();
  }

  records(): Promise<Map<string, AutoscaleRecord>> {
    return Promise.resolve(new Map(this.byRegion));
  }

  save(record: AutoscaleRecord): Promise<boolean> {
    const held = this.holder;
    if (held === undefined || held.until <= this.clock() || held.fence !== record.fence) {
      return Promise.resolve(false);
    }
    this.byRegion.set(record.region, record);
    return Promise.resolve(true);
  }
}
