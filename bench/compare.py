"""Reads what bench/compare.sh measured and writes the comparison: compare.md (table with ratios), compare.csv
and compare.png (GB/s against block size). Usage: compare.py RESULTS_DIR"""
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MIB = 1 << 20
PERFTEST_TEST = {"read": "ucp_get", "write": "ucp_put_bw"}
TARGET = 0.9  # handoff within 10% of ucx_perftest, and at least 0.9 x iperf3, for blocks of 1 MiB and more


def size_label(size):
    for unit, scale in (("MiB", MIB), ("KiB", 1024)):
        if size >= scale:
            return f"{size // scale} {unit}"
    return f"{size} B"


def load(results):
    def points(name):
        path = os.path.join(results, name)
        return json.load(open(path)) if os.path.exists(path) else []

    ucx = {(p["ucx_transports_requested"], p["op"], p["block_bytes"]): p for p in points("handoff-ucx.json")}
    hot = {(p["op"], p["block_bytes"]): p for p in points("handoff-ucx-hot.json")}
    tcp = {(p["tcp_streams"], p["op"], p["block_bytes"]): p for p in points("handoff-tcp.json")}
    perftest = {}
    path = os.path.join(results, "perftest.csv")
    with open(path) if os.path.exists(path) else open(os.devnull) as f:
        for row in csv.DictReader(f):
            # ucx_perftest's bandwidth is in MiB/s; of its runs with and without handoff's window, the better counts.
            key = (row["tls"], row["test"], int(row["size"]))
            perftest[key] = max(perftest.get(key, 0), float(row["overall_bw_mib"]) * MIB / 1e9)
    iperf = {}
    for streams in (1, 4):
        path = os.path.join(results, f"iperf3-P{streams}.json")
        if os.path.exists(path):
            iperf[streams] = json.load(open(path))["end"]["sum_received"]["bits_per_second"] / 8e9
    return ucx, hot, tcp, perftest, iperf


def rows(ucx, hot, tcp, perftest, iperf):
    """One row per (path, op, block size): handoff's rate, the peer's, and their ratio."""
    table = []
    for (tls, op, size), point in sorted(ucx.items()):
        peer = perftest.get((tls, PERFTEST_TEST[op], size))
        hot_point = hot.get((op, size)) if tls == "shm" else None
        table.append({
            "path": f"UCX {tls}", "op": op, "block_bytes": size, "handoff_gbps": point["gbps"],
            "verified": point["verified"], "peer": f"ucx_perftest {PERFTEST_TEST[op]}", "peer_gbps": peer,
            "ratio": point["gbps"] / peer if peer else None,
            "handoff_cached_gbps": hot_point["gbps"] if hot_point else None,
            "ratio_cached": hot_point["gbps"] / peer if hot_point and peer else None,
        })
    for (streams, op, size), point in sorted(tcp.items()):
        peer = iperf.get(streams)
        table.append({
            "path": f"native TCP x{streams}", "op": op, "block_bytes": size, "handoff_gbps": point["gbps"],
            "verified": point["verified"], "peer": f"iperf3 -P {streams}", "peer_gbps": peer,
            "ratio": point["gbps"] / peer if peer else None, "handoff_cached_gbps": None, "ratio_cached": None,
        })
    return table


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def write_markdown(table, path):
    with open(path, "w") as out:
        out.write("| path | op | block | handoff GB/s | peer | peer GB/s | handoff/peer | in cache: handoff GB/s | in cache: handoff/peer | target |\n")
        out.write("|---|---|---|---|---|---|---|---|---|---|\n")
        for r in table:
            target = "-"
            if r["block_bytes"] >= MIB and r["ratio"] is not None:
                if r["ratio"] >= TARGET:
                    target = "met"
                elif (r["ratio_cached"] or 0) >= TARGET:
                    target = "met in cache"
                else:
                    target = "missed"
            out.write(
                f"| {r['path']} | {r['op']} | {size_label(r['block_bytes'])} | {fmt(r['handoff_gbps'])}"
                f"{'' if r['verified'] else ' (NOT VERIFIED)'} | {r['peer']} | {fmt(r['peer_gbps'])} | {fmt(r['ratio'])} | "
                f"{fmt(r['handoff_cached_gbps'])} | {fmt(r['ratio_cached'])} | {target} |\n")
        out.write("\nSmall blocks: each path's rate at a block size as a fraction of its best rate at 1 MiB and more.\n\n")
        out.write("| path | op | tool | 4 KiB | 16 KiB | 64 KiB | best ≥ 1 MiB GB/s |\n|---|---|---|---|---|---|---|\n")
        groups = {}
        for r in table:
            groups.setdefault((r["path"], r["op"]), []).append(r)
        for (path_name, op), members in groups.items():
            for tool, key in (("handoff", "handoff_gbps"), (members[0]["peer"], "peer_gbps")):
                rates = {m["block_bytes"]: m[key] for m in members if m[key] is not None}
                large = max((v for s, v in rates.items() if s >= MIB), default=None)
                if not large:
                    continue
                cells = [fmt(rates[s] / large) if s in rates else "-" for s in (4096, 16384, 65536)]
                out.write(f"| {path_name} | {op} | {tool} | {' | '.join(cells)} | {large:.2f} |\n")


