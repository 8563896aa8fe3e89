// A whole node (DNS + proxy + API, memory and Redis backends, history flushed every second) answers real dig
// queries and proxied requests; they show up in GET /v1/history/traffic and `meridian history
// traffic`, a backend going down shows up in /v1/history/health, and the operations report carries
// the same numbers in HTML (parsed back) and PDF (rendered by Debian's chromium). Bad ranges are a
// 400 with a JSON error naming the parameter, and exit 2 from the CLI.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HealthView } from '../../src/ops/history/service.js';
import type { TrafficView } from '../../src/ops/history/view.js';
import { startBackend, type TestBackend } from '../helpers/backends.js';
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

const TOKEN = 'history-test-token';
const QUERIES = 12;
const REQUESTS = 20;

function portOf(stdout: string, pattern: RegExp): number {
  const m = pattern.exec(stdout);
  assert.ok(m?.[1] !== undefined, `no match for ${String(pattern)} in:\n${stdout}`);
  return Number(m[1]);
}

function hasPdfToText(): boolean {
  try {
    execFileSync('pdftotext', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

for (const backendKind of ['memory', 'redis'] as const) {
  void describe(`traffic and health history of a whole node (${backendKind} store), and the report`, () => {
    const dir = tempDir('meridian-history-e2e-');
    let redis: RedisHandle | undefined;
    let node: MeridianProcess;
    let backend: TestBackend;
    let env: NodeJS.ProcessEnv;
    const started = Date.now();

    const api = async <T>(path: string): Promise<{ status: number; body: T }> => {
      const res = await fetch(`${node.apiUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return { status: res.status, body: (await res.json()) as T };
    };

    before(async () => {
      backend = await startBackend('b1');
      const config = writeTestConfig(dir, (doc) => {
        doc.proxy = { region: 'eu', listen: ['127.0.0.1:0'], health: { intervalMs: 200 } };
        doc.ops = { history: { flushSeconds: 1 } };
      });
      if (backendKind === 'redis') redis = await startRedis();
      node = await startMeridian(config, {
        MERIDIAN_API_TOKEN: TOKEN,
        ...(redis === undefined ? {} : { MERIDIAN_REDIS_URL: redis.url }),
      });
      env = { MERIDIAN_API_URL: node.apiUrl, MERIDIAN_API_TOKEN: TOKEN };
      const region = await runCli(
        ['region', 'add', 'eu', '--lat', '50.1', '--lon', '8.7', '--ipv4', '192.0.2.10', '--capacity', '100'],
        env,
      );
      assert.equal(region.code, 0, region.stderr);
      const added = await runCli(['backend', 'add', 'eu', backend.url, '--id', 'b1'], env);
      assert.equal(added.code, 0, added.stderr);

      const dnsPort = portOf(node.stdout(), /DNS udp on 127\.0\.0\.1:(\d+)/);
      for (let i = 0; i < QUERIES; i++) {
        const answer = await dig({ host: '127.0.0.1', port: dnsPort }, [
          `www.example.test`,
          'A',
          '+subnet=192.0.2.0/24',
        ]);
        assert.equal(answer.status, 'NOERROR');
      }
      const proxyPort = portOf(node.stdout(), /proxy http on 127\.0\.0\.1:(\d+)/);
      await waitFor(
        'the proxy to forward to the registered backend',
        async () => (await fetch(`http://127.0.0.1:${proxyPort}/hello`)).status === 200,
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      for (let i = 1; i < REQUESTS; i++)
        assert.equal((await fetch(`http://127.0.0.1:${proxyPort}/r${i}`)).status, 200);
    });

    after(async () => {
      await node?.stop();
      await backend?.close();
      await redis?.stop();
    });

    void it('shows the DNS answers and proxied requests in /v1/history/traffic after a flush', async () => {
      const view = await waitFor(
        'the flushed rollups to hold every query and request',
        async () => {
          const { status, body } = await api<TrafficView>(
            `/v1/history/traffic?from=${started - 60_000}&to=${Date.now()}`,
          );
          assert.equal(status, 200);
          const eu = body.series.find((s) => s.region === 'eu');
          return eu !== undefined && eu.totals.dnsAnswers >= QUERIES && eu.totals.proxyRequests >= REQUESTS
            ? body
            : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 250 },
      );
      const eu = view.series.find((s) => s.region === 'eu');
      assert.ok(eu !== undefined);
      assert.equal(eu.totals.dnsAnswers, QUERIES);
      // Requests counted include the health-wait ones; every one answered 200 by b1.
      assert.ok(eu.totals.proxyRequests >= REQUESTS, `${eu.totals.proxyRequests} requests`);
      assert.equal(eu.totals.proxyErrors, 0);
      assert.equal(view.stepSeconds, 60);
      assert.equal(
        eu.points.reduce((n, p) => n + p.dnsAnswers, 0),
        QUERIES,
      );
      assert.ok(eu.points.some((p) => p.p95Ms !== null && p.p95Ms > 0));
      assert.deepEqual(
        eu.backends.map((b) => b.backend),
        ['b1'],
      );
      assert.equal(
        view.byCountry.reduce((n, c) => n + c.dnsAnswers, 0),
        QUERIES,
      );
      assert.ok(
        view.byCountry.every(
          (c) => c.region === 'eu' && /^[A-Z]{2}$/.test(c.country) && /^[A-Z]{2}$/.test(c.continent),
        ),
      );

      const cli = await runCli(['history', 'traffic', '--from', '-10m', '--region', 'eu', '--json'], env);
      assert.equal(cli.code, 0, cli.stderr);
      const fromCli = JSON.parse(cli.stdout) as TrafficView;
      assert.equal(fromCli.series[0]?.totals.dnsAnswers, QUERIES);
      const table = await runCli(['history', 'traffic', '--from', '-10m'], env);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, new RegExp(`^eu\\s+${QUERIES}\\s+`, 'm'));
    });

    void it('records a backend going down, with its reason, in /v1/history/health', async () => {
      await backend.close();
      const events = await waitFor(
        'the backend-down event',
        async () => {
          const { body } = await api<HealthView>(`/v1/history/health?from=${started}&region=eu`);
          return body.events.some((e) => e.backend === 'b1' && !e.healthy) ? body.events : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 250 },
      );
      const down = events.find((e) => e.backend === 'b1' && !e.healthy);
      assert.equal(down?.source, 'proxy');
      assert.ok((down?.reason ?? '').length > 0);
      const cli = await runCli(['history', 'health', '--from', '-10m'], env);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /eu\s+b1\s+down\s+proxy/);
    });

    void it('writes the report as HTML with the regions and numbers, and as PDF', async () => {
      const html = join(dir, 'report.html');
      const r = await runCli(['report', '--from', '-10m', '--out', html], env);
      assert.equal(r.code, 0, r.stderr);
      const text = readFileSync(html, 'utf8');
      assert.match(text, /^<!doctype html>/);
      assert.doesNotMatch(
        text,
        /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/,
        'self-contained: no script, no URL',
      );
      const row =
        /<tr data-region="eu">(.*?)<\/tr>/.exec(text.slice(text.indexOf('id="regions"')))?.[1] ?? '';
      const values = [...row.matchAll(/data-value="(\d+)"/g)].map((m) => Number(m[1]));
      assert.equal(values[0], QUERIES, `DNS answers in ${row}`);
      assert.ok((values[1] ?? 0) >= REQUESTS, `requests in ${row}`);
      assert.match(text, new RegExp(`id="kpi-dns" data-value="${QUERIES}"`));
      assert.match(text, /<svg[^>]*aria-label="DNS answers"/);
      assert.match(text.slice(text.indexOf('id="incidents"')), /<td>eu<\/td><td>b1<\/td>/);
      assert.match(text.slice(text.indexOf('id="changes"')), /backend\.create/);
      assert.match(text.slice(text.indexOf('id="headroom"')), /<td>100<\/td>/);

      const pdf = join(dir, 'report.pdf');
      const p = await runCli(['report', '--from', '-10m', '--out', pdf], env);
      assert.equal(p.code, 0, p.stderr);
      const bytes = readFileSync(pdf);
      assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-');
      if (hasPdfToText()) {
        const pdfText = execFileSync('pdftotext', [pdf, '-'], { encoding: 'utf8' });
        assert.match(pdfText, /Meridian operations report/);
        assert.match(pdfText, /Availability per region/);
      }
      assert.ok(existsSync(pdf));
    });

    void it('refuses bad ranges: 400 JSON naming the parameter, CLI exit 2', async () => {
      for (const [query, field] of [
        ['from=2026-01-02&to=2026-01-01', 'from'],
        ['from=yesterday', 'from'],
        ['step=30', 'step'],
        ['region=EU%20WEST', 'region'],
        ['bogus=1', 'bogus'],
      ] as const) {
        const { status, body } = await api<{ error: { code: string; message: string; field?: string } }>(
          `/v1/history/traffic?${query}`,
        );
        assert.equal(status, 400, query);
        assert.equal(body.error.code, 'E_VALIDATION');
        assert.equal(body.error.field, field, query);
      }
      const report = await api<{ error: { field?: string } }>('/v1/report?format=docx');
      assert.equal(report.status, 400);
      assert.equal(report.body.error.field, 'format');
      const cli = await runCli(['history', 'traffic', '--from', 'tomorrowish'], env);
      assert.equal(cli.code, 2);
      assert.match(cli.stderr, /--from/);
      const reversed = await runCli(
        ['report', '--from', '-1h', '--to', '-2h', '--out', join(dir, 'x.html')],
        env,
      );
      assert.equal(reversed.code, 2);
      assert.match(reversed.stderr, /--from: the range is empty/);
      const badOut = await runCli(['report', '--out', join(dir, 'x.docx')], env);
      assert.equal(badOut.code, 2);
      assert.match(badOut.stderr, /--out/);
    });
  });
}
