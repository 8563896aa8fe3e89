#!/usr/bin/env node
// The `meridian` command (the package's bin, as compiled to dist/cli/main.js; src/cli/bin.js runs
// these sources through tsx). Exit codes: 0 success; 1 the server refused, failed or could not be
// reached; 2 a usage or validation error (nothing was sent) or a configuration error.
import { Command, CommanderError, Option } from 'commander';
import { MeridianError, describeError, isMeridianError } from '../core/errors.js';
import { DEFAULT_CONFIG, defaultConfigPath } from '../config/load.js';
import { packageVersion } from '../config/install-paths.js';
import type { Backend, Region } from '../core/types.js';
import type { RegionDetail, StatusEntry } from '../api/views.js';
import type { RunningServer } from '../node/serve.js';
import { ApiFailure, apiClientFor, DEFAULT_API_URL } from './client.js';
import { registerAccessCommands } from './access-commands.js';
import { registerKeysCommands } from './keys-commands.js';
import { registerOpsCommands } from './ops-commands.js';
import { registerPolicyCommands } from './policy-command.js';
import { registerStateCommands } from './state-command.js';
import { registerZoneCommands } from './zone-commands.js';
import { registerDnssecCommands } from './dnssec-commands.js';
import { addHistorySubcommands, registerReportCommand } from './history-commands.js';
import { registerNodeCommands } from './node-commands.js';
import { registerBackupCommands } from './backup-command.js';
import { registerHistoryCommand } from './history-command.js';
import { registerRollbackCommand } from './rollback-command.js';
import { registerAutoscaleCommands } from './autoscale-command.js';
import {
  UsageError,
  backendInputFromFlags,
  checkIdArgument,
  explainQueryFromFlags,
  regionInputFromFlags,
  regionPatchFromFlags,
  type ExplainFlags,
  type RegionFlags,
} from './flags.js';
import {
  formatBackends,
  formatExplain,
  formatRegionDetail,
  formatRegions,
  formatStatus,
  terminalJson,
  terminalSafe,
} from './format.js';

const out = (text: string): void => {
  process.stdout.write(terminalSafe(text));
};
const json = (value: unknown): void => out(`${terminalJson(value)}\n`);
/** Error messages may echo the server's or the user's input: escaped like everything printed. */
const printError = (text: string): void => {
  process.stderr.write(terminalSafe(text));
};

const enc = encodeURIComponent;

/** Region flags shared by `region add` and `region update`. */
function addRegionFlags(cmd: Command, forUpdate: boolean): Command {
  return cmd
    .option('--lat <degrees>', `latitude in [-90, 90]${forUpdate ? '' : ' (required)'}`)
    .option('--lon <degrees>', `longitude in [-180, 180]${forUpdate ? '' : ' (required)'}`)
    .option(
      '--ipv4 <addresses>',
      `comma-separated IPv4 addresses answered for this region${forUpdate ? ' (replaces the list)' : ''}`,
    )
    .option(
      '--ipv6 <addresses>',
      `comma-separated IPv6 addresses answered for this region${forUpdate ? ' (replaces the list)' : ''}`,
    )
    .option(
      '--weight <n>',
      'share of traffic among regions at a similar distance, integer >= 0 (default 100)',
    )
    .option(
      '--capacity <n>',
      forUpdate
        ? 'in-flight requests above which the region spills; "none" clears it'
        : 'in-flight requests above which the region spills',
    )
    .option(
      '--country <cc>',
      `ISO 3166-1 alpha-2 country code, e.g. DE; clients the geo data places only by country (no coordinates) go to regions of their country${forUpdate ? ' ("" clears it)' : ''}`,
    )
    .option(
      '--continent <cc>',
      `continent code: AF AN AS EU NA OC SA; the same for clients placed only by continent${forUpdate ? ' ("" clears it)' : ''}`,
    )
    .option('--name <text>', 'display name (default: the id)')
    .option('--label <key=value>', 'a label; repeat for several', (v: string, acc: string[] | undefined) => [
      ...(acc ?? []),
      v,
    ])
    .option('--require-health', 'count the region as down until a proxy reports its health');
}

