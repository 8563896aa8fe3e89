// `meridian policy add|edit|remove|enable|disable|show|list|import|export`: traffic policies
// through the admin API (src/api/policy-routes.ts). Bodies are validated here with the same schema
// the server uses, before anything is sent: a bad flag or file is a UsageError (exit 2) naming the
// flag or `policies[i].field`; a refusal by the server is an ApiFailure (exit 1).
//
//   meridian policy add rate_limit api-rl --rate 50 --burst 100 --key header:x-api-key --mode cluster
//   meridian policy add waf edge --rule 'no-admin@10 block path ^/admin' --rule 'office allow client_ip 192.0.2.0/24'
//   meridian policy add --file policy.yaml
//   meridian policy edit api-rl --rate 80
//   meridian policy list --type quota --region eu-west --enabled true
//   meridian policy import policies.yaml [--replace]      (YAML or JSON: a list, or {policies: [...]})
//   meridian policy export [--format yaml|json] [--output FILE]
import { readFile, writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { describeError, isMeridianError } from '../core/errors.js';
import { parsePolicy, POLICY_TYPES, QUOTA_PERIODS, type Policy } from '../config/policy-schema.js';
import type { QuotaUsage } from '../storage/policy-store.js';
import type { ImportResult } from '../storage/policy-store.js';
import { validateBatch } from '../storage/policy-store.js';
import { type ApiClient, apiClientFor } from './client.js';
import { UsageError, checkIdArgument, parseNumberFlag } from './flags.js';
import { formatTable, terminalJson, terminalSafe } from './format.js';

export interface PolicyCommandDeps {
  /** The API client for a command (default: from the global --api/--token options). */
  readonly client?: (cmd: Command) => Pick<ApiClient, 'get' | 'post' | 'patch' | 'delete'>;
  readonly write?: (text: string) => void;
}

const enc = encodeURIComponent;

export interface PolicyFlags {
  file?: string;
  description?: string;
  scope?: string;
  disabled?: boolean;
  rate?: string;
  burst?: string;
  key?: string;
  mode?: string;
  bytesPerSecond?: string;
  burstBytes?: string;
  limit?: string;
  period?: string;
  rule?: string[];
}

/** Schema field → the flag that sets it, for error messages. */
const FLAG_NAMES: Record<string, string> = {
  id: 'ID',
  type: 'TYPE',
  description: '--description',
  scope: '--scope',
  enabled: '--disabled',
  rate: '--rate',
  burst: '--burst',
  key: '--key',
  mode: '--mode',
  bytesPerSecond: '--bytes-per-second',
  burstBytes: '--burst-bytes',
  limit: '--limit',
  period: '--period',
  rules: '--rule',
};

function flagError(err: unknown, fromFile: string | undefined): never {
  if (!isMeridianError(err) || err.code !== 'E_VALIDATION') throw err;
  const field = err.field ?? '';
  const message = err.message.startsWith(`${field}: `) ? err.message.slice(field.length + 2) : err.message;
  if (fromFile !== undefined) throw new UsageError(`${fromFile}: ${field}: ${message}`);
  const top = /^[A-Za-z]+/.exec(field)?.[0] ?? field;
  throw new UsageError(`${FLAG_NAMES[top] ?? field}${field.slice(top.length)}: ${message}`);
}

/** `ID[@PRIORITY] ACTION TARGET PATTERN` (the pattern is the rest of the text, spaces included). */
export function parseRuleFlag(text: string, index: number): Record<string, unknown> {
  const m = /^\s*(\S+)\s+(\S+)\s+(\S+)\s+(.+?)\s*$/.exec(text);
  if (m === null) {
    throw new UsageError(
      `--rule: expected "ID[@PRIORITY] ACTION TARGET PATTERN", got ${JSON.stringify(text)}`,
    );
  }
  const [, idPart = '', action, target, pattern] = m;
  const at = idPart.indexOf('@');
  const rule: Record<string, unknown> = {
    id: at < 0 ? idPart : idPart.slice(0, at),
    action,
    target,
    pattern,
  };
  rule.priority =
    at < 0 ? (index + 1) * 10 : parseNumberFlag(idPart.slice(at + 1), '--rule priority', 0, 1_000_000);
  return rule;
}

/** The policy fields the flags set (only those given). */
export function fieldsFromFlags(flags: PolicyFlags): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const num = (text: string | undefined, flag: string, field: string): void => {
    if (text !== undefined) body[field] = parseNumberFlag(text, flag, 0, Number.MAX_SAFE_INTEGER);
  };
  if (flags.description !== undefined) body.description = flags.description;
  if (flags.scope !== undefined) body.scope = flags.scope;
  if (flags.disabled === true) body.enabled = false;
  num(flags.rate, '--rate', 'rate');
  num(flags.burst, '--burst', 'burst');
  num(flags.bytesPerSecond, '--bytes-per-second', 'bytesPerSecond');
  num(flags.burstBytes, '--burst-bytes', 'burstBytes');
  num(flags.limit, '--limit', 'limit');
  if (flags.key !== undefined) body.key = flags.key;
  if (flags.mode !== undefined) body.mode = flags.mode;
  if (flags.period !== undefined) body.period = flags.period;
  if (flags.rule !== undefined && flags.rule.length > 0)
    body.rules = flags.rule.map((r, i) => parseRuleFlag(r, i));
  return body;
}

