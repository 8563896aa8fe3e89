// The Grafana dashboard is importable as is and queries only documented metrics.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DOCUMENTED_METRICS, queryableSeriesNames } from '../../../src/infra/metrics/catalogue.js';

interface Target {
  expr?: unknown;
  refId?: unknown;
  datasource?: { type?: unknown; uid?: unknown };
}
interface Panel {
  id?: unknown;
  type?: unknown;
  title?: unknown;
  datasource?: { type?: unknown; uid?: unknown };
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: Target[];
}
interface Dashboard {
  __inputs?: { name?: unknown; type?: unknown; pluginId?: unknown }[];
  panels?: Panel[];
  templating?: { list?: { name?: unknown; query?: unknown; definition?: unknown }[] };
  uid?: unknown;
  title?: unknown;
  schemaVersion?: unknown;
}

const dashboard = JSON.parse(
  readFileSync(new URL('../../../config/grafana/meridian-dashboard.json', import.meta.url), 'utf8'),
) as Dashboard;
const panels = (dashboard.panels ?? []).filter((p) => p.type !== 'row');

/** Every `meridian_*` name in a PromQL expression (label names and values are not metric names). */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...withoutStrings.matchAll(/\bmeridian_[a-z0-9_]+/g)].map((m) => m[0]);
}

function allExpressions(): string[] {
  const exprs = panels
    .flatMap((p) => (p.targets ?? []).map((t) => t.expr))
    .filter((e): e is string => typeof e === 'string');
  for (const v of dashboard.templating?.list ?? []) {
    if (typeof v.definition === 'string') exprs.push(v.definition);
  }
  return exprs;
}

void describe('config/grafana/meridian-dashboard.json', () => {
  void it('is importable: a Prometheus datasource input, a uid, a title, a schema version', () => {
    const input = dashboard.__inputs?.find((i) => i.name === 'DS_PROMETHEUS');
    assert.ok(input, 'an __inputs entry named DS_PROMETHEUS');
    assert.equal(input.type, 'datasource');
    assert.equal(input.pluginId, 'prometheus');
    assert.equal(typeof dashboard.uid, 'string');
    assert.equal(typeof dashboard.title, 'string');
    assert.equal(typeof dashboard.schemaVersion, 'number');
  });

  void it('has panels with unique ids, a layout inside 24 columns, and queries on the input datasource', () => {
    assert.ok(panels.length >= 10);
    const ids = (dashboard.panels ?? []).map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'unique panel ids');
    for (const p of panels) {
      assert.equal(typeof p.title, 'string');
      assert.ok(
        p.gridPos !== undefined && p.gridPos.x + p.gridPos.w <= 24,
        `${String(p.title)}: fits the grid`,
      );
      assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `${String(p.title)}: panel datasource`);
      assert.ok((p.targets ?? []).length > 0, `${String(p.title)}: has targets`);
      for (const t of p.targets ?? []) {
        assert.equal(typeof t.expr, 'string', `${String(p.title)}: target has an expr`);
        assert.equal(t.datasource?.uid, '${DS_PROMETHEUS}');
        assert.ok(metricNames(t.expr as string).length > 0, `${String(p.title)}: queries a meridian metric`);
      }
      const refIds = (p.targets ?? []).map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${String(p.title)}: unique refIds`);
    }
  });

  void it('queries only documented metric names', () => {
    const known = queryableSeriesNames();
    const unknown = new Set<string>();
    for (const expr of allExpressions())
      for (const name of metricNames(expr)) if (!known.has(name)) unknown.add(name);
    assert.deepEqual([...unknown], [], 'metrics not in src/infra/metrics/catalogue.ts');
  });

  void it('filters and groups only by labels the metrics have', () => {
    // Labels Prometheus itself adds to every series, and the histogram bucket label.
    const always = new Set(['instance', 'job', 'le']);
    const labelsOf = new Map<string, Set<string>>();
    for (const m of DOCUMENTED_METRICS) {
      for (const series of [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`]) {
        labelsOf.set(series, new Set(m.labels));
      }
    }
    const problems: string[] = [];
    for (const expr of allExpressions()) {
      // Selectors: metric{label op "value", ...}
      for (const sel of expr.matchAll(/\b(meridian_[a-z0-9_]+)\{([^}]*)\}/g)) {
        const [, metric = '', body = ''] = sel;
        for (const matcher of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)) {
          const label = matcher[1] ?? '';
          if (!always.has(label) && labelsOf.get(metric)?.has(label) !== true)
            problems.push(`${metric}{${label}}`);
        }
      }
      // Aggregations: by (a, b) applies to every metric in the expression.
      const metrics = metricNames(expr);
      for (const by of expr.matchAll(/\bby \(([^)]*)\)/g)) {
        for (const label of (by[1] ?? '').split(',').map((l) => l.trim())) {
          if (label === '' || always.has(label)) continue;
          for (const metric of metrics) {
            if (labelsOf.get(metric)?.has(label) !== true) problems.push(`${metric} by (${label})`);
          }
        }
      }
    }
    assert.deepEqual([...new Set(problems)], [], 'labels the documented metrics do not have');
  });

  void it('covers DNS, proxy, state store and process metrics', () => {
    const used = new Set(allExpressions().flatMap(metricNames));
    for (const name of [
      'meridian_dns_answers_total',
      'meridian_dns_queries_total',
      'meridian_dns_query_duration_seconds_bucket',
      'meridian_proxy_requests_total',
      'meridian_proxy_request_duration_seconds_bucket',
      'meridian_proxy_backend_healthy',
      'meridian_proxy_ring_share_ratio',
      'meridian_state_redis_connected',
      'meridian_state_snapshot_age_seconds',
      'meridian_state_resyncs_total',
      'meridian_process_cpu_seconds_total',
      'meridian_nodejs_eventloop_lag_seconds',
    ]) {
      assert.ok(used.has(name), `the dashboard shows ${name}`);
    }
  });

  void it('documents each metric once, with a type and help text', () => {
    const names = DOCUMENTED_METRICS.map((m) => m.name);
    assert.equal(new Set(names).size, names.length);
    for (const m of DOCUMENTED_METRICS) {
      assert.match(m.name, /^meridian_[a-z0-9_]+$/);
      assert.ok(m.help.length > 0);
      if (m.type === 'counter') assert.match(m.name, /_total$/, `${m.name}: counters end in _total`);
    }
    assert.deepEqual(metricNames('sum(rate(meridian_x_total{code=~"meridian_not_a_metric"}[5m]))'), [
      'meridian_x_total',
    ]);
  });
});
