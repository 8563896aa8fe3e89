// The web console at /console, as ApiRoutes for `startAdminApi({ extraRoutes })`. The page and its
// assets are public (they hold no data: every figure comes from the JSON API with the login
// session, under the same permissions as the CLI); the console's own read models need `read`.
//   GET /console                   the single page (static/index.html)
//   GET /console/:file             its scripts, styles, uPlot and the world map (world.json)
//   GET /console/yaml/*            the `yaml` package's browser build (policy import reads YAML)
//   GET /v1/console/overview  read regions placed on the map with their state and health, and per
//                                  country the region the steering decision sends it to
//   GET /v1/console/policy-hits read WAF rule matches and policy decisions counted on this node
//   POST /v1/alerts/:id/acknowledge write  records `alert.acknowledge` on `alert/<id>` in the audit
//                                  log (who acknowledged what, when: an audit fact on any backend)
// Every console answer carries a strict Content-Security-Policy: scripts and styles from this
// origin only, no inline script, no requests elsewhere.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packagePath } from '../../config/install-paths.js';
import { describeError, invalid, notFound } from '../../core/errors.js';
import type { Snapshot } from '../../core/types.js';
import type { AuditLog } from '../../ops/audit.js';
import type { ApiResponse, ApiRoute } from '../route.js';
import { statusView, type HealthPolicyOf } from '../views.js';
import { project, worldMapJson } from './world-map.js';

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  // Assets are small and change with the install: always revalidate, never serve a stale page.
  'cache-control': 'no-cache',
};

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json; charset=utf-8',
  svg: 'image/svg+xml',
};

/** The explain call of the DNS tier, as the admin API gets it (undefined without a DNS tier). */
export type ExplainFn = (q: { name: string; client: string; type: 'A' | 'AAAA' }) => unknown;

export interface ConsoleRouteDeps {
  readonly snapshot: () => Snapshot;
  readonly now: () => number;
  /** Until this time expired health reports still count (see core/health.ts). */
  readonly healthGraceUntil: number;
  /** The DNS tier's explain; without it the map shows no client countries. */
  readonly explain?: ExplainFn;
  /** The balanced name whose decisions the map shows now (the zone store's first one). */
  readonly balancedName?: () => string | undefined;
  /** The region health rule (quorum + hysteresis) the DNS tier answers by; default none. */
  readonly healthPolicy?: HealthPolicyOf;
  /** This node's metrics text (the same as /metrics), for the policy hit counts. */
  readonly metrics: () => Promise<string>;
  /** Where alert acknowledgements are recorded. */
  readonly audit: Pick<AuditLog, 'record'>;
}

interface CountrySample {
  readonly id: string;
  readonly name: string;
  readonly country: string;
  readonly sample: string;
}

/** Reads a static asset once; the console's files are part of the install and do not change. */
function assetLoader(): (file: string) => { body: Buffer; type: string } | undefined {
  const require = createRequire(import.meta.url);
  const staticDir = packagePath('src', 'api', 'console', 'static');
  const sources: Record<string, () => string | Buffer> = {
    'uPlot.iife.min.js': () => readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')),
    'uPlot.min.css': () => readFileSync(require.resolve('uplot/dist/uPlot.min.css')),
    'world.json': () => worldMapJson(),
  };
  // `yaml` exports no browser subpath: its browser build sits beside the main entry (dist/).
  const yamlDir = (): string => join(dirname(require.resolve('yaml')), '..', 'browser', 'dist');
  const cache = new Map<string, { body: Buffer; type: string }>();
  return (file) => {
    // Flat names (and yaml/ module paths) only: no path can leave its folder.
    if (/^yaml\/(?:[a-z0-9][a-z0-9.-]*\/)*[A-Za-z0-9_-]+\.js$/.test(file)) {
      sources[file] ??= () => readFileSync(join(yamlDir(), file.slice('yaml/'.length)));
    } else if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*\.(html|js|css|json|svg)$/.test(file)) return undefined;
    const hit = cache.get(file);
    if (hit !== undefined) return hit;
    const ext = file.slice(file.lastIndexOf('.') + 1);
    let body: Buffer;
    try {
      const source = sources[file];
      const content = source === undefined ? readFileSync(`${staticDir}/${file}`) : source();
      body = typeof content === 'string' ? Buffer.from(content) : content;
    } catch {
      return undefined;
    }
    const entry = { body, type: TYPES[ext] ?? 'application/octet-stream' };
    cache.set(file, entry);
    return entry;
  };
}

