// A whole node (DNS + proxy + API) exposes /metrics as valid Prometheus text, with every metric the
// documentation lists (src/ops/metric-names.ts, which the Grafana dashboard is checked against) and
// with the labels it lists.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DOCUMENTED_METRICS } from '../../src/infra/metrics/catalogue.js';
import { dig } from '../helpers/dig.js';
import { promtoolProblems } from '../helpers/promtool.js';
import { startBackend, type TestBackend } from '../helpers/backends.js';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'metrics-test-token';

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Parses the Prometheus text exposition format strictly enough to catch malformed output. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?\d+)?$/;
  const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      assert.ok(name !== undefined && type !== undefined, `bad TYPE line: ${line}`);
      assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type), line);
      types.set(name, type);
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment: ${line}`);
    const m = sampleLine.exec(line);
    assert.ok(m !== null, `not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[3] ?? '').matchAll(labelPair)) labels[pair[1] ?? ''] = pair[2] ?? '';
    samples.push({ name: m[1] ?? '', labels, value: Number(m[4]) });
  }
  return { samples, types };
}

function portOf(stdout: string, pattern: RegExp): number {
  const m = pattern.exec(stdout);
  assert.ok(m?.[1] !== undefined, `no match for ${String(pattern)} in:\n${stdout}`);
  return Number(m[1]);
}

void describe('metrics of a whole node', () => {
  let node: MeridianProcess;
  let backend: TestBackend;
  let text = '';

  before(async () => {
    backend = await startBackend('b1');
    const dir = tempDir();
    const config = writeTestConfig(dir, (doc) => {
      doc.proxy = { region: 'eu', listen: ['127.0.0.1:0'], health: { intervalMs: 200 } };
    });
    node = await startMeridian(config, { MERIDIAN_API_TOKEN: TOKEN });
    const env = { MERIDIAN_API_URL: node.apiUrl, MERIDIAN_API_TOKEN: TOKEN };
    const added = await runCli(
      ['region', 'add', 'eu', '--lat', '50.1', '--lon', '8.7', '--ipv4', '192.0.2.10'],
      env,
    );
    assert.equal(added.code, 0, added.stderr);
    const backendAdded = await runCli(['backend', 'add', 'eu', backend.url, '--id', 'b1'], env);
    assert.equal(backendAdded.code, 0, backendAdded.stderr);

    // Traffic through both tiers so that labelled series exist.
    const dnsPort = portOf(node.stdout(), /DNS udp on 127\.0\.0\.1:(\d+)/);
    const answer = await dig({ host: '127.0.0.1', port: dnsPort }, [
      'www.example.test',
      'A',
      '+subnet=192.0.2.0/24',
    ]);
    assert.equal(answer.status, 'NOERROR');
    const proxyPort = portOf(node.stdout(), /proxy http on 127\.0\.0\.1:(\d+)/);
    await waitFor(
      'the proxy to forward to the registered backend',
      async () => (await fetch(`http://127.0.0.1:${proxyPort}/hello`)).status === 200,
      { timeoutMs: 10_000, intervalMs: 100 },
    );

    const res = await fetch(`${node.apiUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    text = await res.text();
  });

  after(async () => {
    await node?.stop();
    await backend?.close();
  });

  void it('is valid Prometheus text with unique TYPE lines', () => {
    const { samples, types } = parseExposition(text);
    assert.ok(samples.length > 50, `only ${samples.length} samples`);
    const typeLines = text.split('\n').filter((l) => l.startsWith('# TYPE '));
    assert.equal(new Set(typeLines).size, typeLines.length, 'a metric family is declared twice');
    assert.ok(types.size > 20);
  });

  void it('passes promtool check metrics (no _total gauges, valid names and units)', async () => {
    assert.equal(await promtoolProblems(text), '');
  });

  void it('names every metric meridian_<component>_<name>_<unit>, counters ending in _total', () => {
    const { types } = parseExposition(text);
    for (const [name, type] of types) {
      assert.match(name, /^meridian_[a-z0-9]+_[a-z0-9_]+$/, name);
      if (type === 'counter') assert.match(name, /_total$/, `counter ${name}`);
      else assert.doesNotMatch(name, /_total$/, `${type} ${name}: _total is for counters`);
    }
  });

  void it('contains every documented metric with the documented labels', () => {
    const { samples, types } = parseExposition(text);
    for (const doc of DOCUMENTED_METRICS) {
      assert.equal(types.get(doc.name), doc.type, `${doc.name}: declared type`);
      const series = samples.filter(
        (s) => s.name === (doc.type === 'histogram' ? `${doc.name}_bucket` : doc.name),
      );
      if (series.length === 0) continue; // declared but no traffic of that kind yet (e.g. ejections)
      for (const label of doc.labels) {
        assert.ok(
          series.some((s) => label in s.labels),
          `${doc.name}: documented label "${label}" not found in ${JSON.stringify(series[0]?.labels)}`,
        );
      }
    }
  });

  void it('shows the traffic just sent and the state store status', () => {
    const { samples } = parseExposition(text);
    const find = (name: string, labels: Record<string, string> = {}): Sample | undefined =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    assert.ok((find('meridian_dns_queries_total', { qtype: 'A', rcode: 'NOERROR' })?.value ?? 0) >= 1);
    assert.ok((find('meridian_dns_answers_total', { region: 'eu' })?.value ?? 0) >= 1);
    assert.ok((find('meridian_proxy_requests_total', { backend: 'b1' })?.value ?? 0) >= 1);
    assert.equal(find('meridian_state_redis_connected', { backend: 'memory' })?.value, 1);
    assert.ok(find('meridian_state_snapshot_age_seconds') !== undefined);
    assert.ok(find('meridian_nodejs_eventloop_lag_seconds') !== undefined);
  });
});
