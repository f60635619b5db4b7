#!/usr/bin/env bash
# handoff bench side by side with ucx_perftest and iperf3, in one run on this machine.
#
# Installs what it needs (ucx-utils for ucx_perftest, iperf3, python3-venv, and matplotlib from PyPI in
# bench/.venv), builds handoff in release mode, then measures at every block size of SIZES_KIB
# (default 4..65536: 4 KiB to 64 MiB, powers of two), one op per K or V piece of that size:
#   - handoff over UCX, shared memory (UCX_TLS shm) and TCP (UCX_TLS tcp), READ and WRITE, against
#     ucx_perftest's ucp_get and ucp_put_bw over the same UCX transports, run with handoff's window (-O) and
#     with its default; the better of the two counts;
#   - handoff over shared memory with pools small enough to stay in the CPU cache (sizes up to 4 MiB),
#     because ucx_perftest moves one message-sized buffer over and over, which the cache holds;
#   - handoff's native TCP, 1 and 4 streams, READ and WRITE, against iperf3 with -P 1 and -P 4.
# Every handoff point moves about TOTAL_MIB MiB per transfer (ucx_perftest moves as much per run) (scattered blocks, one op per block), is checked
# byte for byte, and reports the median of ITERATIONS transfers.
#
# Writes bench/results/ (git-ignored): handoff-*.json (the sweeps as handoff printed them), perftest.csv,
# iperf3-P*.json, and compare.md (the table with each ratio handoff/peer), compare.csv and compare.png
# (GB/s against block size, one line per tool, transport and op).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES_KIB=${SIZES_KIB:-4..65536}
TOTAL_MIB=${TOTAL_MIB:-256}
ITERATIONS=${ITERATIONS:-5}
WINDOW=${WINDOW:-128}
IPERF_SECONDS=${IPERF_SECONDS:-5}
PHASES=${PHASES:-handoff perftest iperf3}  # a subset re-measures only those; the table is made from what is in results/
PERFTEST_TIMEOUT=${PERFTEST_TIMEOUT:-120}  # seconds per ucx_perftest run (its UCX-TCP puts of large messages are slow)
results=bench/results
mkdir -p "$results"

install() {
    local missing=()
    command -v ucx_perftest >/dev/null || missing+=(ucx-utils)
    command -v iperf3 >/dev/null || missing+=(iperf3)
    python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
    [ ${#missing[@]} -eq 0 ] && return
    local sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}
scripts/install-deps.sh
install
[ -x bench/.venv/bin/python ] || python3 -m venv bench/.venv
bench/.venv/bin/python -c 'import matplotlib' 2>/dev/null || bench/.venv/bin/pip install -q matplotlib
swift build -c release --product handoff
handoff=.build/release/handoff

sizes_bytes() {  # SIZES_KIB as bytes, one per line: "a..b" doubles, "a,b,c" lists
    local item low
    for item in ${SIZES_KIB//,/ }; do
        if [[ $item == *..* ]]; then
            for ((low = ${item%%..*}; low <= ${item##*..}; low *= 2)); do echo $((low * 1024)); done
        else
            echo $((item * 1024))
        fi
    done
}

phase() { [[ " $PHASES " == *" $1 "* ]]; }

if phase handoff; then
echo "== handoff over UCX (shm, tcp) and native TCP: block sizes $SIZES_KIB KiB, about $TOTAL_MIB MiB per transfer" >&2
sweep=(--local --layers 1 --block-kib "$SIZES_KIB" --total-mib "$TOTAL_MIB" --pattern scattered --op read,write
    --window "$WINDOW" --iterations "$ITERATIONS" --json)
# A sweep with a failed point still writes the others (and says which failed): the comparison goes on.
$handoff bench "${sweep[@]}" --ucx-transports shm --ucx-transports tcp > "$results/handoff-ucx.json" || echo "handoff UCX sweep: some points failed" >&2
$handoff bench "${sweep[@]}" --transport tcp --tcp-streams 1,4 > "$results/handoff-tcp.json" || echo "handoff TCP sweep: some points failed" >&2
hot_sizes=$(sizes_bytes | awk '$1 <= 4194304 { printf "%s%d", sep, $1 / 1024; sep = "," }')
if [ -n "$hot_sizes" ]; then
    $handoff bench --local --layers 1 --block-kib "$hot_sizes" --total-mib 8 --pattern scattered --op read,write \
        --window "$WINDOW" --iterations 20 --ucx-transports shm --json > "$results/handoff-ucx-hot.json" || echo "handoff in-cache sweep: some points failed" >&2
fi
fi

if phase perftest; then
echo "== ucx_perftest ucp_get / ucp_put_bw over the same UCX transports: window $WINDOW (-O) and its default" >&2
echo "tls,test,size,outstanding,iterations,p50_lat_us,avg_lat_us,overall_lat_us,avg_bw_mib,overall_bw_mib,avg_mr,overall_mr" > "$results/perftest.csv"
port=13500
perftest() {  # TLS TEST SIZE OUTSTANDING: one ucx_perftest run, server and client, appended to perftest.csv
    local tls=$1 test=$2 size=$3 outstanding=$4 iterations server status output line= window=()
    # As many bytes as one handoff transfer moves, and at least 10 messages.
    iterations=$(( TOTAL_MIB * 1048576 / size )); (( iterations < 10 )) && iterations=10
    [ "$outstanding" = default ] || window=(-O "$outstanding")
    port=$((port + 1))
    UCX_TLS=$tls,self ucx_perftest -p "$port" >/dev/null 2>&1 &
    server=$!
    for _ in 1 2 3 4 5 6 7 8 9 10; do  # the server needs a moment to listen; a client that ran and failed is not retried
        sleep 0.3
        status=0
        output=$(UCX_TLS=$tls,self timeout "$PERFTEST_TIMEOUT" ucx_perftest 127.0.0.1 -p "$port" -t "$test" -s "$size" \
            -n "$iterations" -w $(( iterations / 10 + 1 )) "${window[@]}" -f -v 2>&1) || status=$?
        line=$(grep -E '^ *[0-9]+,' <<<"$output" | tail -1 || true)  # the CSV result; errors go to stdout too
        [ -n "$line" ] && break
        grep -q "Connection refused" <<<"$output" || break
    done
    kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
    if [ -n "$line" ]; then echo "$tls,$test,$size,$outstanding,$line" >> "$results/perftest.csv"; else echo "ucx_perftest $* failed (status $status)" >&2; fi
}
for tls in shm tcp; do
    for test in ucp_get ucp_put_bw; do
        for size in $(sizes_bytes); do
            perftest "$tls" "$test" "$size" "$WINDOW"
            perftest "$tls" "$test" "$size" default
        done
    done
done
fi

if phase iperf3; then
echo "== iperf3 over loopback, 1 and 4 streams" >&2
for streams in 1 4; do
    iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
    server=$!
    sleep 0.5
    iperf3 -c 127.0.0.1 -p 5299 -P "$streams" -t "$IPERF_SECONDS" -J > "$results/iperf3-P$streams.json" \
        || { echo "iperf3 -P $streams failed" >&2; rm -f "$results/iperf3-P$streams.json"; kill "$server" 2>/dev/null || true; }
    wait "$server" || true
done
fi

bench/.venv/bin/python bench/compare.py "$results"
