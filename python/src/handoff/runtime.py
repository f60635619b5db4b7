"""The connector runtime: an engine joins a coordinator as a prefill or decode worker with its own KV memory,
receives the coordinator's instructions as events and answers each with one call."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple

from ._library import CEvent, CLayout, CRuntimeOptions, lib
from .buffers import Buffer, HandedOutViews
from .dataplane import Report, _call, _Handle, _int64s, _transport_options
from .errors import Closed
from .layout import EngineLayout, KVLayout


class Role(IntEnum):
    PREFILL = 0
    """Computes prompts and holds their KV blocks until decode has pulled them."""
    DECODE = 1
    """Pulls a request's KV from a prefill worker, then generates tokens."""


class EventKind(IntEnum):
    REGISTERED = 0
    """A session with the coordinator is open (again)."""
    PREFILL = 1
    """Compute the prompt, then answer `prefill_done(ticket, blocks)` with its blocks in token order."""
    RESERVE = 2
    """Decode: allocate `block_count` blocks and answer `reserved(ticket, blocks)` (or `reserve_failed`)."""
    LOADED = 3
    """Decode: the KV is in `destination_blocks`; answer `transfer_done`, then `first_token`. The blocks are then
    the request's: the engine frees them when it has finished generating."""
    LOAD_FAILED = 4
    """Decode: the pull failed; a RELEASE follows."""
    RELEASE = 5
    """The ticket is over: free its blocks (no transfer touches them any more)."""


@dataclass(frozen=True)
class Event:
    """One instruction from the coordinator (the fields that do not apply to a kind are empty)."""

    kind: EventKind
    ticket: str
    request_id: str = ""
    reason: str = ""
    instance: int = 0
    prompt_tokens: int = 0
    block_count: int = 0
    source_blocks: Tuple[int, ...] = ()
    destination_blocks: Tuple[int, ...] = ()
    content_seed: int = 0
    lease_seconds: float = 0.0
    report: Optional[Report] = None
    """The pull's figures (LOADED)."""
    traceparent: str = ""
    """The W3C traceparent of the request's span at the coordinator (PREFILL, LOADED, LOAD_FAILED); "" when the
    request is not traced. Spans the engine makes for the ticket are its children."""

    @classmethod
    def from_c(cls, c: CEvent) -> "Event":
        kind = EventKind(c.kind)
        count = c.block_count if kind == EventKind.LOADED else 0
        return cls(
            kind=kind, ticket=(c.ticket or b"").decode(), request_id=(c.request_id or b"").decode(),
            reason=(c.reason or b"").decode(), instance=c.instance, prompt_tokens=c.prompt_tokens,
            block_count=c.block_count, source_blocks=tuple(c.source_blocks[:count]) if count else (),
            destination_blocks=tuple(c.destination_blocks[:count]) if count else (), content_seed=c.content_seed,
            lease_seconds=c.lease_seconds, report=Report.from_c(c.report) if kind == EventKind.LOADED else None,
            traceparent=(c.traceparent or b"").decode())


