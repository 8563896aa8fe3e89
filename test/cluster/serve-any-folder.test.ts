// `meridian serve` with DNS and proxy workers (workers: 2), started the way an installed command is
// (src/cli/bin.js) from a fresh temporary folder as its working directory: the workers must be forked
// with their loader resolved by absolute path, not from the cwd, and then answer DNS and proxy.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { answerData, dig } from '../helpers/dig.js';
import { promtoolProblems } from '../helpers/promtool.js';
import { startBackend, type TestBackend } from '../helpers/backends.js';
import {
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'any-folder-token';

function portOf(stdout: string, pattern: RegExp): number {
  const m = pattern.exec(stdout);
  assert.ok(m?.[1] !== undefined, `no match for ${String(pattern)} in:\n${stdout}`);
  return Number(m[1]);
}

void describe('serve with workers: 2 from a folder outside the checkout', () => {
  let node: MeridianProcess;
  let backend: TestBackend;

  before(async () => {
    backend = await startBackend('b1');
    const dir = tempDir('meridian-anyfolder-');
    const config = writeTestConfig(dir, (doc) => {
      doc.dns.workers = 2;
      doc.proxy = { region: 'eu', listen: ['127.0.0.1:0'], workers: 2, health: { intervalMs: 200 } };
    });
    node = await startMeridian(config, { MERIDIAN_API_TOKEN: TOKEN }, { cwd: tempDir('meridian-cwd-') });
    const write = async (path: string, body: unknown): Promise<void> => {
      const res = await fetch(`${node.apiUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 201, await res.text());
    };
    await write('/v1/regions', { id: 'eu', lat: 50.1, lon: 8.7, ipv4: ['192.0.2.10'] });
    await write('/v1/regions/eu/backends', { id: 'b1', url: backend.url });
  });

  after(async () => {
    await node?.stop();
    await backend?.close();
  });

  void it('answers DNS from the workers', async () => {
    const port = portOf(node.stdout(), /DNS udp on 127\.0\.0\.1:(\d+)/);
    let data: string[] = [];
    await waitFor('the DNS workers to know region eu', async () => {
      const r = await dig({ host: '127.0.0.1', port }, [
        '+norec',
        '+subnet=192.0.2.0/24',
        'www.example.test',
        'A',
      ]);
      data = answerData(r, 'A');
      return data.includes('192.0.2.10');
    });
    assert.deepEqual(data, ['192.0.2.10']);
  });

  void it('proxies through the workers', async () => {
    const port = portOf(node.stdout(), /proxy http on 127\.0\.0\.1:(\d+)/);
    let status = 0;
    await waitFor('the proxy workers to forward to b1', async () => {
      status = (await fetch(`http://127.0.0.1:${port}/hello`)).status;
      return status === 200;
    });
    assert.equal(status, 200);
  });

  void it('serves metrics aggregated over the workers that pass promtool check metrics', async () => {
    const res = await fetch(`${node.apiUrl}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /meridian_proxy_requests_total\{/);
    assert.equal(await promtoolProblems(text), '');
  });
});