function buildProgram(env: NodeJS.ProcessEnv, onServe: (server: RunningServer) => void): Command {
  const program = new Command('meridian');
  program
    .description(
      'Meridian global server load balancer: run a node, and manage regions and backends through its admin API',
    )
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addOption(
      new Option('--api <url>', 'admin API base URL')
        .env('MERIDIAN_API_URL')
        .default(env.MERIDIAN_API_URL ?? DEFAULT_API_URL),
    )
    .addOption(
      new Option('--token <token>', 'API token (default: the one `meridian login` stored)').env(
        'MERIDIAN_API_TOKEN',
      ),
    );

  // ---- serve ----------------------------------------------------------------------------------
  program
    .command('serve')
    .description(`run a Meridian node: state store, DNS tier, proxy tier and admin API`)
    .option(
      '--config <file>',
      `YAML configuration (default: ${DEFAULT_CONFIG} in the current folder when present, else the example shipped with the package, else built-in defaults)`,
    )
    .action(async (opts: { config?: string }) => {
      const configPath = opts.config ?? defaultConfigPath();
      // Loaded on demand: the management commands need none of the server's modules.
      const { runServe } = await import('../node/serve.js');
      onServe(await runServe({ ...(configPath === undefined ? {} : { configPath }), env }));
    });

  // ---- region ---------------------------------------------------------------------------------
  const region = program.command('region').description('manage regions (the places DNS answers point to)');

  addRegionFlags(region.command('add').argument('<id>', 'region id: 1-63 of [a-z0-9-]'), false)
    .description('register a region (needs --lat, --lon and at least one of --ipv4/--ipv6)')
    .action(async (id: string, flags: RegionFlags, cmd: Command) => {
      const input = regionInputFromFlags(id, flags);
      const created = await apiClientFor(cmd).post<Region>('/v1/regions', input);
      out(`region ${created.id} added\n`);
    });

  region
    .command('list')
    .description('list regions')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const { regions } = await apiClientFor(cmd).get<{ regions: Region[] }>('/v1/regions');
      if (flags.json === true) json(regions);
      else out(formatRegions(regions));
    });

  region
    .command('show')
    .argument('<id>', 'region id')
    .description('show a region with its health and backend counts')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const detail = await apiClientFor(cmd).get<RegionDetail>(
        `/v1/regions/${enc(checkIdArgument(id, 'ID'))}`,
      );
      if (flags.json === true) json(detail);
      else out(formatRegionDetail(detail));
    });

  addRegionFlags(region.command('update').argument('<id>', 'region id'), true)
    .description('change a region; only the given flags change')
    .option('--no-require-health', 'count a region that never reported as up again')
    .action(async (id: string, flags: RegionFlags, cmd: Command) => {
      const patch = regionPatchFromFlags(id, flags);
      await apiClientFor(cmd).patch<Region>(`/v1/regions/${enc(id)}`, patch);
      out(`region ${id} updated\n`);
    });

  for (const [verb, description] of [
    ['drain', 'stop sending new clients to a region (state draining)'],
    ['undrain', 'put a drained region back into service (state active)'],
  ] as const) {
    region
      .command(verb)
      .argument('<id>', 'region id')
      .description(description)
      .action(async (id: string, _flags: unknown, cmd: Command) => {
        const r = await apiClientFor(cmd).post<Region>(
          `/v1/regions/${enc(checkIdArgument(id, 'ID'))}/${verb}`,
        );
        out(`region ${r.id} is ${r.state}\n`);
      });
  }

  region
    .command('remove')
    .argument('<id>', 'region id')
    .description('delete a region with its backends and health reports')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      await apiClientFor(cmd).delete(`/v1/regions/${enc(checkIdArgument(id, 'ID'))}`);
      out(`region ${id} removed\n`);
    });

  // ---- backend --------------------------------------------------------------------------------
  const backend = program
    .command('backend')
    .description("manage a region's backends (what its proxies forward to)");

  backend
    .command('add')
    .argument('<region>', 'region id')
    .argument('<url>', 'backend base URL, http or https')
    .description('register a backend in a region')
    .option('--id <id>', 'backend id (default: derived from the URL host and port)')
    .option('--weight <n>', 'relative share of the region traffic, integer >= 0 (default 100)')
    .action(async (regionId: string, url: string, flags: { id?: string; weight?: string }, cmd: Command) => {
      checkIdArgument(regionId, 'REGION');
      const input = backendInputFromFlags(url, flags);
      const created = await apiClientFor(cmd).post<Backend>(`/v1/regions/${enc(regionId)}/backends`, input);
      out(`backend ${created.id} added to region ${regionId}\n`);
    });

  backend
    .command('list')
    .argument('<region>', 'region id')
    .description("list a region's backends")
    .option('--json', 'print JSON')
    .action(async (regionId: string, flags: { json?: boolean }, cmd: Command) => {
      const path = `/v1/regions/${enc(checkIdArgument(regionId, 'REGION'))}/backends`;
      const { backends } = await apiClientFor(cmd).get<{ backends: Backend[] }>(path);
      if (flags.json === true) json(backends);
      else out(formatBackends(backends));
    });

  for (const [verb, description] of [
    ['drain', 'stop sending new requests to a backend (state draining)'],
    ['undrain', 'put a drained backend back into service (state active)'],
  ] as const) {
    backend
      .command(verb)
      .argument('<region>', 'region id')
      .argument('<id>', 'backend id')
      .description(description)
      .action(async (regionId: string, id: string, _flags: unknown, cmd: Command) => {
        const path = `/v1/regions/${enc(checkIdArgument(regionId, 'REGION'))}/backends/${enc(checkIdArgument(id, 'ID'))}/${verb}`;
        const b = await apiClientFor(cmd).post<Backend>(path);
        out(`backend ${b.id} in region ${regionId} is ${b.state}\n`);
      });
  }

  backend
    .command('remove')
    .argument('<region>', 'region id')
    .argument('<id>', 'backend id')
    .description('delete a backend')
    .action(async (regionId: string, id: string, _flags: unknown, cmd: Command) => {
      await apiClientFor(cmd).delete(
        `/v1/regions/${enc(checkIdArgument(regionId, 'REGION'))}/backends/${enc(checkIdArgument(id, 'ID'))}`,
      );
      out(`backend ${id} removed from region ${regionId}\n`);
    });

  // ---- status / explain -----------------------------------------------------------------------
  program
    .command('status')
    .description('every region at a glance: state, health, healthy/total backends, in-flight requests')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const status = await apiClientFor(cmd).get<{ regions: StatusEntry[] }>('/v1/status');
      if (flags.json === true) json(status);
      else out(formatStatus(status.regions));
    });

  program
    .command('explain')
    .argument('<name>', 'the DNS name queried, e.g. www.example.test')
    .description('show how the DNS tier would answer a client: location, regions considered, final answer')
    .option('--client <ip>', 'the client or resolver address (required)')
    .option('--ecs <cidr>', 'an EDNS Client Subnet, e.g. 198.51.100.0/24')
    .addOption(new Option('--type <type>', 'query type').choices(['A', 'AAAA']).default('A'))
    .option('--json', 'print JSON')
    .action(async (name: string, flags: ExplainFlags & { json?: boolean }, cmd: Command) => {
      const params = explainQueryFromFlags(name, flags);
      const result = await apiClientFor(cmd).get<unknown>(`/v1/explain?${params.toString()}`);
      if (flags.json === true) json(result);
      else out(formatExplain(result));
    });

  // ---- policy / audit / alerts / task ---------------------------------------------------------
  registerPolicyCommands(program);
  registerOpsCommands(program);
  registerStateCommands(program);
  registerZoneCommands(program);
  registerDnssecCommands(program);
  registerNodeCommands(program);
  registerBackupCommands(program);
  addHistorySubcommands(registerHistoryCommand(program));
  registerRollbackCommand(program);
  registerAutoscaleCommands(program);
  registerAccessCommands(program, { env });
  registerKeysCommands(program, { env });
  registerReportCommand(program);

  return program;
}

