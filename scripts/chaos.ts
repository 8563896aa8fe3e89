// The chaos suite's driver (run through scripts/chaos.sh): real processes on loopback only, a light
// load during each fault, and one line of counts per scenario and side.
//
// Set-up: a redis-server with AOF (appendfsync everysec) that this script starts, stops and empties;
// two `meridian serve` nodes on it; node A also runs the proxy of region `eu` over three local
// backends and reports eu's health (every 1 s, valid 3 s). Load: 50 DNS queries/s with an ECS
// Frankfurt subnet over both nodes (the right answer is eu's address) and 20 idempotent GETs/s
// through the proxy (a right answer is a 200 from a backend).
//
// Scenarios, in order: Redis stopped (SIGTERM, restarted with its data), Redis hung (SIGSTOP), Redis
// restarted empty (data files removed; then `meridian state reseed --from-node`), a backend killed,
// and on a fresh Sentinel topology the primary SIGKILLed. Every wait is bounded; the whole run takes
// about 2 × FAULT_SECONDS + 90 s.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort, startBackend, type TestBackend } from '../test/helpers/backends.js';
import { startDnsLoad, type DnsTarget, type LoadCounts } from '../test/helpers/dns-load.js';
import {
  runCli,
  startMeridian,
  writeTestConfig,
  type ConfigDoc,
  type MeridianProcess,
} from '../test/helpers/meridian-process.js';
import { SENTINEL_MASTER, startSentinelTopology } from '../test/helpers/sentinel.js';
import { waitFor } from '../test/helpers/wait.js';

const FAULT_SECONDS = Number(process.env.CHAOS_FAULT_SECONDS ?? 30);
const TOKEN = 'chaos-token-abcdefgh';
const EU = '192.0.2.10';
const US = '198.51.100.10';
const FRANKFURT = '192.0.2.0/24';

interface Counts {
  sent: number;
  answered: number;
  wrong: number;
  failed: number;
}

