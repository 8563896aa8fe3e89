// `meridian history [--since REV|TIME] [--object KIND/ID] [--json]`: the revisions of the state,
// newest first (GET /v1/history, from the audit trail). A command of its own whose action lists
// revisions, so subcommands (e.g. `history traffic`) can be added beside that action.
import type { Command } from 'commander';
import type { RevisionView } from '../api/backup-routes.js';
import { isRevision } from '../ops/backup/history.js';
import { apiClientFor } from './client.js';
import { UsageError, parseIntFlag } from './flags.js';
import { formatTable, terminalJson, terminalSafe } from './format.js';
import { timeFlag } from './ops-commands.js';

/** `--limit`: 1-1000. */
function limitFlag(text: string): number {
  const n = parseIntFlag(text, '--limit');
  if (n < 1 || n > 1000) throw new UsageError(`--limit: expected 1-1000, got ${n}`);
  return n;
}

export function formatHistory(items: readonly RevisionView[]): string {
  if (items.length === 0) return 'no revisions\n';
  return formatTable(
    ['REVISION', 'TIME', 'ACTOR', 'ACTION', 'OBJECT'],
    items.map((r) => [r.revision, r.time, r.actor, r.action, r.target]),
  );
}

export function registerHistoryCommand(
  program: Command,
  deps: { readonly write?: (text: string) => void; readonly now?: () => number } = {},
): Command {
  const write = deps.write ?? ((text: string) => process.stdout.write(terminalSafe(text)));
  const now = deps.now ?? Date.now;
  return program
    .command('history')
    .description('list revisions of the state (every audited change), newest first; see `meridian rollback`')
    .option(
      '--since <rev|time>',
      'revisions after this revision, or since this time (RFC 3339, or -1h, -30m, -2d)',
    )
    .option(
      '--object <kind/id>',
      'only one object, e.g. region/eu-west, backend/eu-west/web-1, policy/x, task/y',
    )
    .option('--limit <n>', 'at most this many (1-1000, default 100)')
    .option('--json', 'print JSON')
    .action(
      async (flags: { since?: string; object?: string; limit?: string; json?: boolean }, cmd: Command) => {
        const params = new URLSearchParams();
        if (flags.since !== undefined) {
          const since = isRevision(flags.since) ? flags.since : timeFlag(flags.since, '--since', now());
          if (since !== undefined) params.set('since', since);
        }
        if (flags.object !== undefined) {
          if (!flags.object.includes('/'))
            throw new UsageError('--object: expected KIND/ID, e.g. region/eu-west');
          params.set('object', flags.object);
        }
        if (flags.limit !== undefined) params.set('limit', String(limitFlag(flags.limit)));
        const query = params.size === 0 ? '' : `?${params.toString()}`;
        const page = await apiClientFor(cmd).get<{
          items: RevisionView[];
          nextCursor?: string;
        }>(`/v1/history${query}`);
        write(flags.json === true ? `${terminalJson(page)}\n` : formatHistory(page.items));
      },
    );
}
