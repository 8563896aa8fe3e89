// The sampled DNS query log and proxy access log: off by default, every request at sampleRate 1.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBackend, type TestBackend } from '../helpers/backends.js';
import { dig } from '../helpers/dig.js';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'request-log-token';

interface Node {
  proc: MeridianProcess;
  dnsPort: number;
  proxyPort: number;
}

async function startNode(backend: TestBackend, sampleRate: number | undefined): Promise<Node> {
  const config = writeTestConfig(tempDir(), (doc) => {
    doc.log = { level: 'info' };
    doc.proxy = { region: 'eu', listen: ['127.0.0.1:0'] };
    if (sampleRate !== undefined) {
      doc.dns.queryLog = { sampleRate };
      doc.proxy.accessLog = { sampleRate };
    }
  });
  const proc = await startMeridian(config, { MERIDIAN_API_TOKEN: TOKEN });
  const env = { MERIDIAN_API_URL: proc.apiUrl, MERIDIAN_API_TOKEN: TOKEN };
  for (const args of [
    ['region', 'add', 'eu', '--lat', '50.1', '--lon', '8.7', '--ipv4', '192.0.2.10'],
    ['backend', 'add', 'eu', backend.url, '--id', 'b1'],
  ]) {
    const r = await runCli(args, env);
    assert.equal(r.code, 0, r.stderr);
  }
  const port = (re: RegExp): number => Number(re.exec(proc.stdout())?.[1]);
  return {
    proc,
    dnsPort: port(/DNS udp on 127\.0\.0\.1:(\d+)/),
    proxyPort: port(/proxy http on 127\.0\.0\.1:(\d+)/),
  };
}

/** One DNS query and one proxied request (retried until the backend is known to the proxy). */
async function traffic(node: Node): Promise<void> {
  const answer = await dig({ host: '127.0.0.1', port: node.dnsPort }, ['www.example.test', 'A']);
  assert.equal(answer.status, 'NOERROR');
  await waitFor(
    'the proxy to answer 200',
    async () => {
      const res = await fetch(`http://127.0.0.1:${node.proxyPort}/logged?x=1`);
      await res.arrayBuffer();
      return res.status === 200;
    },
    { timeoutMs: 10_000, intervalMs: 100 },
  );
}

function logLines(proc: MeridianProcess, kind: string): Record<string, unknown>[] {
  return proc
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.log === kind);
}

function waitForLine(proc: MeridianProcess, kind: string): Promise<Record<string, unknown>[]> {
  return waitFor(
    `a ${kind} log line`,
    () => {
      const lines = logLines(proc, kind);
      return lines.length > 0 ? lines : undefined;
    },
    { timeoutMs: 5000, intervalMs: 50 },
  );
}

void describe('sampled query and access logs', () => {
  let backend: TestBackend;
  const nodes: Node[] = [];

  before(async () => {
    backend = await startBackend('b1');
  });

  after(async () => {
    for (const n of nodes) await n.proc.stop();
    await backend.close();
  });

  void it('logs every DNS query and proxied request at sampleRate 1', async () => {
    const node = await startNode(backend, 1);
    nodes.push(node);
    await traffic(node);
    const queries = await waitForLine(node.proc, 'query');
    assert.ok(
      queries.some((q) => q.qname === 'www.example.test' && q.qtype === 'A' && q.rcode === 'NOERROR'),
      JSON.stringify(queries),
    );
    const access = (await waitForLine(node.proc, 'access')).find((a) => a.status === 200);
    assert.ok(access !== undefined, node.proc.stderr());
    assert.equal(access.path, '/logged?x=1');
    assert.equal(access.backend, 'b1');
    assert.equal(access.method, 'GET');
    assert.equal(typeof access.requestId, 'string');
  });

  void it('logs nothing of the kind by default', async () => {
    const node = await startNode(backend, undefined);
    nodes.push(node);
    await traffic(node);
    await node.proc.stop();
    assert.deepEqual(logLines(node.proc, 'query'), []);
    assert.deepEqual(logLines(node.proc, 'access'), []);
  });
});