const rows: string[] = [];
function report(scenario: string, side: string, c: Counts, extra = ''): void {
  const line =
    `${scenario.padEnd(28)} ${side.padEnd(6)} sent ${String(c.sent).padStart(5)}  answered ${String(c.answered).padStart(5)}` +
    `  wrong ${String(c.wrong).padStart(3)}  failed ${String(c.failed).padStart(3)}${extra === '' ? '' : `  ${extra}`}`;
  rows.push(line);
  process.stdout.write(`${line}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** 20 GET/s through the proxy; a 200 is right, another status wrong, no answer within 5 s failed. */
function startHttpLoad(url: string, perSecond = 20): { stop(): Promise<Counts> } {
  const counts: Counts = { sent: 0, answered: 0, wrong: 0, failed: 0 };
  const pending = new Set<Promise<void>>();
  let n = 0;
  const timer = setInterval(() => {
    counts.sent++;
    const p = fetch(`${url}/chaos/${n++}`, { signal: AbortSignal.timeout(5000) })
      .then(async (res) => {
        await res.arrayBuffer();
        if (res.status === 200) counts.answered++;
        else counts.wrong++;
      })
      .catch(() => {
        counts.failed++;
      });
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }, 1000 / perSecond);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...pending]);
      return counts;
    },
  };
}

/** A redis-server with AOF in `dir` on `port`; stop() is SIGTERM (it flushes the AOF and exits). */
function launchRedis(port: number, dir: string): ChildProcess {
  return spawn(
    'redis-server',
    [
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''],
      ...['--appendonly', 'yes', '--appendfsync', 'everysec'],
    ],
    { stdio: 'ignore' },
  );
}

async function exited(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await Promise.race([done, sleep(10_000).then(() => child.kill('SIGKILL'))]);
  await done;
}

async function api(node: MeridianProcess, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${node.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

function portOf(node: MeridianProcess, what: RegExp): number {
  const m = what.exec(node.stdout());
  if (m?.[1] === undefined) throw new Error(`no ${String(what)} in ${node.stdout()}`);
  return Number(m[1]);
}

interface Fleet {
  a: MeridianProcess;
  b: MeridianProcess;
  dns: DnsTarget[];
  proxyUrl: string;
  stop(): Promise<void>;
}

/** Two nodes on `state`; A runs eu's proxy over `backends`. Regions and backends registered once. */
async function startFleet(
  dir: string,
  state: ConfigDoc,
  backends: TestBackend[],
  register: boolean,
): Promise<Fleet> {
  const base = (doc: ConfigDoc): void => {
    doc.state = { ...doc.state, backend: 'redis', redis: state };
    doc.dns.steering.healthGraceSeconds = 0;
    doc.log = { level: 'error' };
  };
  const configA = writeTestConfig(
    dir,
    (doc) => {
      base(doc);
      doc.proxy = { region: 'eu', listen: ['127.0.0.1:0'] };
    },
    'a.yaml',
  );
  const configB = writeTestConfig(dir, base, 'b.yaml');
  const env = { MERIDIAN_API_TOKEN: TOKEN };
  const [a, b] = await Promise.all([startMeridian(configA, env), startMeridian(configB, env)]);
  if (register) {
    await api(a, 'POST', '/v1/regions', { id: 'eu', lat: 50.11, lon: 8.68, ipv4: [EU] });
    await api(a, 'POST', '/v1/regions', { id: 'us', lat: 39.04, lon: -77.49, ipv4: [US] });
    for (const [i, backend] of backends.entries()) {
      await api(a, 'POST', '/v1/regions/eu/backends', { id: `b${i + 1}`, url: backend.url });
    }
  }
  await waitFor(
    'eu reported healthy',
    async () => {
      const r = (await (
        await fetch(`${a.apiUrl}/v1/regions/eu`, { headers: { authorization: `Bearer ${TOKEN}` } })
      ).json()) as { health?: { status?: string } };
      return r.health?.status === 'healthy';
    },
    { timeoutMs: 20_000 },
  );
  return {
    a,
    b,
    dns: [a, b].map((n) => ({ host: '127.0.0.1', port: portOf(n, /DNS udp on 127\.0\.0\.1:(\d+)/) })),
    proxyUrl: `http://127.0.0.1:${portOf(a, /proxy http on 127\.0\.0\.1:(\d+)/)}`,
    stop: async () => {
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}

/** Runs `fault` under DNS and HTTP load, then keeps the load `afterMs` longer; prints both lines. */
async function scenario(
  name: string,
  fleet: Fleet,
  fault: () => Promise<string | void>,
  afterMs = 5000,
): Promise<void> {
  const dns = await startDnsLoad({
    targets: fleet.dns,
    name: 'www.example.test',
    ecs: FRANKFURT,
    qps: 50,
    expect: [EU],
    slowMs: 500,
  });
  const http = startHttpLoad(fleet.proxyUrl);
  await sleep(2000);
  const note = (await fault()) ?? '';
  await sleep(afterMs);
  const d: LoadCounts = await dns.stop();
  const h = await http.stop();
  report(
    name,
    'dns',
    d,
    `max ${Math.round(d.maxMs)} ms, >500 ms: ${d.slow}${d.samples.length > 0 ? `; e.g. ${d.samples[0]}` : ''}`,
  );
  report(name, 'proxy', h, note);
}

async function main(): Promise<void> {
  const started = Date.now();
  const root = mkdtempSync(join(tmpdir(), 'meridian-chaos-'));
  const redisDir = join(root, 'redis');
  mkdirSync(redisDir);
  const port = await closedPort();
  let redis = launchRedis(port, redisDir);
  const backends = await Promise.all([startBackend('b1'), startBackend('b2'), startBackend('b3')]);
  let fleet: Fleet | undefined;
  const cleanup = async (): Promise<void> => {
    await fleet?.stop();
    await exited(redis, 'SIGKILL');
    await Promise.all(backends.map((b) => b.close()));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await sleep(300);
    fleet = await startFleet(
      root,
      { url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 1000 },
      backends,
      true,
    );
    const f = fleet;

    await scenario(`Redis stopped ${FAULT_SECONDS} s`, f, async () => {
      await exited(redis, 'SIGTERM');
      await sleep(FAULT_SECONDS * 1000);
      redis = launchRedis(port, redisDir);
    });

    await scenario(`Redis hung ${FAULT_SECONDS} s`, f, async () => {
      redis.kill('SIGSTOP');
      await sleep(FAULT_SECONDS * 1000);
      redis.kill('SIGCONT');
    });

    await scenario('Redis restarted empty', f, async () => {
      await exited(redis, 'SIGKILL');
      rmSync(redisDir, { recursive: true, force: true });
      mkdirSync(redisDir);
      redis = launchRedis(port, redisDir);
      await waitFor(
        'both nodes noticing the loss',
        async () => {
          for (const n of [f.a, f.b]) {
            const h = (await (await fetch(`${n.apiUrl}/healthz`)).json()) as {
              store?: { dataLost?: unknown };
            };
            if (h.store?.dataLost === undefined) return false;
          }
          return true;
        },
        { timeoutMs: 15_000 },
      );
      await sleep(5000);
      const r = await runCli(['state', 'reseed', '--from-node', f.a.apiUrl], { MERIDIAN_API_TOKEN: TOKEN });
      if (r.code !== 0) throw new Error(`reseed failed: ${r.stderr}`);
      const write = await api(f.b, 'PATCH', '/v1/regions/us', { weight: 90 });
      return `reseed: ${r.stdout.trim()}; a write after it: HTTP ${write.status}`;
    });

    await scenario('backend killed', f, () => {
      backends[0]?.kill();
      return Promise.resolve('b1 of eu killed');
    });
    await f.stop();
    fleet = undefined;

    const topology = await startSentinelTopology();
    try {
      fleet = await startFleet(
        root,
        {
          url: 'redis://127.0.0.1:6379',
          sentinels: topology.sentinels,
          sentinelName: SENTINEL_MASTER,
          commandTimeoutMs: 1000,
        },
        backends,
        true,
      );
      const g = fleet;
      await scenario(
        'Sentinel primary killed',
        g,
        async () => {
          const old = await topology.primaryPort();
          topology.killDataNode(old);
          const killed = Date.now();
          await waitFor('a new primary', async () => (await topology.primaryPort()) !== old, {
            timeoutMs: 30_000,
          });
          await waitFor(
            'writes again',
            async () => (await api(g.a, 'PATCH', '/v1/regions/us', { weight: 80 })).ok,
            { timeoutMs: 30_000 },
          );
          return `writes resumed ${Date.now() - killed} ms after the kill`;
        },
        8000,
      );
    } finally {
      await fleet?.stop();
      fleet = undefined;
      await topology.stop();
    }
  } finally {
    await cleanup();
  }
  process.stdout.write(`chaos: done in ${Math.round((Date.now() - started) / 1000)} s\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
