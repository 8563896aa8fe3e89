// The process's Prometheus registry. Created once by the entry point (`meridian serve`) and passed
// to every component that records metrics: nothing here registers into prom-client's global.
import { Registry, collectDefaultMetrics } from 'prom-client';

export type { Registry };

const PREFIX = 'meridian_';

/**
 * prom-client's default gauges whose names end in `_total`, which Prometheus reserves for counters
 * (`promtool check metrics` rejects them). Each is the sum over the `type` label of the gauge of the
 * same name without `_total` (`sum(meridian_nodejs_active_handles)`), so they are dropped.
 */
const DROPPED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** A fresh registry with Node's default metrics (event-loop lag, heap, GC) under `meridian_`. */
export function createRegistry(): Registry {
  const register = new Registry();
  collectDefaultMetrics({ register, prefix: PREFIX });
  for (const name of DROPPED_DEFAULTS) register.removeSingleMetric(`${PREFIX}${name}`);
  return register;
}

/**
 * The metric `name` already in `registry`, else the one `create` registers there: components that
 * can run twice in one registry (two listeners, both tiers, tests) share their series.
 */
export function reuseMetric<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}
