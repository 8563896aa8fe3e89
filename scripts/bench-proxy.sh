#!/usr/bin/env bash
# Throughput and latency of Meridian's regional proxy beside the proxies an operator would pick
# instead, on loopback, over the same three nginx backends:
#   nginx       `hash $cookie_meridian_affinity consistent`, keepalive upstreams, 2 worker processes
#   haproxy     `balance hash req.cook(meridian_affinity)` + `hash-type consistent`, 2 threads
#   meridian    scripts/bench-proxy-server.ts: every default feature on, 2 workers
#   floor       scripts/bench-proxy-floor.ts: Meridian's HTTP/1.1 front-end and undici pools with
#               nothing else (round robin, no affinity, headers, health or metrics), as many
#               workers: about the least a streaming proxy on undici can do per request here;
#               meridian / floor is the cost of Meridian's features
#   http-proxy  `http-proxy` (node-http-proxy) on node:http, node:cluster, cookie affinity
#   fastify     `@fastify/http-proxy` (undici), node:cluster, cookie affinity
#               (both in scripts/bench-proxy-peer.ts: a user's likeliest Node alternatives)
# wrk sends a varying affinity cookie: with REQUEST_HEADERS=minimal (the default) beside Host
# only; with REQUEST_HEADERS=browser among other cookies and the dozen fields a browser sends
# with a page request (what real traffic costs a proxy that reads headers). Each target runs
# COMPARE_ROUNDS times, the order rotated every round (the machine's drift then weighs on all
# alike). Per run: requests/s, p50/p90/p99/max latency and the proxy's CPU time per request (from
# /proc/<pid>/stat: the process and its direct children). Then averages, worst p99, and the ratios issue #20 sets targets in: Meridian at least
# 2x the best Node peer and 0.9x the floor, p99 under 10 ms in every round.
#
# Policy overhead: a second Meridian proxy enforces a realistic policy set that never triggers
# (10 WAF rules, a rate limit and a quota far above the load; see scripts/bench-proxy-server.ts).
# The two Meridian proxies are measured alternately POLICY_ROUNDS times in ABBA order; the script
# prints both averages and the throughput drop in % (target < 15 %).
#
# Every measured run of a proxy follows WARMUP (2s; 0 = none) of unmeasured load on it, since the
# rotation leaves each proxy idle while the others run.
#
# Environment: DURATION (10s), WARMUP (2s), CONNECTIONS (64), THREADS (2), BASE_PORT (18080),
# NGINX_WORKERS (2: nginx worker_processes and HAProxy nbthread), MERIDIAN_WORKERS (2: the Node
# proxies' workers), COMPARE_ROUNDS (3), POLICY_ROUNDS (2; 0 skips the policy runs),
# TARGETS (space-separated, default all six), REQUEST_HEADERS (minimal or browser), NGINX and
# HAPROXY (paths; HAProxy is skipped with a note when it is not installed).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
BASE_PORT=${BASE_PORT:-18080}
NGINX_WORKERS=${NGINX_WORKERS:-2}
MERIDIAN_WORKERS=${MERIDIAN_WORKERS:-2}
POLICY_ROUNDS=${POLICY_ROUNDS:-2}
COMPARE_ROUNDS=${COMPARE_ROUNDS:-3}
NGINX=${NGINX:-/usr/sbin/nginx}
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
TARGETS=${TARGETS:-nginx haproxy meridian floor http-proxy fastify}
REQUEST_HEADERS=${REQUEST_HEADERS:-minimal}
if [[ $REQUEST_HEADERS != minimal && $REQUEST_HEADERS != browser ]]; then
  echo "bench-proxy.sh: REQUEST_HEADERS must be minimal or browser, not '$REQUEST_HEADERS'" >&2
  exit 2
fi

for tool in wrk "$NGINX" node; do
  command -v "$tool" >/dev/null || { echo "bench-proxy: $tool not found" >&2; exit 1; }
done
targets=()
for target in $TARGETS; do
  if [[ $target == haproxy ]] && ! command -v "$HAPROXY" >/dev/null; then
    echo "bench-proxy: $HAPROXY not found, HAProxy skipped (apt-get install haproxy)" >&2
    continue
  fi
  targets+=("$target")
