#!/usr/bin/env bash
# Throughput of Meridian's regional proxy against nginx as a consistent-hash proxy, on loopback.
#
# Starts three nginx backends serving a small static body, nginx as a proxy
# (`hash $cookie_meridian_affinity consistent`, keepalive upstreams) and Meridian's proxy
# (scripts/bench-proxy-server.ts) over the same backends, then runs wrk with a varying affinity
# cookie directly against one backend and through each proxy. Prints requests/s, p50/p99 latency
# and each proxy's CPU time per request (from /proc/<pid>/stat), plus the ratio Meridian/nginx.
#
# The fair comparison: nginx with `worker_processes 2` against Meridian with `workers: 2` (two
# node:cluster workers); CPU time counts each proxy's master/primary and its workers.
#
# The floor (scripts/bench-proxy-floor.ts): Meridian's HTTP/1.1 front-end and undici pools with
# nothing else (round robin, no affinity, headers, health or metrics), as many workers: about the
# least work a streaming proxy that forwards through undici can do per request. meridian / floor
# is the cost of Meridian's features, floor / nginx the limit of the Node + undici stack here.
#
# Policy overhead: a second Meridian proxy enforces a realistic policy set that never triggers
# (10 WAF rules, a rate limit and a quota far above the load; see scripts/bench-proxy-server.ts).
# The two Meridian proxies are measured alternately POLICY_ROUNDS times in ABBA order (the
# machine's noise and drift hit both alike) and the script prints both averages and the throughput drop in % (target < 15 %).
#
# Environment: DURATION (10s), CONNECTIONS (64), THREADS (2), BASE_PORT (18080),
# NGINX_WORKERS (2, the nginx proxy's worker_processes), MERIDIAN_WORKERS (2, proxy.workers),
# COMPARE_ROUNDS (3: rounds of nginx, Meridian and the floor, rotated), POLICY_ROUNDS (2: ABBA
# runs without and with policies).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
BASE_PORT=${BASE_PORT:-18080}
NGINX_WORKERS=${NGINX_WORKERS:-2}
MERIDIAN_WORKERS=${MERIDIAN_WORKERS:-2}
POLICY_ROUNDS=${POLICY_ROUNDS:-2}
COMPARE_ROUNDS=${COMPARE_ROUNDS:-3}
NGINX=${NGINX:-/usr/sbin/nginx}

