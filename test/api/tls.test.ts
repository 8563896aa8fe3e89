// The admin API over HTTPS: serves the configured certificate, picks up a renewed one from the same
// files without a restart, keeps serving the old one when the new files do not load, marks the
// session cookie Secure, and fails to start naming the files when they are bad.
import { strict as assert } from 'node:assert';
import { copyFileSync, writeFileSync } from 'node:fs';
import { connect, type PeerCertificate } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startAdminApi, type AdminApi } from '../../src/api/server.js';
import { silentLogger } from '../../src/infra/logger.js';
import { MemoryAccessStore } from '../../src/storage/memory/access-store.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import { waitFor } from '../helpers/wait.js';
import { makeSelfSignedCert, type TestCert } from '../helpers/tls.js';

const BOOT = 'tls-bootstrap-token-123';

/** The fingerprint of the certificate the server presents now. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false },
      () => {
        const cert: PeerCertificate = socket.getPeerCertificate();
        socket.end();
        resolve(cert.fingerprint256);
      },
    );
    socket.once('error', reject);
  });
}

describe('admin API over TLS', () => {
  let first: TestCert;
  let second: TestCert;
  let served: TestCert;
  let api: AdminApi;
  const state = new MemoryStateStore({ logger: silentLogger });
  const access = new MemoryAccessStore();
  const logged: string[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => logged.push((JSON.parse(line) as { msg: string }).msg) },
  );

  before(async () => {
    first = makeSelfSignedCert();
    second = makeSelfSignedCert();
    // The server reads this copy, which the test overwrites as a renewal would.
    served = makeSelfSignedCert();
    copyFileSync(first.certPath, served.certPath);
    copyFileSync(first.keyPath, served.keyPath);
    await state.start();
    await access.start();
    api = await startAdminApi({
      listen: { host: '127.0.0.1', port: 0 },
      store: state,
      access,
      token: BOOT,
      tls: { certFile: served.certPath, keyFile: served.keyPath, reloadCheckMs: 50 },
      bodyLimitBytes: 65536,
      logger,
      metrics: () => Promise.resolve(''),
    });
  });

  after(async () => {
    await api.close();
    for (const c of [first, second, served]) c.remove();
  });

  const fingerprintOf = async (cert: TestCert): Promise<string> => {
    const { X509Certificate } = await import('node:crypto');
    return new X509Certificate(cert.cert).fingerprint256;
  };

  it('serves HTTPS with the configured certificate', async () => {
    assert.match(api.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await servedFingerprint(api.address.port), await fingerprintOf(first));
  });

  it('reloads a renewed certificate from the same files, and keeps the old one when the new files are bad', async () => {
    copyFileSync(second.keyPath, served.keyPath);
    copyFileSync(second.certPath, served.certPath);
    const renewed = await fingerprintOf(second);
    await waitFor(
      'the renewed certificate',
      async () => (await servedFingerprint(api.address.port)) === renewed,
      { timeoutMs: 5000 },
    );

    assert.ok(logged.includes('admin API certificate reloaded'));
    writeFileSync(served.certPath, 'not a certificate\n');
    await waitFor(
      'the refused reload',
      () => logged.includes('admin API certificate not reloaded; still serving the previous one'),
      { timeoutMs: 5000 },
    );
    assert.equal(await servedFingerprint(api.address.port), renewed);
  });

  it('fails to start naming the files when they do not load', async () => {
    await assert.rejects(
      startAdminApi({
        listen: { host: '127.0.0.1', port: 0 },
        store: state,
        token: BOOT,
        tls: { certFile: served.certPath, keyFile: first.keyPath },
        bodyLimitBytes: 65536,
        logger: silentLogger,
        metrics: () => Promise.resolve(''),
      }),
      (err: Error) =>
        err.message.includes(served.certPath) && err.message.startsWith('api.tls: cannot load certificate'),
    );
  });
});
