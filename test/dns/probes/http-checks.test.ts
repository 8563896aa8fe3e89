// The HTTP check against a real HTTP server on loopback: a prompt 200 passes; a status outside the
// expected range fails; a body that is still arriving when the timeout passes fails, even though
// every gap between its chunks is shorter than the timeout.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { probeCheckSchema } from '../../../src/config/region-health-schema.js';
import { runProbe } from '../../../src/dns/probes/checks.js';
import { trickle } from '../../helpers/trickle.js';

void describe('HTTP probe', () => {
  let server: Server;
  let port = 0;
  const check = (path: string) =>
    probeCheckSchema.parse({ type: 'http', path, port, timeoutMs: 300, expectedStatus: '200' });

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/trickle') {
        trickle(res, 200, 30, 50); // a byte every 50 ms for 1.5 s
        return;
      }
      res.writeHead(req.url === '/ok' ? 200 : 503).end('body');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  void it('passes on the expected status and fails on another', async () => {
    const ok = await runProbe(check('/ok'), '127.0.0.1');
    assert.equal(ok.ok, true, ok.detail);
    const failing = await runProbe(check('/down'), '127.0.0.1');
    assert.equal(failing.ok, false);
    assert.match(failing.detail, /status 503/);
  });

  void it('fails when the body outlasts the timeout', async () => {
    const started = Date.now();
    const slow = await runProbe(check('/trickle'), '127.0.0.1');
    assert.equal(slow.ok, false, slow.detail);
    assert.ok(Date.now() - started < 1400, 'the check ended before the body did');
  });
});
