"""The bare data plane: register memory, exchange pool descriptors as bytes, READ or WRITE block lists or byte
ranges, wait or poll, read the report."""

from __future__ import annotations

import array
import ctypes
import weakref
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from ._library import OK, PENDING, CLayout, CRange, CReport, CTransferOptions, CTransportOptions, lib
from .buffers import Buffer, HandedOutViews
from .errors import Closed, HandoffError, TransferTimeout, raise_for
from .layout import KVLayout


class Operation(IntEnum):
    """READ pulls the peer's blocks into local ones; WRITE pushes local blocks to the peer."""

    READ = 0
    WRITE = 1


@dataclass(frozen=True)
class Report:
    """What a finished transfer did."""

    operation: Operation
    bytes: int
    """Bytes moved."""
    ops: int
    """Ops (UCX) or requests (native TCP) posted after merging contiguous pieces."""
    pieces: int
    """Block pieces or ranges the request named, before merging."""
    post_seconds: float
    completion_seconds: float
    op_latency_p50_us: float
    op_latency_p99_us: float
    transport: str
    """The data plane that moved the bytes: shm, ucx or tcp."""
    lanes: Tuple[str, ...]
    """The transports under it (UCX: posix, cma, tcp, ...; shm: memfd)."""
    fallback: Optional[str]
    """Why auto selection fell back to native TCP; None when it did not."""

    @property
    def seconds(self) -> float:
        return self.post_seconds + self.completion_seconds

    @property
    def bytes_per_second(self) -> float:
        return self.bytes / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def from_c(cls, c: CReport) -> "Report":
        lanes = c.lanes.decode(errors="replace")
        fallback = c.fallback.decode(errors="replace")
        return cls(Operation(c.operation), c.bytes, c.ops, c.pieces, c.post_seconds, c.completion_seconds,
                   c.op_latency_p50_us, c.op_latency_p99_us, c.transport.decode(errors="replace"),
                   tuple(lane for lane in lanes.split(",") if lane), fallback or None)


def _call(function, *arguments) -> int:
    """Calls a C API function whose last argument is `char **error`; raises on failure, returns OK or PENDING."""
    error = ctypes.c_char_p()
    status = function(*arguments, ctypes.byref(error))
    if status not in (OK, PENDING):
        raise_for(status, error)
    if error.value is not None:  # a PENDING may come with a message too
        lib.handoff_string_free(error)
    return status


def _int64s(values: Iterable[int]) -> Tuple[Any, int]:
    """A C int64 array of `values` (a list, a range, a NumPy array) and its length."""
    data = array.array("q", values)
    if len(data) == 0:
        return None, 0
    address, count = data.buffer_info()
    return (ctypes.cast(address, ctypes.POINTER(ctypes.c_int64)), data), count


