#!/usr/bin/env bash
# Benchmarks Meridian's DNS tier with dnsperf on loopback: geo-routed A/AAAA queries for
# www.example.test, plain and with a fixed EDNS Client Subnet per pass (dnsperf's -E sends one
# option for every query, so the ECS mix is three passes: Frankfurt, Ashburn, Singapore networks).
# A pair of passes sends 100,000 distinct names under a balanced wildcard, so replies come from
# the full answer path rather than the answer cache. The last pass is what a public GSLB sees:
# every query carries a different client /24 in ECS (--subnets of them, default 1,000,000, drawn
# from the /24s GeoLite2 locates by scripts/gen-dns-ecs-queries.ts; warm-up and latency runs use
# other /24s, so no subnet repeats).
# Prints per pass: QPS, average latency, p50/p99 (from a short -v pass), the server's CPU µs per
# query (utime+stime of the primary and its workers from /proc, before/after) and the server's RSS
# and PSS (primary + workers, summed) after the pass. After the distinct-/24 pass, a paced run at
# half of the QPS it reached (dnsperf -Q, on /24s no earlier pass sent) gives the latency
# distribution a server sees in normal operation: p50, p90, p99, p99.9 and max, with the server's
# CPU per query and the time its threads waited for a CPU (dnsperf shares the machine's cores).
# With --peer gdnsd, Debian's gdnsd answers the same zone from the same regions and geo data
# (scripts/gen-gdnsd-peer.ts) with as many UDP threads as Meridian has workers, and the plain and
# distinct-/24 passes then alternate between the two servers (M G G M ... over --rounds rounds,
# default 2), so the machine's noise falls on both; gdnsd then also gets the paced run, at the
# same rate and on the same /24s as Meridian's.
# With --dnssec, example.test is signed (meridian dnssec enable) and the distinct-/24 pass runs again
# with the DO bit set (scripts/gen-dns-ecs-queries.ts --dnssec-ok), alternated with the unsigned one over --rounds rounds: every
# reply then carries RRSIGs, so it prints the ratio signed/unsigned and the signature cache's hit
# rate and signing time from the node's /metrics.
#   usage: scripts/bench-dns.sh [--workers N] [--seconds S] [--clients C] [--subnets N]
#          [--peer gdnsd] [--rounds R] [--dnssec]
#   env:   CONFIG (default config/bench-dns.yaml); SOURCE=1 runs the sources through tsx instead of
#          the built node (scripts/bench-dns-start.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-config/bench-dns.yaml}
WORKERS=2 SECS=10 CLIENTS=4 SUBNETS=1000000 PEER='' ROUNDS=2 DNSSEC=0
while (($#)); do
  case $1 in
    --workers) WORKERS=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --subnets) SUBNETS=$2; shift 2 ;;
    --peer) PEER=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --dnssec) DNSSEC=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v dnsperf >/dev/null || { echo "dnsperf not found (apt-get install dnsperf)" >&2; exit 2; }
case $PEER in
  '') ;;
  gdnsd) command -v gdnsd >/dev/null || { echo "gdnsd not found (apt-get install gdnsd)" >&2; exit 2; } ;;
  *) echo "--peer: only gdnsd is supported, got $PEER" >&2; exit 2 ;;
esac
TMP=$(mktemp -d)
PEER_PID=''
trap 'kill "${SERVER:-}" $PEER_PID 2>/dev/null; wait "${SERVER:-}" 2>/dev/null; rm -rf "$TMP"' EXIT
# shellcheck source=scripts/bench-dns-start.sh
source scripts/bench-dns-start.sh
start_meridian_dns
TCK=$(getconf CLK_TCK)
echo "# meridian DNS: port $PORT, workers $WORKERS, pids $PIDS; dnsperf -c $CLIENTS -l $SECS; $(nproc) cores"

# Query mix: geo-routed A and AAAA (3:1).
for _ in 1 2 3; do echo 'www.example.test A'; done >"$TMP/geo.txt"
echo 'www.example.test AAAA' >>"$TMP/geo.txt"
# 100,000 distinct names under the balanced wildcard *.cdn (A and AAAA 3:1): more than the answer
# cache holds, so every query is answered afresh (parse, zone lookup, steering, encoding).
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "n%d.cdn.example.test %s\n", i, (i % 4 == 3 ? "AAAA" : "A") }' >"$TMP/distinct.txt"
# Every query its own located client /24 in ECS (binary dnsperf input, -B).
# The paced half-peak runs get /24s of their own (--paced), unseen by any earlier pass.
node --import tsx scripts/gen-dns-ecs-queries.ts "$TMP/ecs" --count "$SUBNETS" \
  --warmup $((SUBNETS * 3 / 10)) --latency $((SUBNETS * 3 / 10)) --paced $((SUBNETS * 6 / 10)) | sed 's/^/# /'

run_queue_ns() { # time the server's threads spent runnable but waiting for a CPU (schedstat)
  local p
  for p in $PIDS; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done | awk '{t += $2} END {printf "%.0f\n", t}'
}

