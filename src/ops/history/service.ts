// The history of one node: opens nothing itself (the store comes from storage/open-history.ts),
// runs the recorder (per-minute traffic rollups from the node's counters) and the health watch
// (region verdict and backend health changes), and answers the history queries the admin API,
// the CLI and the report share. `recordHealthEvent` is the entry point for other health sources
// (e.g. a region verdict sink): it stores the event, deduplicated across nodes.
import { invalid } from '../../core/errors.js';
import type { DeepReadonly } from '../../config/load.js';
import type { HistoryConfig } from '../../config/history-schema.js';
import type { Logger } from '../../infra/logger.js';
import { hourOf, type HealthEvent, type HistoryStore, type Resolution } from '../../storage/history-store.js';
import type { StateStore } from '../../storage/state-store.js';
import { parseTime } from '../time.js';
import { HealthWatch } from './health-watch.js';
import { HistoryRecorder } from './recorder.js';
import { chooseStep, trafficView, type TrafficView } from './view.js';

export interface HistoryServiceOptions {
  readonly store: HistoryStore;
  readonly config: DeepReadonly<HistoryConfig>;
  readonly state: Pick<StateStore, 'current' | 'onChange'>;
  /** This node's metrics in Prometheus text, workers included. */
  readonly metrics: () => Promise<string>;
  readonly proxyRegion?: string | undefined;
  readonly graceUntil?: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** A validated time range (ms, inclusive) with an optional region and step. */
export interface HistoryQuery {
  readonly from: number;
  readonly to: number;
  readonly region?: string;
  readonly stepSeconds?: number;
}

export interface HealthView {
  readonly from: number;
  readonly to: number;
  readonly events: HealthEvent[];
}

export interface HistoryService {
  readonly store: HistoryStore;
  /** Writes the counters' growth now (tests, shutdown). */
  flush(): Promise<void>;
  recordHealthEvent(event: HealthEvent): Promise<void>;
  /** `resolution`: `hour` when the range reaches back past the per-minute retention (or step is whole hours). */
  traffic(query: HistoryQuery): Promise<TrafficView & { resolution: Resolution }>;
  health(query: HistoryQuery): Promise<HealthView>;
  close(): Promise<void>;
}

export function startHistory(options: HistoryServiceOptions): HistoryService {
  const log = options.logger.child({ component: 'history' });
  const recorder = new HistoryRecorder({
    store: options.store,
    metrics: options.metrics,
    proxyRegion: options.proxyRegion,
    flushMs: options.config.flushSeconds * 1000,
    retentionMs: options.config.retentionDays * 86_400_000,
    minuteRetentionMs:
      Math.min(options.config.retentionDays * 24, options.config.minuteRetentionHours) * 3_600_000,
    log,
  });
  const watch = new HealthWatch({
    store: options.state,
    record: (e) => recorder.recordHealthEvent(e),
    ...(options.graceUntil === undefined ? {} : { graceUntil: options.graceUntil }),
  });
  recorder.start();
  watch.start();
  const store = options.store;
  const now = options.now ?? Date.now;
  return {
    store,
    flush: () => recorder.flush(),
    recordHealthEvent: (e) => recorder.recordHealthEvent(e),
    traffic: async (q) => {
      // Ranges reaching back past the per-minute retention are answered from hourly rollups.
      const minutesSince = now() - options.config.minuteRetentionHours * 3_600_000;
      let stepSeconds = chooseStep(q.from, q.to, q.stepSeconds);
      const resolution: Resolution = q.from < minutesSince || stepSeconds % 3600 === 0 ? 'hour' : 'minute';
      if (resolution === 'hour') stepSeconds = Math.ceil(stepSeconds / 3600) * 3600;
      const rollups = await store.traffic({
        from: resolution === 'hour' ? hourOf(q.from) : q.from,
        to: q.to,
        resolution,
        ...(q.region === undefined ? {} : { region: q.region }),
      });
      return {
        ...trafficView(rollups, q.from, q.to, stepSeconds, resolution === 'hour' ? 60 : 1),
        resolution,
      };
    },
    health: async (q) => ({
      from: q.from,
      to: q.to,
      events: await store.healthEvents({
        from: q.from,
        to: q.to,
        ...(q.region === undefined ? {} : { region: q.region }),
      }),
    }),
    close: async () => {
      watch.close();
      await recorder.close();
    },
  };
}

const EPOCH_MS = /^\d{1,15}$/;

/** A time given as ms since the epoch, RFC 3339, a date, `now` or relative (`-1h`). */
export function parseHistoryTime(text: string, field: string, now: number): number {
  if (EPOCH_MS.test(text.trim())) return Number(text.trim());
  return parseTime(text, field, now);
}

/**
 * The range of a history or report request: `from` (default an hour before `to`), `to` (default
 * now), `region`, `step` (seconds). Throws E_VALIDATION naming the parameter.
 */
export function parseHistoryQuery(
  params: Readonly<Record<string, string | undefined>>,
  now: number,
  names: { from: string; to: string; region: string; step: string } = {
    from: 'from',
    to: 'to',
    region: 'region',
    step: 'step',
  },
): HistoryQuery {
  const to =
    params['to'] === undefined || params['to'] === '' ? now : parseHistoryTime(params['to'], names.to, now);
  const from =
    params['from'] === undefined || params['from'] === ''
      ? to - 3_600_000
      : parseHistoryTime(params['from'], names.from, now);
  if (from > to)
    throw invalid(
      names.from,
      `the range is empty: ${new Date(from).toISOString()} is after ${new Date(to).toISOString()}`,
    );
  const region = params['region'];
  if (region !== undefined && region !== '' && !/^[a-z0-9-]{1,63}$/.test(region))
    throw invalid(names.region, `expected a region id (1-63 of [a-z0-9-]), got ${JSON.stringify(region)}`);
  const step = params['step'];
  let stepSeconds: number | undefined;
  if (step !== undefined && step !== '') {
    if (!/^\d{1,9}$/.test(step) || Number(step) < 60 || Number(step) % 60 !== 0)
      throw invalid(
        names.step,
        `expected seconds, a multiple of 60 (60, 300, 3600…), got ${JSON.stringify(step)}`,
      );
    stepSeconds = Number(step);
  }
  return {
    from,
    to,
    ...(region === undefined || region === '' ? {} : { region }),
    ...(stepSeconds === undefined ? {} : { stepSeconds }),
  };
}
