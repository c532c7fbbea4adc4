#!/usr/bin/env python3
"""Builds data/names.txt, the gazetteer of given names and surnames built into gatehouse-mask.

Source: the PyPI package `names-dataset` 3.3.1 (MIT licence, Philippe Remy): first and last
names with their popularity rank in 105 countries. We keep single-word names written in the
Latin script that rank in the top RANK of at least one country, so that every country's common
names are in (not one country's list). Run from anywhere:

    python3 proxy-core/mask/quality/gen_names.py

It fetches the wheel with pip (no other network) and rewrites data/names.txt: one lower-case
name a line, `name<TAB>flags` where flags has `g` (given name) and/or `s` (surname).
"""
import gzip
import pathlib
import pickle
import subprocess
import sys
import tempfile
import unicodedata
import zipfile

VERSION = "3.3.1"
RANK = 5000
HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE.parent / "data" / "names.txt"


def latin(word):
    for c in word:
        if c in "'-":
            continue
        if not c.isalpha() or "LATIN" not in unicodedata.name(c, ""):
            return False
    return True


def keep(name, info):
    ranks = info.get("rank") or {}
    return (
        ranks
        and min(ranks.values()) <= RANK
        and " " not in name
        and 2 <= len(name) <= 24
        and latin(name)
        and name[0].isalpha()
        and name[-1].isalpha()
    )


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp,
             f"names-dataset=={VERSION}"],
            check=True,
        )
        wheel = next(pathlib.Path(tmp).glob("names_dataset-*.whl"))
        flags = {}
        with zipfile.ZipFile(wheel) as z:
            for part, flag in (("first", "g"), ("last", "s")):
                data = pickle.loads(gzip.decompress(z.read(f"names_dataset/v3/{part}_names.pkl.gz")))
                for name, info in data.items():
                    if keep(name, info):
                        key = name.lower()
                        flags[key] = "".join(sorted(set(flags.get(key, "") + flag)))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(f"# names-dataset {VERSION} (MIT), top {RANK} per country, Latin script; made by quality/gen_names.py\n")
        for name in sorted(flags):
            f.write(f"{name}\t{flags[name]}\n")
    print(f"{OUT}: {len(flags)} names", file=sys.stderr)


if __name__ == "__main__":
    main()
