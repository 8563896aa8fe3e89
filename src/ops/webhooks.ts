// Alert webhooks: POST the alert as JSON to each configured URL whose `minLevel` it reaches.
// Delivery runs in the background, one request at a time per webhook, from a bounded queue (the
// oldest alert is dropped when it is full); every attempt has a timeout, failures are retried
// with exponential back-off and jitter. A slow, failing or dead webhook only delays its own
// queue: `send` never blocks, never throws, and nothing else waits for a delivery.
// With a `secret`, every attempt carries `Meridian-Signature: t=<unix seconds>,v1=<hex>`, the
// HMAC-SHA256 of `<t>.<body>` under the secret, so a receiver can check the sender and reject
// replays older than a few minutes (`verifyWebhookSignature`).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Agent, request } from 'undici';
import { Counter, type Registry } from 'prom-client';
import { describeError } from '../core/errors.js';
import { silentLogger, type Logger } from '../infra/logger.js';
import { levelRank, type AlertLevel, type AlertRecord } from '../storage/ops-record-store.js';

export interface WebhookConfig {
  /**
   * Names the webhook in metrics and logs, since the URL may hold a secret. Default `webhook-<n>`
   * (1-based position), as in the config schema.
   */
  readonly id?: string;
  readonly url: string;
  readonly minLevel: AlertLevel;
  readonly timeoutMs: number;
  /** Attempts after the first one. */
  readonly retries: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Signs each request (HMAC-SHA256, see SIGNATURE_HEADER); the receiver holds the same secret. */
  readonly secret?: string;
}

export const SIGNATURE_HEADER = 'meridian-signature';

function hmacHex(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** The signature header's value for `body` sent at `unixSeconds`: `t=<unixSeconds>,v1=<hex>`. */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${hmacHex(secret, unixSeconds, body)}`;
}

/**
 * What a receiver runs: true when `header` signs exactly `body` (the raw bytes received) under
 * `secret` and its time is within `toleranceSeconds` of `nowSeconds` (a replay protection).
 */
export function verifyWebhookSignature(
  secret: string,
  body: string,
  header: string | undefined,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const m = header === undefined ? null : /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header);
  if (m === null) return false;
  const t = Number(m[1]);
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  return timingSafeEqual(Buffer.from(m[2] ?? '', 'hex'), Buffer.from(hmacHex(secret, t, body), 'hex'));
}

export interface WebhookPayload {
  readonly source: 'meridian';
  readonly alert: AlertRecord;
}

export interface WebhookDispatcherOptions {
  readonly webhooks: readonly WebhookConfig[];
  readonly log?: Logger;
  readonly registry?: Registry;
  /** Per webhook; default 1000. */
  readonly queueSize?: number;
  /** First retry delay; doubles each time, up to `maxBackoffMs`. Default 500 ms. */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
}

type Result = 'delivered' | 'failed' | 'dropped';

