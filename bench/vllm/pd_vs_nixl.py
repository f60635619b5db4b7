"""vLLM prefill/decode on this machine, side by side in one run: NixlConnector (driven the way vLLM's toy proxy
drives it) against HandoffConnector behind `handoff router`, pulling (as NIXL does) and pushing (prefill writes each
layer into decode's reserved blocks while it computes).

Same model config (models/kv-heavy: 8 layers, 8 KV heads, head dim 128, bf16: 32 KiB of KV per token), same
prompts (random token ids, 512 to 2,032 tokens), same cores (every thread of each prefill server on core 0, of
each decode server on core 1), greedy, 16 output tokens, one request at a time. Per stack: TTFT at the client (p50/p90/p99, and the first request's alone),
and per request the KV transfer time, post time and bytes from the stack's own vLLM metrics on the decode server
(`vllm:nixl_*` and `vllm:handoff_*`), plus Handoff's per-request account at the coordinator.

Usage (from the repository root; installs the release build of the handoff package and nixl into the vLLM venv):
    bench/vllm/run.sh [--requests 20] [--out bench/results/vllm-pd]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple
from urllib.parse import urlparse

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "python" / "tests" / "vllm"))

from servers import (HandoffProcess, VLLMServer, connector_config, free_port, handoff_executable,  # noqa: E402
                     http_json, metric, new_token, prometheus)

MODEL_DIR = Path(__file__).resolve().parent / "models" / "kv-heavy"
MODEL = "kv-heavy"
OUTPUT_TOKENS = 16


REFERENCE_TOKENS = 1024
"""The first request and the last four have this length: the first request's TTFT is compared with theirs."""


def prompts(count: int) -> List[List[int]]:
    generator = random.Random(424242)
    lengths = [REFERENCE_TOKENS] + [generator.randrange(512, 2033) for _ in range(count - 5)] + [REFERENCE_TOKENS] * 4
    return [[generator.randrange(3, 32000) for _ in range(length)] for length in lengths]


def body(prompt: List[int], stream: bool, max_tokens: int = OUTPUT_TOKENS) -> dict:
    return {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
            "stream": stream, "return_token_ids": True}


def stream_first_token(url: str, payload: dict, started: float, headers: Optional[dict] = None) -> Tuple[float, List[int]]:
    """POSTs a streaming completion: (seconds from `started` to the first token chunk, all tokens)."""
    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)
    first: Optional[float] = None
    tokens: List[int] = []
    try:
        connection.request("POST", parsed.path, json.dumps(payload), {"content-type": "application/json", **(headers or {})})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status} {response.read()[:500]!r}")
        for line in response:
            if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
                continue
            ids = json.loads(line[6:])["choices"][0].get("token_ids") or []
            if ids and first is None:
                first = time.perf_counter() - started
            tokens.extend(ids)
    finally:
        connection.close()
    if first is None:
        raise RuntimeError(f"{url}: no token streamed")
    return first, tokens


class Sample:
    """One request: TTFT at the client and what the decode server's metrics say its KV load took."""

    def __init__(self, tokens: int, ttft: float, output: List[int], transfer: float, post: float, moved: float) -> None:
        self.tokens, self.ttft, self.output = tokens, ttft, output
        self.transfer, self.post, self.moved = transfer, post, moved
        self.account: Optional[dict] = None


def run_requests(all_prompts: List[List[int]], decode_url: str, prefix: str,
                 one: Callable[[int, List[int]], Tuple[float, List[int]]]) -> List[Sample]:
    """Sends the prompts one at a time; after each, reads the KV load's figures from the decode server."""
    names = (f"vllm:{prefix}_xfer_time_seconds_sum", f"vllm:{prefix}_post_time_seconds_sum",
             f"vllm:{prefix}_bytes_transferred_sum" if prefix == "nixl" else f"vllm:{prefix}_bytes_transferred_total")
    before = prometheus(decode_url + "/metrics")
    samples = []
    for index, prompt in enumerate(all_prompts):
        ttft, output = one(index, prompt)
        time.sleep(0.3)  # vLLM publishes a step's connector stats with the next stats update
        after = prometheus(decode_url + "/metrics")
        transfer, post, moved = (metric(after, name) - metric(before, name) for name in names)
        before = after
        samples.append(Sample(len(prompt), ttft, output, transfer, post, moved))
        print(f"  {prefix:7s} {index:2d}: {len(prompt):5d} tokens  TTFT {1e3 * ttft:7.1f} ms  "
              f"KV {1e3 * transfer:6.2f} ms (post {1e3 * post:5.2f})  {moved / 2**20:5.1f} MiB", flush=True)
    return samples