/** Runs the CLI; resolves to the exit code (for `serve`, once the node is up: it keeps running). */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let server: RunningServer | undefined;
  const program = buildProgram(env, (s) => {
    server = s;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander already printed it
    if (err instanceof UsageError) {
      printError(`meridian: ${err.message}\n`);
      return 2;
    }
    if (isMeridianError(err) && err.code === 'E_CONFIG') {
      printError(`meridian: configuration error:\n${err.message}\n`);
      return 2;
    }
    if (err instanceof ApiFailure) {
      printError(`meridian: ${err.message}\n`);
      return 1;
    }
    const message = err instanceof MeridianError ? err.message : describeError(err);
    printError(`meridian: ${message}\n`);
    return 1;
  }
  if (server !== undefined) installShutdown(server);
  return 0;
}

/** SIGTERM/SIGINT: close everything in reverse order and exit 0; a second signal exits at once. */
function installShutdown(server: RunningServer): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.exit(1);
    }
    stopping = true;
    server.logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      printError('meridian: shutdown took longer than 10 s, exiting\n');
      process.exit(1);
    }, 10_000);
    timer.unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        printError(`meridian: shutdown failed: ${describeError(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// A failed `serve` may leave a reconnecting client behind: exit anyway once output is flushed.
if (code !== 0) setTimeout(() => process.exit(code), 2000).unref();
