// `meridian history traffic|health` and `meridian report`: the stored traffic and health history
// and the operations report, through the admin API (src/api/history-routes.ts). Times take ms since
// the epoch, RFC 3339, a date, `now` or relative forms (`-1h`); they are checked before anything is
// sent (UsageError → exit 2 naming the flag) and sent as ms since the epoch.
import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Command } from 'commander';
import { describeError, isMeridianError } from '../core/errors.js';
import type { HealthView, HistoryQuery } from '../ops/history/service.js';
import { parseHistoryQuery } from '../ops/history/service.js';
import type { TrafficView } from '../ops/history/view.js';
import { type ApiClient, apiClientFor } from './client.js';
import { UsageError } from './flags.js';
import { formatTable, terminalJson, terminalSafe } from './format.js';

export interface HistoryCommandDeps {
  readonly client?: (cmd: Command) => ApiClient;
  readonly write?: (text: string) => void;
  readonly now?: () => number;
}

/** A PDF report launches Chromium on the server. */
const REPORT_TIMEOUT_MS = 120_000;

interface RangeFlags {
  from?: string | undefined;
  to?: string | undefined;
  region?: string | undefined;
  step?: string | undefined;
}

/** Flags → a validated range; a bad one is a UsageError naming the flag. */
export function rangeFromFlags(flags: RangeFlags, now: number): HistoryQuery {
  try {
    return parseHistoryQuery(
      { from: flags.from, to: flags.to, region: flags.region, step: flags.step },
      now,
      { from: '--from', to: '--to', region: '--region', step: '--step' },
    );
  } catch (err) {
    if (isMeridianError(err)) throw new UsageError(err.message);
    throw err;
  }
}

function queryString(q: HistoryQuery, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams({ from: String(q.from), to: String(q.to), ...extra });
  if (q.region !== undefined) params.set('region', q.region);
  if (q.stepSeconds !== undefined) params.set('step', String(q.stepSeconds));
  return params.toString();
}

const ms = (v: number | null): string => (v === null ? '-' : `${v}`);

export function formatTraffic(view: TrafficView): string {
  const range = `${new Date(view.from).toISOString()} – ${new Date(view.to).toISOString()}`;
  if (view.series.length === 0) return `no traffic recorded ${range}\n`;
  let out = `traffic ${range}\n`;
  out += formatTable(
    ['REGION', 'DNS ANSWERS', 'REQUESTS', '5XX', 'P50 MS', 'P95 MS', 'P99 MS', 'WAF BLOCKS', 'RATE-LIMITED'],
    view.series.map((s) => [
      s.region,
      String(s.totals.dnsAnswers),
      String(s.totals.proxyRequests),
      String(s.totals.proxyErrors),
      ms(s.totals.p50Ms),
      ms(s.totals.p95Ms),
      ms(s.totals.p99Ms),
      String(s.totals.wafBlocks),
      String(s.totals.rateLimited),
    ]),
  );
  if (view.byCountry.length > 0) {
    out += '\n';
    out += formatTable(
      ['COUNTRY', 'CONTINENT', 'REGION', 'DNS ANSWERS'],
      view.byCountry.slice(0, 20).map((c) => [c.country, c.continent, c.region, String(c.dnsAnswers)]),
    );
  }
  return out;
}

export function formatHealth(view: HealthView): string {
  if (view.events.length === 0) return 'no health changes in this range\n';
  return formatTable(
    ['TIME', 'REGION', 'BACKEND', 'STATE', 'SOURCE', 'REASON'],
    view.events.map((e) => [
      new Date(e.t).toISOString(),
      e.region,
      e.backend ?? '-',
      e.healthy ? 'healthy' : 'down',
      e.source,
      e.reason,
    ]),
  );
}

