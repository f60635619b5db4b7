#!/usr/bin/env bash
# Native TCP data plane against iperf3 on the same machine, in one run: iperf3's single-stream loopback rate,
# then `handoff bench --local --transport tcp` on large contiguous transfers (1 stream and the default 4) and on
# the KV-shaped scattered case, READ and WRITE. Writes bench/results/tcp.jsonl and prints each rate as a ratio
# of iperf3's. Targets (issue 4): contiguous >= 0.9 x iperf3, scattered >= 0.7 x iperf3.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
command -v iperf3 >/dev/null || { if [ "$(id -u)" = 0 ]; then apt-get install -y iperf3; else sudo apt-get install -y iperf3; fi; }
swift build -c release --product handoff
mkdir -p bench/results
out=bench/results/tcp.jsonl
: > "$out"

port=5299
iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
server=$!
sleep 0.5
iperf3 -c 127.0.0.1 -p "$port" -t "${IPERF_SECONDS:-5}" -J > bench/results/iperf3.json
wait "$server" || true

run() { .build/release/handoff bench --local --transport tcp --layers 32 --blocks 256 --block-kib 32 \
    --iterations "${ITERATIONS:-5}" --json "$@" >> "$out"; }
for op in read write; do
    run --op "$op" --pattern contiguous --tcp-streams 1
    run --op "$op" --pattern contiguous
    run --op "$op" --pattern scattered
done

python3 - "$out" bench/results/iperf3.json <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
iperf = json.load(open(sys.argv[2]))["end"]["sum_received"]["bits_per_second"] / 8e9
print(f"iperf3, one stream over loopback: {iperf:.2f} GB/s")
print(f"{'op':<7}{'pattern':<12}{'streams':>8}{'pieces':>8}{'GB/s':>8}{'x iperf3':>10}{'verified':>10}")
for r in rows:
    print(f"{r['op']:<7}{r['pattern']:<12}{r.get('tcp_streams', '-'):>8}{r['pieces']:>8}{r['gbps']:>8.2f}{r['gbps'] / iperf:>10.2f}{str(r['verified']):>10}")
PY