/** Reads a YAML or JSON file (JSON is YAML); a read or parse failure is a UsageError. */
export async function readDocument(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${describeError(err)}`);
  }
  try {
    return parseYaml(text) as unknown;
  } catch (err) {
    throw new UsageError(`${path}: not valid YAML or JSON: ${describeError(err)}`);
  }
}

/** A list of policies from a document: `[...]` or `{policies: [...]}`. */
export function policiesOf(doc: unknown, path: string): unknown[] {
  if (Array.isArray(doc)) return doc;
  if (typeof doc === 'object' && doc !== null && Array.isArray((doc as { policies?: unknown }).policies)) {
    return (doc as { policies: unknown[] }).policies;
  }
  throw new UsageError(`${path}: expected a list of policies or a mapping with a "policies" list`);
}

function summary(p: Policy): string {
  switch (p.type) {
    case 'rate_limit':
      return `${p.rate}/s burst ${p.burst} by ${p.key} (${p.mode})`;
    case 'bandwidth_limit':
      return `${p.bytesPerSecond} B/s by ${p.key}`;
    case 'quota':
      return `${p.limit}/${p.period} by ${p.key}`;
    case 'waf':
      return `${p.rules.length} rule${p.rules.length === 1 ? '' : 's'}`;
  }
}

export function formatPolicies(policies: readonly Policy[]): string {
  if (policies.length === 0) return 'no policies\n';
  return formatTable(
    ['ID', 'TYPE', 'SCOPE', 'ENABLED', 'LIMIT', 'DESCRIPTION'],
    policies.map((p) => [
      p.id,
      p.type,
      p.scope,
      p.enabled ? 'yes' : 'no',
      summary(p),
      p.description === '' ? '-' : p.description,
    ]),
  );
}

export function formatPolicy(p: Policy): string {
  let out = toYaml(p.type === 'waf' ? { ...p, rules: undefined } : p).replace(/^rules: null\n/m, '');
  if (p.type === 'waf') {
    out += formatTable(
      ['RULE', 'PRIORITY', 'ACTION', 'TARGET', 'PATTERN', 'ENABLED'],
      [...p.rules]
        .sort((a, b) => a.priority - b.priority)
        .map((r) => [r.id, String(r.priority), r.action, r.target, r.pattern, r.enabled ? 'yes' : 'no']),
    );
  }
  return out;
}

/** Adds `policy …` (and `policy usage`) to the program. */
export function registerPolicyCommands(program: Command, deps: PolicyCommandDeps = {}): void {
  const client = deps.client ?? apiClientFor;
  const sink = deps.write ?? ((text: string) => void process.stdout.write(text));
  // Records may hold control characters from before validation refused them: escaped on the way out.
  const write = (text: string): void => sink(terminalSafe(text));
  const json = (value: unknown): void => write(`${terminalJson(value)}\n`);

  const policy = program
    .command('policy')
    .description('traffic policies: rate limits, bandwidth limits, WAF rules and quotas');

  const withPolicyFlags = (cmd: Command): Command =>
    cmd
      .option(
        '--file <path>',
        'read the policy (add) or the fields to change (edit) from a YAML or JSON file',
      )
      .option('--description <text>', 'free text')
      .option('--scope <scope>', "'global' (every proxy) or a region id")
      .option('--rate <n>', 'rate_limit: tokens per second')
      .option('--burst <n>', 'rate_limit: bucket size')
      .option(
        '--key <key>',
        'who is counted: client_ip, cookie, cookie:<name>, header:<name> (quota also label:<header>)',
      )
      .addOption(
        new Option('--mode <mode>', 'rate_limit: per proxy or one bucket in Redis').choices([
          'local',
          'cluster',
        ]),
      )
      .option('--bytes-per-second <n>', 'bandwidth_limit: bytes/s per client over all its connections')
      .option('--burst-bytes <n>', 'bandwidth_limit: bytes allowed at once after idling')
      .option('--limit <n>', 'quota: requests per period')
      .addOption(new Option('--period <period>', 'quota: calendar period (UTC)').choices([...QUOTA_PERIODS]))
      .option(
        '--rule <spec>',
        'waf: "ID[@PRIORITY] ACTION TARGET PATTERN" (repeatable; ACTION block|allow|log; TARGET path|query|method|client_ip|header:<name>)',
        (value: string, previous: string[] = []) => [...previous, value],
      );

  withPolicyFlags(
    policy
      .command('add')
      .argument('[type]', `policy type: ${POLICY_TYPES.join(', ')}`)
      .argument('[id]', 'policy id: 1-63 of [a-z0-9-]')
      .description('create a policy from flags or from --file'),
  )
    .option('--disabled', 'create it disabled')
    .action(async (type: string | undefined, id: string | undefined, flags: PolicyFlags, cmd: Command) => {
      let body: Record<string, unknown>;
      if (flags.file !== undefined) {
        const doc = await readDocument(flags.file);
        if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
          throw new UsageError(
            `${flags.file}: expected one policy (a mapping); use "policy import" for a list`,
          );
        }
        body = { ...(doc as Record<string, unknown>), ...fieldsFromFlags(flags) };
        if (type !== undefined) body.type = type;
        if (id !== undefined) body.id = id;
      } else {
        if (type === undefined || id === undefined)
          throw new UsageError('TYPE and ID are required (or --file)');
        body = { type, id, ...fieldsFromFlags(flags) };
      }
      try {
        parsePolicy(body);
      } catch (err) {
        flagError(err, flags.file);
      }
      const created = await client(cmd).post<Policy>('/v1/policies', body);
      write(`policy ${created.id} (${created.type}) added${created.enabled ? '' : ' (disabled)'}\n`);
    });

  withPolicyFlags(
    policy
      .command('edit')
      .argument('<id>', 'policy id')
      .description('change fields of a policy (waf: --rule replaces all rules)'),
  ).action(async (id: string, flags: PolicyFlags, cmd: Command) => {
    checkIdArgument(id, 'ID');
    let patch: Record<string, unknown> = fieldsFromFlags(flags);
    if (flags.file !== undefined) {
      const doc = await readDocument(flags.file);
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
        throw new UsageError(`${flags.file}: expected a mapping of fields`);
      patch = { ...(doc as Record<string, unknown>), ...patch };
    }
    if (Object.keys(patch).length === 0)
      throw new UsageError('nothing to change: give at least one flag or --file');
    const updated = await client(cmd).patch<Policy>(`/v1/policies/${enc(id)}`, patch);
    write(`policy ${updated.id} updated\n`);
  });

  policy
    .command('remove')
    .argument('<id>', 'policy id')
    .description('delete a policy')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      await client(cmd).delete(`/v1/policies/${enc(checkIdArgument(id, 'ID'))}`);
      write(`policy ${id} removed\n`);
    });

  for (const verb of ['enable', 'disable'] as const) {
    policy
      .command(verb)
      .argument('<id>', 'policy id')
      .description(verb === 'enable' ? 'put a policy in force' : 'suspend a policy (it stays listed)')
      .action(async (id: string, _flags: unknown, cmd: Command) => {
        const p = await client(cmd).post<Policy>(`/v1/policies/${enc(checkIdArgument(id, 'ID'))}/${verb}`);
        write(`policy ${p.id} ${p.enabled ? 'enabled' : 'disabled'}\n`);
      });
  }

  policy
    .command('show')
    .argument('<id>', 'policy id')
    .description('show one policy')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const p = await client(cmd).get<Policy>(`/v1/policies/${enc(checkIdArgument(id, 'ID'))}`);
      if (flags.json === true) json(p);
      else write(formatPolicy(p));
    });

  policy
    .command('list')
    .description('list policies')
    .addOption(new Option('--type <type>', 'only this type').choices([...POLICY_TYPES]))
    .option('--region <id>', 'only policies in force in this region (its own and global ones)')
    .addOption(
      new Option('--enabled <bool>', 'only enabled (true) or disabled (false) ones').choices([
        'true',
        'false',
      ]),
    )
    .option(
      '--client <ip-or-key>',
      'an IP (WAF client_ip rules covering it) or a key such as header:x-api-key',
    )
    .option('--json', 'print JSON')
    .action(
      async (
        flags: { type?: string; region?: string; enabled?: string; client?: string; json?: boolean },
        cmd: Command,
      ) => {
        const params = new URLSearchParams();
        if (flags.type !== undefined) params.set('type', flags.type);
        if (flags.region !== undefined) params.set('region', checkIdArgument(flags.region, '--region'));
        if (flags.enabled !== undefined) params.set('enabled', flags.enabled);
        if (flags.client !== undefined) params.set('client', flags.client);
        const query = params.toString();
        const { policies } = await client(cmd).get<{ policies: Policy[] }>(
          `/v1/policies${query === '' ? '' : `?${query}`}`,
        );
        if (flags.json === true) json(policies);
        else write(formatPolicies(policies));
      },
    );

  policy
    .command('import')
    .argument('<file>', 'YAML or JSON: a list of policies, or a mapping with a "policies" list')
    .description('create or replace many policies at once: all or nothing')
    .option('--replace', 'also remove every policy the file does not name')
    .action(async (file: string, flags: { replace?: boolean }, cmd: Command) => {
      const policies = policiesOf(await readDocument(file), file);
      try {
        validateBatch(policies);
      } catch (err) {
        flagError(err, file);
      }
      const r = await client(cmd).post<ImportResult>('/v1/policies/import', {
        policies,
        replace: flags.replace === true,
      });
      write(
        `imported ${policies.length} polic${policies.length === 1 ? 'y' : 'ies'}: ${r.created} created, ${r.updated} updated, ${r.removed} removed (${r.total} in total)\n`,
      );
    });

  policy
    .command('export')
    .description('print every policy in the form "policy import" reads')
    .addOption(new Option('--format <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .option('-o, --output <file>', 'write to this file instead of standard output')
    .action(async (flags: { format: 'yaml' | 'json'; output?: string }, cmd: Command) => {
      const doc = await client(cmd).get<{ version: number; policies: Policy[] }>('/v1/policies/export');
      const text = flags.format === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : toYaml(doc);
      if (flags.output === undefined) write(text);
      else {
        await writeFile(flags.output, text);
        write(`exported ${doc.policies.length} policies to ${flags.output}\n`);
      }
    });

  policy
    .command('usage')
    .argument('<policy-id>', 'a quota policy')
    .argument('<key>', 'the client key: an IP, a header value, a tenant name')
    .description("show a quota's current usage for one key")
    .option('--json', 'print JSON')
    .action(async (policyId: string, key: string, flags: { json?: boolean }, cmd: Command) => {
      const u = await client(cmd).get<QuotaUsage>(
        `/v1/quotas/${enc(checkIdArgument(policyId, 'POLICY-ID'))}/usage?key=${enc(key)}`,
      );
      if (flags.json === true) json(u);
      else {
        write(
          formatTable(
            ['POLICY', 'KEY', 'USED', 'LIMIT', 'REMAINING', 'PERIOD', 'RESETS AT', 'COUNTING'],
            [
              [
                u.policyId,
                u.key,
                String(u.used),
                String(u.limit),
                String(u.remaining),
                u.period,
                u.resetAt,
                u.counting,
              ],
            ],
          ),
        );
      }
    });
}
