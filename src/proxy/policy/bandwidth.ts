// Bandwidth limits: response bytes per second per client key, summed over all of that client's
// connections on this proxy. Each key has one shared bucket (GCRA, the "virtual scheduling" form
// of a token bucket): a chunk of n bytes is scheduled n/rate seconds after the previous one, less a
// burst allowance. Every response stream of the client goes through a Transform that splits chunks
// into small pieces (about 1/20 s of the rate) and holds each piece until its scheduled time — so
// the stream is paced, never cut off, and concurrent streams of one client interleave fairly while
// their sum stays at the rate.
import { Transform, type TransformCallback } from 'node:stream';

export interface PaceParams {
  readonly bytesPerSecond: number;
  /** Bytes that may pass at once after the client has been idle. */
  readonly burstBytes: number;
}

export function defaultBurst(bytesPerSecond: number): number {
  return Math.max(16 * 1024, Math.ceil(bytesPerSecond / 20));
}

export function pieceSize(bytesPerSecond: number): number {
  return Math.max(1024, Math.min(64 * 1024, Math.floor(bytesPerSecond / 20)));
}

interface Schedule {
  /** Theoretical arrival time (ms): when the bucket would be empty again. */
  tat: number;
  streams: number;
}

const IDLE_FORGET_MS = 60_000;

export class BandwidthPacer {
  readonly #schedules = new Map<string, Schedule>();
  #reservations = 0;
  constructor(private readonly now: () => number = () => performance.timeOrigin + performance.now()) {}

  /** Reserves `bytes` for `key`; returns how long (ms) to wait before sending them. */
  reserve(key: string, bytes: number, p: PaceParams): number {
    const now = this.now();
    const s = this.#schedule(key);
    const tat = Math.max(s.tat, now) + (bytes * 1000) / p.bytesPerSecond;
    s.tat = tat;
    if (++this.#reservations % 4096 === 0) this.#sweep(now);
    return Math.max(0, tat - (p.burstBytes * 1000) / p.bytesPerSecond - now);
  }

  opened(key: string): void {
    this.#schedule(key).streams++;
  }

  closed(key: string): void {
    const s = this.#schedules.get(key);
    if (s !== undefined) s.streams = Math.max(0, s.streams - 1);
  }

  /** Keys with at least one open stream (for tests and debugging). */
  activeKeys(): string[] {
    return [...this.#schedules].filter(([, s]) => s.streams > 0).map(([k]) => k);
  }

  #schedule(key: string): Schedule {
    let s = this.#schedules.get(key);
    if (s === undefined) {
      s = { tat: 0, streams: 0 };
      this.#schedules.set(key, s);
    }
    return s;
  }

  #sweep(now: number): void {
    for (const [k, s] of this.#schedules)
      if (s.streams === 0 && s.tat < now - IDLE_FORGET_MS) this.#schedules.delete(k);
  }
}

/** One paced response stream: `reserve(n)` returns the wait (ms) before n bytes may pass. */
export class PacedStream extends Transform {
  #timer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(
    private readonly reserve: (bytes: number) => number,
    private readonly piece: number,
    private readonly onClose: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let offset = 0;
    const next = (): void => {
      this.#timer = undefined;
      while (offset < chunk.length) {
        if (this.destroyed) return;
        const part = chunk.subarray(offset, offset + this.piece);
        offset += part.length;
        const wait = this.reserve(part.length);
        if (wait >= 1) {
          this.#timer = setTimeout(() => {
            this.push(part);
            next();
          }, wait);
          return;
        }
        this.push(part);
      }
      callback();
    };
    next();
  }

  override _flush(callback: TransformCallback): void {
    this.#release();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#release();
    callback(error);
  }

  #release(): void {
    if (this.#done) return;
    this.#done = true;
    this.onClose();
  }
}
