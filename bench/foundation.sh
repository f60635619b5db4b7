#!/usr/bin/env bash
# Data-plane figures for the record: READ and WRITE, scattered and contiguous, over UCX's own choice
# (shared memory on one host) with UCX-allocated and with engine-registered pools, and over UCX TCP. Writes bench/results/foundation.jsonl (one JSON object
# per line, as `handoff bench --json` prints it) and prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product handoff
mkdir -p bench/results
out=bench/results/foundation.jsonl
: > "$out"
for setup in default:ucx default:engine tcp:ucx; do
    transports=${setup%%:*} memory=${setup##*:}
    for op in read write; do
        for pattern in scattered contiguous; do
            extra=(--memory "$memory")
            [ "$transports" = default ] || extra+=(--ucx-transports "$transports")
            .build/release/handoff bench --local --layers 32 --blocks 256 --block-kib 32 \
                --op "$op" --pattern "$pattern" --iterations "${ITERATIONS:-5}" --json "${extra[@]}" >> "$out"
        done
    done
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f"{'ucx transports':<20}{'memory':<8}{'op':<7}{'pattern':<12}{'ops':>7}{'GB/s':>8}{'memcpy':>8}{'ratio':>7}{'post us':>10}{'verified':>10}")
for r in rows:
    print(f"{','.join(r['ucx_transports']):<20}{r['memory']:<8}{r['op']:<7}{r['pattern']:<12}{r['ops']:>7}{r['gbps']:>8.2f}"
          f"{r['memcpy_gbps']:>8.2f}{r['ratio']:>7.2f}{r['post_us']:>10.0f}{str(r['verified']):>10}")
PY
