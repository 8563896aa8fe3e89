// A worker killed under a real `meridian serve` (DNS tier, two process workers): the node replaces
// it, keeps answering, counts the restart in /metrics and raises one `worker_died` alert naming the
// worker and how it died (`meridian alerts`).
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { dig } from '../helpers/dig.js';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'worker-alerts-token-0123';

/** The node's DNS worker processes: its children running src/dns/worker.ts. */
function dnsWorkerPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = /^\d+ \(.*\) \S (\d+)/.exec(readFileSync(`/proc/${entry}/stat`, 'latin1'))?.[1];
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      if (Number(ppid) === parent && cmdline.includes('dns/worker')) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

describe('worker alerts (meridian serve, 2 DNS process workers)', () => {
  const dir = tempDir('meridian-worker-alerts-');
  let node: MeridianProcess;
  let dnsPort = 0;

  before(async () => {
    const config = writeTestConfig(dir, (doc) => {
      doc.dns.workers = 2;
      doc.dns.workerKind = 'process';
    });
    node = await startMeridian(config, { MERIDIAN_API_TOKEN: TOKEN });
    dnsPort = Number(/DNS udp on 127\.0\.0\.1:(\d+)/.exec(node.stdout())?.[1]);
    assert.ok(dnsPort > 0, node.stdout());
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replaces a killed worker, counts the restart and raises one worker_died alert', async () => {
    const pid = node.child.pid ?? 0;
    const before = await waitFor('two DNS workers', () => {
      const pids = dnsWorkerPids(pid);
      return pids.length === 2 ? pids : undefined;
    });
    process.kill(before[0] ?? 0, 'SIGKILL');
    await waitFor('a new worker beside the survivor', () => {
      const pids = dnsWorkerPids(pid);
      return pids.length === 2 && !pids.includes(before[0] ?? 0);
    });
    // Still answering (over UDP each query may reach either worker).
    for (let i = 0; i < 4; i++) {
      const r = await dig({ host: '127.0.0.1', port: dnsPort }, ['example.test', 'SOA']);
      assert.equal(r.status, 'NOERROR');
    }

    const env = { MERIDIAN_API_URL: node.apiUrl, MERIDIAN_API_TOKEN: TOKEN };
    const alerts = await waitFor('a worker_died alert', async () => {
      const r = await runCli(['alerts', '--type', 'worker_died', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      const page = JSON.parse(r.stdout) as { items: { subject: string; level: string; message: string }[] };
      return page.items.length > 0 ? page.items : undefined;
    });
    assert.equal(alerts.length, 1);
    assert.match(alerts[0]?.subject ?? '', /^worker\/dns\/\d+$/);
    assert.equal(alerts[0]?.level, 'warning');
    assert.match(
      alerts[0]?.message ?? '',
      /^DNS worker \d+ on node \S+ died \(signal SIGKILL\); a new one is starting$/,
    );

    const metrics = await (await fetch(`${node.apiUrl}/metrics`)).text();
    assert.match(metrics, /^meridian_cluster_worker_restarts_total\{tier="dns"\} 1$/m);
    assert.match(metrics, /^meridian_cluster_workers\{tier="dns"\} 2$/m);
  });
});
