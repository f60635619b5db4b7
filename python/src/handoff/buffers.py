"""Memory the caller owns, as an address and a length: NumPy arrays, torch tensors, mmaps, bytearrays, or an
explicit (address, length) pair."""

from __future__ import annotations

import ctypes
from typing import Any, Tuple


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
