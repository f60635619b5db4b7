"""HandoffConnector's settings: `kv_connector_extra_config` of vLLM's `--kv-transfer-config`."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ..runtime import Role

MODES = ("pull", "push")
"""Transfer modes this connector runs. `pull` (decode reads prefill's blocks once prefill is done) is the one
vLLM's NixlConnector runs by default. `push` (prefill servers): for requests `handoff router --mode push` sends,
prefill writes each layer's KV into decode's reserved blocks as soon as the layer is computed, so that only the
last layer's write remains on the time to first token; a request whose push target has not come when its last layer
is computed is pulled as in `pull`. Decode servers take pushed KV in either mode."""


@dataclass(frozen=True)
class ConnectorSettings:
    """What a vLLM server needs to join a Handoff coordinator."""

    coordinator: str
    """HOST:PORT of the coordinator."""
    role: Role
    worker_id: str
    """Unique among the coordinator's workers; defaults to `vllm-<role>-<host>-<pid>`."""
    endpoint: str
    """This server's base URL (http://HOST:PORT), where `handoff router` sends the requests paired to it."""
    token: Optional[str]
    token_file: Optional[str]
    transport: str
    node: str
    rack: str
    mode: str
    load_timeout_seconds: float
    """Decode: how long a request may wait for its KV before the load fails (then vLLM's kv_load_failure_policy
    applies: `fail` ends the request with an error, `recompute` computes the prompt locally)."""

    @classmethod
    def from_extra_config(cls, extra: Mapping[str, Any], kv_role: str) -> "ConnectorSettings":
        """Reads and checks the extra config; raises ValueError naming the field at fault."""
        role = role_of(kv_role)
        coordinator = str(extra.get("coordinator") or os.environ.get("HANDOFF_COORDINATOR", ""))
        if not coordinator:
            raise ValueError("HandoffConnector needs kv_connector_extra_config.coordinator (HOST:PORT) "
                             "or $HANDOFF_COORDINATOR")
        mode = str(extra.get("mode", "pull"))
        if mode not in MODES:
            raise ValueError(f"HandoffConnector mode {mode!r} is not available; use one of {', '.join(MODES)}")
        timeout = float(extra.get("load_timeout_seconds", 30.0))
        if not 0 < timeout <= 3600:
            raise ValueError(f"load_timeout_seconds must be in (0, 3600], got {timeout}")
        default_id = f"vllm-{role.name.lower()}-{socket.gethostname()}-{os.getpid()}"
        return cls(
            coordinator=coordinator, role=role, worker_id=str(extra.get("worker_id") or default_id),
            endpoint=str(extra.get("endpoint") or os.environ.get("HANDOFF_ENDPOINT", "")),
            token=extra.get("token"), token_file=extra.get("token_file"),
            transport=str(extra.get("transport", "auto")), node=str(extra.get("node", "")),
            rack=str(extra.get("rack", "")), mode=mode, load_timeout_seconds=timeout)


def role_of(kv_role: str) -> Role:
    """vLLM's kv_role as a Handoff role: producers prefill, consumers decode."""
    if kv_role == "kv_producer":
        return Role.PREFILL
    if kv_role == "kv_consumer":
        return Role.DECODE
    raise ValueError(f"HandoffConnector needs kv_role kv_producer (prefill) or kv_consumer (decode), got {kv_role!r}")
