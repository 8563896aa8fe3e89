// Upstream headers and body timeouts kept by one coarse sweep, instead of undici's timer per request.
//
// Why: undici arms a timer object for every request's headersTimeout, and another for its
// bodyTimeout when the two differ. Its fast timers stay in a module-level list for 0.5–1 s after
// being cleared, so every one survives two scavenges and is promoted: at 16k requests/s the old
// generation fills with dead timers, and a Mark-Compact with an 8–40 ms pause follows every few
// seconds. Here an attempt is a node of an intrusive list and its deadline is an integer tick, so
// arming, refreshing and removing allocate nothing; the sweep walks the attempts in flight.
//
// A deadline never fires early: armed during tick t, it fires at the end of tick
// t + 1 + ceil(ms / tickMs). It fires at most about two ticks late, and a tick is a quarter of the
// shorter timeout, clamped to 10 ms–1 s (undici's own fast timers have a 1 s resolution).

export const HEADERS = 1;
export const BODY = 2;
/** Counted out while the attempt is paused for a slow client (undici's body timer also waits then). */
export const PAUSED = 3;
export type DeadlineKind = typeof HEADERS | typeof BODY | typeof PAUSED;

/** What the sweep keeps: the fields live on the attempt itself, so listing one allocates nothing. */
export interface Timed {
  deadline: number;
  /** 0 = not listed. */
  timedKind: 0 | DeadlineKind;
  prevTimed: Timed | null;
  nextTimed: Timed | null;
  /** Called once when the deadline passes, after the attempt has left the list. */
  expire(kind: typeof HEADERS | typeof BODY): void;
}

export interface DeadlineOptions {
  readonly headersMs: number;
  readonly bodyMs: number;
  /** False: no interval timer; the caller calls `sweep()` (tests). Default true. */
  readonly autoSweep?: boolean;
}

export class Deadlines {
  /** Ticks elapsed; deadlines are counted in them. */
  tick = 0;
  readonly tickMs: number;
  /** Ticks to add to `tick` for a deadline `headersMs` / `bodyMs` away (never early). */
  readonly headersTicks: number;
  readonly bodyTicks: number;
  #head: Timed | null = null;
  #size = 0;
  /** The sweep's due attempts and their kinds, reused from tick to tick. */
  readonly #due: (Timed | number)[] = [];
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(options: DeadlineOptions) {
    const shorter = Math.min(options.headersMs, options.bodyMs);
    this.tickMs = Math.min(1000, Math.max(10, Math.floor(shorter / 4)));
    this.headersTicks = 1 + Math.ceil(options.headersMs / this.tickMs);
    this.bodyTicks = 1 + Math.ceil(options.bodyMs / this.tickMs);
    if (options.autoSweep !== false) {
      this.#timer = setInterval(() => this.sweep(), this.tickMs);
      this.#timer.unref();
    }
  }

  /** Attempts listed. */
  get size(): number {
    return this.#size;
  }

  /** Starts (or restarts) `t`'s headers or body deadline; lists it when it is not listed yet. */
  arm(t: Timed, kind: typeof HEADERS | typeof BODY): void {
    t.deadline = this.tick + (kind === HEADERS ? this.headersTicks : this.bodyTicks);
    if (t.timedKind === 0) {
      t.prevTimed = null;
      t.nextTimed = this.#head;
      if (this.#head !== null) this.#head.prevTimed = t;
      this.#head = t;
      this.#size++;
    }
    t.timedKind = kind;
  }

  /** A body chunk arrived: `t`'s body deadline starts over (its kind, paused or not, is kept). */
  refreshBody(t: Timed): void {
    t.deadline = this.tick + this.bodyTicks;
  }

  /** Stops counting `t` down until it is armed again (it stays listed). */
  pause(t: Timed): void {
    if (t.timedKind !== 0) t.timedKind = PAUSED;
  }

  /** Unlists `t`; nothing happens when it is not listed. */
  remove(t: Timed): void {
    if (t.timedKind === 0) return;
    const prev = t.prevTimed;
    const next = t.nextTimed;
    if (prev === null) this.#head = next;
    else prev.nextTimed = next;
    if (next !== null) next.prevTimed = prev;
    t.prevTimed = null;
    t.nextTimed = null;
    t.timedKind = 0;
    this.#size--;
  }

  /** Ends a tick: every listed attempt whose deadline has come leaves the list, then expires. */
  sweep(): void {
    const now = ++this.tick;
    // Unlist first, expire after: an expiry may arm or remove other attempts (a retry, a failed
    // exchange), which must not cut this walk short.
    const due = this.#due;
    for (let t = this.#head; t !== null;) {
      const next = t.nextTimed;
      const kind = t.timedKind;
      if (kind !== PAUSED && kind !== 0 && t.deadline <= now) {
        this.remove(t);
        due.push(t, kind);
      }
      t = next;
    }
    for (let i = 0; i < due.length; i += 2) {
      try {
        (due[i] as Timed).expire(due[i + 1] as typeof HEADERS | typeof BODY);
      } catch {
        // One attempt's expiry must not stop the others'.
      }
    }
    due.length = 0;
  }

  /** Stops the sweep (the attempts still listed then are ended by closing their pools). */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }
}
