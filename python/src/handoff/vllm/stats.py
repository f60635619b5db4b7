"""HandoffConnector's figures in vLLM's own metrics: transfer time, post time and bytes per load, and failed
loads, as `vllm:handoff_*` on the server's /metrics."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Dict, List

from vllm.distributed.kv_transfer.kv_connector.v1.metrics import KVConnectorPromMetrics, KVConnectorStats
from vllm.v1.metrics.utils import create_metric_per_engine

from ..dataplane import Report

_KEYS = ("transfer_seconds", "post_seconds", "bytes", "failures")


@dataclass
class HandoffConnectorStats(KVConnectorStats):
    """Observations since the last collection; picklable, aggregated across workers by vLLM."""

    def __post_init__(self) -> None:
        if not self.data:
            self.reset()

    def reset(self) -> None:
        self.data: Dict[str, List[float]] = {key: [] for key in _KEYS}

    def record_transfer(self, report: Report) -> None:
        self.data["transfer_seconds"].append(float(report.seconds))
        self.data["post_seconds"].append(float(report.post_seconds))
        self.data["bytes"].append(float(report.bytes))

    def record_failure(self) -> None:
        self.data["failures"].append(1.0)

    def clone_and_reset(self) -> "HandoffConnectorStats":
        old = copy.copy(self)
        self.reset()
        return old

    def is_empty(self) -> bool:
        return not any(self.data.get(key) for key in _KEYS)

    def aggregate(self, other: KVConnectorStats) -> KVConnectorStats:
        for key in _KEYS:
            self.data.setdefault(key, []).extend(other.data.get(key, ()))
        return self

    def reduce(self) -> Dict[str, float]:
        times = self.data["transfer_seconds"]
        count = len(times)
        total = sum(times)
        return {
            "Num successful transfers": count,
            "Avg xfer time (ms)": round(1e3 * total / count, 3) if count else 0,
            "Avg post time (ms)": round(1e3 * sum(self.data["post_seconds"]) / count, 3) if count else 0,
            "Throughput (MB/s)": round(sum(self.data["bytes"]) / 2**20 / total, 1) if total > 0 else 0,
            "Num failed loads": len(self.data["failures"]),
        }


class HandoffPromMetrics(KVConnectorPromMetrics):
    def __init__(self, vllm_config: Any, metric_types: Any, labelnames: List[str],
                 per_engine_labelvalues: Dict[int, List[object]]) -> None:
        super().__init__(vllm_config, metric_types, labelnames, per_engine_labelvalues)
        seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0]

        def per_engine(metric: Any) -> Any:
            return create_metric_per_engine(metric, self.per_engine_labelvalues)

        self.transfer_time = per_engine(self._histogram_cls(
            name="vllm:handoff_xfer_time_seconds", labelnames=labelnames, buckets=seconds,
            documentation="Seconds from posting a Handoff KV load to its completion."))
        self.post_time = per_engine(self._histogram_cls(
            name="vllm:handoff_post_time_seconds", labelnames=labelnames, buckets=seconds,
            documentation="Seconds spent posting a Handoff KV load."))
        self.bytes = per_engine(self._counter_cls(
            name="vllm:handoff_bytes_transferred", labelnames=labelnames,
            documentation="Bytes of KV loaded through Handoff."))
        self.failures = per_engine(self._counter_cls(
            name="vllm:handoff_failed_loads", labelnames=labelnames,
            documentation="KV loads through Handoff that failed (vLLM's kv_load_failure_policy then applies)."))

    def observe(self, transfer_stats_data: Dict[str, Any], engine_idx: int = 0) -> None:
        for seconds in transfer_stats_data.get("transfer_seconds", ()):
            self.transfer_time[engine_idx].observe(seconds)
        for seconds in transfer_stats_data.get("post_seconds", ()):
            self.post_time[engine_idx].observe(seconds)
        total = sum(transfer_stats_data.get("bytes", ()))
        if total:
            self.bytes[engine_idx].inc(total)
        failures = len(transfer_stats_data.get("failures", ()))
        if failures:
            self.failures[engine_idx].inc(failures)
