// The admin API: JSON over HTTP on fastify. Every route but /healthz and /v1/login needs
// authentication (auth/authenticator.ts) and declares the permission it needs beside its path
// (`on(…, access)` and ApiRoute.access); one hook per route checks both (auth/guard.ts) before the
// handler runs. Every error answer has the shape of MeridianError.toJSON() (403 is `E_FORBIDDEN`,
// 429 `E_RATE_LIMITED`); bad input never takes the server down. Region and backend writes pass a
// WriteContext (the actor, `token:config` or `user:<name>/token:<token name>`, and fastify's request
// id) to the store, which records the audit entry atomically with the change.
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import { LogController, fastify, type FastifyReply, type FastifyRequest } from 'fastify';
import { Counter, prometheusContentType, type Registry } from 'prom-client';
import { MeridianError, describeError, invalid, isMeridianError, notFound } from '../core/errors.js';
import { ipFamily, parseCidr } from '../core/ip.js';
import type { LifecycleState, Region, WriteContext } from '../core/types.js';
import {
  validateBackendInput,
  validateBackendPatch,
  validateRegionInput,
  validateRegionPatch,
} from '../core/validate.js';
import { LogLimiter } from '../infra/log-limiter.js';
import type { Logger } from '../infra/logger.js';
import { principalActor, type Principal } from '../core/access.js';
import type { AuditLog } from '../ops/audit.js';
import type { AccessStore } from '../storage/access-store.js';
import type { StateStore } from '../storage/state-store.js';
import { AuthThrottle, type AuthThrottleConfig } from './auth-throttle.js';
import { accessRoutes } from './auth/access-routes.js';
import { AccessDenied, Authenticator, CSRF_HEADER, Throttled } from './auth/authenticator.js';
import { authorize, defaultAccess, type RouteAccess } from './auth/guard.js';
import type { ApiRequest, ApiResponse, ApiRoute, HttpMethod } from './route.js';
import { loadTlsPair, watchTlsPair, type ApiTlsOptions } from '../infra/tls-files.js';
import { validateHealthReportBody } from './health-report.js';
import { regionDetail, regionHealthDetail, statusView, type HealthPolicyOf } from './views.js';

export interface ExplainQuery {
  name: string;
  client: string;
  ecs?: string;
  type: 'A' | 'AAAA';
}

export type { ApiRequest, ApiResponse, ApiRoute, HttpMethod } from './route.js';

export interface AdminApiOptions {
  listen: { host: string; port: number };
  store: StateStore;
  /** The bootstrap `admin` token (api.token / MERIDIAN_API_TOKEN). */
  token: string | undefined;
  /** Users and tokens; without it only the bootstrap token authenticates and the user routes are absent. */
  access?: AccessStore;
  /** Where user and token changes are audited. */
  audit?: AuditLog;
  /** `viewer`: /metrics needs a token with the `read` permission; default `none` (open). */
  metricsAuth?: 'none' | 'viewer';
  /** Lifetime of a login session (default 720 = 12 h). */
  sessionMinutes?: number;
  bodyLimitBytes: number;
  /** Serve HTTPS with this certificate and key, reloaded when the files change. */
  tls?: ApiTlsOptions;
  /** Failed authentications allowed per client address before its writes get 429 (default 10 per 60 s). */
  authFailures?: AuthThrottleConfig;
  logger: Logger;
  metrics: () => Promise<string>;
  explain?: (q: ExplainQuery) => unknown;
  extraRoutes?: readonly ApiRoute[];
  /** Records `meridian_api_requests_total` here when given. */
  registry?: Registry;
  /** Until this time (ms epoch) expired health reports count with their last value (see core/health.ts). */
  healthGraceUntil?: number;
  /** The region health rule per region (`dns.steering.health`); default: instant majority. */
  healthPolicy?: HealthPolicyOf;
  /** The HTTP status of a `degraded` /healthz (default 503; 200 for checkers that must not eject the node). */
  healthzDegradedStatus?: 200 | 503;
  /** Clock, for tests. */
  now?: () => number;
}

export interface AdminApi {
  close(): Promise<void>;
  readonly address: { host: string; port: number };
  /** `https://…` with TLS, else `http://…`. */
  readonly url: string;
  /** Every JSON route with the permission it needs (the route × role table test reads it). */
  readonly routes: readonly { method: HttpMethod; path: string; access: RouteAccess }[];
}

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

