#!/usr/bin/env bash
# Soak: a coordinator and 2 prefill + 2 decode workers (separate processes, loopback, mutual TLS on the control
# plane) under a steady request rate for --minutes, while a worker is SIGKILLed and restarted every --kill-every
# seconds and another SIGSTOPped for --pause-seconds (longer than the heartbeat timeout) every --pause-every
# seconds. Samples every process's RSS every 10 s; at the end, with the load stopped, checks that every live
# worker has its whole pool free again (no capacity stuck by a kill or a pause).
#   bench/soak/run.sh [--minutes 30] [--rate 10] [--kill-every 120] [--pause-every 90] [--pause-seconds 5]
# Writes bench/results/soak-DATE/{rss.csv,requests.jsonl,events.log,summary.json} and prints the summary.
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=30 rate=10 kill_every=120 pause_every=90 pause_seconds=5
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes=$2 ;; --rate) rate=$2 ;; --kill-every) kill_every=$2 ;;
        --pause-every) pause_every=$2 ;; --pause-seconds) pause_seconds=$2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done
handoff=${HANDOFF:-.build/release/handoff}
[ -x "$handoff" ] || swift build -c release --product handoff
out=bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; kill -CONT $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null; pkill -P $$ 2>/dev/null; rm -rf "$work"' EXIT

# Throw-away certificates: a CA, the coordinator's (127.0.0.1) and one client certificate for everyone.
(
    cd "$work"
    key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
    key ca.key && openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=soak-ca
    for name in server client; do
        key $name.key && openssl req -new -key $name.key -out $name.csr -subj /CN=$name
        printf 'subjectAltName=IP:127.0.0.1\n' > $name.ext
        openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile $name.ext \
            -out $name.pem 2>/dev/null
    done
)
openssl rand -hex 32 > "$work/token"
client_tls=(--tls-ca "$work/ca.pem" --tls-cert "$work/client.pem" --tls-key "$work/client.key")
log() { echo "$(date -u +%s.%N | cut -c1-14) $*" >> "$out/events.log"; }

"$handoff" coordinator --listen 127.0.0.1:0 --metrics 127.0.0.1:0 --token-file "$work/token" --log-level warning \
    --tls-cert "$work/server.pem" --tls-key "$work/server.key" --tls-ca "$work/ca.pem" > "$work/coordinator.out" &
echo $! > "$work/coordinator.pid"
for _ in $(seq 100); do grep -q LISTENING "$work/coordinator.out" && break; sleep 0.1; done
port=$(sed -n 's/.*grpc=\([0-9]*\).*/\1/p' "$work/coordinator.out")
coordinator=127.0.0.1:$port

start_worker() {  # name role
    "$handoff" worker --id "$1" --role "$2" --model llama-3.1-8b --blocks 256 --coordinator "$coordinator" \
        --token-file "$work/token" --transport auto --log-level error "${client_tls[@]}" &
    echo $! > "$work/$1.pid"
}
workers=(prefill-0 prefill-1 decode-0 decode-1)
for name in "${workers[@]}"; do start_worker "$name" "${name%-*}"; done
sleep 2

# The load: batches of `rate` requests a second, 4 at a time, recomputed elsewhere when a worker is lost.
(
    while true; do
        "$handoff" request --coordinator "$coordinator" --token-file "$work/token" "${client_tls[@]}" \
            --model llama-3.1-8b --prompt-tokens 512 --count "$rate" --concurrency 4 --policy recompute \
            --id-prefix "r$(date +%s%N)" >> "$out/requests.jsonl" 2>/dev/null || true
        sleep 1
    done
) &
load=$!

echo "seconds,process,rss_kib" > "$out/rss.csv"
began=$(date +%s)
end=$((began + minutes * 60))
next_kill=$((began + kill_every)) next_pause=$((began + pause_every)) round=0
while [ "$(date +%s)" -lt "$end" ]; do
    now=$(date +%s)
    for name in coordinator "${workers[@]}"; do
        pid=$(cat "$work/$name.pid")
        rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        echo "$((now - began)),$name,${rss:-0}" >> "$out/rss.csv"
    done
    if [ "$now" -ge "$next_kill" ]; then
        victim=${workers[$((round % 4))]}
        log "kill $victim"
        kill -KILL "$(cat "$work/$victim.pid")" || true
        sleep 1
        start_worker "$victim" "${victim%-*}"
        log "restart $victim"
        next_kill=$((next_kill + kill_every)) round=$((round + 1))
    fi
    if [ "$now" -ge "$next_pause" ]; then
        victim=${workers[$(((round + 2) % 4))]}
        log "stop $victim for ${pause_seconds}s"
        kill -STOP "$(cat "$work/$victim.pid")" || true
        sleep "$pause_seconds"
        kill -CONT "$(cat "$work/$victim.pid")" || true
        log "continue $victim"
        next_pause=$((next_pause + pause_every))
    fi
    sleep 10
done
kill "$load" 2>/dev/null || true
wait "$load" 2>/dev/null || true
log "load stopped"
# Every block a kill or pause held must come back: wait up to 60 s for each live worker's whole pool.
for _ in $(seq 60); do
    "$handoff" topo --coordinator "$coordinator" --token-file "$work/token" "${client_tls[@]}" --json \
        > "$out/fleet.json" 2>/dev/null || true
    python3 - "$out/fleet.json" <<'PY' && break
import json, sys
workers = [w for w in json.load(open(sys.argv[1])).get("workers", []) if w.get("live")]
sys.exit(0 if len(workers) == 4 and all(w["free_blocks"] == w["num_blocks"] for w in workers) else 1)
PY
    sleep 1
done
python3 - "$out" "$began" <<'PY'
import csv, json, sys
out, began = sys.argv[1], int(sys.argv[2])
lines = [json.loads(l) for l in open(f"{out}/requests.jsonl") if l.strip()]
done = [l for l in lines if l.get("state") == "done"]
failed = [l for l in lines if l.get("state") != "done"]
rss = {}
for row in csv.DictReader(open(f"{out}/rss.csv")):
    rss.setdefault(row["process"], []).append((int(row["seconds"]), int(row["rss_kib"])))
def growth(samples):
    samples = [s for s in samples if s[1] > 0]
    if len(samples) < 4: return None
    quarter = len(samples) // 4
    first = sorted(v for _, v in samples[:quarter])[quarter // 2]
    last = sorted(v for _, v in samples[-quarter:])[quarter // 2]
    return {"first_quarter_median_mib": round(first / 1024, 1), "last_quarter_median_mib": round(last / 1024, 1)}
fleet = json.load(open(f"{out}/fleet.json")).get("workers", [])
live = [w for w in fleet if w.get("live")]
summary = {
    "requests": len(lines), "done": len(done), "failed": len(failed),
    "verified": sum(1 for l in done if l.get("verified")),
    "recomputed": sum(1 for l in done if (l.get("attempts") or 1) > 1),
    "failure_reasons": sorted({(l.get("failure") or "?")[:120] for l in failed})[:10],
    "events": sum(1 for _ in open(f"{out}/events.log")),
    "rss": {name: growth(samples) for name, samples in rss.items()},
    "capacity_at_end": {w["id"]: f'{w["free_blocks"]}/{w["num_blocks"]}' for w in live},
    "stuck_capacity": len(live) != 4 or any(w["free_blocks"] != w["num_blocks"] for w in live),
}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
print(json.dumps(summary, indent=1))
sys.exit(1 if summary["stuck_capacity"] else 0)
PY
