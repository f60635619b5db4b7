#!/usr/bin/env bash
# A coordinator's resident memory before and after an HTTP/2 rapid-reset flood (issue 29, item 11): starts
# `handoff coordinator`, floods its gRPC port with rapid_reset.py, and prints VmRSS at start, right after the flood
# and after a quiet minute.
#
#   bench/attacks/rss_after_flood.sh [--streams N] [--token]   (HANDOFF_BINARY picks the binary; default release)
set -euo pipefail
cd "$(dirname "$0")/../.."
streams=800000
with_token=""
while [ $# -gt 0 ]; do
    case "$1" in
        --streams) streams="$2"; shift 2 ;;
        --token) with_token=1; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
binary="${HANDOFF_BINARY:-.build/release/handoff}"
quiet="${QUIET_SECONDS:-60}"
export HANDOFF_TOKEN="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
log="$(mktemp)"
exec 3< <("$binary" coordinator --listen 127.0.0.1:0 --metrics 127.0.0.1:0 2>"$log")
read -r listening <&3
pid="$(pgrep -n -f "$binary coordinator --listen 127.0.0.1:0")"
trap 'kill "$pid" 2>/dev/null || true' EXIT
port="$(echo "$listening" | tr ' ' '\n' | sed -n 's/^grpc=//p')"
rss() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status"; }
sleep 2
echo "coordinator pid $pid, gRPC port $port: RSS $(rss) MiB at start"
python3 bench/attacks/rapid_reset.py "127.0.0.1:$port" --streams "$streams" ${with_token:+--token "$HANDOFF_TOKEN"}
echo "RSS $(rss) MiB right after the flood"
sleep "$quiet"
echo "RSS $(rss) MiB after ${quiet} s quiet"
grep -c "" "$log" | xargs echo "coordinator log lines:"
