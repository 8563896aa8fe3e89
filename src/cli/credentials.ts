// Where `meridian login` keeps the session token it got: one JSON file per user,
// `$XDG_CONFIG_HOME/meridian/credentials.json` (else `~/.config/meridian/credentials.json`), mode 0600
// in a 0700 folder, keyed by the admin API's URL so several clusters can be logged into at once.
// `--token` and MERIDIAN_API_TOKEN always win over it.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface StoredLogin {
  readonly token: string;
  readonly user: string;
  readonly expiresAt: string;
}

type CredentialsFile = Record<string, StoredLogin>;

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== ''
      ? env.XDG_CONFIG_HOME
      : join(env.HOME ?? homedir(), '.config');
  return join(base, 'meridian', 'credentials.json');
}

function read(path: string): CredentialsFile {
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as CredentialsFile) : {};
  } catch {
    return {};
  }
}

function write(path: string, data: CredentialsFile): void {
  const dir = join(path, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  // A file left by an older version with wider bits is replaced by this one, created 0600.
  renameSync(tmp, path);
  chmodSync(path, 0o600);
}

/** The login stored for this API, unless it has expired. */
export function storedLogin(
  apiUrl: string,
  env: NodeJS.ProcessEnv = process.env,
  now = Date.now(),
): StoredLogin | undefined {
  const login = read(credentialsPath(env))[apiUrl];
  if (login === undefined || typeof login.token !== 'string') return undefined;
  return Date.parse(login.expiresAt) > now ? login : undefined;
}

export function storeLogin(apiUrl: string, login: StoredLogin, env: NodeJS.ProcessEnv = process.env): string {
  const path = credentialsPath(env);
  write(path, { ...read(path), [apiUrl]: login });
  return path;
}

/** Forgets the login for this API; true when there was one. */
export function forgetLogin(apiUrl: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const path = credentialsPath(env);
  const all = read(path);
  if (all[apiUrl] === undefined) return false;
  const { [apiUrl]: _gone, ...rest } = all;
  write(path, rest);
  return true;
}
