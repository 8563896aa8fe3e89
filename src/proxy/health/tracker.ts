// Backend health for one proxy: active HTTP checks with rise/fall hysteresis plus passive outlier
// ejection fed by the forwarding path. `isHealthy` is the synchronous hot-path query.
//
// Active checks. Each backend that is not `disabled` gets `GET <backend url origin><check.path>`
// every `intervalMs` × [1 − jitter, 1 + jitter] (measured from the end of the previous check, so
// checks never overlap), on a fresh connection (`Connection: close`) from a private undici Agent,
// with the whole check bounded by `timeoutMs`. A response whose status is in `expectedStatus` passes;
// anything else — other status, connect error, timeout — fails.
//
// Initial state (HAProxy's `init-state up`): a new backend is UP immediately, so a proxy that starts
// or learns a backend serves at once, and its first check runs within `jitter × intervalMs`. That
// first result decides directly (one failure takes it DOWN, without waiting for `fall`). After that,
// `fall` consecutive failures take an UP backend DOWN and `rise` consecutive passes bring it back.
//
// Passive ejection. `recordResult` counts consecutive failures reported by the forwarding path (the
// caller decides what fails: connect errors, 5xx); `consecutiveFailures` in a row eject the backend
// for baseEjectionMs × 2^(n−1), capped at maxEjectionMs, where n counts recent ejections: n decays
// by one for every baseEjectionMs the backend spends un-ejected. A success resets the streak. At most
// max(1, floor(maxEjectedPercent % × backends)) backends are ejected at once (0 % disables ejection);
// when that many already are, the backend stays in and is ejected on a later failure if a slot frees.
// Active checks do not end an ejection early: passive ejection exists for backends whose health
// endpoint passes while real requests fail.
//
// Lifecycle: `disabled` backends are not checked and are never healthy. `draining` backends are
// checked and `isHealthy` reports their real health (existing sessions may finish there), but
// `states()`/`counts()` report them as not serving, with reason "draining", so they do not count as
// region capacity. New-session routing away from draining backends is the caller's job.
import { Agent, request } from 'undici';
import type { Backend, BackendHealth } from '../../core/types.js';
import { describeError } from '../../core/errors.js';
import type { HealthCheckConfig, OutlierConfig, StatusRange } from '../../config/health-schema.js';
import { parseStatusRanges, statusMatches } from '../../config/health-schema.js';
import { silentLogger, type Logger } from '../../infra/logger.js';

export interface BackendHealthTrackerOptions {
  check: HealthCheckConfig;
  outlier: OutlierConfig;
  logger?: Logger;
  /** Called when `isHealthy(id)` changes, with a short reason. Exceptions are caught and logged. */
  onChange?: (id: string, healthy: boolean, reason: string) => void;
  /** Clock for ejection arithmetic (tests). Default `Date.now`. */
  now?: () => number;
}

export interface PassiveOutcome {
  ok: boolean;
  status?: number;
  error?: string;
}

interface Entry {
  backend: Backend;
  checkUrl: string;
  /** Bumped when checks restart or stop, so results of an older probe are dropped. */
  generation: number;
  // Active state.
  up: boolean;
  checked: boolean;
  passStreak: number;
  failStreak: number;
  lastError: string;
  timer: NodeJS.Timeout | undefined;
  abort: AbortController | undefined;
  // Passive state.
  passiveFailures: number;
  passiveAll5xx: boolean;
  passiveLast: string;
  ejections: number;
  ejectedUntil: number;
  ejectReason: string;
  ejectTimer: NodeJS.Timeout | undefined;
  /** Last value announced through onChange (isHealthy). */
  announced: boolean;
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'EPIPE',
  'UND_ERR_SOCKET',
]);
const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
  'ABORT_ERR',
]);

/** "10s", "1.5s", "250ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 100) / 10;
  return `${s}s`;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** A short description of a failed check: "connect ECONNREFUSED", "timeout after 1000ms", … */
