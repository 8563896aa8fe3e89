// The floor of scripts/bench-proxy.sh: the least a Node proxy built on undici can do per request
// on this machine. Meridian's HTTP/1.1 front-end (src/proxy/frontend/http1/) and one undici Pool per
// backend, requests spread round robin, response headers relayed as they are — and nothing else:
// no affinity ring, no X-Forwarded-*/X-Request-ID, no health, retries, metrics or policies.
// Meridian's full proxy cannot be faster than this; the gap between the two is the cost of its
// features. Prints "ready" once listening; SIGTERM/SIGINT stop it.
//
//   node --import tsx scripts/bench-proxy-floor.ts --listen 127.0.0.1:18093 \
//     --backends http://127.0.0.1:18081,http://127.0.0.1:18082 [--workers 2]
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { Pool, type Dispatcher } from 'undici';
import { parseHostPort } from '../src/config/primitives.js';
import { createLogger } from '../src/infra/logger.js';
import { createHttp1Server } from '../src/proxy/frontend/http1/server.js';
import type { Http1Response } from '../src/proxy/frontend/http1/message.js';

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1:18093' },
    backends: { type: 'string' },
    workers: { type: 'string', default: '1' },
  },
});
const workers = Number(values.workers);
const stop = (): void => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

if (cluster.isPrimary && workers > 1) {
  // The V8 flag Meridian's proxy workers run with (src/proxy/cluster.ts), so that meridian / floor
  // measures the features and not a GC setting.
  cluster.setupPrimary({ execArgv: [...process.execArgv, '--single-threaded-gc'] });
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (m) => {
      if (m === 'ready' && ++ready === workers) process.stdout.write('ready\n');
    });
  }
} else {
  const pools = (values.backends ?? '')
    .split(',')
    .filter((u) => u !== '')
    .map((u) => new Pool(u, { connections: 128, pipelining: 1 }));
  if (pools.length === 0) throw new Error('--backends url[,url...] is required');
  let next = 0;

  class Relay implements Dispatcher.DispatchHandler {
    constructor(private readonly res: Http1Response) {}
    onConnect(): void {}
    onHeaders(status: number, raw: Buffer[]): boolean {
      const headers: string[] = [];
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = (raw[i] as Buffer).toString('latin1');
        if (name.toLowerCase() === 'connection' || name.toLowerCase() === 'keep-alive') continue;
        headers.push(name, (raw[i + 1] as Buffer).toString('latin1'));
      }
      this.res.writeHead(status, headers);
      return true;
    }
    onData(chunk: Buffer): boolean {
      return this.res.write(chunk);
    }
    onComplete(): void {
      this.res.end();
    }
    onError(): void {
      if (this.res.headersSent) this.res.destroy();
      else this.res.writeHead(502, { 'content-length': 0 }).end();
    }
  }

  const server = createHttp1Server(
    { idleMs: 65_000, headersMs: 60_000, logger: createLogger('warn') },
    (req, res) => {
      const pool = pools[next++ % pools.length] as Pool;
      pool.dispatch(
        { path: req.url, method: req.method, headers: req.rawHeaders, body: null },
        new Relay(res),
      );
    },
    (_req, socket) => socket.destroy(),
  );
  if (typeof server === 'string') throw new Error(server);
  const address = parseHostPort(values.listen);
  if (address === undefined) throw new Error(`--listen: bad address ${values.listen}`);
  server.listen(address.port, address.host, () => {
    if (cluster.isWorker) process.send?.('ready');
    else process.stdout.write('ready\n');
  });
}
