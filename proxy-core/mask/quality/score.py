#!/usr/bin/env python3
"""Score detector output against the labeled corpus: recall and precision per entity type.

Usage: score.py CORPUS.jsonl NAME=FINDINGS.jsonl [NAME=FINDINGS.jsonl ...] [--json OUT]

A finding is a true positive when it overlaps a labeled span of the same type; a label is
recalled when some finding of its type overlaps it. "exact" counts labels found with exactly
their boundaries. Findings of types outside the corpus (our secret detectors) are ignored.
"""

import json
import sys

KNOWN = ["CREDIT_CARD", "IBAN_CODE", "US_SSN", "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS",
         "PERSON", "POSTAL_ADDRESS", "DATE_OF_BIRTH"]
# The types scored: those the corpus labels (set in main).
TYPES = list(KNOWN)


def load(path):
    with open(path, encoding="utf-8") as f:
        return {r["id"]: r for r in map(json.loads, f)}


def overlaps(a, b):
    return a["start"] < b["end"] and b["start"] < a["end"]


def score(corpus, findings):
    s = {t: {"labels": 0, "found": 0, "exact": 0, "preds": 0, "tp": 0} for t in TYPES}
    misses, false_pos = [], []
    for rid, rec in corpus.items():
        preds = [p for p in findings.get(rid, {"findings": []})["findings"] if p["type"] in TYPES]
        for lab in rec["labels"]:
            st = s[lab["type"]]
            st["labels"] += 1
            same = [p for p in preds if p["type"] == lab["type"] and overlaps(p, lab)]
            if same:
                st["found"] += 1
                if any(p["start"] == lab["start"] and p["end"] == lab["end"] for p in same):
                    st["exact"] += 1
            else:
                misses.append((lab["type"], lab["value"], rec["text"][max(0, lab["start"] - 25):lab["end"] + 10]))
        for p in preds:
            st = s[p["type"]]
            st["preds"] += 1
            if any(l["type"] == p["type"] and overlaps(p, l) for l in rec["labels"]):
                st["tp"] += 1
            else:
                false_pos.append((p["type"], rec["text"][p["start"]:p["end"]], rec["text"][max(0, p["start"] - 25):p["end"] + 10]))
    for st in s.values():
        st["recall"] = st["found"] / st["labels"] if st["labels"] else 1.0
        st["precision"] = st["tp"] / st["preds"] if st["preds"] else 1.0
        st["exact_recall"] = st["exact"] / st["labels"] if st["labels"] else 1.0
    return s, misses, false_pos


def main():
    args = sys.argv[1:]
    out_json = None
    if "--json" in args:
        i = args.index("--json")
        out_json = args[i + 1]
        del args[i:i + 2]
    verbose = "-v" in args
    args = [a for a in args if a != "-v"]
    corpus = load(args[0])
    labelled = {l["type"] for r in corpus.values() for l in r["labels"]}
    TYPES[:] = [t for t in KNOWN if t in labelled]
    results = {}
    for spec in args[1:]:
        name, path = spec.split("=", 1)
        s, misses, fps = score(corpus, load(path))
        results[name] = s
        if verbose:
            print(f"--- {name}: {len(misses)} misses, {len(fps)} false positives")
            for m in misses[:40]:
                print("  MISS", m)
            for fp in fps[:40]:
                print("  FP  ", fp)
    names = list(results)
    head = f"| type | labels | " + " | ".join(f"{n} recall | {n} precision" for n in names) + " |"
    print(head)
    print("|" + "---|" * (2 + 2 * len(names)))
    for t in TYPES:
        row = f"| {t} | {results[names[0]][t]['labels']} | "
        row += " | ".join(f"{results[n][t]['recall']:.4f} | {results[n][t]['precision']:.4f}" for n in names)
        print(row + " |")
    if out_json:
        with open(out_json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
