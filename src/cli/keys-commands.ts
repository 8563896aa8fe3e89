// `meridian keys generate|status|rotate`: encryption at rest (src/infra/secrets/). `generate` makes
// a key file line locally (nothing leaves this machine); `status` and `rotate` ask a node's admin
// API (admin token) which key ids the stored secrets use, and re-seal them under the active key.
// The rotation procedure is in src/infra/README.md.
import type { Command } from 'commander';
import { KEY_ID_PATTERN, newKeyText } from '../infra/secrets/key-ring.js';
import type { KeysStatus } from '../api/keys-routes.js';
import type { ResealResult } from '../storage/sealed-records.js';
import { ApiClient } from './client.js';
import { UsageError, checkApiUrl } from './flags.js';
import { formatTable, terminalJson, terminalSafe } from './format.js';

const DEFAULT_API = 'http://127.0.0.1:8053';

export interface KeysCommandDeps {
  readonly env?: NodeJS.ProcessEnv;
  readonly write?: (text: string) => void;
}

export function formatKeysStatus(s: KeysStatus): string {
  if (s.activeKeyId === undefined) {
    return `this node has no encryption key: ${s.unsealed} secret field(s) stored unsealed (set secrets.keyFile or MERIDIAN_KEYS)\n`;
  }
  const ids = [...new Set([...s.keyIds, ...Object.keys(s.inUse)])].sort();
  const rows = ids.map((kid) => [
    kid,
    kid === s.activeKeyId ? 'active' : s.keyIds.includes(kid) ? 'held' : 'MISSING on this node',
    String(s.inUse[kid] ?? 0),
    s.retirable.includes(kid) ? 'yes' : 'no',
  ]);
  const unreadable = s.sets.flatMap((set) =>
    set.unreadable.map((u) => `unreadable here: ${u.record}: ${u.reason}\n`),
  );
  return (
    formatTable(['KEY ID', 'ON THIS NODE', 'SEALED VALUES', 'RETIRABLE'], rows) +
    (s.unsealed > 0 ? `${s.unsealed} secret field(s) still unsealed: run \`meridian keys rotate\`\n` : '') +
    unreadable.join('')
  );
}

export function registerKeysCommands(program: Command, deps: KeysCommandDeps = {}): void {
  const env = deps.env ?? process.env;
  const write = deps.write ?? ((text: string) => void process.stdout.write(terminalSafe(text)));
  const client = (cmd: Command): ApiClient => {
    const opts = cmd.optsWithGlobals<{ api?: string; token?: string }>();
    return new ApiClient(checkApiUrl(opts.api ?? DEFAULT_API), opts.token, env);
  };
  const keys = program.command('keys').description('encryption keys of the secrets stored at rest');
  keys
    .command('generate <id>')
    .description(
      "print a new random key as a key file line `<id>:<base64>` (append it to every node's secrets.keyFile, mode 0600)",
    )
    .action((id: string) => {
      if (!KEY_ID_PATTERN.test(id))
        throw new UsageError(`key id ${JSON.stringify(id)}: expected 1-64 of [A-Za-z0-9._-]`);
      write(`${id}:${newKeyText()}\n`);
    });
  keys
    .command('status')
    .description('which key ids the stored secrets use, and which keys can be retired (admin)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const status = await client(cmd).get<KeysStatus>('/v1/keys');
      write(flags.json === true ? `${terminalJson(status)}\n` : formatKeysStatus(status));
    });
  keys
    .command('rotate')
    .description(
      're-seal every stored secret under the active key, in place and without downtime; safe to run again (admin)',
    )
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const result = await client(cmd).post<{
        activeKeyId: string;
        results: ResealResult[];
        status: KeysStatus;
      }>('/v1/keys/rotate');
      if (flags.json === true) {
        write(`${terminalJson(result)}\n`);
        return;
      }
      for (const r of result.results) {
        write(
          `${r.name}: ${r.resealed} re-sealed under ${result.activeKeyId}, ${r.current} already under it, ${r.skipped} skipped\n`,
        );
      }
      const skipped = result.results.reduce((n, r) => n + r.skipped, 0);
      if (skipped > 0)
        write('some values were skipped (changed meanwhile or unreadable here): run it again\n');
      write(formatKeysStatus(result.status));
    });
}
