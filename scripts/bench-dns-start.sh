# Sourced by the DNS benchmarks: starts Meridian's DNS tier on $CONFIG with $WORKERS workers and
# sets SERVER (its pid), PORT (UDP/TCP on 127.0.0.1 and ::1) and PIDS (the primary and its workers).
# By default it runs the built node exactly as an operator does (`npm run build`, then
# `node dist/cli/main.js serve` on a copy of $CONFIG, an embedded state file seeded with the three
# benchmark regions by bench-dns-seed.ts), so memory and speed are the production figures; with
# SOURCE=1, scripts/bench-dns-server.ts runs the sources through tsx (no build, ~40 MB more per
# process for the TypeScript loader). With DNSSEC=1 (built node only) the node gets a key ring and
# an API token, and example.test is signed through the real CLI (`meridian dnssec enable`) before
# the passes. WORKER_KIND=process|thread overrides the config's dns.workerKind (built node only).
# Needs $TMP; the caller's EXIT trap kills $SERVER.
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

start_meridian_dns() {
  if [[ ${SOURCE:-0} == 1 ]]; then
    node --import tsx scripts/bench-dns-server.ts "$CONFIG" --workers "$WORKERS" >"$TMP/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 300); do
      grep -q '"port"' "$TMP/server.log" && break
      kill -0 "$SERVER" 2>/dev/null || { cat "$TMP/server.log" >&2; exit 1; }
      sleep 0.1
    done
    PORT=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$TMP/server.log" | head -1)
    PIDS="$SERVER $(sed -n 's/.*"workerPids":\[\([0-9,]*\)\].*/\1/p' "$TMP/server.log" | tr ',' ' ')"
    [[ -n $PORT ]] || { cat "$TMP/server.log" >&2; exit 1; }
    return
  fi
  npm run --silent build >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log" >&2; exit 1; }
  node --import tsx scripts/bench-dns-seed.ts "$TMP/state.json"
  # The copy lives in $TMP: paths relative to the config's folder become absolute.
  local dir
  dir=$(cd "$(dirname "$CONFIG")" && pwd)
  local edits=(-e "s#\\.\\./#$dir/../#g" -e "s#^\\(  workers:\\).*#\\1 $WORKERS#")
  [[ -n ${WORKER_KIND:-} ]] && edits+=(-e "s#^\\(  workerKind:\\).*#\\1 $WORKER_KIND#")
  sed "${edits[@]}" "$CONFIG" >"$TMP/bench.yaml"
  PORT=$(free_port)
  local api_port
  api_port=$(free_port)
  export MERIDIAN_API_URL="http://127.0.0.1:$api_port" MERIDIAN_API_TOKEN
  MERIDIAN_API_TOKEN=$(node -e "console.log(require('crypto').randomBytes(24).toString('hex'))")
  local keys=''
  [[ ${DNSSEC:-0} == 1 ]] && keys=$(node dist/cli/main.js keys generate bench)
  MERIDIAN_KEYS=$keys MERIDIAN_STATE_FILE=$TMP/state.json MERIDIAN_DNS_LISTEN="127.0.0.1:$PORT,[::1]:$PORT" \
    MERIDIAN_API_LISTEN="127.0.0.1:$api_port" \
    node dist/cli/main.js serve --config "$TMP/bench.yaml" >"$TMP/server.log" 2>&1 &
  SERVER=$!
  local up=''
  for _ in $(seq 1 300); do
    kill -0 "$SERVER" 2>/dev/null || { cat "$TMP/server.log" >&2; exit 1; }
    # An address, not dig's "communications error" (which +short prints on stdout too).
    if dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 www.example.test A 2>/dev/null | grep -qE '^[0-9.]+$'; then
      up=1
      break
    fi
    sleep 0.2
  done
  [[ -n $up ]] || { echo "meridian did not answer on port $PORT" >&2; cat "$TMP/server.log" >&2; exit 1; }
  # Every worker answers (the kernel spreads UDP across their sockets); wait until all have forked.
  local want=$((WORKERS > 0 ? WORKERS : $(nproc)))
  grep -q '^  workerKind: thread' "$TMP/bench.yaml" && want=0 # threads: the primary is the whole node
  for _ in $(seq 1 100); do
    (($(pgrep -P "$SERVER" -c) >= want)) && break
    sleep 0.1
  done
  PIDS="$SERVER $({ pgrep -P "$SERVER" || true; } | tr '\n' ' ')"
  if [[ ${DNSSEC:-0} == 1 ]]; then
    for _ in $(seq 1 100); do
      curl -s -o /dev/null "$MERIDIAN_API_URL/healthz" && break
      sleep 0.1
    done
    node dist/cli/main.js dnssec enable example.test >"$TMP/dnssec.log" 2>&1 || { cat "$TMP/dnssec.log" >&2; exit 1; }
    # Every worker follows the zone store; wait until a DO query gets signatures.
    for _ in $(seq 1 100); do
      dig +dnssec +time=1 +tries=1 -p "$PORT" @127.0.0.1 www.example.test A 2>/dev/null | grep -q RRSIG && break
      sleep 0.1
    done
  fi
}