function describeCheckError(err: unknown, timeoutMs: number): string {
  const name = err instanceof Error ? err.name : '';
  const code = errorCode(err);
  if (name === 'TimeoutError' || name === 'AbortError' || (code !== undefined && TIMEOUT_CODES.has(code))) {
    return `timeout after ${timeoutMs}ms`;
  }
  if (code !== undefined && CONNECT_CODES.has(code)) return `connect ${code}`;
  const cause = err instanceof Error ? errorCode(err.cause) : undefined;
  if (cause !== undefined && CONNECT_CODES.has(cause)) return `connect ${cause}`;
  return code === undefined ? describeError(err) : `${code}: ${describeError(err)}`;
}

export class BackendHealthTracker {
  readonly #check: HealthCheckConfig;
  readonly #outlier: OutlierConfig;
  readonly #ranges: readonly StatusRange[];
  readonly #logger: Logger;
  readonly #onChange: ((id: string, healthy: boolean, reason: string) => void) | undefined;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #agent: Agent;
  #closed = false;

  constructor(options: BackendHealthTrackerOptions) {
    this.#check = options.check;
    this.#outlier = options.outlier;
    const ranges = parseStatusRanges(options.check.expectedStatus);
    if (ranges === undefined) throw new TypeError(`invalid expectedStatus ${options.check.expectedStatus}`);
    this.#ranges = ranges;
    this.#logger = options.logger ?? silentLogger;
    this.#onChange = options.onChange;
    this.#now = options.now ?? Date.now;
    const timeout = options.check.timeoutMs;
    this.#agent = new Agent({
      connect: { timeout },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      keepAliveTimeout: 1000,
    });
  }

  /** Replaces the backend set: starts checks for new backends, stops them for removed ones. */
  setBackends(backends: readonly Backend[]): void {
    if (this.#closed) return;
    const seen = new Set<string>();
    for (const backend of backends) {
      seen.add(backend.id);
      const checkUrl = this.#checkUrl(backend.url);
      const old = this.#entries.get(backend.id);
      if (old === undefined) {
        const entry = this.#newEntry(backend, checkUrl);
        this.#entries.set(backend.id, entry);
        if (backend.state !== 'disabled') this.#schedule(entry, this.#firstDelay());
        continue;
      }
      const wasDisabled = old.backend.state === 'disabled';
      const isDisabled = backend.state === 'disabled';
      const restart = old.checkUrl !== checkUrl || wasDisabled !== isDisabled;
      old.backend = backend;
      if (restart) {
        this.#stop(old);
        if (old.checkUrl !== checkUrl) Object.assign(old, this.#freshPassive()); // another server
        Object.assign(old, this.#freshActive(), { checkUrl });
        if (!isDisabled) this.#schedule(old, this.#firstDelay());
      }
      this.#announce(old, restart ? 'backend changed' : 'backend updated');
    }
    for (const [id, entry] of this.#entries) {
      if (seen.has(id)) continue;
      this.#stop(entry);
      if (entry.ejectTimer !== undefined) clearTimeout(entry.ejectTimer);
      this.#entries.delete(id);
    }
  }

  /** Hot path: known, not disabled, active state UP and not ejected. */
  isHealthy(id: string): boolean {
    const e = this.#entries.get(id);
    if (e === undefined) return false;
    return this.#healthy(e, this.#now());
  }

  /** Passive signal from the forwarding path (one per attempt). */
  recordResult(id: string, outcome: PassiveOutcome): void {
    const threshold = this.#outlier.consecutiveFailures;
    if (threshold <= 0 || this.#closed) return;
    const e = this.#entries.get(id);
    if (e === undefined) return;
    const now = this.#now();
    if (e.ejectedUntil > now) return; // stragglers that were in flight when it was ejected
    if (outcome.ok) {
      e.passiveFailures = 0;
      e.passiveAll5xx = true;
      return;
    }
    e.passiveFailures++;
    const is5xx = outcome.status !== undefined && outcome.status >= 500 && outcome.status <= 599;
    if (!is5xx) e.passiveAll5xx = false;
    e.passiveLast = outcome.error ?? (outcome.status === undefined ? 'failure' : `status ${outcome.status}`);
    if (e.passiveFailures >= threshold) this.#tryEject(e, now);
  }

  /** Every backend's health with a reason when it is not serving, sorted by id. */
  states(): BackendHealth[] {
    const now = this.#now();
    const out: BackendHealth[] = [];
    for (const e of this.#entries.values()) {
      const reason = this.#reason(e, now);
      out.push(
        reason === undefined
          ? { backendId: e.backend.id, healthy: true }
          : { backendId: e.backend.id, healthy: false, reason },
      );
    }
    return out.sort((a, b) => (a.backendId < b.backendId ? -1 : a.backendId > b.backendId ? 1 : 0));
  }

  /** Serving (as in `states()`) and total backends, without allocating. */
  counts(): { healthy: number; total: number } {
    const now = this.#now();
    let healthy = 0;
    for (const e of this.#entries.values()) {
      if (e.backend.state === 'active' && this.#healthy(e, now)) healthy++;
    }
    return { healthy, total: this.#entries.size };
  }

  /** Stops all checks and timers and aborts checks in flight. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const e of this.#entries.values()) {
      this.#stop(e);
      if (e.ejectTimer !== undefined) clearTimeout(e.ejectTimer);
      e.ejectTimer = undefined;
    }
    this.#agent.destroy().catch((err: unknown) => {
      this.#logger.debug({ err: describeError(err) }, 'health agent destroy failed');
    });
  }

  // ---- internals ----

  #checkUrl(base: string): string {
    try {
      return new URL(this.#check.path, base).href;
    } catch {
      return base; // an invalid URL fails its checks with a clear error instead of throwing here
    }
  }

  #freshActive(): Pick<Entry, 'up' | 'checked' | 'passStreak' | 'failStreak' | 'lastError'> {
    return { up: true, checked: false, passStreak: 0, failStreak: 0, lastError: '' };
  }

  #freshPassive(): Pick<
    Entry,
    'passiveFailures' | 'passiveAll5xx' | 'passiveLast' | 'ejections' | 'ejectedUntil' | 'ejectReason'
  > {
    return {
      passiveFailures: 0,
      passiveAll5xx: true,
      passiveLast: '',
      ejections: 0,
      ejectedUntil: 0,
      ejectReason: '',
    };
  }

  #newEntry(backend: Backend, checkUrl: string): Entry {
    return {
      backend,
      checkUrl,
      generation: 0,
      ...this.#freshActive(),
      timer: undefined,
      abort: undefined,
      ...this.#freshPassive(),
      ejectTimer: undefined,
      announced: backend.state !== 'disabled',
    };
  }

  #healthy(e: Entry, now: number): boolean {
    return e.backend.state !== 'disabled' && e.up && e.ejectedUntil <= now;
  }

  #reason(e: Entry, now: number): string | undefined {
    if (e.backend.state === 'disabled') return 'disabled';
    if (e.ejectedUntil > now) return e.ejectReason;
    if (!e.up) return `active check failed ${e.failStreak}x: ${e.lastError}`;
    if (e.backend.state === 'draining') return 'draining';
    return undefined;
  }

  /** Fires onChange when isHealthy has changed since the last announcement. */
  #announce(e: Entry, reason: string): void {
    const healthy = this.#healthy(e, this.#now());
    if (healthy === e.announced) return;
    e.announced = healthy;
    const id = e.backend.id;
    if (healthy) this.#logger.info({ backend: id, reason }, 'backend up');
    else this.#logger.warn({ backend: id, reason }, 'backend down');
    if (this.#onChange === undefined) return;
    try {
      this.#onChange(id, healthy, reason);
    } catch (err) {
      this.#logger.error({ err: describeError(err), backend: id }, 'health onChange listener threw');
    }
  }

  #firstDelay(): number {
    return Math.random() * this.#check.jitter * this.#check.intervalMs;
  }

  #nextDelay(): number {
    const j = this.#check.jitter;
    return this.#check.intervalMs * (1 + j * (2 * Math.random() - 1));
  }

  #schedule(e: Entry, delayMs: number): void {
    if (this.#closed) return;
    const generation = e.generation;
    e.timer = setTimeout(() => {
      e.timer = undefined;
      this.#probe(e, generation).catch((err: unknown) => {
        // #probe catches everything itself; this is a last line of defence.
        this.#logger.error({ err: describeError(err), backend: e.backend.id }, 'health check crashed');
      });
    }, delayMs);
    e.timer.unref();
  }

  #stop(e: Entry): void {
    e.generation++;
    if (e.timer !== undefined) clearTimeout(e.timer);
    e.timer = undefined;
    e.abort?.abort();
    e.abort = undefined;
  }

  async #probe(e: Entry, generation: number): Promise<void> {
    const timeoutMs = this.#check.timeoutMs;
    const abort = new AbortController();
    e.abort = abort;
    // The whole check's deadline. A timer cleared when the check ends, not AbortSignal.timeout:
    // that one holds its signal, and through the signal's listeners the check's request, connection
    // and pool, for the full timeout, so under load they outlive the young generation.
    const deadline = setTimeout(
      () => abort.abort(new DOMException('check timed out', 'TimeoutError')),
      timeoutMs,
    );
    deadline.unref();
    let ok = false;
    let error = '';
    try {
      const res = await request(e.checkUrl, {
        method: 'GET',
        dispatcher: this.#agent,
        signal: abort.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        reset: true,
        headers: { 'user-agent': 'meridian-health-check' },
      });
      await res.body.dump();
      // An abort while the body was read ends dump() quietly: the check must still fail.
      abort.signal.throwIfAborted();
      ok = statusMatches(this.#ranges, res.statusCode);
      if (!ok) error = `status ${res.statusCode}`;
    } catch (err) {
      error = describeCheckError(err, timeoutMs);
    } finally {
      clearTimeout(deadline);
    }
    if (e.abort === abort) e.abort = undefined;
    if (this.#closed || generation !== e.generation || this.#entries.get(e.backend.id) !== e) return;
    this.#applyActive(e, ok, error);
    this.#schedule(e, this.#nextDelay());
  }

  #applyActive(e: Entry, ok: boolean, error: string): void {
    const first = !e.checked;
    e.checked = true;
    if (ok) {
      e.passStreak++;
      e.failStreak = 0;
      if (!e.up && e.passStreak >= this.#check.rise) {
        e.up = true;
        this.#announce(e, `active check passed ${e.passStreak}x`);
      }
      return;
    }
    e.failStreak++;
    e.passStreak = 0;
    e.lastError = error;
    if (e.up && (first || e.failStreak >= this.#check.fall)) {
      e.up = false;
      this.#announce(e, `active check failed ${e.failStreak}x: ${error}`);
    }
  }

  #tryEject(e: Entry, now: number): void {
    const o = this.#outlier;
    if (o.maxEjectedPercent <= 0) return;
    let ejected = 0;
    for (const other of this.#entries.values()) if (other.ejectedUntil > now) ejected++;
    const limit = Math.max(1, Math.floor((this.#entries.size * o.maxEjectedPercent) / 100));
    if (ejected >= limit) {
      this.#logger.debug(
        { backend: e.backend.id, ejected, limit },
        'ejection skipped: max ejected percent reached',
      );
      return;
    }
    if (e.ejections > 0 && e.ejectedUntil > 0) {
      const quietSteps = Math.floor((now - e.ejectedUntil) / o.baseEjectionMs);
      e.ejections = Math.max(0, e.ejections - quietSteps);
    }
    e.ejections++;
    const duration = Math.min(o.baseEjectionMs * 2 ** (e.ejections - 1), o.maxEjectionMs);
    const what = e.passiveAll5xx ? '5xx' : `failures, last: ${e.passiveLast}`;
    e.ejectReason = `ejected ${formatDuration(duration)} (${e.passiveFailures} consecutive ${what})`;
    e.ejectedUntil = now + duration;
    e.passiveFailures = 0;
    e.passiveAll5xx = true;
    this.#announce(e, e.ejectReason);
    this.#armEjectionEnd(e, duration);
  }

  /**
   * Announces the end of an ejection. Timers run on a monotonic clock and may
   * fire a millisecond before the wall clock reaches `ejectedUntil`; then the
   * timer re-arms for the rest instead of the end going unannounced forever.
   */
  #armEjectionEnd(e: Entry, delayMs: number): void {
    if (e.ejectTimer !== undefined) clearTimeout(e.ejectTimer);
    e.ejectTimer = setTimeout(() => {
      e.ejectTimer = undefined;
      if (this.#closed) return;
      const left = e.ejectedUntil - this.#now();
      if (left > 0) this.#armEjectionEnd(e, left + 1);
      else this.#announce(e, 'ejection ended');
    }, delayMs);
    e.ejectTimer.unref();
  }
}
