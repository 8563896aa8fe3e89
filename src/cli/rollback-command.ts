// `meridian rollback REV [--object KIND/ID] [--dry-run]`: restores one object, or every object the
// audit trail names, to its state as of revision REV (see `meridian history`); all or nothing, and
// itself audited (POST /v1/rollback). --dry-run prints the diff and changes nothing.
import type { Command } from 'commander';
import type { ChangeResult } from '../api/backup-routes.js';
import { isRevision } from '../ops/backup/history.js';
import { formatDiff } from './backup-command.js';
import { apiClientFor } from './client.js';
import { UsageError } from './flags.js';
import { terminalJson, terminalSafe } from './format.js';

export function registerRollbackCommand(
  program: Command,
  deps: { readonly write?: (text: string) => void } = {},
): void {
  const write = deps.write ?? ((text: string) => process.stdout.write(terminalSafe(text)));
  program
    .command('rollback')
    .description(
      'restore one object (--object) or everything to its state as of a revision (see `meridian history`)',
    )
    .argument('<rev>', 'the revision, e.g. 1733270000000-0')
    .option(
      '--object <kind/id>',
      'only this object, e.g. region/eu-west, backend/eu-west/web-1, policy/x, task/y',
    )
    .option('--dry-run', 'print what would change and change nothing')
    .option('--json', 'print JSON')
    .action(
      async (rev: string, flags: { object?: string; dryRun?: boolean; json?: boolean }, cmd: Command) => {
        if (!isRevision(rev))
          throw new UsageError(`<rev>: expected a revision like 1733270000000-0, got ${JSON.stringify(rev)}`);
        const dryRun = flags.dryRun === true;
        const result = await apiClientFor(cmd).post<ChangeResult>('/v1/rollback', {
          revision: rev,
          dryRun,
          ...(flags.object === undefined ? {} : { object: flags.object }),
        });
        if (flags.json === true) {
          write(`${terminalJson(result)}\n`);
          return;
        }
        const skipped = (result.skipped ?? []).map((s) => `skipped ${s.target}: ${s.reason}\n`).join('');
        write(`${formatDiff(result.diff, dryRun)}${skipped}`);
      },
    );
}