/**
 * What a URL looks like in logs: scheme and host only. Credentials, path and query stay out, since
 * chat services put their secret in the path (`/services/T0/B0/<secret>`).
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid url)';
  }
}

class WebhookQueue {
  private readonly queue: AlertRecord[] = [];
  private running = false;
  private readonly name: string;
  /** The fields every log line about this webhook carries. */
  private readonly logFields: { readonly webhook: string; readonly host: string };

  constructor(
    readonly config: WebhookConfig,
    id: string,
    private readonly owner: WebhookDispatcher,
    private readonly capacity: number,
  ) {
    this.name = id;
    this.logFields = { webhook: id, host: redactUrl(config.url) };
  }

  push(alert: AlertRecord): void {
    if (this.queue.length >= this.capacity) {
      this.queue.shift();
      this.owner.count(this.name, 'dropped');
    }
    this.queue.push(alert);
    if (!this.running) {
      this.running = true;
      void this.drain();
    }
  }

  get pending(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  clear(): void {
    this.queue.length = 0;
  }

  private async drain(): Promise<void> {
    try {
      for (let alert = this.queue.shift(); alert !== undefined; alert = this.queue.shift()) {
        if (this.owner.closed) return;
        await this.deliver(alert);
      }
    } finally {
      this.running = false;
    }
  }

  private async deliver(alert: AlertRecord): Promise<void> {
    const body = JSON.stringify({ source: 'meridian', alert } satisfies WebhookPayload);
    for (let attempt = 0; attempt <= this.config.retries; attempt++) {
      if (this.owner.closed) return;
      if (attempt > 0) {
        const delay = Math.min(this.owner.maxBackoffMs, this.owner.backoffMs * 2 ** (attempt - 1));
        await this.owner.sleep(delay / 2 + Math.random() * (delay / 2));
        if (this.owner.closed) return;
      }
      const outcome = await this.attempt(body);
      if (outcome === 'ok') {
        this.owner.count(this.name, 'delivered');
        return;
      }
      if (outcome === 'permanent') break;
    }
    this.owner.count(this.name, 'failed');
    this.owner.log.warn(
      { ...this.logFields, alertId: alert.id },
      'webhook delivery failed; alert not delivered',
    );
  }

  private async attempt(body: string): Promise<'ok' | 'retry' | 'permanent'> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.config.timeoutMs), this.owner.abort.signal]);
    try {
      const res = await request(this.config.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'meridian-alerts',
          ...this.config.headers,
          // Signed per attempt, so a retry carries a fresh time.
          ...(this.config.secret === undefined
            ? {}
            : { [SIGNATURE_HEADER]: signWebhook(this.config.secret, body, Math.floor(Date.now() / 1000)) }),
        },
        body,
        signal,
        dispatcher: this.owner.agent,
      });
      await res.body.dump().catch(() => undefined);
      if (res.statusCode >= 200 && res.statusCode < 300) return 'ok';
      this.owner.log.debug(
        { ...this.logFields, status: res.statusCode },
        'webhook answered with an error status',
      );
      return res.statusCode === 429 || res.statusCode >= 500 ? 'retry' : 'permanent';
    } catch (err) {
      this.owner.log.debug({ ...this.logFields, err: describeError(err) }, 'webhook attempt failed');
      return 'retry';
    }
  }
}

export class WebhookDispatcher {
  readonly log: Logger;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly agent: Agent;
  readonly abort = new AbortController();
  closed = false;
  private readonly queues: WebhookQueue[];
  private readonly counter: Counter<'webhook' | 'result'> | undefined;
  private readonly timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(options: WebhookDispatcherOptions) {
    this.log = options.log ?? silentLogger;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.agent = new Agent({ connections: 2, keepAliveTimeout: 10_000 });
    const capacity = options.queueSize ?? 1000;
    this.queues = options.webhooks.map(
      (w, i) => new WebhookQueue(w, w.id ?? `webhook-${i + 1}`, this, capacity),
    );
    this.counter =
      options.registry === undefined
        ? undefined
        : new Counter({
            name: 'meridian_ops_webhook_deliveries_total',
            help: 'Alert webhook deliveries by outcome (delivered, failed after retries, dropped from a full queue).',
            labelNames: ['webhook', 'result'],
            registers: [options.registry],
          });
  }

  /** Queues the alert for every webhook whose `minLevel` it reaches. Never blocks or throws. */
  send(alert: AlertRecord): void {
    if (this.closed) return;
    for (const q of this.queues) {
      if (levelRank(alert.level) >= levelRank(q.config.minLevel)) q.push(alert);
    }
  }

  /** Alerts queued or in flight, over all webhooks. */
  pending(): number {
    return this.queues.reduce((n, q) => n + q.pending, 0);
  }

  /** Stops at once: in-flight requests are aborted, queued alerts dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    for (const q of this.queues) q.clear();
    for (const t of this.timers) {
      clearTimeout(t.timer);
      t.resolve();
    }
    this.timers.clear();
    await this.agent.destroy().catch(() => undefined);
  }

  count(webhook: string, result: Result): void {
    this.counter?.inc({ webhook, result });
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.timers.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      entry.timer.unref();
      this.timers.add(entry);
    });
  }
}
