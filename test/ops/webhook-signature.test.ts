// HMAC-signed webhooks: a real receiver gets `Meridian-Signature` and verifies it over the raw body
// with the shared secret; a changed body, a wrong secret or an old time fail verification, and a
// webhook without a secret sends no signature.
import { strict as assert } from 'node:assert';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  SIGNATURE_HEADER,
  WebhookDispatcher,
  signWebhook,
  verifyWebhookSignature,
  type WebhookConfig,
} from '../../src/ops/webhooks.js';
import type { AlertRecord } from '../../src/storage/ops-record-store.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'a-shared-webhook-secret';

const alert: AlertRecord = {
  id: '1-0',
  time: '2026-01-01T00:00:00.000Z',
  type: 'task_failed',
  level: 'critical',
  subject: 'task/nightly',
  message: 'failed',
};

describe('signed webhooks', () => {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = 204;
      res.end();
    });
  });
  let url = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const hook = (over: Partial<WebhookConfig>): WebhookConfig => ({
    url,
    minLevel: 'info',
    timeoutMs: 2000,
    retries: 0,
    ...over,
  });

  it('signs each delivery; the receiver verifies the raw body with the secret', async () => {
    received.length = 0;
    const d = new WebhookDispatcher({ webhooks: [hook({ id: 'signed', secret: SECRET })] });
    try {
      d.send(alert);
      await waitFor('the signed delivery', () => received.length === 1);
    } finally {
      await d.close();
    }
    const [got] = received;
    assert.ok(got !== undefined);
    const header = got.headers[SIGNATURE_HEADER];
    assert.equal(typeof header, 'string');
    assert.match(String(header), /^t=\d+,v1=[0-9a-f]{64}$/);
    const now = Math.floor(Date.now() / 1000);
    assert.equal(verifyWebhookSignature(SECRET, got.body, String(header), now), true);
    assert.equal(
      verifyWebhookSignature(SECRET, got.body.replace('failed', 'fine!!'), String(header), now),
      false,
    );
    assert.equal(verifyWebhookSignature('another-secret-entirely', got.body, String(header), now), false);
    assert.equal(
      verifyWebhookSignature(SECRET, got.body, String(header), now + 301),
      false,
      'too old: a replay',
    );
    assert.equal(verifyWebhookSignature(SECRET, got.body, undefined, now), false);
    assert.equal(verifyWebhookSignature(SECRET, got.body, 'v1=abc', now), false);
  });

  it('sends no signature without a secret', async () => {
    received.length = 0;
    const d = new WebhookDispatcher({ webhooks: [hook({ id: 'plain' })] });
    try {
      d.send(alert);
      await waitFor('the plain delivery', () => received.length === 1);
    } finally {
      await d.close();
    }
    assert.equal(received[0]?.headers[SIGNATURE_HEADER], undefined);
  });

  it('the signature is HMAC-SHA256 over "<t>.<body>" (the documented format, pinned)', () => {
    // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key
    assert.equal(
      signWebhook('key', '{"a":1}', 1700000000),
      't=1700000000,v1=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03',
    );
  });
});
