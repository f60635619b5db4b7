"""HandoffConnector's worker side: registers vLLM's KV tensors with a connector runtime, answers the coordinator's
instructions with what the scheduler side decided, and reports finished hand-overs and loads back to vLLM."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Set, Tuple

from ..errors import HandoffError
from ..runtime import Event, EventKind, Runtime
from ..tracing import SpanExport
from .config import ConnectorSettings
from .layout import engine_layout
from .metadata import HandoffConnectorMetadata, LoadRequest, PrefillHandover, PushCandidate
from .stats import HandoffConnectorStats

logger = logging.getLogger("handoff.vllm")

RELEASED_MEMORY = 65536
"""Tickets remembered as released before the engine asked about them (then forgotten, oldest first)."""
FIRST_TOKEN_MEMORY = 600.0
"""Seconds a loaded ticket waits for its first step (a request aborted after its load never has one)."""


class _Load:
    def __init__(self, request: LoadRequest, deadline: float) -> None:
        self.request = request
        self.deadline = deadline
        self.since_ns = time.time_ns()
        """When the engine scheduled the request to wait for its KV (the start of its load span)."""
        self.reserve_count: Optional[int] = None
        self.answered = False
        """The blocks went to the runtime (reserved): only the runtime's events end the load now."""


class _Held:
    """A handed-over ticket whose blocks the runtime holds for decode."""

    def __init__(self, request_id: str, blocks: int, traceparent: str) -> None:
        self.request_id = request_id
        self.blocks = blocks
        self.traceparent = traceparent
        self.since_ns = time.time_ns()


class _Loaded:
    """A loaded ticket waiting for its first token."""

    def __init__(self, request_id: str, traceparent: str) -> None:
        self.request_id = request_id
        self.traceparent = traceparent
        self.at = time.monotonic()
        self.at_ns = time.time_ns()


