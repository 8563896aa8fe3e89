// Workers killed under a real `meridian serve` (two DNS and two proxy process workers): the node
// replaces each, keeps answering, counts the restarts in /metrics and raises one `worker_died`
// alert per tier naming the worker and how it died (`meridian alerts`).
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

/** The node's worker processes of one tier: its children running src/<tier>/worker.ts. */
function workerPids(parent: number, tier: 'dns' | 'proxy'): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = /^\d+ \(.*\) \S (\d+)/.exec(readFileSync(`/proc/${entry}/stat`, 'latin1'))?.[1];
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      if (Number(ppid) === parent && cmdline.includes(`${tier}/worker`)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** Kills one of the tier's two workers and waits for its replacement. */
async function killOneWorker(parent: number, tier: 'dns' | 'proxy'): Promise<void> {
  const before = await waitFor(`two ${tier} workers`, () => {
    const pids = workerPids(parent, tier);
    return pids.length === 2 ? pids : undefined;
  });
  process.kill(before[0] ?? 0, 'SIGKILL');
  await waitFor(`a new ${tier} worker beside the survivor`, () => {
    const pids = workerPids(parent, tier);
    return pids.length === 2 && !pids.includes(before[0] ?? 0);
  });
}

describe('worker alerts (meridian serve, 2 DNS and 2 proxy process workers)', () => {
  const dir = tempDir('meridian-worker-alerts-');
  let node: MeridianProcess;
  let dnsPort = 0;

  before(async () => {
    const config = writeTestConfig(dir, (doc) => {
      doc.dns.workers = 2;
      doc.dns.workerKind = 'process';
      doc.proxy = { region: 'eu', listen: ['127.0.0.1:0'], workers: 2 };
    });
    node = await startMeridian(config, { MERIDIAN_API_TOKEN: TOKEN });
    dnsPort = Number(/DNS udp on 127\.0\.0\.1:(\d+)/.exec(node.stdout())?.[1]);
    assert.ok(dnsPort > 0, node.stdout());
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replaces a killed worker of each tier, counts the restarts and raises one worker_died alert per tier', async () => {
    const parent = node.child.pid ?? 0;
    await killOneWorker(parent, 'dns');
    // Still answering (over UDP each query may reach either worker).
    for (let i = 0; i < 4; i++) {
      const r = await dig({ host: '127.0.0.1', port: dnsPort }, ['example.test', 'SOA']);
      assert.equal(r.status, 'NOERROR');
    }
    await killOneWorker(parent, 'proxy');

    const env = { MERIDIAN_API_URL: node.apiUrl, MERIDIAN_API_TOKEN: TOKEN };
    const alerts = await waitFor('a worker_died alert per tier', async () => {
      const r = await runCli(['alerts', '--type', 'worker_died', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      const page = JSON.parse(r.stdout) as { items: { subject: string; level: string; message: string }[] };
      return page.items.length >= 2 ? page.items : undefined;
    });
    assert.equal(alerts.length, 2);
    for (const [tier, name] of [
      ['dns', 'DNS'],
      ['proxy', 'proxy'],
    ] as const) {
      const alert = alerts.find((a) => a.subject.startsWith(`worker/${tier}/`));
      assert.match(alert?.subject ?? '', new RegExp(`^worker/${tier}/\\d+$`));
      assert.equal(alert?.level, 'warning');
      assert.match(
        alert?.message ?? '',
        new RegExp(`^${name} worker \\d+ on node \\S+ died \\(signal SIGKILL\\); a new one is starting$`),
      );
    }

    // The gauge counts workers that are running and answering: a replacement's process exists a
    // little before it has said it is ready, so wait for the count rather than read it once.
    const metrics = await waitFor('both tiers back at two workers in /metrics', async () => {
      const text = await (await fetch(`${node.apiUrl}/metrics`)).text();
      return /^meridian_cluster_workers\{tier="dns"\} 2$/m.test(text) &&
        /^meridian_cluster_workers\{tier="proxy"\} 2$/m.test(text)
        ? text
        : undefined;
    });
    for (const tier of ['dns', 'proxy']) {
      assert.match(
        metrics,
        new RegExp(`^meridian_cluster_worker_restarts_total\\{tier="${tier}"\\} 1$`, 'm'),
      );
      assert.match(metrics, new RegExp(`^meridian_cluster_workers\\{tier="${tier}"\\} 2$`, 'm'));
    }
  });
});
