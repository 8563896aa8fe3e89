// A real `meridian serve` for the console's browser tests: DNS on a free loopback port, a proxy for
// region eu-west in front of one real test backend, two regions (eu-west in Frankfurt, us-east in
// Virginia) and three users (admin, operator, viewer) created through the API with the bootstrap
// token. Screenshots go to test-artifacts/console/ (gitignored) for a person to look at.
import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startBackend, type TestBackend } from '../../helpers/backends.js';
import {
  REPO_ROOT,
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../../helpers/meridian-process.js';

export const BOOT = 'console-bootstrap-token-0123';
export const PASSWORD = 'correct horse battery staple';
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'console');
export const EU_ADDRESS = '192.0.2.10';
export const US_ADDRESS = '198.51.100.10';

export interface ConsoleNode {
  readonly meridian: MeridianProcess;
  readonly apiUrl: string;
  readonly dnsPort: number;
  readonly proxyUrl: string;
  readonly backend: TestBackend;
  /** A /24 of an address the bundled geo data places in Germany (nearest region: eu-west). */
  readonly germanSubnet: string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }>;
  close(): Promise<void>;
}

function portOf(stdout: string, pattern: RegExp, what: string): number {
  const m = pattern.exec(stdout);
  assert.ok(m?.[1] !== undefined, `no ${what} line in:\n${stdout}`);
  return Number(m[1]);
}

export async function startConsoleNode(): Promise<ConsoleNode> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const dir = tempDir('meridian-console-');
  const backend = await startBackend('web-1');
  const config = writeTestConfig(dir, (doc) => {
    doc.api.token = BOOT;
    doc.api.authFailures = { burst: 1000, perSeconds: 60 };
    doc.proxy = {
      region: 'eu-west',
      listen: ['127.0.0.1:0'],
      health: { intervalMs: 200, timeoutMs: 500 },
    };
  });
  const meridian = await startMeridian(config);
  const apiUrl = meridian.apiUrl;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${BOOT}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
  const created = async (method: string, path: string, body: unknown): Promise<void> => {
    const r = await api(method, path, body);
    assert.ok(
      r.status === 201 || r.status === 200,
      `${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`,
    );
  };
  try {
    const out = meridian.stdout();
    const dnsPort = portOf(out, /meridian: DNS udp on 127\.0\.0\.1:(\d+)/, 'DNS');
    const proxyPort = portOf(out, /meridian: proxy http on 127\.0\.0\.1:(\d+)/, 'proxy');
    await created('POST', '/v1/regions', {
      id: 'eu-west',
      name: 'Frankfurt',
      lat: 50.1,
      lon: 8.7,
      ipv4: [EU_ADDRESS],
    });
    await created('POST', '/v1/regions', {
      id: 'us-east',
      name: 'Virginia',
      lat: 38.9,
      lon: -77.0,
      ipv4: [US_ADDRESS],
    });
    await created('POST', '/v1/regions/eu-west/backends', { id: backend.id, url: backend.url, weight: 100 });
    for (const [name, role] of [
      ['ada', 'admin'],
      ['otto', 'operator'],
      ['vera', 'viewer'],
    ] as const) {
      await created('POST', '/v1/users', { name, password: PASSWORD, roles: [role] });
    }
    const samples = JSON.parse(
      readFileSync(join(REPO_ROOT, 'geo-data', 'console-countries.json'), 'utf8'),
    ) as {
      country: string;
      sample: string;
    }[];
    const german = samples.find((s) => s.country === 'DE');
    assert.ok(german !== undefined, 'geo-data/console-countries.json has no DE sample');
    return {
      meridian,
      apiUrl,
      dnsPort,
      proxyUrl: `http://127.0.0.1:${proxyPort}`,
      backend,
      germanSubnet: `${german.sample.split('.').slice(0, 3).join('.')}.0/24`,
      api,
      close: async () => {
        await meridian.stop();
        await backend.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await meridian.stop();
    await backend.close();
    throw err;
  }
}
