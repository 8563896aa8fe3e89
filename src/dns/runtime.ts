// Builds one answering unit — zones, geo locator, steering engine, rate limiter, metrics, responder —
// used by the single-process mode, by each cluster worker, and (without sockets) by the cluster
// primary for `explain`. `setZones` swaps in new zone data (from the zone store): the zones are
// compiled first (a zone that does not compile leaves the old ones serving), then a fresh steering
// engine and responder replace the old ones at once, so no cached answer or decision of the old
// zones survives; the rate limiter, metrics and geo locator carry over.
import type { Registry } from 'prom-client';
import type { DnsConfig, ZoneConfig } from '../config/dns-schema.js';
import type { DeepReadonly } from '../config/load.js';
import type { Snapshot } from '../core/types.js';
import { openGeoLocator, type ReloadingGeoLocator } from './geo/locator.js';
import type { Logger } from '../infra/logger.js';
import { SteeringEngine } from './steering/engine.js';
import { DnsMetrics } from './metrics.js';
import { DnsSpans } from './answer/trace-span.js';
import { Responder } from './answer/responder.js';
import { RateLimiter } from './answer/rrl.js';
import { ZoneSet } from './answer/zones.js';
import { ZoneTransfers } from './xfer/service.js';
import type { OpenSealed } from './dnssec/zone-keys.js';

export interface RuntimeOptions {
  readonly config: DeepReadonly<DnsConfig>;
  /** The zones served at first (the zone store's); default `config.zones`. */
  readonly zones?: readonly DeepReadonly<ZoneConfig>[];
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
  /**
   * Opens the sealed DNSSEC private keys of signed zones (the node key ring). Without it a signed
   * zone does not compile (E_DNSSEC_KEY): at start the tier refuses to start, later the previous
   * zones keep serving.
   */
  readonly openSealed?: OpenSealed | undefined;
}

export interface Runtime {
  /** The current responder: read it per query, it is replaced when the zones change. */
  readonly responder: Responder;
  /** Serves these zones from now on; throws E_CONFIG (old zones keep serving) when they do not compile. */
  setZones(zones: readonly DeepReadonly<ZoneConfig>[]): void;
  /** Undefined when no registry was given (the cluster primary's explain unit). */
  readonly metrics: DnsMetrics | undefined;
  readonly locator: ReloadingGeoLocator | undefined;
  /** The listeners' handlers: zone transfers, TSIG and NOTIFY in front of the responder. */
  readonly transfers: ZoneTransfers;
  /** Sends the spans still queued (2 s at most), then releases the geo databases. */
  close(): Promise<void>;
}

export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config, logger } = options;
  const zoneOptions = { openSealed: options.openSealed };
  const zones = new ZoneSet(options.zones ?? config.zones, zoneOptions);
  const locator =
    options.geoPaths.length === 0
      ? undefined
      : await openGeoLocator(options.geoPaths, {
          logger,
          reloadCheckSeconds: config.geo?.reloadCheckSeconds ?? 5,
          snapshotDir: config.geo?.shareFiles === false ? null : config.geo?.snapshotDir,
          // Only processes that answer queries decode every record up front (the explaining
          // primary of a cluster meets few).
          prefill: options.serving && config.geo?.prefill === true,
          onReloadError: (path, err) => {
            logger.warn(
              { path, err: err instanceof Error ? err.message : String(err) },
              'geo database reload failed',
            );
            options.onGeoReloadError?.(path, err);
          },
        });
  const newEngine = (served: readonly DeepReadonly<ZoneConfig>[]): SteeringEngine =>
    new SteeringEngine({
      nameCidrs: served.flatMap((z) => z.balanced.flatMap((b) => Object.keys(b.overrides?.cidr ?? {}))),
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
  const otlp = config.tracing.otlp;
  const spans = options.serving && otlp !== undefined ? new DnsSpans(otlp, logger) : undefined;
  const newResponder = (served: readonly DeepReadonly<ZoneConfig>[], compiled: ZoneSet): Responder =>
    new Responder({
      config,
      zones: compiled,
      engine: newEngine(served),
      logger,
      metrics,
      rrl,
      answerCacheSize: config.answerCacheSize,
      spans,
    });
  let responder = newResponder(options.zones ?? config.zones, zones);
  const transfers = new ZoneTransfers({
    config,
    zones: () => responder.zones,
    engine: () => responder.engine,
    answer: (msg, client, transport) => responder.handle(msg, client, transport),
    logger,
  });
  const zonesCompiled = (previous: ZoneSet | undefined, next: ZoneSet): void => {
    transfers.zonesCompiled(previous, next);
    options.onZonesCompiled?.(previous, next);
  };
  zonesCompiled(undefined, zones);
  return {
    get responder(): Responder {
      return responder;
    },
    setZones: (next) => {
      const previous = responder.zones;
      responder = newResponder(next, new ZoneSet(next, zoneOptions));
      zonesCompiled(previous, responder.zones);
    },
    metrics,
    locator,
    transfers,
    close: async () => {
      await spans?.close(2000);
      locator?.close();
    },
  };
}
