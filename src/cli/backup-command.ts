// `meridian backup create --out FILE` and `meridian backup restore FILE [--dry-run]`: the node at
// --api exports every state section (GET /v1/backup) and this command writes it as a versioned,
// SHA-256-checksummed file (src/ops/backup/file.ts), encrypted with --passphrase-file. A restore
// reads and checks the file here (format, version, passphrase, checksum: exit 2 naming what is
// wrong, nothing sent), then the node validates every record and applies all or nothing
// (POST /v1/backup/restore); --dry-run prints the diff and changes nothing.
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ChangeResult } from '../api/backup-routes.js';
import { describeError, isMeridianError } from '../core/errors.js';
import type { BackupDocument, Diff } from '../ops/backup/backup.js';
import { decodeBackupFile, encodeBackupFile } from '../ops/backup/file.js';
import { apiClientFor } from './client.js';
import { UsageError } from './flags.js';
import { terminalJson, terminalSafe } from './format.js';

/** The passphrase in a file (its first line, without the line break); never on the command line. */
export function readPassphrase(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--passphrase-file: cannot read ${file}: ${describeError(err)}`);
  }
  const passphrase = text.split(/\r?\n/)[0] ?? '';
  if (passphrase.length === 0) throw new UsageError(`--passphrase-file: ${file} is empty`);
  return passphrase;
}

/** `regions: +1 ~2 -0` lines, then every changed object. */
export function formatDiff(diff: Diff, dryRun: boolean): string {
  const lines: string[] = [];
  let total = 0;
  for (const [section, d] of Object.entries(diff)) {
    total += d.added.length + d.changed.length + d.removed.length;
    lines.push(
      `${section}: ${d.added.length} added, ${d.changed.length} changed, ${d.removed.length} removed`,
    );
    for (const t of d.added) lines.push(`  + ${t}`);
    for (const t of d.changed) lines.push(`  ~ ${t}`);
    for (const t of d.removed) lines.push(`  - ${t}`);
  }
  lines.push(
    total === 0
      ? 'nothing to change'
      : dryRun
        ? `dry run: ${total} change(s) would be made; nothing was changed`
        : `${total} change(s) made`,
  );
  return `${lines.join('\n')}\n`;
}

export function registerBackupCommands(
  program: Command,
  deps: { readonly write?: (text: string) => void } = {},
): void {
  const write = deps.write ?? ((text: string) => process.stdout.write(terminalSafe(text)));
  const backup = program
    .command('backup')
    .description(
      'back up every piece of state (regions, backends, zones, policies, tasks, users and tokens) and restore it',
    );

  backup
    .command('create')
    .description('write a backup of the node at --api into a file (mode 0600), consistent at one revision')
    .requiredOption('--out <file>', 'the backup file to write')
    .option('--passphrase-file <file>', 'encrypt with the passphrase in this file (scrypt → AES-256-GCM)')
    .action(async (flags: { out: string; passphraseFile?: string }, cmd: Command) => {
      const passphrase = readPassphrase(flags.passphraseFile);
      const document = await apiClientFor(cmd).get<BackupDocument>('/v1/backup');
      const bytes = await encodeBackupFile(document, passphrase);
      const tmp = `${flags.out}.${process.pid}.tmp`;
      try {
        await writeFile(tmp, bytes, { mode: 0o600 });
        await rename(tmp, flags.out);
      } catch (err) {
        throw new UsageError(`--out: cannot write ${flags.out}: ${describeError(err)}`);
      }
      const counts = Object.entries(document.sections)
        .map(([name, records]) => `${records.length} ${name}`)
        .join(', ');
      write(
        `backup of ${document.node} written to ${flags.out}${passphrase === undefined ? '' : ' (encrypted)'}: ` +
          `${counts}; revision ${document.revision === '' ? '(no audit records yet)' : document.revision}\n`,
      );
    });

  backup
    .command('restore')
    .description(
      'restore a backup into the node at --api: everything is validated first, then applied all or nothing ' +
        '(objects not in the backup are removed; login sessions are kept)',
    )
    .argument('<file>', 'the backup file')
    .option('--passphrase-file <file>', 'the passphrase of an encrypted backup, in a file')
    .option('--dry-run', 'print what would change (added, changed, removed per section) and change nothing')
    .option('--json', 'print JSON')
    .action(
      async (
        file: string,
        flags: { passphraseFile?: string; dryRun?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        const passphrase = readPassphrase(flags.passphraseFile);
        let bytes: Buffer;
        try {
          bytes = readFileSync(file);
        } catch (err) {
          throw new UsageError(`cannot read ${file}: ${describeError(err)}`);
        }
        let document: unknown;
        try {
          document = await decodeBackupFile(bytes, passphrase);
        } catch (err) {
          throw new UsageError(`${file}: ${isMeridianError(err) ? err.message : describeError(err)}`);
        }
        const dryRun = flags.dryRun === true;
        const result = await apiClientFor(cmd).post<ChangeResult>('/v1/backup/restore', {
          backup: document,
          dryRun,
        });
        write(flags.json === true ? `${terminalJson(result)}\n` : formatDiff(result.diff, dryRun));
      },
    );
}