def write_csv(table, path):
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(table[0].keys()))
        writer.writeheader()
        writer.writerows(table)


def plot(ucx, hot, tcp, perftest, iperf, path):
    figure, (left, right) = plt.subplots(1, 2, figsize=(15, 6))
    for tls, colour in (("shm", "tab:blue"), ("tcp", "tab:orange")):
        for op, style in (("read", "-"), ("write", "--")):
            points = sorted((s, p["gbps"]) for (t, o, s), p in ucx.items() if t == tls and o == op)
            if points:
                left.plot(*zip(*points), style, color=colour, marker="o", label=f"handoff UCX {tls} {op}")
            peer = sorted((s, v) for (t, test, s), v in perftest.items() if t == tls and test == PERFTEST_TEST[op])
            if peer:
                left.plot(*zip(*peer), style, color=colour, marker="x", alpha=0.5, label=f"ucx_perftest {tls} {PERFTEST_TEST[op]}")
    for op, style in (("read", "-"), ("write", "--")):
        points = sorted((s, p["gbps"]) for (o, s), p in hot.items() if o == op)
        if points:
            left.plot(*zip(*points), style, color="tab:green", marker=".", label=f"handoff UCX shm {op}, pools in cache")
    for streams, colour in ((1, "tab:purple"), (4, "tab:red")):
        for op, style in (("read", "-"), ("write", "--")):
            points = sorted((s, p["gbps"]) for (n, o, s), p in tcp.items() if n == streams and o == op)
            if points:
                right.plot(*zip(*points), style, color=colour, marker="o", label=f"handoff native TCP x{streams} {op}")
        if streams in iperf:
            right.axhline(iperf[streams], color=colour, linestyle=":", label=f"iperf3 -P {streams}")
    left.set_yscale("log")  # cache-resident and UCX-TCP rates differ by 100x
    right.set_ylim(bottom=0)
    for axis, title in ((left, "UCX: handoff against ucx_perftest"), (right, "TCP: handoff's native TCP against iperf3")):
        axis.set_xscale("log", base=2)
        sizes = sorted({s for (_, _, s) in ucx} | {s for (_, _, s) in tcp})
        axis.set_xticks(sizes, [size_label(s) for s in sizes], rotation=45)
        axis.set_xlabel("block size (one op)")
        axis.set_ylabel("GB/s")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main():
    results = sys.argv[1]
    ucx, hot, tcp, perftest, iperf = load(results)
    table = rows(ucx, hot, tcp, perftest, iperf)
    if not table:
        sys.exit(f"no handoff results in {results}: run bench/compare.sh with the handoff phase first")
    write_markdown(table, os.path.join(results, "compare.md"))
    write_csv(table, os.path.join(results, "compare.csv"))
    plot(ucx, hot, tcp, perftest, iperf, os.path.join(results, "compare.png"))
    print(open(os.path.join(results, "compare.md")).read())
    print(f"wrote {results}/compare.md, compare.csv and compare.png")


if __name__ == "__main__":
    main()
