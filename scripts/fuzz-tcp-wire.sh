#!/usr/bin/env bash
# Fuzzes the native TCP data plane's frame decoder with libFuzzer (swiftc -sanitize=fuzzer,address).
#   scripts/fuzz-tcp-wire.sh [SECONDS]   (default 60)
# The seeds in Fuzz/corpus/tcp-wire are kept in git; new inputs libFuzzer finds go to .build-fuzz/corpus, and a
# crashing input is written to .build-fuzz/ (add it to the seeds once fixed). The decoder's sources are compiled
# into one module with the coding types they use, their `import HandoffCore` lines dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
out=.build-fuzz
mkdir -p "$out/src" "$out/corpus"
for file in Sources/HandoffCore/Coding/ByteReader.swift Sources/HandoffCore/Coding/ByteWriter.swift \
    Sources/HandoffCore/Coding/WireFormatError.swift Sources/HandoffDataPlane/TCP/TCPWire.swift \
    Sources/HandoffDataPlane/TCP/TCPEndpoints.swift Sources/HandoffCore/Network/HostPort.swift \
    Fuzz/TCPWire/TCPWireFuzzer.swift; do
    grep -v '^import HandoffCore$' "$file" > "$out/src/$(basename "$file")"
done
echo 'let maxNotificationBytes = 4096  // as in Sources/HandoffDataPlane/Transport.swift' > "$out/src/Limits.swift"
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name TCPWireFuzz "$out"/src/*.swift \
    -o "$out/tcp-wire-fuzzer" 2> >(grep -v "Cannot export local symbol" >&2)
"$out/tcp-wire-fuzzer" -max_total_time="$seconds" -max_len=4096 -artifact_prefix="$out/" \
    "$out/corpus" Fuzz/corpus/tcp-wire
