// The Kubernetes actuator: sets `spec.replicas` of a Deployment or StatefulSet through its scale
// subresource, over plain HTTPS (undici; no client library needed for two calls):
//   GET   /apis/apps/v1/namespaces/<ns>/<deployments|statefulsets>/<name>/scale
//   PATCH the same path, `Content-Type: application/merge-patch+json`,
//         body {"metadata":{"resourceVersion":"<from the GET>"},"spec":{"replicas":N}}
// The resourceVersion makes the PATCH conditional: if someone changed the scale in between, the API
// server answers 409 and the actuator reads it again and retries (up to 3 times). Authenticated with
// the pod's service-account token (re-read from its file on every call: projected tokens rotate),
// the API server's certificate checked against the service-account CA file. The service account
// needs `get` and `patch` on `<kind>/scale` in the namespace (RBAC). A 401/403/404 fails with a
// message saying what to fix. Its `current()` reads the scale, so the autoscaler counts replicas.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { MeridianError, describeError } from '../../../core/errors.js';
import { actuatorKind } from '../actuator.js';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

const schema = z.strictObject({
  /** The API server; default the in-cluster address. */
  apiServer: z
    .url({ protocol: /^https$/, message: 'expected an https URL' })
    .default('https://kubernetes.default.svc'),
  namespace: z.string().regex(NAME, { message: 'expected a Kubernetes namespace name' }),
  kind: z.enum(['deployment', 'statefulset']).default('deployment'),
  name: z.string().regex(NAME, { message: 'expected a Kubernetes object name' }),
  tokenFile: z.string().min(1).default(`${SA_DIR}/token`),
  caFile: z.string().min(1).default(`${SA_DIR}/ca.crt`),
  timeoutMs: z.number().int().positive().max(60_000).default(5000),
});

interface Scale {
  readonly metadata?: { readonly resourceVersion?: string };
  readonly spec?: { readonly replicas?: number };
  readonly status?: { readonly replicas?: number };
}

const MAX_CONFLICTS = 3;

export const kubernetesActuator = actuatorKind({
  schema,
  create(options, context) {
    const caFile = context.resolvePath(options.caFile);
    const tokenFile = context.resolvePath(options.tokenFile);
    let ca: Buffer;
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new MeridianError(
        'E_CONFIG',
        `kubernetes actuator: cannot read caFile ${caFile}: ${describeError(err)}`,
        {
          field: 'caFile',
        },
      );
    }
    const agent = new Agent({ connect: { ca }, connections: 2, keepAliveTimeout: 10_000 });
    const plural = options.kind === 'deployment' ? 'deployments' : 'statefulsets';
    const path = `/apis/apps/v1/namespaces/${options.namespace}/${plural}/${options.name}/scale`;
    const url = new URL(path, options.apiServer).toString();
    const what = `${options.kind} ${options.namespace}/${options.name}`;

    const call = async (
      method: 'GET' | 'PATCH',
      signal: AbortSignal,
      body?: unknown,
    ): Promise<{ status: number; scale: Scale | undefined; text: string }> => {
      let token: string;
      try {
        token = (await readFile(tokenFile, 'utf8')).trim();
      } catch (err) {
        throw new Error(`cannot read the service-account token ${tokenFile}: ${describeError(err)}`);
      }
      const res = await request(url, {
        method,
        headers: {
          accept: 'application/json',
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/merge-patch+json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs)]),
        dispatcher: agent,
      });
      const text = await res.body.text();
      let scale: Scale | undefined;
      try {
        scale = JSON.parse(text) as Scale;
      } catch {
        scale = undefined;
      }
      return { status: res.statusCode, scale, text };
    };

    const fail = (method: string, status: number, text: string): Error => {
      const detail = (() => {
        try {
          const m = (JSON.parse(text) as { message?: unknown }).message;
          return typeof m === 'string' ? `: ${m}` : '';
        } catch {
          return '';
        }
      })();
      const hint =
        status === 401
          ? `the API server refused the service-account token (${tokenFile})`
          : status === 403
            ? `the service account may not ${method === 'GET' ? 'get' : 'patch'} ${plural}/scale in namespace ${options.namespace} (RBAC)`
            : status === 404
              ? `${what} not found`
              : `${method} ${what}/scale answered HTTP ${status}`;
      return new Error(`kubernetes: ${hint} (HTTP ${status})${detail}`);
    };

    const read = async (signal: AbortSignal): Promise<{ replicas: number; resourceVersion?: string }> => {
      const res = await call('GET', signal);
      if (res.status !== 200) throw fail('GET', res.status, res.text);
      const replicas = res.scale?.spec?.replicas;
      if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
        throw new Error(`kubernetes: the scale of ${what} has no spec.replicas`);
      }
      const rv = res.scale?.metadata?.resourceVersion;
      return rv === undefined ? { replicas } : { replicas, resourceVersion: rv };
    };

    return {
      type: 'kubernetes',
      current: async (signal) => (await read(signal)).replicas,
      async scale(req, signal) {
        for (let n = 1; n <= MAX_CONFLICTS; n++) {
          const now = await read(signal);
          if (now.replicas === req.desired) return `${what} already has ${req.desired} replica(s)`;
          const res = await call('PATCH', signal, {
            ...(now.resourceVersion === undefined
              ? {}
              : { metadata: { resourceVersion: now.resourceVersion } }),
            spec: { replicas: req.desired },
          });
          if (res.status === 200) return `${what} scaled from ${now.replicas} to ${req.desired} replica(s)`;
          if (res.status !== 409) throw fail('PATCH', res.status, res.text);
        }
        throw new Error(`kubernetes: ${what}/scale kept changing under us (HTTP 409 ${MAX_CONFLICTS} times)`);
      },
      close: () => agent.destroy().catch(() => undefined),
    };
  },
});
