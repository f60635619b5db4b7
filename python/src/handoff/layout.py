"""Pool layouts: the data plane's (`KVLayout`) and an engine's own description of its KV cache (`EngineLayout`)."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from enum import IntEnum

from ._library import OK, CEngineLayout, CLayout, lib
from .errors import raise_for


class Arrangement(IntEnum):
    """Where K and V pieces sit inside a layer's region."""

    SPLIT = 0
    """[2, num_blocks, ...] per layer: every K piece, then every V piece (FlashAttention)."""
    FUSED = 1
    """[num_blocks, 2, ...] per layer: K and V of one block adjacent (FlashInfer)."""

    @classmethod
    def of(cls, value: "Arrangement | str | int") -> "Arrangement":
        if isinstance(value, str):
            return cls[value.upper()]
        return cls(value)


@dataclass(frozen=True)
class KVLayout:
    """A pool: one memory region per layer holding `num_blocks` blocks of `kinds_per_block` pieces of
    `piece_bytes` each."""

    layers: int
    kinds_per_block: int
    piece_bytes: int
    num_blocks: int
    arrangement: Arrangement = Arrangement.SPLIT

    def __post_init__(self) -> None:
        object.__setattr__(self, "arrangement", Arrangement.of(self.arrangement))
        c = self.to_c()
        error = ctypes.c_char_p()
        status = lib.handoff_layout_check(ctypes.byref(c), ctypes.byref(error))
        if status != OK:
            raise_for(status, error)

    @property
    def region_bytes(self) -> int:
        """Bytes of one layer's region."""
        return self.kinds_per_block * self.num_blocks * self.piece_bytes

    @property
    def block_bytes(self) -> int:
        """Bytes of one block over every layer and kind."""
        return self.layers * self.kinds_per_block * self.piece_bytes

    def piece_offset(self, kind: int, block: int) -> int:
        """Byte offset of `kind` (0 = K, 1 = V) of `block` inside its layer's region."""
        if self.arrangement == Arrangement.SPLIT:
            return (kind * self.num_blocks + block) * self.piece_bytes
        return (block * self.kinds_per_block + kind) * self.piece_bytes

    def to_c(self) -> CLayout:
        for name in ("layers", "kinds_per_block", "piece_bytes", "num_blocks"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0 or value >= 1 << (32 if name in ("layers", "kinds_per_block") else 64):
                raise ValueError(f"{name} {value!r} is out of range")
        return CLayout(self.layers, self.kinds_per_block, self.piece_bytes, self.num_blocks, int(self.arrangement), 0)

    @classmethod
    def from_c(cls, c: CLayout) -> "KVLayout":
        return cls(c.layers, c.kinds_per_block, c.piece_bytes, c.num_blocks, Arrangement(c.arrangement))


@dataclass(frozen=True)
class EngineLayout:
    """An engine's KV cache in its own terms; `kv_layout()` derives the pool (piece bytes, overflow-checked)."""

    model: str
    layers: int
    kv_heads: int
    head_dim: int
    dtype_bytes: int
    block_tokens: int
    num_blocks: int
    arrangement: Arrangement = Arrangement.SPLIT
    kinds_per_block: int = 2
    """2 when K and V are separate pieces; 1 for an MLA latent or a block stored as one run (vLLM's CPU layout)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "arrangement", Arrangement.of(self.arrangement))

    def to_c(self) -> CEngineLayout:
        fields = (self.layers, self.kv_heads, self.head_dim, self.dtype_bytes, self.block_tokens, self.kinds_per_block)
        if any(not isinstance(value, int) or not 0 <= value < 1 << 32 for value in fields):
            raise ValueError(f"engine layout fields out of range: {self}")
        if not isinstance(self.num_blocks, int) or not 0 <= self.num_blocks < 1 << 63:
            raise ValueError(f"num_blocks {self.num_blocks!r} is out of range")
        return CEngineLayout(self.model.encode(), self.layers, self.kv_heads, self.head_dim, self.dtype_bytes,
                             self.block_tokens, self.num_blocks, int(self.arrangement), self.kinds_per_block)

    def kv_layout(self) -> KVLayout:
        """The data-plane layout of this cache."""
        engine = self.to_c()
        out = CLayout()
        error = ctypes.c_char_p()
        status = lib.handoff_engine_layout_resolve(ctypes.byref(engine), ctypes.byref(out), ctypes.byref(error))
        if status != OK:
            raise_for(status, error)
        return KVLayout.from_c(out)
