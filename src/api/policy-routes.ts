// Admin API routes for traffic policies, as `ApiRoute`s for `startAdminApi({ extraRoutes })`
// (src/api/server.ts): the server adds authentication and the permission check (reads need
// `read`, writes `write`: the defaults by method), the error JSON `{error:{code,message,field?}}`
// and the 405s.
//
//   GET    /v1/policies?type&region&enabled&client     → { policies: Policy[] }
//   POST   /v1/policies                  body Policy   → 201 Policy          (409 if the id exists)
//   GET    /v1/policies/export                         → { version: 1, policies: Policy[] }
//   POST   /v1/policies/import           body Policy[] or { policies, replace? } → ImportResult
//   GET    /v1/policies/:id                            → Policy
//   PATCH  /v1/policies/:id              body fields   → Policy
//   DELETE /v1/policies/:id                            → 204
//   POST   /v1/policies/:id/enable | /disable          → Policy
//   GET    /v1/quotas/:policyId/usage?key=             → QuotaUsage
//
// `region` lists the policies in force there (its own and the global ones); `client` takes an IP
// (WAF policies with a client_ip rule covering it) or a key spelling such as `header:x-api-key`.
// An import is validated as a whole: one bad entry answers 400 naming `policies[i].field` and
// nothing changes. Writes are audited when an audit log is given.
import { invalid } from '../core/errors.js';
import type { AuditLog } from '../ops/audit.js';
import { POLICY_TYPES, type PolicyType, type QuotaPolicy } from '../config/policy-schema.js';
import type { QuotaUsage } from '../storage/policy-store.js';
import type { Policy, PolicyFilter, PolicyStore } from '../storage/policy-store.js';
import type { ApiRequest, ApiResponse, ApiRoute } from './server.js';

export interface PolicyRouteDeps {
  readonly store: PolicyStore;
  /**
   * Reads quota usage: a `QuotaCounter` on the shared Redis (cluster-wide counts), or the proxy's
   * `engine.quotas` when the API runs in the same process as a proxy without Redis.
   */
  readonly quotas: { usage(policy: QuotaPolicy, key: string): Promise<QuotaUsage> };
  /** Audits the change; never throws. */
  readonly audit?: Pick<AuditLog, 'record'>;
}

const LIST_KEYS = new Set(['type', 'region', 'enabled', 'client']);

export function policyFilterFromQuery(query: Readonly<Record<string, string | undefined>>): PolicyFilter {
  for (const key of Object.keys(query)) {
    if (!LIST_KEYS.has(key)) throw invalid(key, `unknown parameter; expected ${[...LIST_KEYS].join(', ')}`);
  }
  const f: { -readonly [K in keyof PolicyFilter]: PolicyFilter[K] } = {};
  const { type, region, enabled, client } = query;
  if (type !== undefined && type !== '') {
    if (!(POLICY_TYPES as readonly string[]).includes(type)) {
      throw invalid('type', `expected one of ${POLICY_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
    }
    f.type = type as PolicyType;
  }
  if (region !== undefined && region !== '') f.region = region;
  if (enabled !== undefined && enabled !== '') {
    if (enabled !== 'true' && enabled !== 'false')
      throw invalid('enabled', `expected true or false, got ${JSON.stringify(enabled)}`);
    f.enabled = enabled === 'true';
  }
  if (client !== undefined && client !== '') f.client = client;
  return f;
}

/** Accepts `[...]` or `{ policies: [...], replace?: boolean }`. */
export function importBody(body: unknown): { policies: unknown[]; replace: boolean } {
  if (Array.isArray(body)) return { policies: body, replace: false };
  if (typeof body === 'object' && body !== null) {
    const b = body as Record<string, unknown>;
    for (const key of Object.keys(b)) {
      if (key !== 'policies' && key !== 'replace' && key !== 'version') throw invalid(key, 'unknown field');
    }
    if (!Array.isArray(b.policies)) throw invalid('policies', 'expected a list of policies');
    if (b.replace !== undefined && typeof b.replace !== 'boolean')
      throw invalid('replace', 'expected true or false');
    return { policies: b.policies, replace: b.replace === true };
  }
  throw invalid('body', 'expected a list of policies or {"policies": [...], "replace": false}');
}

export function policyRoutes(deps: PolicyRouteDeps): ApiRoute[] {
  const { store } = deps;
  const id = (req: ApiRequest): string => req.params.id ?? '';
  const audit = async (
    req: ApiRequest,
    action: string,
    target: string,
    before?: Policy,
    after?: unknown,
  ): Promise<void> => {
    if (deps.audit === undefined) return;
    await deps.audit.record({
      actor: req.actor ?? 'api',
      action,
      target,
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after }),
      ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
    });
  };
  const existing = (policyId: string): Policy | undefined => store.current().find((p) => p.id === policyId);
  const setEnabled =
    (enabled: boolean) =>
    async (req: ApiRequest): Promise<ApiResponse> => {
      const before = existing(id(req));
      const after = await store.setEnabled(id(req), enabled);
      await audit(req, enabled ? 'policy.enable' : 'policy.disable', `policy/${after.id}`, before, after);
      return { body: after };
    };

  return [
    {
      method: 'GET',
      path: '/v1/policies',
      handler: (req) => ({ body: { policies: store.list(policyFilterFromQuery(req.query)) } }),
    },
    {
      method: 'POST',
      path: '/v1/policies',
      handler: async (req) => {
        const created = await store.put(req.body);
        await audit(req, 'policy.create', `policy/${created.id}`, undefined, created);
        return { status: 201, body: created };
      },
    },
    {
      method: 'GET',
      path: '/v1/policies/export',
      handler: async () => ({ body: { version: 1, policies: await store.exportAll() } }),
    },
    {
      method: 'POST',
      path: '/v1/policies/import',
      handler: async (req) => {
        const { policies, replace } = importBody(req.body);
        const result = await store.importBatch(policies, { replace });
        await audit(req, 'policy.import', 'policy/*', undefined, { ...result, replace });
        return { body: result };
      },
    },
    { method: 'GET', path: '/v1/policies/:id', handler: (req) => ({ body: store.get(id(req)) }) },
    {
      method: 'PATCH',
      path: '/v1/policies/:id',
      handler: async (req) => {
        const before = existing(id(req));
        const after = await store.update(id(req), req.body);
        await audit(req, 'policy.update', `policy/${after.id}`, before, after);
        return { body: after };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/policies/:id',
      handler: async (req) => {
        const before = existing(id(req));
        await store.remove(id(req));
        await audit(req, 'policy.remove', `policy/${id(req)}`, before);
        return {};
      },
    },
    { method: 'POST', path: '/v1/policies/:id/enable', handler: setEnabled(true) },
    { method: 'POST', path: '/v1/policies/:id/disable', handler: setEnabled(false) },
    {
      method: 'GET',
      path: '/v1/quotas/:policyId/usage',
      handler: async (req) => {
        for (const key of Object.keys(req.query))
          if (key !== 'key') throw invalid(key, 'unknown parameter; expected key');
        const key = req.query.key;
        if (key === undefined || key === '')
          throw invalid('key', 'is required (the client key: an IP, a header value, a tenant)');
        const policy = store.get(req.params.policyId ?? '');
        if (policy.type !== 'quota')
          throw invalid('policyId', `policy ${policy.id} is a ${policy.type}, not a quota`);
        return { body: await deps.quotas.usage(policy, key) };
      },
    },
  ];
}
