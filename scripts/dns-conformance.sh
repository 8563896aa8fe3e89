#!/usr/bin/env bash
# Starts Meridian's DNS tier (scripts/bench-dns-server.ts on config/bench-dns.yaml, loopback only)
# and runs the shared conformance checks against it; with --fuzz also the fuzzer, reporting the
# server's RSS before and after.
#   usage: scripts/dns-conformance.sh [--workers N] [--fuzz [COUNT [SECONDS]]]
#   env:   CONFIG (default config/bench-dns.yaml), TOOLS (default ../shared/tools), RATE (fuzz packets/s, default 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-config/bench-dns.yaml}
TOOLS=${TOOLS:-../shared/tools}
WORKERS=1 FUZZ=0 COUNT=1000000 SECONDS_=300
while (($#)); do
  case $1 in
    --workers) WORKERS=$2; shift 2 ;;
    --fuzz) FUZZ=1; shift
      if [[ ${1:-} =~ ^[0-9]+$ ]]; then COUNT=$1; shift; fi
      if [[ ${1:-} =~ ^[0-9]+$ ]]; then SECONDS_=$1; shift; fi ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x $TOOLS/dns-conformance.sh ]] || { echo "conformance tool not found in $TOOLS" >&2; exit 2; }

LOG=$(mktemp)
node --import tsx scripts/bench-dns-server.ts "$CONFIG" --workers "$WORKERS" >"$LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 1 300); do
  grep -q '"port"' "$LOG" && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
PORT=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$LOG" | head -1)
[[ -n $PORT ]] || { echo "server did not start" >&2; cat "$LOG" >&2; exit 1; }
echo "# server pid $SERVER, port $PORT, workers $WORKERS"

"$TOOLS/dns-conformance.sh" 127.0.0.1 "$PORT" example.test www.example.test

if ((FUZZ)); then
  rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$1/status"; }
  echo "# RSS before fuzz: $(rss "$SERVER")"
  python3 "$TOOLS/dns-fuzz.py" 127.0.0.1 "$PORT" example.test www.example.test \
    --count "$COUNT" --seconds "$SECONDS_" --rate "${RATE:-1000}" --pid "$SERVER" | tail -3
  echo "# RSS after fuzz: $(rss "$SERVER")"
fi
