"""vLLM prefill and decode servers with HandoffConnector behind `handoff router`, checked against one plain vLLM
server: the same tokens, KV loaded rather than recomputed, accounts at the coordinator, one trace per request across
every process, and no request that hangs when a client leaves or the prefill server dies."""

from __future__ import annotations

import http.client
import json
import random
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlparse

import pytest

from servers import (MODEL, REPOSITORY, HandoffProcess, VLLMServer, connector_config, handoff_executable, http_json,
                     log_lines, metric, model_directory, new_token, prometheus)

sys.path.insert(0, str(REPOSITORY / "deploy" / "tests"))
from otlp_receiver import Receiver, started  # noqa: E402 (the observability tests' receiver)

BLOCK_TOKENS = 128  # vLLM's CPU default block size
BLOCK_BYTES = 2 * 2 * BLOCK_TOKENS * 2 * 64 * 2  # layers × K,V × tokens × KV heads × head dim × bf16
OUTPUT_TOKENS = 16
LOAD_TIMEOUT = 8.0


def prompts() -> List[List[int]]:
    """20 prompts of random token ids, 128 to 2,032 tokens (2,048 is the model's length with 16 to generate)."""
    generator = random.Random(20261127)
    lengths = [128, 2032, 129, 255, 256, 1000] + [generator.randrange(128, 2033) for _ in range(14)]
    return [[generator.randrange(3, 32000) for _ in range(length)] for length in lengths]


def push_prompts() -> List[List[int]]:
    """8 other prompts (decode's prefix cache holds none of them) for the push router."""
    generator = random.Random(777)
    lengths = [2032, 128, 700] + [generator.randrange(128, 2033) for _ in range(5)]
    return [[generator.randrange(3, 32000) for _ in range(length)] for length in lengths]


def chats() -> List[dict]:
    """Chat requests whose words are token ids the engines' tokenizer knows."""
    generator = random.Random(11)
    words = lambda count: " ".join(f"w{generator.randrange(3, 32000)}" for _ in range(count))
    return [{"model": MODEL, "messages": [{"role": "system", "content": words(40)}, {"role": "user", "content": words(n)}],
             "max_tokens": OUTPUT_TOKENS, "temperature": 0} for n in (150, 400, 900)]


def completion(prompt: List[int], max_tokens: int = OUTPUT_TOKENS, stream: bool = False) -> dict:
    return {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
            "return_token_ids": True, "stream": stream}


