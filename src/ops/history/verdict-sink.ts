// Region verdict changes into the health history: the node's HealthVerdictWatcher (quorum +
// hysteresis, the same rule DNS answers by) hands every change here, and a change of whether the
// region serves becomes one `verdict` event (statuses that keep it serving or not, such as
// unknown → healthy, are not events), its reason the rule's reasons and every vote. Several nodes see the same flip: the recorder dedupes.
import type { HealthVerdictChange, HealthVerdictSink } from '../health-verdicts.js';
import type { HealthEvent } from '../../storage/history-store.js';

export function verdictEvent(change: HealthVerdictChange): HealthEvent | undefined {
  if (change.wasUp === change.up) return undefined;
  const votes = change.votes.map(
    (v) => `${v.vantage} (${v.kind}) ${v.up ? 'up' : 'down'}${v.reason === undefined ? '' : `: ${v.reason}`}`,
  );
  const reason = [
    ...(change.reasons.length > 0 ? change.reasons : [`verdict ${change.from} → ${change.to}`]),
    ...(votes.length > 0 ? [`votes: ${votes.join(', ')}`] : []),
  ].join('; ');
  return {
    t: change.at,
    region: change.regionId,
    backend: null,
    healthy: change.up,
    reason,
    source: 'verdict',
  };
}

export function historyVerdictSink(record: (event: HealthEvent) => Promise<void>): HealthVerdictSink {
  return {
    verdictChanged: (change) => {
      const event = verdictEvent(change);
      if (event !== undefined) void record(event);
    },
  };
}
