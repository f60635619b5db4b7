#!/usr/bin/env bash
# handoff router under concurrent streams: a coordinator, one prefill and one decode engine stand-in
# (`handoff bench-engine`: the real connector runtime, every lifecycle completed and its KV moved, no model)
# and the router on loopback; `handoff bench-router` drives streaming completions through the router and,
# for the engine's own time, straight at the decode engine. Prints a table; JSON lines go to $OUT.
#
#   bench/router/run.sh                       # prompts of 64 tokens and of 31,000 (a 220 KB body), 1/20/64/512 streams
#   CONCURRENCY="1 64" PROMPTS=64 bench/router/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${HANDOFF_BIN:-.build/release/handoff}
if [ ! -x "$BIN" ]; then swift build -c release --product handoff; fi
CONCURRENCY=${CONCURRENCY:-"1 20 64 512"}
PROMPTS=${PROMPTS:-"64 31000"}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-16}
TOKEN_INTERVAL_MS=${TOKEN_INTERVAL_MS:-10}
# 512 streams of 31,000 tokens hold 1,938 blocks each on both sides.
BLOCKS=${BLOCKS:-1048576}
OUT=${OUT:-bench/results/router.jsonl}
mkdir -p "$(dirname "$OUT")"
LOGS=$(mktemp -d)
export HANDOFF_TOKEN=$(openssl rand -hex 16)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
COORD=$(free_port); PREFILL=$(free_port); DECODE=$(free_port); ROUTER=$(free_port)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$LOGS"; }
trap cleanup EXIT
"$BIN" coordinator --listen 127.0.0.1:$COORD --no-metrics --log-level warning >"$LOGS/coordinator.log" 2>&1 &
PIDS+=($!)
sleep 1
"$BIN" bench-engine --role prefill --id prefill-0 --coordinator 127.0.0.1:$COORD --listen 127.0.0.1:$PREFILL \
    --blocks "$BLOCKS" >"$LOGS/prefill.log" 2>&1 &
PIDS+=($!)
"$BIN" bench-engine --role decode --id decode-0 --coordinator 127.0.0.1:$COORD --listen 127.0.0.1:$DECODE \
    --blocks "$BLOCKS" --output-tokens "$OUTPUT_TOKENS" --token-interval-ms "$TOKEN_INTERVAL_MS" \
    >"$LOGS/decode.log" 2>&1 &
PIDS+=($!)
"$BIN" router --listen 127.0.0.1:$ROUTER --coordinator 127.0.0.1:$COORD --max-concurrent-requests 1024 \
    --log-level warning >"$LOGS/router.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$ROUTER/health" >/dev/null 2>&1; then break; fi
    sleep 0.1
done
curl -sf "http://127.0.0.1:$ROUTER/health" >/dev/null || { echo "the router never became healthy"; cat "$LOGS"/*.log; exit 1; }
: >"$OUT.tmp"
for prompt in $PROMPTS; do
    for concurrency in $CONCURRENCY; do
        requests=$(( concurrency * 4 > 200 ? concurrency * 4 : 200 ))
        for target in router direct; do
            url=http://127.0.0.1:$ROUTER
            [ "$target" = direct ] && url=http://127.0.0.1:$DECODE
            result=$("$BIN" bench-router --url "$url" --concurrency "$concurrency" --requests "$requests" \
                --prompt-tokens "$prompt" --max-tokens "$OUTPUT_TOKENS" --json)
            echo "{\"target\":\"$target\",\"prompt_tokens\":$prompt,\"concurrency\":$concurrency,\"result\":$result}" \
                | tee -a "$OUT.tmp" >/dev/null
        done
    done
done
cat "$OUT.tmp" >>"$OUT"
python3 - "$OUT.tmp" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
by = {(r["prompt_tokens"], r["concurrency"], r["target"]): r["result"] for r in rows}
print("| prompt | body | streams | requests/s | first byte p50 / p99 (router) | engine alone p50 / p99 | router adds p50 | errors |")
print("|---|---|---|---|---|---|---|---|")
for (prompt, concurrency, target), r in sorted(by.items()):
    if target != "router":
        continue
    d = by.get((prompt, concurrency, "direct"), {})
    fb, dfb = r["first_byte_ms"], d.get("first_byte_ms", {"p50": 0, "p99": 0})
    errors = sum(r["errors"].values()) if r["errors"] else 0
    print(f"| {prompt} | {r['body_bytes'] / 1000:.0f} KB | {concurrency} | {r['requests_per_second']:.0f} | "
          f"{fb['p50']:.1f} / {fb['p99']:.1f} ms | {dfb['p50']:.1f} / {dfb['p99']:.1f} ms | "
          f"{fb['p50'] - dfb['p50']:.1f} ms | {errors} of {r['requests']} |")
PY
rm -f "$OUT.tmp"
