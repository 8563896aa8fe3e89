// The three actuators against real local counterparts: a small HTTPS server implementing the
// Kubernetes scale subresource (GET, PATCH with merge-patch and resourceVersion preconditions, 401,
// 404, 409 as the API server answers them; no cluster can run here), a real program run by the
// command hook, and a webhook receiver that verifies the signature and fails on demand.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/infra/logger.js';
import type { ScaleRequest } from '../../../src/ops/autoscale/actuator.js';
import { createActuator } from '../../../src/ops/autoscale/actuators/index.js';
import { verifyWebhookSignature } from '../../../src/ops/webhooks.js';
import { isMeridianError } from '../../../src/core/errors.js';
import { makeSelfSignedCert, type TestCert } from '../../helpers/tls.js';

const CONTEXT = { resolvePath: (p: string) => p, log: silentLogger };
const REQUEST: ScaleRequest = {
  region: 'eu-west',
  action: 'scale-up',
  current: 2,
  desired: 5,
  reasons: ['inFlightPerBackend mean 25 over 3 sample(s) in 60s, target 10', 'scale-up from 2 to 5'],
  metric: 'inFlightPerBackend',
  value: 25,
  decidedAt: 1_700_000_000_000,
  node: 'node-a',
};
const signal = (): AbortSignal => AbortSignal.timeout(10_000);

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The scale subresource of one Deployment, as the API server serves it. */
class ScaleServer {
  replicas = 2;
  resourceVersion = 100;
  token = 'sa-token-1';
  /** Bumps the resourceVersion after the next GET (someone else scaled in between). */
  raceNextPatch = 0;
  readonly calls: string[] = [];
  server!: ReturnType<typeof createHttpsServer>;
  url = '';

  async start(cert: TestCert): Promise<void> {
    this.server = createHttpsServer(
      { cert: cert.cert, key: cert.key },
      (req, res) => void this.handle(req, res),
    );
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code }));
  }

  private scale(): unknown {
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: 'web', namespace: 'prod', resourceVersion: String(this.resourceVersion) },
      spec: { replicas: this.replicas },
      status: { replicas: this.replicas, selector: 'app=web' },
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await body(req);
    this.calls.push(`${req.method ?? ''} ${req.url ?? ''}`);
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      this.status(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    if (req.url !== '/apis/apps/v1/namespaces/prod/deployments/web/scale') {
      this.status(res, 404, 'NotFound', `deployments.apps "${req.url?.split('/')[7] ?? ''}" not found`);
      return;
    }
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(this.scale()));
      if (this.raceNextPatch > 0) {
        this.raceNextPatch--;
        this.resourceVersion++;
      }
      return;
    }
    if (req.method !== 'PATCH') {
      this.status(res, 405, 'MethodNotAllowed', 'method not allowed');
      return;
    }
    if (req.headers['content-type'] !== 'application/merge-patch+json') {
      this.status(
        res,
        415,
        'UnsupportedMediaType',
        `unsupported content type ${req.headers['content-type'] ?? ''}`,
      );
      return;
    }
    const patch = JSON.parse(text) as {
      metadata?: { resourceVersion?: string };
      spec?: { replicas?: number };
    };
    const rv = patch.metadata?.resourceVersion;
    if (rv !== undefined && rv !== String(this.resourceVersion)) {
      this.status(res, 409, 'Conflict', 'Operation cannot be fulfilled: the object has been modified');
      return;
    }
    if (typeof patch.spec?.replicas === 'number') this.replicas = patch.spec.replicas;
    this.resourceVersion++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(this.scale()));
  }
}

