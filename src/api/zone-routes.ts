// Admin API routes for DNS zones, their static records and balanced names (the zone store, which
// every DNS node serves from within a second). Reads need `read`; changes need `manage-zones`
// (admin and operator). Every change bumps the zone's SOA serial and answers the whole zone after it.
//
//   GET    /v1/zones                                  → { zones: [{ name, serial, records, balanced }] }
//   POST   /v1/zones                    body Zone      → 201 Zone        (409 if it exists)
//   GET    /v1/zones/:zone                            → Zone
//   PATCH  /v1/zones/:zone              body fields    → Zone            (ttl, soa (merged), ns, records (all replaced), transfer)
//   DELETE /v1/zones/:zone                            → 204
//   GET    /v1/zones/:zone/records?name&type          → { records: [{ name, type, ttl, values }] }
//   POST   /v1/zones/:zone/records      {name,type,values|value,ttl?} → 201 Zone (values added to the RRset)
//   PUT    /v1/zones/:zone/records/:name/:type  {values|value, ttl?} → Zone (the RRset replaced)
//   DELETE /v1/zones/:zone/records/:name/:type?value=  → 204 (one value, or the whole RRset)
//   POST   /v1/zones/:zone/names        body BalancedName → 201 Zone
//   PATCH  /v1/zones/:zone/names/:name  body fields    → Zone
//   DELETE /v1/zones/:zone/names/:name                → 204
//
// Bad input answers 400 naming the field (record outside the zone, CNAME beside other data, MX
// target not a host name, TTL range, CAA syntax, duplicate value) and nothing changes. Changes are
// audited (`zone.*`, `record.*`, `name.*`) when an audit log is given.
//
// A signed zone's `dnssec` block (its keys) is kept by every edit here but set only by the DNSSEC
// routes (dnssec-routes.ts): POST and PATCH refuse a `dnssec` field. Every zone this file answers
// with, or audits, goes through `zoneView` (storage/zone-store.ts), which leaves out the keys' private halves (sealed as
// they are, they still have no business in a response, an export or an audit entry).
import { ownerName } from '../core/dns-names.js';
import { invalid } from '../core/errors.js';
import type { AuditLog } from '../ops/audit.js';
import {
  addBalanced,
  addRecord,
  parseRecordInput,
  removeBalanced,
  removeRecord,
  replaceRecord,
  updateBalanced,
  zoneView,
  type ZoneConfig,
  type ZoneStore,
} from '../storage/zone-store.js';
import type { ApiRequest, ApiRoute } from './route.js';

export interface ZoneRouteDeps {
  readonly store: ZoneStore;
  /** Audits the change; never throws. */
  readonly audit?: Pick<AuditLog, 'record'>;
}

const DNSSEC_FIELD_MESSAGE =
  'is managed by `meridian dnssec enable|rollover|disable` (/v1/zones/:zone/dnssec), not set with the zone';

/**
 * `records` replaces every static record at once (`meridian zone import --replace`); `transfer`
 * replaces the zone's transfer settings (allow, notify, tsigKey).
 */
const ZONE_PATCH_FIELDS = new Set(['ttl', 'soa', 'ns', 'records', 'transfer']);

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('body', 'expected a JSON object');
  return body as Record<string, unknown>;
}

/** The zone's static records, one entry per RRset, absolute owner names. */
export function recordSets(
  zone: ZoneConfig,
): { name: string; type: string; ttl: number; values: string[] }[] {
  const sets = new Map<string, { name: string; type: string; ttl: number; values: string[] }>();
  for (const r of zone.records) {
    const name = ownerName(r.name, zone.name);
    const key = `${name}/${r.type}`;
    let set = sets.get(key);
    if (set === undefined) sets.set(key, (set = { name, type: r.type, ttl: r.ttl ?? zone.ttl, values: [] }));
    set.values.push(...r.values);
  }
  return [...sets.values()].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : a.type < b.type ? -1 : 1,
  );
}

