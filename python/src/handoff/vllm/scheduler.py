"""HandoffConnector's scheduler side: decides which requests load KV from prefill, which hand theirs over, and
tells the worker side through the step's metadata. It never touches KV memory or the coordinator itself."""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Set, Tuple

from .config import ConnectorSettings
from .metadata import DeclinedLoad, HandoffConnectorMetadata, LoadRequest, PrefillHandover, PushCandidate
from ..runtime import Role

logger = logging.getLogger("handoff.vllm")

TICKET = "handoff_ticket"
"""The kv_transfer_params key `handoff router` puts the coordinator's ticket under."""


class HandoffConnectorScheduler:
    def __init__(self, settings: ConnectorSettings, block_size: int) -> None:
        self.settings = settings
        self.block_size = block_size
        self._metadata = HandoffConnectorMetadata()
        self._prefill_tickets: Dict[str, str] = {}
        """Prefill: requests with a ticket that have not started computing."""
        self._push_prompts: Dict[str, Tuple[str, int]] = {}
        """Prefill, push mode: requests whose prompt is not fully scheduled yet: request id → (ticket, prompt tokens)."""
        self._loading: Dict[str, str] = {}
        """Decode: requests whose KV is being loaded (request id → ticket)."""
        self._loaded: Dict[str, str] = {}
        """Decode: requests whose KV arrived; their next scheduled step produces the first token."""
        self._local_hits: Dict[str, int] = {}
        """Decode: prompt tokens a loading request found in the local prefix cache (whole blocks)."""
        self.kv_cache_manager: Any = None
        """vLLM's KV cache manager, bound by vLLM: the free block count comes from it."""

    # vLLM: the scheduler asks how many of a request's tokens come from outside.
    def get_num_new_matched_tokens(self, request: Any, num_computed_tokens: int) -> Tuple[int, bool]:
        params = request.kv_transfer_params or {}
        ticket = params.get(TICKET)
        if not ticket:
            return 0, False
        if self.settings.role == Role.PREFILL:
            if params.get("do_remote_decode"):
                self._prefill_tickets.setdefault(request.request_id, str(ticket))
                if self.settings.mode == "push":
                    prompt = len(request.prompt_token_ids or ())
                    self._push_prompts.setdefault(request.request_id, (str(ticket), prompt))
            return 0, False
        if not params.get("do_remote_prefill"):
            return 0, False
        prompt = len(request.prompt_token_ids or ())
        if num_computed_tokens % self.block_size or num_computed_tokens >= prompt:
            # Not whole blocks of the prompt: decode computes the rest itself and the ticket ends with the reason.
            params["do_remote_prefill"] = False
            self._metadata.declined.append(DeclinedLoad(
                str(ticket), f"decode holds {num_computed_tokens} of the prompt's {prompt} tokens, not whole blocks"))
            return 0, False
        if num_computed_tokens:
            self._local_hits[request.request_id] = num_computed_tokens  # only the blocks after them move
        return prompt - num_computed_tokens, True

    def update_state_after_alloc(self, request: Any, blocks: Any, num_external_tokens: int) -> None:
        params = request.kv_transfer_params or {}
        ticket = params.get(TICKET)
        if self.settings.role != Role.DECODE or not ticket or not params.get("do_remote_prefill"):
            return
        params["do_remote_prefill"] = False  # one load per request, even when it is rescheduled
        cached = self._local_hits.pop(request.request_id, 0) // self.block_size
        if num_external_tokens <= 0:
            return
        # The request's blocks: those of its local prefix-cache hit first, then the ones allocated for the load.
        block_ids = tuple(int(block) for block in blocks.get_block_ids()[0])
        self._loading[request.request_id] = str(ticket)
        self._metadata.loads.append(LoadRequest(request.request_id, str(ticket), block_ids[cached:], cached))

    def build_connector_meta(self, scheduler_output: Any) -> HandoffConnectorMetadata:
        scheduled = [new.req_id for new in scheduler_output.scheduled_new_reqs]
        scheduled.extend(scheduler_output.scheduled_cached_reqs.req_ids)
        if self._push_prompts:
            self._find_pushes(scheduler_output)
        for request_id in scheduled:
            ticket = self._prefill_tickets.pop(request_id, None)
            if ticket is not None:
                self._metadata.prefills_started.append(ticket)
            ticket = self._loaded.pop(request_id, None)
            if ticket is not None:
                self._metadata.first_tokens.append((request_id, ticket))
        if self.kv_cache_manager is not None:
            self._metadata.free_blocks = int(self.kv_cache_manager.block_pool.get_num_free_blocks())
        self._metadata.queue_depth = len(self._prefill_tickets) + len(self._loading)
        metadata, self._metadata = self._metadata, HandoffConnectorMetadata()
        return metadata

    def _find_pushes(self, scheduler_output: Any) -> None:
        """Push mode: the requests whose prompt this step finishes computing, with their blocks."""
        computed = {new.req_id: new.num_computed_tokens for new in scheduler_output.scheduled_new_reqs}
        cached = scheduler_output.scheduled_cached_reqs
        computed.update(zip(cached.req_ids, cached.num_computed_tokens))
        for request_id, before in computed.items():
            entry = self._push_prompts.get(request_id)
            if entry is None:
                continue
            ticket, prompt = entry
            if before + scheduler_output.num_scheduled_tokens.get(request_id, 0) < prompt:
                continue  # a later chunk finishes the prompt
            del self._push_prompts[request_id]
            if self.kv_cache_manager is None:
                continue
            count = -(-prompt // self.block_size)
            blocks = tuple(int(block) for block in self.kv_cache_manager.get_block_ids(request_id)[0][:count])
            if len(blocks) == count:
                self._metadata.pushes.append(PushCandidate(request_id, ticket, blocks))

    def update_connector_output(self, connector_output: Any) -> None:
        failed: Set[str] = set(getattr(connector_output, "failed_recving", None) or ())
        for request_id in connector_output.finished_recving or ():
            ticket = self._loading.pop(request_id, None)
            if ticket is not None and request_id not in failed:
                self._loaded[request_id] = ticket

    def request_finished(self, request: Any, block_ids: Any) -> Tuple[bool, Optional[Dict[str, Any]]]:
        """Prefill: hold a finished request's blocks for decode to pull; decode: nothing to hold."""
        self._prefill_tickets.pop(request.request_id, None)
        self._push_prompts.pop(request.request_id, None)
        self._local_hits.pop(request.request_id, None)
        self._loading.pop(request.request_id, None)
        self._loaded.pop(request.request_id, None)
        params = request.kv_transfer_params or {}
        ticket = params.get(TICKET)
        if self.settings.role != Role.PREFILL or not ticket or not params.get("do_remote_decode"):
            return False, None
        from vllm.v1.request import RequestStatus

        if request.status not in (RequestStatus.FINISHED_LENGTH_CAPPED, RequestStatus.FINISHED_STOPPED):
            return False, None  # aborted: nothing to hand over; the coordinator's deadline ends the ticket
        count = -(-request.num_prompt_tokens // self.block_size)
        blocks = tuple(int(block) for block in list(block_ids)[:count])
        if len(blocks) < count:
            logger.warning("request %s finished with %d blocks, its prompt needs %d: not handed over",
                           request.request_id, len(blocks), count)
            return False, None
        self._metadata.handovers.append(PrefillHandover(request.request_id, str(ticket), blocks))
        return True, {TICKET: str(ticket), "do_remote_prefill": True, "do_remote_decode": False}
