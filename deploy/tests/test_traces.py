"""Traces, for real: an OTLP/HTTP receiver (opentelemetry-proto's ExportTraceServiceRequest, served by this test)
collects the spans that `handoff demo` and the coordinator and workers it starts export, and each request must be
one trace whose spans nest across the processes and carry the transfer's figures."""

from __future__ import annotations

import os
import subprocess
from collections import defaultdict

import pytest

from conftest import REPOSITORY, handoff_executable

pytest.importorskip("opentelemetry.proto", reason="opentelemetry-proto is not installed (scripts/observability-tests.sh "
                    "installs it)")
from otlp_receiver import started  # noqa: E402 (needs opentelemetry-proto)

REQUESTS = 4


@pytest.fixture(scope="module")
def traced_demo():
    receiver = started()
    environment = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
                       OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_BSP_SCHEDULE_DELAY="200")
    environment.pop("OTEL_SERVICE_NAME", None)
    result = subprocess.run(
        [str(handoff_executable()), "demo", "--model", "tiny", "--blocks", "256", "--prompt-tokens", "128,256",
         "--requests", str(REQUESTS), "--rate", "4", "--json"],
        cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=300)
    receiver.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    return receiver.spans


def test_each_request_is_one_trace_across_the_demo_the_coordinator_and_both_workers(traced_demo):
    traces = defaultdict(list)
    for span in traced_demo:
        traces[span["trace"]].append(span)
    roots = [span for span in traced_demo if span["name"] == "handoff.demo.request"]
    assert len(roots) == REQUESTS, sorted({span["name"] for span in traced_demo})
    assert len({root["trace"] for root in roots}) == REQUESTS
    for root in roots:
        spans = traces[root["trace"]]
        by_id = {span["id"]: span for span in spans}
        named = {span["name"]: span for span in spans}
        request = named["handoff.request"]
        assert request["service"] == "handoff-coordinator" and request["parent"] == root["id"]
        assert request["attributes"]["handoff.request_id"] == root["attributes"]["handoff.request_id"]
        assert request["attributes"]["handoff.outcome"] == "done"
        # The coordinator's stages, and the workers' own spans, are children of its request span.
        for name in ("handoff.pair", "handoff.queue", "handoff.prefill", "handoff.reserve", "handoff.kv_transfer",
                     "handoff.first_decode", "handoff.engine.prefill", "handoff.pull"):
            assert name in named, (name, sorted(named))
            assert named[name]["parent"] == request["id"], name
        assert named["handoff.engine.prefill"]["service"] == "handoff-worker"
        assert named["handoff.engine.prefill"]["instance"].startswith("prefill-")
        assert named["handoff.pull"]["service"] == "handoff-worker"
        assert named["handoff.pull"]["instance"].startswith("decode-")
        # Every span's parent is in the trace, and children start within their parents' time (clocks of one host).
        for span in spans:
            if span is root:
                continue
            parent = by_id[span["parent"]]
            assert parent["start"] - 1_000_000 <= span["start"] <= span["end"] <= parent["end"] + 1_000_000, span
        pair = named["handoff.pair"]["attributes"]
        assert pair["handoff.prefill.worker"].startswith("prefill-") and pair["handoff.decode.worker"].startswith(
            "decode-")
        assert pair["handoff.pair.distance"].startswith("same node")
        transfer = named["handoff.kv_transfer"]["attributes"]
        pulled = named["handoff.pull"]["attributes"]
        for attributes in (transfer, pulled):
            assert attributes["handoff.kv.bytes"] > 0 and attributes["handoff.kv.ops"] > 0
            assert attributes["handoff.kv.transport"] == "ucx" and attributes["handoff.kv.lanes"]
            assert attributes["handoff.kv.post_seconds"] >= 0 and attributes["handoff.kv.fallback"] == ""
        assert transfer["handoff.kv.bytes"] == pulled["handoff.kv.bytes"]
        assert not any(span["error"] for span in spans)
    print(f"\ntraces: {REQUESTS} requests, {len(traced_demo)} spans; one trace: " + ", ".join(
        f"{span['name']} ({span['service']}, {(span['end'] - span['start']) / 1e6:.2f} ms)"
        for span in sorted(traces[roots[0]["trace"]], key=lambda span: span["start"])))
