// The names of the history's per-minute counters (the HistoryStore stores integers by name and
// knows nothing of them): written by recorder.ts, read back by view.ts and the report.
//   dns                      DNS answers steered to the region
//   dns:<CC>:<continent>     … by client country (ISO 3166, `XX` unknown) and continent (`XX` unknown)
//   req:<backend>            proxy requests answered, by backend (`none`: answered by the proxy itself)
//   err:<backend>            … of which 5xx
//   lat:<backend>:<le>       cumulative latency bucket counts (seconds, `inf` for +Inf), as
//                            Prometheus histograms keep them, so nodes' buckets add up
//   waf, rl, quota           requests blocked by the WAF, rejected by a rate limit, by a quota
export const DNS = 'dns';
export const WAF_BLOCKS = 'waf';
export const RATE_LIMITED = 'rl';
export const QUOTA_REJECTED = 'quota';
export const UNKNOWN_PLACE = 'XX';

export const dnsPlaceCounter = (country: string, continent: string): string => `dns:${country}:${continent}`;
export const requestsCounter = (backend: string): string => `req:${backend}`;
export const errorsCounter = (backend: string): string => `err:${backend}`;
export const latencyCounter = (backend: string, le: string): string =>
  `lat:${backend}:${le === '+Inf' ? 'inf' : le}`;

export type ParsedCounter =
  | { readonly kind: 'dns' }
  | { readonly kind: 'dns-place'; readonly country: string; readonly continent: string }
  | { readonly kind: 'requests' | 'errors'; readonly backend: string }
  | { readonly kind: 'latency'; readonly backend: string; readonly le: number }
  | { readonly kind: 'waf' | 'rate-limited' | 'quota' }
  | { readonly kind: 'unknown' };

/** What a stored counter name means. */
export function parseCounter(name: string): ParsedCounter {
  if (name === DNS) return { kind: 'dns' };
  if (name === WAF_BLOCKS) return { kind: 'waf' };
  if (name === RATE_LIMITED) return { kind: 'rate-limited' };
  if (name === QUOTA_REJECTED) return { kind: 'quota' };
  const parts = name.split(':');
  if (parts[0] === 'dns' && parts.length === 3)
    return { kind: 'dns-place', country: parts[1] ?? UNKNOWN_PLACE, continent: parts[2] ?? UNKNOWN_PLACE };
  if ((parts[0] === 'req' || parts[0] === 'err') && parts.length === 2)
    return { kind: parts[0] === 'req' ? 'requests' : 'errors', backend: parts[1] ?? '' };
  if (parts[0] === 'lat' && parts.length === 3) {
    const le = parts[2] === 'inf' ? Infinity : Number(parts[2]);
    if (!Number.isNaN(le)) return { kind: 'latency', backend: parts[1] ?? '', le };
  }
  return { kind: 'unknown' };
}

/**
 * A quantile from cumulative histogram buckets (le → count), interpolated linearly inside the
 * bucket as Prometheus's histogram_quantile does; null without observations. Observations in the
 * +Inf bucket report the highest finite bound.
 */
export function quantileMs(buckets: ReadonlyMap<number, number>, q: number): number | null {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? Math.max(0, ...bounds.map((b) => buckets.get(b) ?? 0));
  if (total <= 0) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const bound of bounds) {
    const count = buckets.get(bound) ?? 0;
    if (count >= rank) {
      if (bound === Infinity) return Math.round(prevBound * 1000 * 100) / 100;
      const inBucket = count - prevCount;
      const seconds =
        inBucket <= 0 ? bound : prevBound + ((bound - prevBound) * (rank - prevCount)) / inBucket;
      return Math.round(seconds * 1000 * 100) / 100;
    }
    prevBound = bound;
    prevCount = count;
  }
  return Math.round(prevBound * 1000 * 100) / 100;
}