interface RouteEntry {
  access: RouteAccess;
  bodyLimitBytes?: number;
  handler: (req: ApiRequest) => ApiResponse | Promise<ApiResponse>;
}

function toMeridianError(err: unknown, bodyLimit: number): MeridianError {
  if (isMeridianError(err)) return err;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new MeridianError('E_TOO_LARGE', `request body is larger than the limit of ${bodyLimit} bytes`);
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new MeridianError('E_VALIDATION', describeError(err), { field: 'body' });
  }
  return new MeridianError('E_INTERNAL', 'internal error', { cause: err });
}

function stringParams(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

/** Query values: the first one when a key repeats. */
function queryParams(value: unknown): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string') out[k] = v;
      else if (Array.isArray(v) && typeof v[0] === 'string') out[k] = v[0];
    }
  }
  return out;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startAdminApi(options: AdminApiOptions): Promise<AdminApi> {
  const { store, bodyLimitBytes } = options;
  const log = options.logger.child({ component: 'api' });
  const now = options.now ?? Date.now;
  const graceUntil = options.healthGraceUntil ?? 0;
  const healthPolicy = options.healthPolicy ?? ((): undefined => undefined);
  const authenticator = new Authenticator({
    configToken: options.token,
    access: options.access,
    now,
    log,
  });
  const throttle = new AuthThrottle(options.authFailures ?? { burst: 10, perSeconds: 60 }, now);
  // A guessing client must not flood the log either: at most 10 lines per 10 s, the rest counted.
  const authLog = new LogLimiter(10, 10_000);
  const logAuth = (fields: Record<string, unknown>, message: string): void => {
    if (!authLog.allow(now())) return;
    log.warn({ ...fields, suppressed: authLog.suppressed }, message);
    authLog.suppressed = 0;
  };

  const requests =
    options.registry === undefined
      ? undefined
      : new Counter({
          name: 'meridian_api_requests_total',
          help: 'Admin API requests by method, route and status code',
          labelNames: ['method', 'route', 'status'] as const,
          registers: [options.registry],
        });

  // With TLS, fastify runs on an HTTPS server we create, so its certificate can be swapped later.
  const tlsPair = options.tls === undefined ? undefined : loadTlsPair(options.tls);
  const app = fastify({
    ...(tlsPair === undefined
      ? {}
      : {
          serverFactory: (handler: Parameters<typeof createHttpsServer>[1]) =>
            createHttpsServer(tlsPair, handler) as unknown as Server,
        }),
    loggerInstance: log,
    // No per-request log lines (the requests counter and our own error logs cover them); through the
    // log controller, as the top-level disableRequestLogging option is deprecated (FSTDEP023).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: bodyLimitBytes,
    routerOptions: { ignoreTrailingSlash: true },
    return503OnClosing: true,
    frameworkErrors: (err, _req, reply) => {
      const e = toMeridianError(err, bodyLimitBytes);
      // The option's generics do not resolve here; the reply is an ordinary FastifyReply.
      void (reply as unknown as FastifyReply).code(e.httpStatus).send(e.toJSON());
    },
  });

  // Every body is JSON whatever its content type; an empty body is "no body".
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(invalid('body', `invalid JSON: ${describeError(err)}`), undefined);
    }
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof AccessDenied) {
      void reply.code(403).send({ error: { code: err.code, message: err.message } });
      return;
    }
    if (err instanceof Throttled) {
      void reply
        .code(429)
        .header('retry-after', String(err.retryAfterSeconds))
        .send({ error: { code: err.code, message: err.message } });
      return;
    }
    const e = toMeridianError(err, bodyLimitBytes);
    if (e.code === 'E_INTERNAL')
      log.error({ err, method: req.method, url: req.url }, 'admin API request failed');
    else if (e.code === 'E_UNAVAILABLE')
      log.warn({ method: req.method, url: req.url, reason: e.message }, 'store unavailable');
    if (e.code === 'E_UNAUTHORIZED') void reply.header('www-authenticate', 'Bearer');
    void reply.code(e.httpStatus).send(e.toJSON());
  });

  app.setNotFoundHandler((req, reply) => {
    const e = new MeridianError('E_NOT_FOUND', `no such route: ${req.method} ${req.url.split('?')[0] ?? ''}`);
    void reply.code(404).send(e.toJSON());
  });

  if (requests !== undefined) {
    app.addHook('onResponse', (req, reply, done) => {
      requests.inc({
        method: req.method,
        route: req.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      });
      done();
    });
  }

  // ---- route table -------------------------------------------------------------------------
  const table = new Map<string, Map<HttpMethod, RouteEntry>>();
  const on = (
    method: HttpMethod,
    path: string,
    handler: RouteEntry['handler'],
    access: RouteAccess = defaultAccess(method),
    bodyLimit?: number,
  ): void => {
    let methods = table.get(path);
    if (methods === undefined) {
      methods = new Map();
      table.set(path, methods);
    }
    if (methods.has(method)) throw new Error(`admin API: duplicate route ${method} ${path}`);
    methods.set(
      method,
      bodyLimit === undefined ? { access, handler } : { access, handler, bodyLimitBytes: bodyLimit },
    );
  };

  const snapshot = () => store.current();
  const region = (id: string | undefined): Region => {
    const r = id === undefined ? undefined : snapshot().regions.get(id);
    if (r === undefined) throw notFound(`region ${JSON.stringify(id)}`);
    return r;
  };
  /** Who is writing: every mutating route runs behind the authentication hook, so `actor` is set. */
  const context = (req: ApiRequest): WriteContext => ({
    actor: req.actor ?? 'api',
    ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
  });
  const setRegionState = (state: LifecycleState) => async (req: ApiRequest) => ({
    body: await store.updateRegion(region(req.params.id).id, { state }, context(req)),
  });
  const setBackendState = (state: LifecycleState) => async (req: ApiRequest) => ({
    body: await store.updateBackend(
      region(req.params.id).id,
      req.params.backendId ?? '',
      { state },
      context(req),
    ),
  });

  // `degraded` (HTTP `healthzDegradedStatus`, default 503) while this node's state may be out of
  // date or cannot be changed: the store is unreachable, writes fail, health is frozen or the store
  // lost its data. The node still answers DNS and proxies from its last snapshot meanwhile.
  on(
    'GET',
    '/healthz',
    (): ApiResponse => {
      const status = store.status();
      const reasons = [...(status.degraded ?? [])];
      if (!status.connected && reasons.length === 0) reasons.push('the state store is disconnected');
      if (reasons.length === 0) return { body: { status: 'ok', store: status } };
      return {
        status: options.healthzDegradedStatus ?? 503,
        body: {
          status: 'degraded',
          reasons,
          store: status,
          ...new MeridianError('E_UNAVAILABLE', reasons.join('; ')).toJSON(),
        },
      };
    },
    'public',
  );

  on('GET', '/v1/regions', () => ({
    body: { regions: [...snapshot().regions.values()].sort((a, b) => a.id.localeCompare(b.id)) },
  }));
  on('POST', '/v1/regions', async (req) => ({
    status: 201,
    body: await store.createRegion(validateRegionInput(req.body), context(req)),
  }));
  on('GET', '/v1/regions/:id', (req) => ({
    body: regionDetail(snapshot(), region(req.params.id), now(), graceUntil, healthPolicy),
  }));
  on('PATCH', '/v1/regions/:id', async (req) => {
    const patch = validateRegionPatch(req.body);
    return { body: await store.updateRegion(region(req.params.id).id, patch, context(req)) };
  });
  on('DELETE', '/v1/regions/:id', async (req) => {
    await store.removeRegion(region(req.params.id).id, context(req));
    return {};
  });
  on('POST', '/v1/regions/:id/drain', setRegionState('draining'));
  on('POST', '/v1/regions/:id/undrain', setRegionState('active'));

  on('GET', '/v1/regions/:id/backends', (req) => {
    const r = region(req.params.id);
    const backends = [...(snapshot().backends.get(r.id)?.values() ?? [])].sort((a, b) =>
      a.id.localeCompare(b.id),
    );
    return { body: { backends } };
  });
  on('POST', '/v1/regions/:id/backends', async (req) => {
    const input = validateBackendInput(req.body);
    return { status: 201, body: await store.createBackend(region(req.params.id).id, input, context(req)) };
  });
  on('GET', '/v1/regions/:id/backends/:backendId', (req) => {
    const r = region(req.params.id);
    const b = snapshot()
      .backends.get(r.id)
      ?.get(req.params.backendId ?? '');
    if (b === undefined) throw notFound(`backend ${JSON.stringify(req.params.backendId)} in region ${r.id}`);
    return { body: b };
  });
  on('PATCH', '/v1/regions/:id/backends/:backendId', async (req) => {
    const patch = validateBackendPatch(req.body);
    return {
      body: await store.updateBackend(
        region(req.params.id).id,
        req.params.backendId ?? '',
        patch,
        context(req),
      ),
    };
  });
  on('DELETE', '/v1/regions/:id/backends/:backendId', async (req) => {
    await store.removeBackend(region(req.params.id).id, req.params.backendId ?? '', context(req));
    return {};
  });
  on('POST', '/v1/regions/:id/backends/:backendId/drain', setBackendState('draining'));
  on('POST', '/v1/regions/:id/backends/:backendId/undrain', setBackendState('active'));

  on('GET', '/v1/regions/:id/health', (req) => ({
    body: regionHealthDetail(snapshot(), region(req.params.id).id, now(), graceUntil, healthPolicy),
  }));
  on(
    'POST',
    '/v1/regions/:id/health',
    async (req) => {
      const id = region(req.params.id).id;
      const report = validateHealthReportBody(req.body, id, now());
      await store.reportHealth(report);
      return { body: report };
    },
    'report-health',
  );

  on('GET', '/v1/status', () => {
    const t = now();
    return {
      body: { now: t, store: store.status(), regions: statusView(snapshot(), t, graceUntil, healthPolicy) },
    };
  });

  on('GET', '/v1/explain', async (req) => {
    if (options.explain === undefined) {
      throw new MeridianError(
        'E_NOT_FOUND',
        'explain is not available: the DNS tier is not running on this node',
      );
    }
    const { name, client, ecs, type = 'A' } = req.query;
    if (name === undefined || name === '' || name.length > 253) throw invalid('name', 'expected a DNS name');
    if (client === undefined || ipFamily(client) === undefined) {
      throw invalid('client', `expected an IP address, got ${JSON.stringify(client ?? '')}`);
    }
    if (ecs !== undefined && parseCidr(ecs) === undefined) {
      throw invalid(
        'ecs',
        `expected a CIDR such as 198.51.100.0/24 (host bits zero), got ${JSON.stringify(ecs)}`,
      );
    }
    if (type !== 'A' && type !== 'AAAA')
      throw invalid('type', `expected A or AAAA, got ${JSON.stringify(type)}`);
    const result: unknown = await options.explain({
      name,
      client,
      type,
      ...(ecs === undefined ? {} : { ecs }),
    });
    return { body: result };
  });

  const routes: ApiRoute[] = [...(options.extraRoutes ?? [])];
  if (options.access !== undefined) {
    routes.push(
      ...accessRoutes({
        access: options.access,
        audit: options.audit,
        throttle,
        logFailure: logAuth,
        sessionMinutes: options.sessionMinutes ?? 720,
        secureCookies: options.tls !== undefined,
        now,
        log,
      }),
    );
  }
  for (const route of routes) on(route.method, route.path, route.handler, route.access, route.bodyLimitBytes);

  /**
   * The one check in front of every non-public route: throttled address → 429, no or bad
   * credentials → 401 (counted against the address), a missing permission → 403.
   */
  const principals = new WeakMap<FastifyRequest, Principal>();
  const guard =
    (access: RouteAccess, what: (req: FastifyRequest) => string) =>
    (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
      const retryAfter = throttle.retryAfterSeconds(req.ip);
      if (retryAfter > 0) {
        logAuth(
          { ip: req.ip, method: req.method, url: req.url, retryAfter },
          'admin API authentication throttled',
        );
        done(new Throttled(req.ip, retryAfter));
        return;
      }
      let principal: Principal;
      try {
        principal = authenticator.authenticate({
          method: req.method,
          authorization: req.headers.authorization,
          cookie: req.headers.cookie,
          csrf: typeof req.headers[CSRF_HEADER] === 'string' ? req.headers[CSRF_HEADER] : undefined,
        }).principal;
      } catch (err) {
        if (!(err instanceof AccessDenied)) {
          throttle.failed(req.ip);
          logAuth(
            { ip: req.ip, method: req.method, url: req.url, reason: describeError(err) },
            'admin API authentication failed',
          );
        }
        done(err as Error);
        return;
      }
      try {
        authorize(principal, access, stringParams(req.params), what(req));
      } catch (err) {
        logAuth(
          {
            ip: req.ip,
            method: req.method,
            url: req.url,
            actor: principalActor(principal),
            reason: describeError(err),
          },
          'admin API request forbidden',
        );
        done(err as Error);
        return;
      }
      principals.set(req, principal);
      done();
    };

  // ---- registration: each path gets its methods, plus a 405 for every other method ------------
  const run = async (entry: RouteEntry, req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const principal = principals.get(req);
    const res = await entry.handler({
      params: stringParams(req.params),
      query: queryParams(req.query),
      body: req.body,
      requestId: req.id,
      ip: req.ip,
      ...(principal === undefined ? {} : { principal, actor: principalActor(principal) }),
    });
    const status = res.status ?? (res.body === undefined ? 204 : 200);
    for (const [name, value] of Object.entries(res.headers ?? {})) void reply.header(name, value);
    if (res.body === undefined) await reply.code(status).send();
    else await reply.code(status).send(res.body);
  };

  for (const [path, methods] of table) {
    for (const [method, entry] of methods) {
      app.route({
        method,
        url: path,
        ...(entry.bodyLimitBytes === undefined ? {} : { bodyLimit: entry.bodyLimitBytes }),
        ...(entry.access === 'public'
          ? {}
          : { onRequest: guard(entry.access, (req) => `${req.method} ${path}`) }),
        handler: (req, reply) => run(entry, req, reply),
      });
    }
    const allowed = [...methods.keys()];
    if (allowed.includes('GET')) allowed.push('HEAD' as HttpMethod);
    const others = ALL_METHODS.filter((m) => !(allowed as string[]).includes(m));
    if (others.length > 0) {
      app.route({
        method: others,
        url: path,
        handler: async (req, reply) => {
          const e = new MeridianError(
            'E_VALIDATION',
            `method ${req.method} is not allowed on ${path}; use ${allowed.join(', ')}`,
          );
          await reply
            .code(405)
            .header('allow', allowed.join(', '))
            .send({ error: { ...e.toJSON().error, code: 'E_METHOD_NOT_ALLOWED' } });
        },
      });
    }
  }

  // /metrics is plain text, outside the JSON table; open unless `api.metricsAuth: viewer`.
  app.route({
    method: 'GET',
    url: '/metrics',
    ...(options.metricsAuth === 'viewer' ? { onRequest: guard('read', () => 'GET /metrics') } : {}),
    handler: async (_req, reply) => {
      const text = await options.metrics();
      await reply.header('content-type', prometheusContentType).send(text);
    },
  });
  app.route({
    method: ALL_METHODS.filter((m) => m !== 'GET' && m !== 'HEAD'),
    url: '/metrics',
    handler: async (req, reply) => {
      await reply
        .code(405)
        .header('allow', 'GET, HEAD')
        .send({
          error: {
            code: 'E_METHOD_NOT_ALLOWED',
            message: `method ${req.method} is not allowed on /metrics; use GET`,
          },
        });
    },
  });

  await app.listen({ host: options.listen.host, port: options.listen.port });
  const address = app.server.address() as AddressInfo;
  const bound = { host: address.address, port: address.port };
  const baseUrl = `${options.tls === undefined ? 'http' : 'https'}://${hostForUrl(bound.host)}:${bound.port}`;
  const stopWatching =
    options.tls === undefined
      ? () => undefined
      : watchTlsPair(options.tls, (pair) => (app.server as unknown as TlsServer).setSecureContext(pair), log);
  log.info(
    {
      url: baseUrl,
      bootstrapToken: options.token !== undefined,
      users: options.access?.current().users.size ?? 0,
    },
    'admin API listening',
  );

  let closing: Promise<void> | undefined;
  return {
    address: bound,
    url: baseUrl,
    routes: [...table].flatMap(([path, methods]) =>
      [...methods].map(([method, entry]) => ({ method, path, access: entry.access })),
    ),
    close: () => {
      stopWatching();
      closing ??= app.close();
      return closing;
    },
  };
}
