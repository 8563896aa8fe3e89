// A rolling latency window for reports and metrics: request rate and quantiles over the last
// completed interval, in constant memory with no allocation per request.
//
// Latencies go into a log-bucketed histogram (bucket i holds values up to MIN_MS × GROWTH^i: 10 µs to
// 10 minutes in 370 buckets, ≤ 5 % relative error; quantiles return the bucket's upper bound, so they
// never under-report). Two histograms alternate: `record` fills the current one; `rotate()` closes it
// — it becomes "the last interval" that `p95()`, `quantile()` and `rate()` describe — and starts an
// empty one. Until the first `rotate()` they describe the interval in progress.
//
// Typical use: the reporter's `collect()` calls `rotate()` and then reads `p95()` and `rate()`, so each
// report describes exactly the time since the previous one. Single-threaded; not for sharing across
// workers.

const MIN_MS = 0.01;
const GROWTH = 1.05;
const MAX_MS = 600_000;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(MAX_MS / MIN_MS) / LOG_GROWTH) + 1;

export class LatencyWindow {
  readonly #now: () => number;
  #current = new Uint32Array(BUCKETS);
  #last = new Uint32Array(BUCKETS);
  #currentCount = 0;
  #currentStart: number;
  #lastCount = 0;
  #lastDurationMs = 0;
  #rotated = false;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#currentStart = this.#now();
  }

  /** Records one request's latency in milliseconds (negative or NaN values count as 0). */
  record(ms: number): void {
    let i = 0;
    if (ms > MIN_MS) {
      i = Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH);
      if (i >= BUCKETS) i = BUCKETS - 1;
    }
    this.#current[i] = (this.#current[i] as number) + 1;
    this.#currentCount++;
  }

  /** Closes the current interval: it becomes the one the readers describe. */
  rotate(): void {
    const now = this.#now();
    const spare = this.#last;
    this.#last = this.#current;
    this.#lastCount = this.#currentCount;
    this.#lastDurationMs = now - this.#currentStart;
    spare.fill(0);
    this.#current = spare;
    this.#currentCount = 0;
    this.#currentStart = now;
    this.#rotated = true;
  }

  /** Requests recorded in the interval described. */
  count(): number {
    return this.#rotated ? this.#lastCount : this.#currentCount;
  }

  /** Requests per second over the interval described (0 for an empty or zero-length interval). */
  rate(): number {
    const count = this.count();
    const ms = this.#rotated ? this.#lastDurationMs : this.#now() - this.#currentStart;
    return count === 0 || ms <= 0 ? 0 : (count * 1000) / ms;
  }

  /** The q-quantile (0 < q ≤ 1) in milliseconds over the interval described; 0 when it is empty. */
  quantile(q: number): number {
    const hist = this.#rotated ? this.#last : this.#current;
    const count = this.count();
    if (count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += hist[i] as number;
      if (seen >= rank) return i === 0 ? MIN_MS : Math.min(MAX_MS, MIN_MS * GROWTH ** i);
    }
    return MAX_MS;
  }

  p95(): number {
    return this.quantile(0.95);
  }
}
