#!/usr/bin/env python3
"""KV-shaped READ between two processes with NIXL (CPU / DRAM only).

Two processes each hold a "pool": NUM_LAYERS separate uint8 NumPy arrays, one
per layer, each holding NUM_KINDS (K then V) x NUM_BLOCKS pieces of PIECE
bytes in "split" layout::

    piece offset = (kind * NUM_BLOCKS + block) * PIECE

The source ("prefill") process fills its pool with a pattern that differs per
(layer, kind, block).  The destination ("decode") process READs READ_BLOCKS
blocks out of it:

* ``scattered``:  source and destination block ids are seeded random samples;
  one descriptor per (layer, kind, block) -> 32 x 256 x 2 = 16,384 x 32 KiB.
* ``contiguous``: blocks 0..255 -> 0..255; adjacent ranges are coalesced, so
  one 8 MiB descriptor per (layer, kind) -> 64 descriptors.

Both pools are registered with NIXL as DRAM (the NumPy buffers themselves).
Agent metadata and each layer's (address, length) go over a
``multiprocessing`` Pipe.  The reader times initiate -> completion of the
READ (setup and handle preparation are reported separately), verifies the
destination byte-for-byte after every timed run, and also times a NumPy
memcpy of the same range list inside one process for comparison.

Layout of this file:

* engine-agnostic helpers: pool creation and pattern, range lists,
  reset / verify, memcpy baseline, statistics;
* the NIXL side: ``nixl_serve`` (source) and ``nixl_connect`` /
  ``nixl_read`` / ``nixl_close`` (reader) -- the only code that imports nixl;
* a driver (``_prefill_main`` in the child, ``main`` in the parent).

Run (venv outside the repository)::

    /work/.venvs/nixl-bench/bin/python bench/python/nixl_side.py
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from typing import Any, Callable, Optional, Sequence

import numpy as np

# --------------------------------------------------------------------------
# Workload constants (defaults; every function takes them as parameters)
# --------------------------------------------------------------------------

PIECE: int = 32 * 1024          # bytes per (layer, kind, block) piece
NUM_LAYERS: int = 32
NUM_BLOCKS: int = 1024
NUM_KINDS: int = 2              # K then V
READ_BLOCKS: int = 256          # blocks read per transfer
SENTINEL: int = 0xEE            # destination bytes before each run

#: One byte range to copy: (layer, source offset, destination offset, length).
Range = tuple[int, int, int, int]
#: A pool: one contiguous uint8 array per layer.
Pool = list[np.ndarray]

_PATTERN_MUL = np.uint64(0x9E3779B97F4A7C15)   # odd -> bijective mod 2**64
_PATTERN_COL = np.uint64(0x100000001B3)


# --------------------------------------------------------------------------
# Engine-agnostic helpers
# --------------------------------------------------------------------------

def layer_bytes(num_blocks: int = NUM_BLOCKS, piece: int = PIECE) -> int:
    """Size in bytes of one layer array (K and V halves)."""
    return NUM_KINDS * num_blocks * piece


def piece_offset(kind: int, block: int, num_blocks: int = NUM_BLOCKS,
                 piece: int = PIECE) -> int:
    """Byte offset of (kind, block) inside a layer in the split layout."""
    return (kind * num_blocks + block) * piece


def make_pool(num_layers: int = NUM_LAYERS, num_blocks: int = NUM_BLOCKS,
              piece: int = PIECE, fill: Optional[int] = SENTINEL) -> Pool:
    """Allocate a pool of ``num_layers`` separate uint8 arrays.

    Every page is touched (filled with ``fill``) so that page faults are not
    charged to the first transfer.  Pass ``fill=None`` to skip touching, e.g.
    when :func:`fill_pattern` will write every byte next anyway.
    """
    if piece % 8:
        raise ValueError("piece must be a multiple of 8 bytes")
    pool: Pool = []
    for _ in range(num_layers):
        arr = np.empty(layer_bytes(num_blocks, piece), dtype=np.uint8)
        if fill is not None:
            arr.fill(fill)
        pool.append(arr)
    return pool


def fill_pattern(pool: Pool, num_blocks: int = NUM_BLOCKS,
                 piece: int = PIECE) -> None:
    """Write a pattern that differs per (layer, kind, block) and per word.

    Word ``w`` of the piece with global id ``p = (layer*KINDS + kind)*BLOCKS
    + block`` holds ``p*M + w*C (mod 2**64)`` with odd ``M``, so the first
    word of every piece is unique and words inside a piece differ.
    """
    words = piece // 8
    pieces = NUM_KINDS * num_blocks
    col = np.arange(words, dtype=np.uint64) * _PATTERN_COL
    for layer, arr in enumerate(pool):
        view = arr.view(np.uint64).reshape(pieces, words)
        pid = np.arange(pieces, dtype=np.uint64) + np.uint64(layer * pieces)
        np.add((pid * _PATTERN_MUL)[:, None], col[None, :], out=view)


def coalesce(ranges: Sequence[Range]) -> list[Range]:
    """Merge neighbours that are adjacent on both the source and destination."""
    out: list[Range] = []
    for layer, src, dst, n in ranges:
        if out:
            pl, ps, pd, pn = out[-1]
            if pl == layer and ps + pn == src and pd + pn == dst:
                out[-1] = (pl, ps, pd, pn + n)
                continue
        out.append((layer, src, dst, n))
    return out


def make_ranges(case: str, num_layers: int = NUM_LAYERS,
                num_blocks: int = NUM_BLOCKS, piece: int = PIECE,
                read_blocks: int = READ_BLOCKS, seed: int = 1234) -> list[Range]:
    """Build the range list for ``case`` ('scattered' or 'contiguous').

    Order: layer-major, then kind, then block position, i.e. the order a
    per-layer KV copy would naturally use.  'scattered' uses one seeded
    sample of source ids and an independent one of destination ids (the same
    for every layer, like a block table); it is not coalesced.  'contiguous'
    maps block i to block i and is coalesced to one range per (layer, kind).
    """
    if case == "scattered":
        rng = np.random.default_rng(seed)
        src_ids = rng.choice(num_blocks, size=read_blocks, replace=False)
        dst_ids = rng.choice(num_blocks, size=read_blocks, replace=False)
    elif case == "contiguous":
        src_ids = dst_ids = np.arange(read_blocks)
    else:
        raise ValueError(f"unknown case {case!r}")
    ranges = [
        (layer,
         piece_offset(kind, int(s), num_blocks, piece),
         piece_offset(kind, int(d), num_blocks, piece),
         piece)
        for layer in range(num_layers)
        for kind in range(NUM_KINDS)
        for s, d in zip(src_ids, dst_ids)
    ]
    return coalesce(ranges) if case == "contiguous" else ranges


def total_bytes(ranges: Sequence[Range]) -> int:
    """Number of bytes a range list moves."""
    return sum(r[3] for r in ranges)


def reset_ranges(pool: Pool, ranges: Sequence[Range],
                 value: int = SENTINEL) -> None:
    """Overwrite every destination range with ``value`` (untimed)."""
    for layer, _src, dst, n in ranges:
        pool[layer][dst:dst + n].fill(value)


def verify_ranges(dst_pool: Pool, ref_pool: Pool,
                  ranges: Sequence[Range]) -> bool:
    """True iff each destination range equals its source range in ``ref_pool``.

    ``ref_pool`` is a local replica of the source pool (same pattern).
    """
    for layer, src, dst, n in ranges:
        a = dst_pool[layer][dst:dst + n]
        b = ref_pool[layer][src:src + n]
        if not np.array_equal(a.view(np.uint64), b.view(np.uint64)):
            return False
    return True


@dataclass
class RunResult:
    """Result of one measured series."""

    seconds: list[float]           # timed runs only (warmup excluded)
    verified: bool                 # every timed run matched byte-for-byte
    nbytes: int                    # bytes per run
    ndesc: int                     # descriptors / copies per run
    prep_seconds: float = 0.0      # one-off handle preparation, untimed
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def median_s(self) -> float:
        """Median seconds per run."""
        return statistics.median(self.seconds)

    @property
    def gbps(self) -> float:
        """Median throughput in GB/s (10**9 bytes per second)."""
        return self.nbytes / self.median_s / 1e9


def memcpy_bench(dst_pool: Pool, src_pool: Pool, ranges: Sequence[Range],
                 warmup: int = 1, runs: int = 5) -> RunResult:
    """Time ``np.copyto`` of the same range list inside this process."""
    seconds: list[float] = []
    ok = True
    for i in range(warmup + runs):
        reset_ranges(dst_pool, ranges)
        t0 = time.perf_counter()
        for layer, src, dst, n in ranges:
            np.copyto(dst_pool[layer][dst:dst + n], src_pool[layer][src:src + n])
        dt = time.perf_counter() - t0
        if i >= warmup:
            seconds.append(dt)
            ok = verify_ranges(dst_pool, src_pool, ranges) and ok
    return RunResult(seconds, ok, total_bytes(ranges), len(ranges))


def recv_timeout(conn: Connection, timeout_s: float, what: str) -> Any:
    """``conn.recv()`` bounded by ``timeout_s``; re-raises child errors."""
    if not conn.poll(timeout_s):
        raise TimeoutError(f"no {what} within {timeout_s:.0f}s")
    msg = conn.recv()
    if isinstance(msg, tuple) and msg and msg[0] == "error":
        raise RuntimeError(f"peer failed while waiting for {what}:\n{msg[1]}")
    return msg


# --------------------------------------------------------------------------
# NIXL side (the only code that imports nixl)
# --------------------------------------------------------------------------

def nixl_env_defaults() -> None:
    """Set environment defaults that must precede UCX initialisation.

    ``UCX_MODULES=^ib``: the wheel's bundled UCX otherwise loads its
    InfiniBand modules, whose libnl-route crashes in its ELF destructor at
    process exit (SIGSEGV in rtnl_tc_unregister), turning every clean exit
    into rc 139.  IB is useless on a CPU-only host anyway.
    ``NIXL_LOG_LEVEL=WARN``: silence the per-agent INFO lines (on stdout).
    An explicit setting in the caller's environment wins.
    """
    os.environ.setdefault("UCX_MODULES", "^ib")
    os.environ.setdefault("NIXL_LOG_LEVEL", "WARN")


def nixl_version() -> str:
    """Installed NIXL version string."""
    from importlib.metadata import version
    return version("nixl")


def _nixl_agent(name: str, num_threads: int = 0, telemetry: bool = False,
                prog_thread: bool = False) -> Any:
    """Create an agent with only the UCX backend.

    ``prog_thread=False`` by default: NIXL's progress thread busy-polls
    (the Python wrapper hard-codes ``pthrDelay=0``) and costs about a core per
    agent even when idle, which on a 2-core host halves everything else.
    Without it, progress happens inside ``transfer``/``check_xfer_state`` on
    the reader and in :func:`nixl_serve`'s wait loop on the source.
    """
    nixl_env_defaults()
    from nixl import nixl_agent, nixl_agent_config
    conf = nixl_agent_config(enable_prog_thread=prog_thread,
                             enable_listen_thread=False,
                             backends=["UCX"],
                             num_threads=num_threads,
                             capture_telemetry=telemetry)
    agent = nixl_agent(name, conf)
    if "UCX" not in agent.backends:
        raise RuntimeError("NIXL UCX backend did not initialise")
    return agent


def _pool_reg_descs(pool: Pool) -> list[tuple[int, int, int, str]]:
    """Registration 4-tuples (addr, len, dev_id, meta) for every layer."""
    return [(arr.ctypes.data, arr.nbytes, 0, "") for arr in pool]


@dataclass
class NixlPeerInfo:
    """What the source publishes to the reader (sent over the Pipe)."""

    agent_md: bytes                      # nixl_agent.get_agent_metadata()
    layers: list[tuple[int, int]]        # (address, length) per layer
    reg_seconds: float                   # source-side registration time


def nixl_serve(pool: Pool, conn: Connection, name: str = "prefill",
               timeout_s: float = 600.0, num_threads: int = 0,
               prog_thread: bool = False, poll_s: float = 0.0005) -> None:
    """Source side: register ``pool``, publish metadata, wait for 'done'.

    Sends ``("ready", NixlPeerInfo)`` on ``conn``, then waits (bounded by
    ``timeout_s``) for ``("done",)`` from the reader.  A READ over CMA needs
    nothing from the target, but UCX wire-up (and the TCP/shared-memory
    protocols) do, so without a progress thread the wait loop drives the UCX
    worker through ``get_new_notifs()`` every ``poll_s`` seconds (sleeping in
    ``conn.poll`` between, not spinning).  Deregisters before returning.
    """
    agent = _nixl_agent(name, num_threads, prog_thread=prog_thread)
    t0 = time.perf_counter()
    reg = agent.register_memory(_pool_reg_descs(pool), "DRAM")
    reg_s = time.perf_counter() - t0
    try:
        info = NixlPeerInfo(agent.get_agent_metadata(),
                            [(a.ctypes.data, a.nbytes) for a in pool], reg_s)
        conn.send(("ready", info))
        deadline = time.monotonic() + timeout_s
        while not conn.poll(poll_s):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no 'done' from reader in {timeout_s}s")
            agent.get_new_notifs()        # progresses the UCX worker
        msg = recv_timeout(conn, 0, "'done' from reader")
        if msg != ("done",):
            raise RuntimeError(f"unexpected message {msg!r}")
    finally:
        agent.deregister_memory(reg)
        del agent


@dataclass
class NixlReader:
    """Reader-side NIXL state; create with :func:`nixl_connect`."""

    agent: Any
    reg: Any                              # nixlRegDList of the local pool
    pool: Pool
    remote_name: Any                      # as returned by add_remote_agent
    remote_layers: list[tuple[int, int]]
    setup: dict[str, float]
    telemetry: bool = False


def nixl_connect(pool: Pool, peer: NixlPeerInfo, name: str = "decode",
                 num_threads: int = 0, telemetry: bool = False,
                 prog_thread: bool = False) -> NixlReader:
    """Reader side setup: agent, register ``pool``, load peer metadata, connect."""
    setup: dict[str, float] = {}
    t0 = time.perf_counter()
    agent = _nixl_agent(name, num_threads, telemetry, prog_thread)
    t1 = time.perf_counter()
    reg = agent.register_memory(_pool_reg_descs(pool), "DRAM")
    t2 = time.perf_counter()
    remote = agent.add_remote_agent(peer.agent_md)
    agent.make_connection(remote)
    t3 = time.perf_counter()
    setup.update(agent_s=t1 - t0, register_s=t2 - t1, connect_s=t3 - t2,
                 remote_register_s=peer.reg_seconds)
    return NixlReader(agent, reg, pool, remote, list(peer.layers), setup,
                      telemetry)


def _nixl_desc_arrays(reader: NixlReader, ranges: Sequence[Range]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Nx3 (addr, len, dev_id) uint64 arrays: local (dst) and remote (src)."""
    r = np.asarray(ranges, dtype=np.uint64).reshape(-1, 4)
    layer = r[:, 0].astype(np.int64)
    local_base = np.array([a.ctypes.data for a in reader.pool], dtype=np.uint64)
    remote_base = np.array([a for a, _ in reader.remote_layers], dtype=np.uint64)
    zeros = np.zeros(len(r), dtype=np.uint64)
    local = np.stack([local_base[layer] + r[:, 2], r[:, 3], zeros], axis=1)
    remote = np.stack([remote_base[layer] + r[:, 1], r[:, 3], zeros], axis=1)
    return np.ascontiguousarray(local), np.ascontiguousarray(remote)


