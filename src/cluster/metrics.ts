// How many workers a tier runs, and how often one died: the supervisor's own metrics, in the node's
// registry (both tiers share it, told apart by the `tier` label). A tier that answers in its own
// process (`workers: 1`) reports that process as its one worker, so the series always exist.
import { Counter, Gauge, type Registry } from 'prom-client';
import { reuseMetric } from '../infra/metrics/registry.js';

const labelNames = ['tier'] as const;

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
    const registers = [registry];
    const gauge = (name: string, help: string): Gauge<'tier'> =>
      reuseMetric(registry, name, () => new Gauge({ name, help, labelNames, registers }));
    this.running = gauge('meridian_cluster_workers', 'Workers running and answering, per tier.');
    this.configured = gauge('meridian_cluster_workers_configured', 'Workers the tier is configured to run.');
    const restarts = 'meridian_cluster_worker_restarts_total';
    this.restarts = reuseMetric(
      registry,
      restarts,
      () =>
        new Counter({
          name: restarts,
          help: 'Workers that died while serving and were replaced, per tier.',
          labelNames,
          registers,
        }),
    );
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
