"""ctypes bindings of libHandoffC.so: the structs and functions of handoff.h, nothing more.

The library is the one packed into the wheel (handoff/lib/libHandoffC.so) unless $HANDOFF_LIBRARY names another.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import POINTER, c_char_p, c_double, c_int, c_int32, c_int64, c_size_t, c_uint32, c_uint64, c_void_p
from pathlib import Path

API_VERSION = 4

OK = 0
PENDING = 1


class CLayout(ctypes.Structure):
    _fields_ = [
        ("layers", c_uint32),
        ("kinds_per_block", c_uint32),
        ("piece_bytes", c_uint64),
        ("num_blocks", c_uint64),
        ("arrangement", c_uint32),
        ("region_bytes", c_uint64),
    ]


class CEngineLayout(ctypes.Structure):
    _fields_ = [
        ("model", c_char_p),
        ("layers", c_uint32),
        ("kv_heads", c_uint32),
        ("head_dim", c_uint32),
        ("dtype_bytes", c_uint32),
        ("block_tokens", c_uint32),
        ("num_blocks", c_uint64),
        ("arrangement", c_uint32),
        ("kinds_per_block", c_uint32),
    ]


class CRange(ctypes.Structure):
    _fields_ = [
        ("source_region", c_uint32),
        ("source_offset", c_uint64),
        ("destination_region", c_uint32),
        ("destination_offset", c_uint64),
        ("length", c_uint64),
    ]


class CTransferOptions(ctypes.Structure):
    _fields_ = [("max_outstanding_ops", c_uint32), ("timeout_ms", c_uint64), ("grant", c_uint64)]


class CReport(ctypes.Structure):
    _fields_ = [
        ("operation", c_uint32),
        ("bytes", c_uint64),
        ("ops", c_uint64),
        ("pieces", c_uint64),
        ("post_seconds", c_double),
        ("completion_seconds", c_double),
        ("op_latency_p50_us", c_double),
        ("op_latency_p99_us", c_double),
        ("transport", ctypes.c_char * 16),
        ("lanes", ctypes.c_char * 128),
        ("fallback", ctypes.c_char * 128),
    ]


class CTransportOptions(ctypes.Structure):
    _fields_ = [
        ("kind", c_char_p),
        ("tcp_listen_host", c_char_p),
        ("tcp_advertised_hosts", c_char_p),
        ("ucx_transports", c_char_p),
    ]


class CRuntimeOptions(ctypes.Structure):
    _fields_ = [
        ("id", c_char_p),
        ("role", c_uint32),
        ("coordinator", c_char_p),
        ("token", c_char_p),
        ("token_file", c_char_p),
        ("layout", POINTER(CEngineLayout)),
        ("buffers", POINTER(c_void_p)),
        ("buffer_lengths", POINTER(c_uint64)),
        ("buffer_count", c_size_t),
        ("transport", POINTER(CTransportOptions)),
        ("node", c_char_p),
        ("rack", c_char_p),
        ("max_concurrent_pulls", c_uint32),
        ("endpoint", c_char_p),
    ]


class CEvent(ctypes.Structure):
    _fields_ = [
        ("kind", c_uint32),
        ("ticket", c_char_p),
        ("request_id", c_char_p),
        ("reason", c_char_p),
        ("instance", c_uint64),
        ("prompt_tokens", c_uint64),
        ("block_count", c_uint64),
        ("source_blocks", POINTER(c_int64)),
        ("destination_blocks", POINTER(c_int64)),
        ("content_seed", c_uint64),
        ("lease_seconds", c_double),
        ("report", CReport),
        ("traceparent", c_char_p),
    ]


# The sizes handoff_abi.c pins: a mismatch means these bindings and the header disagree.
STRUCT_SIZES = {CLayout: 40, CRange: 40, CReport: 336, CEvent: 432}

ERROR = POINTER(c_char_p)
HANDLE = POINTER(c_void_p)

# name: (result type, argument types)
_SIGNATURES = {
    "handoff_api_version": (c_int, []),
    "handoff_string_free": (None, [c_void_p]),
    "handoff_bytes_free": (None, [c_void_p]),
    "handoff_layout_check": (c_int32, [POINTER(CLayout), ERROR]),
    "handoff_engine_layout_resolve": (c_int32, [POINTER(CEngineLayout), POINTER(CLayout), ERROR]),
    "handoff_transport_create": (c_int32, [POINTER(CTransportOptions), HANDLE, ERROR]),
    "handoff_transport_destroy": (None, [c_void_p]),
    "handoff_pool_register": (
        c_int32,
        [c_void_p, POINTER(CLayout), POINTER(c_void_p), POINTER(c_uint64), c_size_t, HANDLE, ERROR],
    ),
    "handoff_pool_allocate": (c_int32, [c_void_p, POINTER(CLayout), HANDLE, ERROR]),
    "handoff_pool_region": (c_int32, [c_void_p, c_uint32, POINTER(c_void_p), POINTER(c_uint64), ERROR]),
    "handoff_pool_descriptor": (c_int32, [c_void_p, POINTER(c_void_p), POINTER(c_size_t), ERROR]),
    "handoff_pool_require_grants": (c_int32, [c_void_p, ERROR]),
    "handoff_pool_grant": (c_int32, [c_void_p, c_int32, POINTER(c_int64), c_size_t, POINTER(c_uint64), ERROR]),
    "handoff_pool_revoke": (None, [c_void_p, c_uint64]),
    "handoff_pool_release": (None, [c_void_p]),
    "handoff_peer_connect": (c_int32, [c_void_p, c_char_p, c_size_t, HANDLE, ERROR]),
    "handoff_peer_layout": (None, [c_void_p, POINTER(CLayout)]),
    "handoff_peer_disconnect": (None, [c_void_p]),
    "handoff_transfer_blocks": (
        c_int32,
        [c_void_p, c_void_p, c_int32, POINTER(c_int64), POINTER(c_int64), c_size_t, POINTER(CTransferOptions),
         HANDLE, ERROR],
    ),
    "handoff_transfer_ranges": (
        c_int32,
        [c_void_p, c_void_p, c_int32, POINTER(CRange), c_size_t, POINTER(CTransferOptions), HANDLE, ERROR],
    ),
    "handoff_transfer_poll": (c_int32, [c_void_p, ERROR]),
    "handoff_transfer_wait": (c_int32, [c_void_p, c_int64, ERROR]),
    "handoff_transfer_fd": (c_int, [c_void_p]),
    "handoff_transfer_cancel": (None, [c_void_p]),
    "handoff_transfer_report": (c_int32, [c_void_p, POINTER(CReport), ERROR]),
    "handoff_transfer_destroy": (None, [c_void_p]),
    "handoff_runtime_start": (c_int32, [POINTER(CRuntimeOptions), HANDLE, ERROR]),
    "handoff_runtime_next_event": (c_int32, [c_void_p, c_int64, POINTER(POINTER(CEvent)), ERROR]),
    "handoff_runtime_event_fd": (c_int, [c_void_p]),
    "handoff_event_free": (None, [POINTER(CEvent)]),
    "handoff_runtime_prefill_started": (c_int32, [c_void_p, c_char_p, ERROR]),
    "handoff_runtime_prefill_done": (c_int32, [c_void_p, c_char_p, POINTER(c_int64), c_size_t, ERROR]),
    "handoff_runtime_reserved": (c_int32, [c_void_p, c_char_p, POINTER(c_int64), c_size_t, ERROR]),
    "handoff_runtime_reserved_after_prefix": (c_int32, [c_void_p, c_char_p, c_uint32, POINTER(c_int64), c_size_t, ERROR]),
    "handoff_runtime_reserve_failed": (c_int32, [c_void_p, c_char_p, c_char_p, ERROR]),
    "handoff_runtime_transfer_done": (c_int32, [c_void_p, c_char_p, c_int, ERROR]),
    "handoff_runtime_first_token": (c_int32, [c_void_p, c_char_p, c_double, ERROR]),
    "handoff_runtime_push_layers": (
        c_int32, [c_void_p, c_char_p, POINTER(c_int64), c_size_t, c_uint32, POINTER(c_int), ERROR]),
    "handoff_runtime_finish_push": (c_int32, [c_void_p, c_char_p, POINTER(c_int64), c_size_t, POINTER(c_int), ERROR]),
    "handoff_runtime_set_load": (None, [c_void_p, c_uint64, c_uint64]),
    "handoff_runtime_layout": (None, [c_void_p, POINTER(CLayout)]),
    "handoff_runtime_region": (c_int32, [c_void_p, c_uint32, POINTER(c_void_p), POINTER(c_uint64), ERROR]),
    "handoff_runtime_close": (None, [c_void_p]),
    "handoff_runtime_destroy": (None, [c_void_p]),
}


def library_path() -> Path:
    """Where the library is loaded from: $HANDOFF_LIBRARY, else the one installed with the package."""
    given = os.environ.get("HANDOFF_LIBRARY")
    return Path(given) if given else Path(__file__).resolve().parent / "lib" / "libHandoffC.so"


def _load() -> ctypes.CDLL:
    path = library_path()
    if not path.exists():
        raise ImportError(f"libHandoffC.so not found at {path}: install the package with `pip install ./python` "
                          "from a Handoff clone, or set HANDOFF_LIBRARY")
    library = ctypes.CDLL(str(path))
    for name, (result, arguments) in _SIGNATURES.items():
        function = getattr(library, name)
        function.restype = result
        function.argtypes = arguments
    version = library.handoff_api_version()
    if version != API_VERSION:
        raise ImportError(f"{path} implements API version {version}; this package speaks {API_VERSION}")
    return library


lib = _load()
