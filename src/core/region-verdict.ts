// One region verdict from many votes (proxy nodes and DNS-side probes), with region-level
// hysteresis. Pure, and derived only from the votes and the time: each vote says since when its
// vantage point holds its view (`since`, the first observation of the streak that changed it) and
// since when it held the view before (`prevSince`), so every process that sees the same votes
// reconstructs the same recent history of the quorum and reaches the same verdict — no process keeps
// a state machine of its own that a restart or a late start would reset.
//
// The quorum's raw signal is piecewise constant between the votes' `since`/`prevSince` times. Walking
// those runs oldest first: the verdict starts as the oldest known situation (or `initialUp` when no
// vote says anything that far back), turns down once a raw "down" run has lasted `downAfterMs`, up
// once a raw "up" run has lasted `upAfterMs`, and never flips sooner than `minFlipIntervalMs` after
// its previous flip. A vote without `since` (a proxy report: the proxy debounces with its own
// rise/fall) is taken to have held its view for as long as anyone can tell.

export type VoteKind = 'proxy' | 'probe';

/** `majority`: down when more than half of the voting weight says down; a number N: when at least N does. */
export type QuorumRule = 'majority' | number;

/** What a region with no votes at all counts as (see README of src/dns/probes). */
export type UnmonitoredPolicy = 'up' | 'down' | 'probe-only';

export interface RegionHealthRule {
  readonly quorum: QuorumRule;
  readonly weights: Readonly<Record<VoteKind, number>>;
  readonly downAfterMs: number;
  readonly upAfterMs: number;
  readonly minFlipIntervalMs: number;
  readonly unmonitored: UnmonitoredPolicy;
}

/** Today's behaviour before region-level hysteresis: majority of nodes, instant flips, unmonitored is up. */
export const INSTANT_RULE: RegionHealthRule = Object.freeze({
  quorum: 'majority',
  weights: Object.freeze({ proxy: 1, probe: 1 }),
  downAfterMs: 0,
  upAfterMs: 0,
  minFlipIntervalMs: 0,
  unmonitored: 'up',
});

/** One vantage point's view of a region. */
export interface Vote {
  readonly vantage: string;
  readonly kind: VoteKind;
  readonly up: boolean;
  readonly weight: number;
  /** Since when (ms epoch) this view holds; undefined: for as long as anyone can tell. */
  readonly since?: number;
  /** Since when the opposite view held before `since`; undefined: unknown. */
  readonly prevSince?: number;
}

export interface RegionVerdict {
  /** The verdict after hysteresis: whether the region serves. */
  readonly up: boolean;
  /** What the quorum says right now, before the timers. */
  readonly rawUp: boolean;
  readonly downWeight: number;
  readonly totalWeight: number;
  /** Since when the quorum has said `rawUp` (−Infinity: as far back as the votes go). */
  readonly rawSince: number;
  /** When the verdict last flipped, as far back as the votes tell. */
  readonly lastFlipAt?: number;
  /** The flip that happens at `at` unless a vote changes first. */
  readonly pending?: { readonly up: boolean; readonly at: number };
}

/** A vote's view at time `t`, or undefined when its history does not reach back that far. */
function viewAt(vote: Vote, t: number): boolean | undefined {
  if (vote.since === undefined || t >= vote.since) return vote.up;
  if (vote.prevSince !== undefined && t >= vote.prevSince) return !vote.up;
  return undefined;
}

/** Whether `downWeight` out of `totalWeight` takes a region down under `quorum`. */
export function quorumSaysDown(downWeight: number, totalWeight: number, quorum: QuorumRule): boolean {
  if (totalWeight <= 0) return false;
  if (quorum === 'majority') return downWeight * 2 > totalWeight;
  // Fewer voters than N: all of them must agree, so a lone vantage point still counts.
  return downWeight >= Math.min(quorum, totalWeight);
}

interface Tally {
  readonly down: number;
  readonly total: number;
}

function tallyAt(votes: readonly Vote[], t: number): Tally {
  let down = 0;
  let total = 0;
  for (const v of votes) {
    const view = viewAt(v, t);
    if (view === undefined || v.weight <= 0) continue;
    total += v.weight;
    if (!view) down += v.weight;
  }
  return { down, total };
}

/** The rule in words, for `explain` and `status`. */
export function describeRule(rule: RegionHealthRule): string {
  const quorum =
    rule.quorum === 'majority'
      ? 'down when a weighted majority of vantage points says down'
      : `down when at least ${rule.quorum} vote weight says down`;
  return `${quorum} (weights proxy ${rule.weights.proxy}, probe ${rule.weights.probe}); down after ${rule.downAfterMs} ms, up after ${rule.upAfterMs} ms, at least ${rule.minFlipIntervalMs} ms between flips; unmonitored: ${rule.unmonitored}`;
}

/**
 * @param initialUp the verdict before the oldest vote history (what a region with no votes counts as).
 */
export function regionVerdict(
  votes: readonly Vote[],
  rule: RegionHealthRule,
  now: number,
  initialUp: boolean,
): RegionVerdict {
  const times = new Set<number>();
  for (const v of votes) {
    if (v.since !== undefined && v.since <= now) times.add(v.since);
    if (v.prevSince !== undefined && v.prevSince <= now) times.add(v.prevSince);
  }
  const starts = [-Infinity, ...[...times].sort((a, b) => a - b)];

  // Runs of the raw quorum signal, oldest first; a stretch nobody voted on keeps the run before it.
  const runs: { start: number; up: boolean }[] = [];
  for (const start of starts) {
    const tally = tallyAt(votes, start);
    const previous = runs.at(-1);
    const up =
      tally.total === 0 ? (previous?.up ?? initialUp) : !quorumSaysDown(tally.down, tally.total, rule.quorum);
    if (previous === undefined || previous.up !== up) runs.push({ start, up });
  }

  const first = runs[0];
  let state = first?.up ?? initialUp;
  let lastFlipAt: number | undefined;
  let pending: RegionVerdict['pending'];
  for (let i = 1; i < runs.length; i++) {
    const run = runs[i];
    if (run === undefined || run.up === state) continue;
    const end = runs[i + 1]?.start ?? now;
    let at = run.start + (run.up ? rule.upAfterMs : rule.downAfterMs);
    if (lastFlipAt !== undefined) at = Math.max(at, lastFlipAt + rule.minFlipIntervalMs);
    const last = i === runs.length - 1;
    if (last ? at <= now : at < end) {
      state = run.up;
      lastFlipAt = at;
    } else if (last) {
      pending = { up: run.up, at };
    }
  }

  const current = tallyAt(votes, now);
  const lastRun = runs.at(-1);
  return {
    up: state,
    rawUp: lastRun?.up ?? initialUp,
    downWeight: current.down,
    totalWeight: current.total,
    rawSince: lastRun?.start ?? -Infinity,
    ...(lastFlipAt === undefined ? {} : { lastFlipAt }),
    ...(pending === undefined ? {} : { pending }),
  };
}
