// Step 6: capacity spill. A region whose reported in-flight load exceeds its `capacity` is skipped
// while at least one other candidate is within its capacity; when every candidate is over, none is
// skipped (answering an overloaded region beats answering nothing).
import type { RegionInfo, StepContext } from './context.js';

function overBy(ctx: StepContext, info: RegionInfo): number | undefined {
  const capacity = info.region.capacity;
  if (capacity === undefined) return undefined;
  const inFlight = ctx.health.get(info.id)?.inFlight ?? 0;
  return inFlight > capacity ? inFlight : undefined;
}

export function capacity(ctx: StepContext): void {
  const ordered = ctx.ordered;
  if (ordered === undefined || ordered.length === 0) return;
  const over = new Map<string, number>();
  for (const info of ordered) {
    const load = overBy(ctx, info);
    if (load !== undefined) over.set(info.id, load);
  }
  if (over.size === 0) return;
  const everyOneOver = over.size === ordered.length;
  for (const [id, load] of over) {
    const verdict = ctx.verdictById.get(id);
    if (verdict === undefined) continue;
    const text = `over capacity (${load} > ${verdict.info.region.capacity ?? 0} in-flight)`;
    verdict.reason = everyOneOver ? `${verdict.reason}; ${text}, but every candidate is` : text;
  }
  if (!everyOneOver) {
    ctx.ordered = ordered.filter((info) => !over.has(info.id));
    ctx.rule = `${ctx.rule}+capacity-spill`;
  }
}
