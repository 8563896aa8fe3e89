// Writes this proxy's view of its region every interval, with an expiry, so the
// DNS tier sees a region that goes silent as down once `ttlMs` passes. Writes never overlap: a tick
// that finds the previous write still running is skipped (and a `reportNow()` during a write is
// coalesced into one follow-up write). Failures are logged, never thrown. Where reports go is a
// HealthSink: the StateStore itself, or the admin API with a `reporter` token (api-sink.ts).
import type { BackendHealth, HealthReport } from '../../core/types.js';
import { describeError } from '../../core/errors.js';
import type { StateStore } from '../../storage/state-store.js';
import { silentLogger, type Logger } from '../../infra/logger.js';

/** The measured part of a report; the reporter adds ids and times. */
export interface RegionHealthSample {
  healthyBackends: number;
  totalBackends: number;
  inFlight: number;
  requestRate: number;
  p95LatencyMs: number;
  backends?: BackendHealth[];
}

/** Where reports are written: the state store, or the admin API (ApiHealthSink). */
export type HealthSink = Pick<StateStore, 'reportHealth'>;

export interface RegionHealthReporterOptions {
  store: HealthSink;
  regionId: string;
  reporterId: string;
  intervalMs: number;
  ttlMs: number;
  collect: () => RegionHealthSample;
  logger?: Logger;
  /** Clock (tests). Default `Date.now`. */
  now?: () => number;
  /** Told the outcome of every write (metrics). */
  onResult?: (ok: boolean) => void;
}

export interface ReporterStatus {
  readonly reports: number;
  readonly failures: number;
  readonly lastReportAt?: number;
  readonly lastError?: string;
}

/** What the final report overrides by default: this proxy is leaving and carries no capacity. */
export const LEAVING: Partial<RegionHealthSample> = Object.freeze({
  healthyBackends: 0,
  inFlight: 0,
  requestRate: 0,
});

export class RegionHealthReporter {
  readonly #o: RegionHealthReporterOptions;
  readonly #logger: Logger;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #reports = 0;
  #failures = 0;
  #lastReportAt: number | undefined;
  #lastError: string | undefined;

  constructor(options: RegionHealthReporterOptions) {
    if (!(options.ttlMs > options.intervalMs)) {
      throw new RangeError(`ttlMs (${options.ttlMs}) must exceed intervalMs (${options.intervalMs})`);
    }
    this.#o = options;
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
  }

  /** Reports at once, then every `intervalMs`. */
  start(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#tick(), this.#o.intervalMs);
    this.#timer.unref();
    this.#tick();
  }

  /** Asks for a report now (e.g. when backend health changed); coalesced with a write in progress. */
  reportNow(): void {
    if (this.#closed) return;
    if (this.#inFlight !== undefined) this.#again = true;
    else this.#tick();
  }

  status(): ReporterStatus {
    return {
      reports: this.#reports,
      failures: this.#failures,
      ...(this.#lastReportAt === undefined ? {} : { lastReportAt: this.#lastReportAt }),
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
    };
  }

  /**
   * Stops reporting. Unless `final` is false, waits for a write in progress and sends one last report:
   * the collected sample overridden by `final` (default LEAVING: healthyBackends 0, no load), so the
   * DNS tier stops counting this proxy's capacity at once instead of after the TTL. The final write is
   * bounded by `timeoutMs` (default ttlMs: after that the last report has expired anyway). Never throws.
   */
  async close(
    options: { final?: Partial<RegionHealthSample> | false; timeoutMs?: number } = {},
  ): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#again = false;
    if (this.#inFlight !== undefined) await this.#inFlight;
    if (options.final === false) return;
    const overrides = options.final ?? LEAVING;
    const timeoutMs = options.timeoutMs ?? this.#o.ttlMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#logger.warn({ timeoutMs }, 'final health report timed out');
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.#write(overrides), timeout]);
    clearTimeout(timer);
  }

  #tick(): void {
    if (this.#inFlight !== undefined) return; // never overlap writes; the next tick catches up
    const p = this.#write(undefined).finally(() => {
      this.#inFlight = undefined;
      if (this.#again && !this.#closed) {
        this.#again = false;
        this.#tick();
      }
    });
    this.#inFlight = p;
  }

  /** One report; resolves in all cases. */
  async #write(overrides: Partial<RegionHealthSample> | undefined): Promise<void> {
    let report: HealthReport;
    try {
      const sample = { ...this.#o.collect(), ...overrides };
      const now = this.#now();
      report = {
        regionId: this.#o.regionId,
        reporterId: this.#o.reporterId,
        healthyBackends: sample.healthyBackends,
        totalBackends: sample.totalBackends,
        inFlight: sample.inFlight,
        requestRate: sample.requestRate,
        p95LatencyMs: sample.p95LatencyMs,
        reportedAt: now,
        expiresAt: now + this.#o.ttlMs,
        ...(sample.backends === undefined ? {} : { backends: sample.backends }),
      };
    } catch (err) {
      this.#fail(err, 'collecting region health failed');
      return;
    }
    try {
      await this.#o.store.reportHealth(report);
      this.#reports++;
      this.#lastReportAt = report.reportedAt;
      if (this.#lastError !== undefined)
        this.#logger.info({ region: report.regionId }, 'health reporting recovered');
      this.#lastError = undefined;
      this.#o.onResult?.(true);
    } catch (err) {
      this.#fail(err, 'writing region health report failed');
      this.#o.onResult?.(false);
    }
  }

  #fail(err: unknown, message: string): void {
    this.#failures++;
    const text = describeError(err);
    // Log the first failure of a run at warn level, repeats at debug, so an outage does not flood logs.
    if (this.#lastError === undefined) this.#logger.warn({ err: text, region: this.#o.regionId }, message);
    else this.#logger.debug({ err: text, region: this.#o.regionId }, message);
    this.#lastError = text;
  }
}
