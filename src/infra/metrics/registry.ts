// The process's Prometheus registry. Created once by the entry point (`meridian serve`) and passed
// to every component that records metrics: nothing here registers into prom-client's global.
import { Registry, collectDefaultMetrics } from 'prom-client';

export type { Registry };

/** A fresh registry with Node's default metrics (event-loop lag, heap, GC) under `meridian_`. */
export function createRegistry(): Registry {
  const register = new Registry();
  collectDefaultMetrics({ register, prefix: 'meridian_' });
  return register;
}
