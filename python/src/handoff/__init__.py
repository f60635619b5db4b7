"""Handoff: hand LLM KV caches from prefill to decode workers.

Two layers over libHandoffC.so:

- the bare data plane: `Transport`, `Pool` (engine memory registered, or allocated), `Peer`, `Transfer`, `Report`;
- the connector runtime: `Runtime` joins a coordinator as a prefill or decode worker; `Event`s tell the engine
  what to do, one method answers each.

Every failure raises a `HandoffError` subclass carrying the library's message.
"""

from ._library import library_path
from .buffers import Buffer
from .dataplane import Operation, Peer, Pool, Report, Transfer, Transport
from .errors import (
    Cancelled,
    Closed,
    CoordinatorError,
    DescriptorError,
    HandoffError,
    InvalidArgument,
    LayoutError,
    PeerError,
    TransferTimeout,
    TransportError,
    UnknownError,
)
from .layout import Arrangement, EngineLayout, KVLayout
from .runtime import Event, EventKind, Role, Runtime

__version__ = "0.2.0"

__all__ = [
    "Arrangement", "Buffer", "Cancelled", "Closed", "CoordinatorError", "DescriptorError", "EngineLayout", "Event",
    "EventKind", "HandoffError", "InvalidArgument", "KVLayout", "LayoutError", "Operation", "Peer", "PeerError",
    "Pool", "Report", "Role", "Runtime", "Transfer", "TransferTimeout", "Transport", "TransportError",
    "UnknownError", "library_path",
]
