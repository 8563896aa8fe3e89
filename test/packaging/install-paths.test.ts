// Paths resolved from the install location rather than the working directory: the package root, its
// version, and the config `meridian serve` reads without --config (the cwd's config/meridian.yaml
// first, else the example shipped with the package).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { PACKAGE_ROOT, packagePath, packageVersion } from '../../src/config/install-paths.js';
import { defaultConfigPath, loadConfig } from '../../src/config/load.js';
import { REPO_ROOT, tempDir } from '../helpers/meridian-process.js';

void describe('install paths', () => {
  void it('finds the package root and its version from the module, whatever the cwd', () => {
    assert.equal(PACKAGE_ROOT, resolve(REPO_ROOT));
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(packageVersion(), pkg.version);
    assert.notEqual(packageVersion(), '0.0.0');
  });

  void it("reads the cwd's config/meridian.yaml when there is one", () => {
    const cwd = tempDir('meridian-defaultcfg-');
    mkdirSync(join(cwd, 'config'));
    writeFileSync(join(cwd, 'config', 'meridian.yaml'), 'dns: { enabled: false }\n');
    assert.equal(defaultConfigPath(cwd), join(cwd, 'config', 'meridian.yaml'));
  });

  void it('else the shipped example, whose relative geo paths resolve inside the package', () => {
    const path = defaultConfigPath(tempDir('meridian-defaultcfg-empty-'));
    assert.equal(path, packagePath('config', 'meridian.yaml'));
    const loaded = loadConfig(path, {});
    const geo = (loaded.config.dns.geo?.databases ?? []).map((p) => loaded.resolvePath(p));
    assert.ok(geo.includes(packagePath('geo-data', 'test-city.mmdb')), geo.join('\n'));
  });
});
