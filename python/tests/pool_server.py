"""The serving process of the two-process data-plane tests.

    python pool_server.py KIND LAYERS KINDS PIECE_BYTES BLOCKS ARRANGEMENT MEMORY

Registers a KV pool of memory it owns, as an engine does (MEMORY: `mmap`, Python's shared anonymous mmaps, or
`numpy`, arrays as an engine's tensors are), filled with block b holding seed b + 1, prints
its descriptor as hex, then answers commands on stdin, one per line:
    verify SEED_BASE BLOCK...   prints "ok" when block i holds seed SEED_BASE + i, else "mismatch BLOCK"
    quit
"""

from __future__ import annotations

import mmap
import sys

import numpy as np

import handoff
from kvpattern import block_matches, fill_block


def main() -> None:
    kind, layers, kinds, piece_bytes, blocks, arrangement, memory = sys.argv[1:8]
    layout = handoff.KVLayout(int(layers), int(kinds), int(piece_bytes), int(blocks), arrangement)
    if memory == "mmap":
        buffers = [mmap.mmap(-1, layout.region_bytes) for _ in range(layout.layers)]
        regions = [np.frombuffer(m, dtype=np.uint8) for m in buffers]
    else:
        buffers = regions = [np.zeros(layout.region_bytes, dtype=np.uint8) for _ in range(layout.layers)]
    for block in range(layout.num_blocks):
        fill_block(layout, regions, block, block + 1)
    with handoff.Transport(kind, tcp_listen_host="127.0.0.1") as transport:
        with transport.register(layout, buffers) as pool:
            print(pool.descriptor().hex(), flush=True)
            for line in sys.stdin:
                words = line.split()
                if not words or words[0] == "quit":
                    break
                if words[0] == "verify":
                    base = int(words[1])
                    bad = [b for i, b in enumerate(map(int, words[2:])) if not block_matches(layout, regions, b, base + i)]
                    print("ok" if not bad else f"mismatch {bad[0]}", flush=True)
    del regions


if __name__ == "__main__":
    main()
