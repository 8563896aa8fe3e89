#!/usr/bin/env bash
# Memory of Meridian's DNS tier under the traffic a public GSLB sees: every query carries a client
# /24 in ECS, drawn from 1,000,000 distinct located /24s (scripts/gen-dns-ecs-queries.ts), sent
# over and over until --queries have been answered. Prints the node's memory (RSS and PSS summed
# over the primary and its workers; PSS counts a page shared by several processes once) after the
# first 100,000 queries (other /24s) and then after every run through the --subnets file: the
# curve #13 asks to stay flat (the last RSS at most 1.2x the one after 100k).
#   usage: scripts/bench-dns-memory.sh [--workers N] [--queries N] [--subnets N]
#   env:   CONFIG (default config/bench-dns.yaml); SOURCE=1 runs the sources through tsx instead of
#          the built node (scripts/bench-dns-start.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-config/bench-dns.yaml}
WORKERS=2 QUERIES=10000000 SUBNETS=1000000
while (($#)); do
  case $1 in
    --workers) WORKERS=$2; shift 2 ;;
    --queries) QUERIES=$2; shift 2 ;;
    --subnets) SUBNETS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v dnsperf >/dev/null || { echo "dnsperf not found (apt-get install dnsperf)" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'kill "${SERVER:-}" 2>/dev/null; wait "${SERVER:-}" 2>/dev/null; rm -rf "$TMP"' EXIT
# shellcheck source=scripts/bench-dns-start.sh
source scripts/bench-dns-start.sh
start_meridian_dns
node --import tsx scripts/gen-dns-ecs-queries.ts "$TMP/ecs" --count "$SUBNETS" --warmup 100000 --latency 0 |
  sed 's/^/# /'

memory() {
  local rss=0 pss=0 p
  for p in $PIDS; do
    [[ -r /proc/$p/smaps_rollup ]] || continue
    rss=$((rss + $(awk '/^Rss:/ {print $2}' "/proc/$p/smaps_rollup")))
    pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
  done
  printf 'RSS %4d MB  PSS %4d MB' $((rss / 1024)) $((pss / 1024))
}
run() { # file: sends every query of it once; prints how many were answered
  local out
  out=$(dnsperf -s 127.0.0.1 -p "$PORT" -d "$1" -B -n 1 -c 4 -q 200 2>&1 | awk '/Queries completed/ {print $3}')
  echo "${out:-0}"
}

echo "# meridian DNS memory: port $PORT, workers $WORKERS, $(nproc) cores; idle: $(memory)"
done_q=$(run "$TMP/ecs.warmup.bin")
printf '%10d queries  %s\n' "$done_q" "$(memory)"
while ((done_q < QUERIES)); do
  n=$(run "$TMP/ecs.measure.bin")
  ((n > 0)) || { echo "no queries answered" >&2; exit 1; }
  done_q=$((done_q + n))
  printf '%10d queries  %s\n' "$done_q" "$(memory)"
done
