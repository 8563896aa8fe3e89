// Alerts: the AlertManager watches the state store and raises an alert record (and webhook) when
// - a region's health verdict changes (evaluateRegionHealth: up ↔ down, expiry included),
// - a backend's health changes (majority of the fresh reports that mention it),
// - a region or backend flaps: N transitions within a window raise one `health_flap` alert, then
//   its transitions are not alerted until it has been stable for a whole window, when one alert
//   gives its state,
// - the geo database fails to reload (`geoReloadFailed`, called by the DNS tier),
// - Redis becomes unreachable for this node and recovers (`status().connected`),
// - the state store lost the fleet's data (`status().dataLost`: critical, until a reseed),
// - a scheduled task fails or missed runs (`raise`, called by the task scheduler),
// - a DNS or proxy worker dies while serving, or its replacement fails to start (`workerTrouble`).
//
// Nothing here runs on a query or request path: `onChange` only marks the view dirty, and the
// evaluation runs from setImmediate and a 1 s timer (health expires with time, without a change).
// Several nodes seeing the same transition record one alert (a dedupe key per transition in the
// record store). When the record store cannot be reached (Redis down), the alert still goes to
// the webhooks at once and is written later, with its original time.
import { Counter, type Registry } from 'prom-client';
import { describeError } from '../core/errors.js';
import { evaluateRegionHealth, type RegionHealthPolicy, type RegionHealthView } from '../core/health.js';
import type { Region, Snapshot, WorkerTrouble } from '../core/types.js';
import { silentLogger, type Logger } from '../infra/logger.js';
import type { StateStore } from '../storage/state-store.js';
import {
  formatId,
  type AlertInput,
  type AlertLevel,
  type AlertRecord,
  type OpsRecordStore,
} from '../storage/ops-record-store.js';

export interface FlapConfig {
  /** Transitions within the window that make a subject "flapping". */
  readonly transitions: number;
  readonly windowSeconds: number;
}

export interface AlertSink {
  send(alert: AlertRecord): void;
}

export interface AlertManagerOptions {
  readonly store: Pick<StateStore, 'current' | 'onChange' | 'status'>;
  readonly records: OpsRecordStore;
  /** This node's id: recorded with each alert and the subject of Redis alerts. */
  readonly nodeId: string;
  readonly webhooks?: AlertSink;
  readonly flap?: FlapConfig;
  readonly log?: Logger;
  readonly registry?: Registry;
  readonly clock?: () => number;
  /** Re-evaluation period; default 1000 ms. */
  readonly tickMs?: number;
  /** Passed to evaluateRegionHealth (the start-up grace period of this node). */
  readonly graceUntil?: number;
  /** The region health rule per region (`dns.steering.health`); default: instant majority. */
  readonly healthPolicy?: (regionId: string) => RegionHealthPolicy | undefined;
  /** Window in which the same transition seen by several nodes is recorded once; default 5 s (nodes see a transition within about a second of each other). */
  readonly dedupeMs?: number;
  /** Redis must stay unreachable this long before an alert; default 2000 ms. */
  readonly redisUnreachableAfterMs?: number;
  /** Alerts kept for a later write while the record store is unreachable; default 1000. */
  readonly maxPending?: number;
}

interface FlapState {
  times: number[];
  flapping: boolean;
  lastTransition: number;
  /** The latest state while flapping, reported when it calms down. */
  up: boolean;
}

interface Pending {
  readonly data: AlertInput;
  readonly time: number;
}

const DEFAULT_FLAP: FlapConfig = { transitions: 4, windowSeconds: 300 };

export class AlertManager {
  private readonly store: AlertManagerOptions['store'];
  private readonly records: OpsRecordStore;
  private readonly nodeId: string;
  private readonly sink: AlertSink | undefined;
  private readonly flap: FlapConfig;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly tickMs: number;
  private readonly graceUntil: number;
  private readonly healthPolicy: (regionId: string) => RegionHealthPolicy | undefined;
  private readonly dedupeMs: number;
  private readonly redisAfterMs: number;
  private readonly maxPending: number;
  private readonly counter: Counter<'type' | 'level'> | undefined;

