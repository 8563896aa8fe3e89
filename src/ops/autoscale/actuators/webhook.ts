// The webhook actuator: POSTs the desired count and the reasons as JSON to a URL the operator runs
// (a deploy pipeline, a cloud autoscaling group's API gateway, a chat-ops bot). Signed like the alert
// webhooks (ops/webhooks.ts): with a `secret`, every attempt carries `Meridian-Signature:
// t=<unix s>,v1=<hmac-sha256 hex of "<t>.<body>">`, so the receiver checks the sender with
// `verifyWebhookSignature` and rejects replays. A 2xx is success; 429, 5xx and network errors are
// retried with exponential back-off and jitter, other statuses fail at once.
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { describeError } from '../../../core/errors.js';
import { redactUrl, SIGNATURE_HEADER, signWebhook } from '../../webhooks.js';
import { actuatorKind, type ScaleRequest } from '../actuator.js';

const schema = z.strictObject({
  url: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }),
  /** HMAC-SHA256 key shared with the receiver (at least 16 characters). */
  secret: z.string().min(16, { message: 'expected at least 16 characters' }).optional(),
  /** Per attempt. */
  timeoutMs: z.number().int().positive().max(60_000).default(5000),
  /** Attempts after the first. */
  retries: z.number().int().min(0).max(10).default(3),
  /** First retry delay; doubles on each retry, up to 30 s. */
  backoffMs: z.number().int().positive().max(60_000).default(500),
  headers: z.record(z.string(), z.string()).optional(),
});

/** The JSON body the receiver gets. */
export interface AutoscaleWebhookPayload extends ScaleRequest {
  readonly source: 'meridian';
  readonly kind: 'autoscale';
}

class Permanent extends Error {}

export const webhookActuator = actuatorKind({
  schema,
  create(options) {
    const agent = new Agent({ connections: 2, keepAliveTimeout: 10_000 });
    const host = redactUrl(options.url);

    const attempt = async (body: string, signal: AbortSignal): Promise<void> => {
      const res = await request(options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'meridian-autoscale',
          ...options.headers,
          // Signed per attempt, so a retry carries a fresh time.
          ...(options.secret === undefined
            ? {}
            : { [SIGNATURE_HEADER]: signWebhook(options.secret, body, Math.floor(Date.now() / 1000)) }),
        },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs)]),
        dispatcher: agent,
      });
      await res.body.dump().catch(() => undefined);
      if (res.statusCode >= 200 && res.statusCode < 300) return;
      const message = `webhook ${host} answered HTTP ${res.statusCode}`;
      if (res.statusCode === 429 || res.statusCode >= 500) throw new Error(message);
      throw new Permanent(message);
    };

    return {
      type: 'webhook',
      async scale(req, signal) {
        const payload: AutoscaleWebhookPayload = { source: 'meridian', kind: 'autoscale', ...req };
        const body = JSON.stringify(payload);
        let last: unknown;
        let attempts = 0;
        for (let n = 0; n <= options.retries; n++) {
          if (n > 0) {
            const delay = Math.min(30_000, options.backoffMs * 2 ** (n - 1));
            await sleep(delay / 2 + Math.random() * (delay / 2), undefined, { signal });
          }
          attempts++;
          try {
            await attempt(body, signal);
            return `webhook ${host} accepted ${req.desired} (attempt ${n + 1})`;
          } catch (err) {
            last = err;
            if (err instanceof Permanent || signal.aborted) break;
          }
        }
        throw new Error(`webhook ${host} failed after ${attempts} attempt(s): ${describeError(last)}`);
      },
      close: () => agent.destroy().catch(() => undefined),
    };
  },
});