class _Handle:
    """An owned C handle, freed once by `close()` (also on `with` exit and, as a last resort, at collection)."""

    _free = None

    def __init__(self, handle: ctypes.c_void_p) -> None:
        self._handle: Optional[ctypes.c_void_p] = handle

    @property
    def handle(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise Closed(f"this {type(self).__name__} is closed")
        return self._handle

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            type(self)._free(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Transport(_Handle):
    """A data plane: `auto` (same-host shared memory, else UCX where both peers have it, else native TCP), `ucx`,
    `tcp` or `shm` (same-host peers only).

    Closing it first closes what it made that is still open (transfers, which are cancelled; peers; pools, whose
    `region()` views it releases) and then stops its threads: nothing of this package reaches the memory it frees.
    """

    _free = staticmethod(lambda handle: lib.handoff_transport_destroy(handle))

    def __init__(self, kind: str = "auto", tcp_listen_host: Optional[str] = None,
                 tcp_advertised_hosts: Optional[Sequence[str]] = None,
                 ucx_transports: Optional[Sequence[str]] = None) -> None:
        options = _transport_options(kind, tcp_listen_host, tcp_advertised_hosts, ucx_transports)
        handle = ctypes.c_void_p()
        _call(lib.handoff_transport_create, ctypes.byref(options), ctypes.byref(handle))
        super().__init__(handle)
        self.kind = kind
        self._children: "weakref.WeakSet[_Handle]" = weakref.WeakSet()

    def _adopt(self, child: "_Handle") -> Any:
        """Records a pool, peer or transfer of this transport, to close with it."""
        self._children.add(child)
        return child

    def close(self) -> None:
        """Closes the transport and, first, everything of it still open. Raises BufferError, closing nothing
        further, when a pool's `region()` view is still exported (see `Pool.close`)."""
        if self._handle is not None:
            for kind in (Transfer, Peer, Pool):
                for child in [child for child in self._children if isinstance(child, kind)]:
                    child.close()
        super().close()

    def register(self, layout: KVLayout, buffers: Sequence[Any]) -> "Pool":
        """Registers memory the caller owns as a pool: one buffer per layer, each at least `layout.region_bytes`.
        The buffers stay referenced (and must stay valid) until the pool is released. With `auto` or `shm`, private
        anonymous memory (NumPy arrays, torch CPU tensors) is remapped in place onto memfds, bytes and addresses
        unchanged, so that a same-host peer maps it: register before writing KV into it."""
        regions = [Buffer(buffer) for buffer in buffers]
        addresses = (ctypes.c_void_p * max(1, len(regions)))(*[region.address for region in regions])
        lengths = (ctypes.c_uint64 * max(1, len(regions)))(*[region.length for region in regions])
        c_layout = layout.to_c()
        handle = ctypes.c_void_p()
        _call(lib.handoff_pool_register, self.handle, ctypes.byref(c_layout), addresses, lengths, len(regions),
              ctypes.byref(handle))
        return self._adopt(Pool(handle, self, layout, regions))

    def allocate(self, layout: KVLayout) -> "Pool":
        """Allocates a zero-filled pool (shared memory where UCX can); `Pool.region(i)` gives its memory."""
        c_layout = layout.to_c()
        handle = ctypes.c_void_p()
        _call(lib.handoff_pool_allocate, self.handle, ctypes.byref(c_layout), ctypes.byref(handle))
        return self._adopt(Pool(handle, self, layout, None))

    def connect(self, descriptor: bytes) -> "Peer":
        """Connects to the pool a peer's descriptor describes."""
        if not isinstance(descriptor, (bytes, bytearray)) or not descriptor:
            raise ValueError("a descriptor is the non-empty bytes that Pool.descriptor() returned")
        handle = ctypes.c_void_p()
        _call(lib.handoff_peer_connect, self.handle, bytes(descriptor), len(descriptor), ctypes.byref(handle))
        return self._adopt(Peer(handle, self))


def _transport_options(kind: str, listen: Optional[str], advertised: Optional[Sequence[str]],
                       ucx: Optional[Sequence[str]]) -> CTransportOptions:
    return CTransportOptions(kind.encode(), listen.encode() if listen else None,
                             ",".join(advertised).encode() if advertised else None,
                             ",".join(ucx).encode() if ucx else None)


class Pool(_Handle):
    """A pool registered with a transport. Releasing it (close, `with` exit, or closing the transport)
    deregisters the memory and makes every view `region()` handed out unusable."""

    _free = staticmethod(lambda handle: lib.handoff_pool_release(handle))

    def __init__(self, handle: ctypes.c_void_p, transport: Transport, layout: KVLayout,
                 buffers: Optional[List[Buffer]]) -> None:
        super().__init__(handle)
        self.transport = transport  # keeps the transport alive while the pool is
        self.layout = layout
        self._buffers = buffers
        self._views = HandedOutViews()

    def close(self) -> None:
        """Releases the pool. Every `region()` view is released first (using one then raises ValueError); when one
        was exported further (`numpy.frombuffer(view)`, `torch.frombuffer(view)`), raises BufferError and the pool
        stays open, its memory valid, until those are dropped (as `mmap.close()` does)."""
        if self._handle is not None:
            self._views.release("pool")
        super().close()
        self._buffers = None

    def descriptor(self) -> bytes:
        """What a peer needs to reach this pool (send it over any channel)."""
        data = ctypes.c_void_p()
        length = ctypes.c_size_t()
        _call(lib.handoff_pool_descriptor, self.handle, ctypes.byref(data), ctypes.byref(length))
        try:
            return ctypes.string_at(data, length.value)
        finally:
            lib.handoff_bytes_free(data)

    def region(self, index: int) -> memoryview:
        """Region `index`'s memory, writable (for an allocated pool, the only way to reach it), until the pool or
        its transport is closed, which releases the view. Raises `Closed` once either is.

        A slice of the view or `numpy.frombuffer(view)` keeps the pool open (`close` raises BufferError until they
        are gone); `torch.frombuffer` takes no buffer export, only a reference to the view, so a tensor made with
        it must be dropped before the pool is closed (or made with `torch.frombuffer(bytearray(view))`, a copy)."""
        address = ctypes.c_void_p()
        length = ctypes.c_uint64()
        _call(lib.handoff_pool_region, self.handle, index, ctypes.byref(address), ctypes.byref(length))
        return self._views.view(address.value, length.value)

    def require_grants(self) -> None:
        """From now on serves peers only blocks a live grant covers (native TCP; UCX cannot check grants)."""
        _call(lib.handoff_pool_require_grants, self.handle)

    def grant(self, blocks: Iterable[int], operation: Operation = Operation.READ) -> int:
        """Lets the peer presenting the returned token `operation` these blocks, until `revoke`."""
        ids, count = _int64s(blocks)
        token = ctypes.c_uint64()
        _call(lib.handoff_pool_grant, self.handle, int(operation), ids[0] if ids else None, count,
              ctypes.byref(token))
        return token.value

    def revoke(self, token: int) -> None:
        """Ends a grant; returns once no request under it is still served."""
        lib.handoff_pool_revoke(self.handle, token)


class Peer(_Handle):
    """A connection to a peer's pool."""

    _free = staticmethod(lambda handle: lib.handoff_peer_disconnect(handle))

    def __init__(self, handle: ctypes.c_void_p, transport: Transport) -> None:
        super().__init__(handle)
        self.transport = transport

    @property
    def layout(self) -> KVLayout:
        """The layout of the peer's pool."""
        c = CLayout()
        lib.handoff_peer_layout(self.handle, ctypes.byref(c))
        return KVLayout.from_c(c)

    def read(self, local: Pool, source_blocks: Iterable[int], destination_blocks: Iterable[int],
             timeout: Optional[float] = None, grant: int = 0, window: int = 0) -> "Transfer":
        """Starts pulling the peer's `source_blocks` into `local`'s `destination_blocks` (every layer)."""
        return self._blocks(local, Operation.READ, source_blocks, destination_blocks, timeout, grant, window)

    def write(self, local: Pool, source_blocks: Iterable[int], destination_blocks: Iterable[int],
              timeout: Optional[float] = None, grant: int = 0, window: int = 0) -> "Transfer":
        """Starts pushing `local`'s `source_blocks` into the peer's `destination_blocks` (every layer)."""
        return self._blocks(local, Operation.WRITE, source_blocks, destination_blocks, timeout, grant, window)

    def transfer_ranges(self, local: Pool, operation: Operation,
                        ranges: Iterable[Tuple[int, int, int, int, int]], timeout: Optional[float] = None,
                        grant: int = 0, window: int = 0) -> "Transfer":
        """Starts moving byte ranges, each (source region, source offset, destination region, destination offset,
        length); regions are layers. The source is the peer for a READ, `local` for a WRITE."""
        items = [CRange(*item) for item in ranges]
        c_ranges = (CRange * max(1, len(items)))(*items)
        handle = ctypes.c_void_p()
        _call(lib.handoff_transfer_ranges, self.handle, local.handle, int(operation), c_ranges, len(items),
              ctypes.byref(_transfer_options(timeout, grant, window)), ctypes.byref(handle))
        return self.transport._adopt(Transfer(handle, self, local))

    def _blocks(self, local: Pool, operation: Operation, sources: Iterable[int], destinations: Iterable[int],
                timeout: Optional[float], grant: int, window: int) -> "Transfer":
        source_ids, count = _int64s(sources)
        destination_ids, destination_count = _int64s(destinations)
        if count != destination_count:
            raise ValueError(f"{count} source blocks but {destination_count} destination blocks")
        handle = ctypes.c_void_p()
        _call(lib.handoff_transfer_blocks, self.handle, local.handle, int(operation),
              source_ids[0] if source_ids else None, destination_ids[0] if destination_ids else None, count,
              ctypes.byref(_transfer_options(timeout, grant, window)), ctypes.byref(handle))
        return self.transport._adopt(Transfer(handle, self, local))


def _transfer_options(timeout: Optional[float], grant: int, window: int) -> CTransferOptions:
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    timeout_ms = 0 if timeout is None else max(1, int(timeout * 1000))
    return CTransferOptions(window, timeout_ms, grant)


class Transfer(_Handle):
    """One transfer, running from the moment it was started. Closing a running transfer cancels it and returns
    once the data plane no longer touches the memory."""

    _free = staticmethod(lambda handle: lib.handoff_transfer_destroy(handle))

    def __init__(self, handle: ctypes.c_void_p, peer: Peer, local: Pool) -> None:
        super().__init__(handle)
        # The local buffers too: a pool released while this transfer runs must not free memory it still writes.
        self._ends = (peer, local, local._buffers)
        self._report: Optional[Report] = None

    def poll(self) -> bool:
        """True once every byte arrived, False while running; raises the transfer's error."""
        return _call(lib.handoff_transfer_poll, self.handle) == OK

    def wait(self, timeout: Optional[float] = None) -> Report:
        """Waits for the end (at most `timeout` seconds) and returns the report; raises the transfer's error,
        or `TransferTimeout` when it is still running after `timeout`."""
        milliseconds = -1 if timeout is None else max(0, int(timeout * 1000))
        if _call(lib.handoff_transfer_wait, self.handle, milliseconds) == PENDING:
            raise TransferTimeout(f"the transfer is still running after {timeout} s", -6)
        return self.report

    @property
    def report(self) -> Report:
        """The report of a transfer that completed; raises its error, or `HandoffError` while it still runs."""
        if self._report is None:
            c = CReport()
            if _call(lib.handoff_transfer_report, self.handle, ctypes.byref(c)) != OK:
                raise HandoffError("the transfer is still running", PENDING)
            self._report = Report.from_c(c)
        return self._report

    def fileno(self) -> int:
        """A descriptor that becomes readable when the transfer ends (for select, poll, asyncio)."""
        return lib.handoff_transfer_fd(self.handle)

    def cancel(self) -> None:
        """Asks the transfer to stop; it then ends with `Cancelled`."""
        lib.handoff_transfer_cancel(self.handle)


__all__ = ["Operation", "Peer", "Pool", "Report", "Transfer", "Transport", "HandoffError"]
