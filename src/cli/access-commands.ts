// `meridian user …`, `meridian token …`, `meridian whoami`, `meridian login`, `meridian logout`:
// the CLI side of src/api/auth/access-routes.ts. Passwords are read from stdin when it is not a
// terminal (scripts, tests: `echo "$PW" | meridian login alice`), else prompted for without echo;
// they never appear in arguments (shell history, `ps`).
import type { Command } from 'commander';
import type { TokenView, UserView } from '../api/auth/access-routes.js';
import { ApiClient, apiClientFor, apiUrlOf } from './client.js';
import { forgetLogin, storeLogin, storedLogin } from './credentials.js';
import { UsageError, parseList } from './flags.js';
import { formatTable, terminalJson, terminalSafe } from './format.js';

const enc = encodeURIComponent;

export interface AccessCommandDeps {
  readonly env?: NodeJS.ProcessEnv;
  readonly write?: (text: string) => void;
  /** Reads a secret (default: stdin, or a no-echo prompt on a terminal). */
  readonly readSecret?: (prompt: string) => Promise<string>;
}

/** Reads stdin to its end and returns its first line (a password piped in). */
async function firstLineOfStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return (Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '').trimEnd();
}

/** A no-echo prompt on the terminal (stderr), ended by Enter; Ctrl-C aborts. */
function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (err?: Error): void => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (err === undefined) resolve(text);
      else reject(err);
    };
    const onData = (data: Buffer): void => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new UsageError('aborted'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}

export function readSecretDefault(prompt: string): Promise<string> {
  return process.stdin.isTTY ? promptHidden(prompt) : firstLineOfStdin();
}

