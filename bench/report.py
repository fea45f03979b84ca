#!/usr/bin/env python3
"""Turns `switchboard bench --json` lines (bench/run.sh's bench/results.jsonl) into Markdown
tables: messages per server CPU-second with ratios against switchboard, latency, server CPU
per message split into kernel and user (from reports that carry `server_system_seconds`),
memory.
When a server ran a scenario several times, its median run (by messages per server
CPU-second) stands for it and the cell says how many runs and their range."""
import json
import sys
from collections import OrderedDict


def median_run(runs):
    """The run with the median rate (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r.get("messages_per_server_cpu_second") or 0)
    return ordered[(len(ordered) - 1) // 2]


def scenario(r):
    if r["mode"] in ("idle", "sio-idle"):
        return f'{r["mode"]}, {r["connections"]} connections'
    who = "subscribers" if "broadcast" in r["mode"] else "connections"
    return f'{r["mode"]}, {r["connections"]} {who}, {r["size"]} B, {r["in_flight"]} in flight'


def main(path):
    runs = [json.loads(line) for line in open(path) if line.startswith("{")]
    servers = list(OrderedDict.fromkeys(r["label"] for r in runs))
    grouped = OrderedDict()
    for r in runs:
        grouped.setdefault(scenario(r), OrderedDict()).setdefault(r["label"], []).append(r)
    table = OrderedDict(
        (name, {label: median_run(rs) for label, rs in by.items()}) for name, by in grouped.items()
    )
    print("| scenario | " + " | ".join(servers) + " |")
    print("| --- |" + " --- |" * len(servers))
    for name, by_server in table.items():
        if name.startswith(("idle", "sio-idle")):
            continue
        ours = (by_server.get("switchboard") or {}).get("messages_per_server_cpu_second")
        cells = []
        for s in servers:
            r = by_server.get(s)
            rate = r and r.get("messages_per_server_cpu_second")
            if not rate:
                cells.append("–")
                continue
            ratio = f" ({ours / rate:.2f}×)" if ours and s != "switchboard" else ""
            rates = [x.get("messages_per_server_cpu_second") or 0 for x in grouped[name][s]]
            spread = (
                f", {len(rates)} runs {min(rates) / 1000:,.0f}–{max(rates) / 1000:,.0f} k"
                if len(rates) > 1
                else ""
            )
            cells.append(f"{rate / 1000:,.0f} k{ratio}{spread}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    def latency(name, s, r):
        if not r or not r["messages"]:
            return "–"
        return f'{r["p50_us"] / 1000:.2f} / {r["p99_us"] / 1000:.2f} / {r["p999_us"] / 1000:.2f}'

    def cpu_split(name, s, r):
        # The median of the runs that measured the split (older reports lack it).
        split = [x for x in grouped[name].get(s, []) if x.get("server_system_seconds") is not None]
        r = split and median_run(split)
        if not r or not r["messages"] or not r.get("server_cpu_seconds"):
            return "–"
        system, per = r["server_system_seconds"], 1e6 / r["messages"]
        return f'{system * per:.2f} + {(r["server_cpu_seconds"] - system) * per:.2f}'

    def idle_memory(name, s, r):
        per = r and r.get("server_rss_per_connection")
        return f"{per / 1024:.2f} KiB" if per else "–"

    def sub_table(title, cell, idle=False):
        """One row per scenario (the idle ones, or all others), one column per server."""
        print()
        print(title)
        print()
        print("| scenario | " + " | ".join(servers) + " |")
        print("| --- |" + " --- |" * len(servers))
        for name, by_server in table.items():
            if name.startswith(("idle", "sio-idle")) != idle:
                continue
            cells = [cell(name, s, by_server.get(s)) for s in servers]
            print(f"| {name} | " + " | ".join(cells) + " |")

    sub_table("Latency at saturation, p50 / p99 / p99.9 in ms (client-observed):", latency)
    if any(r.get("server_system_seconds") is not None for r in runs):
        sub_table(
            "Server CPU per message, µs: kernel + user (median of the runs that measured it). The\n"
            "kernel part shrinks with fewer, larger system calls, not with faster user code:",
            cpu_split,
        )
    sub_table("Server memory per idle WebSocket (RSS growth / connections):", idle_memory, idle=True)

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results.jsonl")
