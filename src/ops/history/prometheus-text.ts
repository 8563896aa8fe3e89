// Reads the samples of chosen metrics out of Prometheus text exposition (what `/metrics` serves, the
// DNS and proxy workers' counts already aggregated by the cluster primary). The history recorder
// samples these once per flush, so the answer and request paths pay nothing for the history.
// Only what prom-client writes is handled: `name{label="value",…} number` lines, escaped quotes,
// backslashes and newlines in label values.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** The samples of the metrics named in `names` (exact sample names, e.g. `x_bucket`). */
export function parseSamples(text: string, names: ReadonlySet<string>): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m === null || !names.has(m[1] ?? '')) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] ?? ''] = unescape(l[2] ?? '');
    out.push({ name: m[1] ?? '', labels, value });
  }
  return out;
}