/** `30d`, `12h`, `90m`, `3600s` (or plain seconds) → seconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as const;
  const seconds = m === null ? NaN : Number(m[1]) * unit[(m[2] ?? '') as keyof typeof unit];
  if (!Number.isSafeInteger(seconds) || seconds < 1) {
    throw new UsageError(
      `${flag}: expected a duration such as 30d, 12h, 90m or 3600s, got ${JSON.stringify(text)}`,
    );
  }
  return seconds;
}

const dash = (v: string | undefined): string => (v === undefined || v === '' ? '-' : v);

export function formatUsers(users: readonly UserView[]): string {
  if (users.length === 0) return 'no users\n';
  return formatTable(
    ['NAME', 'ROLES', 'REGIONS', 'DISABLED', 'CREATED', 'LAST LOGIN'],
    users.map((u) => [
      u.name,
      u.roles.join(','),
      dash(u.regions.join(',')),
      u.disabled ? 'yes' : 'no',
      u.createdAt,
      dash(u.lastLoginAt),
    ]),
  );
}

export function formatTokens(tokens: readonly TokenView[]): string {
  if (tokens.length === 0) return 'no tokens\n';
  return formatTable(
    ['ID', 'USER', 'NAME', 'KIND', 'ROLES', 'CREATED', 'EXPIRES', 'LAST USED'],
    tokens.map((t) => [
      t.id,
      t.user,
      t.name,
      t.kind,
      t.roles.join(','),
      t.createdAt,
      dash(t.expiresAt),
      dash(t.lastUsedAt),
    ]),
  );
}

export function registerAccessCommands(program: Command, deps: AccessCommandDeps = {}): void {
  const env = deps.env ?? process.env;
  const write = deps.write ?? ((text: string) => void process.stdout.write(terminalSafe(text)));
  const json = (value: unknown): void => write(`${terminalJson(value)}\n`);
  const readSecret = deps.readSecret ?? readSecretDefault;
  const client = (cmd: Command): ApiClient => apiClientFor(cmd, env);
  const newPassword = async (): Promise<string> => {
    const password = await readSecret('New password: ');
    if (process.stdin.isTTY && deps.readSecret === undefined) {
      if ((await readSecret('Repeat it: ')) !== password) throw new UsageError('the passwords do not match');
    }
    return password;
  };

  // ---- users ----------------------------------------------------------------------------------
  const user = program.command('user').description('manage users (needs an admin token)');
  user
    .command('add')
    .argument('<name>', 'user name: 1-64 of [a-z0-9._-]')
    .requiredOption('--role <roles>', 'comma-separated roles: admin, operator, viewer, reporter')
    .option('--region <ids>', 'comma-separated regions a reporter may report health for')
    .description('create a user; the password is read from stdin (or prompted for on a terminal)')
    .action(async (name: string, flags: { role: string; region?: string }, cmd: Command) => {
      const body = {
        name,
        password: await newPassword(),
        roles: parseList(flags.role),
        ...(flags.region === undefined ? {} : { regions: parseList(flags.region) }),
      };
      const created = await client(cmd).post<UserView>('/v1/users', body);
      write(`created user ${created.name} (${created.roles.join(', ')})\n`);
    });
  user
    .command('list')
    .option('--json', 'print JSON')
    .description('list users')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const { users } = await client(cmd).get<{ users: UserView[] }>('/v1/users');
      if (flags.json === true) json(users);
      else write(formatUsers(users));
    });
  user
    .command('show')
    .argument('<name>', 'user name')
    .option('--json', 'print JSON')
    .description('show one user')
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      const u = await client(cmd).get<UserView>(`/v1/users/${enc(name)}`);
      if (flags.json === true) json(u);
      else write(formatUsers([u]));
    });
  user
    .command('passwd')
    .argument('<name>', 'user name')
    .description("set a user's password (read from stdin, or prompted for on a terminal)")
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      await client(cmd).patch(`/v1/users/${enc(name)}`, { password: await newPassword() });
      write(`password of ${name} changed\n`);
    });
  for (const [verb, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    user
      .command(verb)
      .argument('<name>', 'user name')
      .description(
        disabled ? 'disable a user: its tokens and sessions stop working at once' : 'enable a disabled user',
      )
      .action(async (name: string, _flags: unknown, cmd: Command) => {
        await client(cmd).patch(`/v1/users/${enc(name)}`, { disabled });
        write(`user ${name} ${verb}d\n`);
      });
  }
  user
    .command('remove')
    .argument('<name>', 'user name')
    .description('remove a user and every token it has')
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      await client(cmd).delete(`/v1/users/${enc(name)}`);
      write(`removed user ${name}\n`);
    });

  // ---- tokens ---------------------------------------------------------------------------------
  const token = program.command('token').description('manage API tokens');
  token
    .command('create')
    .argument('<name>', 'token name, unique per user: 1-64 of [a-z0-9._-]')
    .option('--user <name>', 'the user it belongs to (default: yours; another user needs admin)')
    .option('--role <roles>', "comma-separated subset of the user's roles (default: all of them)")
    .option('--expires <duration>', 'lifetime, e.g. 90d, 12h (default: no expiry)')
    .option('--json', 'print JSON')
    .description('create an API token; the token is printed once and cannot be shown again')
    .action(
      async (
        name: string,
        flags: { user?: string; role?: string; expires?: string; json?: boolean },
        cmd: Command,
      ) => {
        const body = {
          name,
          ...(flags.user === undefined ? {} : { user: flags.user }),
          ...(flags.role === undefined ? {} : { roles: parseList(flags.role) }),
          ...(flags.expires === undefined
            ? {}
            : { expiresInSeconds: parseDuration(flags.expires, '--expires') }),
        };
        const created = await client(cmd).post<TokenView & { token: string }>('/v1/tokens', body);
        if (flags.json === true) {
          json(created);
          return;
        }
        write(`${created.token}\n`);
        process.stderr.write(
          `token ${created.name} (id ${created.id}) for ${created.user}: store it now, it is not shown again\n`,
        );
      },
    );
  token
    .command('list')
    .option('--user <name>', 'only this user (admin)')
    .option('--json', 'print JSON')
    .description('list tokens (yours; an admin sees all)')
    .action(async (flags: { user?: string; json?: boolean }, cmd: Command) => {
      const query = flags.user === undefined ? '' : `?user=${enc(flags.user)}`;
      const { tokens } = await client(cmd).get<{ tokens: TokenView[] }>(`/v1/tokens${query}`);
      if (flags.json === true) json(tokens);
      else write(formatTokens(tokens));
    });
  token
    .command('revoke')
    .argument('<id>', 'token id (see `meridian token list`)')
    .description('revoke a token: it stops working on every node within a second')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      await client(cmd).delete(`/v1/tokens/${enc(id)}`);
      write(`revoked token ${id}\n`);
    });

  // ---- who am I, log in and out ---------------------------------------------------------------
  program
    .command('whoami')
    .option('--json', 'print JSON')
    .description('show the user, token and roles the API sees for your credentials')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const me = await client(cmd).get<{
        user: string;
        token: string;
        roles: string[];
        regions: string[];
        permissions: string[];
      }>('/v1/whoami');
      if (flags.json === true) json(me);
      else
        write(
          `${me.user} (token ${me.token}; roles ${me.roles.join(', ')}; may ${me.permissions.join(', ')})\n`,
        );
    });
  program
    .command('login')
    .argument('<user>', 'user name')
    .description(
      'log in with a password (from stdin, or prompted for) and keep the session token in ~/.config/meridian/credentials.json (0600)',
    )
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      const url = apiUrlOf(cmd);
      const password = await readSecret('Password: ');
      // Logging in never uses a stored or configured token.
      const session = await new ApiClient(url, null, env).request<{
        token: string;
        user: string;
        expiresAt: string;
      }>('POST', '/v1/login', {
        username: name,
        password,
      });
      const path = storeLogin(
        url,
        { token: session.token, user: session.user, expiresAt: session.expiresAt },
        env,
      );
      write(`logged in as ${session.user} until ${session.expiresAt} (token in ${path})\n`);
    });
  program
    .command('logout')
    .description('revoke the stored login session and forget it')
    .action(async (_flags: unknown, cmd: Command) => {
      const url = apiUrlOf(cmd);
      const login = storedLogin(url, env);
      if (login === undefined) {
        forgetLogin(url, env);
        write('not logged in\n');
        return;
      }
      try {
        await new ApiClient(url, login.token, env).post('/v1/logout');
      } finally {
        forgetLogin(url, env);
      }
      write(`logged out ${login.user}\n`);
    });
}
