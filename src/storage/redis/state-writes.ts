// The state store's writes on Redis: building and validating the new record, the audit entry when
// the write has a WriteContext, and the compare-and-set retry loop for updates and audited removes
// (they compare-and-delete what they read, so the audit's `before` is exactly what went). Running
// the script and applying its reply is the store's part (`mutate`, in state-store.ts).
import type {
  Backend,
  BackendInput,
  BackendPatch,
  ChangeEvent,
  HealthReport,
  Region,
  RegionInput,
  RegionPatch,
  WriteContext,
} from '../../core/types.js';
import { MeridianError, describeError, notFound } from '../../core/errors.js';
import { assertId } from '../../core/validate.js';
import { auditEntry, backendTarget, checkContext, patchVerb, regionTarget } from '../audit.js';
import {
  buildBackend,
  HEALTH_RETENTION_MS,
  buildRegion,
  patchBackend,
  patchRegion,
  reviveBackend,
  reviveRegion,
  validateHealthReport,
} from '../state-records.js';
import type { RedisKeys } from './state-keys.js';
import { unavailable } from './state-connection.js';
import {
  CREATE_BACKEND,
  CREATE_REGION,
  REMOVE_BACKEND,
  REMOVE_REGION,
  REPORT_HEALTH,
  UPDATE_BACKEND,
  UPDATE_REGION,
  type Script,
} from './state-scripts.js';

/** A compare-and-set that keeps losing against concurrent writes gives up after this many tries. */
const MAX_CAS_ATTEMPTS = 10;

/** What the writes need from the store. */
export interface WritePort {
  readonly keys: RedisKeys;
  now(): number;
  /** Reads one hash field for a compare-and-set (fails with E_UNAVAILABLE when writes cannot reach Redis). */
  hget(key: string, field: string): Promise<string | null>;
  /**
   * Runs a region write script and applies the region's new state locally.
   * @returns false when a compare-and-set lost against a concurrent write (the caller retries).
   */
  mutate(
    regionId: string,
    script: Script,
    args: (string | number)[],
    event: ChangeEvent,
    /** The audit entry JSON for the stream; '' = not audited. */
    audit?: string,
  ): Promise<boolean>;
}

