// `meridian keys generate|status|rotate`: encryption at rest (src/infra/secrets/). `generate` makes
// a key file line locally (nothing leaves this machine); `status` and `rotate` ask a node's admin
// API (admin token) which key ids the stored secrets use, and re-seal them under the active key.
// `seal --path KEY` seals a config value (read from standard input) with the local key ring, for
// the config file itself (config/sealed-values.ts).
// The rotation procedure is in src/infra/README.md.
import type { Command } from 'commander';
import { defaultConfigPath, loadConfig } from '../config/load.js';
import { configSealContext } from '../config/sealed-values.js';
import { KEY_ID_PATTERN, newKeyText } from '../infra/secrets/key-ring.js';
import { keyRingOpener, loadKeyRing } from '../infra/secrets/key-source.js';
import type { KeysStatus } from '../api/keys-routes.js';
import type { ResealResult } from '../storage/sealed-records.js';
import { type ApiClient, apiClientFor } from './client.js';
import { UsageError } from './flags.js';
import { formatTable, terminalJson, terminalSafe } from './format.js';

export interface KeysCommandDeps {
  readonly env?: NodeJS.ProcessEnv;
  readonly write?: (text: string) => void;
  /** Standard input (tests). */
  readonly stdin?: () => Promise<string>;
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

/** `ops.webhooks[].secret` or `ops.webhooks.0.secret` → the key path (numbers for list positions). */
export function sealPath(text: string): (string | number)[] {
  const parts = text
    .replace(/\[\d*\]/g, '.0')
    .split('.')
    .map((p) => (/^\d+$/.test(p) ? 0 : p));
  if (
    parts.length === 0 ||
    parts.some((p) => p === '' || (typeof p === 'string' && !/^[A-Za-z][A-Za-z0-9_-]*$/.test(p)))
  )
    throw new UsageError(
      `--path: expected a config key path such as api.token or ops.webhooks[].secret, got ${JSON.stringify(text)}`,
    );
  return parts;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export function registerKeysCommands(program: Command, deps: KeysCommandDeps = {}): void {
  const env = deps.env ?? process.env;
  const write = deps.write ?? ((text: string) => void process.stdout.write(terminalSafe(text)));
  const client = (cmd: Command): ApiClient => apiClientFor(cmd, env);
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
    .command('seal')
    .description(
      "seal a secret for the config file with this machine's key ring (the config's secrets.keyFile, " +
        'MERIDIAN_KEYS): reads the value from standard input, prints enc:v1:… to paste at that key',
    )
    .requiredOption(
      '--path <key>',
      'the config key the value goes to, e.g. api.token or ops.webhooks[].secret',
    )
    .option('--config <file>', 'the config file whose secrets section names the key file (default as serve)')
    .action(async (flags: { path: string; config?: string }) => {
      const path = sealPath(flags.path);
      const loaded = loadConfig(flags.config ?? defaultConfigPath(), env, keyRingOpener(env));
      const ring = loadKeyRing(loaded.config.secrets, loaded.resolvePath, env);
      if (ring === undefined)
        throw new UsageError('no encryption key: set secrets.keyFile in the config, or MERIDIAN_KEYS');
      const plain = deps.stdin === undefined ? await readStdin() : await deps.stdin();
      if (plain === '') throw new UsageError('nothing to seal: give the value on standard input');
      write(`${ring.seal(plain, configSealContext(path))}\n`);
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
