#!/usr/bin/env bash
# The chaos suite (issue #12): two Meridian nodes, a proxy with three backends and real Redis
# processes on loopback, under a light load (50 DNS queries/s with ECS, 20 proxied GETs/s). For each
# scenario it prints, per side (dns, proxy): sent, answered, wrong, failed.
#   Redis stopped FAULT s · Redis hung FAULT s (SIGSTOP) · Redis restarted empty (then reseeded) ·
#   a backend killed · Sentinel primary killed (one primary, one replica, three sentinels)
# Expected: 0 wrong and 0 failed on the DNS side everywhere; 0 failed proxied requests.
# Bounded: about 2 × FAULT + 90 s (under 5 minutes with the default FAULT of 30 s).
#   usage: scripts/chaos.sh [--fault-seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."
FAULT=30
while (($#)); do
  case $1 in
    --fault-seconds) FAULT=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "chaos: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $FAULT =~ ^[1-9][0-9]*$ && $FAULT -le 120 ]] || { echo "chaos: --fault-seconds: expected 1-120, got $FAULT" >&2; exit 2; }
for tool in redis-server node; do
  command -v "$tool" >/dev/null || { echo "chaos: $tool not found" >&2; exit 2; }
done
CHAOS_FAULT_SECONDS=$FAULT exec timeout $((2 * FAULT + 240)) node --import tsx scripts/chaos.ts
