// Cross-region fallback: when this region has no healthy backend, a request goes to the nearest
// healthy peer region's proxy (great-circle distance from this region), at most once per request
// (the peer sees X-Meridian-Fallback and does not forward it again). The list is read from the
// in-memory snapshot and cached for a second or until the state changes.
import type { DeepReadonly } from '../../config/load.js';
import type { ProxyConfig } from '../../config/proxy-schema.js';
import { greatCircleKm } from '../../core/geometry.js';
import { evaluateRegionHealth } from '../../core/health.js';
import type { Snapshot } from '../../core/types.js';
import type { Upstream, UpstreamSet } from './upstreams.js';

/** Upstream ids of peer proxies start with this, so they never collide with backend ids. */
export const PEER_PREFIX = 'region:';

export class PeerDirectory {
  private cache: { version: number; at: number; peers: readonly Upstream[] } | undefined;
  private snapshot: Snapshot | undefined;

  constructor(
    private readonly config: DeepReadonly<ProxyConfig>,
    private readonly upstreams: UpstreamSet,
    /** Port peers listen on when their region has no `proxy-port` label (our own listen port). */
    private readonly defaultPeerPort: () => number,
  ) {}

  update(snapshot: Snapshot, regionsChanged: boolean): void {
    this.snapshot = snapshot;
    if (regionsChanged) this.cache = undefined;
  }

  /** Healthy peer regions' proxies, nearest first. */
  peers(): readonly Upstream[] {
    const snapshot = this.snapshot;
    if (snapshot === undefined) return [];
    const now = Date.now();
    const cached = this.cache;
    if (cached !== undefined && cached.version === snapshot.version && now - cached.at < 1000)
      return cached.peers;
    const me = snapshot.regions.get(this.config.region);
    const candidates: { id: string; url: string; km: number }[] = [];
    for (const region of snapshot.regions.values()) {
      if (region.id === this.config.region || region.state !== 'active') continue;
      const address = region.ipv4[0];
      if (address === undefined) continue;
      if (evaluateRegionHealth(snapshot.health.get(region.id), now).status !== 'healthy') continue;
      const label = Number(region.labels['proxy-port']);
      const port = Number.isInteger(label) && label > 0 && label < 65536 ? label : this.defaultPeerPort();
      const km = me === undefined ? 0 : greatCircleKm(me.lat, me.lon, region.lat, region.lon);
      candidates.push({ id: PEER_PREFIX + region.id, url: `http://${address}:${port}`, km });
    }
    candidates.sort((a, b) => a.km - b.km || (a.id < b.id ? -1 : 1));
    this.upstreams.sync(new Map(candidates.map((c) => [c.id, c.url])));
    const peers = candidates
      .map((c) => this.upstreams.get(c.id))
      .filter((u): u is Upstream => u !== undefined);
    this.cache = { version: snapshot.version, at: now, peers };
    return peers;
  }
}
