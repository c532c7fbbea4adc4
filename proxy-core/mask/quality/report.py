#!/usr/bin/env python3
"""Print the quality/speed table from score.py --json outputs and the throughput lines, and check
the targets: for the existing types recall >= 0.99 and precision >= 0.98; for the people types
(score files named *people*) recall >= 0.95 and precision >= 0.90; every type never below
Presidio.

Usage: report.py SCORES.json [HELDOUT_SCORES.json] [PEOPLE.json PEOPLE_HELDOUT.json]
                 OURS_BENCH.jsonl PRESIDIO_BENCH.jsonl
Exit status 1 when a target is missed.
"""

import json
import os
import sys

TYPES = ["CREDIT_CARD", "IBAN_CODE", "US_SSN", "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS"]
PEOPLE = ["PERSON", "POSTAL_ADDRESS", "DATE_OF_BIRTH"]


def table(title, s, types=TYPES, min_recall=0.99, min_precision=0.98):
    ours, pres = s["ours"], s["presidio"]
    lines = [f"### {title}", "",
             "| type | labels | ours recall | ours precision | Presidio recall | Presidio precision |",
             "|---|---:|---:|---:|---:|---:|"]
    failures = []
    for t in types:
        o, p = ours[t], pres[t]
        lines.append(f"| {t} | {o['labels']} | {o['recall']:.4f} | {o['precision']:.4f} | {p['recall']:.4f} | {p['precision']:.4f} |")
        if o["recall"] < min_recall or o["precision"] < min_precision:
            failures.append(f"{title}: {t} below target (recall {o['recall']:.4f}, precision {o['precision']:.4f})")
        if o["recall"] < p["recall"] or o["precision"] < p["precision"]:
            failures.append(f"{title}: {t} below Presidio")
    return lines, failures


def main():
    args = sys.argv[1:]
    scores = [a for a in args if a.endswith(".json")]
    ours_bench, pres_bench = [a for a in args if a.endswith(".jsonl")]
    out, failures = [], []
    pii = [p for p in scores if "people" not in os.path.basename(p)]
    people = [p for p in scores if "people" in os.path.basename(p)]
    for i, path in enumerate(pii):
        with open(path) as f:
            s = json.load(f)
        title = "Main corpus (detectors tuned on it)" if i == 0 else "Held-out corpus (other seed, never tuned on)"
        lines, fails = table(title, s)
        out += lines + [""]
        failures += fails
    for i, path in enumerate(people):
        with open(path) as f:
            s = json.load(f)
        title = ("People, Faker corpus (detectors tuned on it)" if i == 0
                 else "People, held-out Mimesis corpus (another generator, never looked at)")
        lines, fails = table(title, s, PEOPLE, 0.95, 0.90)
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
    print("\nAll quality targets met (recall >= 0.99 and precision >= 0.98 for the existing types, "
          ">= 0.95 and >= 0.90 for the people types, never below Presidio).")


if __name__ == "__main__":
    main()