export function zoneRoutes(deps: ZoneRouteDeps): ApiRoute[] {
  const { store } = deps;
  const zoneOf = (req: ApiRequest): string => req.params.zone ?? '';
  const audit = async (
    req: ApiRequest,
    action: string,
    target: string,
    before: unknown,
    after: unknown,
  ): Promise<void> => {
    await deps.audit?.record({
      actor: req.actor ?? 'api',
      action,
      target,
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after }),
      ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
    });
  };
  const setOf = (zone: ZoneConfig, name: string, type: string): unknown =>
    recordSets(zone).find((s) => s.name === ownerName(name, zone.name) && s.type === type.toUpperCase()) ??
    null;
  const nameOf = (zone: ZoneConfig, name: string): unknown =>
    zone.balanced.find((b) => ownerName(b.name, zone.name) === ownerName(name, zone.name)) ?? null;

  return [
    {
      method: 'GET',
      path: '/v1/zones',
      handler: () => ({
        body: {
          zones: store.current().map((z) => ({
            name: z.name,
            serial: z.soa.serial,
            records: recordSets(z).length,
            balanced: z.balanced.length,
          })),
        },
      }),
    },
    {
      method: 'POST',
      path: '/v1/zones',
      access: 'manage-zones',
      handler: async (req) => {
        if (objectBody(req.body).dnssec !== undefined) throw invalid('dnssec', DNSSEC_FIELD_MESSAGE);
        const created = zoneView(await store.create(req.body));
        await audit(req, 'zone.create', `zone/${created.name}`, undefined, created);
        return { status: 201, body: created };
      },
    },
    {
      method: 'GET',
      path: '/v1/zones/:zone',
      handler: (req) => ({ body: zoneView(store.get(zoneOf(req))) }),
    },
    {
      method: 'PATCH',
      path: '/v1/zones/:zone',
      access: 'manage-zones',
      handler: async (req) => {
        const patch = objectBody(req.body);
        if (patch.dnssec !== undefined) throw invalid('dnssec', DNSSEC_FIELD_MESSAGE);
        for (const key of Object.keys(patch))
          if (!ZONE_PATCH_FIELDS.has(key))
            throw invalid(
              key,
              `cannot be patched; expected ${[...ZONE_PATCH_FIELDS].join(', ')} (names have their own routes)`,
            );
        const before = store.get(zoneOf(req));
        const after = await store.change(zoneOf(req), (z) => ({
          ...z,
          ...patch,
          soa: { ...z.soa, ...(patch.soa === undefined ? {} : objectBody(patch.soa)) },
        }));
        await audit(
          req,
          'zone.update',
          `zone/${after.name}`,
          {
            ttl: before.ttl,
            soa: before.soa,
            ns: before.ns,
            ...('records' in patch ? { records: before.records } : {}),
          },
          {
            ttl: after.ttl,
            soa: after.soa,
            ns: after.ns,
            ...('records' in patch ? { records: after.records } : {}),
          },
        );
        return { body: zoneView(after) };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/zones/:zone',
      access: 'manage-zones',
      handler: async (req) => {
        const before = store.get(zoneOf(req));
        await store.remove(before.name);
        await audit(req, 'zone.remove', `zone/${before.name}`, zoneView(before), undefined);
        return {};
      },
    },
    {
      method: 'GET',
      path: '/v1/zones/:zone/records',
      handler: (req) => {
        for (const key of Object.keys(req.query))
          if (key !== 'name' && key !== 'type') throw invalid(key, 'unknown parameter; expected name, type');
        const zone = store.get(zoneOf(req));
        const { name, type } = req.query;
        const owner = name === undefined || name === '' ? undefined : ownerName(name, zone.name);
        return {
          body: {
            records: recordSets(zone).filter(
              (s) =>
                (owner === undefined || s.name === owner) &&
                (type === undefined || type === '' || s.type === type.toUpperCase()),
            ),
          },
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/zones/:zone/records',
      access: 'manage-zones',
      handler: async (req) => {
        const rec = parseRecordInput(req.body);
        const before = store.get(zoneOf(req));
        const after = await store.change(zoneOf(req), (z) => addRecord(z, rec));
        const target = `record/${after.name}/${ownerName(rec.name, after.name)}/${rec.type}`;
        await audit(
          req,
          'record.add',
          target,
          setOf(before, rec.name, rec.type),
          setOf(after, rec.name, rec.type),
        );
        return { status: 201, body: zoneView(after) };
      },
    },
    {
      method: 'PUT',
      path: '/v1/zones/:zone/records/:name/:type',
      access: 'manage-zones',
      handler: async (req) => {
        const body = objectBody(req.body);
        for (const key of ['name', 'type'])
          if (body[key] !== undefined) throw invalid(key, 'comes from the path; leave it out of the body');
        const rec = parseRecordInput({
          ...body,
          name: req.params.name ?? '',
          type: (req.params.type ?? '').toUpperCase(),
        });
        const before = store.get(zoneOf(req));
        const after = await store.change(zoneOf(req), (z) => replaceRecord(z, rec));
        const target = `record/${after.name}/${ownerName(rec.name, after.name)}/${rec.type}`;
        await audit(
          req,
          'record.update',
          target,
          setOf(before, rec.name, rec.type),
          setOf(after, rec.name, rec.type),
        );
        return { body: zoneView(after) };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/zones/:zone/records/:name/:type',
      access: 'manage-zones',
      handler: async (req) => {
        for (const key of Object.keys(req.query))
          if (key !== 'value') throw invalid(key, 'unknown parameter; expected value');
        const name = req.params.name ?? '';
        const type = (req.params.type ?? '').toUpperCase();
        const value = req.query.value === '' ? undefined : req.query.value;
        const before = store.get(zoneOf(req));
        const after = await store.change(zoneOf(req), (z) => removeRecord(z, name, type, value));
        await audit(
          req,
          'record.remove',
          `record/${after.name}/${ownerName(name, after.name)}/${type}`,
          setOf(before, name, type),
          setOf(after, name, type),
        );
        return {};
      },
    },
    {
      method: 'POST',
      path: '/v1/zones/:zone/names',
      access: 'manage-zones',
      handler: async (req) => {
        const rawName = objectBody(req.body).name;
        const name = typeof rawName === 'string' ? rawName : '';
        const after = await store.change(zoneOf(req), (z) => addBalanced(z, req.body));
        await audit(
          req,
          'name.add',
          `name/${after.name}/${ownerName(name, after.name)}`,
          undefined,
          nameOf(after, name),
        );
        return { status: 201, body: zoneView(after) };
      },
    },
    {
      method: 'PATCH',
      path: '/v1/zones/:zone/names/:name',
      access: 'manage-zones',
      handler: async (req) => {
        const name = req.params.name ?? '';
        const before = store.get(zoneOf(req));
        const after = await store.change(zoneOf(req), (z) => updateBalanced(z, name, req.body));
        await audit(
          req,
          'name.update',
          `name/${after.name}/${ownerName(name, after.name)}`,
          nameOf(before, name),
          nameOf(after, name),
        );
        return { body: zoneView(after) };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/zones/:zone/names/:name',
      access: 'manage-zones',
      handler: async (req) => {
        const name = req.params.name ?? '';
        const before = store.get(zoneOf(req));
        const after = await store.change(zoneOf(req), (z) => removeBalanced(z, name));
        await audit(
          req,
          'name.remove',
          `name/${after.name}/${ownerName(name, after.name)}`,
          nameOf(before, name),
          undefined,
        );
        return {};
      },
    },
  ];
}
