"""Memory the caller owns, as an address and a length: NumPy arrays, torch tensors, mmaps, bytearrays, or an
explicit (address, length) pair; and the views handed out over memory the library owns."""

from __future__ import annotations

import ctypes
import sys
from typing import Any, List, Tuple


class Buffer:
    """The address and length of a caller's buffer, keeping the object (and any export of it) alive."""

    __slots__ = ("address", "length", "_keep")

    def __init__(self, source: Any) -> None:
        self.address, self.length, self._keep = _address_of(source)

    def __repr__(self) -> str:
        return f"Buffer(0x{self.address:x}, {self.length})"


def _address_of(source: Any) -> Tuple[int, int, Any]:
    if isinstance(source, Buffer):
        return source.address, source.length, source._keep
    if isinstance(source, tuple) and len(source) == 2 and all(isinstance(v, int) for v in source):
        return source[0], source[1], None
    if hasattr(source, "data_ptr") and callable(source.data_ptr):  # a torch tensor
        device = getattr(getattr(source, "device", None), "type", "cpu")
        if device != "cpu":
            raise ValueError(f"a {device} tensor is not host memory; register CPU tensors (GPU memory needs a GPU build)")
        if hasattr(source, "is_contiguous") and not source.is_contiguous():
            raise ValueError("a tensor must be contiguous to be registered")
        length = source.numel() * source.element_size() if hasattr(source, "numel") else int(source.nbytes)
        return int(source.data_ptr()), int(length), source
    interface = getattr(source, "__array_interface__", None)
    if interface is not None:  # NumPy and friends
        address, read_only = interface["data"]
        if read_only:
            raise ValueError("a read-only array cannot be registered")
        flags = getattr(source, "flags", None)
        if flags is not None and not flags["C_CONTIGUOUS"]:
            raise ValueError("an array must be C-contiguous to be registered")
        return int(address), int(source.nbytes), source
    view = memoryview(source)  # mmap, bytearray, anything with the buffer protocol
    if view.readonly:
        raise ValueError(f"a read-only {type(source).__name__} cannot be registered")
    if not view.c_contiguous:
        raise ValueError(f"a {type(source).__name__} must be contiguous to be registered")
    length = view.nbytes
    if length == 0:
        raise ValueError("an empty buffer cannot be registered")
    exported = (ctypes.c_char * length).from_buffer(view)
    return ctypes.addressof(exported), length, (source, view, exported)


class HandedOutViews:
    """The memoryviews a pool or runtime handed out over memory it owns, so that closing it never leaves one
    reading freed memory: `release()` releases each view (any later use of it raises ValueError), then checks that
    nothing else still reaches the memory: a slice of a view, or a NumPy array or tensor made from one, holds the
    underlying buffer past the view's release. Then it raises BufferError, as `mmap.close()` does, and the owner
    stays open, its memory valid, until those are gone.

    Relies on CPython's reference counts, as ctypes does: each entry's ctypes array is referenced by its entry
    and, while any view or export of it lives, by the one buffer they share."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: List[Tuple[Any, memoryview]] = []

    def view(self, address: int, length: int) -> memoryview:
        """A writable byte view of `length` bytes at `address`, tracked until nothing reaches it any more."""
        self._entries = [entry for entry in self._entries if not _forgotten(entry)]
        array = (ctypes.c_char * length).from_address(address)
        view = memoryview(array).cast("B")
        self._entries.append((array, view))
        return view

    def release(self, owner: str) -> None:
        """Releases every view handed out; raises BufferError when the memory is still reachable through a slice
        of one or an export (those entries stay, to be checked again at the next close)."""
        for entry in self._entries:
            try:
                entry[1].release()
            except BufferError:  # exported as it is (torch.frombuffer): still reachable, reported below
                pass
        self._entries = [entry for entry in self._entries if _reachable(entry)]
        if self._entries:
            raise BufferError(
                f"{len(self._entries)} region(s) of this {owner}'s memory are still reachable through a slice of a "
                f"view or an array or tensor made from one: drop them before closing it; it stays open until then")


def _reachable(entry: Tuple[Any, memoryview]) -> bool:
    """True while a buffer still holds the entry's ctypes array: an unreleased view, a slice of one, an export."""
    return sys.getrefcount(entry[0]) > _UNREACHED


def _forgotten(entry: Tuple[Any, memoryview]) -> bool:
    """True when the caller no longer holds the entry's view (it released or dropped it; a dropped one is released
    here) and nothing else reaches its memory."""
    if sys.getrefcount(entry[1]) <= _UNHELD:
        entry[1].release()
    return not _reachable(entry)


def _baselines() -> Tuple[int, int]:
    """The reference counts `sys.getrefcount` reports, through the functions above, for an entry's view that only
    the entry holds and for its array once that view is released (measured: interpreters count arguments
    differently)."""
    buffer = ctypes.create_string_buffer(1)
    array = (ctypes.c_char * 1).from_address(ctypes.addressof(buffer))
    entry = (array, memoryview(array).cast("B"))
    del array
    unheld = sys.getrefcount(entry[1])
    entry[1].release()
    return unheld, sys.getrefcount(entry[0])


_UNHELD, _UNREACHED = _baselines()
