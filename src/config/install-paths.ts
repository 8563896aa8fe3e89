// Where Meridian is installed: the package root (the folder holding its package.json), found from
// this module's own location so it is the same whether the code runs from the TypeScript sources
// (src/) through tsx, from the compiled output (dist/), or from a globally installed package run in
// any working directory. Files shipped with the package (the example config, the native addon,
// geo-data/) are located from here, never from the cwd.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'meridian-gslb';

/** Walks up from this module's folder to the first package.json that is Meridian's. */
function findPackageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && readManifest(manifest)?.name === PACKAGE_NAME) return dir;
    if (dirname(dir) === dir) break;
  }
  // Only a broken install gets here (package.json deleted); the layout puts it two levels up.
  return join(start, '..', '..');
}

function readManifest(path: string): { name?: unknown; version?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    return undefined;
  }
}

/** Absolute path of the installed package (the checkout root when run from a checkout). */
export const PACKAGE_ROOT = findPackageRoot();

/** A path inside the installed package, e.g. `packagePath('config', 'meridian.yaml')`. */
export function packagePath(...segments: string[]): string {
  return join(PACKAGE_ROOT, ...segments);
}

/** The version in the package's package.json ('0.0.0' only if it cannot be read). */
export function packageVersion(): string {
  const version = readManifest(packagePath('package.json'))?.version;
  return typeof version === 'string' ? version : '0.0.0';
}