for tool in wrk "$NGINX" node; do
  command -v "$tool" >/dev/null || { echo "bench-proxy: $tool not found" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/meridian-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

B1=$((BASE_PORT + 1)); B2=$((BASE_PORT + 2)); B3=$((BASE_PORT + 3))
NGINX_PROXY=$((BASE_PORT + 10)); MERIDIAN=$((BASE_PORT + 11)); MERIDIAN_POL=$((BASE_PORT + 12))
FLOOR=$((BASE_PORT + 13))

common="pid PIDFILE; error_log $TMP/error.log warn; daemon off;
events { worker_connections 4096; }"

backend_conf() {
  cat <<EOF
${common//PIDFILE/$TMP/backends.pid}
worker_processes 1;
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 1000000;
  client_body_temp_path $TMP/body; proxy_temp_path $TMP/proxy; fastcgi_temp_path $TMP/fcgi;
  uwsgi_temp_path $TMP/uwsgi; scgi_temp_path $TMP/scgi;
  server { listen 127.0.0.1:$B1; location / { return 200 "hello from b1\n"; } }
  server { listen 127.0.0.1:$B2; location / { return 200 "hello from b2\n"; } }
  server { listen 127.0.0.1:$B3; location / { return 200 "hello from b3\n"; } }
}
EOF
}

proxy_conf() {
  cat <<EOF
${common//PIDFILE/$TMP/proxy.pid}
worker_processes $NGINX_WORKERS;
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $TMP/pbody; proxy_temp_path $TMP/pproxy; fastcgi_temp_path $TMP/pfcgi;
  uwsgi_temp_path $TMP/puwsgi; scgi_temp_path $TMP/pscgi;
  upstream backends {
    hash \$cookie_meridian_affinity consistent;
    server 127.0.0.1:$B1; server 127.0.0.1:$B2; server 127.0.0.1:$B3;
    keepalive 128;
  }
  server {
    listen 127.0.0.1:$NGINX_PROXY;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
EOF
}

backend_conf >"$TMP/backends.conf"
proxy_conf >"$TMP/proxy.conf"
"$NGINX" -p "$TMP" -c "$TMP/backends.conf" 2>>"$TMP/error.log" &
PIDS+=($!)
"$NGINX" -p "$TMP" -c "$TMP/proxy.conf" 2>>"$TMP/error.log" &
NGINX_PROXY_PID=$!
PIDS+=($NGINX_PROXY_PID)

node --import tsx scripts/bench-proxy-server.ts --listen "127.0.0.1:$MERIDIAN" --workers "$MERIDIAN_WORKERS" \
  --backends "http://127.0.0.1:$B1,http://127.0.0.1:$B2,http://127.0.0.1:$B3" >"$TMP/meridian.out" 2>"$TMP/meridian.err" &
MERIDIAN_PID=$!
PIDS+=($MERIDIAN_PID)
node --import tsx scripts/bench-proxy-server.ts --listen "127.0.0.1:$MERIDIAN_POL" --workers "$MERIDIAN_WORKERS" --policies \
  --backends "http://127.0.0.1:$B1,http://127.0.0.1:$B2,http://127.0.0.1:$B3" >"$TMP/meridian-pol.out" 2>"$TMP/meridian-pol.err" &
MERIDIAN_POL_PID=$!
PIDS+=($MERIDIAN_POL_PID)
node --import tsx scripts/bench-proxy-floor.ts --listen "127.0.0.1:$FLOOR" --workers "$MERIDIAN_WORKERS" \
  --backends "http://127.0.0.1:$B1,http://127.0.0.1:$B2,http://127.0.0.1:$B3" >"$TMP/floor.out" 2>"$TMP/floor.err" &
FLOOR_PID=$!
PIDS+=($FLOOR_PID)

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench-proxy: nothing listening on port $1" >&2
  cat "$TMP/error.log" "$TMP/meridian.err" "$TMP/meridian-pol.err" "$TMP/floor.err" >&2 || true
  exit 1
}
for p in "$B1" "$B2" "$B3" "$NGINX_PROXY" "$MERIDIAN" "$MERIDIAN_POL" "$FLOOR"; do wait_port "$p"; done

cat >"$TMP/cookies.lua" <<'EOF'
-- A different affinity cookie on every request, from 1000 sessions, so load spreads over backends.
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, { ["Cookie"] = "meridian_affinity=session-" .. (n % 1000) })
end
EOF

TICKS=$(getconf CLK_TCK)
# CPU ticks (user + system) of a process and its direct children.
cpu_ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    if [[ -r /proc/$pid/stat ]]; then
      local stat
      stat=$(sed 's/^.*) //' "/proc/$pid/stat")
      # After "pid (comm) ", field 14 (utime) and 15 (stime) are words 12 and 13.
      total=$((total + $(awk '{print $12 + $13}' <<<"$stat")))
    fi
  done
  echo "$total"
}

# run NAME URL [PID]: prints one result line and stores rps in RESULT_RPS.
run() {
  local name=$1 url=$2 pid=${3:-} before=0 after=0 out
  [[ -n $pid ]] && before=$(cpu_ticks "$pid")
  out=$(timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$TMP/cookies.lua" "$url")
  [[ -n $pid ]] && after=$(cpu_ticks "$pid")
  local rps p50 p99 requests errors cpu="-"
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")
  if [[ -n $pid && ${requests:-0} -gt 0 ]]; then
    cpu=$(awk -v t="$((after - before))" -v hz="$TICKS" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
  fi
  printf '%-22s %10s rps   p50 %8s   p99 %8s   CPU/req %6s µs   %s\n' "$name" "$rps" "$p50" "$p99" "$cpu" "${errors:-}"
  RESULT_RPS=$rps
  RESULT_CPU=$cpu
  # p99 in ms, whatever unit wrk printed.
  RESULT_P99_MS=$(awk -v v="$p99" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) }
    else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
    print v + 0 }')
}

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, varying meridian_affinity cookie; $(nproc) cores"
echo "nginx worker_processes $NGINX_WORKERS, meridian workers $MERIDIAN_WORKERS; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run "backend direct (nginx)" "http://127.0.0.1:$B1/"
# Warm-up (JIT, pools) so the measured run is steady state.
timeout 30 wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s "$TMP/cookies.lua" "http://127.0.0.1:$MERIDIAN/" >/dev/null
timeout 30 wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -s "$TMP/cookies.lua" "http://127.0.0.1:$NGINX_PROXY/" >/dev/null
timeout 30 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$TMP/cookies.lua" "http://127.0.0.1:$FLOOR/" >/dev/null
# COMPARE_ROUNDS rounds of nginx, Meridian and the floor, the order rotated each round (a drift of
# the machine's speed then weighs on all three alike); averages and ratios of the averages.
declare -A SUM_RPS=() SUM_CPU=() WORST_P99=()
targets=(nginx meridian floor)
for round in $(seq 1 "$COMPARE_ROUNDS"); do
  for k in 0 1 2; do
    target=${targets[$(((round - 1 + k) % 3))]}
    case $target in
      nginx) run "nginx hash proxy (r$round)" "http://127.0.0.1:$NGINX_PROXY/" "$NGINX_PROXY_PID" ;;
      meridian) run "meridian proxy (r$round)" "http://127.0.0.1:$MERIDIAN/" "$MERIDIAN_PID" ;;
      floor) run "floor (r$round)" "http://127.0.0.1:$FLOOR/" "$FLOOR_PID" ;;
    esac
    SUM_RPS[$target]=$(awk -v a="${SUM_RPS[$target]:-0}" -v b="$RESULT_RPS" 'BEGIN {print a + b}')
    SUM_CPU[$target]=$(awk -v a="${SUM_CPU[$target]:-0}" -v b="$RESULT_CPU" 'BEGIN {print a + b}')
    WORST_P99[$target]=$(awk -v a="${WORST_P99[$target]:-0}" -v b="$RESULT_P99_MS" 'BEGIN {print (b > a ? b : a)}')
  done