  /** regionId → up, for regions with a verdict other than `unmonitored`. */
  private readonly regions = new Map<string, boolean>();
  /** `regionId/backendId` → healthy, for backends some fresh report mentions. */
  private readonly backends = new Map<string, boolean>();
  private readonly flaps = new Map<string, FlapState>();
  private readonly pending: Pending[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private redisDownSince: number | undefined;
  private redisAlerted = false;
  /** The foundEpoch of the data loss already alerted (undefined: none). */
  private dataLossAlerted: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private dirty = false;
  private started = false;
  private closed = false;
  private flushing = false;

  constructor(options: AlertManagerOptions) {
    this.store = options.store;
    this.records = options.records;
    this.nodeId = options.nodeId;
    this.sink = options.webhooks;
    this.flap = options.flap ?? DEFAULT_FLAP;
    this.log = options.log ?? silentLogger;
    this.clock = options.clock ?? Date.now;
    this.tickMs = options.tickMs ?? 1000;
    this.graceUntil = options.graceUntil ?? 0;
    this.healthPolicy = options.healthPolicy ?? ((): undefined => undefined);
    this.dedupeMs = options.dedupeMs ?? 5000;
    this.redisAfterMs = options.redisUnreachableAfterMs ?? 2000;
    this.maxPending = options.maxPending ?? 1000;
    this.counter =
      options.registry === undefined
        ? undefined
        : new Counter({
            name: 'meridian_ops_alerts_total',
            help: 'Alerts raised by this node, by type and level.',
            labelNames: ['type', 'level'],
            registers: [options.registry],
          });
  }

  /** Takes the current health as the baseline (no alerts for it) and starts watching. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.evaluate(true);
    this.unsubscribe = this.store.onChange(() => this.markDirty());
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  /** Stops watching and waits (bounded by the record store's own timeouts) for alerts being written. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.idle();
  }

  /** Resolves when every alert raised so far has been written (or given up on). For tests and close. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Called by the DNS tier when a new geo database could not be loaded (the old one stays). */
  geoReloadFailed(path: string, err: unknown): void {
    this.emit(
      {
        type: 'geo_reload_failed',
        level: 'warning',
        subject: path,
        message: `geo database ${path} could not be reloaded (still serving the previous one): ${describeError(err)}`,
      },
      `geo:${this.nodeId}:${path}`,
      60_000,
    );
  }

  /**
   * Called by the tiers' supervisors: a worker died while serving (warning; a new one is starting)
   * or a new one failed to start (critical: the tier serves with fewer workers until one does). One
   * alert per tier, kind and node a minute, so a worker crashing in a loop is one alert a minute.
   */
  workerTrouble(trouble: WorkerTrouble): void {
    const tier = trouble.tier.toLowerCase();
    const died = trouble.what === 'died';
    const retry =
      trouble.retryMs === undefined ? 'not retried' : `tried again every ${trouble.retryMs / 1000} s`;
    this.emit(
      {
        type: died ? 'worker_died' : 'worker_restart_failed',
        level: died ? 'warning' : 'critical',
        subject: `worker/${tier}/${trouble.worker}`,
        message: died
          ? `${trouble.tier} worker ${trouble.worker} on node ${this.nodeId} died (${trouble.reason}); a new one is starting`
          : `${trouble.tier} worker ${trouble.worker} on node ${this.nodeId} could not be restarted (${trouble.reason}); ${retry}`,
      },
      `worker:${this.nodeId}:${tier}:${trouble.what}`,
      60_000,
    );
  }

  /**
   * Records an alert (with this node's id) and sends it to the webhooks. Never rejects: resolves
   * to the record, or undefined when it was deduplicated or kept for a later write.
   */
  raise(alert: AlertInput, dedupe?: { key: string; ms: number }): Promise<AlertRecord | undefined> {
    const data: AlertInput = { ...alert, node: alert.node ?? this.nodeId };
    const time = this.clock();
    const p = this.write(data, time, dedupe);
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  private emit(alert: AlertInput, dedupeKey: string, dedupeMs = this.dedupeMs): void {
    void this.raise(alert, { key: dedupeKey, ms: dedupeMs });
  }

  private async write(
    data: AlertInput,
    time: number,
    dedupe?: { key: string; ms: number },
  ): Promise<AlertRecord | undefined> {
    this.log.info({ alert: data }, 'alert');
    try {
      const record = await this.records.append(
        'alert',
        data,
        dedupe === undefined ? { time } : { time, dedupeKey: dedupe.key, dedupeMs: dedupe.ms },
      );
      if (record !== undefined) this.deliver(record);
      return record;
    } catch (err) {
      // Unreachable store: tell the webhooks now, write the record when the store is back.
      this.log.warn({ err: describeError(err), type: data.type }, 'alert kept for a later write');
      this.pending.push({ data, time });
      if (this.pending.length > this.maxPending) this.pending.shift();
      this.deliver({ id: formatId({ ms: time, seq: 0 }), time: new Date(time).toISOString(), ...data });
      return undefined;
    }
  }

  private deliver(record: AlertRecord): void {
    this.counter?.inc({ type: record.type, level: record.level });
    try {
      this.sink?.send(record);
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'alert sink failed');
    }
  }

  private markDirty(): void {
    if (this.dirty || this.closed) return;
    this.dirty = true;
    setImmediate(() => {
      this.dirty = false;
      if (!this.closed) this.evaluate(false);
    });
  }

  private tick(): void {
    if (this.closed) return;
    try {
      this.evaluate(false);
      this.watchRedis();
      this.watchDataLoss();
      this.calmFlaps();
      if (this.pending.length > 0 && !this.flushing) void this.flushPending();
    } catch (err) {
      this.log.error({ err: describeError(err) }, 'alert evaluation failed');
    }
  }

  private async flushPending(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        const next = this.pending[0];
        if (next === undefined) break;
        await this.records.append('alert', next.data, { time: next.time });
        this.pending.shift();
      }
    } catch {
      // still unreachable: try again on a later tick
    } finally {
      this.flushing = false;
    }
  }

  private evaluate(baseline: boolean): void {
    const now = this.clock();
    const snapshot = this.store.current();
    for (const id of this.regions.keys()) if (!snapshot.regions.has(id)) this.regions.delete(id);
    for (const key of this.backends.keys()) {
      const regionId = key.slice(0, key.indexOf('/'));
      if (!snapshot.regions.has(regionId)) this.backends.delete(key);
    }
    for (const region of snapshot.regions.values()) {
      const view = evaluateRegionHealth(
        snapshot.health.get(region.id),
        now,
        this.graceUntil,
        this.healthPolicy(region.id),
      );
      this.evaluateRegion(region, view, baseline, now);
      this.evaluateBackends(snapshot, region, now, baseline);
    }
  }

  private evaluateRegion(region: Region, view: RegionHealthView, baseline: boolean, now: number): void {
    if (view.status === 'unmonitored' || view.status === 'unknown') {
      this.regions.delete(region.id);
      return;
    }
    const prev = this.regions.get(region.id);
    this.regions.set(region.id, view.up);
    if (baseline || prev === view.up || (prev === undefined && view.up)) return;
    const subject = `region/${region.id}`;
    const detail =
      view.status === 'expired'
        ? 'every health report has expired'
        : `${view.healthyBackends}/${view.totalBackends} backends healthy, ${view.freshReporters} fresh report(s)`;
    const message = view.up
      ? `region ${region.id} is up again (${detail})`
      : `region ${region.id} is down (${detail})`;
    const level: AlertLevel = view.up ? 'info' : region.state === 'active' ? 'critical' : 'warning';
    this.transition(subject, view.up, now, { type: 'region_health', level, subject, message });
  }

  private evaluateBackends(snapshot: Snapshot, region: Region, now: number, baseline: boolean): void {
    const fresh = [...(snapshot.health.get(region.id)?.values() ?? [])].filter((r) => r.expiresAt > now);
    const votes = new Map<string, { healthy: number; total: number; reason?: string }>();
    for (const report of fresh) {
      for (const b of report.backends ?? []) {
        const v = votes.get(b.backendId) ?? { healthy: 0, total: 0 };
        v.total++;
        if (b.healthy) v.healthy++;
        else if (b.reason !== undefined) v.reason = b.reason;
        votes.set(b.backendId, v);
      }
    }
    const prefix = `${region.id}/`;
    for (const key of this.backends.keys()) {
      if (key.startsWith(prefix) && !votes.has(key.slice(prefix.length))) this.backends.delete(key);
    }
    for (const [backendId, v] of votes) {
      const key = `${region.id}/${backendId}`;
      const healthy = v.healthy * 2 >= v.total;
      const prev = this.backends.get(key);
      this.backends.set(key, healthy);
      if (baseline || prev === healthy || (prev === undefined && healthy)) continue;
      const subject = `backend/${key}`;
      const message = healthy
        ? `backend ${backendId} in region ${region.id} is healthy again`
        : `backend ${backendId} in region ${region.id} is unhealthy (${v.total - v.healthy}/${v.total} reporters)${v.reason === undefined ? '' : `: ${v.reason}`}`;
      this.transition(subject, healthy, now, {
        type: 'backend_health',
        level: healthy ? 'info' : 'warning',
        subject,
        message,
      });
    }
  }

  private transition(subject: string, up: boolean, now: number, alert: AlertInput): void {
    const windowMs = this.flap.windowSeconds * 1000;
    const state = this.flaps.get(subject) ?? { times: [], flapping: false, lastTransition: now, up };
    this.flaps.set(subject, state);
    state.times = state.times.filter((t) => t > now - windowMs);
    state.times.push(now);
    state.lastTransition = now;
    state.up = up;
    if (state.flapping) return;
    if (state.times.length >= this.flap.transitions) {
      state.flapping = true;
      this.emit(
        {
          type: 'health_flap',
          level: 'warning',
          subject,
          message: `${subject} changed health ${state.times.length} times in ${this.flap.windowSeconds}s; further changes are not alerted until it is stable for ${this.flap.windowSeconds}s`,
        },
        `health_flap:${subject}`,
        windowMs,
      );
      return;
    }
    this.emit(alert, `${alert.type}:${subject}:${up ? 'up' : 'down'}`);
  }

  private calmFlaps(): void {
    const now = this.clock();
    const windowMs = this.flap.windowSeconds * 1000;
    for (const [subject, state] of this.flaps) {
      if (state.lastTransition > now - windowMs) continue;
      this.flaps.delete(subject);
      if (!state.flapping) continue;
      const isRegion = subject.startsWith('region/');
      this.emit(
        {
          type: isRegion ? 'region_health' : 'backend_health',
          level: state.up ? 'info' : isRegion ? 'critical' : 'warning',
          subject,
          message: `${subject} stopped flapping and is ${state.up ? 'up' : 'down'}`,
        },
        `calm:${subject}:${state.lastTransition}`,
      );
    }
  }

  private watchDataLoss(): void {
    const lost = this.store.status().dataLost;
    if (lost === undefined) {
      this.dataLossAlerted = undefined;
      return;
    }
    if (this.dataLossAlerted === lost.foundEpoch) return;
    this.dataLossAlerted = lost.foundEpoch;
    const found = lost.foundEpoch === '' ? 'is empty' : `holds another epoch (${lost.foundEpoch})`;
    void this.raise({
      type: 'state_data_lost',
      level: 'critical',
      subject: this.nodeId,
      message:
        `the state store ${found}: it lost the fleet's data (epoch ${lost.expectedEpoch}); node ${this.nodeId} ` +
        'serves its last snapshot and refuses writes until `meridian state reseed --from-node <node>`',
    });
  }

  private watchRedis(): void {
    const status = this.store.status();
    if (status.kind !== 'redis') return;
    const now = this.clock();
    if (!status.connected) {
      this.redisDownSince ??= now;
      if (!this.redisAlerted && now - this.redisDownSince >= this.redisAfterMs) {
        this.redisAlerted = true;
        void this.raise({
          type: 'redis_unreachable',
          level: 'critical',
          subject: this.nodeId,
          message: `node ${this.nodeId} cannot reach Redis since ${new Date(this.redisDownSince).toISOString()}; serving the last known state`,
        });
      }
      return;
    }
    if (this.redisAlerted && this.redisDownSince !== undefined) {
      void this.raise({
        type: 'redis_recovered',
        level: 'info',
        subject: this.nodeId,
        message: `node ${this.nodeId} reaches Redis again after ${Math.round((now - this.redisDownSince) / 1000)}s`,
      });
    }
    this.redisDownSince = undefined;
    this.redisAlerted = false;
  }
}
