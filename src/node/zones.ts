// The YAML `dns.zones` and the zone store on start-up: the YAML seeds the store only when the store
// has never held a zone (a node's very first start on an empty store); from then on the store — the
// API and the CLI — wins and the YAML list is ignored, with a log line saying so.
import type { DnsConfig } from '../config/dns-schema.js';
import type { DeepReadonly } from '../config/load.js';
import { MeridianError, isMeridianError } from '../core/errors.js';
import type { Logger } from '../infra/logger.js';
import type { ZoneStore } from '../storage/zone-store.js';

/** Seeds the store from the configuration when it never held zones; a bad zone is E_CONFIG (exit 2). */
export async function seedZones(
  store: ZoneStore,
  dns: DeepReadonly<DnsConfig>,
  logger: Logger,
): Promise<void> {
  let written: number;
  try {
    written = await store.seed(dns.zones);
  } catch (err) {
    if (isMeridianError(err) && err.code === 'E_VALIDATION') {
      throw new MeridianError('E_CONFIG', err.message, {
        ...(err.field === undefined ? {} : { field: err.field }),
      });
    }
    throw err;
  }
  if (written > 0) logger.info({ zones: written }, 'zone store seeded from dns.zones (first start)');
  else if (dns.zones.length > 0)
    logger.info(
      { configured: dns.zones.length, stored: store.current().length },
      'dns.zones ignored: the zone store already holds the zones (change them with `meridian zone`/`record`)',
    );
}
