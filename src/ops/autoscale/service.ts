// The autoscaler of one node. Every node samples each policy's region from its own snapshot (the
// load the proxies report), so whichever node decides has a warm window. One node decides: the
// holder of the AutoscaleStore lease (renewed every tick, taken over by another node `leaseSeconds`
// after its holder stops). For each region due for evaluation, the decider reads the region's last
// record, runs the pure `decide`, and:
//   hold          → records the decision (reasons, cooldown left);
//   scale, dry run→ records and logs what it would do and audits it; the actuator is not called;
//   scale         → records `running` first (a write refused unless the lease still holds its
//                   fencing number: a node that lost the lease stops here), calls the actuator, then
//                   records the result. Success is audited (`autoscale.scale-up|scale-down`) and starts
//                   the cooldown; a failure is logged, counted, alerted (`autoscale_failed`) and the
//                   next evaluation decides again (no cooldown was started), so it is retried.
// Nothing here is on a DNS or proxy path; a failing store or actuator never throws out of a timer.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DeepReadonly } from '../../config/load.js';
import type { AutoscaleConfig, ScalingPolicyConfig } from '../../config/autoscale-schema.js';
import { describeError } from '../../core/errors.js';
import type { Snapshot } from '../../core/types.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import type { AutoscaleRecord, AutoscaleStore } from '../../storage/autoscale-store.js';
import type { StateStore } from '../../storage/state-store.js';
import type { AlertManager } from '../alerts.js';
import type { AuditLog } from '../audit.js';
import type { Actuator } from './actuator.js';
import { createActuator } from './actuators/index.js';
import { decide, type LoadSample } from './decide.js';

export interface AutoscalerOptions {
  readonly config: DeepReadonly<AutoscaleConfig>;
  readonly store: AutoscaleStore;
  readonly state: Pick<StateStore, 'current'>;
  readonly audit: Pick<AuditLog, 'record'>;
  readonly alerts: Pick<AlertManager, 'raise'>;
  readonly nodeId: string;
  readonly resolvePath: (path: string) => string;
  readonly log?: Logger;
  readonly registry?: Registry;
  readonly clock?: () => number;
  /** How often the lease is renewed and due regions are sampled and evaluated; default 1000 ms. */
  readonly tickMs?: number;
}

/** One region's line in `GET /v1/autoscale` and `meridian autoscale status`. */
export interface AutoscaleRegionStatus {
  readonly region: string;
  readonly policy: DeepReadonly<Omit<ScalingPolicyConfig, 'actuator'>>;
  readonly actuator: string;
  readonly dryRun: boolean;
  readonly current?: number;
  readonly desired?: number;
  /** The last evaluation (by whichever node decided then). */
  readonly last?: AutoscaleRecord;
  /** Time left before a scale-up, and a scale-down, may happen (from the last scaling action). */
  readonly cooldownLeftMs: { readonly up: number; readonly down: number };
}

export interface AutoscaleStatus {
  readonly node: string;
  /** Whether this node holds the decider lease. */
  readonly deciding: boolean;
  readonly regions: readonly AutoscaleRegionStatus[];
}

interface RegionRun {
  readonly policy: DeepReadonly<ScalingPolicyConfig>;
  readonly actuator: Actuator;
  samples: LoadSample[];
  nextSampleAt: number;
  nextEvaluationAt: number;
  busy: boolean;
}

const ALERT_DEDUPE_MS = 10 * 60_000;
const MAX_SAMPLES = 10_000;

/** A region's load from its fresh health reports; undefined when no proxy reported lately. */
export function sampleRegion(snapshot: Snapshot, regionId: string, now: number): LoadSample | undefined {
  const fresh = [...(snapshot.health.get(regionId)?.values() ?? [])].filter((r) => r.expiresAt > now);
  if (fresh.length === 0) return undefined;
  let inFlight = 0;
  let requestRate = 0;
  let p95LatencyMs = 0;
  for (const r of fresh) {
    inFlight += r.inFlight;
    requestRate += r.requestRate;
    p95LatencyMs = Math.max(p95LatencyMs, r.p95LatencyMs);
  }
  return { at: now, inFlight, requestRate, p95LatencyMs };
}

