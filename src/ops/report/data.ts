// What the operations report says, gathered for a time range from the stores: traffic by region
// and by client continent, availability per region (time healthy over the range, incidents with
// start, end and cause, from the health events), top alerts, capacity headroom (each region's
// configured capacity against its current load and its busiest minute), policy hits (WAF blocks,
// rate-limited and quota-rejected requests) and the changes made (the audit log). html.ts draws it.
import type { Snapshot } from '../../core/types.js';
import { evaluateRegionHealth } from '../../core/health.js';
import type { HealthEvent } from '../../storage/history-store.js';
import type { AlertRecord, AuditRecord, OpsRecordStore } from '../../storage/ops-record-store.js';
import type { HistoryQuery, HistoryService } from '../history/service.js';
import type { TrafficView } from '../history/view.js';

/** Health events before the range this far back tell each region's state at its start. */
const LOOKBACK_MS = 30 * 86_400_000;
const MAX_CHANGES = 500;
const MAX_ALERTS_SCANNED = 1000;

export interface Incident {
  readonly region: string;
  readonly backend: string | null;
  readonly start: number;
  /** Undefined while it lasts. */
  readonly end: number | undefined;
  readonly cause: string;
  readonly source: string;
}

export interface RegionAvailability {
  readonly region: string;
  readonly healthyMs: number;
  readonly totalMs: number;
  /** healthy / total, 0-1. */
  readonly ratio: number;
}

export interface AlertSummary {
  readonly type: string;
  readonly level: string;
  readonly subject: string;
  readonly count: number;
  readonly last: string;
  readonly message: string;
}

export interface Headroom {
  readonly region: string;
  readonly state: string;
  readonly capacity: number | undefined;
  readonly currentLoad: number;
  readonly headroom: number | undefined;
  readonly peakRequestsPerMinute: number;
}

export interface ReportData {
  readonly from: number;
  readonly to: number;
  readonly generatedAt: number;
  readonly traffic: TrafficView;
  readonly byContinent: { readonly continent: string; readonly dnsAnswers: number }[];
  readonly availability: RegionAvailability[];
  readonly incidents: Incident[];
  readonly alerts: AlertSummary[];
  readonly alertCount: number;
  readonly headroom: Headroom[];
  readonly changes: AuditRecord[];
  /** More audit records exist than are listed. */
  readonly changesTruncated: boolean;
}

export interface ReportSources {
  readonly history: Pick<HistoryService, 'traffic' | 'health'>;
  readonly records: Pick<OpsRecordStore, 'query'>;
  readonly snapshot: () => Snapshot;
  readonly now?: () => number;
}

/** Incidents (down intervals, clipped to the range) and region availability from health events. */
export function availabilityOf(
  regions: readonly string[],
  events: readonly HealthEvent[],
  from: number,
  to: number,
): { availability: RegionAvailability[]; incidents: Incident[] } {
  const incidents: Incident[] = [];
  const open = new Map<string, { start: number; cause: string; source: string }>();
  const subject = (e: HealthEvent): string => `${e.region}/${e.backend ?? ''}`;
  for (const e of events) {
    const key = subject(e);
    const current = open.get(key);
    if (!e.healthy) {
      if (current === undefined) open.set(key, { start: e.t, cause: e.reason, source: e.source });
    } else if (current !== undefined) {
      open.delete(key);
      if (e.t >= from)
        incidents.push({
          region: e.region,
          backend: e.backend,
          start: Math.max(from, current.start),
          end: e.t,
          cause: current.cause,
          source: current.source,
        });
    }
  }
  for (const [key, o] of open) {
    const slash = key.indexOf('/');
    const backend = key.slice(slash + 1);
    incidents.push({
      region: key.slice(0, slash),
      backend: backend === '' ? null : backend,
      start: Math.max(from, o.start),
      end: undefined,
      cause: o.cause,
      source: o.source,
    });
  }
  incidents.sort((a, b) => a.start - b.start);
  const totalMs = Math.max(1, to - from);
  const availability = regions.map((region) => {
    let downMs = 0;
    for (const i of incidents) {
      if (i.region !== region || i.backend !== null) continue;
      downMs += Math.max(0, Math.min(to, i.end ?? to) - Math.max(from, i.start));
    }
    const healthyMs = Math.max(0, totalMs - downMs);
    return { region, healthyMs, totalMs, ratio: healthyMs / totalMs };
  });
  return { availability, incidents };
}

