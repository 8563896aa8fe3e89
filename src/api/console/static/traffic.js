// Traffic: per-region DNS answers per second, proxy requests per second, proxy error rate and p95
// latency over a chosen range, drawn with uPlot (served from node_modules/uplot as static files),
// from GET /v1/history/traffic; health changes from GET /v1/history/health. The Report button
// opens the operations report for the same range (GET /v1/report).
import { api, el, fmtTime, fromLocalInput, pill } from './lib.js';

const RANGES = [
  ['1h', 3600e3],
  ['6h', 6 * 3600e3],
  ['24h', 24 * 3600e3],
  ['7d', 7 * 86400e3],
  ['30d', 30 * 86400e3],
];
const COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#af7aa1', '#9c755f', '#edc948'];

/** The step that keeps a range under about 600 points. */
function stepFor(ms) {
  for (const s of [60, 300, 900, 3600, 21600]) if (ms / (s * 1000) <= 600) return s;
  return 86400;
}

/** Columns for uPlot: one time axis shared by every region, `null` where a region has no point. */
export function toColumns(series, metric) {
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p.t)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const columns = series.map((s) => {
    const col = new Array(times.length).fill(null);
    for (const p of s.points) col[index.get(p.t)] = metric(p);
    return col;
  });
  return [times.map((t) => t / 1000), ...columns];
}

export function render(main) {
  const form = el(
    'form.card.row',
    { 'aria-label': 'Time range' },
    el(
      'label',
      {},
      'Range',
      el(
        'select',
        { name: 'range' },
        ...RANGES.map(([l]) => el('option', { value: l, text: `last ${l}` })),
        el('option', { value: 'custom', text: 'custom' }),
      ),
    ),
    el('label', {}, 'From', el('input', { name: 'from', type: 'datetime-local' })),
    el('label', {}, 'To', el('input', { name: 'to', type: 'datetime-local' })),
    el(
      'label',
      {},
      'Region',
      el('select', { name: 'region' }, el('option', { value: '', text: 'all regions' })),
    ),
    el('button.primary', { type: 'submit', text: 'Show' }),
    el('button', { type: 'button', id: 'report-html', text: 'Report (HTML)' }),
    el('button', { type: 'button', id: 'report-pdf', text: 'Report (PDF)' }),
  );
  const message = el('p.muted', { id: 'traffic-message', role: 'status' });
  const charts = el('div.charts', { id: 'traffic-charts' });
  const events = el('tbody');
  main.append(
    el('h1', { text: 'Traffic' }),
    form,
    message,
    charts,
    el('h2', { text: 'Health changes' }),
    el(
      'table',
      { id: 'health-events' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['Time', 'Region', 'Backend', 'Health', 'Reason', 'Source'].map((h) =>
            el('th', { scope: 'col', text: h }),
          ),
        ),
      ),
      events,
    ),
  );
  void api('GET', '/v1/regions').then((r) => {
    for (const region of r.regions)
      form.elements.region.append(el('option', { value: region.id, text: region.id }));
  });

  const range = () => {
    const d = new FormData(form);
    const now = Date.now();
    if (d.get('range') === 'custom') {
      const from = fromLocalInput(d.get('from'));
      const to = fromLocalInput(d.get('to')) ?? new Date(now).toISOString();
      return { from: from ?? new Date(now - 3600e3).toISOString(), to };
    }
    const ms = RANGES.find(([l]) => l === d.get('range'))?.[1] ?? 3600e3;
    return { from: new Date(now - ms).toISOString(), to: new Date(now).toISOString() };
  };
  const openReport = (format) => {
    const { from, to } = range();
    window.open(`/v1/report?${new URLSearchParams({ from, to, format })}`, '_blank', 'noopener');
  };
  form.querySelector('#report-html').addEventListener('click', () => openReport('html'));
  form.querySelector('#report-pdf').addEventListener('click', () => openReport('pdf'));

  const plots = [];
  const load = async () => {
    const { from, to } = range();
    const region = new FormData(form).get('region');
    const step = stepFor(Date.parse(to) - Date.parse(from));
    const q = new URLSearchParams({ from, to, step: String(step), ...(region ? { region } : {}) });
    let traffic;
    try {
      traffic = await api('GET', `/v1/history/traffic?${q}`);
    } catch (err) {
      charts.replaceChildren();
      message.textContent =
        err.status === 404 && err.code === 'E_NOT_FOUND' && /route/.test(err.message)
          ? 'This node has no traffic history (GET /v1/history/traffic is not served).'
          : `Traffic history: ${err.message}`;
      return;
    }
    const secs = traffic.stepSeconds;
    const series = traffic.series;
    message.textContent = `${fmtTime(traffic.from)} to ${fmtTime(traffic.to)}, ${secs} s steps, ${series.length} regions.`;
    for (const p of plots.splice(0)) p.destroy();
    charts.replaceChildren();
    const defs = [
      ['DNS answers per second', (p) => p.dnsAnswers / secs],
      ['Proxy requests per second', (p) => p.proxyRequests / secs],
      ['Proxy error rate (%)', (p) => (p.proxyRequests > 0 ? (100 * p.proxyErrors) / p.proxyRequests : null)],
      ['p95 latency (ms)', (p) => p.p95Ms ?? null],
    ];
    for (const [title, metric] of defs) {
      const box = el('div.card', {}, el('h2', { text: title }));
      charts.append(box);
      if (series.length === 0) {
        box.append(el('p.muted', { text: 'No data in this range.' }));
        continue;
      }
      const width = Math.max(320, box.clientWidth - 32);
      const opts = {
        width,
        height: 220,
        series: [
          {},
          ...series.map((s, i) => ({
            label: s.region,
            stroke: COLOURS[i % COLOURS.length],
            width: 2,
            spanGaps: false,
          })),
        ],
        axes: [{}, { size: 60 }],
      };
      plots.push(new window.uPlot(opts, toColumns(series, metric), box));
    }
    try {
      const h = await api(
        'GET',
        `/v1/history/health?${new URLSearchParams({ from, to, ...(region ? { region } : {}) })}`,
      );
      events.replaceChildren(
        ...h.events.map((e) =>
          el(
            'tr',
            {},
            el('td', { text: fmtTime(e.t) }),
            el('td', { text: e.region }),
            el('td', { text: e.backend ?? '' }),
            el('td', {}, pill(e.healthy ? 'healthy' : 'unhealthy')),
            el('td', { text: e.reason ?? '' }),
            el('td', { text: e.source ?? '' }),
          ),
        ),
      );
    } catch (err) {
      events.replaceChildren(el('tr', {}, el('td.muted', { colspan: 6, text: err.message })));
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void load();
  });
  void load();
  return () => {
    for (const p of plots.splice(0)) p.destroy();
  };
}
