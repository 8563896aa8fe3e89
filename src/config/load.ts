// Reads, validates and freezes the configuration. A bad file stops start-up with one line per
// problem naming the key path and what was expected.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { MeridianError } from '../core/errors.js';
import { packagePath } from './install-paths.js';
import { configSchema, type Config } from './schema.js';
import { openSealedValues, type SealedOpener } from './sealed-values.js';
import { deepFreeze } from '../core/freeze.js';

export interface LoadedConfig {
  readonly config: DeepReadonly<Config>;
  /** Absolute path of the file read, or undefined for the built-in defaults. */
  readonly path: string | undefined;
  /** Resolves a path from the config relative to the config file's folder. */
  readonly resolvePath: (p: string) => string;
  readonly nodeId: string;
}

export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out === '' ? '(root)' : out;
}

function describeInput(input: unknown): string {
  if (input === undefined) return 'nothing';
  const text = JSON.stringify(input);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** `dns.zones[0].soa.refresh: expected a positive integer, got "x"` — one line per issue. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const where = formatPath(issue.path);
      if (issue.code === 'unrecognized_keys') return `${where}: unknown key(s) ${issue.keys.join(', ')}`;
      const got = 'input' in issue ? `, got ${describeInput(issue.input)}` : '';
      const message = issue.message.replace(/^Invalid input: /, '');
      return `${where}: ${message}${got}`;
    })
    .join('\n');
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Per-host settings operators pass in the environment; they win over the file. */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out = structuredClone(raw);
  const section = (name: string): Record<string, unknown> => {
    const current = out[name];
    if (typeof current === 'object' && current !== null && !Array.isArray(current))
      return current as Record<string, unknown>;
    const fresh: Record<string, unknown> = {};
    out[name] = fresh;
    return fresh;
  };
  if (env.MERIDIAN_REDIS_URL) {
    const state = section('state');
    state.backend = 'redis';
    const redis = (state.redis as Record<string, unknown> | undefined) ?? {};
    state.redis = { ...redis, url: env.MERIDIAN_REDIS_URL };
  }
  if (env.MERIDIAN_STATE_FILE) section('state').file = env.MERIDIAN_STATE_FILE;
  if (env.MERIDIAN_API_TOKEN) section('api').token = env.MERIDIAN_API_TOKEN;
  if (env.MERIDIAN_API_LISTEN) section('api').listen = env.MERIDIAN_API_LISTEN;
  if (env.MERIDIAN_DNS_LISTEN) section('dns').listen = splitList(env.MERIDIAN_DNS_LISTEN);
  if (env.MERIDIAN_PROXY_LISTEN) {
    const proxy = out.proxy;
    if (typeof proxy === 'object' && proxy !== null)
      (proxy as Record<string, unknown>).listen = splitList(env.MERIDIAN_PROXY_LISTEN);
  }
  return out;
}

/** Validates an already-parsed document (after env overrides). Throws E_CONFIG listing every problem. */
export function validateConfig(raw: unknown): Config {
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new MeridianError('E_CONFIG', formatIssues(result.error.issues));
  return result.data;
}

/** The config file `serve` reads without --config, relative to the working directory and to the package. */
export const DEFAULT_CONFIG = 'config/meridian.yaml';

/**
 * The file `serve` reads without --config: `config/meridian.yaml` in the working directory when
 * present (a checkout, or an operator's own folder), else the example shipped in the installed
 * package (so an installed `meridian serve` runs from any folder, its relative paths — the bundled
 * geo data — resolving inside the package), else undefined: the built-in defaults.
 */
export function defaultConfigPath(cwd: string = process.cwd()): string | undefined {
  const local = resolve(cwd, DEFAULT_CONFIG);
  if (existsSync(local)) return local;
  const shipped = packagePath(DEFAULT_CONFIG);
  return existsSync(shipped) ? shipped : undefined;
}

export function loadConfig(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  /** Opens values sealed with the node's key ring (sealed-values.ts); without it they are refused. */
  opener?: SealedOpener,
): LoadedConfig {
  let raw: unknown = {};
  let absolute: string | undefined;
  if (path !== undefined) {
    absolute = resolve(path);
    let text: string;
    try {
      text = readFileSync(absolute, 'utf8');
    } catch (err) {
      throw new MeridianError('E_CONFIG', `cannot read config file ${absolute}: ${(err as Error).message}`);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      throw new MeridianError('E_CONFIG', `${absolute}: invalid YAML: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new MeridianError('E_CONFIG', `${absolute}: expected a YAML mapping at the top level`);
    }
  }
  const base = absolute === undefined ? process.cwd() : dirname(absolute);
  const resolvePath = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const opened = openSealedValues(applyEnv(raw as Record<string, unknown>, env), opener, resolvePath);
  const config = validateConfig(opened);
  return {
    config: deepFreeze(config),
    path: absolute,
    resolvePath,
    nodeId: config.nodeId ?? `${hostname()}:${process.pid}`,
  };
}