done
((${#targets[@]} > 0)) || { echo "bench-proxy: TARGETS names nothing to run" >&2; exit 2; }

TMP=$(mktemp -d /tmp/meridian-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

B1=$((BASE_PORT + 1)); B2=$((BASE_PORT + 2)); B3=$((BASE_PORT + 3))
BACKENDS="http://127.0.0.1:$B1,http://127.0.0.1:$B2,http://127.0.0.1:$B3"
declare -A PORT_OF=(
  [nginx]=$((BASE_PORT + 10)) [meridian]=$((BASE_PORT + 11)) [meridian-policies]=$((BASE_PORT + 12))
  [floor]=$((BASE_PORT + 13)) [haproxy]=$((BASE_PORT + 14)) [http-proxy]=$((BASE_PORT + 15))
  [fastify]=$((BASE_PORT + 16))
)
declare -A PID_OF=()

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

nginx_conf() {
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
    listen 127.0.0.1:${PORT_OF[nginx]};
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

haproxy_conf() {
  cat <<EOF
global
  nbthread $NGINX_WORKERS
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 65s
  timeout server 65s
  http-reuse always
frontend proxy
  bind 127.0.0.1:${PORT_OF[haproxy]}
  default_backend backends
backend backends
  balance hash req.cook(meridian_affinity)
  hash-type consistent
  option forwardfor
  server b1 127.0.0.1:$B1
  server b2 127.0.0.1:$B2
  server b3 127.0.0.1:$B3
EOF
}

# require_free_port PORT WHAT: something already listening there would be measured in WHAT's place.
require_free_port() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "bench-proxy: port $1 ($2) is already in use; stop what listens there or set BASE_PORT" >&2
    exit 1
  fi
}

# start TARGET: starts one proxy under test in the background and records its pid.
start() {
  local target=$1 port=${PORT_OF[$1]:-}
  [[ -n $port ]] || { echo "bench-proxy: unknown target $target (TARGETS)" >&2; exit 2; }
  require_free_port "$port" "$target"
  case $target in
    nginx)
      nginx_conf >"$TMP/nginx.conf"
      "$NGINX" -p "$TMP" -c "$TMP/nginx.conf" 2>>"$TMP/error.log" & ;;
    haproxy)
      haproxy_conf >"$TMP/haproxy.cfg"
      "$HAPROXY" -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 & ;;
    meridian)
      node --import tsx scripts/bench-proxy-server.ts --listen "127.0.0.1:$port" \
        --workers "$MERIDIAN_WORKERS" --backends "$BACKENDS" >"$TMP/$target.out" 2>"$TMP/$target.err" & ;;
    meridian-policies)
      node --import tsx scripts/bench-proxy-server.ts --listen "127.0.0.1:$port" --policies \
        --workers "$MERIDIAN_WORKERS" --backends "$BACKENDS" >"$TMP/$target.out" 2>"$TMP/$target.err" & ;;
    floor)
      node --import tsx scripts/bench-proxy-floor.ts --listen "127.0.0.1:$port" \
        --workers "$MERIDIAN_WORKERS" --backends "$BACKENDS" >"$TMP/$target.out" 2>"$TMP/$target.err" & ;;
    http-proxy | fastify)
      node --import tsx scripts/bench-proxy-peer.ts --kind "$target" --listen "127.0.0.1:$port" \
        --workers "$MERIDIAN_WORKERS" --backends "$BACKENDS" >"$TMP/$target.out" 2>"$TMP/$target.err" & ;;
    *) echo "bench-proxy: unknown target $target (TARGETS)" >&2; exit 2 ;;
  esac
  PID_OF[$target]=$!
  PIDS+=("$!")
}

for p in "$B1" "$B2" "$B3"; do require_free_port "$p" backend; done
backend_conf >"$TMP/backends.conf"
"$NGINX" -p "$TMP" -c "$TMP/backends.conf" 2>>"$TMP/error.log" &
PIDS+=($!)
for target in "${targets[@]}"; do start "$target"; done
((POLICY_ROUNDS > 0)) && start meridian-policies
[[ -n ${PID_OF[meridian]:-} ]] || ((POLICY_ROUNDS == 0)) || start meridian