cpu_ticks() {
  local t=0 p
  for p in $PIDS; do
    [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}

rss_mb() { # memory of the primary and its workers, MB: "RSS <sum> MB PSS <sum>" — the RSS sum counts
  # pages shared between the processes (the node binary, the mapped geo snapshots) once per
  # process; PSS divides each shared page among the processes mapping it, so its sum is the
  # node's real footprint.
  local rss=0 pss=0 p
  for p in $PIDS; do
    [[ -r /proc/$p/smaps_rollup ]] || continue
    rss=$((rss + $(awk '/^Rss:/ {print $2}' "/proc/$p/smaps_rollup")))
    pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
  done
  echo "$((rss / 1024)) MB PSS $((pss / 1024))"
}

pass() { # name, extra dnsperf args... (query files: $DATA, default the geo mix; $WARM and $LAT
  # for the warm-up and latency runs, default $DATA)
  local name=$1; shift
  local data=${DATA:-$TMP/geo.txt}
  # warm-up (JIT, caches), then the measured run
  dnsperf -s 127.0.0.1 -p "$PORT" -d "${WARM:-$data}" -l 2 -c "$CLIENTS" -q 200 "$@" >/dev/null 2>&1 || true
  local before after out qps avg n
  before=$(cpu_ticks)
  out=$(dnsperf -s 127.0.0.1 -p "$PORT" -d "$data" -l "$SECS" -c "$CLIENTS" -q 200 "$@" 2>&1)
  after=$(cpu_ticks)
  n=$(sed -n 's/.*Queries completed: *\([0-9]*\).*/\1/p' <<<"$out")
  qps=$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' <<<"$out")
  avg=$(sed -n 's/.*Average Latency (s): *\([0-9.]*\).*/\1/p' <<<"$out")
  local lost
  lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' <<<"$out")
  # Latency percentiles from a short verbose pass (per-query lines), not the measured one.
  dnsperf -s 127.0.0.1 -p "$PORT" -d "${LAT:-$data}" -l 3 -c "$CLIENTS" -q 200 -v "$@" 2>/dev/null |
    awk '$1 == ">" && $2 == "NOERROR" {print $NF}' | sort -g >"$TMP/lat.txt" || true
  local count p50 p99
  count=$(wc -l <"$TMP/lat.txt")
  if ((count > 0)); then
    p50=$(awk -v n="$count" 'NR == int(n * 0.50) + 1 {printf "%.3f", $1 * 1000}' "$TMP/lat.txt")
    p99=$(awk -v n="$count" 'NR == int(n * 0.99) + 1 {printf "%.3f", $1 * 1000}' "$TMP/lat.txt")
  else p50=n/a p99=n/a; fi
  local us
  us=$(awk -v t=$((after - before)) -v n="$n" -v hz="$TCK" 'BEGIN { if (n > 0) printf "%.2f", t / hz * 1e6 / n; else print "n/a" }')
  printf '%-28s qps %10.0f  avg %7.3f ms  p50 %s ms  p99 %s ms  server CPU %s us/query  RSS %s MB  (completed %s, lost %s)\n' \
    "$name" "$qps" "$(awk -v a="$avg" 'BEGIN{print a * 1000}')" "$p50" "$p99" "$us" "$(rss_mb)" "$n" "${lost:-0}"
  LAST_QPS=${qps%.*}
}

paced() { # name, rate, extra dnsperf args...: a verbose run held at `rate` QPS (dnsperf -Q), every
  # query's latency kept, so the percentiles are over the whole run rather than a sample. Also
  # prints the server's CPU per query and how long its processes waited for a CPU (run queue, from
  # /proc/PID/schedstat): on a machine whose cores dnsperf shares, that wait is where tails come from.
  local name=$1 rate=$2; shift 2
  local data=${DATA:-$TMP/geo.txt}
  local before_q before_t
  before_q=$(run_queue_ns) before_t=$(cpu_ticks)
  # -n 1: each query of the file once at most, so no subnet repeats. The per-query lines go to a
  # file and are sorted afterwards, so no awk or sort competes with the server for the CPUs.
  dnsperf -s 127.0.0.1 -p "$PORT" -d "$data" -l "$SECS" -n 1 -c "$CLIENTS" -q 500 -Q "$rate" -v "$@" \
    >"$TMP/paced.raw" 2>/dev/null || true
  local wait_ms us
  wait_ms=$((($(run_queue_ns) - before_q) / 1000000))
  awk '$1 == ">" && $2 == "NOERROR" {print $NF}' "$TMP/paced.raw" | sort -g >"$TMP/paced.txt"
  local count
  count=$(wc -l <"$TMP/paced.txt")
  ((count > 0)) || { echo "$name: no answers"; return; }
  us=$(awk -v t=$(($(cpu_ticks) - before_t)) -v n="$count" -v hz="$TCK" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
  awk -v n="$count" -v name="$name" -v rate="$rate" -v secs="$SECS" -v us="$us" -v wait="$wait_ms" '
    function at(q) { i = int(n * q) + 1; if (i > n) i = n; return v[i] * 1000 }
    { v[NR] = $1 }
    END { printf "%-28s paced %d qps (%d answered, at most %d s)  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms  server CPU %s us/query, waited %d ms for a CPU\n",
            name, rate, n, secs, at(0.5), at(0.9), at(0.99), at(0.999), v[n] * 1000, us, wait }' "$TMP/paced.txt"
}

echo "# server RSS before the passes: $(rss_mb) MB"

if [[ $PEER == gdnsd ]]; then
  PEER_PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  node --import tsx scripts/gen-gdnsd-peer.ts "$TMP/gdnsd" --port "$PEER_PORT" --threads "$WORKERS" | sed 's/^/# /'
  gdnsd -c "$TMP/gdnsd" start >"$TMP/gdnsd.log" 2>&1 &
  PEER_PID=$!
  for _ in $(seq 1 600); do
    grep -q 'DNS listeners started' "$TMP/gdnsd.log" && break
    kill -0 "$PEER_PID" 2>/dev/null || { cat "$TMP/gdnsd.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "# gdnsd $(gdnsd -V 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1): port $PEER_PORT, $WORKERS UDP threads, pid $PEER_PID; RSS $(PIDS=$PEER_PID rss_mb) MB"
fi
# Runs a pass against gdnsd: the same function with the peer's port and process.
peer() { local PORT=$PEER_PORT PIDS=$PEER_PID; "$@"; }

if [[ -n $PEER ]]; then
  # Alternated rounds on the two passes that matter most: cache-friendly and every subnet new.
  for round in $(seq 1 "$ROUNDS"); do
    order='meridian peer'
    ((round % 2 == 0)) && order='peer meridian'
    for who in $order; do
      run='' label=meridian
      [[ $who == peer ]] && run=peer label=$PEER
      $run pass "$label plain (round $round)"
      DATA=$TMP/ecs.measure.bin WARM=$TMP/ecs.warmup.bin LAT=$TMP/ecs.latency.bin \
        $run pass "$label distinct ecs /24 ($round)" -B
    done
  done
fi

pass plain
pass 'ecs 192.0.2.0/24' -E 8:00011800c00002
pass 'ecs 198.51.100.0/24' -E 8:00011800c63364
pass 'ecs 203.0.113.0/24' -E 8:00011800cb0071
DATA=$TMP/distinct.txt pass 'distinct names (no cache)'
DATA=$TMP/distinct.txt pass 'distinct + ecs 198.51/24' -E 8:00011800c63364
# With --peer, the rounds above already sent these /24s (to both servers): the label says so.
label='distinct ecs /24 (all new)'
[[ -z $PEER ]] || label='distinct ecs /24 (again)'
DATA=$TMP/ecs.measure.bin WARM=$TMP/ecs.warmup.bin LAT=$TMP/ecs.latency.bin pass "$label" -B
# Half of that peak, paced, over subnets the server has not seen (the paced file's /24s); the peer
# at the same rate and on the same /24s, for comparison.
half=$((LAST_QPS / 2))
DATA=$TMP/ecs.paced.bin paced 'distinct ecs /24 half peak' "$half" -B
if [[ -n $PEER ]]; then DATA=$TMP/ecs.paced.bin peer paced "$PEER distinct ecs /24 at that rate" "$half" -B; fi

if ((DNSSEC)); then
  # The same located /24s again (a million: more than any network-keyed cache holds), unsigned and
  # with the DO bit alternated, then the signed half-peak latency.
  # The same queries with the DO bit (dnsperf's -D does not apply to raw -B input).
  node --import tsx scripts/gen-dns-ecs-queries.ts "$TMP/ecsdo" --count "$SUBNETS" \
    --warmup $((SUBNETS * 3 / 10)) --latency $((SUBNETS * 3 / 10)) --paced $((SUBNETS * 6 / 10)) --dnssec-ok >/dev/null
  declare -A best=([unsigned]=0 [signed]=0)
  for round in $(seq 1 "$ROUNDS"); do
    order='unsigned signed'
    ((round % 2 == 0)) && order='signed unsigned'
    for kind in $order; do
      set=ecs
      [[ $kind == signed ]] && set=ecsdo
      DATA=$TMP/$set.measure.bin WARM=$TMP/$set.warmup.bin LAT=$TMP/$set.latency.bin \
        pass "distinct ecs /24 $kind ($round)" -B
      ((LAST_QPS > best[$kind])) && best[$kind]=$LAST_QPS
    done
  done
  awk -v s="${best[signed]}" -v u="${best[unsigned]}" \
    'BEGIN { if (u > 0) printf "# signed / unsigned (best rounds): %.0f / %.0f QPS = %.2fx\n", s, u, s / u }'
  DATA=$TMP/ecsdo.paced.bin paced 'distinct ecs /24 signed half' $((best[signed] / 2)) -B
  # Signature cache and signing cost (the node's /metrics, summed over its workers).
  curl -sf -H "authorization: Bearer $MERIDIAN_API_TOKEN" "$MERIDIAN_API_URL/metrics" |
    awk '/^meridian_dns_dnssec_/ { print "# " $0 }'
fi
