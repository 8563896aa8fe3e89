// `meridian serve`: builds every component of one node from the configuration, in order, and closes
// them in reverse order. Kept linear on purpose: each tier is one numbered step.
import { parseHostPort } from '../config/primitives.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { startAdminApi, type AdminApi } from '../api/server.js';
import { describeError } from '../core/errors.js';
import { createLogger, type Logger } from '../log/logger.js';
import { createRegistry, type Registry } from '../metrics/registry.js';
import { createStateStore } from '../state/index.js';
import type { StateStore } from '../state/store.js';

export interface ServeOptions {
  /** YAML file; undefined = built-in defaults. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the "listening on" lines go (default: stdout). Tests parse them to learn real ports. */
  print?: (line: string) => void;
}

export interface RunningServer {
  readonly loaded: LoadedConfig;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly store: StateStore;
  /** Undefined when `api.enabled` is false. */
  readonly api: AdminApi | undefined;
  /** Closes every component in reverse start order. Safe to call twice. */
  close(): Promise<void>;
}

function url(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Throws MeridianError E_CONFIG for a bad configuration (the CLI exits 2 on it). */
export async function runServe(options: ServeOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));

  // 1. Configuration (validated and frozen) and the process-wide logger and metrics registry.
  const loaded = loadConfig(options.configPath, env);
  const { config } = loaded;
  const logger = createLogger(config.log.level).child({ node: loaded.nodeId });
  const registry = createRegistry();
  const startedAt = Date.now();

  // Components are pushed here as they start; close() pops them in reverse order.
  const closers: { name: string; close: () => Promise<void> }[] = [];
  const closeAll = async (): Promise<void> => {
    for (const { name, close } of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        logger.error({ component: name, err: describeError(err) }, 'close failed');
      }
    }
    closers.length = 0;
  };

  try {
    // 2. Shared state: memory (single node, file-backed) or Redis.
    const store = createStateStore(loaded, logger);
    // Registered before start() so that a failed start still releases connections and timers.
    closers.push({ name: 'state', close: () => store.close() });
    await store.start();

    // 3. DNS tier. >>> plug in here: `const dns = await startDns({ loaded, store, logger, registry })`,
    //    push `{ name: 'dns', close: () => dns.close() }`, print its addresses, and pass
    //    `explain: (q) => dns.explain(q)` to the admin API below.

    // 4. Proxy tier (when `config.proxy` is set). >>> plug in here: `startProxy(...)`, push its closer,
    //    print its listening addresses.

    // 5. Admin API (last, so it never serves before the tiers it reports on exist).
    let api: AdminApi | undefined;
    if (config.api.enabled) {
      const listen = parseHostPort(config.api.listen);
      if (listen === undefined)
        throw new Error(`unreachable: api.listen ${config.api.listen} passed validation`);
      api = await startAdminApi({
        listen,
        store,
        token: config.api.token,
        bodyLimitBytes: config.api.bodyLimitBytes,
        logger,
        registry,
        metrics: () => registry.metrics(),
        healthGraceUntil: startedAt + config.dns.steering.healthGraceSeconds * 1000,
        // >>> DNS tier: explain: (q) => dns.explain(q),
      });
      const running = api;
      closers.push({ name: 'api', close: () => running.close() });
      print(`meridian: admin API on ${url(api.address.host, api.address.port)}`);
    }

    logger.info(
      {
        config: loaded.path ?? '(built-in defaults)',
        state: store.status().kind,
        api: api === undefined ? null : url(api.address.host, api.address.port),
      },
      'meridian started',
    );

    let closing: Promise<void> | undefined;
    return {
      loaded,
      logger,
      registry,
      store,
      api,
      close: () => {
        closing ??= closeAll().then(() => {
          logger.info('meridian stopped');
          logger.flush();
        });
        return closing;
      },
    };
  } catch (err) {
    await closeAll();
    logger.flush();
    throw err;
  }
}