/** A stored record as the audit log's `before`: its JSON value (the raw text if it is not JSON). */
function storedValue(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/** The StateStore writes on Redis, one script each (see state-scripts.ts). */
export class RedisStateWrites {
  constructor(private readonly port: WritePort) {}

  async createRegion(input: RegionInput, context?: WriteContext): Promise<Region> {
    const ctx = checkContext(context);
    const region = buildRegion(input, this.date());
    const audit =
      ctx === undefined
        ? ''
        : JSON.stringify(auditEntry(ctx, 'region', 'create', regionTarget(region.id), null, region));
    await this.port.mutate(
      region.id,
      CREATE_REGION,
      [JSON.stringify(region)],
      { kind: 'region', regionId: region.id, id: region.id, op: 'upsert' },
      audit,
    );
    return region;
  }

  async updateRegion(id: string, patch: RegionPatch, context?: WriteContext): Promise<Region> {
    const ctx = checkContext(context);
    assertId(id, 'regionId');
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const raw = await this.port.hget(this.port.keys.regions, id);
      if (raw === null) throw notFound(`region ${id}`);
      const before = this.revive(raw, reviveRegion, `region ${id}`);
      const next = patchRegion(before, patch, this.date());
      const audit =
        ctx === undefined
          ? ''
          : JSON.stringify(auditEntry(ctx, 'region', patchVerb(patch), regionTarget(id), before, next));
      const done = await this.port.mutate(
        id,
        UPDATE_REGION,
        [raw, JSON.stringify(next)],
        { kind: 'region', regionId: id, id, op: 'upsert' },
        audit,
      );
      if (done) return next;
    }
    throw unavailable(`region ${id} kept changing during the update; try again`);
  }

  async removeRegion(id: string, context?: WriteContext): Promise<void> {
    const ctx = checkContext(context);
    assertId(id, 'regionId');
    const event: ChangeEvent = { kind: 'region', regionId: id, id, op: 'delete' };
    if (ctx === undefined) {
      await this.port.mutate(id, REMOVE_REGION, [''], event);
      return;
    }
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const raw = await this.port.hget(this.port.keys.regions, id);
      if (raw === null) throw notFound(`region ${id}`);
      const audit = auditEntry(ctx, 'region', 'remove', regionTarget(id), storedValue(raw), null);
      if (await this.port.mutate(id, REMOVE_REGION, [raw], event, JSON.stringify(audit))) return;
    }
    throw unavailable(`region ${id} kept changing during the removal; try again`);
  }

  async createBackend(regionId: string, input: BackendInput, context?: WriteContext): Promise<Backend> {
    const ctx = checkContext(context);
    const backend = buildBackend(regionId, input, this.date());
    const audit =
      ctx === undefined
        ? ''
        : JSON.stringify(
            auditEntry(ctx, 'backend', 'create', backendTarget(regionId, backend.id), null, backend),
          );
    await this.port.mutate(
      regionId,
      CREATE_BACKEND,
      [backend.id, JSON.stringify(backend)],
      { kind: 'backend', regionId, id: backend.id, op: 'upsert' },
      audit,
    );
    return backend;
  }

  async updateBackend(
    regionId: string,
    id: string,
    patch: BackendPatch,
    context?: WriteContext,
  ): Promise<Backend> {
    const ctx = checkContext(context);
    assertId(regionId, 'regionId');
    assertId(id, 'backendId');
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const [region, raw] = await Promise.all([
        this.port.hget(this.port.keys.regions, regionId),
        this.port.hget(this.port.keys.backends(regionId), id),
      ]);
      if (region === null) throw notFound(`region ${regionId}`);
      if (raw === null) throw notFound(`backend ${id} in region ${regionId}`);
      const before = this.revive(raw, reviveBackend, `backend ${regionId}/${id}`);
      const next = patchBackend(before, patch, this.date());
      const audit =
        ctx === undefined
          ? ''
          : JSON.stringify(
              auditEntry(ctx, 'backend', patchVerb(patch), backendTarget(regionId, id), before, next),
            );
      const done = await this.port.mutate(
        regionId,
        UPDATE_BACKEND,
        [id, raw, JSON.stringify(next)],
        { kind: 'backend', regionId, id, op: 'upsert' },
        audit,
      );
      if (done) return next;
    }
    throw unavailable(`backend ${regionId}/${id} kept changing during the update; try again`);
  }

  async removeBackend(regionId: string, id: string, context?: WriteContext): Promise<void> {
    const ctx = checkContext(context);
    assertId(regionId, 'regionId');
    assertId(id, 'backendId');
    const event: ChangeEvent = { kind: 'backend', regionId, id, op: 'delete' };
    if (ctx === undefined) {
      await this.port.mutate(regionId, REMOVE_BACKEND, [id, ''], event);
      return;
    }
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const [region, raw] = await Promise.all([
        this.port.hget(this.port.keys.regions, regionId),
        this.port.hget(this.port.keys.backends(regionId), id),
      ]);
      if (region === null) throw notFound(`region ${regionId}`);
      if (raw === null) throw notFound(`backend ${id} in region ${regionId}`);
      const target = backendTarget(regionId, id);
      const audit = auditEntry(ctx, 'backend', 'remove', target, storedValue(raw), null);
      if (await this.port.mutate(regionId, REMOVE_BACKEND, [id, raw], event, JSON.stringify(audit))) return;
    }
    throw unavailable(`backend ${regionId}/${id} kept changing during the removal; try again`);
  }

  async reportHealth(report: HealthReport): Promise<void> {
    const valid = validateHealthReport(report);
    const cutoff = this.port.now() - HEALTH_RETENTION_MS;
    await this.port.mutate(valid.regionId, REPORT_HEALTH, [valid.reporterId, JSON.stringify(valid), cutoff], {
      kind: 'health',
      regionId: valid.regionId,
      id: valid.reporterId,
      op: 'upsert',
    });
  }

  private date(): Date {
    return new Date(this.port.now());
  }

  private revive<T>(raw: string, revive: (x: unknown) => T, what: string): T {
    try {
      return revive(JSON.parse(raw));
    } catch (err) {
      throw new MeridianError('E_INTERNAL', `${what} stored in Redis is invalid: ${describeError(err)}`);
    }
  }
}
