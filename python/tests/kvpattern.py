"""Deterministic KV content: the byte at `offset` of piece (layer, kind) of a block whose content is `seed`, so
that a receiver checks every byte it got without seeing the sender's memory."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from handoff import KVLayout

_BASES: dict = {}


def _base(piece_bytes: int) -> np.ndarray:
    base = _BASES.get(piece_bytes)
    if base is None:
        offsets = np.arange(piece_bytes, dtype=np.uint64)
        base = ((offsets * 13 + (offsets >> 8)) & 0xFF).astype(np.uint8)
        _BASES[piece_bytes] = base
    return base


def piece(seed: int, layer: int, kind: int, piece_bytes: int) -> np.ndarray:
    return _base(piece_bytes) + np.uint8((seed * 31 + layer * 7 + kind * 3) & 0xFF)


def fill_block(layout: KVLayout, regions: Sequence[np.ndarray], block: int, seed: int) -> None:
    for layer in range(layout.layers):
        for kind in range(layout.kinds_per_block):
            start = layout.piece_offset(kind, block)
            regions[layer][start:start + layout.piece_bytes] = piece(seed, layer, kind, layout.piece_bytes)


def block_matches(layout: KVLayout, regions: Sequence[np.ndarray], block: int, seed: int) -> bool:
    for layer in range(layout.layers):
        for kind in range(layout.kinds_per_block):
            start = layout.piece_offset(kind, block)
            if not np.array_equal(regions[layer][start:start + layout.piece_bytes],
                                  piece(seed, layer, kind, layout.piece_bytes)):
                return False
    return True
