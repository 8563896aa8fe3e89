// One attempt of an exchange on one upstream: an undici dispatch handler. It implements undici's
// raw handler interface (onConnect/onHeaders/onData/onComplete/onError/onUpgrade), which undici
// calls directly; the controller-style interface would add a wrapper, a controller and two header
// objects parsed from the raw headers per request.
//
// Whose fault a failure is decides what the backend's health record sees: a backend's 5xx or a
// connection failure counts against it; a client whose framing broke mid-body does not, and
// neither does any non-101 answer to an upgrade (a 403, or a server that ignores Upgrade: the
// client gets that answer as is).
//
// Timeouts: a request without a body has its headers and body timeouts kept by the engine's
// Deadlines sweep (deadlines.ts says why), through the Timed fields below; one with a body, or an
// upgrade, leaves them to undici, which then also covers the upload.
import type { Duplex } from 'node:stream';
import { errors, type Dispatcher } from 'undici';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../infra/logger.js';
import type { ProxyError } from '../error-response.js';
import { BODY, HEADERS, type Deadlines, type Timed } from './deadlines.js';
import { ClientGone, type Exchange } from './exchange.js';
import { errorCode, isRetryableError, upstreamFailure } from './upstream-errors.js';
import type { Upstream } from './upstreams.js';

export interface Outcome {
  readonly ok: boolean;
  readonly status?: number;
  readonly error?: string;
}

/** What an attempt needs from the engine. */
export interface AttemptOwner {
  readonly logger: Logger;
  /** True to drop this response and try another backend. */
  shouldRetryStatus(ex: Exchange, failed: Upstream, status: number): boolean;
  /** Starts the client's response with the backend's status and headers. */
  writeHead(ex: Exchange, attempt: Attempt, status: number, raw: Buffer[]): void;
  /** The backend switched protocols: join the two connections. */
  tunnel(ex: Exchange, attempt: Attempt, raw: Buffer[] | string[] | null, socket: Duplex): void;
  record(upstream: Upstream, local: boolean, outcome: Outcome): void;
  observe(upstream: Upstream, local: boolean, ms: number, ok: boolean): void;
  /** After a failed attempt: another backend if allowed, else the failure. */
  retry(ex: Exchange, failed: Upstream, failure: ProxyError | undefined): void;
  /** Answers the client with the proxy's own error. */
  fail(ex: Exchange, error: ProxyError): void;
}

/** Outcome passed to the health tracker for every successful response (no allocation). */
const OK_OUTCOME: Outcome = Object.freeze({ ok: true });
const UPGRADED: Outcome = Object.freeze({ ok: true, status: 101 });

/** Where response body chunks go: the response itself, or a bandwidth pacer piped into it. */
interface Sink {
  write(chunk: Buffer): boolean;
  once(event: 'drain', fn: () => void): unknown;
}

export class Attempt implements Dispatcher.DispatchHandler, Timed {
  deadline = 0;
  timedKind: Timed['timedKind'] = 0;
  prevTimed: Timed | null = null;
  nextTimed: Timed | null = null;
  private abort: ((err?: Error) => void) | undefined;
  private discard = false;
  private settled = false;
  private paused = false;
  private status = 0;
  private resume: (() => void) | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly owner: AttemptOwner,
    private readonly ex: Exchange,
    readonly upstream: Upstream,
    /** A backend of this region (false: a peer region's proxy). */
    readonly local: boolean,
    /** Not the request's first attempt (counted in the upstream's retriesInFlight). */
    private readonly isRetry: boolean,
    /** Keeps this attempt's headers and body timeouts; undefined when undici keeps them. */
    private readonly deadlines: Deadlines | undefined,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    this.ex.abort = abort;
    if (this.ex.clientGone) abort(new ClientGone('client went away'));
    // undici calls this as it writes the request: its own headers timer starts there too.
    else if (!this.settled) this.deadlines?.arm(this, HEADERS);
  }

  expire(kind: typeof HEADERS | typeof BODY): void {
    if (this.settled) return;
    // undici's own errors, so a timeout is reported and retried as when undici kept the timers.
    this.abort?.(kind === HEADERS ? new errors.HeadersTimeoutError() : new errors.BodyTimeoutError());
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx informational: Node answers Expect itself
    this.status = statusCode;
    this.resume = resume;
    this.deadlines?.arm(this, BODY);
    if (this.owner.shouldRetryStatus(this.ex, this.upstream, statusCode)) {
      this.discard = true; // read and drop the body, then try the next backend
      return true;
    }
    try {
      this.owner.writeHead(this.ex, this, statusCode, rawHeaders);
    } catch (err) {
      this.ex.abort?.(err instanceof Error ? err : new Error(String(err)));
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.deadlines?.refreshBody(this);
    if (this.discard) return true;
    const sink: Sink = this.ex.paced ?? this.ex.res;
    if (sink.write(chunk)) return true;
    if (!this.paused) {
      this.paused = true;
      // A slow client is not a slow backend: no body timeout until the client has drained.
      this.deadlines?.pause(this);
      // Created only when the client is slow: no closure per request.
      sink.once('drain', () => {
        this.paused = false;
        if (!this.settled) this.deadlines?.arm(this, BODY);
        this.resume?.();
      });
    }
    return false;
  }

  onComplete(): void {
    if (!this.settle()) return;
    if (this.ex.upgrade === undefined) {
      const ok = this.status < 500;
      this.owner.record(this.upstream, this.local, ok ? OK_OUTCOME : { ok, status: this.status });
      this.owner.observe(this.upstream, this.local, performance.now() - this.started, ok);
    }
    if (this.discard) {
      this.owner.retry(this.ex, this.upstream, undefined);
      return;
    }
    if (this.ex.paced !== undefined) this.ex.paced.end();
    else this.ex.res.end();
  }

  onUpgrade(_statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    if (!this.settle()) {
      socket.destroy();
      return;
    }
    this.owner.record(this.upstream, this.local, UPGRADED);
    this.owner.tunnel(this.ex, this, rawHeaders, socket);
  }

  onError(err: Error): void {
    if (!this.settle()) return;
    const ex = this.ex;
    if (ex.clientGone || err instanceof ClientGone) return;
    if (ex.req.framingError !== undefined) {
      // The client's request body broke (bad chunk, early end): its fault, not the backend's.
      this.owner.fail(ex, {
        code: 'E_BAD_REQUEST',
        message: `malformed HTTP request: ${ex.req.framingError}`,
      });
      return;
    }
    const code = errorCode(err);
    this.owner.record(this.upstream, this.local, { ok: false, error: code });
    this.owner.observe(this.upstream, this.local, performance.now() - this.started, false);
    if (!ex.res.headersSent) {
      if (this.discard || isRetryableError(code)) {
        this.owner.retry(ex, this.upstream, upstreamFailure(code));
        return;
      }
      this.owner.logger.debug(
        { upstream: this.upstream.id, err: describeError(err), requestId: ex.requestId },
        'upstream error',
      );
      this.owner.fail(ex, upstreamFailure(code));
      return;
    }
    // Part of the response already went out: all we can do is cut the client's stream.
    this.owner.logger.debug(
      { upstream: this.upstream.id, err: describeError(err), requestId: ex.requestId },
      'upstream error mid-response',
    );
    ex.paced?.destroy();
    ex.res.destroy(err);
  }

  /** Ends the attempt exactly once; false when already ended. */
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.deadlines?.remove(this);
    this.upstream.inFlight--;
    if (this.isRetry) this.upstream.retriesInFlight--;
    return true;
  }
}