def generate(base_url: str, prompt: List[int], stream: bool, request_id: Optional[str] = None,
             timeout: float = 120.0, traceparent: Optional[str] = None) -> Tuple[int, List[int], str]:
    """(HTTP status, generated token ids, finish reason or error text) of one completion."""
    headers = {"x-request-id": request_id} if request_id else {}
    if traceparent:
        headers["traceparent"] = traceparent
    if not stream:
        status, body = http_json(base_url + "/v1/completions", completion(prompt), timeout=timeout, headers=headers)
        if status != 200:
            return status, [], json.dumps(body)
        choice = body["choices"][0]
        return status, list(choice.get("token_ids") or []), choice.get("finish_reason") or ""
    url = urlparse(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        connection.request("POST", "/v1/completions", json.dumps(completion(prompt, stream=True)),
                           {"content-type": "application/json", **headers})
        response = connection.getresponse()
        if response.status != 200:
            return response.status, [], response.read().decode(errors="replace")
        tokens: List[int] = []
        finish = ""
        for line in response:
            line = line.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            choice = json.loads(line[6:])["choices"][0]
            tokens.extend(choice.get("token_ids") or [])
            finish = choice.get("finish_reason") or finish
        return 200, tokens, finish
    finally:
        connection.close()


class Stack:
    """Coordinator, a prefill and a decode vLLM server with HandoffConnector, and two routers: `url` pulls,
    `push_url` pushes (the prefill server's connector runs `"mode": "push"`, which pushes only what a push router
    sends). Every process exports its spans to `traces`: the Handoff ones through OTEL_EXPORTER_OTLP_ENDPOINT, the
    vLLM servers (and the HandoffConnector in them) through vLLM's own --otlp-traces-endpoint."""

    def __init__(self, logs, model, traces: Receiver) -> None:
        self.token = new_token()
        exporting = {"OTEL_EXPORTER_OTLP_ENDPOINT": traces.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                     "OTEL_BSP_SCHEDULE_DELAY": "200"}
        # vLLM's CPU build pins each server's worker process to its core (VLLM_CPU_OMP_THREADS_BIND), and with it
        # the connector's threads, beside the busy compute thread: on two cores, decode's heartbeats were 3 s late
        # while it generated, and the default (3 missed) took it out mid-request. The README says to raise it so.
        self.coordinator = HandoffProcess(
            ["coordinator", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--log-level", "info",
             "--state-timeout-seconds", "20", "--lease-seconds", "20", "--transfer-timeout-seconds", "10",
             "--missed-heartbeats", "10"],
            self.token, logs / "coordinator.log", exporting)
        self.address = f"127.0.0.1:{self.coordinator.ports['grpc']}"
        self.coordinator_metrics = f"http://127.0.0.1:{self.coordinator.ports['metrics']}/metrics"
        environment = {"HANDOFF_TOKEN": self.token, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
                       "OTEL_BSP_SCHEDULE_DELAY": "200"}
        tracing = ["--otlp-traces-endpoint", traces.endpoint + "/v1/traces"]
        self.prefill = VLLMServer(
            "prefill", 0, logs, lambda url: connector_config("prefill", self.address, url, "prefill-0", mode="push"),
            environment, model_dir=model, arguments=tracing)
        self.decode = VLLMServer(
            "decode", 1, logs,
            lambda url: connector_config("decode", self.address, url, "decode-0", load_timeout_seconds=LOAD_TIMEOUT),
            environment, model_dir=model, arguments=tracing)
        self.router: Optional[HandoffProcess] = None
        self.push_router: Optional[HandoffProcess] = None
        try:
            self.prefill.wait_ready()
            self.decode.wait_ready()
            self.router = HandoffProcess(["router", "--listen", "127.0.0.1:0", "--coordinator", self.address],
                                         self.token, logs / "router.log", exporting)
            self.push_router = HandoffProcess(
                ["router", "--listen", "127.0.0.1:0", "--coordinator", self.address, "--mode", "push",
                 "--push-reserve-wait-seconds", "10"], self.token, logs / "push-router.log", exporting)
        except BaseException:
            self.stop()
            raise
        self.url = f"http://127.0.0.1:{self.router.ports['http']}"
        self.push_url = f"http://127.0.0.1:{self.push_router.ports['http']}"
        deadline = time.monotonic() + 30
        for url in (self.url, self.push_url):
            while http_json(url + "/health")[0] != 200:
                assert time.monotonic() < deadline, f"router never healthy: {http_json(url + '/health')}"
                time.sleep(0.2)

    def accounts(self, request_ids: List[str]) -> Dict[str, dict]:
        result = subprocess.run(
            [str(handoff_executable()), "account", "--coordinator", self.address, *request_ids],
            capture_output=True, text=True, timeout=60, env={"HANDOFF_TOKEN": self.token})
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        return {line["request_id"]: line for line in lines}

    def settled_accounts(self, request_ids: List[str], timeout: float = 15.0) -> Dict[str, dict]:
        """The accounts once none is still decoding: decode reports the first token to the coordinator on its own
        session, which may reach it after the client has the whole answer."""
        deadline = time.monotonic() + timeout
        while True:
            accounts = self.accounts(request_ids)
            if all(account["state"] != "decoding" for account in accounts.values()) or time.monotonic() > deadline:
                return accounts
            time.sleep(0.2)

    def stop(self) -> None:
        for process in (self.router, self.push_router, self.prefill, self.decode, self.coordinator):
            if process is not None:
                process.stop()


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("vllm-logs")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return model_directory(tmp_path_factory.mktemp("model") / MODEL)


@pytest.fixture(scope="module")
def single_instance(logs, model) -> dict:
    """Every prompt's and chat's greedy output from one plain vLLM server."""
    server = VLLMServer("single", 0, logs, model_dir=model)
    try:
        server.wait_ready()
        outputs = []
        for prompt in prompts():
            status, tokens, finish = generate(server.url, prompt, stream=False)
            assert status == 200 and len(tokens) == OUTPUT_TOKENS, (status, finish)
            outputs.append(tokens)
        pushed = []
        for prompt in push_prompts():
            status, tokens, finish = generate(server.url, prompt, stream=False)
            assert status == 200 and len(tokens) == OUTPUT_TOKENS, (status, finish)
            pushed.append(tokens)
        answers = []
        for chat in chats():
            status, body = http_json(server.url + "/v1/chat/completions", chat)
            assert status == 200, body
            answers.append(body["choices"][0]["message"]["content"])
        return {"completions": outputs, "push": pushed, "chats": answers}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def single_instance_outputs(single_instance) -> List[List[int]]:
    return single_instance["completions"]


@pytest.fixture(scope="module")
def traces():
    """The OTLP/HTTP receiver every process of the stack exports its spans to."""
    receiver = started()
    yield receiver
    receiver.shutdown()


@pytest.fixture(scope="module")
def stack(logs, model, single_instance, traces):
    running = Stack(logs, model, traces)
    yield running
    running.stop()


def test_disaggregated_outputs_equal_a_single_instance_and_kv_is_loaded(stack, single_instance_outputs):
    decode_before = prometheus(stack.decode.url + "/metrics")
    all_prompts = prompts()
    ids = [f"pd-{index}" for index in range(len(all_prompts))]

    def run(index: int):
        return generate(stack.url, all_prompts[index], stream=index % 2 == 1, request_id=ids[index])

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(run, range(len(all_prompts))))
    for index, (status, tokens, finish) in enumerate(results):
        assert status == 200, f"request {index}: {status} {finish}"
        assert tokens == single_instance_outputs[index], f"request {index} ({len(all_prompts[index])} tokens) differs"

    decode_after = prometheus(stack.decode.url + "/metrics")

    def delta(name: str, **labels: str) -> float:
        return metric(decode_after, name, **labels) - metric(decode_before, name, **labels)

    sent = sum(len(prompt) for prompt in all_prompts)
    local_hits = delta("vllm:prompt_tokens_by_source_total", source="local_cache_hit")
    assert delta("vllm:prompt_tokens_by_source_total", source="external_kv_transfer") == sent - local_hits
    assert local_hits == 0  # random prompts share no block
    assert delta("vllm:prompt_tokens_by_source_total", source="local_compute") == 0
    blocks = sum(-(-len(prompt) // BLOCK_TOKENS) for prompt in all_prompts)
    assert delta("vllm:handoff_bytes_transferred_total") == blocks * BLOCK_BYTES
    assert delta("vllm:handoff_failed_loads_total") == 0

    accounts = stack.settled_accounts(ids)
    for index, request_id in enumerate(ids):
        account = accounts[request_id]
        assert account["state"] == "done", account
        assert not account.get("verified"), account  # nothing checked real KV: the account must not claim it
        assert account["components"]["kv_transfer"] > 0, account
        assert int(account["kv_bytes"]) == -(-len(all_prompts[index]) // BLOCK_TOKENS) * BLOCK_BYTES, account
        assert account["prefill_worker"] == "prefill-0" and account["decode_worker"] == "decode-0"


def test_one_request_is_one_trace_through_the_router_the_coordinator_and_both_vllm_servers(stack, traces):
    """The client's traceparent is the parent of the router's span; under it the coordinator's request span and the
    router's calls to the engines, under which vLLM's own `llm_request` spans hang; the HandoffConnector in each
    vLLM server makes its spans under the coordinator's request span, and the pull's figures match the
    coordinator's."""
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    prompt = [random.Random(99).randrange(3, 32000) for _ in range(300)]  # 3 blocks, none in a prefix cache
    status, tokens, finish = generate(stack.url, prompt, stream=True, request_id="traced-0",
                                      traceparent=f"00-{trace_id}-{client_span}-01")
    assert status == 200 and len(tokens) == OUTPUT_TOKENS, finish
    wanted = {"handoff.router.request", "handoff.router.prefill", "handoff.router.decode", "handoff.request",
              "handoff.pair", "handoff.kv_transfer", "handoff.first_decode", "handoff.vllm.hold", "handoff.vllm.load",
              "handoff.pull", "handoff.vllm.first_token", "llm_request"}
    deadline = time.monotonic() + 30
    while True:
        spans = [span for span in traces.snapshot() if span["trace"] == trace_id]
        names = [span["name"] for span in spans]
        if wanted <= set(names) and names.count("llm_request") == 2:
            break
        assert time.monotonic() < deadline, f"spans missing: {sorted(wanted - set(names))}; present: {sorted(names)}"
        time.sleep(0.2)
    by_id = {span["id"]: span for span in spans}
    named = {span["name"]: span for span in spans if span["name"] != "llm_request"}
    router, request = named["handoff.router.request"], named["handoff.request"]
    assert router["service"] == "handoff-router" and router["parent"] == client_span
    assert router["attributes"]["handoff.request_id"] == "traced-0" and router["attributes"]["handoff.outcome"] == "ok"
    assert request["service"] == "handoff-coordinator" and request["parent"] == router["id"]
    assert request["attributes"]["handoff.request_id"] == "traced-0"
    # vLLM's own request spans hang under the router's calls to each engine.
    engine_calls = {named["handoff.router.prefill"]["id"], named["handoff.router.decode"]["id"]}
    assert {span["parent"] for span in spans if span["name"] == "llm_request"} == engine_calls
    for name in ("handoff.router.prefill", "handoff.router.decode"):
        assert named[name]["parent"] == router["id"], name
    # The connectors' spans, made in the vLLM servers' engine processes, hang under the coordinator's request span.
    for name, worker in (("handoff.vllm.hold", "prefill-0"), ("handoff.vllm.load", "decode-0"),
                         ("handoff.vllm.first_token", "decode-0")):
        assert named[name]["parent"] == request["id"], name
        assert named[name]["service"] == "handoff-vllm" and named[name]["instance"] == worker, named[name]
    pull, transfer = named["handoff.pull"], named["handoff.kv_transfer"]["attributes"]
    assert pull["parent"] == named["handoff.vllm.load"]["id"]
    assert pull["attributes"]["handoff.kv.bytes"] == transfer["handoff.kv.bytes"] == 3 * BLOCK_BYTES
    assert pull["attributes"]["handoff.kv.transport"] == transfer["handoff.kv.transport"] != ""
    assert named["handoff.vllm.load"]["attributes"]["handoff.kv.blocks"] == 3
    assert named["handoff.vllm.hold"]["attributes"]["handoff.kv.blocks"] == 3
    # Every span starts within its parent's time (one host's clock; 1 ms for the processes' clock reads).
    for span in spans:
        if span is not router:
            parent = by_id[span["parent"]]
            assert parent["start"] - 1_000_000 <= span["start"] <= parent["end"] + 1_000_000, (span, parent)
    assert not any(span["error"] for span in spans), [span for span in spans if span["error"]]
    print("\none traced request: " + ", ".join(
        f"{span['name']} ({span['service']}, {(span['end'] - span['start']) / 1e6:.2f} ms)"
        for span in sorted(spans, key=lambda span: span["start"])))


def test_push_mode_outputs_equal_a_single_instance(stack, single_instance):
    """Through the push router prefill writes each layer into decode's reserved blocks while it computes; a request
    whose push target came too late would be pulled. Either way: the same tokens, KV loaded, never recomputed."""
    decode_before = prometheus(stack.decode.url + "/metrics")
    chosen = push_prompts()
    ids = [f"push-{index}" for index in range(len(chosen))]

    def run(index: int):
        return generate(stack.push_url, chosen[index], stream=index % 2 == 1, request_id=ids[index])

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, range(len(chosen))))
    for index, (status, tokens, finish) in enumerate(results):
        assert status == 200, f"request {index}: {status} {finish}"
        assert tokens == single_instance["push"][index], f"request {index} ({len(chosen[index])} tokens) differs"
    decode_after = prometheus(stack.decode.url + "/metrics")
    name = "vllm:prompt_tokens_by_source_total"
    assert (metric(decode_after, name, source="external_kv_transfer")
            - metric(decode_before, name, source="external_kv_transfer")) == sum(len(prompt) for prompt in chosen)
    assert metric(decode_after, name, source="local_compute") == metric(decode_before, name, source="local_compute")
    accounts = stack.settled_accounts(ids)
    modes = [accounts[request_id]["transfer_mode"] for request_id in ids]
    print(f"push router: {modes.count('push')} of {len(ids)} requests pushed, the rest pulled")
    for index, request_id in enumerate(ids):
        account = accounts[request_id]
        assert account["state"] == "done" and account["transfer_mode"] in ("push", "pull"), account
        assert int(account["kv_bytes"]) == -(-len(chosen[index]) // BLOCK_TOKENS) * BLOCK_BYTES, account
        assert account["reserved"] and account["components"]["kv_transfer"] >= 0, account
    # The router sends the prompt to prefill once decode reserved (it waits up to 10 s here; by default it does not
    # wait, and prompts this short on tiny-llama would mostly be computed before their target came). In 3 runs 8, 8
    # and 7 of the 8 were pushed (the one pulled under the full suite's load: its target reached prefill after it
    # was computed, not yet explained); a pulled request is correct too, and checked above like the others.
    assert modes.count("push") >= len(ids) - 2, modes
    assert metric(decode_after, "vllm:handoff_failed_loads_total") == metric(decode_before,
                                                                               "vllm:handoff_failed_loads_total")


def test_chat_completions_are_templated_tokenized_and_disaggregated(stack, single_instance):
    """Chat requests: the router counts the prompt with the engine's /tokenize (template included), and the answer
    equals a single instance's, with every prompt token loaded by decode."""
    before = prometheus(stack.decode.url + "/metrics")
    for index, chat in enumerate(chats()):
        status, body = http_json(stack.url + "/v1/chat/completions", chat, headers={"x-request-id": f"chat-{index}"})
        assert status == 200, body
        assert body["choices"][0]["message"]["content"] == single_instance["chats"][index]
        prompt_tokens = body["usage"]["prompt_tokens"]
        account = stack.settled_accounts([f"chat-{index}"])[f"chat-{index}"]
        assert account["state"] == "done" and int(account["prompt_tokens"]) == prompt_tokens, account
    after = prometheus(stack.decode.url + "/metrics")
    name = "vllm:prompt_tokens_by_source_total"
    assert metric(after, name, source="local_compute") == metric(before, name, source="local_compute")


def test_only_the_blocks_decode_does_not_hold_in_its_prefix_cache_move(stack, single_instance_outputs):
    """Decode caches loaded blocks; the same prompt again hits that cache, so only the blocks after the hit move
    (a multi-turn chat's earlier turns, say), and the account counts just those bytes."""
    prompt = prompts()[4]
    before = prometheus(stack.decode.url + "/metrics")
    status, tokens, finish = generate(stack.url, prompt, stream=False, request_id="repeat-1")
    assert status == 200 and tokens == single_instance_outputs[4], (status, finish)
    after = prometheus(stack.decode.url + "/metrics")

    def delta(source: str) -> float:
        name = "vllm:prompt_tokens_by_source_total"
        return metric(after, name, source=source) - metric(before, name, source=source)

    hits = delta("local_cache_hit")
    assert hits > 0 and hits % BLOCK_TOKENS == 0
    assert delta("external_kv_transfer") == len(prompt) - hits
    assert delta("local_compute") == 0
    account = stack.settled_accounts(["repeat-1"])["repeat-1"]
    assert account["state"] == "done", account
    moved_blocks = -(-len(prompt) // BLOCK_TOKENS) - int(hits) // BLOCK_TOKENS
    assert int(account["kv_bytes"]) == moved_blocks * BLOCK_BYTES, account


def test_a_load_that_never_comes_fails_within_the_load_timeout(stack):
    """A request naming a ticket the coordinator never issued: decode's load fails after load_timeout_seconds,
    vLLM's `fail` policy ends the request, and vLLM's metrics count the failed load."""
    before = metric(prometheus(stack.decode.url + "/metrics"), "vllm:handoff_failed_loads_total")
    body = completion(prompts()[0])
    body["kv_transfer_params"] = {"handoff_ticket": "t-never-issued", "do_remote_prefill": True}
    started = time.monotonic()
    status, answer = http_json(stack.decode.url + "/v1/completions", body, timeout=LOAD_TIMEOUT + 30)
    elapsed = time.monotonic() - started
    assert elapsed < LOAD_TIMEOUT + 10, elapsed
    failed = status != 200 or answer["choices"][0]["finish_reason"] == "error"
    assert failed, answer
    after = metric(prometheus(stack.decode.url + "/metrics"), "vllm:handoff_failed_loads_total")
    assert after == before + 1


def test_a_client_that_leaves_cancels_the_request_on_decode(stack):
    prompt = prompts()[2]
    asked = 1800
    generated_before = metric(prometheus(stack.decode.url + "/metrics"), "vllm:generation_tokens_total")
    url = urlparse(stack.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    sent = time.monotonic()
    connection.request("POST", "/v1/completions", json.dumps(completion(prompt, max_tokens=asked, stream=True)),
                       {"content-type": "application/json", "x-request-id": "leaver"})
    response = connection.getresponse()
    assert response.status == 200
    arrivals = []  # seconds from sending to each chunk, for the failure message
    for line in response:
        if line.startswith(b"data: "):
            arrivals.append(round(time.monotonic() - sent, 2))
            break
    connection.sock.close()
    connection.close()
    left = time.monotonic()

    def evidence() -> str:
        return (f"\nrouter:\n{log_lines(stack.router.log_path, 'leaver')}"
                f"\ncoordinator:\n{log_lines(stack.coordinator.log_path, 'leaver')}"
                f"\ndecode:\n{log_lines(stack.decode.log_path, last=15)}")

    while True:
        running = metric(prometheus(stack.decode.url + "/metrics"), "vllm:num_requests_running")
        if running == 0:
            break
        assert time.monotonic() - left < 20, "decode still generates for a client that left" + evidence()
        time.sleep(0.2)
    stopped = time.monotonic() - left
    # Stopped soon after the client left, not finished. How many tokens decode made before then varies: on two
    # cores the stream lags seconds behind the engine (the first chunk once came 2.6 s in, over 1,000 tokens later).
    generated = metric(prometheus(stack.decode.url + "/metrics"), "vllm:generation_tokens_total") - generated_before
    report = (f"decode generated {generated} of {asked} tokens for a client that left (it stopped {stopped:.1f} s "
              f"after; chunks came {arrivals} s after the request)")
    assert generated < asked and stopped < 5, report + evidence()
    # The router records the outcome when its answer task ends, which may be just after decode stopped.
    deadline = time.monotonic() + 10
    while metric(prometheus(stack.url + "/metrics"), "handoff_router_requests_total", outcome="client_gone") < 1:
        assert time.monotonic() < deadline, "the router did not count the request as client_gone"
        time.sleep(0.2)


def test_killing_the_prefill_server_ends_every_request_in_flight(stack):
    """Runs last: SIGKILLs the prefill server while four clients keep requests in flight. Each request must end (a
    completion or an error) well within its deadlines, and the coordinator must hold no request that is not over."""
    generator = random.Random(7)
    stop = threading.Event()
    lock = threading.Lock()
    results: Dict[str, Tuple[int, List[int], str]] = {}
    ended: Dict[str, float] = {}
    done = threading.Semaphore(0)

    def client(number: int) -> None:
        sent = 0
        while not stop.is_set():
            with lock:
                prompt = [generator.randrange(3, 32000) for _ in range(generator.randrange(1500, 2033))]
            request_id = f"kill-{number}-{sent}"
            sent += 1
            try:
                result = generate(stack.url, prompt, stream=False, request_id=request_id, timeout=90)
            except Exception as error:  # a broken connection is an ending too
                result = (0, [], repr(error))
            with lock:
                results[request_id] = result
                ended[request_id] = time.monotonic()
            done.release()

    clients = [threading.Thread(target=client, args=(number,)) for number in range(4)]
    for thread in clients:
        thread.start()
    for _ in range(6):
        assert done.acquire(timeout=60), "requests stopped finishing before the kill"
    stack.prefill.kill()
    killed = time.monotonic()
    stop.set()
    for thread in clients:
        thread.join(timeout=max(1.0, 60 - (time.monotonic() - killed)))
    assert all(not thread.is_alive() for thread in clients), "a request still hangs 60 s after prefill died"
    ok = [request_id for request_id, result in results.items() if result[0] == 200]
    failed = [request_id for request_id, result in results.items() if result[0] != 200]
    assert len(ok) >= 6 and failed, (
        len(ok), len(failed),
        {request_id: (results[request_id][0], f"ended {ended[request_id] - killed:+.1f} s from the kill",
                      results[request_id][2][:300]) for request_id in failed},
        log_lines(stack.router.log_path, "kill-"), log_lines(stack.coordinator.log_path, "kill-"))
    for request_id in ok:
        assert len(results[request_id][1]) == OUTPUT_TOKENS
    deadline = time.monotonic() + 40
    while True:
        accounts = stack.accounts(sorted(results))
        open_requests = {key: value for key, value in accounts.items()
                         if value["state"] not in ("done", "failed", "expired", "unknown")}
        if not open_requests:
            break
        assert time.monotonic() < deadline, f"requests still open at the coordinator: {open_requests}"
        time.sleep(0.5)
    for request_id in failed:
        assert accounts[request_id]["state"] != "done" or results[request_id][0] == 0, accounts[request_id]