def nixl_read(reader: NixlReader, ranges: Sequence[Range],
              reset: Callable[[], None], verify: Callable[[], bool],
              warmup: int = 1, runs: int = 5, api: str = "prepped",
              xfer_timeout_s: float = 60.0) -> RunResult:
    """READ ``ranges`` from the peer ``warmup + runs`` times with one handle.

    ``api='prepped'``: ``prep_xfer_dlist`` for both sides +
    ``make_prepped_xfer`` (indices 0..N-1); ``api='init'``:
    ``initialize_xfer`` from two ``nixlXferDList``.  Either way the handle is
    built once (``prep_seconds``) and re-posted each run.  Each run:
    ``reset()`` (untimed), then timed ``transfer`` + polling
    ``check_xfer_state`` until DONE, then ``verify()`` (untimed).
    """
    agent = reader.agent
    local, remote = _nixl_desc_arrays(reader, ranges)
    if api not in ("prepped", "init"):
        raise ValueError(f"unknown api {api!r}")
    dlists: list[Any] = []
    xh: Any = None
    seconds: list[float] = []
    ok = True
    info: dict[str, Any] = {}
    posted_states: dict[str, int] = {}
    try:
        t0 = time.perf_counter()
        if api == "prepped":
            dlists.append(agent.prep_xfer_dlist("NIXL_INIT_AGENT", local,
                                                "DRAM"))
            dlists.append(agent.prep_xfer_dlist(reader.remote_name, remote,
                                                "DRAM"))
            idx = np.arange(len(local), dtype=np.int32)
            xh = agent.make_prepped_xfer("READ", dlists[0], idx,
                                         dlists[1], idx)
        else:
            xh = agent.initialize_xfer(
                "READ", agent.get_xfer_descs(local, "DRAM"),
                agent.get_xfer_descs(remote, "DRAM"), reader.remote_name)
        prep_s = time.perf_counter() - t0
        info["backend"] = agent.query_xfer_backend(xh)
        for i in range(warmup + runs):
            reset()
            t0 = time.perf_counter()
            deadline = t0 + xfer_timeout_s
            state = agent.transfer(xh)
            posted_states[state] = posted_states.get(state, 0) + 1
            while state == "PROC":
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"READ not done in {xfer_timeout_s}s")
                state = agent.check_xfer_state(xh)
            dt = time.perf_counter() - t0
            if state != "DONE":
                raise RuntimeError(f"NIXL transfer state {state}")
            if i >= warmup:
                seconds.append(dt)
                ok = verify() and ok
        info["transfer_returned"] = posted_states
        if reader.telemetry:          # last run's NIXL-side view
            tel = agent.get_xfer_telemetry(xh)
            info["desc_count_after_merge"] = tel.descCount
            info["post_us"] = tel.postDuration
            info["xfer_us"] = tel.xferDuration
    finally:
        # Releasing a still-active handle raises; don't let that mask the
        # original error (timeout, ERR state, failed verify callback...).
        failing = sys.exc_info()[0] is not None
        for release, h in ([(agent.release_xfer_handle, xh)] if xh is not None else []) + \
                [(agent.release_dlist_handle, d) for d in dlists]:
            try:
                release(h)
            except Exception:
                if not failing:
                    raise
    return RunResult(seconds, ok, int(local[:, 1].sum()), len(local),
                     prep_s, info)


