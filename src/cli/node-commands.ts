// `meridian nodes [--json]`: every node in the node registry (GET /v1/nodes) with its roles,
// region, version, uptime, last heartbeat and state — `lost` once its heartbeat lapsed.
import type { Command } from 'commander';
import type { NodeView } from '../api/node-routes.js';
import { apiClientFor } from './client.js';
import { formatTable, terminalJson, terminalSafe } from './format.js';

export interface NodeListingView {
  readonly now: string;
  readonly nodes: readonly NodeView[];
}

/** `3d4h`, `2h5m`, `4m10s`, `12s`: the two largest units. */
export function formatAge(seconds: number): string {
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ];
  let rest = Math.max(0, Math.round(seconds));
  const parts: string[] = [];
  for (const [unit, size] of units) {
    if (parts.length === 2) break;
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || parts.length > 0 || size === 1) parts.push(`${n}${unit}`);
  }
  return parts.join('');
}

export function formatNodes(listing: NodeListingView): string {
  if (listing.nodes.length === 0) return 'no nodes registered\n';
  return formatTable(
    ['ID', 'STATE', 'ROLES', 'REGION', 'VERSION', 'UP FOR', 'LAST SEEN', 'CONFIG', 'ADDRESSES'],
    listing.nodes.map((n) => [
      n.id,
      n.state,
      n.roles.join(','),
      n.region ?? '-',
      n.version,
      formatAge(n.uptimeSeconds),
      `${formatAge(n.lastSeenSecondsAgo)} ago`,
      n.configHash.slice(0, 12),
      n.addresses.join(' | '),
    ]),
  );
}

export function registerNodeCommands(
  program: Command,
  deps: { readonly write?: (text: string) => void } = {},
): void {
  const write = deps.write ?? ((text: string) => process.stdout.write(terminalSafe(text)));
  program
    .command('nodes')
    .description(
      'list every Meridian node (DNS, proxy, both) with its state: up, or lost once its heartbeat lapsed',
    )
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const listing = await apiClientFor(cmd).get<NodeListingView>('/v1/nodes');
      write(flags.json === true ? `${terminalJson(listing)}\n` : formatNodes(listing));
    });
}
