// How many workers a tier runs, and how often one died: the supervisor's own metrics, in the node's
// registry (both tiers share it, told apart by the `tier` label). A tier that answers in its own
// process (`workers: 1`) reports that process as its one worker, so the series always exist.
import { Counter, Gauge, type Registry } from 'prom-client';

const RUNNING = 'meridian_cluster_workers';
const CONFIGURED = 'meridian_cluster_workers_configured';
const RESTARTS = 'meridian_cluster_worker_restarts_total';

function gauge(registry: Registry, name: string, help: string): Gauge<'tier'> {
  return (
    (registry.getSingleMetric(name) as Gauge<'tier'> | undefined) ??
    new Gauge({ name, help, labelNames: ['tier'], registers: [registry] })
  );
}

export class WorkerMetrics {
  private readonly running: Gauge<'tier'>;
  private readonly configured: Gauge<'tier'>;
  private readonly restarts: Counter<'tier'>;

  /** `tier`: 'dns' or 'proxy'. */
  constructor(
    registry: Registry,
    private readonly tier: string,
    configured: number,
  ) {
    this.running = gauge(registry, RUNNING, 'Workers running and answering, per tier.');
    this.configured = gauge(registry, CONFIGURED, 'Workers the tier is configured to run.');
    this.restarts =
      (registry.getSingleMetric(RESTARTS) as Counter<'tier'> | undefined) ??
      new Counter({
        name: RESTARTS,
        help: 'Workers that died while serving and were replaced, per tier.',
        labelNames: ['tier'],
        registers: [registry],
      });
    this.configured.set({ tier }, configured);
    this.running.set({ tier }, 0);
    this.restarts.inc({ tier }, 0);
  }

  setRunning(n: number): void {
    this.running.set({ tier: this.tier }, n);
  }

  died(): void {
    this.restarts.inc({ tier: this.tier });
  }
}
