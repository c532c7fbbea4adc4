#!/usr/bin/env python3
"""Print the quality/speed table from score.py --json outputs and the throughput lines, and check
the targets: recall >= 0.99 and precision >= 0.98 for every type, never below Presidio.

Usage: report.py SCORES.json [HELDOUT_SCORES.json] OURS_BENCH.jsonl PRESIDIO_BENCH.jsonl
Exit status 1 when a target is missed.
"""

import json
import os
import sys

TYPES = ["CREDIT_CARD", "IBAN_CODE", "US_SSN", "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS"]


def table(title, s):
    ours, pres = s["ours"], s["presidio"]
    lines = [f"### {title}", "",
             "| type | labels | ours recall | ours precision | Presidio recall | Presidio precision |",
             "|---|---:|---:|---:|---:|---:|"]
    failures = []
    for t in TYPES:
        o, p = ours[t], pres[t]
        lines.append(f"| {t} | {o['labels']} | {o['recall']:.4f} | {o['precision']:.4f} | {p['recall']:.4f} | {p['precision']:.4f} |")
        if o["recall"] < 0.99 or o["precision"] < 0.98:
            failures.append(f"{title}: {t} below target (recall {o['recall']:.4f}, precision {o['precision']:.4f})")
        if o["recall"] < p["recall"] or o["precision"] < p["precision"]:
            failures.append(f"{title}: {t} below Presidio")
    return lines, failures


def main():
    args = sys.argv[1:]
    scores = [a for a in args if a.endswith(".json")]
    ours_bench, pres_bench = [a for a in args if a.endswith(".jsonl")]
    out, failures = [], []
    for i, path in enumerate(scores):
        with open(path) as f:
            s = json.load(f)
        title = "Main corpus (detectors tuned on it)" if i == 0 else "Held-out corpus (other seed, never tuned on)"
        lines, fails = table(title, s)
        out += lines + [""]
        failures += fails
    ours = {os.path.basename(r["file"]): r for r in map(json.loads, open(ours_bench))}
    pres = {os.path.basename(r["file"]): r for r in map(json.loads, open(pres_bench))}
    out += ["### Throughput on a ~1 MB JSON tool result (single core, MB/s)", "",
            "| input | bytes | ours mask_text (raw JSON text) | ours mask_json (parsed Value) | ours parse+mask+serialize | Presidio analyze (raw JSON text) | ratio (ours text / Presidio) |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name in sorted(ours):
        o, p = ours[name], pres.get(name)
        pm = p["mb_s"] if p else float("nan")
        out.append(f"| {name} | {o['bytes']} | {o['text_mb_s']:.0f} | {o['json_mb_s']:.0f} | {o['json_parse_mask_serialize_mb_s']:.0f} | {pm:.3f} | {o['text_mb_s'] / pm:,.0f}x |")
    print("\n".join(out))
    if failures:
        print("\nTARGETS MISSED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("\nAll quality targets met (recall >= 0.99, precision >= 0.98, never below Presidio).")


if __name__ == "__main__":
    main()