/** Backends of the region in the state store that take new traffic. */
export function activeBackends(snapshot: Snapshot, regionId: string): number {
  let n = 0;
  for (const b of snapshot.backends.get(regionId)?.values() ?? []) if (b.state === 'active') n++;
  return n;
}

export class Autoscaler {
  private readonly o: AutoscalerOptions;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly tickMs: number;
  private readonly leaseMs: number;
  private readonly runs = new Map<string, RegionRun>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private readonly metrics:
    | {
        readonly leader: Gauge;
        readonly current: Gauge<'region'>;
        readonly desired: Gauge<'region'>;
        readonly decisions: Counter<'region' | 'action'>;
        readonly actuations: Counter<'region' | 'actuator' | 'result'>;
      }
    | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private fence: number | undefined;
  private closed = false;

  /** Builds every policy's actuator: a bad actuator block throws E_CONFIG naming its field. */
  constructor(options: AutoscalerOptions) {
    this.o = options;
    this.log = (options.log ?? silentLogger).child({ component: 'autoscale' });
    this.clock = options.clock ?? Date.now;
    this.tickMs = options.tickMs ?? 1000;
    this.leaseMs = options.config.leaseSeconds * 1000;
    options.config.regions.forEach((policy, i) => {
      const actuator = createActuator(policy.actuator, `autoscale.regions[${i}].actuator`, {
        resolvePath: options.resolvePath,
        log: this.log.child({ region: policy.region }),
      });
      this.runs.set(policy.region, {
        policy,
        actuator,
        samples: [],
        nextSampleAt: 0,
        nextEvaluationAt: 0,
        busy: false,
      });
    });
    const registers = options.registry === undefined ? undefined : [options.registry];
    this.metrics =
      registers === undefined
        ? undefined
        : {
            leader: new Gauge({
              name: 'meridian_autoscale_leader',
              help: 'Whether this node holds the autoscaler decider lease (1) or not (0).',
              registers,
            }),
            current: new Gauge({
              name: 'meridian_autoscale_current_backends',
              help: 'Backends a region had at its last evaluation on this node.',
              labelNames: ['region'],
              registers,
            }),
            desired: new Gauge({
              name: 'meridian_autoscale_desired_backends',
              help: 'Backends the last evaluation on this node asked for (equal to current when holding).',
              labelNames: ['region'],
              registers,
            }),
            decisions: new Counter({
              name: 'meridian_autoscale_decisions_total',
              help: 'Autoscaling evaluations made by this node, by region and action (scale-up, scale-down, hold).',
              labelNames: ['region', 'action'],
              registers,
            }),
            actuations: new Counter({
              name: 'meridian_autoscale_actuations_total',
              help: 'Actuator calls by region, actuator and result (ok, failed, dry-run).',
              labelNames: ['region', 'actuator', 'result'],
              registers,
            }),
          };
  }

  /** Starts ticking; without policies it does nothing at all (no lease is taken). */
  start(): void {
    if (this.closed || this.timer !== undefined || this.runs.size === 0) return;
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
    void this.tick();
  }

  /** Stops, aborts actuator calls in progress, waits for them, and hands the lease over. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.abort.abort();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    if (this.fence !== undefined) {
      await this.o.store
        .release(this.o.nodeId)
        .catch((err: unknown) => this.log.warn({ err: describeError(err) }, 'autoscale lease not released'));
    }
    for (const run of this.runs.values()) await run.actuator.close?.().catch(() => undefined);
  }

  /** Whether this node decided at its last tick. */
  get deciding(): boolean {
    return this.fence !== undefined;
  }