def nixl_stack(logs: Path, all_prompts: List[List[int]]) -> List[Sample]:
    def config(role: str) -> Callable[[str], dict]:
        return lambda url: {"kv_connector": "NixlConnector", "kv_role": role, "kv_buffer_device": "cpu"}

    prefill = VLLMServer("nixl-prefill", 0, logs, config("kv_producer"),
                         {"VLLM_NIXL_SIDE_CHANNEL_PORT": str(free_port())}, model_dir=MODEL_DIR, served_name=MODEL,
                         kv_cache_gib=2, pin_process=True)
    decode = VLLMServer("nixl-decode", 1, logs, config("kv_consumer"),
                        {"VLLM_NIXL_SIDE_CHANNEL_PORT": str(free_port())}, model_dir=MODEL_DIR, served_name=MODEL,
                        kv_cache_gib=2, pin_process=True)
    try:
        prefill.wait_ready()
        decode.wait_ready()

        def one(index: int, prompt: List[int]) -> Tuple[float, List[int]]:
            # What vLLM's toy proxy does: prefill one token with do_remote_decode, then decode with its params.
            started = time.perf_counter()
            request = body(prompt, stream=False, max_tokens=1)
            request["kv_transfer_params"] = {"do_remote_decode": True, "do_remote_prefill": False,
                                             "remote_engine_id": None, "remote_block_ids": None,
                                             "remote_host": None, "remote_port": None}
            status, answer = http_json(prefill.url + "/v1/completions", request, timeout=300)
            assert status == 200, answer
            decode_request = body(prompt, stream=True)
            decode_request["kv_transfer_params"] = answer["kv_transfer_params"]
            return stream_first_token(decode.url + "/v1/completions", decode_request, started)

        return run_requests(all_prompts, decode.url, "nixl", one)
    finally:
        prefill.stop()
        decode.stop()


def handoff_stack(logs: Path, all_prompts: List[List[int]], mode: str, reserve_wait: float = 0.0) -> List[Sample]:
    token = new_token()
    coordinator = HandoffProcess(["coordinator", "--listen", "127.0.0.1:0", "--no-metrics", "--log-level", "warning"],
                                 token, logs / f"handoff-{mode}-coordinator.log")
    address = f"127.0.0.1:{coordinator.ports['grpc']}"
    environment = {"HANDOFF_TOKEN": token}

    def config(role: str) -> Callable[[str], dict]:
        return lambda url: connector_config(role, address, url, f"{role}-0", mode=mode)

    prefill = VLLMServer(f"handoff-{mode}-prefill", 0, logs, config("prefill"), environment, model_dir=MODEL_DIR,
                         served_name=MODEL, kv_cache_gib=2, pin_process=True)
    decode = VLLMServer(f"handoff-{mode}-decode", 1, logs, config("decode"), environment, model_dir=MODEL_DIR,
                        served_name=MODEL, kv_cache_gib=2, pin_process=True)
    router: Optional[HandoffProcess] = None
    try:
        prefill.wait_ready()
        decode.wait_ready()
        router = HandoffProcess(["router", "--listen", "127.0.0.1:0", "--coordinator", address, "--log-level", "warning",
                                 "--mode", mode, "--push-reserve-wait-seconds", str(reserve_wait)], token,
                                logs / f"handoff-{mode}-router.log")
        url = f"http://127.0.0.1:{router.ports['http']}/v1/completions"

        def one(index: int, prompt: List[int]) -> Tuple[float, List[int]]:
            return stream_first_token(url, body(prompt, stream=True), time.perf_counter(),
                                      {"x-request-id": f"bench-{mode}-{index}"})

        samples = run_requests(all_prompts, decode.url, "handoff", one)
        result = subprocess.run([str(handoff_executable()), "account", "--coordinator", address,
                                 *[f"bench-{mode}-{index}" for index in range(len(samples))]],
                                capture_output=True, text=True, env={"HANDOFF_TOKEN": token}, check=True)
        for sample, line in zip(samples, result.stdout.splitlines()):
            sample.account = json.loads(line)
        return samples
    finally:
        if router is not None:
            router.stop()
        prefill.stop()
        decode.stop()
        coordinator.stop()


def percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def summarize(name: str, samples: List[Sample]) -> dict:
    steady = [sample.ttft for sample in samples[1:]]
    transfers = [sample.transfer for sample in samples]
    accounts = [sample.account for sample in samples if sample.account]
    on_ttft = [account["components"]["kv_transfer"] for account in accounts if "components" in account]
    return {
        "pushed": sum(account.get("transfer_mode") == "push" for account in accounts),
        "kv_on_ttft_mean_ms": 1e3 * statistics.mean(on_ttft) if on_ttft else None,
        "stack": name, "requests": len(samples),
        "ttft_p50_ms": 1e3 * percentile(steady, 0.5), "ttft_p90_ms": 1e3 * percentile(steady, 0.9),
        "ttft_p99_ms": 1e3 * percentile(steady, 0.99), "first_ttft_ms": 1e3 * samples[0].ttft,
        "first_over_steady": samples[0].ttft / statistics.median(
            sample.ttft for sample in samples[1:] if sample.tokens == REFERENCE_TOKENS),
        "kv_transfer_mean_ms": 1e3 * statistics.mean(transfers), "kv_transfer_p50_ms": 1e3 * percentile(transfers, 0.5),
        "kv_post_mean_ms": 1e3 * statistics.mean(sample.post for sample in samples),
        "kv_mib_per_request": statistics.mean(sample.moved for sample in samples) / 2**20,
        "kv_gb_per_s": sum(sample.moved for sample in samples) / max(1e-9, sum(transfers)) / 1e9,
    }


