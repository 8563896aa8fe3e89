// `meridian autoscale status [--json]`: each autoscaled region's policy, its current and desired
// backend count, the last decision and its reasons, the cooldown left and the actuator's last result,
// read from any node's admin API (GET /v1/autoscale, src/api/autoscale-routes.ts). Policies are set
// in the configuration file (`autoscale.regions`), so there is no command to change them.
import type { Command } from 'commander';
import type { AutoscaleStatus } from '../ops/autoscale/service.js';
import { apiClientFor } from './client.js';
import { formatTable, terminalJson, terminalSafe } from './format.js';

export interface AutoscaleCommandDeps {
  readonly write?: (text: string) => void;
  readonly now?: () => number;
}

const seconds = (ms: number): string => (ms <= 0 ? '0s' : `${Math.ceil(ms / 1000)}s`);

export function formatAutoscale(status: AutoscaleStatus, now: number): string {
  if (status.regions.length === 0)
    return 'no autoscaling policies (autoscale.regions in the configuration)\n';
  const table = formatTable(
    [
      'REGION',
      'METRIC',
      'TARGET',
      'MIN-MAX',
      'CURRENT',
      'DESIRED',
      'LAST',
      'COOLDOWN UP/DOWN',
      'ACTUATOR',
      'RESULT',
      'DECIDED',
    ],
    status.regions.map((r) => [
      r.region,
      r.policy.metric,
      String(r.policy.target),
      `${r.policy.min}-${r.policy.max}`,
      r.current === undefined ? '-' : String(r.current),
      r.desired === undefined ? '-' : String(r.desired),
      r.last?.lastScale === undefined
        ? '-'
        : `${r.last.lastScale.action} ${r.last.lastScale.from}→${r.last.lastScale.to} ${seconds(now - r.last.lastScale.at)} ago`,
      `${seconds(r.cooldownLeftMs.up)}/${seconds(r.cooldownLeftMs.down)}`,
      `${r.actuator}${r.dryRun ? ' (dry run)' : ''}`,
      r.last?.actuator === undefined ? '-' : r.last.actuator.result,
      r.last === undefined ? '-' : `${seconds(now - r.last.evaluatedAt)} ago by ${r.last.node}`,
    ]),
  );
  const details = status.regions
    .filter((r) => r.last !== undefined)
    .map((r) => {
      const lines = [
        `${r.region}: ${r.last?.action ?? 'hold'}`,
        ...(r.last?.reasons ?? []).map((t) => `  - ${t}`),
      ];
      const message = r.last?.actuator?.message;
      if (message !== undefined) lines.push(`  actuator: ${message}`);
      return lines.join('\n');
    });
  const who = `this node (${status.node}) ${status.deciding ? 'decides' : 'does not decide'} autoscaling\n`;
  return `${table}\n${details.length === 0 ? '' : `${details.join('\n')}\n\n`}${who}`;
}

export function registerAutoscaleCommands(program: Command, deps: AutoscaleCommandDeps = {}): void {
  const sink = deps.write ?? ((text: string) => void process.stdout.write(text));
  const write = (text: string): void => sink(terminalSafe(text));
  const autoscale = program
    .command('autoscale')
    .description('the autoscaler: per-region backend counts decided from the load the proxies report');
  autoscale
    .command('status')
    .description(
      'show each region policy, current/desired count, last decision and reasons, cooldown, actuator result',
    )
    .option('--json', 'print JSON (the GET /v1/autoscale body)')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const status = await apiClientFor(cmd).get<AutoscaleStatus>('/v1/autoscale');
      if (flags.json === true) write(`${terminalJson(status)}\n`);
      else write(formatAutoscale(status, (deps.now ?? Date.now)()));
    });
}