describe('kubernetes actuator against a local scale subresource', () => {
  let cert: TestCert;
  const k8s = new ScaleServer();
  let dir: string;
  let tokenFile: string;

  before(async () => {
    cert = makeSelfSignedCert();
    await k8s.start(cert);
    dir = mkdtempSync(join(tmpdir(), 'meridian-k8s-'));
    tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${k8s.token}\n`);
  });
  after(() => {
    k8s.server.closeAllConnections();
    k8s.server.close();
    cert.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  const actuator = (name = 'web') =>
    createActuator(
      { type: 'kubernetes', apiServer: k8s.url, namespace: 'prod', name, tokenFile, caFile: cert.certPath },
      'autoscale.regions[0].actuator',
      CONTEXT,
    );

  void it('reads the replicas, then PATCHes spec.replicas with merge-patch and the resourceVersion', async () => {
    const a = actuator();
    k8s.calls.length = 0;
    assert.equal(await a.current?.(signal()), 2);
    const note = await a.scale(REQUEST, signal());
    assert.equal(k8s.replicas, 5);
    assert.match(note, /deployment prod\/web scaled from 2 to 5/);
    assert.deepEqual(k8s.calls.slice(1), [
      'GET /apis/apps/v1/namespaces/prod/deployments/web/scale',
      'PATCH /apis/apps/v1/namespaces/prod/deployments/web/scale',
    ]);
    assert.match(await a.scale(REQUEST, signal()), /already has 5/);
    await a.close?.();
  });

  void it('re-reads and retries after a 409 (scaled by someone else in between)', async () => {
    const a = actuator();
    k8s.raceNextPatch = 1;
    k8s.calls.length = 0;
    await a.scale({ ...REQUEST, desired: 7 }, signal());
    assert.equal(k8s.replicas, 7);
    assert.equal(k8s.calls.filter((c) => c.startsWith('PATCH')).length, 2);
    k8s.raceNextPatch = 5;
    await assert.rejects(
      a.scale({ ...REQUEST, desired: 3 }, signal()),
      /kept changing under us \(HTTP 409 3 times\)/,
    );
    k8s.raceNextPatch = 0;
    await a.close?.();
  });

  void it('names the cause of a 401 (token) and a 404 (object)', async () => {
    const missing = actuator('nope');
    await assert.rejects(
      missing.scale(REQUEST, signal()),
      /deployment prod\/nope not found \(HTTP 404\): deployments.apps "nope" not found/,
    );
    await missing.close?.();
    writeFileSync(tokenFile, 'rotated-away\n');
    const a = actuator();
    await assert.rejects(a.scale(REQUEST, signal()), /refused the service-account token .*\(HTTP 401\)/);
    // The token is re-read on every call: a rotated file works without a restart.
    writeFileSync(tokenFile, k8s.token);
    assert.equal(await a.current?.(signal()), k8s.replicas);
    await a.close?.();
  });

  void it('refuses a certificate it was not given the CA for', async () => {
    const other = makeSelfSignedCert();
    try {
      const a = createActuator(
        {
          type: 'kubernetes',
          apiServer: k8s.url,
          namespace: 'prod',
          name: 'web',
          tokenFile,
          caFile: other.certPath,
        },
        'autoscale.regions[0].actuator',
        CONTEXT,
      );
      await assert.rejects(a.scale(REQUEST, signal()));
      await a.close?.();
    } finally {
      other.remove();
    }
  });

  void it('refuses bad options at start, naming the field', () => {
    const field = (block: Record<string, unknown>): string | undefined => {
      try {
        createActuator({ type: 'kubernetes', ...block }, 'autoscale.regions[0].actuator', CONTEXT);
        return undefined;
      } catch (err) {
        assert.ok(isMeridianError(err) && err.code === 'E_CONFIG', String(err));
        return err.field;
      }
    };
    assert.equal(
      field({ namespace: 'Prod!', name: 'web', caFile: cert.certPath }),
      'autoscale.regions[0].actuator.namespace',
    );
    assert.equal(
      field({ namespace: 'prod', name: 'web', apiServer: 'http://x', caFile: cert.certPath }),
      'autoscale.regions[0].actuator.apiServer',
    );
    assert.equal(
      field({ namespace: 'prod', name: 'web', caFile: join(dir, 'missing.crt') }),
      'autoscale.regions[0].actuator.caFile',
    );
    assert.throws(
      () => createActuator({ type: 'ftp' }, 'autoscale.regions[2].actuator', CONTEXT),
      /autoscale.regions\[2\].actuator.type: unknown actuator "ftp"; expected one of webhook, kubernetes, command/,
    );
  });
});

describe('command actuator', () => {
  let dir: string;
  let script: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'meridian-hook-'));
    script = join(dir, 'scale.sh');
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        'printf "%s|" "$@" > "$OUT"',
        'printf "%s|%s|%s|%s|%s|%s" "$MERIDIAN_AUTOSCALE_REGION" "$MERIDIAN_AUTOSCALE_DESIRED" "$MERIDIAN_AUTOSCALE_CURRENT" "$MERIDIAN_AUTOSCALE_ACTION" "${MERIDIAN_API_TOKEN:-unset}" "$MERIDIAN_AUTOSCALE_REASONS" >> "$OUT"',
        'if [ "$1" = "fail" ]; then echo "no capacity left in zone b" >&2; exit 3; fi',
        'if [ "$1" = "hang" ]; then sleep 30; fi',
        'echo "asked for $MERIDIAN_AUTOSCALE_DESIRED"',
        '',
      ].join('\n'),
    );
    chmodSync(script, 0o755);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const hook = (args: string[], timeoutMs = 5000) =>
    createActuator(
      { type: 'command', command: script, args, env: { OUT: join(dir, 'out') }, timeoutMs },
      'autoscale.regions[0].actuator',
      CONTEXT,
    );

  void it('passes the count in args and env, without a shell and without the node environment', async () => {
    process.env.MERIDIAN_API_TOKEN = 'must-not-leak';
    try {
      const note = await hook(['--region={region}', '{desired}', '$(touch pwned)', '{current}']).scale(
        REQUEST,
        signal(),
      );
      assert.equal(note, `${script}: asked for 5`);
    } finally {
      delete process.env.MERIDIAN_API_TOKEN;
    }
    const out = readFileSync(join(dir, 'out'), 'utf8');
    assert.equal(
      out,
      `--region=eu-west|5|$(touch pwned)|2|eu-west|5|2|scale-up|unset|${REQUEST.reasons.join('\n')}`,
    );
    assert.equal(existsSync(join(dir, 'pwned')), false);
  });

  void it('fails with the exit code and stderr, and on timeout', async () => {
    await assert.rejects(hook(['fail']).scale(REQUEST, signal()), /exited 3: no capacity left in zone b/);
    const started = Date.now();
    await assert.rejects(hook(['hang'], 300).scale(REQUEST, signal()), /timed out after 300 ms/);
    assert.ok(Date.now() - started < 5000);
  });
});

describe('webhook actuator', () => {
  const SECRET = 'autoscale-secret-0123456789';
  let server: Server;
  let url = '';
  let failNext = 0;
  let answer = 200;
  const received: { body: string; valid: boolean }[] = [];

  before(async () => {
    server = createHttpServer((req, res) => {
      void body(req).then((text) => {
        received.push({
          body: text,
          valid: verifyWebhookSignature(
            SECRET,
            text,
            req.headers['meridian-signature'] as string | undefined,
            Math.floor(Date.now() / 1000),
          ),
        });
        const status = failNext > 0 ? (failNext--, 503) : answer;
        res.writeHead(status).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/scale`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const hook = () =>
    createActuator(
      { type: 'webhook', url, secret: SECRET, retries: 2, backoffMs: 20 },
      'autoscale.regions[0].actuator',
      CONTEXT,
    );

  void it('posts the signed desired count and reasons, retrying 503 with back-off', async () => {
    received.length = 0;
    failNext = 2;
    const a = hook();
    assert.match(await a.scale(REQUEST, signal()), /accepted 5 \(attempt 3\)/);
    assert.equal(received.length, 3);
    assert.ok(received.every((r) => r.valid));
    const payload = JSON.parse(received[2]?.body ?? '{}') as Record<string, unknown>;
    assert.equal(payload.source, 'meridian');
    assert.equal(payload.kind, 'autoscale');
    assert.equal(payload.desired, 5);
    assert.deepEqual(payload.reasons, REQUEST.reasons);
    await a.close?.();
  });

  void it('gives up at once on a 4xx, after the retries on 5xx', async () => {
    const a = hook();
    received.length = 0;
    answer = 400;
    await assert.rejects(
      a.scale(REQUEST, signal()),
      /failed after 1 attempt\(s\): webhook http:\/\/127.0.0.1:\d+ answered HTTP 400/,
    );
    answer = 200;
    failNext = 3;
    await assert.rejects(a.scale(REQUEST, signal()), /failed after 3 attempt\(s\)/);
    failNext = 0;
    await a.close?.();
  });
});
