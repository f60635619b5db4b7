"""Processes of the vLLM end-to-end tests and of bench/vllm: vLLM CPU servers (plain, or with a KV connector as
prefill or decode), a coordinator with /metrics, and `handoff router`, all on loopback.

The model is tiny-llama (models/tiny-llama/config.json, copied from the project's shared vLLM fixtures): a config
with no weights, run with dummy weights, which are the same in every process, so greedy outputs of a P/D pair and of
a single instance agree token for token. `model_directory` adds a word-level tokenizer ("w3" … "w31999" are token
ids 3 … 31999) with a chat template, made here with the `tokenizers` package, so that chat requests run too.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent.parent
MODEL = "tiny-llama"
MODEL_DIR = HERE / "models" / MODEL


def handoff_executable() -> Path:
    path = Path(os.environ.get("HANDOFF_BIN", REPOSITORY / ".build" / "debug" / "handoff"))
    if not path.exists():
        raise RuntimeError(f"no handoff executable at {path}: run `swift build` (or set HANDOFF_BIN)")
    return path


CHAT_TEMPLATE = ("{% for message in messages %}{{ message['role'] }} {{ message['content'] }} {% endfor %}"
                 "{% if add_generation_prompt %}assistant {% endif %}")


def model_directory(directory: Path, config: Path = MODEL_DIR / "config.json") -> Path:
    """A model directory: `config` plus a word-level tokenizer over its vocabulary and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    directory.mkdir(parents=True, exist_ok=True)
    settings = json.loads(config.read_text())
    (directory / "config.json").write_text(json.dumps(settings))
    vocabulary = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocabulary.update({f"w{index}": index for index in range(3, settings["vocab_size"])})
    tokenizer = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "model_max_length": settings["max_position_embeddings"], "chat_template": CHAT_TEMPLATE}))
    return directory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_json(url: str, body: Optional[dict] = None, timeout: float = 120.0, headers: Optional[dict] = None):
    """(status, parsed JSON or text) of a GET (body None) or POST."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def prometheus(url: str) -> Dict[str, float]:
    """A /metrics page as {'name{labels}': value} (labels as printed)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples: Dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                samples[name] = float(value)
            except ValueError:
                pass
    return samples


def metric(samples: Dict[str, float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    total = 0.0
    for key, value in samples.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        if all(f'{label}="{wanted}"' in rest for label, wanted in labels.items()):
            total += value
    return total


class VLLMServer:
    """`python -m vllm.entrypoints.openai.api_server` on a free loopback port, its compute bound to one core."""

    def __init__(self, name: str, core: int, log_dir: Path, kv_transfer_config: Optional[Callable[[str], dict]] = None,
                 environment: Optional[dict] = None, model_dir: Path = MODEL_DIR, max_num_seqs: int = 4,
                 max_model_len: int = 2048, kv_cache_gib: int = 1, served_name: str = MODEL,
                 pin_process: bool = False, arguments: Optional[List[str]] = None) -> None:
        """A server of `model_dir` (with dummy weights; without a tokenizer unless the directory has one). vLLM binds
        its compute threads to `core`; `pin_process` binds every thread of the server there (`taskset`), so that
        its engine loop, API server and connector threads never run on the other server's core (benchmarks).
        `arguments` go to vLLM's command line after the others."""
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        command = (["taskset", "-c", str(core)] if pin_process else []) + [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
            "--served-model-name", served_name, "--load-format", "dummy", "--dtype", "bfloat16",
            "--max-model-len", str(max_model_len), "--max-num-seqs", str(max_num_seqs), "--enforce-eager",
            "--host", "127.0.0.1", "--port", str(self.port),
        ]
        if not (model_dir / "tokenizer.json").exists():
            command.append("--skip-tokenizer-init")
        if kv_transfer_config is not None:
            command += ["--kv-transfer-config", json.dumps(kv_transfer_config(self.url))]
        command += arguments or []
        env = dict(os.environ, HF_HUB_OFFLINE="1", VLLM_CPU_KVCACHE_SPACE=str(kv_cache_gib), VLLM_CPU_OMP_THREADS_BIND=str(core),
                   PYTHONUNBUFFERED="1")
        env.update(environment or {})
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)

    def wait_ready(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM {self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"vLLM {self.name} was not ready within {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the server and every process it started, as a crash would."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass
        self.log.close()


class HandoffProcess:
    """A `handoff` subcommand that prints `LISTENING key=port ...` once bound."""

    def __init__(self, arguments: List[str], token: str, log_path: Path, environment: Optional[dict] = None) -> None:
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [str(handoff_executable()), *arguments], stdout=subprocess.PIPE, stderr=self.log, text=True,
            env=dict(os.environ, HANDOFF_TOKEN=token, **(environment or {})))
        line = self.process.stdout.readline()
        if not line.startswith("LISTENING"):
            self.process.kill()
            raise RuntimeError(f"handoff {arguments[0]} did not start: {line!r}\n{log_path.read_text()}")
        self.ports = {key: value for key, _, value in (field.partition("=") for field in line.split()[1:])}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def log_lines(path: Path, *needles: str, last: int = 40) -> str:
    """The last `last` lines of a log that contain any of `needles` (every line when none is given), for a
    failing assertion's message."""
    lines = [line for line in path.read_text(errors="replace").splitlines()
             if not needles or any(needle in line for needle in needles)]
    return "\n".join(lines[-last:])


def connector_config(role: str, coordinator: str, endpoint: str, worker_id: str, **extra) -> dict:
    return {
        "kv_connector": "HandoffConnector", "kv_connector_module_path": "handoff.vllm",
        "kv_role": "kv_producer" if role == "prefill" else "kv_consumer",
        "kv_connector_extra_config": {"coordinator": coordinator, "endpoint": endpoint, "worker_id": worker_id,
                                      **extra},
    }


def new_token() -> str:
    return secrets.token_hex(16)
