// `meridian state reseed --from-node [url]`: after the shared Redis lost the fleet's data (restarted
// without persistence, flushed, replaced), every node keeps serving its last snapshot and refuses
// writes. This command asks ONE node (its admin API) to write its snapshot back under a new epoch;
// the other nodes accept it and writes work again (src/api/state-routes.ts). Naming the node is
// required on purpose: its view becomes the fleet's.
import type { Command } from 'commander';
import type { ReseedResult } from '../storage/state-store.js';
import { ApiClient, DEFAULT_API_URL } from './client.js';
import { UsageError, checkApiUrl } from './flags.js';

export interface StateCommandDeps {
  readonly write?: (text: string) => void;
}

export function formatReseed(node: string, r: ReseedResult & { zones?: number; policies?: number }): string {
  const more = [
    ...(r.zones ? [`${r.zones} zone(s)`] : []),
    ...(r.policies ? [`${r.policies} policy(ies)`] : []),
  ];
  return (
    `reseeded the state store from ${node}: ${r.regions} region(s), ${r.backends} backend(s), ` +
    `${r.healthReports} health report(s)${more.map((m) => `, ${m}`).join('')}; new epoch ${r.epoch}\n`
  );
}

function fromNodeUrl(text: string): string {
  try {
    return checkApiUrl(text);
  } catch {
    throw new UsageError(
      `--from-node: expected the node's admin API URL (http or https), got ${JSON.stringify(text)}`,
    );
  }
}

export function registerStateCommands(program: Command, deps: StateCommandDeps = {}): void {
  const write = deps.write ?? ((text: string) => process.stdout.write(text));
  const state = program.command('state').description('the shared state store (Redis) as a whole');
  state
    .command('reseed')
    .description(
      "write one node's last snapshot back to a state store that lost the fleet's data (Redis restarted " +
        'empty or flushed); the other nodes take it and writes work again',
    )
    .option(
      '--from-node [url]',
      "the node whose snapshot becomes the fleet's: its admin API URL (default: the --api URL); required",
    )
    .option('--force', 'reseed even though the store did not lose its data (overwrites the current state)')
    .option('--json', 'print JSON')
    .action(async (flags: { fromNode?: string | true; force?: boolean; json?: boolean }, cmd: Command) => {
      if (flags.fromNode === undefined) {
        throw new UsageError(
          "--from-node is required: the node whose snapshot becomes the fleet's (--from-node alone means the node at --api)",
        );
      }
      const opts = cmd.optsWithGlobals<{ api?: string; token?: string }>();
      const node = fromNodeUrl(flags.fromNode === true ? (opts.api ?? DEFAULT_API_URL) : flags.fromNode);
      const result = await new ApiClient(node, opts.token).post<ReseedResult>(
        '/v1/state/reseed',
        flags.force === true ? { force: true } : {},
      );
      write(flags.json === true ? `${JSON.stringify(result, null, 2)}\n` : formatReseed(node, result));
    });
}
