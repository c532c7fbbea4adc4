"""Writes the config files a guide shows, so tests can check every one of them.

Usage: snippets.py GUIDE.md OUTDIR
Each ```toml or ```yaml block must start with a `# file: PATH` line; it is written to
OUTDIR/PATH and the path printed. A block without one is an error: no config in a guide
escapes the checks.
"""

import pathlib
import re
import sys

FENCE = re.compile(r"^```(toml|yaml)\s*\n(.*?)^```\s*$", re.S | re.M)


def main():
    guide, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    text = guide.read_text()
    seen = 0
    for m in FENCE.finditer(text):
        body = m.group(2)
        first = body.splitlines()[0] if body else ""
        line = text[: m.start()].count("\n") + 1
        name = re.fullmatch(r"#\s*file:\s*(\S+)\s*", first)
        if not name:
            sys.exit(f"{guide}:{line}: a {m.group(1)} block without a `# file: PATH` first line")
        path = out / name.group(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        print(path)
        seen += 1
    if not seen:
        sys.exit(f"{guide}: no config blocks found")


if __name__ == "__main__":
    main()