done
for target in "${targets[@]}"; do
  awk -v t="$target" -v r="${SUM_RPS[$target]}" -v c="${SUM_CPU[$target]}" -v p="${WORST_P99[$target]}" \
    -v n="$COMPARE_ROUNDS" 'BEGIN {printf "%-9s average %9.0f rps   worst p99 %6.2f ms   CPU/req %6.1f µs\n", t, r / n, p, c / n}'
done
awk -v m="${SUM_RPS[meridian]}" -v n="${SUM_RPS[nginx]}" -v f="${SUM_RPS[floor]}" \
  -v mc="${SUM_CPU[meridian]}" -v nc="${SUM_CPU[nginx]}" -v p="${WORST_P99[meridian]}" 'BEGIN {
  printf "meridian / nginx throughput ratio: %.2f (target >= 0.6); meridian worst p99 %.2f ms (target < 10)\n", m / n, p
  printf "floor / nginx: %.2f (the limit of Node + undici here); meridian / floor: %.2f\n", f / n, m / f
  if (nc > 0) printf "meridian / nginx CPU per request: %.2f\n", mc / nc
}'

# Policy overhead: the same proxy with and without the policy set, measured alternately.
timeout 30 wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s "$TMP/cookies.lua" "http://127.0.0.1:$MERIDIAN_POL/" >/dev/null
# Every request must pass the policies (a 403/429 would make the run meaningless).
status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Cookie: meridian_affinity=check' "http://127.0.0.1:$MERIDIAN_POL/" || true)
[[ $status == 200 ]] || { echo "bench-proxy: the policy proxy answered $status, expected 200" >&2; exit 1; }
PLAIN_SUM=0; POL_SUM=0; PLAIN_CPU_SUM=0; POL_CPU_SUM=0
plain_round() {
  run "meridian (round $1)" "http://127.0.0.1:$MERIDIAN/" "$MERIDIAN_PID"
  PLAIN_SUM=$(awk -v a="$PLAIN_SUM" -v b="$RESULT_RPS" 'BEGIN {print a + b}')
  PLAIN_CPU_SUM=$(awk -v a="$PLAIN_CPU_SUM" -v b="$RESULT_CPU" 'BEGIN {print a + b}')
}
policy_round() {
  run "meridian+policies (r$1)" "http://127.0.0.1:$MERIDIAN_POL/" "$MERIDIAN_POL_PID"
  POL_SUM=$(awk -v a="$POL_SUM" -v b="$RESULT_RPS" 'BEGIN {print a + b}')
  POL_CPU_SUM=$(awk -v a="$POL_CPU_SUM" -v b="$RESULT_CPU" 'BEGIN {print a + b}')
}
# ABBA order (plain first in odd rounds, policies first in even ones): a drift of the machine's
# speed during the run then weighs on both alike instead of always on the second.
for round in $(seq 1 "$POLICY_ROUNDS"); do
  if ((round % 2 == 1)); then plain_round "$round"; policy_round "$round"
  else policy_round "$round"; plain_round "$round"; fi
done
awk -v p="$PLAIN_SUM" -v q="$POL_SUM" -v pc="$PLAIN_CPU_SUM" -v qc="$POL_CPU_SUM" -v n="$POLICY_ROUNDS" 'BEGIN {
  printf "policies (10 WAF rules, rate limit, quota): without %.0f rps, with %.0f rps, drop %.1f %% (target < 15 %%)\n", p / n, q / n, (p - q) / p * 100
  printf "CPU per request: without %.1f µs, with %.1f µs\n", pc / n, qc / n
}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
