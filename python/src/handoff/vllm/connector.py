"""HandoffConnector: vLLM's KV connector interface (`KVConnectorBase_V1`) over Handoff's coordinator and data plane.

Load it with
    --kv-transfer-config '{"kv_connector": "HandoffConnector", "kv_connector_module_path": "handoff.vllm",
                           "kv_role": "kv_producer" | "kv_consumer",
                           "kv_connector_extra_config": {"coordinator": "HOST:PORT", "endpoint": "http://HOST:PORT"}}'
and send requests through `handoff router`, which admits each at the coordinator and puts its ticket in the
requests' `kv_transfer_params`. Prefill servers hand each finished prompt's blocks over and hold them until decode
confirms (or the lease ends); decode servers load them into their own blocks and never recompute them. With
`"mode": "push"` on prefill servers and `handoff router --mode push`, prefill writes each layer into decode's
reserved blocks while the next layers compute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Set, Tuple

from vllm.distributed.kv_transfer.kv_connector.v1.base import (
    KVConnectorBase_V1,
    KVConnectorRole,
    KVConnectorTransferResults,
)
from vllm.v1.metrics.cache_hit_source import CacheHitSource

from .config import ConnectorSettings
from .metadata import HandoffConnectorMetadata
from .scheduler import HandoffConnectorScheduler
from .stats import HandoffConnectorStats, HandoffPromMetrics
from .worker import HandoffConnectorWorker

if TYPE_CHECKING:
    import torch


class HandoffConnector(KVConnectorBase_V1):
    _cache_hit_source = CacheHitSource.P2P

    def __init__(self, vllm_config: Any, role: KVConnectorRole, kv_cache_config: Any = None) -> None:
        super().__init__(vllm_config=vllm_config, role=role, kv_cache_config=kv_cache_config)
        transfer = vllm_config.kv_transfer_config
        self.settings = ConnectorSettings.from_extra_config(transfer.kv_connector_extra_config or {}, transfer.kv_role)
        block_size = vllm_config.cache_config.block_size
        self.connector_scheduler: Optional[HandoffConnectorScheduler] = None
        self.connector_worker: Optional[HandoffConnectorWorker] = None
        if role == KVConnectorRole.SCHEDULER:
            self.connector_scheduler = HandoffConnectorScheduler(self.settings, block_size)
        else:
            model = vllm_config.model_config
            self.connector_worker = HandoffConnectorWorker(
                self.settings, model=str(model.served_model_name), num_blocks=kv_cache_config.num_blocks,
                block_size=block_size, kv_heads=model.get_num_kv_heads(vllm_config.parallel_config),
                head_dim=model.get_head_size())

    # Scheduler side
    def get_num_new_matched_tokens(self, request: Any, num_computed_tokens: int) -> Tuple[int, bool]:
        assert self.connector_scheduler is not None
        return self.connector_scheduler.get_num_new_matched_tokens(request, num_computed_tokens)

    def update_state_after_alloc(self, request: Any, blocks: Any, num_external_tokens: int) -> None:
        assert self.connector_scheduler is not None
        self.connector_scheduler.update_state_after_alloc(request, blocks, num_external_tokens)

    def build_connector_meta(self, scheduler_output: Any) -> HandoffConnectorMetadata:
        assert self.connector_scheduler is not None
        return self.connector_scheduler.build_connector_meta(scheduler_output)

    def update_connector_output(self, connector_output: Any) -> None:
        assert self.connector_scheduler is not None
        self.connector_scheduler.update_connector_output(connector_output)

    def request_finished(self, request: Any, block_ids: Any) -> Tuple[bool, Optional[Dict[str, Any]]]:
        assert self.connector_scheduler is not None
        return self.connector_scheduler.request_finished(request, block_ids)

    def bind_kv_cache_manager(self, kv_cache_manager: Any) -> None:
        super().bind_kv_cache_manager(kv_cache_manager)
        if self.connector_scheduler is not None:
            self.connector_scheduler.kv_cache_manager = kv_cache_manager

    @classmethod
    def get_required_kvcache_layout(cls, vllm_config: Any) -> Optional[str]:
        return None  # whole blocks move, whatever the backend's layout

    # Worker side
    def register_kv_caches(self, kv_caches: Dict[str, "torch.Tensor"]) -> None:
        assert self.connector_worker is not None
        self.connector_worker.register_kv_caches(kv_caches)

    def bind_connector_metadata(self, connector_metadata: Any) -> None:
        super().bind_connector_metadata(connector_metadata)
        if self.connector_worker is not None:
            assert isinstance(connector_metadata, HandoffConnectorMetadata)
            self.connector_worker.bind(connector_metadata)

    def start_load_kv(self, forward_context: Any, **kwargs: Any) -> None:
        # vLLM calls this after the forward (asynchronous loads start then); loads themselves started when the
        # metadata was bound, before it.
        assert self.connector_worker is not None
        metadata = self._get_connector_metadata()
        assert isinstance(metadata, HandoffConnectorMetadata)
        self.connector_worker.after_forward(metadata)

    def wait_for_layer_load(self, layer_name: str) -> None:
        return  # loads finish before the request is scheduled

    def save_kv_layer(self, layer_name: str, kv_layer: Any, attn_metadata: Any, **kwargs: Any) -> None:
        # Push mode: the layer's KV goes to decode while the next layers compute; pull mode: nothing to do.
        assert self.connector_worker is not None
        self.connector_worker.save_layer(layer_name)

    def wait_for_save(self) -> None:
        assert self.connector_worker is not None
        self.connector_worker.finish_pushes()

    def get_finished(self, finished_req_ids: Set[str]) -> Tuple[Optional[Set[str]], Optional[Set[str]]]:
        results = self.get_transfer_results(finished_req_ids)
        return results.finished_sending or None, results.finished_recving or None

    def get_transfer_results(self, finished_req_ids: Set[str]) -> KVConnectorTransferResults:
        assert self.connector_worker is not None
        sending, recving, failed = self.connector_worker.get_finished(finished_req_ids)
        return KVConnectorTransferResults(finished_sending=sending, finished_recving=recving, failed_recving=failed)

    def get_block_ids_with_load_errors(self) -> Set[int]:
        assert self.connector_worker is not None
        return self.connector_worker.get_block_ids_with_load_errors()

    def get_kv_connector_stats(self) -> Optional[HandoffConnectorStats]:
        if self.connector_worker is None or self.connector_worker.stats.is_empty():
            return None
        return self.connector_worker.stats.clone_and_reset()

    @classmethod
    def build_kv_connector_stats(cls, data: Optional[Dict[str, Any]] = None) -> HandoffConnectorStats:
        return HandoffConnectorStats(data=data) if data is not None else HandoffConnectorStats()

    @classmethod
    def build_prom_metrics(cls, vllm_config: Any, metric_types: Any, labelnames: Any,
                           per_engine_labelvalues: Any) -> HandoffPromMetrics:
        return HandoffPromMetrics(vllm_config, metric_types, labelnames, per_engine_labelvalues)

    def shutdown(self) -> None:
        if self.connector_worker is not None:
            self.connector_worker.shutdown()
