// Region selection for one DNS query: an ordered chain of small pure steps (like CoreDNS plugins),
// each in its own file:
//
//   locate → scope → eligible → overrides (the name's, then global) → policy → nearest → capacity → answer
//
// `decide` is on the DNS hot path. It never does I/O: it reads the in-memory snapshot and the geo
// locator. Per snapshot version it precomputes the region list; per (version, health transition) it
// caches the regions' health verdicts — health only changes when a report expires or the start-up
// grace period ends, so the cache is exact, not approximate. Two caches, both dropped whenever the
// snapshot version, the health epoch or the geo data changes:
// - `answer` (the DNS hot path) keeps, per (name, query family, geo record), the small answer of
//   every decision that depends on the client's location alone (record-answers.ts) — the one that
//   keeps hitting when every query comes from a new subnet, and per (name, query family) the trie
//   of the widest ECS scope for IPv4 clients (scope-table.ts), built in the background;
// - whole decisions per (name, query family, client network at the decision's scope, geo facts),
//   bounded in entries and in estimated bytes.
// Client addresses are not memoized: a lookup is a tree walk over the geo file, cheaper than a
// cache that never hits on distinct subnets.
import type { BalancedNameConfig, SteeringConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import { healthPolicies } from '../../config/region-health-schema.js';
import type { RegionHealthPolicy } from '../../core/health.js';
import { MeridianError } from '../../core/errors.js';
import { evaluateRegionHealth, type RegionHealthView } from '../../core/health.js';
import { parseCidr } from '../../core/ip.js';
import type { Snapshot } from '../../core/types.js';
import type { GeoLocator } from '../geo/types.js';
import { answer } from './answer.js';
import { capacity } from './capacity.js';
import type { CidrRule, PreparedConfig, PreparedSnapshot, RegionInfo, Step, StepContext } from './context.js';
import { eligible } from './eligible.js';
import { hashString } from './hash.js';
import { locate, locateClient, locationOf, networkCacheKey, queryAddress } from './locate.js';
import type { ClientFacts } from './types.js';
import { nearest } from './nearest.js';
import { nameOverrides, overrides } from './overrides.js';
import { policy } from './policy.js';
import { RecordAnswers } from './record-answers.js';
import { scope } from './scope.js';
import { ScopeTables, type ScopeTable, type ScopeTableSource } from './scope-table.js';
import type { ClientLocation, Decision, RegionVerdict, SteeredAnswer, SteeringQuery } from './types.js';

export interface SteeringEngineOptions {
  /** The current state snapshot (synchronous, in memory). */
  snapshot: () => Snapshot;
  locator: GeoLocator | undefined;
  steering: DeepReadonly<SteeringConfig>;
  /** When this node started (ms epoch): expired health reports still count until startedAt + healthGraceSeconds. */
  startedAt: number;
  /** Cached decisions (0 = no cache). Default 65536. */
  decisionCacheSize?: number;
  /** Estimated bytes the cached decisions may hold. Default 16 MiB. */
  decisionCacheBytes?: number;
  /** Answers kept per geo record (over all names and families). Default 262144. */
  recordAnswerCacheSize?: number;
  /**
   * Widest-ECS-scope tables (scope-table.ts): tables held at once (names × families), 0 = none
   * (every scope is the geo network's). Default 16.
   */
  scopeTables?: number;
  /** Inner nodes per widest-scope table (8 bytes each). Default 2,000,000. */
  scopeTableNodes?: number;
  /** The CIDRs of every balanced name's own overrides (they bound ECS scopes and the record cache). */
  nameCidrs?: readonly string[];
}

/** A steered answer with the client's own ECS scope. */
export interface SteeredResult {
  readonly steered: SteeredAnswer;
  readonly scopePrefix: number;
}

interface CachedDecision {
  readonly decision: Decision;
  /** The answer depended on the client network (see StepContext.networkDependent). */
  readonly networkDependent: boolean;
}

export interface SteeringStats {
  readonly decisions: number;
  readonly cacheHits: number;
  readonly snapshotRebuilds: number;
  readonly healthEvaluations: number;
}

/** A decision's rough heap cost: the object, its verdicts with their reason texts, its addresses. */
function estimatedBytes(d: Decision): number {
  return 400 + 240 * d.considered.length + 48 * d.addresses.length + 2 * d.rule.length;
}

interface HealthState {
  readonly version: number;
  readonly computedAt: number;
  /** The views stay exact for `computedAt <= now < validUntil`. */
  readonly validUntil: number;
  readonly views: ReadonlyMap<string, RegionHealthView>;
  readonly epoch: number;
}

/** CIDR rules most specific first (then by text, for determinism). */
export function specificFirst(a: CidrRule, b: CidrRule): number {
  return (
    b.cidr.prefix - a.cidr.prefix || (a.cidr.text < b.cidr.text ? -1 : a.cidr.text > b.cidr.text ? 1 : 0)
  );
}

function prepareConfig(steering: DeepReadonly<SteeringConfig>, nameCidrs: readonly string[]): PreparedConfig {
  const cidr4: CidrRule[] = [];
  const cidr6: CidrRule[] = [];
  for (const [text, regions] of Object.entries(steering.overrides.cidr)) {
    const cidr = parseCidr(text);
    if (cidr === undefined) {
      throw new MeridianError(
        'E_CONFIG',
        `steering override CIDR ${JSON.stringify(text)} is not a valid CIDR`,
        {
          field: `dns.steering.overrides.cidr.${text}`,
        },
      );
    }
    (cidr.family === 4 ? cidr4 : cidr6).push({ cidr, regions: [...regions] });
  }
  cidr4.sort(specificFirst);
  cidr6.sort(specificFirst);
  const boundary4 = [...cidr4];
  const boundary6 = [...cidr6];
  for (const text of new Set(nameCidrs)) {
    const cidr = parseCidr(text);
    if (cidr !== undefined) (cidr.family === 4 ? boundary4 : boundary6).push({ cidr, regions: [] });
  }
  boundary4.sort(specificFirst);
  boundary6.sort(specificFirst);
  const country = new Map<string, readonly string[]>();
  for (const [code, regions] of Object.entries(steering.overrides.country))
    country.set(code.toUpperCase(), regions);
  const continent = new Map<string, readonly string[]>();
  for (const [code, regions] of Object.entries(steering.overrides.continent)) {
    if (regions !== undefined) continent.set(code.toUpperCase(), regions);
  }
  return {
    steering,
    cidr4,
    cidr6,
    boundary4,
    boundary6,
    country,
    continent,
    defaultOrder: steering.defaultOrder,
  };
}

function prepareSnapshot(snapshot: Snapshot): PreparedSnapshot {
  const regions: RegionInfo[] = [...snapshot.regions.values()]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((region) => ({
      region,
      id: region.id,
      salt: hashString(region.id),
      lat: region.lat,
      lon: region.lon,
      weight: region.weight,
      state: region.state,
      ipv4: region.ipv4,
      ipv6: region.ipv6,
    }));
  return { version: snapshot.version, regions, byId: new Map(regions.map((r) => [r.id, r])) };
}

export class SteeringEngine {
  private readonly snapshot: () => Snapshot;
  private readonly locator: GeoLocator | undefined;
  private readonly config: PreparedConfig;
  private readonly graceUntil: number;
  private readonly healthPolicy: (regionId: string) => RegionHealthPolicy;
  private readonly cacheSize: number;
  private readonly cacheBytesLimit: number;
  private readonly chainHead: readonly Step[];
  private readonly chainTail: readonly Step[];

  private prepared: PreparedSnapshot | undefined;
  private healthState: HealthState | undefined;
  private healthEpoch = 0;
  /** Decision cache by network: name config object → key → decision. Replaced wholesale on invalidation. */
  private cache = new WeakMap<object, Map<string, CachedDecision>>();
  private readonly recordAnswers: RecordAnswers;
  private readonly scopeTables: ScopeTables | undefined;
  /** The latest query time seen: background table builds decide as of then. */
  private latestNow = 0;
  private cacheEntries = 0;
  private cacheBytes = 0;
  private cacheVersion = -1;
  private cacheEpoch = -1;
  /** Bumped whenever cached decisions are dropped for a change of state, health or geo data. */
  private generationCounter = 0;

  private clientGeneration = 0;

  private decisions = 0;
  private cacheHits = 0;
  private rebuilds = 0;
  private healthEvaluations = 0;

  constructor(options: SteeringEngineOptions) {
    this.snapshot = options.snapshot;
    this.locator = options.locator;
    this.config = prepareConfig(options.steering, options.nameCidrs ?? []);
    this.graceUntil = options.startedAt + options.steering.healthGraceSeconds * 1000;
    this.healthPolicy = healthPolicies(options.steering.health);
    this.cacheSize = options.decisionCacheSize ?? 65536;
    this.cacheBytesLimit = options.decisionCacheBytes ?? 16 * 1024 * 1024;
    this.recordAnswers = new RecordAnswers(options.recordAnswerCacheSize ?? 262144);
    const tables = options.scopeTables ?? 16;
    this.scopeTables =
      tables > 0 && this.locator !== undefined
        ? new ScopeTables({ maxTables: tables, maxNodes: options.scopeTableNodes ?? 2_000_000, sliceMs: 4 })
        : undefined;
    // Split around the cache lookup: locate and scope give the key, the rest decides.
    this.chainHead = [locate, scope];
    this.chainTail = [eligible, nameOverrides, overrides, policy, nearest, capacity, answer];
  }

  /** The decision for one query. May be served from the decision cache (reason texts as of then). */
  decide(query: SteeringQuery): Decision {
    return this.run(query, this.cacheSize > 0).decision;
  }

  /**
   * What the DNS reply needs for one query: the same addresses, TTL and scope as `decide`, served
   * by geo record whenever the decision depends on the location alone.
   */
  answer(query: SteeringQuery): SteeredResult {
    if (this.cacheSize === 0) {
      const decision = this.run(query, false).decision;
      return { steered: this.recordAnswers.intern(decision), scopePrefix: decision.scopePrefix };
    }
    this.syncAll(query.now);
    if (query.now > this.latestNow) this.latestNow = query.now;
    const client = locateClient(queryAddress(query).address, this.locator, this.config);
    // A record's answer holds for each of its clients outside the CIDR overrides.
    const recordKey = client.inCidrRule ? undefined : client.geo?.recordKey;
    if (recordKey !== undefined) {
      const steered = this.recordAnswers.get(query.name, query.family, recordKey);
      if (steered !== undefined) {
        this.decisions++;
        this.cacheHits++;
        return { steered, scopePrefix: this.widestScope(query, client, steered) };
      }
    }
    const { decision, networkDependent } = this.run(query, true, client, recordKey !== undefined);
    if (recordKey !== undefined && !networkDependent) {
      const steered = this.recordAnswers.set(query.name, query.family, recordKey, decision);
      return { steered, scopePrefix: this.widestScope(query, client, steered) };
    }
    return { steered: this.recordAnswers.intern(decision), scopePrefix: decision.scopePrefix };
  }

  /**
   * The ECS scope of a location-only answer: from the name's widest-scope table when it is built
   * (requested here when not), else the geo network's (correct, narrower).
   */
  private widestScope(query: SteeringQuery, client: ClientFacts, steered: SteeredAnswer): number {
    if (steered.locationIndependent) return 0;
    const bytes = client.bytes;
    // Only an ECS reply carries a scope: queries without ECS never pay for a table build.
    if (this.scopeTables === undefined || query.ecs === undefined || bytes?.length !== 4)
      return client.scopePrefix;
    const table = this.scopeTables.get(query.name, query.family);
    if (table === undefined) {
      void this.requestScopes(query.name, query.family);
      return client.scopePrefix;
    }
    const widest = table.widest(bytes, steered);
    return widest === undefined ? client.scopePrefix : Math.min(widest, client.scopePrefix);
  }

  /**
   * Builds (in the background, in slices) the widest-scope table of a name and query family for
   * the current state; resolves true once it is ready, false when it was not built (disabled, too
   * big, too many tables, or the state changed mid-way). Queries use it from then on. `now`: the
   * time its decisions are made at (later queries move it on).
   */
  async prepareScopes(name: DeepReadonly<BalancedNameConfig>, family: 4 | 6, now: number): Promise<boolean> {
    const tables = this.scopeTables;
    const locator = this.locator;
    if (tables === undefined || locator === undefined) return false;
    // Settle the generation first: a table is only kept while it stays the same.
    this.syncAll(now);
    if (now > this.latestNow) this.latestNow = now;
    return (await this.requestScopes(name, family)) !== undefined;
  }

  /** `prepareScopes` for the hot path, which has synced the generation already. */
  private requestScopes(
    name: DeepReadonly<BalancedNameConfig>,
    family: 4 | 6,
  ): Promise<ScopeTable | undefined> {
    const tables = this.scopeTables;
    const locator = this.locator;
    if (tables === undefined || locator === undefined) return Promise.resolve(undefined);
    const source = (): Omit<ScopeTableSource, 'maxNodes'> => ({
      locator,
      rules: this.config.boundary4,
      replyFor: (address) => {
        const facts = locateClient(address, locator, this.config);
        if (facts.inCidrRule) return undefined;
        const query = { name, family, source: address, now: this.latestNow };
        const { decision, networkDependent } = this.run(query, false, facts, false, false);
        return networkDependent ? undefined : this.recordAnswers.intern(decision);
      },
    });
    return tables.ensure(name, family, source);
  }

  /** Like `decide`, computed afresh (no cache) so every reason reflects `query.now`: for `explain`. */
  explain(query: SteeringQuery): Decision {
    return this.run(query, false).decision;
  }

  stats(): SteeringStats {
    return {
      decisions: this.decisions,
      cacheHits: this.cacheHits,
      snapshotRebuilds: this.rebuilds,
      healthEvaluations: this.healthEvaluations,
    };
  }

  /**
   * A number that changes whenever a decision made earlier may no longer hold: the state snapshot
   * changed, a health verdict changed (a report expired, the start-up grace period ended) or the geo
   * data was reloaded. Caches built on decisions (the responder's answer cache) compare it per hit.
   */
  generation(now: number): number {
    this.syncAll(now);
    return this.generationCounter;
  }

  /** Drops what the caches hold when the snapshot, the health verdicts or the geo data changed. */
  private syncAll(now: number): void {
    const snapshot = this.snapshot();
    const snap = this.preparedFor(snapshot);
    this.syncCache(snap.version, this.healthFor(snapshot, snap, now).epoch);
    this.syncGeoGeneration();
  }

  /** Drops the cached decisions when the state version or the health verdicts changed. */
  private syncCache(version: number, epoch: number): void {
    if (this.cacheVersion === version && this.cacheEpoch === epoch) return;
    this.cacheVersion = version;
    this.cacheEpoch = epoch;
    this.dropDecisions(true);
  }

  /** Empties the decision cache; `outdated`: for a change of state, health or geo data (not size). */
  private dropDecisions(outdated: boolean): void {
    this.cache = new WeakMap();
    this.recordAnswers.clear();
    if (outdated) this.scopeTables?.reset();
    this.cacheEntries = 0;
    this.cacheBytes = 0;
    if (outdated) this.generationCounter++;
  }

  /**
   * `located`: the query's client facts when the caller located it already; `byRecord`: the caller
   * keeps a location-only decision per geo record, so only a network-dependent one is worth keeping
   * here (on distinct-subnet traffic the rest would only churn this cache).
   */
  private run(
    query: SteeringQuery,
    useCache: boolean,
    located?: ClientFacts,
    byRecord = false,
    counted = true,
  ): CachedDecision {
    if (counted) this.decisions++;
    const snapshot = this.snapshot();
    const snap = this.preparedFor(snapshot);
    const health = this.healthFor(snapshot, snap, query.now);
    this.syncGeoGeneration();
    const { address, source } = queryAddress(query);
    const client = located ?? locateClient(address, this.locator, this.config);

    let key: string | undefined;
    if (useCache) {
      this.syncCache(snap.version, health.epoch);
      key = `${query.family}|${networkCacheKey(client)}`;
      const hit = this.cache.get(query.name)?.get(key);
      if (hit !== undefined) {
        this.cacheHits++;
        const location = locationOf(client, source);
        return hit.decision.location === location
          ? hit
          : { decision: { ...hit.decision, location }, networkDependent: hit.networkDependent };
      }
    }

    const ctx = this.newContext(query, snapshot, snap, health.views, client, source);
    for (const step of this.chainHead) step(ctx);
    for (const step of this.chainTail) step(ctx);
    const result: CachedDecision = { decision: this.toDecision(ctx), networkDependent: ctx.networkDependent };

    // A decision scoped narrower than its key's network (a weighted policy hashing the client /24
    // of a wider geo network) differs within that network: it is not kept.
    const keyed = result.decision.scopePrefix <= client.scopePrefix;
    if (useCache && key !== undefined && keyed && (!byRecord || result.networkDependent)) {
      const bytes = estimatedBytes(result.decision);
      if (this.cacheEntries >= this.cacheSize || this.cacheBytes + bytes > this.cacheBytesLimit) {
        this.cache = new WeakMap();
        this.cacheEntries = 0;
        this.cacheBytes = 0;
      }
      let perName = this.cache.get(query.name);
      if (perName === undefined) {
        perName = new Map();
        this.cache.set(query.name, perName);
      }
      perName.set(key, result);
      this.cacheEntries++;
      this.cacheBytes += bytes;
    }
    return result;
  }

  /** After a geo data reload: forget the decisions made from the old data. */
  private syncGeoGeneration(): void {
    const locator = this.locator;
    // A ReloadingGeoLocator says how often it swapped data in; any other locator is taken as fixed.
    const reloads = (locator as { reloads?: unknown } | undefined)?.reloads;
    const generation = typeof reloads === 'function' ? Number(reloads.call(locator)) : 0;
    if (generation === this.clientGeneration) return;
    this.clientGeneration = generation;
    this.dropDecisions(true);
  }

  private preparedFor(snapshot: Snapshot): PreparedSnapshot {
    if (this.prepared === undefined || this.prepared.version !== snapshot.version) {
      this.prepared = prepareSnapshot(snapshot);
      this.rebuilds++;
    }
    return this.prepared;
  }

  /** Health verdicts at `now`, reused while no report crosses its expiry and the grace period holds. */
  private healthFor(snapshot: Snapshot, snap: PreparedSnapshot, now: number): HealthState {
    const cached = this.healthState;
    if (
      cached !== undefined &&
      cached.version === snap.version &&
      now >= cached.computedAt &&
      now < cached.validUntil
    ) {
      return cached;
    }
    this.healthEvaluations++;
    const views = new Map<string, RegionHealthView>();
    let validUntil = Infinity;
    if (now < this.graceUntil) validUntil = this.graceUntil;
    for (const info of snap.regions) {
      const reports = snapshot.health.get(info.id);
      const view = evaluateRegionHealth(reports, now, this.graceUntil, this.healthPolicy(info.id));
      views.set(info.id, view);
      // A pending flip (hysteresis) changes the verdict with time alone, like an expiry.
      if (view.changesAt !== undefined && view.changesAt > now && view.changesAt < validUntil)
        validUntil = view.changesAt;
      if (reports === undefined) continue;
      for (const r of reports.values())
        if (r.expiresAt > now && r.expiresAt < validUntil) validUntil = r.expiresAt;
    }
    const changed =
      cached === undefined || cached.version !== snap.version || !sameViews(cached.views, views) ? 1 : 0;
    this.healthEpoch += changed;
    this.healthState = { version: snap.version, computedAt: now, validUntil, views, epoch: this.healthEpoch };
    return this.healthState;
  }

  private newContext(
    query: SteeringQuery,
    snapshot: Snapshot,
    snap: PreparedSnapshot,
    health: ReadonlyMap<string, RegionHealthView>,
    client: ClientFacts,
    source: ClientLocation['source'],
  ): StepContext {
    return {
      query,
      client,
      source,
      name: query.name,
      family: query.family,
      now: query.now,
      config: this.config,
      snap,
      health,
      rawHealth: snapshot.health,
      graceUntil: this.graceUntil,
      location: locationOf(client, source),
      geo: undefined,
      clientBytes: undefined,
      verdicts: [],
      verdictById: new Map(),
      pool: [],
      eligible: [],
      ordered: undefined,
      cidrMatch: undefined,
      locationDependent: false,
      rule: '',
      notes: [],
      allDown: false,
      outcome: undefined,
      answerRegions: [],
      addresses: [],
      scopePrefix: 0,
      networkHash: 0,
      nameSalt: 0,
      networkDependent: false,
    };
  }

  private toDecision(ctx: StepContext): Decision {
    const considered: RegionVerdict[] = ctx.verdicts.map((v) => ({
      regionId: v.info.id,
      state: v.info.state,
      weight: v.info.weight,
      health: v.health,
      ...(v.distanceKm === undefined ? {} : { distanceKm: Math.round(v.distanceKm * 10) / 10 }),
      kept: v.kept,
      reason: v.reason,
    }));
    const rule = ctx.notes.length > 0 ? `${ctx.rule} (${ctx.notes.join('; ')})` : ctx.rule;
    return {
      outcome: ctx.outcome ?? 'nodata',
      regions: ctx.answerRegions.map((r) => r.id),
      addresses: ctx.addresses,
      ttl: ctx.name.ttl,
      scopePrefix: ctx.scopePrefix,
      allDown: ctx.allDown,
      location: ctx.location,
      considered,
      rule,
    };
  }
}

/** Whether two health evaluations would steer the same way (so cached decisions stay valid). */
function sameViews(
  a: ReadonlyMap<string, RegionHealthView>,
  b: ReadonlyMap<string, RegionHealthView>,
): boolean {
  if (a.size !== b.size) return false;
  for (const [id, view] of b) {
    const old = a.get(id);
    if (
      old === undefined ||
      old.status !== view.status ||
      old.up !== view.up ||
      old.inFlight !== view.inFlight
    ) {
      return false;
    }
  }
  return true;
}
