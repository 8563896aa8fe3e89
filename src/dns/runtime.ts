// Builds one answering unit — zones, geo locator, steering engine, rate limiter, metrics, responder —
// used by the single-process mode, by each cluster worker, and (without sockets) by the cluster
// primary for `explain`.
import type { Registry } from 'prom-client';
import type { DnsConfig } from '../config/dns-schema.js';
import type { DeepReadonly } from '../config/load.js';
import type { Snapshot } from '../core/types.js';
import { openGeoLocator, type ReloadingGeoLocator } from './geo/locator.js';
import type { Logger } from '../infra/logger.js';
import { SteeringEngine } from './steering/engine.js';
import { DnsMetrics } from './metrics.js';
import { Responder } from './answer/responder.js';
import { RateLimiter } from './answer/rrl.js';
import { ZoneSet } from './answer/zones.js';
import { ZoneTransfers } from './xfer/service.js';

export interface RuntimeOptions {
  readonly config: DeepReadonly<DnsConfig>;
  /** Absolute paths of the geo databases (already resolved against the config file). */
  readonly geoPaths: readonly string[];
  readonly snapshot: () => Snapshot;
  readonly logger: Logger;
  /** Registries to register the DNS metrics in; none = no metrics (the cluster primary's explain unit). */
  readonly registries: readonly Registry[];
  readonly startedAt: number;
  /** Whether to apply response rate limiting (per config) — not for explain-only units. */
  readonly serving: boolean;
  /** Told when a geo database fails to reload (the old one keeps serving). */
  readonly onGeoReloadError?: (path: string, err: unknown) => void;
  /**
   * Called whenever the zones are (re)compiled, with the set before (undefined at start) and after:
   * the NOTIFY sender's hook (xfer/notify.ts). Given only by the one process that notifies.
   */
  readonly onZonesCompiled?: (previous: ZoneSet | undefined, next: ZoneSet) => void;
}

export interface Runtime {
  readonly responder: Responder;
  /** Undefined when no registry was given (the cluster primary's explain unit). */
  readonly metrics: DnsMetrics | undefined;
  readonly locator: ReloadingGeoLocator | undefined;
  /** The listeners' handlers: zone transfers, TSIG and NOTIFY in front of the responder. */
  readonly transfers: ZoneTransfers;
  /**
   * To call whenever the zones are recompiled, with the set before and after: keeps IXFR's change
   * history and (in the notifying process) sends NOTIFY for changed serials.
   */
  zonesCompiled(previous: ZoneSet | undefined, next: ZoneSet): void;
  close(): void;
}

export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config, logger } = options;
  const zones = new ZoneSet(config.zones);
  const locator =
    options.geoPaths.length === 0
      ? undefined
      : await openGeoLocator(options.geoPaths, {
          logger,
          reloadCheckSeconds: config.geo?.reloadCheckSeconds ?? 5,
          onReloadError: (path, err) => {
            logger.warn(
              { path, err: err instanceof Error ? err.message : String(err) },
              'geo database reload failed',
            );
            options.onGeoReloadError?.(path, err);
          },
        });
  const engine = new SteeringEngine({
    snapshot: options.snapshot,
    locator,
    steering: config.steering,
    startedAt: options.startedAt,
    decisionCacheSize: config.decisionCacheSize,
    ...(config.ecsWidestScope ? {} : { scopeTables: 0 }),
  });
  const metrics =
    options.registries.length === 0
      ? undefined
      : new DnsMetrics(options.registries, () => options.snapshot().syncedAt);
  const rrl = options.serving && config.rrl.enabled ? new RateLimiter({ config: config.rrl }) : undefined;
  const responder = new Responder({
    config,
    zones,
    engine,
    logger,
    metrics,
    rrl,
    answerCacheSize: config.answerCacheSize,
  });
  const transfers = new ZoneTransfers({
    config,
    zones: () => responder.zones,
    engine,
    answer: (msg, client, transport) => responder.handle(msg, client, transport),
    logger,
  });
  const zonesCompiled = (previous: ZoneSet | undefined, next: ZoneSet): void => {
    transfers.zonesCompiled(previous, next);
    options.onZonesCompiled?.(previous, next);
  };
  zonesCompiled(undefined, zones);
  return {
    zonesCompiled,
    responder,
    metrics,
    locator,
    transfers,
    close: () => locator?.close(),
  };
}