class HandoffConnectorWorker:
    def __init__(self, settings: ConnectorSettings, model: str, num_blocks: int, block_size: int, kv_heads: int,
                 head_dim: int) -> None:
        self.settings = settings
        self.model = model
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.kv_heads = kv_heads
        self.head_dim = head_dim
        self.runtime: Optional[Runtime] = None
        self.stats = HandoffConnectorStats()
        self.spans = SpanExport("handoff-vllm", settings.worker_id)
        """The connector's spans in the request's trace (handoff.vllm.*), when OTLP export is asked for."""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        # Prefill
        self._orders: Dict[str, str] = {}
        """Tickets the coordinator sent (PREFILL) that the engine has not handed over: ticket → traceparent."""
        self._layer_index: Dict[str, int] = {}
        """Layer name (vLLM's kv_caches key) → layer index in the registered layout."""
        self._pushing: List[PushCandidate] = []
        """Push mode: this step's requests whose layers go to decode as they are computed."""
        self._handovers: Dict[str, PrefillHandover] = {}
        """Requests the engine finished whose PREFILL has not come yet."""
        self._held: Dict[str, _Held] = {}
        """Handed-over tickets whose blocks the runtime holds."""
        self._sending_done: Set[str] = set()
        """Requests whose blocks vLLM may free now (a hand-over comes from request_finished, so each is finished)."""
        # Decode
        self._reserves: Dict[str, int] = {}
        """RESERVE events the engine has not answered: ticket → block count."""
        self._loads: Dict[str, _Load] = {}
        """Loads in flight: ticket → load."""
        self._recving_done: Set[str] = set()
        self._recving_failed: Set[str] = set()
        self._invalid_blocks: Set[int] = set()
        self._loaded_at: "OrderedDict[str, _Loaded]" = OrderedDict()
        """Loaded tickets waiting for their first token (forgotten after FIRST_TOKEN_MEMORY seconds)."""
        self._released: "OrderedDict[str, str]" = OrderedDict()
        """Tickets over before the engine asked about them: ticket → reason."""
        self._declined: "OrderedDict[str, str]" = OrderedDict()
        """Decode: tickets whose request computes its prompt itself, answered when their RESERVE comes."""

    # Registration
    def register_kv_caches(self, kv_caches: Dict[str, Any]) -> None:
        layout, tensors = engine_layout(kv_caches, self.model, self.num_blocks, self.block_size, self.kv_heads,
                                        self.head_dim)
        self._layer_index = {name: index for index, name in enumerate(kv_caches)}
        started = time.perf_counter()
        self.runtime = Runtime(
            id=self.settings.worker_id, role=self.settings.role, coordinator=self.settings.coordinator, layout=layout,
            buffers=tensors, token=self.settings.token, token_file=self.settings.token_file,
            transport=self.settings.transport, node=self.settings.node, rack=self.settings.rack,
            endpoint=self.settings.endpoint)
        logger.info("Handoff %s worker %s registered %d layers × %d blocks (%s) with %s in %.3f s",
                    self.settings.role.name.lower(), self.settings.worker_id, layout.layers, self.num_blocks,
                    layout.arrangement.name.lower(), self.settings.coordinator, time.perf_counter() - started)
        self._thread = threading.Thread(target=self._serve_events, name="handoff-events", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None
        self.spans.shutdown()

    # The step: what the scheduler decided
    def bind(self, metadata: Optional[HandoffConnectorMetadata]) -> None:
        """Before the step's forward: answers the coordinator (started prefills, hand-overs, reservations) so that
        neither waits for the forward."""
        if metadata is None or self.runtime is None:
            return
        if metadata.free_blocks is not None:
            self.runtime.set_load(metadata.free_blocks, metadata.queue_depth)
        for ticket in metadata.prefills_started:
            self._answer(lambda runtime, t=ticket: runtime.prefill_started(t), ticket, quiet=True)
        for handover in metadata.handovers:
            self._hand_over(handover)
        for declined in metadata.declined:
            self._decline(declined.ticket, declined.reason)
        now = time.monotonic()
        for load in metadata.loads:
            self._start_load(load, now)
        self._pushing = list(metadata.pushes)

    # Push mode (prefill): during the step's forward
    def save_layer(self, layer_name: str) -> None:
        """After a layer's attention: writes that layer (and any before it not written yet) of this step's push
        requests into decode's blocks, without waiting."""
        if not self._pushing or self.runtime is None:
            return
        layer = self._layer_index.get(layer_name)
        if layer is None:
            return
        for candidate in list(self._pushing):
            try:
                self.runtime.push_layers(candidate.ticket, candidate.blocks, layer)
            except HandoffError as error:  # released meanwhile: nothing to push
                logger.info("Handoff push of ticket %s stopped: %s", candidate.ticket, error)
                self._pushing.remove(candidate)

    def finish_pushes(self) -> None:
        """After the step's forward: waits for this step's pushes. A request whose push target never came (or whose
        write failed) is pulled by decode after the hand-over, as in pull mode."""
        pushing, self._pushing = self._pushing, []
        for candidate in pushing:
            try:
                assert self.runtime is not None
                if not self.runtime.finish_push(candidate.ticket, candidate.blocks):
                    logger.debug("Handoff ticket %s is pulled: no push target in time", candidate.ticket)
            except HandoffError as error:
                logger.info("Handoff push of ticket %s stopped: %s", candidate.ticket, error)

    def after_forward(self, metadata: Optional[HandoffConnectorMetadata]) -> None:
        """After the step's forward: the loaded requests it computed have their first token."""
        if metadata is None or self.runtime is None:
            return
        now, now_ns = time.monotonic(), time.time_ns()
        for request_id, ticket in metadata.first_tokens:
            with self._lock:
                loaded = self._loaded_at.pop(ticket, None)
            if loaded is not None:
                self._answer(lambda runtime: runtime.first_token(ticket, max(0.0, now - loaded.at)), ticket)
                self.spans.record("handoff.vllm.first_token", loaded.traceparent, loaded.at_ns, now_ns,
                                  {"handoff.ticket": ticket, "vllm.request_id": request_id})

    def get_finished(self, finished_req_ids: Set[str]) -> Tuple[Set[str], Set[str], Set[str]]:
        """(finished sending, finished receiving, failed receiving) request ids since the last call."""
        now = time.monotonic()
        self._expire_loads(now)
        with self._lock:
            while self._loaded_at and next(iter(self._loaded_at.values())).at < now - FIRST_TOKEN_MEMORY:
                self._loaded_at.popitem(last=False)
            sending, self._sending_done = self._sending_done, set()
            recving, failed = self._recving_done, self._recving_failed
            self._recving_done, self._recving_failed = set(), set()
        return sending, recving, failed

    def get_block_ids_with_load_errors(self) -> Set[int]:
        with self._lock:
            blocks, self._invalid_blocks = self._invalid_blocks, set()
        return blocks

    # Prefill
    def _hand_over(self, handover: PrefillHandover) -> None:
        with self._lock:
            reason = self._released.pop(handover.ticket, None)
            if reason is None and handover.ticket not in self._orders:
                self._handovers[handover.ticket] = handover  # the PREFILL event has not come yet
                return
            traceparent = self._orders.pop(handover.ticket, "")
        if reason is not None:
            self._free_prefill(handover.request_id)
            return
        self._send_handover(handover, traceparent)

    def _send_handover(self, handover: PrefillHandover, traceparent: str) -> None:
        with self._lock:
            self._held[handover.ticket] = _Held(handover.request_id, len(handover.blocks), traceparent)
        if not self._answer(lambda runtime: runtime.prefill_done(handover.ticket, handover.blocks), handover.ticket):
            with self._lock:
                self._held.pop(handover.ticket, None)
            self._free_prefill(handover.request_id)

    def _free_prefill(self, request_id: str) -> None:
        with self._lock:
            self._sending_done.add(request_id)

    # Decode
    def _start_load(self, request: LoadRequest, now: float) -> None:
        load = _Load(request, now + self.settings.load_timeout_seconds)
        with self._lock:
            reason = self._released.pop(request.ticket, None)
            if reason is None:
                self._loads[request.ticket] = load
                load.reserve_count = self._reserves.pop(request.ticket, None)
        if reason is not None:
            self._fail_load(load, f"the ticket ended before the request reached decode: {reason}")
        elif load.reserve_count is not None:
            self._reserve(load)

    def _reserve(self, load: _Load) -> None:
        cached = load.request.cached_blocks
        needed = (load.reserve_count or 0) - cached
        ticket = load.request.ticket
        if needed <= 0 or len(load.request.blocks) < needed:
            reason = (f"decode allocated {len(load.request.blocks)} blocks after {cached} cached ones, the ticket needs "
                      f"{load.reserve_count} in all")
            self._answer(lambda runtime: runtime.reserve_failed(ticket, reason), ticket)
            self._fail_load(load, reason)
            return
        load.answered = True
        if not self._answer(lambda runtime: runtime.reserved(ticket, load.request.blocks[:needed], cached), ticket):
            self._fail_load(load, "the coordinator refused the reservation")

    def _decline(self, ticket: str, reason: str) -> None:
        with self._lock:
            pending = self._reserves.pop(ticket, None) is not None
            if not pending:
                self._declined[ticket] = reason  # answered when the RESERVE comes
                while len(self._declined) > RELEASED_MEMORY:
                    self._declined.popitem(last=False)
        if pending:
            self._answer(lambda runtime: runtime.reserve_failed(ticket, reason), ticket)

    def _fail_load(self, load: _Load, reason: str, traceparent: str = "") -> None:
        """Fails the load; its span is recorded when the failure came with the request's `traceparent`."""
        with self._lock:
            if self._loads.get(load.request.ticket) is load:
                del self._loads[load.request.ticket]
            self._invalid_blocks.update(load.request.blocks)
            self._recving_failed.add(load.request.request_id)
            self._recving_done.add(load.request.request_id)
        self.stats.record_failure()
        self.spans.record("handoff.vllm.load", traceparent, load.since_ns, time.time_ns(), self._load_attributes(load),
                          error=reason)
        logger.warning("Handoff load of request %s (ticket %s) failed: %s", load.request.request_id,
                       load.request.ticket, reason)

    def _expire_loads(self, now: float) -> None:
        """Fails the loads still waiting for their RESERVE past the deadline. A load whose blocks were handed to
        the runtime ends only by the runtime's LOADED, LOAD_FAILED or RELEASE, which come once no pull writes into
        them (the pull's own timeout bounds that): vLLM must not reuse blocks a transfer may still write."""
        with self._lock:
            expired = [load for load in self._loads.values() if not load.answered and now > load.deadline]
        for load in expired:
            self._fail_load(load, f"no KV within {self.settings.load_timeout_seconds} s")

    # Instructions from the coordinator
    def _serve_events(self) -> None:
        runtime = self.runtime
        assert runtime is not None
        for event in self._poll(runtime):
            try:
                self._handle(event)
            except Exception:  # an engine must not lose its event loop to one bad event
                logger.exception("Handoff event %s for ticket %s failed", event.kind.name, event.ticket)

    def _poll(self, runtime: Runtime):
        while not self._stopping.is_set():
            try:
                event = runtime.next_event(timeout=0.25)
            except HandoffError as error:
                logger.error("Handoff runtime stopped: %s", error)
                return
            if event is not None:
                yield event

    def _handle(self, event: Event) -> None:
        kind = event.kind
        if kind == EventKind.REGISTERED:
            logger.info("Handoff worker %s registered with %s", self.settings.worker_id, self.settings.coordinator)
        elif kind == EventKind.PREFILL:
            with self._lock:
                handover = self._handovers.pop(event.ticket, None)
                if handover is None:
                    self._orders[event.ticket] = event.traceparent
            if handover is not None:
                self._send_handover(handover, event.traceparent)
        elif kind == EventKind.RESERVE:
            with self._lock:
                load = self._loads.get(event.ticket)
                declined = self._declined.pop(event.ticket, None) if load is None else None
                if load is None and declined is None:
                    self._reserves[event.ticket] = event.block_count
                elif load is not None:
                    load.reserve_count = event.block_count
            if declined is not None:
                self._answer(lambda runtime: runtime.reserve_failed(event.ticket, declined), event.ticket)
            elif load is not None:
                self._reserve(load)
        elif kind == EventKind.LOADED:
            self._loaded(event)
        elif kind == EventKind.LOAD_FAILED:
            with self._lock:
                load = self._loads.get(event.ticket)
            if load is not None:
                self._fail_load(load, event.reason, event.traceparent)
        elif kind == EventKind.RELEASE:
            self._release(event)

    def _loaded(self, event: Event) -> None:
        with self._lock:
            load = self._loads.pop(event.ticket, None)
        if load is None:
            return
        # vLLM's KV has no reference to check it against: the account says the load was not verified.
        if not self._answer(lambda runtime: runtime.transfer_done(event.ticket, None), event.ticket):
            self._fail_load(load, "the coordinator refused the transfer report", event.traceparent)
            return
        if event.report is not None:
            self.stats.record_transfer(event.report)
        loaded = _Loaded(load.request.request_id, event.traceparent)
        with self._lock:
            self._loaded_at[event.ticket] = loaded
            self._recving_done.add(load.request.request_id)
        self._record_load(load, event, loaded.at_ns)

    def _record_load(self, load: _Load, event: Event, end_ns: int) -> None:
        """The load's span, from the engine's scheduling of the request to the KV in its blocks, and the pull's
        inside it, ending when the runtime reported it."""
        parent = self.spans.record("handoff.vllm.load", event.traceparent, load.since_ns, end_ns,
                                   self._load_attributes(load))
        report = event.report
        if not parent or report is None:
            return
        self.spans.record("handoff.pull", parent, max(load.since_ns, end_ns - int(report.seconds * 1e9)), end_ns, {
            "handoff.ticket": event.ticket, "handoff.kv.bytes": report.bytes, "handoff.kv.ops": report.ops,
            "handoff.kv.transport": report.transport, "handoff.kv.lanes": "+".join(report.lanes),
            "handoff.kv.fallback": report.fallback or "", "handoff.kv.post_seconds": report.post_seconds,
            "handoff.kv.completion_seconds": report.completion_seconds})

    def _load_attributes(self, load: _Load) -> Dict[str, Any]:
        return {"handoff.ticket": load.request.ticket, "vllm.request_id": load.request.request_id,
                "handoff.worker": self.settings.worker_id, "handoff.kv.blocks": len(load.request.blocks),
                "handoff.kv.cached_blocks": load.request.cached_blocks}

    def _release(self, event: Event) -> None:
        with self._lock:
            held = self._held.pop(event.ticket, None)
            handover = self._handovers.pop(event.ticket, None)
            self._orders.pop(event.ticket, None)
            self._reserves.pop(event.ticket, None)
            load = self._loads.get(event.ticket)
            if held is None and handover is None and load is None:
                self._released[event.ticket] = event.reason or "released"
                self._trim_released()
        if held is not None:
            self._free_prefill(held.request_id)
            self.spans.record("handoff.vllm.hold", held.traceparent, held.since_ns, time.time_ns(), {
                "handoff.ticket": event.ticket, "vllm.request_id": held.request_id,
                "handoff.worker": self.settings.worker_id, "handoff.kv.blocks": held.blocks,
                "handoff.release_reason": event.reason})
        elif handover is not None:
            self._free_prefill(handover.request_id)
        elif load is not None:
            self._fail_load(load, event.reason or "the coordinator released the ticket")

    def _trim_released(self) -> None:
        while len(self._released) > RELEASED_MEMORY:
            self._released.popitem(last=False)

    def _answer(self, call, ticket: str, quiet: bool = False) -> bool:
        runtime = self.runtime
        if runtime is None:
            return False
        try:
            call(runtime)
            return True
        except HandoffError as error:
            if not quiet:
                logger.warning("Handoff answer for ticket %s refused: %s", ticket, error)
            return False