class Runtime(_Handle):
    """A worker's connection to the coordinator, with the engine's KV registered on the data plane.

    Start one with `Runtime(...)`; read events with `next_event()` (or iterate `events()`, or wait on `fileno()`);
    answer each with one call. `close()` (or leaving `with`) ends the session in order, releasing every ticket,
    and returns once the data plane no longer touches the engine's memory.
    """

    _free = staticmethod(lambda handle: lib.handoff_runtime_destroy(handle))

    def __init__(self, id: str, role: "Role | str", coordinator: str, layout: EngineLayout,
                 buffers: Optional[Sequence[Any]] = None, token: Optional[str] = None,
                 token_file: Optional[str] = None, transport: str = "auto", tcp_listen_host: Optional[str] = None,
                 tcp_advertised_hosts: Optional[Sequence[str]] = None, ucx_transports: Optional[Sequence[str]] = None,
                 node: str = "", rack: str = "", max_concurrent_pulls: int = 0, endpoint: str = "") -> None:
        """
        Args:
            id: the worker's id, unique among the coordinator's workers (the pod name).
            role: prefill or decode.
            coordinator: HOST:PORT (IPv4, [IPv6] or a DNS name), or several separated by commas: the
                coordinators of a cluster, whose leader the runtime finds and follows.
            layout: the engine's KV cache in its own terms.
            buffers: the engine's KV memory, one buffer per layer (NumPy arrays, torch tensors, mmaps, or
                (address, length) pairs); None lets the data plane allocate the pool (see `region`).
            token: the bearer token; None reads `token_file`, then $HANDOFF_TOKEN.
            transport: auto, ucx, tcp or shm.
            endpoint: where the engine serves inference requests (http://HOST:PORT), for `handoff router`.
        """
        role = Role[role.upper()] if isinstance(role, str) else Role(role)
        self.layout_spec = layout
        self._buffers = [Buffer(buffer) for buffer in buffers] if buffers is not None else []
        engine = layout.to_c()
        count = len(self._buffers)
        addresses = (ctypes.c_void_p * max(1, count))(*[b.address for b in self._buffers])
        lengths = (ctypes.c_uint64 * max(1, count))(*[b.length for b in self._buffers])
        transport_options = _transport_options(transport, tcp_listen_host, tcp_advertised_hosts, ucx_transports)
        options = CRuntimeOptions(
            id.encode(), int(role), coordinator.encode(), token.encode() if token else None,
            token_file.encode() if token_file else None, ctypes.pointer(engine), addresses, lengths, count,
            ctypes.pointer(transport_options), node.encode(), rack.encode(), max_concurrent_pulls,
            endpoint.encode() if endpoint else None)
        handle = ctypes.c_void_p()
        _call(lib.handoff_runtime_start, ctypes.byref(options), ctypes.byref(handle))
        super().__init__(handle)
        self.id = id
        self.role = role
        self._views = HandedOutViews()

    def close(self) -> None:
        """Ends the session. Every `region()` view is released first; raises BufferError, staying open, when one
        was exported further (see `Pool.close`)."""
        if self._handle is not None:
            self._views.release("runtime")
        super().close()
        self._buffers = []

    @property
    def layout(self) -> KVLayout:
        """The pool the runtime registered."""
        c = CLayout()
        lib.handoff_runtime_layout(self.handle, ctypes.byref(c))
        return KVLayout.from_c(c)

    def region(self, index: int) -> memoryview:
        """Region `index` of the pool (the runtime's own memory when it allocated the pool), until the runtime is
        closed, which releases the view."""
        address = ctypes.c_void_p()
        length = ctypes.c_uint64()
        _call(lib.handoff_runtime_region, self.handle, index, ctypes.byref(address), ctypes.byref(length))
        return self._views.view(address.value, length.value)

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event, waiting up to `timeout` seconds (None: until one comes); None when none came.
        Raises `Closed` once the runtime has stopped, with the reason (a refused registration, say)."""
        milliseconds = -1 if timeout is None else max(0, int(timeout * 1000))
        pointer = ctypes.POINTER(CEvent)()
        status = _call(lib.handoff_runtime_next_event, self.handle, milliseconds, ctypes.byref(pointer))
        if not pointer:
            return None
        try:
            return Event.from_c(pointer.contents) if status == 0 else None
        finally:
            lib.handoff_event_free(pointer)

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Events as they come, until the runtime stops (or no event came for `timeout` seconds)."""
        while True:
            try:
                event = self.next_event(timeout)
            except Closed:
                return
            if event is None:
                return
            yield event

    def fileno(self) -> int:
        """A descriptor readable while events are queued (for select, poll, asyncio's add_reader)."""
        return lib.handoff_runtime_event_fd(self.handle)

    def prefill_started(self, ticket: str) -> None:
        """Optional: prefill has begun computing the ticket's prompt."""
        _call(lib.handoff_runtime_prefill_started, self.handle, ticket.encode())

    def prefill_done(self, ticket: str, blocks: Iterable[int]) -> None:
        """Prefill is done: `blocks` hold the prompt's KV in token order. They stay the runtime's until RELEASE."""
        ids, count = _int64s(blocks)
        _call(lib.handoff_runtime_prefill_done, self.handle, ticket.encode(), ids[0] if ids else None, count)

    def reserved(self, ticket: str, blocks: Iterable[int], cached_blocks: int = 0) -> None:
        """Decode reserved `blocks` for the ticket's KV. When the engine already holds the prompt's first
        `cached_blocks` blocks (its prefix cache), `blocks` are for the rest, and only the rest moves."""
        ids, count = _int64s(blocks)
        if cached_blocks:
            _call(lib.handoff_runtime_reserved_after_prefix, self.handle, ticket.encode(), int(cached_blocks),
                  ids[0] if ids else None, count)
            return
        _call(lib.handoff_runtime_reserved, self.handle, ticket.encode(), ids[0] if ids else None, count)

    def reserve_failed(self, ticket: str, reason: str) -> None:
        """Decode cannot hold the ticket's KV."""
        _call(lib.handoff_runtime_reserve_failed, self.handle, ticket.encode(), reason.encode())

    def transfer_done(self, ticket: str, verified: Optional[bool] = True) -> None:
        """Decode has taken the loaded KV. `verified`: True, it checked the content and found it intact; False, it
        found a mismatch (the load fails); None, it had nothing to check against (a real engine's KV): the load
        counts as done and the account says it was not verified."""
        flag = -1 if verified is None else (1 if verified else 0)
        _call(lib.handoff_runtime_transfer_done, self.handle, ticket.encode(), flag)

    def first_token(self, ticket: str, decode_seconds: float) -> None:
        """Decode produced the request's first token `decode_seconds` after the KV was loaded."""
        _call(lib.handoff_runtime_first_token, self.handle, ticket.encode(), float(decode_seconds))

    def push_layers(self, ticket: str, blocks: Sequence[int], last_layer: int) -> bool:
        """Push mode (prefill): the KV of every layer up to `last_layer` is in `blocks` (the ticket's blocks, token
        order). Starts writing the layers not written yet into decode's reserved blocks and returns at once. False,
        writing nothing, while the ticket has no push target (it may come before the next layer) or after its push
        was declined."""
        ids, count = _int64s(blocks)
        started = ctypes.c_int(0)
        _call(lib.handoff_runtime_push_layers, self.handle, ticket.encode(), ids[0] if ids else None, count,
              int(last_layer), ctypes.byref(started))
        return started.value == 1

    def finish_push(self, ticket: str, blocks: Sequence[int]) -> bool:
        """Push mode (prefill), after the last layer: writes what is left, blocks until every write is done and
        reports the push. True when the KV is with decode; False when no target came or a write failed: decode then
        pulls after `prefill_done`, which follows in either case."""
        ids, count = _int64s(blocks)
        pushed = ctypes.c_int(0)
        _call(lib.handoff_runtime_finish_push, self.handle, ticket.encode(), ids[0] if ids else None, count,
              ctypes.byref(pushed))
        return pushed.value == 1

    def set_load(self, free_blocks: int, queue_depth: int = 0) -> None:
        """The load the next heartbeats carry, which the coordinator pairs by."""
        lib.handoff_runtime_set_load(self.handle, max(0, int(free_blocks)), max(0, int(queue_depth)))


__all__: List[str] = ["Event", "EventKind", "Role", "Runtime"]
