// The operations report as one self-contained HTML page: inline CSS and server-drawn SVG charts
// (svg.ts), no script, nothing fetched, so it opens offline, mails as one file and prints to PDF
// (pdf.ts) exactly as shown. Every number comes from ReportData (data.ts). Tables carry `data-*`
// attributes with raw values so tests and scripts can read them back.
import type { ReportData } from './data.js';
import { PALETTE, barChart, compact, esc, lineChart } from './svg.js';

const CONTINENTS: Readonly<Record<string, string>> = {
  AF: 'Africa',
  AN: 'Antarctica',
  AS: 'Asia',
  EU: 'Europe',
  NA: 'North America',
  OC: 'Oceania',
  SA: 'South America',
  XX: 'Unknown',
};

const iso = (t: number): string => new Date(t).toISOString().replace('.000Z', 'Z');
const pct = (ratio: number): string => `${(ratio * 100).toFixed(ratio >= 0.9995 || ratio === 0 ? 1 : 3)}%`;
const ms = (v: number | null): string => (v === null ? '–' : `${v} ms`);

function duration(msValue: number): string {
  const s = Math.round(msValue / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  const h = Math.floor(s / 3600);
  return h < 48 ? `${h}h ${Math.floor((s % 3600) / 60)}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

function table(
  caption: string,
  head: readonly string[],
  rows: readonly string[],
  empty: string,
  id: string,
): string {
  if (rows.length === 0) return `<p class="empty" id="${id}">${esc(empty)}</p>`;
  return `<table id="${id}"><caption>${esc(caption)}</caption><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const cell = (text: string, raw?: string | number): string =>
  raw === undefined ? `<td>${esc(text)}</td>` : `<td data-value="${esc(String(raw))}">${esc(text)}</td>`;

const STYLE = `
body{font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#111827;margin:24px auto;max-width:820px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
.meta{color:#4b5563;margin:0 0 16px}.kpis{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.kpi{border:1px solid #e5e7eb;border-radius:6px;padding:8px 12px;min-width:130px}.kpi b{display:block;font-size:18px}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:12px}caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f9fafb}
td[data-value]{font-variant-numeric:tabular-nums}.chart{width:100%;height:auto;margin:6px 0}
.chart-title{font-weight:600;font-size:13px}.tick,.legend,.label,.value{font-size:11px;fill:#374151}.grid{stroke:#e5e7eb}
.empty{color:#6b7280;font-style:italic}.down{color:#b91c1c}.ok{color:#047857}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table,svg{break-inside:avoid}}
`;

export function renderReportHtml(d: ReportData): string {
  const series = d.traffic.series;
  const colorOf = new Map(series.map((s, i) => [s.region, PALETTE[i % PALETTE.length] ?? '#000']));
  const totalDns = series.reduce((n, s) => n + s.totals.dnsAnswers, 0);
  const totalReq = series.reduce((n, s) => n + s.totals.proxyRequests, 0);
  const totalErr = series.reduce((n, s) => n + s.totals.proxyErrors, 0);
  const totalWaf = series.reduce((n, s) => n + s.totals.wafBlocks, 0);
  const totalRl = series.reduce((n, s) => n + s.totals.rateLimited, 0);
  const totalQuota = series.reduce((n, s) => n + s.totals.quotaRejected, 0);
  const perStep = `per ${d.traffic.stepSeconds / 60} min`;
  const out: string[] = [];
  out.push(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Meridian operations report ${esc(iso(d.from))} – ${esc(iso(d.to))}</title><style>${STYLE}</style></head><body>`,
    `<h1>Meridian operations report</h1>`,
    `<p class="meta" id="range" data-from="${d.from}" data-to="${d.to}">${esc(iso(d.from))} – ${esc(iso(d.to))} (${esc(duration(d.to - d.from))}) · generated ${esc(iso(d.generatedAt))}</p>`,
    `<div class="kpis">`,
    ...[
      ['DNS answers', totalDns, 'kpi-dns'],
      ['Proxy requests', totalReq, 'kpi-requests'],
      ['Proxy 5xx', totalErr, 'kpi-errors'],
      ['WAF blocks', totalWaf, 'kpi-waf'],
      ['Rate-limited', totalRl, 'kpi-rate-limited'],
      ['Alerts', d.alertCount, 'kpi-alerts'],
    ].map(
      ([label, value, id]) =>
        `<div class="kpi" id="${String(id)}" data-value="${String(value)}">${esc(String(label))}<b>${esc(compact(Number(value)))}</b></div>`,
    ),
    `</div>`,
  );

  out.push(`<h2>Traffic by region</h2>`);
  out.push(
    lineChart(
      'DNS answers',
      series.map((s) => ({ name: s.region, points: s.points.map((p) => ({ t: p.t, v: p.dnsAnswers })) })),
      d.from,
      d.to,
      `answers ${perStep}`,
    ),
    lineChart(
      'Proxy requests',
      series
        .filter((s) => s.totals.proxyRequests > 0)
        .map((s) => ({ name: s.region, points: s.points.map((p) => ({ t: p.t, v: p.proxyRequests })) })),
      d.from,
      d.to,
      `requests ${perStep}`,
    ),
    barChart(
      'DNS answers by region',
      [...series]
        .sort((a, b) => b.totals.dnsAnswers - a.totals.dnsAnswers)
        .map((s) => ({
          label: s.region,
          value: s.totals.dnsAnswers,
          text: `${compact(s.totals.dnsAnswers)} (${totalDns === 0 ? 0 : Math.round((s.totals.dnsAnswers / totalDns) * 1000) / 10}%)`,
          color: colorOf.get(s.region) ?? '#000',
        })),
    ),
  );
  out.push(
    table(
      'Per region (whole range)',
      [
        'Region',
        'DNS answers',
        'Requests',
        '5xx',
        'Error rate',
        'p50',
        'p95',
        'p99',
        'WAF blocks',
        'Rate-limited',
        'Quota',
      ],
      series.map(
        (s) =>
          `<tr data-region="${esc(s.region)}">${cell(s.region)}${cell(compact(s.totals.dnsAnswers), s.totals.dnsAnswers)}${cell(compact(s.totals.proxyRequests), s.totals.proxyRequests)}${cell(compact(s.totals.proxyErrors), s.totals.proxyErrors)}${cell(s.totals.proxyRequests === 0 ? '–' : pct(s.totals.proxyErrors / s.totals.proxyRequests))}${cell(ms(s.totals.p50Ms))}${cell(ms(s.totals.p95Ms))}${cell(ms(s.totals.p99Ms))}${cell(compact(s.totals.wafBlocks), s.totals.wafBlocks)}${cell(compact(s.totals.rateLimited), s.totals.rateLimited)}${cell(compact(s.totals.quotaRejected), s.totals.quotaRejected)}</tr>`,
      ),
      'No traffic was recorded in this range.',
      'regions',
    ),
  );
  const backendRows = series.flatMap((s) =>
    s.backends.map(
      (b) =>
        `<tr>${cell(s.region)}${cell(b.backend)}${cell(compact(b.requests), b.requests)}${cell(compact(b.errors), b.errors)}${cell(ms(b.p50Ms))}${cell(ms(b.p95Ms))}${cell(ms(b.p99Ms))}</tr>`,
    ),
  );
  out.push(
    table(
      'Per backend',
      ['Region', 'Backend', 'Requests', '5xx', 'p50', 'p95', 'p99'],
      backendRows,
      'No proxied requests in this range.',
      'backends',
    ),
  );

  out.push(`<h2>Clients by continent</h2>`);
  out.push(
    barChart(
      'DNS answers by client continent',
      d.byContinent.map((c) => ({ label: CONTINENTS[c.continent] ?? c.continent, value: c.dnsAnswers })),
    ),
  );
  out.push(
    table(
      'Top client countries',
      ['Country', 'Continent', 'Answered by region', 'DNS answers'],
      d.traffic.byCountry
        .slice(0, 25)
        .map(
          (c) =>
            `<tr>${cell(c.country)}${cell(c.continent)}${cell(c.region)}${cell(compact(c.dnsAnswers), c.dnsAnswers)}</tr>`,
        ),
      'No located clients in this range.',
      'countries',
    ),
  );

  out.push(`<h2>Availability</h2>`);
  out.push(
    barChart(
      'Time healthy per region',
      d.availability.map((a) => ({
        label: a.region,
        value: a.ratio,
        text: pct(a.ratio),
        color: a.ratio >= 0.999 ? '#059669' : a.ratio >= 0.99 ? '#d97706' : '#dc2626',
      })),
      1,
    ),
  );
  out.push(
    table(
      'Availability per region',
      ['Region', 'Healthy', 'Down', 'Availability'],
      d.availability.map(
        (a) =>
          `<tr data-region="${esc(a.region)}">${cell(a.region)}${cell(duration(a.healthyMs), a.healthyMs)}${cell(duration(a.totalMs - a.healthyMs), a.totalMs - a.healthyMs)}${cell(pct(a.ratio), a.ratio)}</tr>`,
      ),
      'No regions.',
      'availability',
    ),
  );
  out.push(
    table(
      'Incidents',
      ['Region', 'Backend', 'Start', 'End', 'Duration', 'Cause', 'Source'],
      d.incidents.map(
        (i) =>
          `<tr>${cell(i.region)}${cell(i.backend ?? '(region)')}${cell(iso(i.start), i.start)}${i.end === undefined ? '<td class="down">ongoing</td>' : cell(iso(i.end), i.end)}${cell(duration((i.end ?? d.to) - i.start))}${cell(i.cause)}${cell(i.source)}</tr>`,
      ),
      'No incidents: every region and backend stayed healthy.',
      'incidents',
    ),
  );

  out.push(`<h2>Top alerts</h2>`);
  out.push(
    table(
      `${d.alertCount} alert(s) in the range, grouped`,
      ['Level', 'Type', 'Subject', 'Count', 'Last', 'Last message'],
      d.alerts.map(
        (a) =>
          `<tr>${cell(a.level)}${cell(a.type)}${cell(a.subject)}${cell(String(a.count), a.count)}${cell(a.last)}${cell(a.message)}</tr>`,
      ),
      'No alerts in this range.',
      'alerts',
    ),
  );

  out.push(`<h2>Capacity headroom</h2>`);
  out.push(
    table(
      'Configured capacity against the load now (in-flight requests reported by the region’s proxies) and the busiest minute',
      ['Region', 'State', 'Capacity', 'Load now', 'Headroom', 'Peak requests/min'],
      d.headroom.map(
        (h) =>
          `<tr data-region="${esc(h.region)}">${cell(h.region)}${cell(h.state)}${cell(h.capacity === undefined ? 'unlimited' : String(h.capacity))}${cell(String(h.currentLoad), h.currentLoad)}${cell(h.headroom === undefined ? '–' : `${h.headroom} (${h.capacity === undefined || h.capacity === 0 ? 0 : Math.round((h.headroom / h.capacity) * 100)}%)`)}${cell(compact(h.peakRequestsPerMinute), h.peakRequestsPerMinute)}</tr>`,
      ),
      'No regions.',
      'headroom',
    ),
  );

  out.push(`<h2>Policy hits</h2>`);
  out.push(
    table(
      'Requests stopped by traffic policies',
      ['Region', 'WAF blocks', 'Rate-limited', 'Quota rejected'],
      series
        .filter((s) => s.totals.wafBlocks + s.totals.rateLimited + s.totals.quotaRejected > 0)
        .map(
          (s) =>
            `<tr data-region="${esc(s.region)}">${cell(s.region)}${cell(compact(s.totals.wafBlocks), s.totals.wafBlocks)}${cell(compact(s.totals.rateLimited), s.totals.rateLimited)}${cell(compact(s.totals.quotaRejected), s.totals.quotaRejected)}</tr>`,
        ),
      `No request was blocked or limited (WAF ${totalWaf}, rate limits ${totalRl}, quotas ${totalQuota}).`,
      'policy-hits',
    ),
  );

  out.push(`<h2>Changes made</h2>`);
  out.push(
    table(
      d.changesTruncated
        ? `The first ${d.changes.length} changes (more in \`meridian audit\`)`
        : `${d.changes.length} change(s)`,
      ['Time', 'Actor', 'Action', 'Target'],
      d.changes.map((c) => `<tr>${cell(c.time)}${cell(c.actor)}${cell(c.action)}${cell(c.target)}</tr>`),
      'No changes were made in this range.',
      'changes',
    ),
  );
  out.push('</body></html>\n');
  return out.join('\n');
}
