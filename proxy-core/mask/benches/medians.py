#!/usr/bin/env python3
"""Prints the throughput bench's medians (MiB/s) side by side: default profile vs. without the
people detectors. Usage: medians.py CRITERION_DIR (e.g. $CARGO_TARGET_DIR/criterion)."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1]) / "mask_1mb"
rows = {}
for est in root.rglob("new/estimates.json"):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    profile, name, op = bench["function_id"].split("/")
    size = bench["throughput"]["Bytes"]
    median_ns = json.loads(est.read_text())["median"]["point_estimate"]
    rows.setdefault((name, op), {})[profile] = size / (median_ns / 1e9) / (1 << 20)
print("| input | operation | without people detectors (MiB/s) | default, people detectors on (MiB/s) | change |")
print("|---|---|---:|---:|---:|")
for (name, op), r in sorted(rows.items()):
    a, b = r.get("no_people"), r.get("default")
    if a and b:
        print(f"| {name} | {op} | {a:.0f} | {b:.0f} | {100 * (b - a) / a:+.0f}% |")
