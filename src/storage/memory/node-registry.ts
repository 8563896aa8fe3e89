// The embedded NodeRegistry: the embedded backend serves one node, so its registry is that node's
// own entry, in memory (a restart starts with an empty registry and announces itself again).
import { checkAnnounceOptions, duplicateNode, validateNodeRecord } from '../node-registry.js';
import type { AnnounceOptions, NodeEntry, NodeListing, NodeRecord, NodeRegistry } from '../node-registry.js';

export class MemoryNodeRegistry implements NodeRegistry {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, NodeEntry>();
  private readonly clock: () => number;

  constructor(options: { readonly clock?: () => number } = {}) {
    this.clock = options.clock ?? Date.now;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that bad input rejects
  async announce(record: NodeRecord, options: AnnounceOptions): Promise<NodeEntry> {
    const valid = validateNodeRecord(record);
    checkAnnounceOptions(options);
    const now = this.clock();
    for (const [id, e] of this.entries)
      if (e.expiresAt + options.forgetAfterMs <= now) this.entries.delete(id);
    const existing = this.entries.get(valid.id);
    if (existing !== undefined && existing.instance !== valid.instance && now < existing.expiresAt)
      throw duplicateNode(existing, now);
    const entry: NodeEntry = { ...valid, lastSeen: now, expiresAt: now + options.ttlMs };
    this.entries.set(valid.id, entry);
    return entry;
  }

  deregister(id: string, instance: string): Promise<boolean> {
    const existing = this.entries.get(id);
    if (existing?.instance !== instance) return Promise.resolve(false);
    this.entries.delete(id);
    return Promise.resolve(true);
  }

  list(): Promise<NodeListing> {
    const nodes = [...this.entries.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return Promise.resolve({ now: this.clock(), nodes });
  }
}