  async status(): Promise<AutoscaleStatus> {
    const records = this.runs.size === 0 ? new Map<string, AutoscaleRecord>() : await this.o.store.records();
    const now = this.clock();
    const regions = [...this.runs.values()].map((run): AutoscaleRegionStatus => {
      const { actuator: block, ...policy } = run.policy;
      const last = records.get(policy.region);
      const since = last?.lastScale?.at;
      const left = (seconds: number): number =>
        since === undefined ? 0 : Math.max(0, since + seconds * 1000 - now);
      return {
        region: policy.region,
        policy,
        actuator: block.type,
        dryRun: policy.dryRun,
        ...(last === undefined ? {} : { current: last.current, desired: last.desired, last }),
        cooldownLeftMs: { up: left(policy.cooldownUpSeconds), down: left(policy.cooldownDownSeconds) },
      };
    });
    return { node: this.o.nodeId, deciding: this.deciding, regions };
  }

  /** One round: sample due regions, renew or take the lease, evaluate due regions if holding it. */
  async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      const now = this.clock();
      const snapshot = this.o.state.current();
      for (const [region, run] of this.runs) {
        if (now < run.nextSampleAt) continue;
        run.nextSampleAt = now + run.policy.intervalSeconds * 1000;
        const sample = sampleRegion(snapshot, region, now);
        const horizon = now - run.policy.windowSeconds * 1000;
        run.samples = run.samples.filter((s) => s.at > horizon);
        if (sample !== undefined) run.samples.push(sample);
        if (run.samples.length > MAX_SAMPLES) run.samples.splice(0, run.samples.length - MAX_SAMPLES);
      }
      await this.renewLease();
      const fence = this.fence;
      if (fence === undefined || this.closed) return;
      for (const [region, run] of this.runs) {
        if (run.busy || now < run.nextEvaluationAt) continue;
        run.nextEvaluationAt = now + run.policy.intervalSeconds * 1000;
        run.busy = true;
        const p = this.evaluate(region, run, fence).finally(() => {
          run.busy = false;
        });
        this.running.add(p);
        void p.finally(() => this.running.delete(p));
      }
    } catch (err) {
      this.log.error({ err: describeError(err) }, 'autoscale tick failed');
    } finally {
      this.ticking = false;
    }
  }

  private async renewLease(): Promise<void> {
    const before = this.fence;
    try {
      this.fence = await this.o.store.lease(this.o.nodeId, this.leaseMs);
    } catch (err) {
      // Cannot tell whether we still hold it: stop deciding until the store answers again.
      this.fence = undefined;
      this.log.warn({ err: describeError(err) }, 'autoscale lease not renewed; not deciding');
    }
    if (before === undefined && this.fence !== undefined) {
      this.log.info({ fence: this.fence }, 'this node now decides autoscaling');
    } else if (before !== undefined && this.fence === undefined) {
      this.log.info('this node no longer decides autoscaling');
    }
    this.metrics?.leader.set(this.fence === undefined ? 0 : 1);
  }

  /** Never rejects. */
  private async evaluate(region: string, run: RegionRun, fence: number): Promise<void> {
    const { policy, actuator } = run;
    const now = this.clock();
    const log = this.log.child({ region });
    try {
      const previous = (await this.o.store.records()).get(region);
      let current: number;
      try {
        current =
          actuator.current === undefined
            ? activeBackends(this.o.state.current(), region)
            : await actuator.current(AbortSignal.any([this.abort.signal, AbortSignal.timeout(30_000)]));
      } catch (err) {
        await this.failed(region, run, `cannot read the current count: ${describeError(err)}`, log);
        return;
      }
      const decision = decide({
        policy,
        current,
        samples: run.samples,
        now,
        ...(previous?.lastScale === undefined ? {} : { lastScaleAt: previous.lastScale.at }),
      });
      this.metrics?.decisions.inc({ region, action: decision.action });
      this.metrics?.current.set({ region }, current);
      this.metrics?.desired.set({ region }, decision.desired);
      const base: AutoscaleRecord = {
        region,
        node: this.o.nodeId,
        fence,
        evaluatedAt: now,
        action: decision.action,
        current,
        desired: decision.desired,
        recommended: decision.recommended,
        ...(decision.value === undefined ? {} : { value: decision.value }),
        reasons: decision.reasons,
        cooldownLeftMs: decision.cooldownLeftMs,
        dryRun: policy.dryRun,
        ...(previous?.lastScale === undefined ? {} : { lastScale: previous.lastScale }),
        ...(previous?.actuator === undefined ? {} : { actuator: previous.actuator }),
      };
      if (decision.action === 'hold') {
        log.debug({ current, reasons: decision.reasons }, 'autoscale: hold');
        await this.save(base, log);
        return;
      }
      const action = decision.action;
      const lastScale = { at: now, action, from: current, to: decision.desired };
      if (policy.dryRun) {
        log.info(
          { action, current, desired: decision.desired, reasons: decision.reasons },
          `autoscale (dry run): would ${action} region ${region} from ${current} to ${decision.desired}`,
        );
        const record: AutoscaleRecord = {
          ...base,
          lastScale,
          actuator: {
            type: actuator.type,
            result: 'dry-run',
            at: now,
            message: 'dry run: actuator not called',
          },
        };
        if (!(await this.save(record, log))) return;
        this.metrics?.actuations.inc({ region, actuator: actuator.type, result: 'dry-run' });
        await this.auditScale(record);
        return;
      }
      // Fenced before acting: only the current lease holder gets past this write.
      if (
        !(await this.save({ ...base, actuator: { type: actuator.type, result: 'running', at: now } }, log))
      ) {
        return;
      }
      let message: string;
      try {
        message = await actuator.scale(
          {
            region,
            action,
            current,
            desired: decision.desired,
            reasons: decision.reasons,
            metric: policy.metric,
            ...(decision.value === undefined ? {} : { value: decision.value }),
            decidedAt: now,
            node: this.o.nodeId,
          },
          this.abort.signal,
        );
      } catch (err) {
        if (this.closed) return;
        await this.failed(region, run, describeError(err), log, base);
        return;
      }
      const done = this.clock();
      const record: AutoscaleRecord = {
        ...base,
        lastScale,
        actuator: { type: actuator.type, result: 'ok', at: done, message },
      };
      this.metrics?.actuations.inc({ region, actuator: actuator.type, result: 'ok' });
      log.info(
        { action, current, desired: decision.desired, reasons: decision.reasons, result: message },
        `autoscale: ${action} region ${region} from ${current} to ${decision.desired}`,
      );
      await this.save(record, log);
      await this.auditScale(record);
    } catch (err) {
      log.warn({ err: describeError(err) }, 'autoscale evaluation failed; trying again at the next one');
    }
  }

  private async save(record: AutoscaleRecord, log: Logger): Promise<boolean> {
    if (await this.o.store.save(record)) return true;
    log.info({ fence: record.fence }, 'autoscale: lease lost before the decision was recorded; not acting');
    this.fence = undefined;
    return false;
  }

  private async failed(
    region: string,
    run: RegionRun,
    message: string,
    log: Logger,
    base?: AutoscaleRecord,
  ): Promise<void> {
    const type = run.actuator.type;
    this.metrics?.actuations.inc({ region, actuator: type, result: 'failed' });
    log.warn(
      { actuator: type, err: message },
      'autoscale actuator failed; trying again at the next evaluation',
    );
    if (base !== undefined) {
      await this.save({ ...base, actuator: { type, result: 'failed', at: this.clock(), message } }, log);
    }
    await this.o.alerts.raise(
      {
        type: 'autoscale_failed',
        level: 'warning',
        subject: `region/${region}`,
        message: `autoscaling region ${region} failed (${type} actuator): ${message}`,
      },
      { key: `autoscale_failed:${region}`, ms: ALERT_DEDUPE_MS },
    );
  }

  private async auditScale(record: AutoscaleRecord): Promise<void> {
    await this.o.audit.record({
      actor: `autoscaler:${this.o.nodeId}`,
      action: `autoscale.${record.lastScale?.action ?? record.action}`,
      target: `region/${record.region}`,
      before: { backends: record.current },
      after: {
        backends: record.desired,
        reasons: record.reasons,
        dryRun: record.dryRun,
        ...(record.actuator === undefined
          ? {}
          : {
              actuator: record.actuator.type,
              result: record.actuator.result,
              message: record.actuator.message,
            }),
      },
    });
  }
}
