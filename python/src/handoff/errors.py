"""The exceptions the package raises: one class per status of the C API, each carrying the library's message."""

from __future__ import annotations

import ctypes


class HandoffError(Exception):
    """A call into Handoff failed. `status` is the C API's code, the message its explanation."""

    status: int = 0

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class InvalidArgument(HandoffError, ValueError):
    """A value out of range, a closed handle, an unknown enum value."""

    status = -1


class DescriptorError(HandoffError):
    """A pool descriptor could not be decoded, or is for another transport or memory type."""

    status = -2


class LayoutError(HandoffError, ValueError):
    """A layout, block id or byte range does not fit the pools."""

    status = -3


class UnknownError(HandoffError, KeyError):
    """The pool, peer or ticket is not (or no longer) known: a released or already answered ticket."""

    status = -4

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PeerError(HandoffError):
    """The peer failed, went away or refused the request (a block outside its grant)."""

    status = -5


class TransferTimeout(HandoffError, TimeoutError):
    """The transfer's deadline passed."""

    status = -6


class Cancelled(HandoffError):
    """The transfer was cancelled."""

    status = -7


class Closed(HandoffError):
    """The transport or runtime is closed; for a runtime, the message says why it stopped."""

    status = -8


class TransportError(HandoffError):
    """The data plane failed: UCX, sockets, memory registration."""

    status = -9


class CoordinatorError(HandoffError):
    """The coordinator refused or could not be reached."""

    status = -10


_BY_STATUS = {cls.status: cls for cls in HandoffError.__subclasses__()}


def raise_for(status: int, message: ctypes.c_char_p) -> None:
    """Raises the exception of a failed status with the C message (and frees the message)."""
    from ._library import lib

    text = message.value.decode(errors="replace") if message.value else f"status {status}"
    if message.value:
        lib.handoff_string_free(message)
    raise _BY_STATUS.get(status, HandoffError)(text, status)