def nixl_close(reader: NixlReader) -> None:
    """Disconnect from the peer and deregister the local pool."""
    reader.agent.remove_remote_agent(reader.remote_name)
    reader.agent.deregister_memory(reader.reg)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    """Benchmark parameters shared by both processes."""

    num_layers: int = NUM_LAYERS
    num_blocks: int = NUM_BLOCKS
    piece: int = PIECE
    read_blocks: int = READ_BLOCKS
    warmup: int = 1
    runs: int = 5
    seed: int = 1234
    num_threads: int = 0
    api: str = "prepped"
    timeout_s: float = 600.0
    telemetry: bool = False
    prog_thread: bool = False


def _prefill_main(conn: Connection, cfg: Config) -> None:
    """Child process: build and fill the source pool, then serve it."""
    try:
        pool = make_pool(cfg.num_layers, cfg.num_blocks, cfg.piece, fill=None)
        fill_pattern(pool, cfg.num_blocks, cfg.piece)
        nixl_serve(pool, conn, "prefill", cfg.timeout_s, cfg.num_threads,
                   cfg.prog_thread)
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        finally:
            raise
    finally:
        sys.stdout.flush()


def _fmt(res: RunResult) -> str:
    ms = [f"{s * 1e3:.1f}" for s in res.seconds]
    return (f"median {res.gbps:6.2f} GB/s  ({res.median_s * 1e3:.1f} ms; "
            f"runs ms {' '.join(ms)})  verified={res.verified}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run both cases with the source in a spawned child; print results."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default="scattered,contiguous")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--layers", type=int, default=NUM_LAYERS)
    p.add_argument("--blocks", type=int, default=NUM_BLOCKS)
    p.add_argument("--read-blocks", type=int, default=READ_BLOCKS)
    p.add_argument("--piece", type=int, default=PIECE)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--num-threads", type=int, default=0,
                   help="nixl_agent_config num_threads (UCX thread pool)")
    p.add_argument("--api", choices=["prepped", "init"], default="prepped")
    p.add_argument("--ucx-tls", default=None,
                   help="set UCX_TLS for both processes (default: UCX picks)")
    p.add_argument("--telemetry", action="store_true",
                   help="capture NIXL telemetry (reports merged desc count)")
    p.add_argument("--prog-thread", action="store_true",
                   help="enable NIXL progress threads (they busy-poll)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="bound on every wait, seconds")
    a = p.parse_args(argv)
    cfg = Config(a.layers, a.blocks, a.piece, a.read_blocks, a.warmup, a.runs,
                 a.seed, a.num_threads, a.api, a.timeout, a.telemetry,
                 a.prog_thread)
    cases = [c for c in a.cases.split(",") if c]

    if a.ucx_tls:
        os.environ["UCX_TLS"] = a.ucx_tls
    nixl_env_defaults()               # before spawning: the child inherits it
    print(f"nixl {nixl_version()}  numpy {np.__version__}  "
          f"python {sys.version.split()[0]}  cpus {os.cpu_count()}  "
          f"loadavg {os.getloadavg()[0]:.2f}")
    print("env: " + " ".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                             if k.startswith(("UCX_", "NIXL_"))))
    print(f"pool: {cfg.num_layers} layers x {NUM_KINDS} kinds x "
          f"{cfg.num_blocks} blocks x {cfg.piece} B = "
          f"{cfg.num_layers * layer_bytes(cfg.num_blocks, cfg.piece) / 2**30:.2f}"
          f" GiB per process; api={cfg.api} num_threads={cfg.num_threads} "
          f"prog_thread={cfg.prog_thread}")

    ctx = mp.get_context("spawn")     # never fork a process that holds UCX
    parent_conn, child_conn = ctx.Pipe()
    child = ctx.Process(target=_prefill_main, args=(child_conn, cfg),
                        name="nixl-prefill", daemon=True)
    child.start()
    child_conn.close()
    reader: Optional[NixlReader] = None
    all_ok = True
    try:
        dst = make_pool(cfg.num_layers, cfg.num_blocks, cfg.piece)
        ref = make_pool(cfg.num_layers, cfg.num_blocks, cfg.piece, fill=None)
        fill_pattern(ref, cfg.num_blocks, cfg.piece)
        msg = recv_timeout(parent_conn, cfg.timeout_s, "'ready' from prefill")
        if not (isinstance(msg, tuple) and msg[0] == "ready"):
            raise RuntimeError(f"unexpected message {msg!r}")
        peer: NixlPeerInfo = msg[1]
        reader = nixl_connect(dst, peer, "decode", cfg.num_threads,
                              cfg.telemetry, cfg.prog_thread)
        print("nixl setup s: " + " ".join(
            f"{k}={v:.4f}" for k, v in reader.setup.items()))

        for case in cases:
            ranges = make_ranges(case, cfg.num_layers, cfg.num_blocks,
                                 cfg.piece, cfg.read_blocks, cfg.seed)
            nx = nixl_read(reader, ranges,
                           reset=partial(reset_ranges, dst, ranges),
                           verify=partial(verify_ranges, dst, ref, ranges),
                           warmup=cfg.warmup, runs=cfg.runs, api=cfg.api,
                           xfer_timeout_s=cfg.timeout_s)
            mc = memcpy_bench(dst, ref, ranges, cfg.warmup, cfg.runs)
            all_ok = all_ok and nx.verified and mc.verified
            print(f"\n[{case}] {nx.ndesc} descriptors, "
                  f"{nx.nbytes / 2**20:.0f} MiB per READ; "
                  f"prep {nx.prep_seconds * 1e3:.2f} ms; {nx.info}")
            print(f"  nixl READ   {_fmt(nx)}")
            print(f"  np memcpy   {_fmt(mc)}")
            print(f"  ratio nixl/memcpy = {nx.gbps / mc.gbps:.3f}")

        nixl_close(reader)
        reader = None
        parent_conn.send(("done",))
        child.join(cfg.timeout_s)
        if child.is_alive():
            raise TimeoutError("prefill process did not exit")
        if child.exitcode != 0:
            raise RuntimeError(f"prefill process exit code {child.exitcode}")
    except BaseException:
        if reader is not None:
            try:
                nixl_close(reader)
            except Exception:
                pass
        raise
    finally:
        if child.is_alive():
            child.kill()
            child.join(10)
        parent_conn.close()
    print(f"\nall verified: {all_ok}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
