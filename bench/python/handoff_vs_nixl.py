#!/usr/bin/env python3
"""KV-shaped READ between two processes through Handoff's Python package and through NIXL, in one run.

Both engines move the same work: 32 layers x (K, V) x 256 blocks of 32 KiB pieces (16,384 pieces, 512 MiB) out
of a 1,024-block pool in another process, into NumPy buffers the reader owns (engine-registered memory on both
sides), scattered (random block ids) and contiguous (blocks 0..255). Every timed run is verified byte for byte.
NumPy's memcpy of the same range list in one process is the reference. The workload, the pools, the NIXL side
and the memcpy baseline are bench/python/nixl_side.py's; this file adds the Handoff side and the comparison.

Run with a venv holding nixl and the handoff package (outside the repository)::

    python3 -m venv /work/.venvs/nixl-bench && /work/.venvs/nixl-bench/bin/pip install nixl numpy ./python
    /work/.venvs/nixl-bench/bin/python bench/python/handoff_vs_nixl.py [--transport auto|ucx|tcp|shm]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
import traceback
from contextlib import contextmanager
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nixl_side as ns  # noqa: E402


def block_ids(case: str, cfg: ns.Config) -> tuple[np.ndarray, np.ndarray]:
    """The source and destination block ids of `case`, drawn exactly as nixl_side.make_ranges draws them."""
    if case == "scattered":
        rng = np.random.default_rng(cfg.seed)
        return (rng.choice(cfg.num_blocks, size=cfg.read_blocks, replace=False),
                rng.choice(cfg.num_blocks, size=cfg.read_blocks, replace=False))
    ids = np.arange(cfg.read_blocks)
    return ids, ids


def handoff_layout(cfg: ns.Config):
    import handoff
    return handoff.KVLayout(cfg.num_layers, ns.NUM_KINDS, cfg.piece, cfg.num_blocks, "split")


def _handoff_prefill_main(conn: Connection, cfg: ns.Config, kind: str) -> None:
    """Child process: fill a pool it owns, register it with Handoff, send the descriptor, wait for 'done'."""
    import handoff
    try:
        pool = ns.make_pool(cfg.num_layers, cfg.num_blocks, cfg.piece, fill=None)
        ns.fill_pattern(pool, cfg.num_blocks, cfg.piece)
        with handoff.Transport(kind, tcp_listen_host="127.0.0.1") as transport:
            t0 = time.perf_counter()
            with transport.register(handoff_layout(cfg), pool) as registered:
                conn.send(("ready", registered.descriptor(), time.perf_counter() - t0))
                msg = ns.recv_timeout(conn, cfg.timeout_s, "'done' from reader")
                if msg != ("done",):
                    raise RuntimeError(f"unexpected message {msg!r}")
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        finally:
            raise


def handoff_read(peer, local, sources, destinations, reset, verify, cfg: ns.Config) -> ns.RunResult:
    """READ the blocks `warmup + runs` times; each run reset (untimed), timed call to completion, verified."""
    seconds: list[float] = []
    ok = True
    report = None
    for i in range(cfg.warmup + cfg.runs):
        reset()
        t0 = time.perf_counter()
        report = peer.read(local, sources, destinations, timeout=cfg.timeout_s).wait()
        dt = time.perf_counter() - t0
        if i >= cfg.warmup:
            seconds.append(dt)
            ok = verify() and ok
    info = {"transport": report.transport, "lanes": ",".join(report.lanes), "ops": report.ops,
            "fallback": report.fallback}
    return ns.RunResult(seconds, ok, report.bytes, report.pieces, 0.0, info)


@contextmanager
def prefill_process(target, *arguments):
    """A spawned source process (never fork one that holds UCX) and the reader's end of its pipe."""
    ctx = mp.get_context("spawn")
    parent, child_end = ctx.Pipe()
    child = ctx.Process(target=target, args=(child_end, *arguments), daemon=True)
    child.start()
    child_end.close()
    try:
        yield parent, child
    finally:
        if child.is_alive():
            child.kill()
        parent.close()


def finish(parent: Connection, child, cfg: ns.Config, name: str) -> None:
    parent.send(("done",))
    child.join(cfg.timeout_s)
    if child.exitcode != 0:
        raise RuntimeError(f"{name} prefill process exit code {child.exitcode}")


def run_handoff(cfg: ns.Config, kind: str, cases: Sequence[str], dst, ref) -> dict[str, ns.RunResult]:
    import handoff
    results: dict[str, ns.RunResult] = {}
    with prefill_process(_handoff_prefill_main, cfg, kind) as (parent, child):
        msg = ns.recv_timeout(parent, cfg.timeout_s, "'ready' from the Handoff prefill")
        descriptor, remote_register_s = msg[1], msg[2]
        with handoff.Transport(kind, tcp_listen_host="127.0.0.1") as transport:
            t0 = time.perf_counter()
            with transport.register(handoff_layout(cfg), dst) as local:
                t1 = time.perf_counter()
                with transport.connect(descriptor) as peer:
                    t2 = time.perf_counter()
                    print(f"handoff setup s: register_s={t1 - t0:.4f} connect_s={t2 - t1:.4f} "
                          f"remote_register_s={remote_register_s:.4f}")
                    for case in cases:
                        ranges = ns.make_ranges(case, cfg.num_layers, cfg.num_blocks, cfg.piece, cfg.read_blocks, cfg.seed)
                        sources, destinations = block_ids(case, cfg)
                        results[case] = handoff_read(
                            peer, local, sources.tolist(), destinations.tolist(),
                            partial(ns.reset_ranges, dst, ranges), partial(ns.verify_ranges, dst, ref, ranges), cfg)
        finish(parent, child, cfg, "Handoff")
    return results