/** The report's format from `--format` or the `--out` file's extension. */
export function reportFormat(out: string, format: string | undefined): 'html' | 'pdf' {
  const f = format ?? extname(out).slice(1).toLowerCase();
  if (f === 'html' || f === 'htm') return 'html';
  if (f === 'pdf') return 'pdf';
  throw new UsageError(
    format === undefined
      ? `--out: cannot tell the format from ${JSON.stringify(out)}; name it .html or .pdf, or give --format`
      : `--format: expected html or pdf, got ${JSON.stringify(format)}`,
  );
}

/**
 * `--json` of a subcommand: the parent `history` command (the revision list) has a `--json` of its
 * own, and commander gives a known parent option to the parent wherever it stands.
 */
function wantsJson(flags: { json?: boolean }, cmd: Command): boolean {
  return flags.json === true || cmd.parent?.opts<{ json?: boolean }>().json === true;
}

/** Adds `traffic` and `health` to a `history` command. */
export function addHistorySubcommands(history: Command, deps: HistoryCommandDeps = {}): void {
  const client = deps.client ?? apiClientFor;
  const write = deps.write ?? ((text: string) => void process.stdout.write(text));
  const now = deps.now ?? Date.now;

  history
    .command('traffic')
    .description(
      'DNS answers, proxy requests, errors and latency per region over a time range (per-minute rollups)',
    )
    .option(
      '--from <time>',
      'start: ms since the epoch, RFC 3339, a date, or relative (-1h); default an hour before --to',
    )
    .option('--to <time>', 'end (same forms; default now)')
    .option('--region <id>', 'only this region')
    .option('--step <seconds>', 'points every this many seconds, a multiple of 60 (JSON output)')
    .option('--json', 'print the API answer as JSON (per-step points included)')
    .action(async (flags: RangeFlags & { json?: boolean }, cmd: Command) => {
      const q = rangeFromFlags(flags, now());
      const view = await client(cmd).get<TrafficView>(`/v1/history/traffic?${queryString(q)}`);
      write(wantsJson(flags, cmd) ? `${terminalJson(view)}\n` : terminalSafe(formatTraffic(view)));
    });

  history
    .command('health')
    .description('region verdict and backend health changes, with their reasons, over a time range')
    .option('--from <time>', 'start (default an hour before --to)')
    .option('--to <time>', 'end (default now)')
    .option('--region <id>', 'only this region')
    .option('--json', 'print the API answer as JSON')
    .action(async (flags: RangeFlags & { json?: boolean }, cmd: Command) => {
      const q = rangeFromFlags(flags, now());
      const view = await client(cmd).get<HealthView>(`/v1/history/health?${queryString(q)}`);
      write(wantsJson(flags, cmd) ? `${terminalJson(view)}\n` : terminalSafe(formatHealth(view)));
    });
}

/** Adds `report` to the program. */
export function registerReportCommand(program: Command, deps: HistoryCommandDeps = {}): void {
  const client = deps.client ?? apiClientFor;
  const write = deps.write ?? ((text: string) => void process.stdout.write(text));
  const now = deps.now ?? Date.now;
  program
    .command('report')
    .description(
      'write the operations report (traffic by region and continent, availability and incidents, alerts, capacity headroom, policy hits, changes) as HTML or PDF',
    )
    .requiredOption('--out <file>', 'where to write it: report.html or report.pdf')
    .option('--from <time>', 'start (default an hour before --to)')
    .option('--to <time>', 'end (default now)')
    .option('--format <format>', 'html or pdf (default: from the --out extension)')
    .action(async (flags: RangeFlags & { out: string; format?: string }, cmd: Command) => {
      const format = reportFormat(flags.out, flags.format);
      const q = rangeFromFlags({ from: flags.from, to: flags.to }, now());
      const bytes = await client(cmd).getBytes(
        `/v1/report?${queryString(q, { format })}`,
        format === 'pdf' ? 'application/pdf' : 'text/html',
        REPORT_TIMEOUT_MS,
      );
      try {
        await writeFile(flags.out, bytes);
      } catch (err) {
        throw new UsageError(`--out: cannot write ${flags.out}: ${describeError(err)}`);
      }
      write(`wrote ${flags.out} (${format}, ${bytes.length} bytes)\n`);
    });
}
