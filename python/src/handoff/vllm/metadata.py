"""What HandoffConnector's scheduler side tells its worker side each step (vLLM pickles it across processes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from vllm.distributed.kv_transfer.kv_connector.v1.base import KVConnectorMetadata


@dataclass(frozen=True)
class PrefillHandover:
    """Prefill finished a request: its KV is in `blocks` (token order), held until decode confirms."""

    request_id: str
    ticket: str
    blocks: Tuple[int, ...]


@dataclass(frozen=True)
class LoadRequest:
    """Decode allocated `blocks` (token order) for a request whose KV comes from prefill, after the
    `cached_blocks` it already holds in its prefix cache."""

    request_id: str
    ticket: str
    blocks: Tuple[int, ...]
    cached_blocks: int = 0


@dataclass(frozen=True)
class PushCandidate:
    """Prefill, push mode: this step computes the rest of the request's prompt, whose KV is in `blocks` (token
    order); the worker writes each layer to decode as soon as it is computed, if the ticket's push target is there."""

    request_id: str
    ticket: str
    blocks: Tuple[int, ...]


@dataclass(frozen=True)
class DeclinedLoad:
    """Decode computes this request itself."""

    ticket: str
    reason: str


@dataclass
class HandoffConnectorMetadata(KVConnectorMetadata):
    prefills_started: List[str] = field(default_factory=list)
    """Tickets whose prompt began computing this step."""
    handovers: List[PrefillHandover] = field(default_factory=list)
    pushes: List[PushCandidate] = field(default_factory=list)
    loads: List[LoadRequest] = field(default_factory=list)
    declined: List[DeclinedLoad] = field(default_factory=list)
    first_tokens: List[Tuple[str, str]] = field(default_factory=list)
    """(request id, ticket) of loaded requests computed this step: their first token exists after it."""
    free_blocks: Optional[int] = None
    """The engine's free KV blocks, which the worker side reports to the coordinator (it pairs by them)."""
    queue_depth: int = 0
    """Hand-overs and loads the engine has not finished."""
