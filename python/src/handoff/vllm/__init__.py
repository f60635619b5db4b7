"""Handoff inside vLLM: `HandoffConnector`, loaded with `"kv_connector_module_path": "handoff.vllm"`.

Importing this package imports vLLM; `import handoff` alone does not."""

from .connector import HandoffConnector

__all__ = ["HandoffConnector"]