def run_nixl(cfg: ns.Config, cases: Sequence[str], dst, ref) -> dict[str, ns.RunResult]:
    results: dict[str, ns.RunResult] = {}
    with prefill_process(ns._prefill_main, cfg) as (parent, child):
        msg = ns.recv_timeout(parent, cfg.timeout_s, "'ready' from the NIXL prefill")
        reader = ns.nixl_connect(dst, msg[1], "decode", cfg.num_threads, cfg.telemetry, cfg.prog_thread)
        print("nixl setup s: " + " ".join(f"{k}={v:.4f}" for k, v in reader.setup.items()))
        for case in cases:
            ranges = ns.make_ranges(case, cfg.num_layers, cfg.num_blocks, cfg.piece, cfg.read_blocks, cfg.seed)
            results[case] = ns.nixl_read(reader, ranges, reset=partial(ns.reset_ranges, dst, ranges),
                                         verify=partial(ns.verify_ranges, dst, ref, ranges), warmup=cfg.warmup,
                                         runs=cfg.runs, api=cfg.api, xfer_timeout_s=cfg.timeout_s)
        ns.nixl_close(reader)
        finish(parent, child, cfg, "NIXL")
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default="scattered,contiguous")
    p.add_argument("--transport", default="auto", help="Handoff's data plane: auto, ucx, tcp or shm")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--nixl-threads", type=int, default=0,
                   help="nixl_agent_config num_threads: UCX threads NIXL splits a transfer over (Handoff's shm path "
                        "splits its copies over $HANDOFF_SHM_COPY_THREADS, default 2)")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    a = p.parse_args(argv)
    cfg = ns.Config(warmup=a.warmup, runs=a.runs, num_threads=a.nixl_threads)
    cases = [c for c in a.cases.split(",") if c]
    ns.nixl_env_defaults()
    import handoff
    print(f"handoff {handoff.__version__} ({handoff.library_path()})  nixl {ns.nixl_version()}  "
          f"numpy {np.__version__}  cpus {os.cpu_count()}  loadavg {os.getloadavg()[0]:.2f}")
    print(f"pool: {cfg.num_layers} layers x {ns.NUM_KINDS} kinds x {cfg.num_blocks} blocks x {cfg.piece} B per "
          f"process; READ {cfg.read_blocks} blocks; handoff transport {a.transport} (shm copy threads "
          f"{os.environ.get('HANDOFF_SHM_COPY_THREADS', 'default')}); nixl num_threads {cfg.num_threads}")
    dst = ns.make_pool(cfg.num_layers, cfg.num_blocks, cfg.piece)
    ref = ns.make_pool(cfg.num_layers, cfg.num_blocks, cfg.piece, fill=None)
    ns.fill_pattern(ref, cfg.num_blocks, cfg.piece)

    memcpy = {case: ns.memcpy_bench(dst, ref, ns.make_ranges(case, cfg.num_layers, cfg.num_blocks, cfg.piece,
                                                            cfg.read_blocks, cfg.seed), cfg.warmup, cfg.runs)
              for case in cases}
    nixl = run_nixl(cfg, cases, dst, ref)
    ours = run_handoff(cfg, a.transport, cases, dst, ref)

    summary = {}
    all_ok = True
    for case in cases:
        h, n, m = ours[case], nixl[case], memcpy[case]
        all_ok = all_ok and h.verified and n.verified and m.verified
        print(f"\n[{case}] {h.ndesc} pieces, {h.nbytes / 2**20:.0f} MiB per READ; handoff {h.info}")
        print(f"  handoff READ  {ns._fmt(h)}")
        print(f"  nixl READ     {ns._fmt(n)}")
        print(f"  np memcpy     {ns._fmt(m)}")
        print(f"  handoff/memcpy = {h.gbps / m.gbps:.3f}   nixl/memcpy = {n.gbps / m.gbps:.3f}   "
              f"handoff/nixl = {h.gbps / n.gbps:.2f}")
        summary[case] = {"handoff_gbps": h.gbps, "nixl_gbps": n.gbps, "memcpy_gbps": m.gbps,
                         "handoff_over_memcpy": h.gbps / m.gbps, "nixl_over_memcpy": n.gbps / m.gbps,
                         "handoff_over_nixl": h.gbps / n.gbps, "handoff_transport": h.info["transport"],
                         "verified": h.verified and n.verified and m.verified}
    print(f"\nall verified: {all_ok}")
    if a.json:
        print(json.dumps(summary))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
