// The node registry with real `meridian serve` processes on one real Redis: every node is listed by
// `meridian nodes`; a second node with a live node's id is refused at start (exit ≠ 0, clear
// message); a killed node is shown lost and raises a `node_lost` alert; a restart with the same id
// works (after the lapse, or at once after a clean shutdown); a Redis outage never stops serving
// and the heartbeat re-registers the node once Redis is back. Short heartbeats (0.2 s, expiry 1 s).
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { NodeListingView } from '../../src/cli/node-commands.js';
import { dig } from '../helpers/dig.js';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'nodes-e2e-token-0123';

describe('node registry (meridian serve × 3 on one Redis)', () => {
  const dir = tempDir('meridian-nodes-');
  let redis: RedisHandle;
  const running: MeridianProcess[] = [];

  const config = (nodeId: string): string =>
    writeTestConfig(
      dir,
      (doc) => {
        doc.nodeId = nodeId;
        doc.state = { backend: 'redis', redis: { url: redis.url, keyPrefix: 'nodes-e2e:' } };
        doc.nodes = { heartbeatSeconds: 0.2, expirySeconds: 1 };
      },
      `${nodeId}.yaml`,
    );
  const start = async (nodeId: string): Promise<MeridianProcess> => {
    const p = await startMeridian(config(nodeId), { MERIDIAN_API_TOKEN: TOKEN });
    running.push(p);
    return p;
  };
  const nodes = async (api: string): Promise<NodeListingView> => {
    const r = await runCli(['nodes', '--json'], { MERIDIAN_API_URL: api, MERIDIAN_API_TOKEN: TOKEN });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as NodeListingView;
  };
  const stateOf = (l: NodeListingView, id: string): string | undefined =>
    l.nodes.find((n) => n.id === id)?.state;

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const p of running) await p.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  let a: MeridianProcess;
  let b: MeridianProcess;

  it('lists every running node with its roles, version, addresses and state up', async () => {
    a = await start('dns-a');
    b = await start('dns-b');
    const listing = await waitFor('both nodes listed with their real addresses', async () => {
      const l = await nodes(a.apiUrl);
      return l.nodes.length === 2 && l.nodes.every((n) => n.addresses.some((x) => x.startsWith('api http')))
        ? l
        : undefined;
    });
    assert.deepEqual(
      listing.nodes.map((n) => [n.id, n.state]),
      [
        ['dns-a', 'up'],
        ['dns-b', 'up'],
      ],
    );
    const na = listing.nodes[0];
    assert.deepEqual(na?.roles, ['dns', 'api']);
    assert.ok(na?.addresses.includes(`api ${a.apiUrl}`), JSON.stringify(na?.addresses));
    assert.ok(na?.addresses.some((x) => /^dns udp 127\.0\.0\.1:\d+$/.test(x) && !x.endsWith(':0')));
    assert.match(na?.version ?? '', /^\d+\.\d+\.\d+/);
    assert.match(na?.configHash ?? '', /^[0-9a-f]{64}$/);
    const table = await runCli(['nodes'], { MERIDIAN_API_URL: b.apiUrl, MERIDIAN_API_TOKEN: TOKEN });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID +STATE +ROLES/);
    assert.match(table.stdout, /\ndns-a +up +dns,api /);
  });

  it('refuses a second node with the id of a live node, with a clear error and exit ≠ 0', async () => {
    await assert.rejects(start('dns-a'), (err: Error) => {
      assert.match(err.message, /exited \(code [1-9]\d*/);
      assert.match(err.message, /node id "dns-a" is already in use by a running node/);
      return true;
    });
    assert.equal(stateOf(await nodes(a.apiUrl), 'dns-a'), 'up');
  });

  it('shows a killed node lost, raises one node_lost alert, and lets it restart with the same id', async () => {
    b.child.kill('SIGKILL');
    await b.stop();
    await waitFor('dns-b lost', async () => stateOf(await nodes(a.apiUrl), 'dns-b') === 'lost');
    const alerts = await waitFor('a node_lost alert', async () => {
      const r = await runCli(['alerts', '--type', 'node_lost', '--json'], {
        MERIDIAN_API_URL: a.apiUrl,
        MERIDIAN_API_TOKEN: TOKEN,
      });
      assert.equal(r.code, 0, r.stderr);
      const page = JSON.parse(r.stdout) as { items: { subject: string; level: string; message: string }[] };
      return page.items.length > 0 ? page.items : undefined;
    });
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]?.subject, 'node/dns-b');
    assert.equal(alerts[0]?.level, 'critical');
    assert.match(alerts[0]?.message ?? '', /node dns-b \(dns\+api\) lost: no heartbeat for \d+ s/);
    b = await start('dns-b');
    await waitFor('dns-b up again', async () => stateOf(await nodes(a.apiUrl), 'dns-b') === 'up');
  });

  it('a clean shutdown deregisters at once: the same id restarts immediately', async () => {
    await b.stop();
    assert.equal(stateOf(await nodes(a.apiUrl), 'dns-b'), undefined);
    b = await start('dns-b');
    assert.equal(stateOf(await nodes(a.apiUrl), 'dns-b'), 'up');
  });

  it('keeps answering DNS through a Redis outage and re-registers when Redis is back', async () => {
    const port = Number(/DNS udp on 127\.0\.0\.1:(\d+)/.exec(a.stdout())?.[1]);
    const target = { host: '127.0.0.1', port };
    assert.equal((await dig(target, ['ns1.example.test', 'A'])).status, 'NOERROR');
    await redis.kill();
    const during = await dig(target, ['ns1.example.test', 'A']);
    assert.equal(during.status, 'NOERROR');
    await redis.start();
    // Redis came back empty: both nodes' heartbeats put their entries back.
    await waitFor('both nodes re-registered', async () => {
      const r = await runCli(['nodes', '--json'], { MERIDIAN_API_URL: a.apiUrl, MERIDIAN_API_TOKEN: TOKEN });
      if (r.code !== 0) return false;
      const l = JSON.parse(r.stdout) as NodeListingView;
      return stateOf(l, 'dns-a') === 'up' && stateOf(l, 'dns-b') === 'up';
    });
    assert.equal(a.child.exitCode, null);
  });
});