function loadCountrySamples(): readonly CountrySample[] {
  try {
    return JSON.parse(
      readFileSync(packagePath('geo-data', 'console-countries.json'), 'utf8'),
    ) as CountrySample[];
  } catch {
    return [];
  }
}

/** Sums a counter's samples from Prometheus text by one label's value. */
export function sumByLabel(text: string, metric: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const line = new RegExp(`^${metric}\\{([^}]*)\\}\\s+([0-9.eE+-]+)`, 'gm');
  const labelPattern = new RegExp(`(?:^|,)${label}="((?:[^"\\\\]|\\\\.)*)"`);
  for (const m of text.matchAll(line)) {
    const value = labelPattern.exec(m[1] ?? '')?.[1];
    if (value === undefined) continue;
    out[value] = (out[value] ?? 0) + Number(m[2]);
  }
  return out;
}

export function consoleRoutes(deps: ConsoleRouteDeps): ApiRoute[] {
  const asset = assetLoader();
  const samples = loadCountrySamples();
  const serve = (file: string): ApiResponse => {
    const found = asset(file);
    if (found === undefined) throw notFound(`console file ${JSON.stringify(file)}`);
    return { headers: { ...SECURITY_HEADERS, 'content-type': found.type }, body: found.body };
  };

  /** Per country shape, the first region the steering decision answers for its sample address. */
  const countryChoices = (): { id: string; country: string; region: string | null; rule: string }[] => {
    const { explain } = deps;
    const balancedName = deps.balancedName?.();
    if (explain === undefined || balancedName === undefined) return [];
    return samples.map((s) => {
      try {
        const result = explain({ name: balancedName, client: s.sample, type: 'A' }) as {
          decision?: { regions?: readonly string[]; rule?: string };
        };
        return {
          id: s.id,
          country: s.country,
          region: result.decision?.regions?.[0] ?? null,
          rule: result.decision?.rule ?? '',
        };
      } catch (err) {
        return { id: s.id, country: s.country, region: null, rule: describeError(err) };
      }
    });
  };

  return [
    { method: 'GET', path: '/console', access: 'public', handler: () => serve('index.html') },
    {
      method: 'GET',
      path: '/console/:file',
      access: 'public',
      handler: (req) => serve(req.params.file ?? ''),
    },
    {
      method: 'GET',
      path: '/console/yaml/*',
      access: 'public',
      handler: (req) => serve(`yaml/${req.params['*'] ?? ''}`),
    },
    {
      method: 'GET',
      path: '/v1/console/overview',
      handler: () => {
        const now = deps.now();
        const snapshot = deps.snapshot();
        const regions = statusView(snapshot, now, deps.healthGraceUntil, deps.healthPolicy).map((entry) => {
          const r = snapshot.regions.get(entry.id);
          const at = r === undefined ? undefined : project(r.lon, r.lat);
          return { ...entry, lat: r?.lat, lon: r?.lon, ...(at ?? {}) };
        });
        return {
          headers: { 'cache-control': 'no-store' },
          body: { now, balancedName: deps.balancedName?.() ?? null, regions, countries: countryChoices() },
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/console/policy-hits',
      handler: async () => {
        const text = await deps.metrics();
        const wafRules = sumByLabel(text, 'meridian_policy_waf_matches_total', 'rule');
        const byPolicy: Record<string, number> = {};
        for (const [rule, n] of Object.entries(wafRules)) {
          const policy = rule.split('/')[0] ?? rule;
          byPolicy[policy] = (byPolicy[policy] ?? 0) + n;
        }
        return {
          headers: { 'cache-control': 'no-store' },
          body: {
            wafRules,
            wafByPolicy: byPolicy,
            decisions: sumByLabel(text, 'meridian_policy_decisions_total', 'action'),
          },
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/alerts/:id/acknowledge',
      handler: async (req) => {
        const id = req.params.id ?? '';
        if (!/^\d{1,16}-\d{1,10}$/.test(id))
          throw invalid('id', `expected an alert id such as 1733270000000-0, got ${JSON.stringify(id)}`);
        await deps.audit.record({
          actor: req.actor ?? 'api',
          action: 'alert.acknowledge',
          target: `alert/${id}`,
          ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
        });
        return { body: { acknowledged: id } };
      },
    },
  ];
}