def table(rows: List[dict]) -> str:
    header = (f"| stack | TTFT p50 | p90 | p99 | first TTFT (× later {REFERENCE_TOKENS}-token requests) | KV transfer mean (p50) "
              "| KV on TTFT mean (account) | KV post mean | MiB/request | KV GB/s | pushed |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|\n")

    def on_ttft(row: dict) -> str:
        return "–" if row["kv_on_ttft_mean_ms"] is None else f"{row['kv_on_ttft_mean_ms']:.2f} ms"

    return header + "".join(
        f"| {row['stack']} | {row['ttft_p50_ms']:.1f} ms | {row['ttft_p90_ms']:.1f} ms | {row['ttft_p99_ms']:.1f} ms "
        f"| {row['first_ttft_ms']:.1f} ms ({row['first_over_steady']:.2f}×) | {row['kv_transfer_mean_ms']:.2f} ms "
        f"({row['kv_transfer_p50_ms']:.2f}) | {on_ttft(row)} | {row['kv_post_mean_ms']:.3f} ms "
        f"| {row['kv_mib_per_request']:.1f} | {row['kv_gb_per_s']:.2f} | {row['pushed']}/{row['requests']} |\n"
        for row in rows)


def plot(stacks: Dict[str, List[Sample]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (ttft_axis, kv_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, samples in stacks.items():
        tokens = [sample.tokens for sample in samples]
        ttft_axis.scatter(tokens, [1e3 * sample.ttft for sample in samples], label=name, s=14)
        kv_axis.scatter([sample.moved / 2**20 for sample in samples], [1e3 * sample.transfer for sample in samples],
                        label=name, s=14)
    ttft_axis.set(xlabel="prompt tokens", ylabel="TTFT at the client (ms)", title="TTFT")
    kv_axis.set(xlabel="KV moved (MiB)", ylabel="KV transfer time (ms, decode's vLLM metrics)", title="KV transfer")
    for axis in (ttft_axis, kv_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=24, help="at least 8")
    parser.add_argument("--out", type=Path, default=REPOSITORY / "bench" / "results" / "vllm-pd")
    parser.add_argument("--push-reserve-wait-seconds", type=float, default=0.0,
                        help="handoff router's wait for decode's reservation in push mode (0: none)")
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    all_prompts = prompts(arguments.requests)
    stacks: Dict[str, List[Sample]] = {}
    print("NixlConnector (vLLM's toy-proxy flow)", flush=True)
    stacks["nixl"] = nixl_stack(arguments.out, all_prompts)
    print("HandoffConnector, pull, through handoff router", flush=True)
    stacks["handoff-pull"] = handoff_stack(arguments.out, all_prompts, "pull")
    print("HandoffConnector, push, through handoff router --mode push", flush=True)
    stacks["handoff-push"] = handoff_stack(arguments.out, all_prompts, "push", arguments.push_reserve_wait_seconds)
    reference = stacks["nixl"]
    for name, samples in stacks.items():
        mismatched = [index for index, sample in enumerate(samples) if sample.output != reference[index].output]
        if mismatched:
            raise SystemExit(f"{name}: outputs differ from NixlConnector's for requests {mismatched}")
        if any(abs(sample.moved - reference[index].moved) > 0 for index, sample in enumerate(samples)):
            print(f"note: {name} moved other byte counts than nixl", flush=True)
    rows = [summarize(name, samples) for name, samples in stacks.items()]
    text = table(rows)
    nixl = rows[0]
    for handoff in rows[1:]:
        text += (f"\n{handoff['stack']}/NIXL: KV transfer time "
                 f"{handoff['kv_transfer_mean_ms'] / nixl['kv_transfer_mean_ms']:.2f}× (target ≤ 0.33), TTFT p50 "
                 f"{handoff['ttft_p50_ms'] / nixl['ttft_p50_ms']:.2f}× (target < 1), first-request TTFT "
                 f"{handoff['first_over_steady']:.2f}× of later requests of its length (target ≤ 1.2)\n")
    text += ("\nKV transfer: the data plane's time per request from decode's vLLM metrics (a push's runs while "
             "prefill computes); KV on TTFT: the coordinator account's kv_transfer component, the part of it the "
             "request waited for.\n")
    (arguments.out / "results.json").write_text(json.dumps({
        "summary": rows, "requests": {name: [{"prompt_tokens": s.tokens, "ttft_s": s.ttft, "kv_transfer_s": s.transfer,
                                              "kv_post_s": s.post, "kv_bytes": s.moved, "account": s.account}
                                             for s in samples] for name, samples in stacks.items()}}, indent=1))
    (arguments.out / "results.md").write_text(text)
    plot(stacks, arguments.out / "ttft-kv.png")
    print(text)
    print(f"wrote {arguments.out}/results.md, results.json and ttft-kv.png")


if __name__ == "__main__":
    main()