wait_port() {
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench-proxy: nothing listening on port $1" >&2
  tail -n 20 "$TMP"/*.err "$TMP"/*.log >&2 2>/dev/null || true
  exit 1
}
for p in "$B1" "$B2" "$B3"; do wait_port "$p"; done
for target in "${!PID_OF[@]}"; do wait_port "${PORT_OF[$target]}"; done
# The Node proxies listen from their workers: wait until each has printed "ready" (all workers up).
for target in "${!PID_OF[@]}"; do
  [[ -f $TMP/$target.out ]] || continue
  for _ in $(seq 1 200); do grep -q '^ready' "$TMP/$target.out" && break; sleep 0.1; done
done

if [[ $REQUEST_HEADERS == browser ]]; then
  # What a browser sends with a page request: a dozen fields and several cookies.
  LUA_HEADERS='["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    ["Accept-Language"] = "en-US,en;q=0.9,de;q=0.8", ["Accept-Encoding"] = "gzip, deflate, br, zstd",
    ["Referer"] = "https://shop.example.com/catalog?page=2", ["Sec-Fetch-Dest"] = "document",
    ["Sec-Fetch-Mode"] = "navigate", ["Sec-Fetch-Site"] = "same-origin", ["Upgrade-Insecure-Requests"] = "1",
    ["Cache-Control"] = "max-age=0",
    ["Cookie"] = "_ga=GA1.1.1234567890.1733300000; lang=en; meridian_affinity=session-" .. (n % 1000) .. "; cart=3f2a"'
else
  LUA_HEADERS='["Cookie"] = "meridian_affinity=session-" .. (n % 1000)'
fi
cat >"$TMP/cookies.lua" <<EOF
-- A different affinity cookie on every request, from 1000 sessions, so load spreads over backends.
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, { $LUA_HEADERS })
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

# A wrk latency figure ("812.00us", "3.10ms", "1.02s") in ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) }
    else if (v ~ /m$/) { sub(/m$/, "", v); v *= 60000 } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
    printf "%.2f", v + 0 }'
}

# run NAME URL [PID]: prints one result line; sets RESULT_RPS, RESULT_CPU and RESULT_P99_MS.
# A proxy under test (PID given) first gets WARMUP of unmeasured load: between its rounds it sat idle
# while the others ran, and an idle V8 process loses warm code (its first seconds back ran 10-40 %
# more CPU per request than the seconds after, for Meridian and the floor alike).
run() {
  local name=$1 url=$2 pid=${3:-} before=0 after=0 out
  if [[ -n $pid && $WARMUP != 0 && $WARMUP != 0s ]]; then
    timeout 60 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$TMP/cookies.lua" "$url" >/dev/null
  fi
  [[ -n $pid ]] && before=$(cpu_ticks "$pid")
  out=$(timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$TMP/cookies.lua" "$url")
  [[ -n $pid ]] && after=$(cpu_ticks "$pid")
  local rps p50 p90 p99 max requests errors cpu="-"
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p90=$(to_ms "$(awk '$1 == "90%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  max=$(to_ms "$(awk '$1 == "Latency" {print $4; exit}' <<<"$out")")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")
  if [[ -n $pid && ${requests:-0} -gt 0 ]]; then
    cpu=$(awk -v t="$((after - before))" -v hz="$TICKS" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
  fi
  printf '%-24s %9s rps  p50 %6s  p90 %6s  p99 %6s  max %7s ms  CPU/req %6s µs  %s\n' \
    "$name" "$rps" "$p50" "$p90" "$p99" "$max" "$cpu" "${errors:-}"
  RESULT_RPS=$rps
  RESULT_CPU=$cpu
  RESULT_P99_MS=$p99
}

url_of() { echo "http://127.0.0.1:${PORT_OF[$1]}/"; }

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, varying meridian_affinity cookie, $REQUEST_HEADERS request headers; $(nproc) cores"
echo "nginx/haproxy $NGINX_WORKERS workers/threads, Node proxies $MERIDIAN_WORKERS workers; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "latencies in ms; CPU per request counts the proxy's every process"
run "backend direct (nginx)" "http://127.0.0.1:$B1/"
# Warm-up (JIT, pools) so the measured runs are steady state.
for target in "${!PID_OF[@]}"; do
  timeout 30 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$TMP/cookies.lua" "$(url_of "$target")" >/dev/null
done
# Every target must answer 200 through to a backend (an error page would make the run meaningless).
for target in "${!PID_OF[@]}"; do
  status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Cookie: meridian_affinity=check' "$(url_of "$target")" || true)
  [[ $status == 200 ]] || { echo "bench-proxy: $target answered $status, expected 200" >&2; exit 1; }
done

# COMPARE_ROUNDS rounds of every target, the order rotated each round.
declare -A SUM_RPS=() SUM_CPU=() WORST_P99=()
n=${#targets[@]}
for round in $(seq 1 "$COMPARE_ROUNDS"); do
  for k in $(seq 0 $((n - 1))); do
    target=${targets[$(((round - 1 + k) % n))]}
    run "$target (r$round)" "$(url_of "$target")" "${PID_OF[$target]}"
    SUM_RPS[$target]=$(awk -v a="${SUM_RPS[$target]:-0}" -v b="$RESULT_RPS" 'BEGIN {print a + b}')
    SUM_CPU[$target]=$(awk -v a="${SUM_CPU[$target]:-0}" -v b="$RESULT_CPU" 'BEGIN {print a + b}')
    WORST_P99[$target]=$(awk -v a="${WORST_P99[$target]:-0}" -v b="$RESULT_P99_MS" 'BEGIN {print (b > a ? b : a)}')
  done
done
echo "averages over $COMPARE_ROUNDS rounds:"
for target in "${targets[@]}"; do
  awk -v t="$target" -v r="${SUM_RPS[$target]}" -v c="${SUM_CPU[$target]}" -v p="${WORST_P99[$target]}" \
    -v n="$COMPARE_ROUNDS" 'BEGIN {printf "  %-11s %9.0f rps   worst p99 %6.2f ms   CPU/req %6.1f µs\n", t, r / n, p, c / n}'
done
avg() { awk -v s="${SUM_RPS[$1]:-0}" -v n="$COMPARE_ROUNDS" 'BEGIN {print s / n}'; }
if [[ -n ${SUM_RPS[meridian]:-} ]]; then
  best_peer=""; best_rps=0
  for peer in http-proxy fastify; do
    [[ -n ${SUM_RPS[$peer]:-} ]] || continue
    if awk -v a="$(avg "$peer")" -v b="$best_rps" 'BEGIN {exit !(a > b)}'; then best_peer=$peer; best_rps=$(avg "$peer"); fi
  done
  m=$(avg meridian)
  [[ -n $best_peer ]] && awk -v m="$m" -v b="$best_rps" -v p="$best_peer" \
    'BEGIN {printf "meridian / best Node peer (%s): %.2f (target >= 2)\n", p, m / b}'
  [[ -n ${SUM_RPS[floor]:-} ]] && awk -v m="$m" -v f="$(avg floor)" \
    'BEGIN {printf "meridian / floor: %.2f (target >= 0.9)\n", m / f}'
  awk -v p="${WORST_P99[meridian]}" 'BEGIN {printf "meridian worst p99: %.2f ms (target < 10)\n", p}'
  for peer in nginx haproxy; do
    [[ -n ${SUM_RPS[$peer]:-} ]] || continue
    awk -v m="$m" -v x="$(avg "$peer")" -v mc="${SUM_CPU[meridian]}" -v xc="${SUM_CPU[$peer]}" -v p="$peer" \
      'BEGIN {printf "meridian / %s: %.2f throughput, %.2f CPU per request\n", p, m / x, (xc > 0 ? mc / xc : 0)}'
  done
fi

# Policy overhead: the same proxy with and without the policy set, measured alternately.
if ((POLICY_ROUNDS > 0)); then
  PLAIN_SUM=0; POL_SUM=0; PLAIN_CPU_SUM=0; POL_CPU_SUM=0
  plain_round() {
    run "meridian (policy r$1)" "$(url_of meridian)" "${PID_OF[meridian]}"
    PLAIN_SUM=$(awk -v a="$PLAIN_SUM" -v b="$RESULT_RPS" 'BEGIN {print a + b}')
    PLAIN_CPU_SUM=$(awk -v a="$PLAIN_CPU_SUM" -v b="$RESULT_CPU" 'BEGIN {print a + b}')
  }
  policy_round() {
    run "meridian+policies (r$1)" "$(url_of meridian-policies)" "${PID_OF[meridian-policies]}"
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
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
