// Small server-side SVG charts for the operations report: a multi-series line chart over time and
// a horizontal bar chart. Plain strings, no library and nothing loaded from the network, so the
// report is one self-contained file that prints to PDF as it shows on screen.

export const PALETTE = [
  '#2563eb',
  '#dc2626',
  '#059669',
  '#d97706',
  '#7c3aed',
  '#0891b2',
  '#db2777',
  '#65a30d',
  '#4b5563',
  '#ea580c',
];

/** Escapes text for HTML and SVG content and attribute values. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 1234567 → "1.23M", 12345 → "12.3k". */
export function compact(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toPrecision(3)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toPrecision(3)}k`;
  return String(Math.round(n * 100) / 100);
}

function timeLabel(t: number, spanMs: number): string {
  const iso = new Date(t).toISOString();
  return spanMs > 2 * 86_400_000
    ? iso.slice(5, 10)
    : spanMs > 3_600_000 * 6
      ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}`
      : iso.slice(11, 16);
}

export interface LineSeries {
  readonly name: string;
  readonly points: readonly { readonly t: number; readonly v: number }[];
}

/** A line chart of several series over [from, to], with a y axis from 0 and a legend. */
export function lineChart(
  title: string,
  series: readonly LineSeries[],
  from: number,
  to: number,
  unit: string,
): string {
  const W = 760;
  const H = 240;
  const left = 56;
  const right = 12;
  const top = 28;
  const bottom = 40;
  const max = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.v)));
  const span = Math.max(1, to - from);
  const x = (t: number): number => left + ((t - from) / span) * (W - left - right);
  const y = (v: number): number => top + (1 - v / max) * (H - top - bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H + 20 * Math.ceil(series.length / 5)}" role="img" aria-label="${esc(title)}" class="chart">`,
    `<text x="${left}" y="16" class="chart-title">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    parts.push(
      `<line x1="${left}" x2="${W - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" class="grid"/>`,
      `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" class="tick">${esc(compact(v))}</text>`,
    );
  }
  for (let i = 0; i <= 5; i++) {
    const t = from + (span * i) / 5;
    parts.push(
      `<text x="${x(t).toFixed(1)}" y="${H - bottom + 16}" text-anchor="${i === 0 ? 'start' : i === 5 ? 'end' : 'middle'}" class="tick">${esc(timeLabel(t, span))}</text>`,
    );
  }
  parts.push(`<text x="${W - right}" y="${H - 6}" text-anchor="end" class="tick">UTC · ${esc(unit)}</text>`);
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length] ?? '#000';
    if (s.points.length > 0) {
      const d = s.points
        .map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`)
        .join('');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
    }
    const lx = left + (i % 5) * 140;
    const ly = H + 4 + Math.floor(i / 5) * 20;
    parts.push(
      `<rect x="${lx}" y="${ly}" width="12" height="12" fill="${color}"/>`,
      `<text x="${lx + 16}" y="${ly + 10}" class="legend">${esc(s.name)}</text>`,
    );
  });
  if (series.length === 0)
    parts.push(
      `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="empty">no data in this range</text>`,
    );
  parts.push('</svg>');
  return parts.join('');
}

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** Shown instead of the value. */
  readonly text?: string;
  readonly color?: string;
}

/** Horizontal bars, longest first as given, scaled to `max` (default the largest value). */
export function barChart(title: string, bars: readonly Bar[], max?: number): string {
  const W = 760;
  const row = 22;
  const left = 150;
  const top = 28;
  const H = top + Math.max(1, bars.length) * row + 8;
  const scale = max ?? Math.max(1, ...bars.map((b) => b.value));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}" class="chart">`,
    `<text x="0" y="16" class="chart-title">${esc(title)}</text>`,
  ];
  bars.forEach((b, i) => {
    const yy = top + i * row;
    const w = scale <= 0 ? 0 : Math.max(b.value > 0 ? 1 : 0, (b.value / scale) * (W - left - 90));
    parts.push(
      `<text x="${left - 8}" y="${yy + 14}" text-anchor="end" class="label">${esc(b.label)}</text>`,
      `<rect x="${left}" y="${yy + 3}" width="${w.toFixed(1)}" height="${row - 8}" fill="${b.color ?? PALETTE[i % PALETTE.length] ?? '#000'}"/>`,
      `<text x="${(left + w + 6).toFixed(1)}" y="${yy + 14}" class="value">${esc(b.text ?? compact(b.value))}</text>`,
    );
  });
  if (bars.length === 0)
    parts.push(
      `<text x="${W / 2}" y="${top + 14}" text-anchor="middle" class="empty">no data in this range</text>`,
    );
  parts.push('</svg>');
  return parts.join('');
}
