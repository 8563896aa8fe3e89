// A node's stderr is nothing but JSON log lines: started with DNS, the proxy and the admin API on
// the memory store at debug level, given a few requests of each kind (a failing one included) and
// stopped, every line on stderr parses as one JSON object with no key repeated (no deprecation
// warning, no `"component":"dns","component":"geo"`), and stdout holds only its `meridian:` lines.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dig } from '../helpers/dig.js';
import { startBackend, type TestBackend } from '../helpers/backends.js';
import { assertJsonLines } from '../helpers/json-lines.js';
import {
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'clean-stderr-token';

void describe('a node writes only JSON lines', () => {
  let node: MeridianProcess;
  let backend: TestBackend;
  let stderr = '';
  let stdout = '';

  before(async () => {
    backend = await startBackend('b1');
    const config = writeTestConfig(tempDir(), (doc) => {
      doc.log = { level: 'debug' };
      doc.dns.queryLog = { sampleRate: 1 };
      doc.proxy = { region: 'eu', listen: ['127.0.0.1:0'], health: { intervalMs: 200 } };
    });
    node = await startMeridian(config, { MERIDIAN_API_TOKEN: TOKEN });
    const post = (path: string, body: unknown, token = TOKEN) =>
      fetch(`${node.apiUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
    assert.equal(
      (await post('/v1/regions', { id: 'eu', lat: 50.1, lon: 8.7, ipv4: ['192.0.2.10'] })).status,
      201,
    );
    assert.equal((await post('/v1/regions/eu/backends', { id: 'b1', url: backend.url })).status, 201);
    assert.equal((await post('/v1/regions', { id: 'x' }, 'wrong-token')).status, 401);
    assert.equal((await fetch(`${node.apiUrl}/v1/nothing`)).status, 404);
    const dnsPort = Number(/DNS udp on 127\.0\.0\.1:(\d+)/.exec(node.stdout())?.[1]);
    const answer = await dig({ host: '127.0.0.1', port: dnsPort }, [
      '+subnet=192.0.2.0/24',
      'www.example.test',
      'A',
    ]);
    assert.equal(answer.status, 'NOERROR');
    const proxyPort = Number(/proxy http on 127\.0\.0\.1:(\d+)/.exec(node.stdout())?.[1]);
    await waitFor(
      'the proxy to forward',
      async () => (await fetch(`http://127.0.0.1:${proxyPort}/`)).status === 200,
    );
    const stopped = await node.stop();
    assert.equal(stopped.code, 0);
    stderr = node.stderr();
    stdout = node.stdout();
  });

  after(async () => {
    await node?.stop();
    await backend?.close();
  });

  void it('every stderr line is one JSON object without a repeated key', () => {
    const lines = assertJsonLines(stderr, 'stderr');
    assert.ok(lines.length >= 10, `only ${lines.length} log lines`);
    assert.ok(
      lines.some((l) => l.component === 'dns.geo'),
      'nested components are joined',
    );
    assert.ok(lines.some((l) => l.msg === 'admin API authentication failed'));
  });

  void it('stdout holds only the meridian: status lines', () => {
    for (const line of stdout.split('\n').filter((l) => l !== '')) assert.match(line, /^meridian: /);
  });
});
