"""The bare data plane from Python: two processes move a KV-shaped pool byte-exactly over UCX shared memory and
over native TCP; refused inputs raise with the library's message and change nothing."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest

import handoff
from conftest import TESTS, helper_environment
from kvpattern import block_matches, fill_block

# 8 layers of 64 blocks, K and V pieces of 16 KiB: 16 MiB, shaped like a slice of an 8B model's cache.
LAYOUT = handoff.KVLayout(layers=8, kinds_per_block=2, piece_bytes=16384, num_blocks=64, arrangement="split")


class PoolServer:
    def __init__(self, kind: str, layout: handoff.KVLayout, memory: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(TESTS / "pool_server.py"), kind, str(layout.layers), str(layout.kinds_per_block),
             str(layout.piece_bytes), str(layout.num_blocks), layout.arrangement.name.lower(), memory],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=helper_environment())
        self.descriptor = bytes.fromhex(self.process.stdout.readline().strip())

    def ask(self, line: str) -> str:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def stop(self) -> int:
        self.process.stdin.close()
        return self.process.wait(timeout=30)


# (transport, the server's memory, the transport that must move the bytes): auto maps a same-host peer's NumPy
# memory (shm); Python's mmaps are shared mappings, which only UCX and TCP reach.
@pytest.mark.parametrize("kind, memory, expected", [("ucx", "mmap", "ucx"), ("tcp", "mmap", "tcp"), ("auto", "numpy", "shm")])
def test_two_processes_move_a_kv_pool_byte_exactly(kind: str, memory: str, expected: str) -> None:
    server = PoolServer(kind, LAYOUT, memory)
    # The reader keeps K and V of a block together: same block shape, another arrangement and block count.
    local_layout = handoff.KVLayout(8, 2, 16384, 48, "fused")
    regions = [np.zeros(local_layout.region_bytes, dtype=np.uint8) for _ in range(local_layout.layers)]
    generator = random.Random(7)
    sources = generator.sample(range(LAYOUT.num_blocks), 40)
    destinations = generator.sample(range(local_layout.num_blocks), 40)
    with handoff.Transport(kind, tcp_listen_host="127.0.0.1") as transport:
        with transport.register(local_layout, regions) as pool, transport.connect(server.descriptor) as peer:
            assert peer.layout == LAYOUT
            report = peer.read(pool, sources, destinations).wait(timeout=60)
            assert report.bytes == 40 * LAYOUT.block_bytes
            assert report.pieces == 40 * LAYOUT.layers * 2
            assert report.transport == expected and report.fallback is None
            assert report.lanes
            for source, destination in zip(sources, destinations):
                assert block_matches(local_layout, regions, destination, source + 1), (source, destination)

            for index, block in enumerate(range(8)):
                fill_block(local_layout, regions, block, 1000 + index)
            targets = [50, 3, 17, 63, 0, 1, 2, 40]
            report = peer.write(pool, range(8), targets).wait(timeout=60)
            assert report.bytes == 8 * LAYOUT.block_bytes and report.operation == handoff.Operation.WRITE
            assert server.ask("verify 1000 " + " ".join(map(str, targets))) == "ok"
    assert server.stop() == 0


def test_ranges_move_bytes_and_reports_count_them() -> None:
    layout = handoff.KVLayout(2, 2, 4096, 8)
    with handoff.Transport("tcp", tcp_listen_host="127.0.0.1") as a, handoff.Transport("tcp", tcp_listen_host="127.0.0.1") as b:
        source = [np.arange(layout.region_bytes, dtype=np.uint64).astype(np.uint8) for _ in range(2)]
        with a.register(layout, source) as served, b.allocate(layout) as local, b.connect(served.descriptor()) as peer:
            transfer = peer.transfer_ranges(local, handoff.Operation.READ, [(1, 100, 0, 0, 5000), (0, 7, 1, 9000, 3)])
            report = transfer.wait(timeout=30)
            assert transfer.poll() is True
            assert report.bytes == 5003 and report.pieces == 2
            assert bytes(local.region(0)[:5000]) == source[1][100:5100].tobytes()
            assert bytes(local.region(1)[9000:9003]) == source[0][7:10].tobytes()


def test_refused_inputs_raise_with_the_library_message() -> None:
    layout = handoff.KVLayout(2, 2, 4096, 8)
    with handoff.Transport("tcp", tcp_listen_host="127.0.0.1") as a, handoff.Transport("tcp", tcp_listen_host="127.0.0.1") as b:
        with a.allocate(layout) as served, b.allocate(layout) as local:
            descriptor = served.descriptor()
            with pytest.raises(handoff.DescriptorError):
                b.connect(b"\x00" + descriptor[1:])
            with b.connect(descriptor) as peer:
                with pytest.raises(handoff.LayoutError, match="8"):
                    peer.read(local, [8], [0])
                with pytest.raises(handoff.LayoutError, match="twice"):
                    peer.read(local, [1, 2], [3, 3])
                with pytest.raises(handoff.LayoutError):
                    peer.transfer_ranges(local, handoff.Operation.READ, [(0, layout.region_bytes - 1, 0, 0, 2)])
                with pytest.raises(ValueError):
                    peer.read(local, [1, 2], [3])
            with pytest.raises(handoff.LayoutError, match="needs"):
                a.register(layout, [np.zeros(100, dtype=np.uint8), np.zeros(100, dtype=np.uint8)])
            with pytest.raises(ValueError, match="read-only"):
                a.register(layout, [bytes(layout.region_bytes)] * 2)
        with pytest.raises(handoff.LayoutError):
            handoff.KVLayout(layers=65536, kinds_per_block=2, piece_bytes=1 << 40, num_blocks=1 << 20)
        with pytest.raises(handoff.Closed):
            served.descriptor()


def test_closing_the_transport_closes_its_pools_and_peers_and_releases_their_views() -> None:
    """Closing a transport frees the memory it allocated: its pools and peers raise Closed from then on, and the
    region views handed out earlier are released (using one raises ValueError) instead of reading freed memory."""
    layout = handoff.KVLayout(2, 2, 4096, 8)
    with handoff.Transport("tcp", tcp_listen_host="127.0.0.1") as served_by:
        served = served_by.allocate(layout)
        transport = handoff.Transport("tcp", tcp_listen_host="127.0.0.1")
        pool = transport.allocate(layout)
        peer = transport.connect(served.descriptor())
        view = pool.region(0)
        view[0] = 7
        transport.close()
        assert pool.closed and peer.closed
        with pytest.raises(handoff.Closed):
            pool.region(0)
        with pytest.raises(handoff.Closed):
            pool.descriptor()
        with pytest.raises(handoff.Closed):
            peer.read(pool, [0], [0])
        with pytest.raises(ValueError, match="released"):
            view[0]
        with pytest.raises(ValueError, match="released"):
            bytes(view)
        transport.close()  # a second close does nothing


def test_a_pool_whose_view_is_exported_stays_open_until_the_export_is_gone() -> None:
    """A region view made into a NumPy array cannot be released: closing the pool, or its transport, raises
    BufferError and leaves the memory mapped, until the array is dropped."""
    layout = handoff.KVLayout(2, 2, 4096, 8)
    transport = handoff.Transport("tcp", tcp_listen_host="127.0.0.1")
    pool = transport.allocate(layout)
    array = np.frombuffer(pool.region(1), dtype=np.uint8)
    array[:3] = (1, 2, 3)
    with pytest.raises(BufferError, match="still reachable"):
        pool.close()
    with pytest.raises(BufferError, match="still reachable"):
        transport.close()
    assert not pool.closed and not transport.closed
    assert bytes(pool.region(1)[:3]) == b"\x01\x02\x03"
    del array
    transport.close()
    assert pool.closed
    with pytest.raises(handoff.Closed):
        pool.region(1)


def test_grants_limit_what_a_tcp_peer_reads() -> None:
    layout = handoff.KVLayout(2, 2, 4096, 8)
    with handoff.Transport("tcp", tcp_listen_host="127.0.0.1") as a, handoff.Transport("tcp", tcp_listen_host="127.0.0.1") as b:
        with a.allocate(layout) as served, b.allocate(layout) as local, b.connect(served.descriptor()) as peer:
            served.require_grants()
            with pytest.raises(handoff.PeerError):
                peer.read(local, [1], [1]).wait(timeout=10)
            token = served.grant([1, 2])
            assert peer.read(local, [1, 2], [5, 6], grant=token).wait(timeout=10).bytes == 2 * layout.block_bytes
            with pytest.raises(handoff.PeerError):
                peer.read(local, [3], [4], grant=token).wait(timeout=10)
            served.revoke(token)
            with pytest.raises(handoff.PeerError):
                peer.read(local, [1], [1], grant=token).wait(timeout=10)


def test_torch_tensors_register_when_torch_is_installed() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed in this environment")
    layout = handoff.KVLayout(2, 2, 4096, 8)
    tensors = [torch.zeros(layout.region_bytes, dtype=torch.uint8) for _ in range(2)]
    with handoff.Transport("tcp", tcp_listen_host="127.0.0.1") as transport:
        with transport.register(layout, tensors) as pool:
            assert pool.descriptor()
