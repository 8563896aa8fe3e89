// Admin API routes of the traffic and health history and the operations report, as `ApiRoute`s
// for `startAdminApi({ extraRoutes })`. All are reads (permission `read`: viewer and up).
//
//   GET /v1/history/traffic?from&to&region&step   → { from, to, stepSeconds, series[], byCountry[] }
//   GET /v1/history/health?from&to&region         → { from, to, events[] }
//   GET /v1/report?from&to&format=html|pdf        → text/html or application/pdf (attachment)
//
// `from`/`to` take ms since the epoch, RFC 3339, a date, `now` or a relative time (`-1h`); `from`
// defaults to an hour before `to`, `to` to now. `step` is in seconds, a multiple of 60 (widened so
// a series has at most 10 000 points; the answer says which). Bad values → 400 naming the parameter.
import { invalid } from '../core/errors.js';
import type { Snapshot } from '../core/types.js';
import { parseHistoryQuery, type HistoryService } from '../ops/history/service.js';
import { gatherReport } from '../ops/report/data.js';
import { renderReportHtml } from '../ops/report/html.js';
import { renderPdf, type PdfOptions } from '../ops/report/pdf.js';
import type { OpsRecordStore } from '../storage/ops-record-store.js';
import type { ApiRoute } from './route.js';

export interface HistoryRouteDeps {
  readonly history: Pick<HistoryService, 'traffic' | 'health'>;
  readonly records: Pick<OpsRecordStore, 'query'>;
  readonly snapshot: () => Snapshot;
  readonly pdf: PdfOptions;
  readonly now?: () => number;
}

function onlyKeys(params: Readonly<Record<string, string | undefined>>, allowed: readonly string[]): void {
  for (const key of Object.keys(params))
    if (!allowed.includes(key)) throw invalid(key, `unknown parameter; expected ${allowed.join(', ')}`);
}

/** `report-2026-06-01T1200Z-2026-06-01T1300Z.html` */
function reportName(from: number, to: number, ext: string): string {
  const stamp = (t: number): string => new Date(t).toISOString().slice(0, 16).replace(':', '') + 'Z';
  return `meridian-report-${stamp(from)}-${stamp(to)}.${ext}`;
}

export function historyRoutes(deps: HistoryRouteDeps): ApiRoute[] {
  const now = deps.now ?? Date.now;
  return [
    {
      method: 'GET',
      path: '/v1/history/traffic',
      access: 'read',
      handler: async (req) => {
        onlyKeys(req.query, ['from', 'to', 'region', 'step']);
        return { body: await deps.history.traffic(parseHistoryQuery(req.query, now())) };
      },
    },
    {
      method: 'GET',
      path: '/v1/history/health',
      access: 'read',
      handler: async (req) => {
        onlyKeys(req.query, ['from', 'to', 'region']);
        return { body: await deps.history.health(parseHistoryQuery(req.query, now())) };
      },
    },
    {
      method: 'GET',
      path: '/v1/report',
      access: 'read',
      handler: async (req) => {
        onlyKeys(req.query, ['from', 'to', 'format']);
        const format = req.query['format'] ?? 'html';
        if (format !== 'html' && format !== 'pdf')
          throw invalid('format', `expected html or pdf, got ${JSON.stringify(format)}`);
        const query = parseHistoryQuery(req.query, now());
        const html = renderReportHtml(
          await gatherReport(
            { history: deps.history, records: deps.records, snapshot: deps.snapshot, now },
            query,
          ),
        );
        const disposition = (ext: string): string =>
          `inline; filename="${reportName(query.from, query.to, ext)}"`;
        if (format === 'html')
          return {
            body: html,
            headers: {
              'content-type': 'text/html; charset=utf-8',
              'content-disposition': disposition('html'),
            },
          };
        return {
          body: await renderPdf(html, deps.pdf),
          headers: { 'content-type': 'application/pdf', 'content-disposition': disposition('pdf') },
        };
      },
    },
  ];
}
