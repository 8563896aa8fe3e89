// Human output of the CLI: aligned tables and short key/value blocks. Pure string building. Every
// value shown is escaped (control characters as `\x1b`, `\n`): records written before validation
// refused them, or error messages echoing bad input, must not drive the terminal.
import type { RegionHealthView } from '../core/health.js';
import { escapeControlCharacters } from '../core/validate.js';
import type { Backend, Region } from '../core/types.js';
import type { Decision } from '../dns/steering/types.js';
import type { RegionDetail, StatusEntry } from '../api/views.js';

export type Align = 'left' | 'right';

/** Text for a terminal: control characters escaped, except the line breaks that structure it. */
export function terminalSafe(text: string): string {
  return text.split('\n').map(escapeControlCharacters).join('\n');
}

/**
 * JSON for a terminal: JSON.stringify escapes C0 controls but leaves DEL and C1 (U+009B is a CSI on
 * its own) raw; they are written as `\u00XX`, which is the same JSON.
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Columns separated by two spaces, padded to the widest cell; no trailing spaces. */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[] = [],
): string {
  const safeRows = rows.map((r) => r.map(escapeControlCharacters));
  const widths = headers.map((h, i) => Math.max(h.length, ...safeRows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    widths
      .map((w, i) => {
        const cell = cells[i] ?? '';
        return align[i] === 'right' ? cell.padStart(w) : cell.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(headers), ...safeRows.map(line)].join('\n') + '\n';
}

function keyValues(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return (
    pairs
      .map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${escapeControlCharacters(v)}`.trimEnd())
      .join('\n') + '\n'
  );
}

const dash = (v: string | number | undefined | null): string =>
  v === undefined || v === null || v === '' ? '-' : String(v);

function labelsText(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}

export function formatRegions(regions: readonly Region[]): string {
  if (regions.length === 0) return 'no regions\n';
  return formatTable(
    ['ID', 'NAME', 'STATE', 'LAT', 'LON', 'WEIGHT', 'CAPACITY', 'IPV4', 'IPV6', 'LABELS'],
    regions.map((r) => [
      r.id,
      r.name,
      r.state,
      String(r.lat),
      String(r.lon),
      String(r.weight),
      dash(r.capacity),
      dash(r.ipv4.join(',')),
      dash(r.ipv6.join(',')),
      labelsText(r.labels),
    ]),
    ['left', 'left', 'left', 'right', 'right', 'right', 'right'],
  );
}

function healthText(h: RegionHealthView): string {
  const parts = [`${h.status}${h.up ? '' : ' (down)'}`];
  if (h.reporters > 0) parts.push(`${h.freshReporters}/${h.reporters} reporters fresh`);
  if (h.lastReportAt !== undefined) parts.push(`last report ${new Date(h.lastReportAt).toISOString()}`);
  const next = pendingText(h, Date.now());
  if (next !== '-') parts.push(next);
  return parts.join(', ');
}

/** `2/3 up`: the votes (one per proxy node and per probing DNS node) that say up. */
function votesText(h: RegionHealthView): string {
  const votes = h.votes ?? [];
  return votes.length === 0 ? '-' : `${votes.filter((v) => v.up).length}/${votes.length} up`;
}

/** `down in 1.2 s`: the flip the hysteresis timers hold back, and when it happens. */
function pendingText(h: RegionHealthView, now: number): string {
  if (h.pending === undefined) return '-';
  return `${h.pending.to} in ${(Math.max(0, h.pending.at - now) / 1000).toFixed(1)} s`;
}

/** One line per vote, for `explain` and `region show`. */
function voteLines(regionId: string, h: RegionHealthView): string[] {
  return (h.votes ?? []).map(
    (v) =>
      `  ${regionId}  ${v.vantage} (${v.kind}, weight ${v.weight}): ${v.up ? 'up' : 'down'}${v.since === undefined ? '' : ` since ${new Date(v.since).toISOString()}`}${v.reason === undefined ? '' : ` — ${v.reason}`}`,
  );
}

export function formatRegionDetail(d: RegionDetail): string {
  const r = d.region;
  const h = d.health;
  return keyValues([
    ['id', r.id],
    ['name', r.name],
    ['state', r.state],
    ['location', `${r.lat}, ${r.lon}`],
    ['country', dash(r.country)],
    ['continent', dash(r.continent)],
    ['ipv4', dash(r.ipv4.join(', '))],
    ['ipv6', dash(r.ipv6.join(', '))],
    ['weight', String(r.weight)],
    ['capacity', dash(r.capacity)],
    ['require health', r.requireHealth ? 'yes' : 'no'],
    ['labels', labelsText(r.labels)],
    ['health', healthText(h)],
    ['votes', votesText(h)],
    ...voteLines(r.id, h).map((line) => ['vote', line.trim()] as const),
    ['rule', h.reasons?.[1] ?? '-'],
    [
      'reported backends',
      h.status === 'unmonitored' ? '-' : `${h.healthyBackends}/${h.totalBackends} healthy`,
    ],
    ['in flight', String(h.inFlight)],
    ['request rate', `${h.requestRate}/s`],
    ['p95 latency', `${h.p95LatencyMs} ms`],
    [
      'backends',
      `${d.backends.total} registered (${d.backends.active} active, ${d.backends.draining} draining, ${d.backends.disabled} disabled)`,
    ],
    ['created', r.createdAt],
    ['updated', r.updatedAt],
  ]);
}

export function formatBackends(backends: readonly Backend[]): string {
  if (backends.length === 0) return 'no backends\n';
  return formatTable(
    ['ID', 'URL', 'WEIGHT', 'STATE'],
    backends.map((b) => [b.id, b.url, String(b.weight), b.state]),
    ['left', 'left', 'right'],
  );
}

export function formatStatus(regions: readonly StatusEntry[]): string {
  if (regions.length === 0) return 'no regions\n';
  return formatTable(
    ['REGION', 'STATE', 'HEALTH', 'BACKENDS', 'IN-FLIGHT', 'CAPACITY', 'WEIGHT', 'VOTES', 'NEXT'],
    regions.map((r) => [
      r.id,
      r.state,
      r.health.up ? r.health.status : `${r.health.status} (down)`,
      `${r.backends.healthy === null ? '?' : r.backends.healthy}/${r.backends.total}`,
      String(r.inFlight),
      dash(r.capacity),
      String(r.weight),
      votesText(r.health),
      pendingText(r.health, Date.now()),
    ]),
    ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'left', 'left'],
  );
}

/** What `GET /v1/explain` returns: the decision, with the query either beside it or wrapped around it. */
export type ExplainResult = Decision & { query?: Record<string, unknown> };

export function formatExplain(result: unknown): string {
  const r = result as Partial<ExplainResult> & { decision?: Decision };
  const d: Partial<Decision> = r.decision ?? r;
  const out: string[] = [];
  const q = r.query;
  if (q !== undefined) {
    const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
    const parts = [`${text(q.name)} ${text(q.type ?? 'A')}`, `client ${text(q.client)}`];
    if (q.ecs !== undefined) parts.push(`ecs ${text(q.ecs)}`);
    out.push(`query:     ${parts.join('  ')}`);
  }
  const loc = d.location;
  if (loc !== undefined) {
    if (loc.found) {
      const coords = loc.lat === undefined || loc.lon === undefined ? '-' : `${loc.lat}, ${loc.lon}`;
      out.push(
        `location:  ${loc.ip} (${loc.source})  country ${dash(loc.country)}  continent ${dash(loc.continent)}  coordinates ${coords}  network ${dash(loc.network)}`,
      );
    } else {
      out.push(`location:  ${loc.ip} (${loc.source})  not found in the geo database`);
    }
  }
  if (d.rule !== undefined) out.push(`rule:      ${d.rule}`);
  out.push('');
  const considered = d.considered ?? [];
  if (considered.length === 0) out.push('no regions considered');
  else {
    out.push('regions considered:');
    out.push(
      formatTable(
        ['REGION', 'DISTANCE', 'STATE', 'HEALTH', 'WEIGHT', 'VERDICT', 'REASON'],
        considered.map((v) => [
          v.regionId,
          v.distanceKm === undefined ? '-' : `${Math.round(v.distanceKm)} km`,
          v.state,
          v.health.up ? v.health.status : `${v.health.status} (down)`,
          String(v.weight),
          v.kept ? 'kept' : 'dropped',
          v.reason,
        ]),
        ['left', 'right', 'left', 'left', 'right'],
      ).trimEnd(),
    );
    // The votes behind each verdict, the rule, and the time left before a held-back flip.
    const voted = considered.filter((v) => (v.health.votes ?? []).length > 0);
    if (voted.length > 0) {
      out.push('');
      out.push(`health rule: ${voted[0]?.health.reasons?.[1] ?? '-'}`);
      out.push('votes:');
      for (const v of voted) {
        out.push(...voteLines(v.regionId, v.health));
        const next = pendingText(v.health, Date.now());
        if (next !== '-') out.push(`  ${v.regionId}  → ${next} unless a vote changes`);
      }
    }
  }
  out.push('');
  if (d.outcome === 'nodata')
    out.push(`answer:    NODATA${d.allDown ? ' (every eligible region is down: fail-closed)' : ''}`);
  else {
    out.push(`answer:    ${(d.addresses ?? []).join(', ') || '-'}`);
    out.push(
      `regions:   ${(d.regions ?? []).join(', ') || '-'}${d.allDown ? '  (all down: fail-open)' : ''}`,
    );
  }
  if (d.ttl !== undefined) out.push(`ttl:       ${d.ttl}`);
  if (d.scopePrefix !== undefined) out.push(`ecs scope: /${d.scopePrefix}`);
  return out.join('\n') + '\n';
}
