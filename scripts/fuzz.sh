#!/usr/bin/env bash
# Fuzzes one of Handoff's decoders of untrusted bytes with libFuzzer (swiftc -sanitize=fuzzer,address).
#   scripts/fuzz.sh TARGET [SECONDS] [libFuzzer options...]     (default 60 seconds)
# Targets:
#   tcp-wire          the native TCP data plane's frames and endpoint lists (Fuzz/TCPWire)
#   pool-descriptor   pool descriptors, as peers and registrations hand them over (Fuzz/PoolDescriptor)
#   control-messages  what workers and routers send the coordinator, protobuf to model: session messages
#                     (Register, Heartbeat, reports), the unary Report, Admit (Fuzz/ControlMessages)
#   hellos            what a stranger sends first: the native TCP hello, a probe's request lines, bench serve's
#                     hello line (Fuzz/Hellos)
# Each target's sources are compiled into one module with the HandoffCore types they use (their
# `import HandoffCore` lines dropped); control-messages imports SwiftProtobuf from the debug build (run
# `swift build` first). The seeds in Fuzz/corpus/TARGET are kept in git; inputs libFuzzer finds go
# to .build-fuzz/TARGET/corpus, and a crashing input is written to .build-fuzz/TARGET/ (add it to the seeds once
# fixed). `-runs=N` instead of a time runs N executions.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh tcp-wire|pool-descriptor|control-messages|hellos [SECONDS] [libFuzzer options...]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
extra=()
coding=(Sources/HandoffCore/Coding/ByteReader.swift Sources/HandoffCore/Coding/ByteWriter.swift
    Sources/HandoffCore/Coding/WireFormatError.swift)
case "$target" in
    tcp-wire)
        files=("${coding[@]}" Sources/HandoffDataPlane/TCP/TCPWire.swift Sources/HandoffDataPlane/TCP/TCPEndpoints.swift
            Sources/HandoffCore/Network/HostPort.swift Fuzz/TCPWire/TCPWireFuzzer.swift)
        ;;
    pool-descriptor)
        files=("${coding[@]}" Sources/HandoffCore/Model/KVLayout.swift Sources/HandoffCore/Model/KVGeometry.swift
            Sources/HandoffCore/Model/KVModelError.swift Sources/HandoffCore/Plan/PlanError.swift
            Sources/HandoffDataPlane/PoolDescriptor.swift Sources/HandoffDataPlane/DataPlaneError.swift
            Sources/HandoffDataPlane/MemoryType.swift Sources/HandoffDataPlane/Base64.swift
            Sources/HandoffDataPlane/UCXError.swift Fuzz/PoolDescriptor/PoolDescriptorFuzzer.swift)
        ;;
    control-messages)
        # Without the files that make spans (they import Tracing, which decoding does not need).
        files=($(grep -L -E '^import (Tracing|Instrumentation)$' Sources/HandoffCore/*/*.swift Sources/HandoffControlProtocol/*/*.swift)
            Sources/HandoffProto/handoff.pb.swift Sources/HandoffControlPlane/Coordinator/AdmitRequest.swift
            Sources/HandoffControlPlane/Coordinator/LoadFailurePolicy.swift
            Sources/HandoffControlPlane/Coordinator/TransferMode.swift
            Sources/HandoffControlPlane/Protocol/Proto+Admission.swift Fuzz/ControlMessages/ControlMessagesFuzzer.swift)
        # The generated messages need SwiftProtobuf: its module and objects from the debug build, uninstrumented.
        extra=(-I .build/debug/Modules $(ls .build/debug/SwiftProtobuf.build/*.o))
        ;;
    hellos)
        files=("${coding[@]}" Sources/HandoffDataPlane/TCP/TCPWire.swift Sources/HandoffDataPlane/TCP/DataPlaneProbe.swift
            Sources/handoff/Bench/BenchHello.swift Sources/handoff/Bench/BenchRole.swift
            Sources/handoff/Bench/BenchError.swift Fuzz/Hellos/HellosFuzzer.swift)
        ;;
    *) echo "unknown fuzz target $target (tcp-wire, pool-descriptor, control-messages, hellos)" >&2; exit 2 ;;
esac
out=.build-fuzz/$target
rm -rf "$out/src"
mkdir -p "$out/src" "$out/corpus"
for file in "${files[@]}"; do
    grep -v -E '^import (HandoffCore|HandoffProto|HandoffControlProtocol)$' "$file" > "$out/src/$(basename "$file")"
done
if [ "$target" = tcp-wire ] || [ "$target" = hellos ]; then
    echo 'let maxNotificationBytes = 4096  // as in Sources/HandoffDataPlane/Transport.swift' > "$out/src/Limits.swift"
fi
swiftc -O -sanitize=fuzzer,address -parse-as-library -package-name Handoff -module-name Fuzz "$out"/src/*.swift \
    "${extra[@]}" -o "$out/fuzzer" 2> >(grep -v "Cannot export local symbol" >&2)
"$out/fuzzer" -max_total_time="$seconds" -max_len=4096 -artifact_prefix="$out/" "$@" "$out/corpus" "Fuzz/corpus/$target"
