// Small pieces shared by the fault tests (Redis outage, empty Redis, Sentinel failover): admin API
// calls that must succeed, health reports, a node's DNS port, and the pid of a redis-server (to hang
// it with SIGSTOP).
import assert from 'node:assert/strict';
import type { DnsTarget } from '../helpers/dns-load.js';
import type { MeridianProcess } from '../helpers/meridian-process.js';

/** Calls the admin API and fails the test on anything but 2xx; returns the parsed body. */
export async function api(
  node: MeridianProcess,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<unknown> {
  const res = await fetch(`${node.apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path} → ${res.status} ${text}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

/** Reports every region healthy (one backend of one) through `node`, valid for `ttlSeconds`. */
export async function reportHealthy(
  node: MeridianProcess,
  token: string,
  regions: readonly string[],
  ttlSeconds: number,
  reporterId = 'test-proxy',
): Promise<void> {
  for (const region of regions) {
    await api(node, 'POST', `/v1/regions/${region}/health`, token, {
      reporterId,
      healthyBackends: 1,
      totalBackends: 1,
      ttlSeconds,
    });
  }
}

/** The node's UDP DNS address, from its start-up lines. */
export function dnsTarget(node: MeridianProcess): DnsTarget {
  const m = /DNS udp on 127\.0\.0\.1:(\d+)/.exec(node.stdout());
  assert.ok(m?.[1] !== undefined, node.stdout());
  return { host: '127.0.0.1', port: Number(m[1]) };
}

/** The process id of a redis-server, from INFO (the test helper does not expose its child). */
export async function redisPid(redis: { command(...args: string[]): Promise<string> }): Promise<number> {
  const info = await redis.command('INFO', 'server');
  const m = /process_id:(\d+)/.exec(info);
  assert.ok(m?.[1] !== undefined, `no process_id in INFO: ${info.slice(0, 200)}`);
  return Number(m[1]);
}

export interface Healthz {
  readonly httpStatus: number;
  readonly status: string;
  readonly reasons: readonly string[];
}

export async function healthz(node: MeridianProcess): Promise<Healthz> {
  const res = await fetch(`${node.apiUrl}/healthz`);
  const body = (await res.json()) as { status: string; reasons?: string[] };
  return { httpStatus: res.status, status: body.status, reasons: body.reasons ?? [] };
}
