#!/usr/bin/env python3
"""Checks the module graph the architecture promises, from `swift package describe --type json` on stdin:
an embedder (HandoffConnector, and the C API HandoffC) links the data plane and a coordinator client, never the coordinator,
Prometheus or an HTTP server; the coordinator (HandoffControlPlane) never links UCX;
the router (HandoffRouter) never links the coordinator;
only the coordinator links etcd; only the `handoff` executable links the OTLP exporter (libraries use the tracing
API). Exits 1 naming each breach."""
import json
import sys

RULES = {
    "HandoffConnector": {"HandoffControlPlane", "HandoffEtcd", "Prometheus", "NIOHTTP1", "ServiceLifecycle", "OTel"},
    "HandoffC": {"HandoffControlPlane", "HandoffEtcd", "Prometheus", "NIOHTTP1", "ServiceLifecycle", "OTel"},
    "HandoffClient": {"HandoffControlPlane", "HandoffEtcd", "HandoffDataPlane", "CUCX", "Prometheus"},
    "HandoffControlPlane": {"CUCX", "HandoffUCX", "OTel"},
    "HandoffRouter": {"HandoffControlPlane", "HandoffEtcd", "OTel"},
    "HandoffDataPlane": {"CUCX"},
}

targets = {t["name"]: t for t in json.load(sys.stdin)["targets"]}


def closure(name: str) -> set[str]:
    seen: set[str] = set()
    stack = [name]
    while stack:
        target = targets.get(stack.pop())
        if target is None:
            continue
        for dependency in target.get("target_dependencies", []) + target.get("product_dependencies", []):
            if dependency not in seen:
                seen.add(dependency)
                stack.append(dependency)
    return seen


breaches = [
    f"{module} links {sorted(closure(module) & forbidden)}"
    for module, forbidden in RULES.items()
    if closure(module) & forbidden
]
for breach in breaches:
    print(f"module graph: {breach}", file=sys.stderr)
print(f"module graph: {len(RULES)} rules checked, {len(breaches)} broken")
sys.exit(1 if breaches else 0)
