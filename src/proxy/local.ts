// One complete proxy in this process: listeners (HTTP, and HTTPS with HTTP/2 + HTTP/1.1 by ALPN),
// the backend set followed live from the state store, backend health (active + passive), region
// health reports, metrics, and graceful shutdown. Runs in-process (`workers: 1`) or once in every
// node:cluster worker (where the store is a replica fed by the primary, whose `reportHealth` goes
// back to the primary over IPC).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { parseHostPort } from '../config/primitives.js';
import { describeError, MeridianError } from '../core/errors.js';
import type { Snapshot } from '../core/types.js';
import { LatencyWindow } from './health/latency.js';
import { RegionHealthReporter } from './health/reporter.js';
import { BackendHealthTracker } from './health/tracker.js';
import type { Logger } from '../infra/logger.js';
import { loadTlsPair, watchTlsPair } from '../infra/tls-files.js';
import { PolicyEngine } from './policy/engine.js';
import { ProxyEngine, type ProxyRequest } from './engine/engine.js';
import { createHttp1Server, type Http1Server } from './frontend/http1/server.js';
import { responseOnSocket } from './frontend/http1/socket-response.js';
import { NodeRequest, nodeClientError, nodeRequestHandler } from './frontend/node.js';
import type { ProxyAddress, ProxyOptions, ProxyService } from './types.js';
import { ProxyMetrics } from './metrics.js';

interface Listener {
  readonly protocol: 'http' | 'https';
  readonly server: Server | Http2SecureServer | Http1Server;
  readonly sockets: Set<Socket>;
  readonly sessions: Set<Http2Session>;
}

