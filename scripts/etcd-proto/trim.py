#!/usr/bin/env python3
"""Trims etcd's v3 API .proto files to what Handoff's coordinator calls, for a grpc-swift-2 build.

Usage: trim.py ETCD_CHECKOUT OUT_DIR, where ETCD_CHECKOUT is github.com/etcd-io/etcd at tag v3.4.23 (the
version Debian 12 ships as etcd-server). For each file it:
  - drops the gogoproto and google.api imports and options (Go code generation and the JSON gateway only);
  - rewrites the import paths to OUT_DIR's layout (etcd/etcdserverpb/rpc.proto, ...);
  - in rpc.proto keeps only the KV and Lease services, and only the messages and enums they reach (the Watch,
    Cluster, Maintenance and Auth services, and authpb with them, are not used).
Message fields, numbers and names are left as etcd defines them, so the wire format is etcd's.
"""
import re
import sys
from pathlib import Path

SOURCES = {
    "etcdserver/etcdserverpb/rpc.proto": "etcd/etcdserverpb/rpc.proto",
    "mvcc/mvccpb/kv.proto": "etcd/mvccpb/kv.proto",
    "etcdserver/api/v3election/v3electionpb/v3election.proto": "etcd/v3electionpb/v3election.proto",
}
IMPORTS = {
    '"etcd/mvcc/mvccpb/kv.proto"': '"etcd/mvccpb/kv.proto"',
    '"etcd/etcdserver/etcdserverpb/rpc.proto"': '"etcd/etcdserverpb/rpc.proto"',
}
KEPT_SERVICES = {"KV", "Lease", "Election"}


def blocks(text):
    """Top-level `message`/`enum`/`service` blocks as (kind, name, start, end) with brace matching."""
    for match in re.finditer(r"^(message|enum|service)\s+(\w+)\s*\{", text, re.M):
        depth, i = 0, match.end() - 1
        while True:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
            if depth == 0:
                break
        yield match.group(1), match.group(2), match.start(), i


def strip_options(text):
    text = re.sub(r'^import "(gogoproto/gogo|google/api/annotations)\.proto";\n', "", text, flags=re.M)
    text = re.sub(r"^option \(gogoproto\.[^;]*;\n", "", text, flags=re.M)
    # option (google.api.http) = { ... additional_bindings { ... } }; the rpc keeps an empty body.
    text = re.sub(r"\s*option \(google\.api\.http\) = \{(?:[^{}]|\{[^{}]*\})*\};", "", text)
    # Field options such as [(gogoproto.nullable) = false].
    text = re.sub(r"\s*\[\(gogoproto\.[^\]]*\]", "", text)
    for old, new in IMPORTS.items():
        text = text.replace(old, new)
    return text


def keep_reachable(text):
    """Removes services outside KEPT_SERVICES and the top-level types nothing kept refers to."""
    found = list(blocks(text))
    bodies = {name: text[start:end] for _, name, start, end in found}
    kept, queue = set(), [name for kind, name, _, _ in found if kind == "service" and name in KEPT_SERVICES]
    while queue:
        name = queue.pop()
        if name in kept:
            continue
        kept.add(name)
        for word in set(re.findall(r"\b\w+\b", bodies[name][bodies[name].index("{"):])):
            if word in bodies and word not in kept:
                queue.append(word)
    for _, name, start, end in reversed(found):
        if name not in kept:
            # Also remove the comment lines right above the block.
            head = start
            while head > 0:
                previous = text.rfind("\n", 0, head - 1) + 1
                if text[previous:head].lstrip().startswith("//"):
                    head = previous
                else:
                    break
            text = text[:head] + text[end:].lstrip("\n")
    if "authpb." not in text:
        text = text.replace('import "etcd/auth/authpb/auth.proto";\n', "")
    return text


def main():
    checkout, out = Path(sys.argv[1]), Path(sys.argv[2])
    for source, target in SOURCES.items():
        text = strip_options((checkout / source).read_text())
        if source.endswith("rpc.proto") or source.endswith("v3election.proto"):
            text = keep_reachable(text)
        header = (
            f"// Trimmed from etcd v3.4.23, {source} (Apache License 2.0), by scripts/etcd-proto/trim.py:\n"
            "// Go and gateway options removed; only what Handoff calls kept. Do not edit; run the script.\n"
        )
        path = out / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + re.sub(r"\n{3,}", "\n\n", text))
        print(f"{path}: {len(text.splitlines())} lines")


if __name__ == "__main__":
    main()
