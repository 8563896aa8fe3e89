// What an admin API route is: its method, path, the permission it needs and its handler, plus the
// request and response shapes handlers see. Apart from server.ts so routes modules (auth/, ops,
// policies) and the server share them without importing each other.
import type { Principal } from '../core/access.js';
import type { RouteAccess } from './auth/guard.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ApiRequest {
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly body: unknown;
  /** On authenticated routes: who wrote (`token:config`, `user:<name>/token:<token name>`), never the token or its hash. */
  readonly actor?: string;
  /** On authenticated routes: the caller, with its roles. */
  readonly principal?: Principal;
  /** The client's address (throttling of failed logins). */
  readonly ip?: string;
  /** fastify's request id, for correlating logs and audit records. */
  readonly requestId?: string;
}

export interface ApiResponse {
  /** Default 200 (204 when `body` is undefined). */
  readonly status?: number;
  readonly body?: unknown;
  /** Extra response headers (e.g. `set-cookie` on login). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A route another component adds (e.g. the proxy tier's own views). Errors it throws are mapped like ours. */
export interface ApiRoute {
  readonly method: HttpMethod;
  /** fastify path syntax, e.g. `/v1/proxy/:regionId/stats`. */
  readonly path: string;
  /** The permission it needs (default: `read` for GET, `write` otherwise); `public` needs no authentication. */
  readonly access?: RouteAccess;
  /** A larger request body limit than `api.bodyLimitBytes` for this route (e.g. a backup restore). */
  readonly bodyLimitBytes?: number;
  readonly handler: (req: ApiRequest) => ApiResponse | Promise<ApiResponse>;
}