export async function startLocalProxy(options: ProxyOptions): Promise<ProxyService> {
  const { config, store, registry, reporterId } = options;
  const logger = options.logger.child({ component: 'proxy', region: config.region });
  const metrics = new ProxyMetrics(registry, config.region);
  const policySource = options.policies;
  const policies =
    policySource === undefined
      ? undefined
      : new PolicyEngine({
          store: policySource.store,
          regionId: config.region,
          keyPrefix: policySource.keyPrefix,
          logger,
          registry,
          ...(policySource.redis === undefined ? {} : { redis: policySource.redis }),
          ...(policySource.quotaPeriodMs === undefined ? {} : { quotaPeriodMs: policySource.quotaPeriodMs }),
        });
  const latency = new LatencyWindow();
  const listeners: Listener[] = [];

  // The tracker is built first and may report before the engine exists.
  const holder: { engine?: ProxyEngine } = {};
  const tracker = new BackendHealthTracker({
    check: config.health,
    outlier: config.outlier,
    logger,
    onChange: (id, healthy, reason) => {
      metrics.setHealthy(id, healthy);
      if (!healthy) metrics.ejected(id);
      logger.info({ backend: id, healthy, reason }, healthy ? 'backend healthy' : 'backend unhealthy');
      holder.engine?.refreshHealth();
    },
  });
  const eng = new ProxyEngine({
    config,
    logger,
    metrics,
    health: tracker,
    latency,
    policies,
    defaultPeerPort: () => {
      const configured = parseHostPort(config.listen[0] ?? '')?.port ?? 0;
      if (configured !== 0) return configured;
      const first = listeners.find((l) => l.protocol === 'http')?.server.address();
      return typeof first === 'object' && first !== null ? first.port : 0;
    },
  });
  holder.engine = eng;

  let lastMembers = '';
  const apply = (snapshot: Snapshot): void => {
    const backends = snapshot.backends.get(config.region);
    const signature =
      backends === undefined
        ? ''
        : [...backends.values()]
            .map((b) => `${b.id}\u0000${b.url}\u0000${b.weight}\u0000${b.state}`)
            .join('\u0001');
    if (signature === lastMembers) {
      eng.applyOther(snapshot);
      return;
    }
    lastMembers = signature;
    try {
      eng.applySnapshot(snapshot);
      const members = eng.members();
      tracker.setBackends(members);
      for (const b of members) metrics.setHealthy(b.id, tracker.isHealthy(b.id));
      eng.refreshHealth();
      logger.info({ backends: members.length, healthy: eng.healthyActive }, 'backend set updated');
    } catch (err) {
      logger.error({ err: describeError(err) }, 'cannot apply backend change; keeping the previous set');
    }
  };
  apply(store.current());
  const unsubscribe = store.onChange((snapshot) => apply(snapshot));

  const reporter = new RegionHealthReporter({
    store: options.healthSink ?? store,
    onResult: (ok) => metrics.healthReport(ok),
    regionId: config.region,
    reporterId,
    intervalMs: config.report.intervalMs,
    ttlMs: config.report.ttlMs,
    logger,
    collect: () => {
      latency.rotate(); // each report describes the time since the previous one
      return {
        healthyBackends: eng.closing ? 0 : eng.healthyActive,
        totalBackends: eng.activeCount,
        inFlight: eng.inFlight,
        requestRate: latency.rate(),
        p95LatencyMs: latency.p95(),
        backends: tracker.states(),
      };
    },
  });

  const timeouts = config.timeouts;
  // Upgrades: the answer (a rejection, or a backend's non-101) is written on the client's socket,
  // which closes after it; a 101 turns it into a tunnel. node:http's requests get the adapter.
  const upgrade = (req: ProxyRequest, socket: Duplex, head: Buffer, proto: 'http' | 'https'): void => {
    eng.handleUpgrade(req, responseOnSocket(socket, req), { socket, head }, proto);
  };
  const onNodeUpgrade =
    (proto: 'http' | 'https') =>
    (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      upgrade(new NodeRequest(req), socket, head, proto);
    };
  let fallbackLogged = false;
  const plainServer = (): Server | Http1Server => {
    if (config.http1Server === 'meridian') {
      const server = createHttp1Server(
        { idleMs: timeouts.clientIdleMs, headersMs: timeouts.clientHeadersMs, logger },
        (req, res) => eng.handle(req, res, 'http'),
        (req, socket, head) => upgrade(req, socket, head, 'http'),
      );
      if (typeof server !== 'string') return server;
      if (!fallbackLogged)
        logger.warn(
          { reason: server },
          "proxy.http1Server 'meridian' is not available here; using node:http",
        );
      fallbackLogged = true;
    }
    const server = createServer(
      {
        keepAliveTimeout: timeouts.clientIdleMs,
        headersTimeout: timeouts.clientHeadersMs,
        // How often node:http checks headersTimeout (default 30 s, far too coarse for short limits).
        connectionsCheckingInterval: Math.min(
          30_000,
          Math.max(100, Math.floor(timeouts.clientHeadersMs / 4)),
        ),
        requestTimeout: 0,
        // The engine answers a missing Host with a JSON 400, as with Meridian's front-end.
        requireHostHeader: false,
        noDelay: true,
      },
      nodeRequestHandler(eng, 'http', false),
    );
    server.keepAliveTimeout = timeouts.clientIdleMs;
    server.on('upgrade', onNodeUpgrade('http'));
    server.on('clientError', (err, socket) => nodeClientError(eng, err, socket, logger));
    return server;
  };
  let stopTlsWatch = (): void => {};
  try {
    for (const address of config.listen) {
      const hp = parseHostPort(address);
      if (hp === undefined) throw new MeridianError('E_CONFIG', `proxy.listen: bad address ${address}`);
      const server = plainServer();
      const listener: Listener = { protocol: 'http', server, sockets: new Set(), sessions: new Set() };
      trackSockets(server, 'connection', listener.sockets);
      await listen(server, hp.host, hp.port, logger);
      listeners.push(listener);
    }
    if (config.tls !== undefined) {
      const files = {
        certFile: options.resolvePath(config.tls.cert),
        keyFile: options.resolvePath(config.tls.key),
        reloadCheckMs: (config.tls.reloadCheckSeconds ?? 5) * 1000,
        setting: 'proxy.tls',
        server: 'proxy',
      };
      const { cert, key } = loadTlsPair(files);
      const secure: Http2SecureServer[] = [];
      // A renewed certificate is served to new connections without a restart (every worker watches).
      stopTlsWatch = watchTlsPair(files, (pair) => secure.forEach((s) => s.setSecureContext(pair)), logger);
      for (const address of config.tlsListen) {
        const hp = parseHostPort(address);
        if (hp === undefined) throw new MeridianError('E_CONFIG', `proxy.tlsListen: bad address ${address}`);
        const server = createSecureServer(
          { cert, key, allowHTTP1: true },
          nodeRequestHandler(eng, 'https', true),
        );
        server.setTimeout(timeouts.clientIdleMs);
        const listener: Listener = { protocol: 'https', server, sockets: new Set(), sessions: new Set() };
        server.on('upgrade', onNodeUpgrade('https'));
        server.on('session', (session: Http2Session) => {
          listener.sessions.add(session);
          session.on('error', (err) => logger.debug({ err: describeError(err) }, 'http2 session error'));
          session.once('close', () => listener.sessions.delete(session));
        });
        server.on('sessionError', (err) => logger.debug({ err: describeError(err) }, 'http2 session error'));
        server.on('tlsClientError', (err) =>
          logger.debug({ err: describeError(err) }, 'TLS handshake failed'),
        );
        secure.push(server);
        trackSockets(server, 'secureConnection', listener.sockets);
        await listen(server, hp.host, hp.port, logger);
        listeners.push(listener);
      }
    }
  } catch (err) {
    stopTlsWatch();
    for (const l of listeners) l.server.close();
    tracker.close();
    unsubscribe();
    policies?.close();
    await eng.close(Date.now());
    throw err;
  }
  reporter.start();
  logger.info({ addresses: addressesOf(listeners) }, 'proxy listening');

  let closing: Promise<void> | undefined;
  const close = async (graceMs: number): Promise<void> => {
    eng.closing = true;
    const deadline = Date.now() + graceMs;
    // First tell DNS: the final report says nothing here is healthy.
    const finalReport = reporter
      .close({ final: { healthyBackends: 0, inFlight: 0, requestRate: 0 } })
      .catch((err: unknown) => logger.warn({ err: describeError(err) }, 'final health report failed'));
    const closed = listeners.map(
      (l) =>
        new Promise<void>((resolve) => {
          l.server.close(() => resolve());
        }),
    );
    const closeIdle = (): void => {
      for (const l of listeners) {
        if (l.protocol === 'http') (l.server as Server | Http1Server).closeIdleConnections();
        for (const s of l.sessions) if (!s.closed) s.close();
      }
    };
    closeIdle();
    while (eng.inFlight > 0 && Date.now() < deadline) {
      await sleep(20);
      closeIdle();
    }
    if (eng.inFlight > 0)
      logger.warn({ inFlight: eng.inFlight }, 'grace period over; closing remaining requests');
    for (const l of listeners) {
      if (l.protocol === 'http') (l.server as Server | Http1Server).closeAllConnections();
      for (const s of l.sessions) s.destroy();
      for (const s of l.sockets) s.destroy();
    }
    stopTlsWatch();
    unsubscribe();
    tracker.close();
    policies?.close();
    await eng.close(Math.min(deadline, Date.now() + 1000));
    await finalReport;
    await Promise.race([Promise.all(closed), sleep(1000)]);
    logger.info('proxy closed');
  };

  return {
    close(opts = {}) {
      closing ??= close(opts.graceMs ?? 10000);
      return closing;
    },
    clustered: false,
    addresses: () => addressesOf(listeners),
    backendStates: () => tracker.states(),
    proxyMetrics: () => metrics.text(),
  };
}

function addressesOf(listeners: readonly Listener[]): ProxyAddress[] {
  const out: ProxyAddress[] = [];
  for (const l of listeners) {
    const a = l.server.address();
    if (a !== null && typeof a === 'object')
      out.push({ protocol: l.protocol, host: a.address, port: a.port });
  }
  return out;
}

function trackSockets(
  server: Server | Http2SecureServer | Http1Server,
  event: string,
  set: Set<Socket>,
): void {
  server.on(event, (socket: Socket) => {
    set.add(socket);
    socket.once('close', () => set.delete(socket));
  });
}

function listen(
  server: Server | Http2SecureServer | Http1Server,
  host: string,
  port: number,
  logger: Logger,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(new MeridianError('E_CONFIG', `cannot listen on ${host}:${port}: ${err.message}`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      server.on('error', (err) => logger.error({ err: describeError(err) }, 'listener error'));
      resolve();
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
