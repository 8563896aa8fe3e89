// What this node announces about itself in the node registry: its roles, region, listen addresses,
// version, start time and a hash of its effective configuration (nodes whose configurations differ
// stand out in `meridian nodes`).
import { createHash, randomUUID } from 'node:crypto';
import type { LoadedConfig } from '../config/load.js';
import { packageVersion } from '../config/install-paths.js';
import type { NodeRecord, NodeRole } from '../storage/node-registry.js';

export function configHash(loaded: LoadedConfig): string {
  return createHash('sha256').update(JSON.stringify(loaded.config)).digest('hex');
}

/** The record before the tiers listen: addresses as configured. */
export function nodeRecord(loaded: LoadedConfig, startedAt: number): NodeRecord {
  const { config } = loaded;
  const roles: NodeRole[] = [];
  const addresses: string[] = [];
  if (config.dns.enabled) {
    roles.push('dns');
    addresses.push(...config.dns.listen.map((a) => `dns ${a}`));
  }
  if (config.proxy !== undefined) {
    roles.push('proxy');
    addresses.push(...config.proxy.listen.map((a) => `proxy ${a}`));
  }
  if (config.api.enabled) {
    roles.push('api');
    addresses.push(`api ${config.api.listen}`);
  }
  return {
    id: loaded.nodeId,
    instance: randomUUID(),
    roles,
    ...(config.proxy === undefined ? {} : { region: config.proxy.region }),
    addresses,
    version: packageVersion(),
    startedAt: new Date(startedAt).toISOString(),
    configHash: configHash(loaded),
  };
}
