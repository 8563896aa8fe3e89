// How an answering process follows the zone store: every change is compiled and swapped in (see
// runtime.ts `setZones`); a change that does not compile is logged and the zones before it keep
// serving. Shared by the single-process tier (index.ts) and the cluster primary (cluster.ts).
import type { ZoneConfig } from '../config/dns-schema.js';
import type { DeepReadonly } from '../config/load.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../infra/logger.js';
import type { ZoneSource } from './types.js';

/**
 * Calls `apply` with the zones after every zone store change; a change that does not compile is
 * logged and the zones before it keep serving. `served`: the zones the caller started with — a
 * change made before the subscription (while sockets were being opened) is applied at once.
 * Returns the unsubscribe.
 */
export function followZones(
  source: ZoneSource | undefined,
  served: readonly DeepReadonly<ZoneConfig>[],
  apply: (zones: readonly DeepReadonly<ZoneConfig>[]) => void,
  logger: Logger,
): () => void {
  if (source === undefined) return () => undefined;
  const applyLogged = (zones: readonly DeepReadonly<ZoneConfig>[]): void => {
    try {
      apply(zones);
      logger.info({ zones: zones.length }, 'DNS zones reloaded');
    } catch (err) {
      logger.error({ err: describeError(err) }, 'zone change not applied: the previous zones keep serving');
    }
  };
  const unsubscribe = source.onChange(applyLogged);
  if (source.current() !== served) applyLogged(source.current());
  return unsubscribe;
}
