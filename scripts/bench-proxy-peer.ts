// The Node proxies an operator would pick instead of Meridian, for scripts/bench-proxy.sh: the
// same backends, the same number of node:cluster workers, and the same affinity as Meridian's
// default (a backend chosen by the `meridian_affinity` cookie, here with a plain FNV-1a modulo —
// cheaper than a ring, so the peers are not handicapped).
//
//   --kind http-proxy   `http-proxy` (node-http-proxy) on node:http, a keep-alive agent per worker
//   --kind fastify      `@fastify/http-proxy` (undici, through @fastify/reply-from) on fastify
//
// Prints "ready" once every worker listens; SIGTERM/SIGINT stop it.
//
//   node --import tsx scripts/bench-proxy-peer.ts --kind http-proxy --listen 127.0.0.1:18094 \
//     --backends http://127.0.0.1:18081,http://127.0.0.1:18082 [--workers 2]
import cluster from 'node:cluster';
import http from 'node:http';
import { parseArgs } from 'node:util';
import fastifyHttpProxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import httpProxy from 'http-proxy';
import { parseHostPort } from '../src/config/primitives.js';

const { values } = parseArgs({
  options: {
    kind: { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:18094' },
    backends: { type: 'string' },
    workers: { type: 'string', default: '1' },
  },
});
const workers = Number(values.workers);
const backends = (values.backends ?? '').split(',').filter((u) => u !== '');
if (backends.length === 0) throw new Error('--backends url[,url...] is required');
const address = parseHostPort(values.listen);
if (address === undefined) throw new Error(`--listen: bad address ${values.listen}`);
const stop = (): void => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

/** The backend for a request: FNV-1a 32 of the affinity cookie's value, modulo the backends. */
function backendFor(cookie: string | undefined): string {
  const match = cookie === undefined ? null : /meridian_affinity=([^;]*)/.exec(cookie);
  const key = match?.[1] ?? '';
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return backends[(hash >>> 0) % backends.length] as string;
}

function ready(): void {
  if (cluster.isWorker) process.send?.('ready');
  else process.stdout.write('ready\n');
}

function serveHttpProxy(): void {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  const proxy = httpProxy.createProxyServer({ agent, xfwd: true });
  proxy.on('error', (_err, _req, res) => {
    if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    proxy.web(req, res, { target: backendFor(req.headers.cookie) });
  });
  server.listen(address!.port, address!.host, ready);
}

async function serveFastify(): Promise<void> {
  const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
  await app.register(fastifyHttpProxy, {
    upstream: backends[0] as string,
    undici: { connections: 128, pipelining: 1 },
    replyOptions: { getUpstream: (request) => backendFor(request.headers.cookie) },
  });
  await app.listen({ port: address!.port, host: address!.host });
  ready();
}

if (cluster.isPrimary && workers > 1) {
  let count = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (m) => {
      if (m === 'ready' && ++count === workers) process.stdout.write('ready\n');
    });
  }
} else if (values.kind === 'http-proxy') {
  serveHttpProxy();
} else if (values.kind === 'fastify') {
  await serveFastify();
} else {
  throw new Error(`--kind must be http-proxy or fastify, not ${values.kind ?? '(missing)'}`);
}