async function allAudit(
  records: ReportSources['records'],
  from: number,
  to: number,
): Promise<{ items: AuditRecord[]; truncated: boolean }> {
  const page = await records.query('audit', { since: from, until: to, order: 'asc', limit: MAX_CHANGES });
  return { items: page.items, truncated: page.nextCursor !== undefined };
}

async function alertSummary(
  records: ReportSources['records'],
  from: number,
  to: number,
): Promise<{ alerts: AlertSummary[]; count: number }> {
  const items: AlertRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await records.query('alert', {
      since: from,
      until: to,
      limit: 1000,
      ...(cursor === undefined ? {} : { cursor }),
    });
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined && items.length < MAX_ALERTS_SCANNED);
  const groups = new Map<string, AlertSummary & { count: number }>();
  for (const a of items) {
    const key = `${a.level} ${a.type} ${a.subject}`;
    const g = groups.get(key);
    if (g === undefined)
      groups.set(key, {
        type: a.type,
        level: a.level,
        subject: a.subject,
        count: 1,
        last: a.time,
        message: a.message,
      });
    else g.count++;
  }
  const rank = (level: string): number => (level === 'critical' ? 2 : level === 'warning' ? 1 : 0);
  return {
    alerts: [...groups.values()]
      .sort((a, b) => rank(b.level) - rank(a.level) || b.count - a.count)
      .slice(0, 20),
    count: items.length,
  };
}

/** Gathers the report for `query` (from, to; the step is chosen for about 240 points). */
export async function gatherReport(sources: ReportSources, query: HistoryQuery): Promise<ReportData> {
  const { from, to } = query;
  const now = sources.now?.() ?? Date.now();
  const stepSeconds = Math.max(60, Math.ceil((to - from) / 240 / 60_000) * 60);
  const traffic = await sources.history.traffic({ from, to, stepSeconds });
  const health = await sources.history.health({ from: Math.max(0, from - LOOKBACK_MS), to });
  const snapshot = sources.snapshot();
  const regions = [...new Set([...snapshot.regions.keys(), ...traffic.series.map((s) => s.region)])].sort();
  const { availability, incidents } = availabilityOf(regions, health.events, from, to);
  const continents = new Map<string, number>();
  for (const c of traffic.byCountry)
    continents.set(c.continent, (continents.get(c.continent) ?? 0) + c.dnsAnswers);
  const { alerts, count } = await alertSummary(sources.records, from, to);
  const changes = await allAudit(sources.records, from, to);
  const headroom: Headroom[] = regions.map((id) => {
    const region = snapshot.regions.get(id);
    const view = evaluateRegionHealth(snapshot.health.get(id), now);
    const peak = traffic.series.find((s) => s.region === id)?.totals.peakRequestsPerMinute ?? 0;
    return {
      region: id,
      state: region?.state ?? 'removed',
      capacity: region?.capacity,
      currentLoad: view.inFlight,
      headroom: region?.capacity === undefined ? undefined : region.capacity - view.inFlight,
      peakRequestsPerMinute: peak,
    };
  });
  return {
    from,
    to,
    generatedAt: now,
    traffic,
    byContinent: [...continents]
      .map(([continent, dnsAnswers]) => ({ continent, dnsAnswers }))
      .sort((a, b) => b.dnsAnswers - a.dnsAnswers),
    availability,
    incidents: incidents.filter((i) => (i.end ?? to) >= from),
    alerts,
    alertCount: count,
    headroom,
    changes: changes.items,
    changesTruncated: changes.truncated,
  };
}
